//! The web listener: the health endpoint and the subscriber pages
//! (subscribe, confirm, manage, unsubscribe). Handlers read and write
//! through the store only; no GET changes state. Errors become responses in
//! one place ([`error`]); every response carries the security headers of
//! [`security`].

mod confirm;
mod error;
mod health;
mod limits;
mod manage;
pub mod metrics;
mod outgoing;
mod security;
mod subscribe;
mod token;
mod unsubscribe;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

use crate::app::App;

/// Largest request body accepted: the forms are a few kilobytes at most.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// What the subscriber pages share: the app and the per-IP limiter.
pub(crate) struct Web {
    pub app: Arc<App>,
    pub ip_limiter: limits::IpLimiter,
}

impl Web {
    /// The path prefix of `[web] base_url` (`""` or `/papers`), for links
    /// between pages.
    fn base_path(&self) -> String {
        base_path(&self.app)
    }
}

fn base_path(app: &App) -> String {
    app.settings
        .web
        .base_url
        .path()
        .trim_end_matches('/')
        .to_string()
}

pub fn router(app: Arc<App>) -> Router {
    let base: Arc<str> = base_path(&app).into();
    let web = Arc::new(Web {
        app: app.clone(),
        ip_limiter: limits::IpLimiter::new(
            limits::SUBSCRIBES_PER_IP,
            std::time::Duration::from_secs(600),
        ),
    });
    let pages = Router::new()
        .route("/", get(subscribe::form))
        .route("/subscribe", axum::routing::post(subscribe::submit))
        .route("/style.css", get(security::stylesheet))
        .route(
            "/confirm/{token}",
            get(confirm::show).post(confirm::confirm),
        )
        .route("/manage/{token}", get(manage::show).post(manage::submit))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::show).post(unsubscribe::unsubscribe),
        )
        .fallback(error::not_found)
        .with_state(web);
    Router::new()
        .route("/healthz", get(health::healthz))
        .with_state(app)
        .merge(pages)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::map_response_with_state(
            base,
            error::with_base_path,
        ))
        .layer(axum::middleware::map_response(security::headers))
}

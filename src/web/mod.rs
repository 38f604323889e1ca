//! The web listener: the health endpoint, the subscriber pages
//! (subscribe, confirm, manage, unsubscribe), the public papers pages
//! (`/papers`, its Atom feed and JSON: [`listing`] is what they share), and
//! the separate `/metrics` listener ([`metrics`]).
//!
//! Handlers get an [`AppState`]: the store, the link signer, the mailer for
//! link mails and the pages' settings, nothing else; they read and write
//! subscribers through the store only, and no GET changes state. Errors
//! become responses in one place (`error`); every response carries the
//! security headers of `security`. This module must not plan, render or send
//! digests, and nothing below `app` may import it.

mod api;
mod conditional;
mod confirm;
mod digest_page;
mod error;
mod feed;
mod feedback;
mod form;
mod health;
mod limits;
mod listing;
mod manage;
mod message;
pub(crate) mod metrics;
mod my_data;
mod outgoing;
mod papers;
mod security;
pub mod server;
mod state;
mod subscribe;
mod token;
mod unsubscribe;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;

pub use state::{AppState, WebConfig};
pub use subscribe::Submissions;
pub use webhooks::WebhookState;

/// Largest request body accepted: the forms are a few kilobytes at most.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The public listener's routes: `/healthz`, the subscriber pages and the
/// provider webhooks.
pub fn router(state: Arc<AppState>, webhooks: Arc<WebhookState>) -> Router {
    let base: Arc<str> = state.base_path().into();
    let store = state.store.clone();
    let request_timeout = state.config.request_timeout;
    let pages = Router::new()
        .route("/", get(subscribe::form))
        .route("/subscribe", axum::routing::post(subscribe::submit))
        .route("/style.css", get(security::stylesheet))
        .route("/papers", get(papers::show))
        .route("/papers.atom", get(feed::atom))
        .route("/api/papers", get(api::papers))
        .route("/digest/{token}/{date}", get(digest_page::show))
        .route("/feed/{token}", get(feed::personal))
        .route(
            "/confirm/{token}",
            get(confirm::show).post(confirm::confirm),
        )
        .route("/manage/{token}", get(manage::show).post(manage::submit))
        .route("/manage/{token}/data", get(my_data::download))
        .route(
            "/manage/{token}/delete",
            get(my_data::confirm_page).post(my_data::delete),
        )
        .route(
            "/manage/{token}/marks",
            axum::routing::post(feedback::manage_marks),
        )
        .route(
            "/feedback/{token}/{mark}",
            get(feedback::show).post(feedback::record),
        )
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe::show).post(unsubscribe::unsubscribe),
        )
        .fallback(error::not_found)
        .with_state(state);
    // A provider batches events: its body may be larger than a form's.
    let hooks = Router::new()
        .route(
            "/webhooks/{provider}",
            axum::routing::post(webhooks::receive),
        )
        .layer(DefaultBodyLimit::max(
            crate::inbound::webhook::MAX_BODY_BYTES,
        ))
        .with_state(webhooks);
    Router::new()
        .route("/healthz", get(health::healthz))
        .with_state(store)
        .merge(hooks)
        .merge(pages)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            request_timeout,
            server::request_deadline,
        ))
        .layer(axum::middleware::map_response_with_state(
            base,
            error::with_base_path,
        ))
        .layer(axum::middleware::map_response(security::headers))
}

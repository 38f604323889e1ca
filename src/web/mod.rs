//! The web listener: for now the health endpoint. Subscriber pages join it
//! later; they read and write through the store only.

mod health;
pub mod metrics;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .with_state(app)
}

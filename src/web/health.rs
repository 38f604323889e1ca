//! `GET /healthz`: database reachable, and the last fetch and digest runs
//! with their outcome. 503 when the database is down or the last run failed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::store::{Run, RunKind, Store};

pub async fn healthz(State(store): State<Store>) -> (StatusCode, Json<Value>) {
    let database = store.ping().await.is_ok();
    let fetch = store.last_run(RunKind::Fetch).await.ok().flatten();
    let digest = store.last_run(RunKind::Digest).await.ok().flatten();
    let failed = |r: &Option<Run>| {
        r.as_ref()
            .is_some_and(|r| r.outcome.as_deref() == Some("failed"))
    };
    let healthy = database && !failed(&fetch) && !failed(&digest);
    let body = json!({
        "status": if healthy { "ok" } else { "unhealthy" },
        "database": if database { "ok" } else { "unreachable" },
        "last_fetch": fetch.as_ref().map(run_json),
        "last_digest": digest.as_ref().map(run_json),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}

fn run_json(r: &Run) -> Value {
    json!({
        "date": r.target_date.to_string(),
        "started_at": r.started_at.to_rfc3339(),
        "finished_at": r.finished_at.map(|t| t.to_rfc3339()),
        "outcome": r.outcome,
        "summary": r.summary,
    })
}

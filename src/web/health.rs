//! `GET /healthz`: database reachable, and the last fetch and digest runs
//! with their outcome. 503 when the database is down or the last run failed;
//! `"status": "degraded"` (200) when the last digest run deferred or failed
//! some digests, its summary giving the counts and the most frequent reply.

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
    // Delivering, but some digests were deferred or failed: still serving
    // (200), and saying so; the run's summary has the counts and reply.
    let degraded = digest
        .as_ref()
        .is_some_and(|r| r.outcome.as_deref() == Some("degraded"));
    let body = json!({
        "status": match (healthy, degraded) {
            (false, _) => "unhealthy",
            (true, true) => "degraded",
            (true, false) => "ok",
        },
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

//! Test support: a real HTTP server on 127.0.0.1, port 0, serving whatever
//! axum router a test builds. Compiled only for tests.

use std::time::Duration;

use super::{Http, HttpOptions};

/// Starts `router` on a fresh loopback port and returns its base URL.
pub(crate) async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("test server");
    });
    format!("http://{addr}")
}

/// A client with millisecond backoff so retry tests stay fast.
pub(crate) fn http() -> Http {
    Http::new(HttpOptions {
        user_agent: "paperboy-test/1.0 (+https://papers.example.org)".into(),
        backoff_base: Duration::from_millis(5),
        backoff_max: Duration::from_millis(20),
        retry_after_max: Duration::from_secs(2),
        ..HttpOptions::default()
    })
    .expect("client")
}

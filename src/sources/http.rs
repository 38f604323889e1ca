//! The one HTTP client every source uses.
//!
//! Owns: connect and overall timeouts, the caller's User-Agent, gzip, retries
//! with exponential backoff and jitter on 429/5xx/timeouts/connection errors
//! (honouring a bounded `Retry-After`), conditional GET, a body size cap, and
//! a per-host politeness gate: requests to one host run one at a time and at
//! least `min_interval` apart, measured from the end of the previous one
//! (arXiv's terms: one connection at a time, at least 3 s between requests).
//!
//! It must not parse payloads or know about source kinds; it returns bytes,
//! validators, or an [`HttpError`] that the source turns into a named error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::RngExt;
use reqwest::header::{
    HeaderMap, CONTENT_TYPE, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, RETRY_AFTER,
};
use reqwest::StatusCode;
use tokio::time::Instant;
use url::Url;

use super::Validators;

/// A `reqwest` client builder for any HTTP client paperboy (or a test of it)
/// makes. reqwest is built without a TLS crypto provider of its own, so the
/// process has one build of TLS cryptography: ring, which rustls uses for
/// SMTP and PostgreSQL too. The first call makes it the process's default.
pub fn client_builder() -> reqwest::ClientBuilder {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        // Fails only when a default is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

/// Process-wide HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Sent on every request, e.g. `paperboy/0.1 (+https://papers.example.org)`.
    pub user_agent: String,
    pub connect_timeout: Duration,
    /// Bodies larger than this (after decompression) are refused.
    pub max_body_bytes: usize,
    /// First retry delay; doubles per attempt, plus up to 50% jitter.
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// A `Retry-After` longer than this is not waited for: the request fails.
    pub retry_after_max: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            user_agent: concat!("paperboy/", env!("CARGO_PKG_VERSION")).to_string(),
            connect_timeout: Duration::from_secs(10),
            max_body_bytes: 32 * 1024 * 1024,
            backoff_base: Duration::from_secs(2),
            backoff_max: Duration::from_secs(60),
            retry_after_max: Duration::from_secs(120),
        }
    }
}

/// Per-source request settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPolicy {
    /// Overall limit for one attempt, from connecting to the last body byte.
    pub timeout: Duration,
    /// Extra attempts after a retryable failure.
    pub retries: u32,
    /// Minimum gap between requests to the same host.
    pub min_interval: Duration,
}

/// Why a GET failed after any retries.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// A non-success status; `body` is kept so a caller can quote the
    /// upstream's explanation (arXiv sends an error feed with its 400s).
    #[error("HTTP {status}")]
    Status { status: u16, body: Vec<u8> },
    #[error("timed out after {after:?}")]
    Timeout { after: Duration },
    #[error("{0}")]
    Network(String),
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
}

/// A successful GET.
#[derive(Debug)]
pub enum Outcome {
    Body {
        body: Vec<u8>,
        validators: Validators,
        /// The Content-Type header, for the `charset` a payload is in.
        content_type: Option<String>,
    },
    /// `304`: unchanged since the validators sent.
    NotModified,
}

type Gate = Arc<tokio::sync::Mutex<Option<Instant>>>;

/// A cheaply clonable client; clones share the connection pool and gates.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    options: Arc<HttpOptions>,
    gates: Arc<Mutex<HashMap<String, Gate>>>,
}

struct Failure {
    error: HttpError,
    retryable: bool,
    retry_after: Option<Duration>,
}

impl Http {
    /// Builds the process-wide client; fails only if TLS cannot initialise.
    pub fn new(options: HttpOptions) -> Result<Http, HttpError> {
        let client = client_builder()
            .user_agent(options.user_agent.clone())
            .connect_timeout(options.connect_timeout)
            .gzip(true)
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| HttpError::Network(format!("cannot build HTTP client: {e}")))?;
        Ok(Http {
            client,
            options: Arc::new(options),
            gates: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// GETs `url`, conditionally when `validators` are given, retrying per
    /// `policy`. Returns the outcome and the number of requests made.
    pub async fn get(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        policy: &RequestPolicy,
    ) -> Result<(Outcome, u32), HttpError> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(url, validators, policy).await {
                Ok(outcome) => return Ok((outcome, attempts)),
                Err(f) if f.retryable && attempts <= policy.retries => {
                    let delay = match f.retry_after {
                        Some(wait) if wait > self.options.retry_after_max => return Err(f.error),
                        Some(wait) => wait,
                        None => self.backoff(attempts),
                    };
                    tracing::warn!(
                        http.url = %url,
                        http.attempt = attempts,
                        retry.delay_ms = delay.as_millis() as u64,
                        error = %f.error,
                        "retrying request"
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let base = self.options.backoff_base;
        let exp = base
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.options.backoff_max);
        let jitter_ms = exp.as_millis() as u64 / 2;
        let jitter = if jitter_ms > 0 {
            Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
        } else {
            Duration::ZERO
        };
        exp + jitter
    }

    fn gate(&self, url: &Url) -> Gate {
        let key = gate_key(url);
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        gates.entry(key).or_default().clone()
    }

    async fn attempt(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        policy: &RequestPolicy,
    ) -> Result<Outcome, Failure> {
        let gate = self.gate(url);
        // Held for the whole request so one host sees one request at a time.
        let mut last = gate.lock().await;
        if let Some(previous) = *last {
            tokio::time::sleep_until(previous + policy.min_interval).await;
        }
        let result = self.send(url, validators, policy).await;
        *last = Some(Instant::now());
        result
    }

    async fn send(
        &self,
        url: &Url,
        validators: Option<&Validators>,
        policy: &RequestPolicy,
    ) -> Result<Outcome, Failure> {
        let mut request = self.client.get(url.clone()).timeout(policy.timeout);
        if let Some(v) = validators {
            if let Some(etag) = &v.etag {
                request = request.header(IF_NONE_MATCH, etag);
            }
            if let Some(lm) = &v.last_modified {
                request = request.header(IF_MODIFIED_SINCE, lm);
            }
        }
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Failure {
                    error: HttpError::Timeout {
                        after: policy.timeout,
                    },
                    retryable: true,
                    retry_after: None,
                }
            } else {
                Failure {
                    error: HttpError::Network(error_chain(&e)),
                    retryable: true,
                    retry_after: None,
                }
            }
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            return Ok(Outcome::NotModified);
        }
        let headers = response.headers().clone();
        let limit = self.options.max_body_bytes;
        let too_large = || Failure {
            error: HttpError::TooLarge { limit },
            retryable: false,
            retry_after: None,
        };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        if status.is_success() {
            return Ok(Outcome::Body {
                body,
                validators: validators_of(&headers),
                content_type: headers
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
            });
        }
        let retryable = status == StatusCode::TOO_MANY_REQUESTS
            || status == StatusCode::REQUEST_TIMEOUT
            || status.is_server_error();
        Err(Failure {
            error: HttpError::Status {
                status: status.as_u16(),
                body,
            },
            retryable,
            retry_after: retry_after(&headers),
        })
    }
}

/// Hosts under one registrable domain share a gate: arXiv's limit covers
/// `export.arxiv.org` and `rss.arxiv.org` together. IP hosts keep their port.
fn gate_key(url: &Url) -> String {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let labels: Vec<&str> = d.trim_end_matches('.').rsplit('.').take(2).collect();
            labels
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join(".")
                .to_ascii_lowercase()
        }
        Some(host) => format!("{host}:{}", url.port_or_known_default().unwrap_or(0)),
        None => String::new(),
    }
}

fn validators_of(headers: &HeaderMap) -> Validators {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .filter(|s| !s.trim().is_empty())
    };
    Validators {
        etag: get(ETAG),
        last_modified: get(LAST_MODIFIED),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use axum::http::{HeaderMap as AxHeaders, StatusCode as AxStatus};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;

    use super::*;
    use crate::sources::test_server::{http, serve};

    fn policy(retries: u32) -> RequestPolicy {
        RequestPolicy {
            timeout: Duration::from_secs(5),
            retries,
            min_interval: Duration::ZERO,
        }
    }

    fn url(base: &str, path: &str) -> Url {
        Url::parse(&format!("{base}{path}")).unwrap()
    }

    fn body_of(outcome: Outcome) -> Vec<u8> {
        match outcome {
            Outcome::Body { body, .. } => body,
            Outcome::NotModified => panic!("unexpected 304"),
        }
    }

    #[tokio::test]
    async fn a_503_is_retried_and_the_next_success_returned() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let base = serve(Router::new().route(
            "/x",
            get(move || {
                let h = h.clone();
                async move {
                    if h.fetch_add(1, Ordering::SeqCst) == 0 {
                        (AxStatus::SERVICE_UNAVAILABLE, "busy").into_response()
                    } else {
                        "ok".into_response()
                    }
                }
            }),
        ))
        .await;
        let (outcome, requests) = http()
            .get(&url(&base, "/x"), None, &policy(3))
            .await
            .unwrap();
        assert_eq!(body_of(outcome), b"ok");
        assert_eq!(requests, 2);
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn retries_stop_after_the_configured_number_and_report_the_status() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let base = serve(Router::new().route(
            "/x",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { (AxStatus::BAD_GATEWAY, "down") }
            }),
        ))
        .await;
        let err = http()
            .get(&url(&base, "/x"), None, &policy(2))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Status { status: 502, .. }),
            "{err}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_404_is_not_retried() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let base = serve(Router::new().route(
            "/x",
            get(move || {
                h.fetch_add(1, Ordering::SeqCst);
                async { (AxStatus::NOT_FOUND, "no") }
            }),
        ))
        .await;
        let err = http()
            .get(&url(&base, "/x"), None, &policy(3))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Status { status: 404, .. }),
            "{err}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_429_waits_for_retry_after_and_an_excessive_one_is_not_waited_for() {
        let hits = Arc::new(AtomicU32::new(0));
        let h = hits.clone();
        let base = serve(
            Router::new()
                .route(
                    "/soon",
                    get(move || {
                        let h = h.clone();
                        async move {
                            if h.fetch_add(1, Ordering::SeqCst) == 0 {
                                (
                                    AxStatus::TOO_MANY_REQUESTS,
                                    [("retry-after", "1")],
                                    "slow down",
                                )
                                    .into_response()
                            } else {
                                "ok".into_response()
                            }
                        }
                    }),
                )
                .route(
                    "/later",
                    get(|| async {
                        (
                            AxStatus::TOO_MANY_REQUESTS,
                            [("retry-after", "3600")],
                            "tomorrow",
                        )
                    }),
                ),
        )
        .await;
        let client = http();
        let started = Instant::now();
        let (outcome, requests) = client
            .get(&url(&base, "/soon"), None, &policy(3))
            .await
            .unwrap();
        assert_eq!(body_of(outcome), b"ok");
        assert_eq!(requests, 2);
        // Backoff alone is at most 30 ms here, so this proves Retry-After was used.
        assert!(started.elapsed() >= Duration::from_secs(1));

        let started = Instant::now();
        let err = client
            .get(&url(&base, "/later"), None, &policy(3))
            .await
            .unwrap_err();
        assert!(
            matches!(err, HttpError::Status { status: 429, .. }),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[tokio::test]
    async fn validators_are_returned_and_sent_back_and_a_304_is_not_modified() {
        let base = serve(Router::new().route(
            "/feed",
            get(|headers: AxHeaders| async move {
                let etag_matches = headers.get("if-none-match").is_some_and(|v| v == "\"v1\"");
                let since = headers
                    .get("if-modified-since")
                    .is_some_and(|v| v == "Thu, 24 Sep 2026 08:58:05 GMT");
                if etag_matches && since {
                    AxStatus::NOT_MODIFIED.into_response()
                } else {
                    (
                        [
                            ("etag", "\"v1\""),
                            ("last-modified", "Thu, 24 Sep 2026 08:58:05 GMT"),
                        ],
                        "<rss/>",
                    )
                        .into_response()
                }
            }),
        ))
        .await;
        let client = http();
        let (first, _) = client
            .get(&url(&base, "/feed"), None, &policy(0))
            .await
            .unwrap();
        let Outcome::Body { validators, .. } = first else {
            panic!("expected a body")
        };
        assert_eq!(validators.etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            validators.last_modified.as_deref(),
            Some("Thu, 24 Sep 2026 08:58:05 GMT")
        );
        let (second, _) = client
            .get(&url(&base, "/feed"), Some(&validators), &policy(0))
            .await
            .unwrap();
        assert!(matches!(second, Outcome::NotModified));
    }

    #[tokio::test]
    async fn a_slow_server_times_out_with_a_timeout_error() {
        let base = serve(Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        ))
        .await;
        let p = RequestPolicy {
            timeout: Duration::from_millis(200),
            retries: 1,
            min_interval: Duration::ZERO,
        };
        let err = http()
            .get(&url(&base, "/slow"), None, &p)
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::Timeout { .. }), "{err}");
    }

    #[tokio::test]
    async fn the_configured_user_agent_is_sent() {
        let base = serve(Router::new().route(
            "/ua",
            get(|headers: AxHeaders| async move {
                headers
                    .get("user-agent")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            }),
        ))
        .await;
        let (outcome, _) = http()
            .get(&url(&base, "/ua"), None, &policy(0))
            .await
            .unwrap();
        assert_eq!(
            body_of(outcome),
            b"paperboy-test/1.0 (+https://papers.example.org)"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_cap_are_refused() {
        let base = serve(Router::new().route("/big", get(|| async { "x".repeat(4096) }))).await;
        let client = Http::new(HttpOptions {
            max_body_bytes: 1024,
            ..HttpOptions::default()
        })
        .unwrap();
        let err = client
            .get(&url(&base, "/big"), None, &policy(0))
            .await
            .unwrap_err();
        assert!(matches!(err, HttpError::TooLarge { limit: 1024 }), "{err}");
    }

    #[tokio::test]
    async fn concurrent_requests_to_one_host_are_serialised_and_spaced() {
        let log: Arc<Mutex<Vec<(Instant, Instant)>>> = Arc::default();
        let l = log.clone();
        let base = serve(Router::new().route(
            "/p",
            get(move || {
                let l = l.clone();
                async move {
                    let start = Instant::now();
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    l.lock().unwrap().push((start, Instant::now()));
                    "ok"
                }
            }),
        ))
        .await;
        let client = http();
        let gap = Duration::from_millis(50);
        let p = RequestPolicy {
            timeout: Duration::from_secs(5),
            retries: 0,
            min_interval: gap,
        };
        let u = url(&base, "/p");
        let (a, b, c) = tokio::join!(
            client.get(&u, None, &p),
            client.get(&u, None, &p),
            client.get(&u, None, &p)
        );
        a.unwrap();
        b.unwrap();
        c.unwrap();
        let mut log = log.lock().unwrap().clone();
        log.sort();
        assert_eq!(log.len(), 3);
        for pair in log.windows(2) {
            // No overlap, and the next one waited at least the gap after the previous ended.
            assert!(pair[1].0 >= pair[0].1 + gap, "{pair:?}");
        }
    }

    #[test]
    fn arxiv_hosts_share_one_gate_and_ip_hosts_keep_their_port() {
        let k = |s: &str| gate_key(&Url::parse(s).unwrap());
        assert_eq!(k("https://export.arxiv.org/api/query"), "arxiv.org");
        assert_eq!(k("https://rss.arxiv.org/rss/cs.LG"), "arxiv.org");
        assert_eq!(k("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }
}

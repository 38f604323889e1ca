//! A real HTTP server on loopback (axum) that serves recorded source payloads to paperboy.
//!
//! It owns routing by path (optionally path plus exact query), scripted response sequences,
//! delays, conditional GET (ETag / Last-Modified → 304), and a log of every request it saw. It
//! must not know anything about the sources it imitates: what to serve is always the test's call.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Request bodies above this are cut off in the log; sources only send GETs anyway.
const MAX_RECORDED_BODY: usize = 1024 * 1024;
/// How long [`FixtureServer::stop`] lets in-flight requests finish before cutting them off.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// What to answer to one request: status, body, headers, an optional delay, and optional
/// validators for conditional GET. Built with the constructors and `with_*` methods below.
#[derive(Debug, Clone)]
pub struct FixtureResponse {
    status: u16,
    body: Vec<u8>,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    delay: Duration,
    etag: Option<String>,
    last_modified: Option<DateTime<Utc>>,
    truncate_at: Option<usize>,
}

impl FixtureResponse {
    /// 200 with the bytes of `tests/fixtures/NAME` and a content type guessed from its extension.
    ///
    /// # Panics
    /// If the fixture file cannot be read: the test is mis-set-up, and the message names the path.
    pub fn fixture(name: &str) -> Self {
        let path = fixture_path(name);
        let body = match std::fs::read(&path) {
            Ok(body) => body,
            Err(e) => panic!("cannot read fixture {}: {e}", path.display()),
        };
        Self::body(body).with_content_type(guess_content_type(name))
    }

    /// 200 with `body` as `text/plain; charset=utf-8` (change it with [`Self::with_content_type`]).
    pub fn body(body: impl Into<Vec<u8>>) -> Self {
        Self {
            status: 200,
            body: body.into(),
            content_type: Some("text/plain; charset=utf-8".to_owned()),
            headers: Vec::new(),
            delay: Duration::ZERO,
            etag: None,
            last_modified: None,
            truncate_at: None,
        }
    }

    /// `code` with an empty body and no content type (e.g. 503, or 429 plus a Retry-After header).
    pub fn status(code: u16) -> Self {
        Self {
            content_type: None,
            ..Self::body(Vec::new()).with_status(code)
        }
    }

    /// Replace the status code.
    pub fn with_status(mut self, code: u16) -> Self {
        self.status = code;
        self
    }

    /// Replace the Content-Type.
    pub fn with_content_type(mut self, content_type: &str) -> Self {
        self.content_type = Some(content_type.to_owned());
        self
    }

    /// Add a response header (repeatable; e.g. `("Retry-After", "1")`).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Wait `delay` before answering (for client timeout tests).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Announce the full body length but send only its first `bytes` bytes, then break the
    /// connection: a transfer cut off mid-body, which the client sees as an I/O error.
    pub fn with_truncation(mut self, bytes: usize) -> Self {
        self.truncate_at = Some(bytes);
        self
    }

    /// Send this ETag (quotes added if missing) and answer 304 to a matching If-None-Match.
    pub fn with_etag(mut self, etag: &str) -> Self {
        let etag = if etag.ends_with('"') {
            etag.to_owned()
        } else {
            format!("\"{etag}\"")
        };
        self.etag = Some(etag);
        self
    }

    /// Send this Last-Modified and answer 304 to an If-Modified-Since at or after it (when the
    /// request has no If-None-Match, which takes precedence per RFC 9110).
    pub fn with_last_modified(mut self, last_modified: DateTime<Utc>) -> Self {
        self.last_modified = Some(last_modified);
        self
    }
}

/// Where fixture files live: `tests/fixtures/` of this crate.
pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn guess_content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, ext)| ext);
    match extension.to_ascii_lowercase().as_str() {
        "xml" => "application/xml; charset=utf-8",
        "atom" => "application/atom+xml; charset=utf-8",
        "rss" => "application/rss+xml; charset=utf-8",
        "json" => "application/json",
        "html" | "htm" => "text/html; charset=utf-8",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// One request the server saw, matched to a route or not.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// `GET`, `HEAD`, …
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string (after `?`), if any.
    pub query: Option<String>,
    /// Every header, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The request body (cut off at 1 MiB).
    pub body: Vec<u8>,
    /// When the request arrived, for asserting the spacing between requests.
    pub at: Instant,
    /// The status the server answered with.
    pub status: u16,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The query as decoded `(name, value)` pairs, in order.
    pub fn query_pairs(&self) -> Vec<(String, String)> {
        let query = self.query.as_deref().unwrap_or("");
        url::form_urlencoded::parse(query.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect()
    }

    /// The first decoded value of query parameter `name`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query_pairs()
            .into_iter()
            .find(|(param, _)| param == name)
            .map(|(_, value)| value)
    }
}

struct Route {
    script: Vec<FixtureResponse>,
    served: usize,
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// The next response for this request: an exact `path?query` route wins over a `path` route.
    fn next_response(&self, path: &str, query: Option<&str>) -> Option<FixtureResponse> {
        let mut routes = lock(&self.routes);
        let with_query = query.map(|query| format!("{path}?{query}"));
        let key = with_query
            .filter(|key| routes.contains_key(key))
            .unwrap_or_else(|| path.to_owned());
        let route = routes.get_mut(&key)?;
        let index = route.served.min(route.script.len().saturating_sub(1));
        route.served += 1;
        route.script.get(index).cloned()
    }
}

/// A running HTTP fixture server on `127.0.0.1`. Unrouted paths get 404 (and are still logged).
/// Dropping it (or [`FixtureServer::stop`]) closes it.
pub struct FixtureServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<watch::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl FixtureServer {
    /// Start a server on an ephemeral port.
    ///
    /// # Panics
    /// If the loopback interface cannot be bound at all, which leaves nothing to test.
    pub async fn start() -> FixtureServer {
        match Self::start_on(0).await {
            Ok(server) => server,
            Err(e) => panic!("cannot bind an HTTP fixture server on 127.0.0.1:0: {e}"),
        }
    }

    /// Start a server on `127.0.0.1:port` (`0` picks a free one).
    pub async fn start_on(port: u16) -> io::Result<FixtureServer> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .fallback(serve)
            .with_state(Arc::clone(&shared));
        let (shutdown, mut shutdown_rx) = watch::channel(());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = shutdown_rx.changed().await;
                })
                .await;
        });
        Ok(FixtureServer {
            addr,
            shared,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// Serve `response` for every request to `path`. `path` may carry a query
    /// (`/api/query?id_list=1`), matched exactly, which takes precedence over the bare path.
    /// Replaces an earlier route for the same key.
    pub fn route(&self, path: &str, response: FixtureResponse) -> &Self {
        self.route_script(path, vec![response])
    }

    /// Serve `script` in order to successive requests to `path`; the last response repeats
    /// once the script is used up (e.g. 503, then 429 with Retry-After, then 200).
    ///
    /// # Panics
    /// If `script` is empty.
    pub fn route_script(&self, path: &str, script: Vec<FixtureResponse>) -> &Self {
        assert!(
            !script.is_empty(),
            "route {path} needs at least one response"
        );
        lock(&self.shared.routes).insert(path.to_owned(), Route { script, served: 0 });
        self
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The absolute URL of `path` (which should start with `/`) on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// The requests whose path (without query) is `path`.
    pub fn requests_to(&self, path: &str) -> Vec<RecordedRequest> {
        lock(&self.shared.requests)
            .iter()
            .filter(|request| request.path == path)
            .cloned()
            .collect()
    }

    /// Stop listening and wait (briefly) for in-flight requests to finish.
    pub async fn stop(mut self) {
        self.shutdown.take();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(STOP_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for FixtureServer {
    fn drop(&mut self) {
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn serve(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_RECORDED_BODY)
        .await
        .map(|bytes| bytes.to_vec())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.as_str().to_owned(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut recorded = RecordedRequest {
        method: parts.method.to_string(),
        path,
        query,
        headers,
        body,
        at,
        status: 0,
    };

    let planned = shared.next_response(&recorded.path, recorded.query.as_deref());
    let (response, delay) = match planned {
        None => (
            plain(
                404,
                format!("no fixture route for {}", recorded.path).into_bytes(),
            ),
            Duration::ZERO,
        ),
        Some(spec) => {
            let conditional = parts.method == Method::GET || parts.method == Method::HEAD;
            let not_modified = conditional && is_not_modified(&spec, &recorded);
            (build_response(&spec, not_modified), spec.delay)
        }
    };
    recorded.status = response.status().as_u16();
    lock(&shared.requests).push(recorded);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

fn plain(status: u16, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    // An invalid code (a typo in a test) still gets a visible answer rather than a panic.
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// A response whose Content-Length promises the whole body but whose stream fails after `cut`
/// bytes, so hyper aborts the connection mid-body.
fn truncated(spec: &FixtureResponse, cut: usize) -> Response {
    let prefix = Bytes::copy_from_slice(&spec.body[..cut.min(spec.body.len())]);
    // The pause lets hyper flush the head and the prefix first; failing at once would abort
    // before the client saw a status, which is a different fault.
    let failure = futures::stream::once(async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        Err(io::Error::other("body truncated by the fixture server"))
    });
    let chunks = futures::stream::iter([Ok::<_, io::Error>(prefix)]).chain(failure);
    let mut response = Response::new(Body::from_stream(chunks));
    *response.status_mut() =
        StatusCode::from_u16(spec.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        axum::http::header::CONTENT_LENGTH,
        HeaderValue::from(spec.body.len()),
    );
    response
}

fn is_not_modified(spec: &FixtureResponse, request: &RecordedRequest) -> bool {
    if !(200..300).contains(&spec.status) {
        return false;
    }
    if let Some(if_none_match) = request.header("if-none-match") {
        let Some(etag) = &spec.etag else {
            return false;
        };
        // Weak comparison (RFC 9110 §13.1.2): W/ prefixes do not matter for GET.
        let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
        return if_none_match
            .split(',')
            .any(|tag| tag.trim() == "*" || strip(tag) == strip(etag));
    }
    match (request.header("if-modified-since"), spec.last_modified) {
        (Some(since), Some(last_modified)) => DateTime::parse_from_rfc2822(since.trim())
            .is_ok_and(|since| last_modified.timestamp() <= since.timestamp()),
        _ => false,
    }
}

fn build_response(spec: &FixtureResponse, not_modified: bool) -> Response {
    let mut response = match (not_modified, spec.truncate_at) {
        (true, _) => plain(304, Vec::new()),
        (false, None) => plain(spec.status, spec.body.clone()),
        (false, Some(cut)) => truncated(spec, cut),
    };
    let headers = response.headers_mut();
    let mut insert = |name: &str, value: &str| {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    };
    if let (Some(content_type), false) = (&spec.content_type, not_modified) {
        insert("content-type", content_type);
    }
    if let Some(etag) = &spec.etag {
        insert("etag", etag);
    }
    if let Some(last_modified) = spec.last_modified {
        insert(
            "last-modified",
            &last_modified
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string(),
        );
    }
    for (name, value) in &spec.headers {
        insert(name, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> RecordedRequest {
        RecordedRequest {
            method: "GET".to_owned(),
            path: "/".to_owned(),
            query: Some("a=1&date=2026-06-12&q=x%20y".to_owned()),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: Vec::new(),
            at: Instant::now(),
            status: 200,
        }
    }

    fn modified() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-06-12T08:00:00Z")
            .unwrap()
            .to_utc()
    }

    #[test]
    fn query_parameters_are_decoded() {
        let request = request(&[]);
        assert_eq!(request.query_param("date").as_deref(), Some("2026-06-12"));
        assert_eq!(request.query_param("q").as_deref(), Some("x y"));
        assert_eq!(request.query_param("missing"), None);
    }

    #[test]
    fn if_none_match_matches_weak_lists_and_star() {
        let spec = FixtureResponse::body("x").with_etag("v1");
        assert!(is_not_modified(
            &spec,
            &request(&[("if-none-match", "\"v1\"")])
        ));
        assert!(is_not_modified(
            &spec,
            &request(&[("if-none-match", "\"v0\", W/\"v1\"")])
        ));
        assert!(is_not_modified(&spec, &request(&[("if-none-match", "*")])));
        assert!(!is_not_modified(
            &spec,
            &request(&[("if-none-match", "\"v2\"")])
        ));
        assert!(!is_not_modified(&spec, &request(&[])));
    }

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let spec = FixtureResponse::body("x")
            .with_etag("v1")
            .with_last_modified(modified());
        let request = request(&[
            ("if-none-match", "\"old\""),
            ("if-modified-since", "Sat, 13 Jun 2026 08:00:00 GMT"),
        ]);
        assert!(!is_not_modified(&spec, &request));
    }

    #[test]
    fn an_unparseable_if_modified_since_gets_the_full_response() {
        let spec = FixtureResponse::body("x").with_last_modified(modified());
        assert!(!is_not_modified(
            &spec,
            &request(&[("if-modified-since", "yesterday")])
        ));
    }

    #[test]
    fn an_error_response_is_never_turned_into_304() {
        let spec = FixtureResponse::status(503).with_etag("v1");
        assert!(!is_not_modified(&spec, &request(&[("if-none-match", "*")])));
    }

    #[test]
    fn a_script_repeats_its_last_response_and_unknown_paths_have_none() {
        let shared = Shared::default();
        lock(&shared.routes).insert(
            "/s".to_owned(),
            Route {
                script: vec![FixtureResponse::status(503), FixtureResponse::status(200)],
                served: 0,
            },
        );
        let statuses: Vec<u16> = (0..3)
            .map(|_| shared.next_response("/s", None).unwrap().status)
            .collect();
        assert_eq!(statuses, vec![503, 200, 200]);
        assert!(shared.next_response("/other", None).is_none());
    }

    #[test]
    fn an_invalid_status_or_header_still_yields_a_response() {
        let response = build_response(
            &FixtureResponse::status(1000).with_header("bad header", "\n"),
            false,
        );
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn content_types_are_guessed_from_the_extension() {
        assert_eq!(
            guess_content_type("a/b.XML"),
            "application/xml; charset=utf-8"
        );
        assert_eq!(guess_content_type("x.json"), "application/json");
        assert_eq!(guess_content_type("noext"), "application/octet-stream");
    }
}

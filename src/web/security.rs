//! Headers every response carries, and the one stylesheet (served from the
//! binary, so the CSP needs no inline style or script).

use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};

/// No script at all, styles only from this origin, forms only to this
/// origin, never framed.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; \
                   base-uri 'none'; frame-ancestors 'none'";

const STYLESHEET: &str = include_str!("../../templates/web/style.css");

/// The headers every response carries, with their values: the router adds
/// them to its responses ([`headers`]), and the connection loop to the few
/// that hyper writes itself (`server::SecuredIo`).
pub const SECURITY_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, CSP),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
];

pub async fn headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    for (name, value) in SECURITY_HEADERS {
        h.insert(name, HeaderValue::from_static(value));
    }
    // Pages carry tokens in their URLs and forms: keep them out of caches.
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
}

//! Conditional GET for the feeds and the JSON API: a strong ETag (a hash of
//! the body), Last-Modified (when the newest listed paper last changed),
//! `304 Not Modified` when the client's copy is current, and a
//! Cache-Control that lets readers and proxies keep it a while.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

/// How long a reader or proxy may reuse a feed or API answer.
pub const FEED_MAX_AGE_SECS: u32 = 300;

/// `body` as a 200 with its validators, or a 304 when `request` shows the
/// client has it: `If-None-Match` decides when present (RFC 9110 13.1.1),
/// else `If-Modified-Since`.
pub fn respond(
    request: &HeaderMap,
    content_type: &'static str,
    body: String,
    last_modified: DateTime<Utc>,
) -> Response {
    let hash = Sha256::digest(body.as_bytes());
    let etag = format!(
        "\"{}\"",
        hash[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let modified = last_modified
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let fresh = match request.get(header::IF_NONE_MATCH) {
        Some(v) => v
            .to_str()
            .map(|v| {
                v.split(',')
                    .map(|t| t.trim().trim_start_matches("W/"))
                    .any(|t| t == etag || t == "*")
            })
            .unwrap_or(false),
        None => request
            .get(header::IF_MODIFIED_SINCE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .is_some_and(|since| last_modified.timestamp() <= since.timestamp()),
    };
    let headers = [
        (header::ETAG, etag),
        (header::LAST_MODIFIED, modified),
        (
            header::CACHE_CONTROL,
            format!("public, max-age={FEED_MAX_AGE_SECS}"),
        ),
    ];
    let mut response = if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else {
        (headers, body).into_response()
    };
    if !fresh {
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn get(h: &[(header::HeaderName, &str)]) -> StatusCode {
        let mut map = HeaderMap::new();
        for (k, v) in h {
            map.insert(k.clone(), HeaderValue::from_str(v).unwrap());
        }
        respond(
            &map,
            "text/plain",
            "body".into(),
            at("2026-06-12T10:00:00Z"),
        )
        .status()
    }

    #[test]
    fn a_current_copy_gets_304_and_a_stale_one_the_body() {
        let first = respond(
            &HeaderMap::new(),
            "text/plain",
            "body".into(),
            at("2026-06-12T10:00:00Z"),
        );
        assert_eq!(first.status(), StatusCode::OK);
        let etag = first.headers()[header::ETAG].to_str().unwrap().to_string();
        assert_eq!(
            first.headers()[header::LAST_MODIFIED],
            "Fri, 12 Jun 2026 10:00:00 GMT"
        );
        assert_eq!(
            get(&[(header::IF_NONE_MATCH, &etag)]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get(&[(header::IF_NONE_MATCH, &format!("\"x\", W/{etag}"))]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(get(&[(header::IF_NONE_MATCH, "\"other\"")]), StatusCode::OK);
        assert_eq!(
            get(&[(header::IF_MODIFIED_SINCE, "Fri, 12 Jun 2026 10:00:00 GMT")]),
            StatusCode::NOT_MODIFIED
        );
        assert_eq!(
            get(&[(header::IF_MODIFIED_SINCE, "Fri, 12 Jun 2026 09:59:59 GMT")]),
            StatusCode::OK
        );
        assert_eq!(
            get(&[(header::IF_MODIFIED_SINCE, "yesterday")]),
            StatusCode::OK
        );
        // If-None-Match decides when both are sent.
        assert_eq!(
            get(&[
                (header::IF_NONE_MATCH, "\"other\""),
                (header::IF_MODIFIED_SINCE, "Fri, 12 Jun 2026 10:00:00 GMT")
            ]),
            StatusCode::OK
        );
    }
}

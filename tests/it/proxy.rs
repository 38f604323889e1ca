//! Behind a reverse proxy: every link on the pages (error pages included)
//! keeps the path prefix of `[web] base_url`, and the per-IP limit believes
//! `X-Forwarded-For` only from `[web] trusted_proxies`, and then only its
//! right-most untrusted address.

use reqwest::StatusCode;

use crate::web::{link_in, Site};

const PREFIXED: &str = "https://example.org/papers/";

async fn prefixed_site() -> Site {
    Site::with_config(|toml| {
        toml.replace(
            "base_url = \"https://papers.example.org/\"",
            &format!("base_url = \"{PREFIXED}\""),
        )
    })
    .await
}

/// Every `href` and form `action` of a page.
fn targets(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "action=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            out.push(rest[..rest.find('"').unwrap()].to_string());
        }
    }
    out
}

/// Asserts every link of a page stays under the prefix (or leaves the site).
fn all_under_prefix(what: &str, html: &str) {
    let targets = targets(html);
    assert!(!targets.is_empty(), "{what}: no links at all");
    for t in targets {
        assert!(
            t.starts_with("/papers/") || t.starts_with("https://"),
            "{what}: link {t:?} leaves the prefix"
        );
    }
}

async fn get(site: &Site, path: &str) -> (StatusCode, String) {
    let r = site.http.get(site.url(path)).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_error_pages_behind_a_path_prefix_link_under_it() {
    let site = prefixed_site().await;
    let (status, home) = get(&site, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(home.contains("action=\"/papers/subscribe\""), "{home}");
    all_under_prefix("subscribe page", &home);

    for (path, status) in [
        ("/manage/not-a-token", StatusCode::BAD_REQUEST),
        ("/unsubscribe/x.y", StatusCode::BAD_REQUEST),
        ("/no/such/page", StatusCode::NOT_FOUND),
    ] {
        let (got, body) = get(&site, path).await;
        assert_eq!(got, status, "{path}");
        assert!(body.contains("href=\"/papers/\""), "{path}: {body}");
        all_under_prefix(path, &body);
    }
    let big = "x".repeat(64 * 1024);
    let r = site
        .http
        .post(site.url("/subscribe"))
        .form(&[("email", "a@example.org"), ("topics", big.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    all_under_prefix("too large", &r.text().await.unwrap());

    // Mails link under the prefix too, and the confirm page keeps it.
    let r = site
        .http
        .post(site.url("/subscribe"))
        .form(&[("email", "ada@example.org"), ("topics", "diffusion")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    all_under_prefix("check your inbox", &r.text().await.unwrap());
    let mail = &site.mails(1).await[0];
    let confirm = link_in(mail, PREFIXED);
    let path = confirm.strip_prefix("https://example.org/papers").unwrap();
    assert!(path.starts_with("/confirm/"), "{confirm}");
    let (status, page) = get(&site, path).await;
    assert_eq!(status, StatusCode::OK);
    all_under_prefix("confirm page", &page);
}

async fn subscribe_from(site: &Site, forwarded_for: Option<&str>) -> StatusCode {
    let mut req = site
        .http
        .post(site.url("/subscribe"))
        .form(&[("email", "not-an-address"), ("topics", "x")]);
    if let Some(xff) = forwarded_for {
        req = req.header("X-Forwarded-For", xff);
    }
    req.send().await.unwrap().status()
}

const OK: StatusCode = StatusCode::UNPROCESSABLE_ENTITY; // the form's answer to a bad address
const LIMITED: StatusCode = StatusCode::TOO_MANY_REQUESTS;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_allowance() {
    let site = Site::with_config(|toml| {
        toml.replace("[web]\n", "[web]\ntrusted_proxies = [\"127.0.0.0/8\"]\n")
    })
    .await;
    for _ in 0..20 {
        assert_eq!(subscribe_from(&site, Some("198.51.100.1")).await, OK);
    }
    assert_eq!(subscribe_from(&site, Some("198.51.100.1")).await, LIMITED);
    // Another client behind the same proxy is not affected.
    assert_eq!(subscribe_from(&site, Some("198.51.100.2")).await, OK);
    // Forged entries left of what the proxy appended change nothing.
    for i in 0..5 {
        let forged = format!("203.0.113.{i}, 127.0.0.9, 198.51.100.1");
        assert_eq!(
            subscribe_from(&site, Some(&forged)).await,
            LIMITED,
            "{forged}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    // The default: no trusted proxies, so the header is the client's word.
    let site = Site::start().await;
    for i in 0..20 {
        let forged = format!("203.0.113.{i}");
        assert_eq!(subscribe_from(&site, Some(&forged)).await, OK);
    }
    assert_eq!(subscribe_from(&site, Some("203.0.113.99")).await, LIMITED);

    // A proxy list that does not include the peer: the same.
    let site = Site::with_config(|toml| {
        toml.replace("[web]\n", "[web]\ntrusted_proxies = [\"10.0.0.0/8\"]\n")
    })
    .await;
    for i in 0..20 {
        let forged = format!("10.0.0.1, 203.0.113.{i}");
        assert_eq!(subscribe_from(&site, Some(&forged)).await, OK);
    }
    assert_eq!(subscribe_from(&site, None).await, LIMITED);
}

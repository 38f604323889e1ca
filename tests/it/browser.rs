//! The whole subscriber journey in a real headless browser: Debian's
//! chromium driven over WebDriver (chromedriver, started here on a free
//! port). Mail arrives at the loopback SMTP server; the one-click
//! unsubscribe is a POST as a mail client sends it.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use paperboy::domain::SubscriberStatus;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::support;
use crate::web::{link_in, Site, PUBLIC};

/// chromedriver, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn browser() -> (Driver, Client) {
    let port = support::free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (scripts/test installs chromium-driver)");
    let profile = tempfile::tempdir().unwrap();
    let driver = Driver {
        child,
        port,
        _profile: profile,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", driver.port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                format!("--user-data-dir={}", driver._profile.path().display()),
            ],
        }),
    );
    // Plain HTTP to chromedriver on loopback: no TLS stack (a second rustls
    // provider in the test build would make the app's own TLS ambiguous).
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a WebDriver session");
    (driver, client)
}

async fn heading(client: &Client, text: &str) {
    client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath(&format!("//h1[contains(., '{text}')]")))
        .await
        .unwrap_or_else(|e| panic!("no heading {text:?}: {e}"));
}

async fn body_text(client: &Client) -> String {
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_subscribes_confirms_and_edits_topics_in_a_real_browser_then_unsubscribes_in_one_click(
) {
    let site =
        Site::with_config(|toml| toml.replace("[digest]\n", "[digest]\nsend_empty = true\n")).await;
    let day = site.app.today(Utc::now());
    site.env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(day.to_string())
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let (_driver, c) = browser().await;

    // Subscribe with the form, keyboard only.
    c.goto(&site.url("/")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ada@example.org")
        .await
        .unwrap();
    c.find(Locator::Id("topics"))
        .await
        .unwrap()
        .send_keys("ti:\"sparse attention\"")
        .await
        .unwrap();
    c.find(Locator::Id("timezone"))
        .await
        .unwrap()
        .send_keys("Europe/Berlin")
        .await
        .unwrap();
    c.find(Locator::Css("button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading(&c, "Check your inbox").await;
    let ada = site.subscriber("ada@example.org").await;
    let prefs = site.app.store.preferences(ada.id).await.unwrap();
    assert_eq!(prefs.timezone, Some(chrono_tz::Europe::Berlin));
    assert_eq!(prefs.frequency, paperboy::domain::Frequency::Daily);

    // The confirmation mail's link opens a page; its button confirms.
    let mail = site.mails(1).await.remove(0);
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    c.goto(&site.local(&confirm)).await.unwrap();
    heading(&c, "Confirm your subscription").await;
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Pending,
        "opening the link confirms nothing"
    );
    c.find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading(&c, "You are subscribed").await;
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Active
    );
    let manage = c
        .find(Locator::LinkText("Open your settings"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();

    // Manage: the preview shows one paper, then more after adding a topic.
    c.goto(&site.local(&manage)).await.unwrap();
    heading(&c, "Your settings").await;
    let text = body_text(&c).await;
    assert!(
        text.contains("This paper from the last 7 days would have matched"),
        "{text}"
    );
    let marked = c.find(Locator::Css("ol.preview mark")).await.unwrap();
    assert_eq!(marked.text().await.unwrap(), "Sparse Attention");
    let topics = c.find(Locator::Id("topics")).await.unwrap();
    topics.send_keys("\nall:transformer").await.unwrap();
    c.find(Locator::Css("button[value=preview]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath("//p[contains(., 'Preview only')]"))
        .await
        .unwrap();
    let text = body_text(&c).await;
    assert!(
        !text.contains("This paper from the last"),
        "the preview changed: {text}"
    );
    assert_eq!(
        site.subscriber("ada@example.org").await.topics.len(),
        1,
        "a preview saves nothing"
    );
    c.find(Locator::Css("button[value=save]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath("//p[contains(., 'Saved.')]"))
        .await
        .unwrap();
    let ada = site.subscriber("ada@example.org").await;
    assert_eq!(
        ada.topics
            .iter()
            .map(|t| t.query.as_str())
            .collect::<Vec<_>>(),
        ["ti:\"sparse attention\"", "all:transformer"]
    );
    c.close().await.unwrap();

    // The digest arrives; one-click unsubscribe as a mail client does it.
    let env_day = day.to_string();
    site.env.ok(&["digest", "--date", &env_day]);
    let got = site.mails(2).await;
    let digest = support::parse(&got[1]);
    let lu = support::header_raw(&digest, "List-Unsubscribe").unwrap();
    let lu = lu.trim().trim_start_matches('<').trim_end_matches('>');
    let r = site
        .http
        .post(site.local(lu))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // No further digest, even with empty digests switched on.
    let next = (day + chrono::Duration::days(1)).to_string();
    site.env.ok(&["digest", "--date", &next]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.env.smtp.messages().len(), 2);
}

/// What a page gets wrong for accessibility basics: a form control without
/// a label, headings that skip a level or a page without exactly one h1,
/// and content wider than the window.
const A11Y_CHECK: &str = r#"
const problems = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  if (el.type === 'hidden' || el.closest('[aria-hidden=true]')) continue;
  const byFor = el.id && document.querySelector('label[for="' + el.id + '"]');
  if (!(byFor || el.closest('label') || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby'))) {
    problems.push('unlabelled control: ' + el.outerHTML.slice(0, 80));
  }
}
let last = 0;
for (const h of document.querySelectorAll('h1, h2, h3, h4, h5, h6')) {
  const level = Number(h.tagName[1]);
  if (level > last + 1) problems.push('heading skips to ' + h.tagName + ': ' + h.textContent.slice(0, 40));
  last = level;
}
const h1 = document.querySelectorAll('h1').length;
if (h1 !== 1) problems.push(h1 + ' h1 headings');
const width = document.documentElement.scrollWidth;
if (width > window.innerWidth) problems.push('content ' + width + ' px wide in a ' + window.innerWidth + ' px window');
return problems;
"#;

/// Checks the open page at a phone's width (375 px): the accessibility
/// basics, and a screenshot exactly as wide as the window (nothing
/// overflowing it).
async fn accessible_at_375px(c: &Client, what: &str) {
    let problems = c.execute(A11Y_CHECK, vec![]).await.unwrap();
    assert_eq!(problems, serde_json::json!([]), "{what}");
    let inner = c
        .execute(
            "return window.innerWidth * window.devicePixelRatio;",
            vec![],
        )
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let png = c.screenshot().await.unwrap();
    assert_eq!(&png[1..4], b"PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(f64::from(width), inner, "{what}: screenshot width");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_searches_the_papers_subscribes_to_the_search_and_the_digest_carries_it() {
    let site = Site::start().await;
    let day = site.app.today(Utc::now());
    site.env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(day.to_string())
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let (_driver, c) = browser().await;
    c.set_window_size(375, 900).await.unwrap();
    let inner = c
        .execute("return window.innerWidth;", vec![])
        .await
        .unwrap();
    assert!(inner.as_u64().unwrap() <= 375, "window {inner}");

    // The day's papers, most upvoted first.
    c.goto(&site.url("/papers")).await.unwrap();
    heading(&c, "Papers of").await;
    let first = c.find(Locator::Css("ol.papers li h2")).await.unwrap();
    assert!(first.text().await.unwrap().starts_with("EvoArena"));
    accessible_at_375px(&c, "/papers").await;

    // Search; the match is explained.
    c.find(Locator::Id("q"))
        .await
        .unwrap()
        .send_keys("ti:\"sparse attention\"")
        .await
        .unwrap();
    c.find(Locator::Css("form.search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::XPath("//p[contains(., '1 paper matches')]"))
        .await
        .unwrap();
    let text = body_text(&c).await;
    assert!(text.contains("MiniMax Sparse Attention"), "{text}");
    assert!(text.contains("Matched: ti:\"sparse attention\""), "{text}");
    accessible_at_375px(&c, "search results").await;

    // Subscribe to this search (daily, the default frequency).
    c.find(Locator::Css("form.subscribe-search button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading(&c, "Get new papers").await;
    let topics = c
        .find(Locator::Id("topics"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(topics.as_deref(), Some("ti:\"sparse attention\""));
    accessible_at_375px(&c, "the subscribe form").await;
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("ada@example.org")
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action$='/subscribe'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    heading(&c, "Check your inbox").await;

    // Confirm; the settings page shows the search as the topic.
    let mail = site.mails(1).await.remove(0);
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    c.goto(&site.local(&confirm)).await.unwrap();
    heading(&c, "Confirm your subscription").await;
    c.find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading(&c, "You are subscribed").await;
    let manage = c
        .find(Locator::LinkText("Open your settings"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    c.goto(&site.local(&manage)).await.unwrap();
    heading(&c, "Your settings").await;
    let topics = c
        .find(Locator::Id("topics"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(topics.as_deref(), Some("ti:\"sparse attention\""));
    accessible_at_375px(&c, "the settings page").await;
    c.close().await.unwrap();

    // The next digest carries the paper the search found.
    site.env.ok(&["digest", "--date", &day.to_string()]);
    let digest = site.mails(2).await.remove(1);
    let text = support::text_part(&digest.parsed()).unwrap();
    assert!(text.contains("MiniMax Sparse Attention"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visitor_subscribes_with_only_an_address_and_gets_the_trending_list() {
    let site =
        Site::with_config(|toml| toml.replace("[digest]\n", "[digest]\ntrending_count = 3\n"))
            .await;
    let day = site.app.today(Utc::now());
    site.env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(day.to_string())
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let (_driver, c) = browser().await;
    c.goto(&site.url("/")).await.unwrap();
    c.find(Locator::Id("email"))
        .await
        .unwrap()
        .send_keys("bo@example.org")
        .await
        .unwrap();
    c.find(Locator::Css(
        "form[action$='/subscribe'] button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    heading(&c, "Check your inbox").await;
    let mail = site.mails(1).await.remove(0);
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    c.goto(&site.local(&confirm)).await.unwrap();
    heading(&c, "Confirm your subscription").await;
    assert!(body_text(&c).await.contains("the day's top papers"));
    c.find(Locator::Css("form button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    heading(&c, "You are subscribed").await;
    c.close().await.unwrap();

    site.env.ok(&["digest", "--date", &day.to_string()]);
    let digest = site.mails(2).await.remove(1);
    let text = support::text_part(&digest.parsed()).unwrap();
    assert!(text.contains("Top papers of the day"), "{text}");
    let first = text.find("1. EvoArena").expect("the most upvoted first");
    let second = text
        .find("2. MiniMax Sparse Attention")
        .expect("then the next");
    let third = text.find("3. Robust-U1").expect("then the third");
    assert!(first < second && second < third);
    assert!(!text.contains("4. "), "three papers: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_downloads_then_deletes_their_data_in_a_real_browser() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    site.env.ok(&[
        "subscribers",
        "add",
        "bob@example.org",
        "--topic",
        "diffusion",
    ]);
    let ada = site.subscriber("ada@example.org").await;
    let token = site.signer().sign(
        paperboy::links::Purpose::Manage,
        ada.id,
        ada.link_version,
        paperboy::links::Purpose::Manage.default_expiry(Utc::now()),
    );
    let manage = site.url(&format!("/manage/{token}"));
    let (_driver, c) = browser().await;
    c.set_window_size(375, 900).await.unwrap();
    c.goto(&manage).await.unwrap();
    heading(&c, "Your settings").await;
    let download = c
        .find(Locator::LinkText("Download my data"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(download.ends_with("/data"), "{download}");

    c.find(Locator::XPath(
        "//button[contains(., 'Delete everything about me')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    heading(&c, "Delete everything").await;
    accessible_at_375px(&c, "the delete confirmation").await;
    assert_eq!(
        site.subscriber("ada@example.org").await.id,
        ada.id,
        "not yet"
    );

    c.find(Locator::XPath(
        "//button[contains(., 'Yes, delete everything about me')]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    heading(&c, "Everything about you is deleted").await;
    accessible_at_375px(&c, "the deleted page").await;

    c.goto(&manage).await.unwrap();
    heading(&c, "This link is no longer valid").await;
    c.close().await.unwrap();
    let out = site
        .env
        .paperboy(&["subscribers", "export", "ada@example.org"]);
    assert!(!out.status.success());
    site.env.ok(&["subscribers", "export", "bob@example.org"]);
}

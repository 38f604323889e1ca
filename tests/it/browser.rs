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

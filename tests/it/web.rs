//! The subscriber pages over real HTTP: `paperboy::app::serve` on port 0,
//! driven with reqwest; the mails they send arrive at the loopback SMTP
//! server and their links are followed.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Duration as Days, Utc};
use paperboy::app::App;
use paperboy::domain::{SubscriberId, SubscriberStatus};
use paperboy::links::{LinkSigner, Purpose, SigningKeys};
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::env::TestEnv;
use crate::support::{self, ReceivedMail};

pub const PUBLIC: &str = "https://papers.example.org";

pub struct Site {
    pub env: TestEnv,
    pub app: Arc<App>,
    base: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Site {
    pub async fn start() -> Site {
        Self::with_config(|toml| toml).await
    }

    /// As [`Site::start`], with the config file's text edited first.
    pub async fn with_config(edit: impl FnOnce(String) -> String) -> Site {
        Self::on(TestEnv::new().await, edit).await
    }

    /// As [`Site::with_config`], on a database of the PostgreSQL test cluster.
    pub async fn on_postgres_with_config(edit: impl FnOnce(String) -> String) -> Site {
        Self::on(TestEnv::on_postgres().await, edit).await
    }

    async fn on(env: TestEnv, edit: impl FnOnce(String) -> String) -> Site {
        let toml = std::fs::read_to_string(&env.config_path).unwrap();
        std::fs::write(&env.config_path, edit(toml)).unwrap();
        let app = env.app().await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(paperboy::app::serve(app.clone(), listener, async {
            let _ = stopped.await;
        }));
        let http = paperboy::sources::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Site {
            env,
            app,
            base,
            http,
            stop: Some(stop),
        }
    }

    /// A public link from a mail, pointed at this test server.
    pub fn local(&self, public: &str) -> String {
        assert!(public.starts_with(PUBLIC), "{public}");
        public.replacen(PUBLIC, &self.base, 1)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .unwrap();
        let answer = (r.status(), r.text().await.unwrap());
        // The form's submissions are stored and mailed after the answer.
        if path.ends_with("/subscribe") {
            self.app.submissions.settled().await;
        }
        answer
    }

    pub async fn subscribe(&self, email: &str, topics: &str) -> (StatusCode, String) {
        self.post_form("/subscribe", &[("email", email), ("topics", topics)])
            .await
    }

    pub async fn mails(&self, n: usize) -> Vec<ReceivedMail> {
        let got = self.env.smtp.wait_for(n, Duration::from_secs(10)).await;
        assert_eq!(got.len(), n, "expected {n} mails");
        got
    }

    /// Waits for the `n`th mail and checks it is the welcome mail to `to`
    /// that a confirmation sends: transactional, with a manage link.
    pub async fn welcome(&self, n: usize, to: &str) -> ReceivedMail {
        let mail = self.mails(n).await.remove(n - 1);
        assert_eq!(mail.rcpt_to, vec![to.to_string()]);
        let parsed = mail.parsed();
        assert_eq!(parsed.subject(), Some("Welcome to paperboy"));
        assert!(support::header_raw(&parsed, "List-Unsubscribe").is_none());
        link_in(&mail, &format!("{PUBLIC}/manage/"));
        mail
    }

    pub fn signer(&self) -> LinkSigner {
        LinkSigner::new(SigningKeys::load(self.env.dir.path().join("signing.key")).unwrap())
    }

    pub async fn subscriber(&self, email: &str) -> paperboy::domain::Subscriber {
        self.app
            .store
            .subscriber_by_email(&email.parse().unwrap())
            .await
            .unwrap()
    }

    /// Every row a page could change, as text (on either engine).
    async fn snapshot(&self) -> Vec<String> {
        let url = &self.env.db_url;
        let mut rows = support::database::texts(
            url,
            "SELECT CAST(id AS TEXT) || '|' || email || '|' || status || '|' ||
                    CAST(link_version AS TEXT) || '|' ||
                    COALESCE(confirmed_at, '') || '|' || COALESCE(unsubscribed_at, '') || '|' ||
                    updated_at || '|' || frequency || '|' ||
                    COALESCE(CAST(weekday AS TEXT), '') || '|' ||
                    COALESCE(CAST(delivery_hour AS TEXT), '') || '|' ||
                    COALESCE(timezone, '') || '|' ||
                    COALESCE(paused_until, '') || '|' || COALESCE(last_link_mail_at, '')
             FROM subscribers ORDER BY id",
        )
        .await;
        let topics = support::database::texts(
            url,
            "SELECT CAST(subscriber_id AS TEXT) || '|' || CAST(position AS TEXT) || '|' || query
             FROM topics ORDER BY subscriber_id, position",
        )
        .await;
        rows.extend(topics);
        rows
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The first link in a mail's text part that starts with `prefix`.
pub fn link_in(mail: &ReceivedMail, prefix: &str) -> String {
    let text = support::text_part(&mail.parsed()).unwrap();
    text.split_whitespace()
        .find(|w| w.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix} link in:\n{text}"))
        .to_string()
}

fn path_of(public: &str) -> String {
    public.strip_prefix(PUBLIC).unwrap().to_string()
}

fn today(site: &Site) -> String {
    site.app.today(Utc::now()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_signs_up_confirms_manages_and_unsubscribes_in_one_click() {
    let send_empty = |toml: String| toml.replace("[digest]\n", "[digest]\nsend_empty = true\n");
    sign_up_confirm_manage_unsubscribe(Site::with_config(send_empty).await).await;
}

/// The same walk on PostgreSQL: fetch, subscribe, confirm, manage, a
/// digest over SMTP, one-click unsubscribe.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_subscriber_signs_up_confirms_manages_and_unsubscribes_in_one_click() {
    let send_empty = |toml: String| toml.replace("[digest]\n", "[digest]\nsend_empty = true\n");
    sign_up_confirm_manage_unsubscribe(Site::on_postgres_with_config(send_empty).await).await;
}

async fn sign_up_confirm_manage_unsubscribe(site: Site) {
    let day = today(&site);
    // The recorded day's papers, announced today as far as the preview and
    // the digest are concerned.
    site.env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    let moved = support::database::execute(
        &site.env.db_url,
        "UPDATE paper_sightings SET day = $1",
        &[&day],
    )
    .await;
    assert!(moved > 0);

    let (status, body) = site.get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(r#"<label for="email">"#));
    let (status, body) = site
        .subscribe("ada@example.org", "ti:\"sparse attention\"\n")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Check your inbox"));
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Pending
    );

    // The confirmation mail: transactional, with the link and no text from
    // the form (the topics are on the confirm page).
    let mail = site.mails(1).await.remove(0);
    assert_eq!(mail.rcpt_to, vec!["ada@example.org"]);
    let parsed = mail.parsed();
    assert!(support::header_raw(&parsed, "List-Unsubscribe").is_none());
    let text = support::text_part(&parsed).unwrap();
    assert!(!text.contains("sparse attention"), "{text}");
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));

    // GET shows a button and confirms nothing; POST confirms.
    let r = site.http.get(site.local(&confirm)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains(r#"<form method="post">"#), "{body}");
    assert!(body.contains("sparse attention"), "{body}");
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Pending
    );
    let r = site.http.post(site.local(&confirm)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.text().await.unwrap();
    assert!(body.contains("You are subscribed"));
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Active
    );
    site.welcome(2, "ada@example.org").await;
    let manage = body
        .split('"')
        .find(|s| s.starts_with(&format!("{PUBLIC}/manage/")))
        .expect("a link to the settings")
        .to_string();

    // The manage page previews this week's matches, the matched term marked.
    let manage_path = path_of(&manage);
    let (status, body) = site.get(&manage_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("This paper from the last 7 days would have matched"),
        "{body}"
    );
    assert!(body.contains("<mark>Sparse Attention</mark>"), "{body}");

    // Previewing other topics changes the preview and saves nothing.
    let before = site.snapshot().await;
    let preview_form = [
        ("action", "preview"),
        ("topics", "ti:\"sparse attention\"\nall:transformer"),
        ("frequency", "daily"),
        ("hour", ""),
        ("timezone", ""),
        ("paused_until", ""),
    ];
    let (status, body) = site.post_form(&manage_path, &preview_form).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Preview only"));
    let count: usize = body
        .split("These ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a count of several papers in:\n{body}"));
    assert!(count > 1, "{count}");
    assert_eq!(site.snapshot().await, before);

    // Saving changes the topics and the preferences: weekly, on the
    // digest day's weekday, so the digest below is due whatever day the
    // test runs.
    let weekday = chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d")
        .unwrap()
        .weekday();
    let weekday_field = weekday.to_string().to_lowercase();
    let save_form = [
        ("action", "save"),
        ("topics", "ti:\"sparse attention\"\nall:transformer"),
        ("frequency", "weekly"),
        ("weekday", weekday_field.as_str()),
        ("hour", "7"),
        ("timezone", "Europe/Berlin"),
        ("paused_until", ""),
    ];
    let (status, body) = site.post_form(&manage_path, &save_form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Saved."));
    let ada = site.subscriber("ada@example.org").await;
    assert_eq!(
        ada.topics
            .iter()
            .map(|t| t.query.as_str())
            .collect::<Vec<_>>(),
        ["ti:\"sparse attention\"", "all:transformer"]
    );
    let prefs = site.app.store.preferences(ada.id).await.unwrap();
    assert_eq!(
        prefs.frequency,
        paperboy::domain::Frequency::Weekly(weekday)
    );
    assert_eq!(prefs.delivery_hour, Some(7));
    assert_eq!(prefs.timezone, Some(chrono_tz::Europe::Berlin));

    // A second subscriber, added by the operator, shows the digest goes out.
    site.env.ok(&[
        "subscribers",
        "add",
        "bob@example.org",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    site.env.ok(&["digest", "--date", &day]);
    let got = site.mails(4).await;
    let digest = got
        .iter()
        .find(|m| {
            m.rcpt_to == ["ada@example.org"]
                && support::header_raw(&m.parsed(), "List-Unsubscribe").is_some()
        })
        .expect("ada's digest");
    let lu = support::header_raw(&digest.parsed(), "List-Unsubscribe").unwrap();
    let lu = lu.trim().trim_start_matches('<').trim_end_matches('>');

    // One click, as a mail client sends it: no cookie, the RFC 8058 body.
    for _ in 0..2 {
        let r = site
            .http
            .post(site.local(lu))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("List-Unsubscribe=One-Click")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "one-click is idempotent");
    }
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Unsubscribed
    );

    // The next day's run (empty digests allowed) reaches bob, not ada.
    let next = (site.app.today(Utc::now()) + Days::days(1)).to_string();
    site.env.ok(&["digest", "--date", &next]);
    let got = site.mails(5).await;
    let last = &got[4];
    assert_eq!(last.rcpt_to, vec!["bob@example.org"]);
    let later: Vec<_> = got[4..].iter().flat_map(|m| m.rcpt_to.clone()).collect();
    assert!(!later.contains(&"ada@example.org".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_subscribe_input_is_shown_next_to_its_field_with_the_input_kept() {
    let site = Site::start().await;
    let (status, body) = site.subscribe("not-an-address", "diffusion").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(
            r#"<p class="error" id="email-error">The email address has no &#x27;@&#x27;"#
        ) || body.contains(r#"id="email-error">The email address has no"#),
        "{body}"
    );
    assert!(body.contains(r#"value="not-an-address""#));
    assert!(body.contains(">diffusion</textarea>"));

    let (status, body) = site
        .subscribe("ada@example.org", "diffusion\n(llm AND agents")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains("Line 2 ((llm AND agents): expected"),
        "{body}"
    );
    assert!(body.contains(r#"value="ada@example.org""#));
    assert!(!body.contains("email-error"));

    let (status, body) = site
        .subscribe("ada@example.org\r\nBcc: eve@example.org", "diffusion")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("control character"), "{body}");

    // A body past the limit, and a body that is not a form.
    let huge = "x".repeat(paperboy::web::MAX_BODY_BYTES + 1);
    let (status, body) = site.subscribe("ada@example.org", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body.contains("too large"));
    let r = site
        .http
        .post(site.url("/subscribe"))
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"email":"ada@example.org"}"#)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());

    assert_eq!(site.snapshot().await, Vec::<String>::new());
    assert!(site.env.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_is_the_same_for_known_and_unknown_addresses_and_mails_are_rate_limited() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "bob@example.org",
        "--topic",
        "au:hinton",
    ]);
    let (s1, new) = site.subscribe("ada@example.org", "diffusion").await;
    let (s2, known) = site
        .subscribe("bob@example.org", "someone else's topic")
        .await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(new, known);

    // ada gets a confirmation, bob a manage link and no change of topics.
    let got = site.mails(2).await;
    let to_bob = got
        .iter()
        .find(|m| m.rcpt_to == ["bob@example.org"])
        .unwrap();
    let bob_manage = link_in(to_bob, &format!("{PUBLIC}/manage/"));
    assert_eq!(
        site.subscriber("bob@example.org").await.topics[0].query,
        "au:hinton"
    );
    let (status, _) = site.get(&path_of(&bob_manage)).await;
    assert_eq!(status, StatusCode::OK);
    let to_ada = got
        .iter()
        .find(|m| m.rcpt_to == ["ada@example.org"])
        .unwrap();
    link_in(to_ada, &format!("{PUBLIC}/confirm/"));

    // Asking again within ten minutes sends nothing more; the database
    // remembers when the last one went out.
    let (status, again) = site.subscribe("ada@example.org", "diffusion").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, new);
    site.subscribe("carol@example.org", "diffusion").await;
    let got = site.mails(3).await;
    assert_eq!(got[2].rcpt_to, vec!["carol@example.org"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.env.smtp.messages().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_filled_honeypot_gets_the_same_page_and_nothing_happens() {
    let site = Site::start().await;
    let (status, body) = site
        .post_form(
            "/subscribe",
            &[
                ("email", "bot@example.org"),
                ("topics", "diffusion"),
                ("website", "http://spam.example"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Check your inbox"));
    assert_eq!(site.snapshot().await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_ip_is_refused_after_its_subscribe_allowance() {
    let site = Site::start().await;
    let mut statuses = Vec::new();
    for _ in 0..21 {
        statuses.push(site.subscribe("not-an-address", "x").await.0);
    }
    assert!(statuses[..20]
        .iter()
        .all(|s| *s == StatusCode::UNPROCESSABLE_ENTITY));
    assert_eq!(statuses[20], StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_per_client_subscribe_limit_holds_across_daemons_sharing_a_database() {
    let site = Site::start().await;
    // A second daemon on the same database and configuration: its own
    // memory (its own count of the client), the same store.
    let other = site.env.app().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(paperboy::app::serve(
        other.clone(),
        listener,
        std::future::pending(),
    ));
    // The database counts fixed ten-minute windows.
    let window = || Utc::now().timestamp().div_euclid(600);
    let first_window = window();
    let mut addresses = Vec::new();
    for i in 0..15 {
        let a = format!("a{i}@example.org");
        let (status, body) = site.subscribe(&a, "diffusion").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        addresses.push(a);
        let b = format!("b{i}@example.org");
        let r = site
            .http
            .post(format!("{other_base}/subscribe"))
            .form(&[("email", b.as_str()), ("topics", "diffusion")])
            .send()
            .await
            .unwrap();
        // Each daemon alone has seen fewer than 20 requests from this client.
        assert_eq!(r.status(), StatusCode::OK);
        other.submissions.settled().await;
        addresses.push(b);
    }
    let mut stored = 0;
    for a in &addresses {
        if site
            .app
            .store
            .subscriber_by_email(&a.parse().unwrap())
            .await
            .is_ok()
        {
            stored += 1;
        }
    }
    // 30 requests, 20 per client and window counted in the database (a
    // window that began during the test counts afresh).
    if window() == first_window {
        assert_eq!(stored, 20, "{stored} of 30 stored");
    } else {
        assert!(stored >= 20, "{stored} of 30 stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_broken_link_gets_a_clear_page_with_a_way_to_a_new_one() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    let ada = site.subscriber("ada@example.org").await;
    let signer = site.signer();
    let now = Utc::now();
    let good = |p: Purpose| signer.sign(p, ada.id, 1, p.default_expiry(now));
    let cases = |p: Purpose| {
        let token = good(p);
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 1;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        let other = if p == Purpose::Manage {
            Purpose::Unsubscribe
        } else {
            Purpose::Manage
        };
        vec![
            ("tampered", String::from_utf8(tampered).unwrap(), 400),
            ("truncated", token[..token.len() - 3].to_string(), 400),
            ("garbage", "%3Cscript%3E".to_string(), 400),
            ("wrong purpose", good(other), 400),
            (
                "expired",
                signer.sign(p, ada.id, 1, now - Days::seconds(1)),
                410,
            ),
            (
                "unknown subscriber",
                signer.sign(p, SubscriberId::new(999), 1, p.default_expiry(now)),
                410,
            ),
            (
                "revoked",
                signer.sign(p, ada.id, 0, p.default_expiry(now)),
                410,
            ),
        ]
    };
    let before = site.snapshot().await;
    for purpose in [Purpose::Confirm, Purpose::Manage, Purpose::Unsubscribe] {
        for (what, token, code) in cases(purpose) {
            let path = format!("/{}/{token}", purpose.path_segment());
            for post in [false, true] {
                let (status, body) = if post {
                    site.post_form(&path, &[("action", "save"), ("topics", "x")])
                        .await
                } else {
                    site.get(&path).await
                };
                assert_eq!(
                    status.as_u16(),
                    code,
                    "{what} {purpose} post={post}: {body}"
                );
                assert!(
                    body.contains("To get a new link"),
                    "{what} {purpose}: {body}"
                );
            }
        }
    }
    assert_eq!(site.snapshot().await, before);
    assert_eq!(
        site.subscriber("ada@example.org").await.status,
        SubscriberStatus::Active
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_get_changes_anything() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    site.subscribe("pat@example.org", "diffusion").await;
    site.mails(1).await;
    let ada = site.subscriber("ada@example.org").await;
    let pat = site.subscriber("pat@example.org").await;
    let signer = site.signer();
    let now = Utc::now();
    let paths = [
        "/".to_string(),
        "/style.css".into(),
        "/healthz".into(),
        "/subscribe".into(),
        format!(
            "/confirm/{}",
            signer.sign(
                Purpose::Confirm,
                pat.id,
                1,
                Purpose::Confirm.default_expiry(now)
            )
        ),
        format!(
            "/manage/{}",
            signer.sign(
                Purpose::Manage,
                ada.id,
                1,
                Purpose::Manage.default_expiry(now)
            )
        ),
        format!(
            "/manage/{}",
            signer.sign(
                Purpose::Manage,
                pat.id,
                1,
                Purpose::Manage.default_expiry(now)
            )
        ),
        format!(
            "/unsubscribe/{}",
            signer.sign(
                Purpose::Unsubscribe,
                ada.id,
                1,
                Purpose::Unsubscribe.default_expiry(now)
            )
        ),
        format!(
            "/unsubscribe/{}?List-Unsubscribe=One-Click",
            signer.sign(
                Purpose::Unsubscribe,
                ada.id,
                1,
                Purpose::Unsubscribe.default_expiry(now)
            )
        ),
    ];
    let before = site.snapshot().await;
    for path in &paths {
        let r = site.http.get(site.url(path)).send().await.unwrap();
        assert!(
            r.status().is_success() || r.status() == StatusCode::METHOD_NOT_ALLOWED,
            "{path}: {}",
            r.status()
        );
        let r = site.http.head(site.url(path)).send().await.unwrap();
        assert!(!r.status().is_server_error(), "{path}: {}", r.status());
    }
    assert_eq!(site.snapshot().await, before);
    assert_eq!(
        site.subscriber("pat@example.org").await.status,
        SubscriberStatus::Pending
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_carries_the_security_headers() {
    let site = Site::start().await;
    for path in ["/", "/healthz", "/style.css", "/nowhere", "/manage/bad"] {
        let r = site.http.get(site.url(path)).send().await.unwrap();
        let h = r.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    }
    let (_, body) = site.get("/").await;
    assert!(!body.contains("<script"), "no script on the pages");
    assert!(body.contains(r#"name="viewport""#));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asking_for_a_new_link_revokes_every_old_one_and_mails_one_that_works() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    let ada = site.subscriber("ada@example.org").await;
    let signer = site.signer();
    let now = Utc::now();
    let manage = format!(
        "/manage/{}",
        signer.sign(
            Purpose::Manage,
            ada.id,
            1,
            Purpose::Manage.default_expiry(now)
        )
    );
    let unsubscribe = format!(
        "/unsubscribe/{}",
        signer.sign(
            Purpose::Unsubscribe,
            ada.id,
            1,
            Purpose::Unsubscribe.default_expiry(now)
        )
    );
    let (status, body) = site.post_form(&manage, &[("action", "new_link")]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("A new link is on its way"));
    let mail = site.mails(1).await.remove(0);
    assert_eq!(mail.rcpt_to, vec!["ada@example.org"]);
    let fresh = link_in(&mail, &format!("{PUBLIC}/manage/"));
    assert_eq!(site.get(&manage).await.0, StatusCode::GONE);
    assert_eq!(site.post_form(&unsubscribe, &[]).await.0, StatusCode::GONE);
    assert_eq!(site.get(&path_of(&fresh)).await.0, StatusCode::OK);
    assert_eq!(site.subscriber("ada@example.org").await.link_version, 2);

    // A second request within ten minutes revokes at once too; only the
    // mail with the new link waits, and the page says until when.
    let (status, body) = site
        .post_form(&path_of(&fresh), &[("action", "new_link")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("will be emailed at"), "{body}");
    assert_eq!(site.get(&path_of(&fresh)).await.0, StatusCode::GONE);
    assert_eq!(site.subscriber("ada@example.org").await.link_version, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_settings_are_refused_field_by_field_and_nothing_is_saved() {
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    let ada = site.subscriber("ada@example.org").await;
    let manage = format!(
        "/manage/{}",
        site.signer().sign(
            Purpose::Manage,
            ada.id,
            1,
            Purpose::Manage.default_expiry(Utc::now())
        )
    );
    let before = site.snapshot().await;
    let (status, body) = site
        .post_form(
            &manage,
            &[
                ("action", "save"),
                ("topics", "ok\nti:("),
                ("frequency", "weekly"),
                ("weekday", "someday"),
                ("hour", "25"),
                ("timezone", "Mars/Olympus"),
                ("paused_until", "2001-01-01"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    for expected in [
        "Line 2 (ti:():",
        "Choose the weekday for a weekly digest.",
        "The delivery hour is a whole hour from 0 to 23.",
        "Unknown timezone",
        "Mars/Olympus",
        "Choose a date after today",
    ] {
        assert!(body.contains(expected), "{expected} in:\n{body}");
    }
    assert!(body.contains(">ok\nti:(</textarea>"), "the input is kept");
    let (status, _) = site
        .post_form(&manage, &[("action", "delete_everything")])
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(site.snapshot().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_digest_skips_paused_subscribers_and_weekly_ones_on_other_days() {
    use paperboy::domain::{Frequency, NewTopic, Preferences};
    let site = Site::start().await;
    site.env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    let topic = [NewTopic {
        name: "t".into(),
        query: "ti:\"sparse attention\"".into(),
    }];
    // 2026-06-12 is a Friday.
    let day = crate::env::hf_day();
    let choices = [
        ("daily@example.org", Preferences::default()),
        (
            "friday@example.org",
            Preferences {
                frequency: Frequency::Weekly(chrono::Weekday::Fri),
                ..Preferences::default()
            },
        ),
        (
            "monday@example.org",
            Preferences {
                frequency: Frequency::Weekly(chrono::Weekday::Mon),
                ..Preferences::default()
            },
        ),
        (
            "paused@example.org",
            Preferences {
                paused_until: Some(day + Days::days(1)),
                ..Preferences::default()
            },
        ),
        (
            "resumed@example.org",
            Preferences {
                paused_until: Some(day),
                ..Preferences::default()
            },
        ),
    ];
    for (email, prefs) in &choices {
        let id = site
            .app
            .store
            .upsert_active(&email.parse().unwrap(), &topic, Utc::now())
            .await
            .unwrap()
            .id();
        site.app
            .store
            .save_preferences(id, 1, &topic, prefs, Utc::now())
            .await
            .unwrap();
    }
    site.env.ok(&["digest", "--date", crate::env::HF_DAY]);
    let got = site.mails(3).await;
    let mut to: Vec<String> = got.into_iter().flat_map(|m| m.rcpt_to).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "daily@example.org",
            "friday@example.org",
            "resumed@example.org"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedule_chosen_on_the_subscribe_form_is_stored_and_kept_at_confirmation() {
    use paperboy::domain::{Frequency, Preferences};
    let site = Site::start().await;
    let (status, page) = site.get("/").await;
    assert_eq!(status, StatusCode::OK);
    for field in [
        r#"name="frequency" value="daily" checked"#,
        r#"name="weekday""#,
        r#"name="hour""#,
        r#"name="timezone""#,
    ] {
        assert!(page.contains(field), "no {field} in {page}");
    }
    let (status, _) = site
        .post_form(
            "/subscribe",
            &[
                ("email", "ada@example.org"),
                ("topics", "diffusion"),
                ("frequency", "weekly"),
                ("weekday", "thu"),
                ("hour", "6"),
                ("timezone", "Europe/Berlin"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let chosen = Preferences {
        frequency: Frequency::Weekly(chrono::Weekday::Thu),
        delivery_hour: Some(6),
        timezone: Some(chrono_tz::Europe::Berlin),
        paused_until: None,
    };
    let ada = site.subscriber("ada@example.org").await;
    assert_eq!(site.app.store.preferences(ada.id).await.unwrap(), chosen);

    let mail = site.mails(1).await.remove(0);
    let confirm = link_in(&mail, &format!("{PUBLIC}/confirm/"));
    let r = site.http.post(site.local(&confirm)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ada = site.subscriber("ada@example.org").await;
    assert_eq!(ada.status, SubscriberStatus::Active);
    assert_eq!(site.app.store.preferences(ada.id).await.unwrap(), chosen);

    // One welcome mail says what arrives, when, and where to change it.
    let welcome = site.welcome(2, "ada@example.org").await;
    let parsed = welcome.parsed();
    for part in [
        support::text_part(&parsed).unwrap(),
        support::html_part(&parsed).unwrap(),
    ] {
        let words = part.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains("every Thursday at 06:00, Europe/Berlin time"),
            "{words}"
        );
        assert!(words.contains("diffusion"), "{words}");
        assert!(!words.contains("top papers"), "{words}");
        assert!(words.contains(&format!("{PUBLIC}/manage/")), "{words}");
    }
    // A repeated confirm changes nothing and mails nothing.
    let r = site.http.post(site.local(&confirm)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("already subscribed"));
    assert_eq!(
        site.env
            .smtp
            .wait_for(3, Duration::from_secs(2))
            .await
            .len(),
        2
    );

    // The form is not authenticated: a confirmed subscriber's settings stay.
    site.post_form(
        "/subscribe",
        &[
            ("email", "ada@example.org"),
            ("topics", "diffusion"),
            ("frequency", "daily"),
            ("hour", "23"),
        ],
    )
    .await;
    assert_eq!(site.app.store.preferences(ada.id).await.unwrap(), chosen);

    // Without the schedule fields (a client other than the page): daily, defaults.
    site.subscribe("bob@example.org", "diffusion").await;
    let bob = site.subscriber("bob@example.org").await;
    assert_eq!(
        site.app.store.preferences(bob.id).await.unwrap(),
        Preferences::default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_schedule_choices_on_the_subscribe_form_are_shown_next_to_their_field() {
    let site = Site::start().await;
    let (status, body) = site
        .post_form(
            "/subscribe",
            &[
                ("email", "ada@example.org"),
                ("topics", "diffusion"),
                ("frequency", "weekly"),
                ("weekday", "someday"),
                ("hour", "25"),
                ("timezone", "Mars/Olympus"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body.contains(r#"id="frequency-error">Choose the weekday"#),
        "{body}"
    );
    assert!(body.contains(r#"id="hour-error">"#), "{body}");
    assert!(
        body.contains(r#"id="timezone-error">Unknown timezone"#),
        "{body}"
    );
    assert!(body.contains(r#"value="Mars/Olympus""#), "{body}");
    assert!(body.contains(r#"value="ada@example.org""#));
    assert!(body.contains(r#"value="weekly" checked"#), "{body}");
    assert!(!body.contains("email-error"));
    let (status, _) = site
        .post_form(
            "/subscribe",
            &[
                ("email", "ada@example.org"),
                ("topics", "diffusion"),
                ("frequency", "hourly"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(site.snapshot().await, Vec::<String>::new());
    assert!(site.env.smtp.messages().is_empty());
}

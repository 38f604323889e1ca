//! The public pages and the command line used against the operator or a
//! stranger, as an attacker would: each test starts the real server (or
//! runs the real binary) and shows one abuse no longer works.

use std::time::Duration;

use reqwest::StatusCode;

use crate::env::TestEnv;
use crate::web::Site;

async fn subscriber_rows(site: &Site) -> Vec<(String, String)> {
    sqlx::query_as("SELECT email, status FROM subscribers ORDER BY id")
        .fetch_all(site.app.store.pool())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn look_alike_spellings_of_an_address_are_one_subscriber_and_get_one_mail() {
    let site = Site::start().await;
    let (status, _) = site.subscribe("c@example.org", "diffusion").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(site.mails(1).await[0].rcpt_to, ["c@example.org"]);

    for look_alike in [
        "c@\u{ff45}xample.org",
        "c@e\u{ff58}ample.org",
        "c@\u{1d41e}xample.org",
        "c@\u{24d4}xample.org",
        "c@EXAMPLE.org",
    ] {
        let (status, _) = site.subscribe(look_alike, "diffusion").await;
        assert_eq!(status, StatusCode::OK, "{look_alike:?}");
    }
    // One internationalised domain, typed both ways, is one subscriber too.
    site.subscribe("t22@bücher.example", "diffusion").await;
    site.subscribe("t22@xn--bcher-kva.example", "diffusion")
        .await;
    let got = site.mails(2).await;
    assert_eq!(got[1].rcpt_to, ["t22@xn--bcher-kva.example"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(site.env.smtp.messages().len(), 2, "a look-alike got a mail");
    assert_eq!(
        subscriber_rows(&site).await,
        [
            ("c@example.org".to_string(), "pending".to_string()),
            (
                "t22@xn--bcher-kva.example".to_string(),
                "pending".to_string()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domains_strict_idna_refuses_get_the_form_back_naming_what_is_wrong() {
    let site = Site::start().await;
    for (bad, says) in [
        ("me@\u{2488}wouldbeinvalid.com", "U+2488"),
        ("me@xn--0.tld", "not a valid punycode"),
        ("me@1.xn--4dbc.com", "right-to-left"),
        ("me@yy--0.tld", "third and fourth places"),
        ("me@bad.tld-2", "top-level domain"),
    ] {
        let (status, page) = site.subscribe(bad, "diffusion").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(page.contains(says), "{bad:?}: the page lacks {says:?}");
    }
    assert!(subscriber_rows(&site).await.is_empty());
    assert!(site.env.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_folds_look_alike_rows_into_the_oldest_confirmed_one_and_says_so() {
    let env = TestEnv::new().await;
    env.ok(&["migrate"]);
    let url = format!("sqlite://{}", env.dir.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    for (email, status, created, confirmed) in [
        (
            "c@\u{ff45}xample.org",
            "pending",
            "2026-01-01T00:00:00Z",
            None,
        ),
        (
            "c@example.org",
            "active",
            "2026-02-01T00:00:00Z",
            Some("2026-02-01T00:00:00Z"),
        ),
        (
            "c@\u{24d4}xample.org",
            "active",
            "2026-01-15T00:00:00Z",
            Some("2026-01-15T00:00:00Z"),
        ),
        (
            "t@bücher.example",
            "active",
            "2026-01-01T00:00:00Z",
            Some("2026-01-01T00:00:00Z"),
        ),
    ] {
        sqlx::query(
            "INSERT INTO subscribers (email, status, created_at, confirmed_at, updated_at)
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(email)
        .bind(status)
        .bind(created)
        .bind(confirmed)
        .bind(created)
        .execute(&pool)
        .await
        .unwrap();
    }
    pool.close().await;

    let out = env.ok(&["migrate"]);
    assert!(out.contains("subscriber 3 kept"), "{out}");
    assert!(out.contains("merged into it"), "{out}");
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let rows: Vec<(i64, String)> = sqlx::query_as("SELECT id, email FROM subscribers ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(
        rows,
        [
            (3, "c@example.org".to_string()),
            (4, "t@xn--bcher-kva.example".to_string()),
        ]
    );
}

/// The invisible characters an attacker reaches for: a carriage return
/// that overwrites a terminal line, vertical tab, form feed, NEXT LINE,
/// bidi overrides and isolates, and zero-width characters.
const INVISIBLE: &[(char, &str)] = &[
    ('\r', "U+000D"),
    ('\u{b}', "U+000B"),
    ('\u{c}', "U+000C"),
    ('\u{85}', "U+0085"),
    ('\u{202e}', "U+202E"),
    ('\u{2066}', "U+2066"),
    ('\u{200b}', "U+200B"),
    ('\u{feff}', "U+FEFF"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_with_control_bidi_or_zero_width_characters_are_refused_naming_the_character() {
    let site = Site::start().await;
    for (c, code) in INVISIBLE {
        let topic = format!("diffusion{c}txt.exe");
        let (status, page) = site.subscribe("ada@example.org", &topic).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        assert!(page.contains(code), "{code}: the page does not name it");
    }
    assert!(subscriber_rows(&site).await.is_empty());

    // The command line's import refuses them too, in queries and in names.
    let env = &site.env;
    let file = env.dir.path().join("import.jsonl");
    for line in [
        serde_json::json!({"email": "q@example.org", "topics": ["a\rb"]}),
        serde_json::json!({"email": "q@example.org",
            "topics": [{"name": "bank\u{202e}", "query": "diffusion"}]}),
    ] {
        std::fs::write(&file, format!("{line}\n")).unwrap();
        let out = env.paperboy(&["subscribers", "import", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{line} was imported");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("U+000D") || err.contains("U+202E"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_prints_stored_invisible_characters_escaped() {
    let env = TestEnv::new().await;
    env.ok(&["subscribers", "add", "eve@example.org", "--topic", "seed"]);
    // A topic stored by an older version that accepted these characters.
    let url = format!("sqlite://{}", env.dir.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let hostile = "ok\rFAKE LINE\u{b}\u{c}\u{85}\u{202e}gnp.exe\u{200b}";
    sqlx::query("UPDATE topics SET query = ?1, name = ?1")
        .bind(hostile)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let list = env.ok(&["subscribers", "list"]);
    assert!(list.contains("ok\\rFAKE LINE"), "{list:?}");
    assert!(list.contains("\\u{202e}gnp.exe"), "{list:?}");
    let export = env.ok(&["subscribers", "export"]);
    for out in [&list, &export] {
        assert!(
            !out.chars()
                .any(|c| c != '\n' && c != '\t' && paperboy::domain::invisible::is_invisible(c)),
            "a raw invisible character reached the terminal: {out:?}"
        );
    }
    // The escaped export still reads back as the stored text.
    let line: serde_json::Value = serde_json::from_str(export.trim()).unwrap();
    assert_eq!(line["topics"][0], hostile);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bidi_and_zero_width_characters_in_paper_text_are_stripped_when_fetched() {
    let env = TestEnv::new().await;
    let payload = serde_json::json!([{
        "paper": {
            "id": "2606.99903",
            "authors": [{"name": "Eve\u{202e}evE"}],
            "publishedAt": "2026-06-11T17:00:00.000Z",
            "submittedOnDailyAt": "2026-06-12T00:00:00.000Z",
            "title": "Safe\u{202e}txt.exe friends\u{200b}\u{2066} title",
            "summary": "An abstract\u{200f} with\u{feff} marks.",
            "upvotes": 1
        },
        "title": "Safe\u{202e}txt.exe friends title",
        "summary": "An abstract."
    }])
    .to_string();
    env.http.route(
        "/hostile/daily_papers",
        crate::support::FixtureResponse::body(payload).with_content_type("application/json"),
    );
    env.ok(&["fetch", "--date", crate::env::HF_DAY, "--source", "hostile"]);
    let url = format!("sqlite://{}", env.dir.db_path().display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let (title, summary, authors): (String, String, String) =
        sqlx::query_as("SELECT title, abstract, authors FROM papers WHERE id = '2606.99903'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(title, "Safetxt.exe friends title");
    assert_eq!(summary, "An abstract with marks.");
    assert!(!authors.contains('\u{202e}'), "{authors}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_links_takes_effect_at_once_even_right_after_a_link_mail() {
    use paperboy::links::Purpose;
    let site = Site::start().await;
    site.env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "diffusion",
    ]);
    let ada = site.subscriber("ada@example.org").await;
    let leaked = format!(
        "/manage/{}",
        site.signer().sign(
            Purpose::Manage,
            ada.id,
            1,
            Purpose::Manage.default_expiry(chrono::Utc::now())
        )
    );
    // Anyone can make paperboy send a link mail through the public form.
    site.subscribe("ada@example.org", "anything").await;
    assert_eq!(site.mails(1).await.len(), 1);
    // The last one went out almost ten minutes ago, as far as the limit
    // knows: the new link can follow a second after the revocation.
    let almost = chrono::Utc::now() - chrono::Duration::seconds(599);
    sqlx::query("UPDATE subscribers SET last_link_mail_at = ?")
        .bind(almost.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .execute(site.app.store.pool())
        .await
        .unwrap();

    let (status, page) = site.post_form(&leaked, &[("action", "new_link")]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("no longer works"), "{page}");
    assert!(page.contains("will be emailed at"), "{page}");
    assert_eq!(site.get(&leaked).await.0, StatusCode::GONE);

    // The new link arrives when the limit allows, at the new version.
    let got = site.mails(2).await;
    let fresh = crate::web::link_in(&got[1], &format!("{}/manage/", crate::web::PUBLIC));
    assert_eq!(
        site.get(&site.local(&fresh)[site.url("").len()..]).await.0,
        StatusCode::OK
    );
    assert_eq!(site.subscriber("ada@example.org").await.link_version, 2);
}

async fn topics_and_schedule(site: &Site, email: &str) -> (String, Vec<String>, String) {
    let s = site.subscriber(email).await;
    let frequency: String = sqlx::query_scalar("SELECT frequency FROM subscribers WHERE id = ?")
        .bind(s.id.get())
        .fetch_one(site.app.store.pool())
        .await
        .unwrap();
    (
        s.status.as_str().to_string(),
        s.topics.into_iter().map(|t| t.query).collect(),
        frequency,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_cannot_change_what_is_stored_for_an_address_until_its_owner_confirms() {
    let site = Site::start().await;
    site.env
        .ok(&["subscribers", "add", "ada@example.org", "--topic", "mine"]);
    let ada = site.subscriber("ada@example.org").await;
    site.app
        .store
        .unsubscribe(ada.id, 1, chrono::Utc::now())
        .await
        .unwrap();
    let before = topics_and_schedule(&site, "ada@example.org").await;
    assert_eq!(before.0, "unsubscribed");

    let stranger = [
        ("email", "ada@example.org"),
        ("topics", "stranger's topic"),
        ("frequency", "weekly"),
        ("weekday", "fri"),
    ];
    let (status, _) = site.post_form("/subscribe", &stranger).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing stored changed: still unsubscribed, same topics and schedule.
    assert_eq!(topics_and_schedule(&site, "ada@example.org").await, before);

    // The owner's confirm page shows what was asked, and only its POST
    // applies it; a later submission is not slipped in under it.
    let mail = site.mails(1).await.remove(0);
    let confirm = crate::web::link_in(&mail, &format!("{}/confirm/", crate::web::PUBLIC));
    let confirm = site.local(&confirm)[site.url("").len()..].to_string();
    let (status, shown) = site.get(&confirm).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        shown.contains("stranger&#39;s topic") || shown.contains("stranger&#x27;s topic"),
        "{shown}"
    );
    assert!(shown.contains("name=\"revision\" value=\"1\""), "{shown}");
    site.post_form(
        "/subscribe",
        &[("email", "ada@example.org"), ("topics", "later topic")],
    )
    .await;
    assert_eq!(topics_and_schedule(&site, "ada@example.org").await, before);
    let (status, again) = site.post_form(&confirm, &[("revision", "1")]).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert!(again.contains("later topic"), "{again}");
    assert_eq!(topics_and_schedule(&site, "ada@example.org").await, before);

    let (status, done) = site.post_form(&confirm, &[("revision", "2")]).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(
        topics_and_schedule(&site, "ada@example.org").await,
        (
            "active".to_string(),
            vec!["later topic".to_string()],
            "daily".to_string()
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_submission_for_a_pending_address_leaves_the_first_one_stored() {
    let site = Site::start().await;
    site.post_form(
        "/subscribe",
        &[("email", "bob@example.org"), ("topics", "first")],
    )
    .await;
    let before = topics_and_schedule(&site, "bob@example.org").await;
    assert_eq!(
        before,
        (
            "pending".to_string(),
            vec!["first".to_string()],
            "daily".to_string()
        )
    );
    site.post_form(
        "/subscribe",
        &[
            ("email", "bob@example.org"),
            ("topics", "second"),
            ("frequency", "weekly"),
            ("weekday", "mon"),
        ],
    )
    .await;
    assert_eq!(topics_and_schedule(&site, "bob@example.org").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_to_an_unconfirmed_address_carries_no_text_a_stranger_wrote() {
    let site = Site::start().await;
    let phish = "URGENT your bank account is locked visit secure-login.evil.example verify";
    let topics = format!("{phish}\nevil.example phish");
    let (status, _) = site.subscribe("victim@example.org", &topics).await;
    assert_eq!(status, StatusCode::OK);
    let mail = site.mails(1).await.remove(0);
    let raw = String::from_utf8_lossy(&mail.data).to_lowercase();
    for stranger in ["urgent", "bank", "evil.example", "phish", "verify"] {
        assert!(
            !raw.contains(stranger),
            "{stranger:?} reached the mail:\n{raw}"
        );
    }
    // The topics are on the confirm page, behind the mailed token.
    let confirm = crate::web::link_in(&mail, &format!("{}/confirm/", crate::web::PUBLIC));
    let (status, page) = site.get(&site.local(&confirm)[site.url("").len()..]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("secure-login.evil.example verify"), "{page}");
}

/// Whether the server closed `stream` (EOF or reset) within `within`,
/// reading and discarding whatever it answered.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_clients_are_cut_off_and_everyone_else_is_served() {
    use tokio::io::AsyncWriteExt as _;
    let site = Site::with_config(|toml| {
        toml.replace(
            "[web]\n",
            "[web]\nheader_read_timeout_secs = 1\nrequest_timeout_secs = 1\nmax_connections = 8\n",
        )
    })
    .await;
    let addr = site.url("").trim_start_matches("http://").to_string();
    let connect = || tokio::net::TcpStream::connect(addr.clone());

    // Headers at a byte every 200 ms, a body at a byte every 200 ms, and
    // more idle connections than the cap.
    let mut slow_headers = Vec::new();
    for _ in 0..3 {
        let mut s = connect().await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow_headers.push(s);
    }
    let mut slow_body = connect().await.unwrap();
    slow_body
        .write_all(b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=")
        .await
        .unwrap();
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(connect().await.unwrap());
    }
    let trickle = tokio::spawn(async move {
        for _ in 0..20 {
            for s in slow_headers.iter_mut() {
                let _ = s.write_all(b"X").await;
            }
            let _ = slow_body.write_all(b"a").await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        (slow_headers, slow_body)
    });

    // A normal client is served meanwhile (idle ones are cut within the
    // timeout, freeing the slots they held).
    let ok = tokio::time::timeout(
        Duration::from_secs(5),
        site.http.get(site.url("/healthz")).send(),
    )
    .await
    .expect("a normal client waited too long")
    .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    for s in idle.iter_mut() {
        assert!(
            closed_within(s, Duration::from_secs(3)).await,
            "an idle connection stayed open"
        );
    }
    let (mut slow_headers, mut slow_body) = trickle.await.unwrap();
    for s in slow_headers.iter_mut() {
        assert!(
            closed_within(s, Duration::from_secs(1)).await,
            "a slow header stayed open"
        );
    }
    assert!(
        closed_within(&mut slow_body, Duration::from_secs(1)).await,
        "a slow body stayed open"
    );

    // Headers past the cap get 431.
    let big = "x".repeat(40 * 1024);
    let r = site
        .http
        .get(site.url("/"))
        .header("X-Big", big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    let ok = site.http.get(site.url("/healthz")).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
}

/// The answer to one raw HTTP/1.1 request (sent as is), read until the
/// server closes or 5 s pass.
async fn raw_request(site: &Site, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = site.url("").trim_start_matches("http://").to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

fn assert_security_headers(what: &str, response: &str) {
    let head = response
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_lowercase();
    for header in [
        "content-security-policy: default-src 'none'",
        "referrer-policy: no-referrer",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "cache-control: no-store",
    ] {
        assert!(head.contains(header), "{what}: no {header:?} in\n{head}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_hyper_writes_itself_carry_the_security_headers() {
    let site =
        Site::with_config(|toml| toml.replace("[web]\n", "[web]\nrequest_timeout_secs = 1\n"))
            .await;
    let malformed = raw_request(&site, b"GET /papers HTTP/1.1\r\nHost x\r\n\r\n").await;
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    assert_security_headers("malformed header", &malformed);
    let bad_line = raw_request(&site, b"G\x01T / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(bad_line.starts_with("HTTP/1.1 400"), "{bad_line}");
    assert_security_headers("malformed request line", &bad_line);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(40 * 1024)
    );
    let too_large = raw_request(&site, huge.as_bytes()).await;
    assert!(too_large.starts_with("HTTP/1.1 431"), "{too_large}");
    assert_security_headers("oversized headers", &too_large);
    // A body that never arrives: the router's 408.
    let slow = raw_request(
        &site,
        b"POST /subscribe HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 50\r\n\r\nemail=",
    )
    .await;
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    assert_security_headers("request timeout", &slow);
    // A normal page is unchanged, and pipelined requests still work.
    let two = raw_request(
        &site,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(two.matches("HTTP/1.1 200 OK").count(), 2, "{two}");
    assert_eq!(two.matches("content-security-policy").count(), 2, "{two}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undecodable_link_tokens_get_the_link_error_page() {
    let site = Site::start().await;
    for path in [
        "/manage/%FF",
        "/manage/%C3%28",
        "/confirm/%FF%FE",
        "/unsubscribe/%E2%82",
        "/feed/%FF",
        "/digest/%FF/2026-06-12",
        "/digest/x/%FF",
    ] {
        let r = site.http.get(site.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert!(
            r.headers().contains_key("content-security-policy"),
            "{path}"
        );
        let body = r.text().await.unwrap();
        assert!(body.contains("<h1>"), "{path}: {body}");
        assert!(
            body.contains("href=\"/\""),
            "{path}: a way to a new link: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_rotating_through_its_ipv6_64_is_limited_as_one() {
    let site = Site::with_config(|toml| {
        toml.replace("[web]\n", "[web]\ntrusted_proxies = [\"127.0.0.1\"]\n")
    })
    .await;
    let post = |client: String| {
        let site = &site;
        async move {
            site.http
                .post(site.url("/subscribe"))
                .header("x-forwarded-for", client)
                .form(&[("email", "not-an-address"), ("topics", "x")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    for i in 0..20u32 {
        let rotated = format!("2001:db8:7:9:{:x}:{:x}::{:x}", i * 7, i * 13 + 1, i + 1);
        assert_eq!(
            post(rotated).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "request {i}"
        );
    }
    assert_eq!(
        post("2001:db8:7:9:ffff:1:2:3".into()).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a 21st address in the same /64"
    );
    assert_eq!(
        post("2001:db8:7:a::1".into()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the next /64 is another client"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subscribe_answer_waits_for_neither_the_store_nor_the_address() {
    let site = Site::start().await;
    site.env
        .ok(&["subscribers", "add", "old@example.org", "--topic", "mine"]);
    // Hold the database's write lock: any store write on the request
    // would wait for it (and time out into an error page).
    let mut lock = site.app.store.pool().acquire().await.unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut answers = Vec::new();
    for email in ["new@example.org", "old@example.org"] {
        let answer = tokio::time::timeout(
            Duration::from_secs(5),
            site.http
                .post(site.url("/subscribe"))
                .form(&[("email", email), ("topics", "diffusion")])
                .send(),
        )
        .await
        .unwrap_or_else(|_| panic!("the answer for {email} waited for the store"))
        .unwrap();
        assert_eq!(answer.status(), StatusCode::OK, "{email}");
        answers.push(answer.text().await.unwrap());
    }
    assert_eq!(answers[0], answers[1]);
    sqlx::query("ROLLBACK").execute(&mut *lock).await.unwrap();
    drop(lock);
    // The work happens once the store is free: the new address is pending
    // with a confirmation, the known one gets its settings link.
    site.app.submissions.settled().await;
    let got = site.mails(2).await;
    let mut to: Vec<String> = got.iter().map(|m| m.rcpt_to[0].clone()).collect();
    to.sort();
    assert_eq!(to, ["new@example.org", "old@example.org"]);
    assert_eq!(
        subscriber_rows(&site).await,
        [
            ("old@example.org".to_string(), "active".to_string()),
            ("new@example.org".to_string(), "pending".to_string()),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_top_papers_box_of_an_existing_address_waits_for_its_confirmation() {
    let site = Site::start().await;
    let top_papers = |email: &'static str| {
        let site = &site;
        async move {
            let on: i64 = sqlx::query_scalar("SELECT top_papers FROM subscribers WHERE email = ?")
                .bind(email)
                .fetch_one(site.app.store.pool())
                .await
                .unwrap();
            on == 1
        }
    };
    // An unsubscribed address asks again, with the box ticked.
    site.env
        .ok(&["subscribers", "add", "ada@example.org", "--topic", "mine"]);
    let ada = site.subscriber("ada@example.org").await;
    site.app
        .store
        .unsubscribe(ada.id, 1, chrono::Utc::now())
        .await
        .unwrap();
    site.post_form(
        "/subscribe",
        &[
            ("email", "ada@example.org"),
            ("topics", "diffusion"),
            ("top_papers", "on"),
        ],
    )
    .await;
    assert!(
        !top_papers("ada@example.org").await,
        "changed before confirming"
    );
    let mail = site.mails(1).await.remove(0);
    let confirm = crate::web::link_in(&mail, &format!("{}/confirm/", crate::web::PUBLIC));
    let confirm = site.local(&confirm)[site.url("").len()..].to_string();
    let (_, shown) = site.get(&confirm).await;
    assert!(
        shown.contains("After them, the top papers of the day"),
        "{shown}"
    );
    let (status, _) = site.post_form(&confirm, &[("revision", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        top_papers("ada@example.org").await,
        "confirmed with the box"
    );

    // A pending address that asked without the box, then with it: the
    // second request carries it, and confirming that one applies it.
    site.post_form(
        "/subscribe",
        &[("email", "bob@example.org"), ("topics", "first")],
    )
    .await;
    let first = site.mails(2).await.remove(1);
    site.post_form(
        "/subscribe",
        &[
            ("email", "bob@example.org"),
            ("topics", "second"),
            ("top_papers", "on"),
        ],
    )
    .await;
    assert!(!top_papers("bob@example.org").await);
    let confirm = crate::web::link_in(&first, &format!("{}/confirm/", crate::web::PUBLIC));
    let confirm = site.local(&confirm)[site.url("").len()..].to_string();
    let (status, _) = site.post_form(&confirm, &[("revision", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(top_papers("bob@example.org").await);
    assert_eq!(
        site.subscriber("bob@example.org").await.topics[0].query,
        "second"
    );
}

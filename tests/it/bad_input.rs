//! Bad input at every entry point: addresses, topic queries, form posts,
//! configuration files. Each gets a clear error naming what was wrong, no
//! panic, and the database is left as it was (row counts and
//! `PRAGMA integrity_check`). Tokens are covered in `web`
//! (`every_broken_link_gets_a_clear_page_with_a_way_to_a_new_one`), markup
//! in paper payloads in `digest`
//! (`markup_in_paper_fields_arrives_escaped_and_script_urls_are_not_linked`).

use std::time::Duration;

use paperboy::domain::SubscriberEmail;
use reqwest::header::CONTENT_TYPE;
use reqwest::StatusCode;

use crate::env::TestEnv;
use crate::web::Site;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Row counts of every table a bad input could touch, plus the integrity check.
async fn db_state(pool: &sqlx::SqlitePool) -> (String, Vec<(String, i64)>) {
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut counts = Vec::new();
    for table in [
        "subscribers",
        "topics",
        "papers",
        "deliveries",
        "sent_papers",
    ] {
        let n: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(pool)
                .await
                .unwrap();
        counts.push((table.to_string(), n));
    }
    (check, counts)
}

/// Which addresses paperboy accepts (see docs/SECURITY.md): plain RFC 5321
/// dot-atom local parts in ASCII, at a domain of two or more labels, which
/// may be internationalised (sent as punycode). Refused: quoted local parts,
/// dots at either end or doubled, non-ASCII local parts (they need SMTPUTF8
/// end to end), address literals, single-label hosts, over-long parts,
/// anything with whitespace or control characters (header injection).
const ACCEPTED: &[&str] = &[
    "ada@example.org",
    "Ada.Lovelace+papers@Example.ORG",
    "o'brien@example.ie",
    "user%relay@example.org",
    "a!#$&'*+/=?^_`{|}~-@example.org",
    "x@sub.domain.example.co.uk",
    "jose@bücher.example",
    "jose@xn--bcher-kva.example",
    "user@例え.テスト",
];

fn refused() -> Vec<(String, &'static str)> {
    let mut cases: Vec<(String, &'static str)> = vec![
        ("".into(), "empty"),
        ("   ".into(), "empty"),
        ("a@b.org\r\nBcc: eve@example.org".into(), "control"),
        ("a@b.org\nBcc: eve@example.org".into(), "control"),
        ("a@b.org\rBcc: eve@example.org".into(), "control"),
        ("a@b.org%0d%0aBcc:eve@example.org".into(), "not a valid"),
        ("ada\0@example.org".into(), "control"),
        ("ada\u{2028}@example.org".into(), "control"),
        ("ada @example.org".into(), "control"),
        ("Ada <ada@example.org>".into(), "control"),
        ("<ada@example.org>".into(), "not a valid"),
        ("ada@example.org,eve@example.org".into(), "not a valid"),
        ("ada@b@example.org".into(), "not a valid"),
        ("no-at-sign.example.org".into(), "'@'"),
        ("@example.org".into(), "not a valid"),
        ("ada@".into(), "domain"),
        (".ada@example.org".into(), "dot"),
        ("ada.@example.org".into(), "dot"),
        ("a..da@example.org".into(), "dot"),
        ("\"ada\"@example.org".into(), "not a valid"),
        ("\"a b\"@example.org".into(), "control"),
        ("josé@example.org".into(), "non-ASCII"),
        ("用户@例子.广告".into(), "non-ASCII"),
        ("ada\u{200b}@example.org".into(), "non-ASCII"),
        ("ada@localhost".into(), "domain"),
        ("ada@[127.0.0.1]".into(), "domain"),
        ("ada@127.0.0.1".into(), "domain"),
        ("ada@example.org.".into(), "domain"),
        ("ada@-example.org".into(), "domain"),
        ("ada@exa_mple.org".into(), "domain"),
        (format!("{}@example.org", "a".repeat(65)), "64"),
        (format!("a@{}.org", "b".repeat(64)), "domain"),
        (format!("a@{}org", "abcdefghi.".repeat(26)), "254"),
        ("a".repeat(100_000), "254"),
    ];
    cases.sort();
    cases
}

#[test]
fn every_address_edge_case_is_accepted_or_refused_with_its_reason() {
    for ok in ACCEPTED {
        let parsed = SubscriberEmail::parse(ok);
        assert!(parsed.is_ok(), "{ok:?} should be accepted: {parsed:?}");
    }
    assert_eq!(
        SubscriberEmail::parse("Ada.Lovelace+papers@Example.ORG")
            .unwrap()
            .as_str(),
        "Ada.Lovelace+papers@example.org"
    );
    for (bad, reason) in refused() {
        match SubscriberEmail::parse(&bad) {
            Ok(e) => panic!("{bad:?} was accepted as {e}"),
            Err(e) => assert!(
                e.to_string().contains(reason),
                "{bad:?}: the error {e:?} does not say {reason:?}"
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_every_bad_address_naming_the_problem_and_stores_nothing() {
    let env = TestEnv::new().await;
    env.ok(&["subscribers", "add", "first@example.org", "--topic", "x"]);
    let app = env.app().await;
    let before = db_state(app.store.pool()).await;
    for (bad, _) in refused() {
        if bad.contains('\0') || bad.len() > 10_000 {
            continue; // not passable as a process argument; covered by the parse test
        }
        let out = env.paperboy(&["subscribers", "add", &bad, "--topic", "diffusion"]);
        assert!(!out.status.success(), "{bad:?} was added");
        let err = stderr(&out);
        assert!(
            err.contains("address") || err.contains("domain") || err.contains("'@'"),
            "{bad:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{bad:?}: {err}");
    }
    assert_eq!(db_state(app.store.pool()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_to_an_internationalised_domain_goes_out_in_punycode() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    env.ok(&[
        "subscribers",
        "add",
        "jose@bücher.example",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    env.ok(&["digest", "--date", crate::env::HF_DAY]);
    let got = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["jose@xn--bcher-kva.example"]);
}

/// An import line with `query` as its only topic.
fn import_line(query: &str) -> String {
    serde_json::json!({"email": "q@example.org", "topics": [query]}).to_string() + "\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_topic_queries_are_refused_with_their_reason_and_the_stack_survives() {
    let env = TestEnv::new().await;
    let app = env.app().await;
    let before = db_state(app.store.pool()).await;
    let cases: Vec<(&str, String, &str)> = vec![
        ("unbalanced", "(llm AND agents".into(), "expected"),
        ("stray closer", "llm)".into(), "column"),
        (
            "10,000-deep nesting",
            format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000)),
            "longer than",
        ),
        (
            "deep but short",
            format!("{}x{}", "(".repeat(400), ")".repeat(400)),
            "nests deeper",
        ),
        ("NOT chain", "NOT ".repeat(200) + "x", "nests deeper"),
        ("1 MB query", "diffusion ".repeat(100_000), "longer than"),
        ("too many terms", "ab ".repeat(65), "more than 64 terms"),
        ("empty field", "ti:".into(), "expected"),
        ("lone quote", "\"open phrase".into(), "close the phrase"),
        ("bad comparison", "upvotes>=lots".into(), "upvotes"),
        (
            "terminal escape",
            "diffusion\u{1b}]0;owned\u{7}".into(),
            "control character",
        ),
    ];
    for (what, query, reason) in cases {
        let file = env.dir.path().join("import.jsonl");
        std::fs::write(&file, import_line(&query)).unwrap();
        let out = env.paperboy(&["subscribers", "import", file.to_str().unwrap()]);
        assert!(!out.status.success(), "{what} was imported");
        let err = stderr(&out);
        assert!(err.contains("line 1"), "{what}: {err}");
        assert!(err.contains(reason), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    assert_eq!(db_state(app.store.pool()).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_pathological_for_the_matcher_still_finish_the_digest() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", crate::env::HF_DAY]);
    // At the limits: 64 two-letter prefixes, a 32-deep alternation, a long
    // phrase of common words, every field with a wildcard.
    let prefixes = (b'a'..=b'z')
        .chain(b'a'..=b'z')
        .chain(b'a'..=b'l')
        .enumerate()
        .map(|(i, c)| format!("{}{}*", c as char, if i < 26 { 'e' } else { 'o' }))
        .collect::<Vec<_>>()
        .join(" OR ");
    let deep = format!("{}an*{}", "(ex* OR ".repeat(31), ")".repeat(31));
    let phrase = format!("\"{}\"", "the of and a to in ".repeat(10).trim());
    let fields = "ti:an* OR abs:an* OR au:an* OR cat:cs* OR all:an* OR upvotes>=0";
    let lines: String = [prefixes, deep, phrase, fields.to_string()]
        .iter()
        .enumerate()
        .map(|(i, q)| {
            serde_json::json!({"email": format!("p{i}@example.org"), "topics": [q]}).to_string()
                + "\n"
        })
        .collect();
    let file = env.dir.path().join("import.jsonl");
    std::fs::write(&file, lines).unwrap();
    env.ok(&["subscribers", "import", file.to_str().unwrap()]);
    env.ok(&["digest", "--date", crate::env::HF_DAY]);
    let got = env.smtp.wait_for(3, Duration::from_secs(20)).await;
    assert!(got.len() >= 3, "the wildcard subscribers got their digests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_form_posts_get_a_clear_client_error_and_change_nothing() {
    let site = Site::start().await;
    site.env
        .ok(&["subscribers", "add", "ada@example.org", "--topic", "x"]);
    let before = db_state(site.app.store.pool()).await;
    let post = |ct: &'static str, body: Vec<u8>| {
        site.http
            .post(site.url("/subscribe"))
            .header(CONTENT_TYPE, ct)
            .body(body)
    };
    let form = "application/x-www-form-urlencoded";
    let cases: Vec<(&str, reqwest::RequestBuilder, &str)> = vec![
        (
            "repeated email",
            post(
                form,
                b"email=a%40example.org&email=b%40example.org&topics=x".to_vec(),
            ),
            "",
        ),
        (
            "missing email",
            post(form, b"topics=diffusion".to_vec()),
            "email",
        ),
        ("empty body", post(form, Vec::new()), ""),
        (
            "bad percent-encoding",
            post(form, b"email=%zz&topics=%".to_vec()),
            "",
        ),
        (
            "not UTF-8",
            post(form, b"email=\xff\xfe&topics=\xc3".to_vec()),
            "",
        ),
        (
            "multipart",
            post("multipart/form-data; boundary=x", b"--x\r\n".to_vec()),
            "",
        ),
        (
            "json",
            post("application/json", br#"{"email":"d@example.org"}"#.to_vec()),
            "",
        ),
        (
            "no content type",
            site.http
                .post(site.url("/subscribe"))
                .body("email=e%40example.org&topics=x"),
            "",
        ),
        // Four times the limit: refused as too large. (Much larger and the
        // server's early 413 can close the connection while the client is
        // still writing, which the client reports as a broken pipe.)
        (
            "oversized",
            post(form, vec![b'a'; 4 * paperboy::web::MAX_BODY_BYTES]),
            "too large",
        ),
    ];
    for (what, request, needle) in cases {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert!(status.is_client_error(), "{what}: {status} {body}");
        assert!(body.to_lowercase().contains(needle), "{what}: {body}");
        assert!(
            !body.contains("panicked") && !body.contains("Failed to deserialize"),
            "{what}: {body}"
        );
    }
    // The manage form: missing and repeated fields on a valid link.
    let ada = site
        .app
        .store
        .subscriber_by_email(&"ada@example.org".parse().unwrap())
        .await
        .unwrap();
    let token = site.app.signer.sign(
        paperboy::links::Purpose::Manage,
        ada.id,
        ada.link_version,
        paperboy::links::Purpose::Manage.default_expiry(chrono::Utc::now()),
    );
    for (what, body) in [
        ("no action", "topics=diffusion".to_string()),
        (
            "repeated action",
            "action=save&action=unsubscribe&topics=x".to_string(),
        ),
        ("unknown action", "action=drop_tables".to_string()),
        ("save without topics", "action=save".to_string()),
    ] {
        let response = site
            .http
            .post(site.url(&format!("/manage/{token}")))
            .header(CONTENT_TYPE, form)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_client_error(), "{what}: {status} {text}");
    }
    assert_eq!(db_state(site.app.store.pool()).await, before);
    assert_eq!(
        site.env.smtp.messages().len(),
        0,
        "no mail for a malformed post"
    );
    let _ = StatusCode::OK;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_configuration_files_stop_startup_naming_the_key() {
    let env = TestEnv::new().await;
    let original = std::fs::read_to_string(&env.config_path).unwrap();
    let key_dir = env.dir.path().join("a-directory");
    std::fs::create_dir(&key_dir).unwrap();
    let short_key = env.dir.path().join("short.key");
    std::fs::write(&short_key, "abc").unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong type",
            original.replace("concurrency = 2", "concurrency = \"two\""),
            "concurrency",
        ),
        (
            "unknown key",
            original.replace(
                "timeout_secs = 5\nretries = 1",
                "timeout_secs = 5\nretries = 1\nsmtp_pasword = \"x\"",
            ),
            "smtp_pasword",
        ),
        (
            "unknown section",
            format!("{original}\n[databse]\nurl = \"x\"\n"),
            "databse",
        ),
        (
            "bad cron",
            format!("{original}\n[schedule]\ndigest = \"61 * * * *\"\n"),
            "schedule.digest",
        ),
        ("not TOML", format!("{original}\n[web\n"), "paperboy.toml"),
        (
            "unreadable key file",
            original.replace(
                &env.dir.path().join("signing.key").display().to_string(),
                &key_dir.display().to_string(),
            ),
            "signing_key_file",
        ),
        (
            "malformed key file",
            original.replace(
                &env.dir.path().join("signing.key").display().to_string(),
                &short_key.display().to_string(),
            ),
            "signing_key_file",
        ),
        (
            "negative number",
            original.replace("concurrency = 2", "concurrency = -1"),
            "concurrency",
        ),
    ];
    for (what, toml, key) in cases {
        assert_ne!(toml, original, "{what}: the case changes the config");
        std::fs::write(&env.config_path, &toml).unwrap();
        let out = env.paperboy(&["subscribers", "list"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{what}: accepted");
        assert!(err.contains(key), "{what}: {err}");
        assert!(!err.contains("panicked"), "{what}: {err}");
    }
    std::fs::write(&env.config_path, &original).unwrap();
    env.ok(&["subscribers", "list"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_paper_fields_is_escaped_in_a_preview_written_to_a_file() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", crate::env::HF_DAY, "--source", "hostile"]);
    env.ok(&[
        "subscribers",
        "add",
        "eve@example.org",
        "--topic",
        "ti:friends",
    ]);
    let out = env.dir.path().join("preview.html");
    env.ok(&[
        "preview",
        "--email",
        "eve@example.org",
        "--date",
        crate::env::HF_DAY,
        "--out",
        out.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&out).unwrap();
    // The matched title word is marked; the ampersand before it escaped.
    assert!(
        html.contains("Diffusion models &amp; <mark>")
            || html.contains("Diffusion models &#38; <mark>"),
        "{html}"
    );
    assert!(html.contains(">friends</mark>"), "{html}");
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "{html}");
    assert!(!lower.contains("<img src=x"), "{html}");
    assert!(!lower.contains("href=\"javascript:"), "{html}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_in_paper_fields_never_reach_the_operators_terminal() {
    let env = TestEnv::new().await;
    let payload = serde_json::json!([{
        "paper": {
            "id": "2606.99902",
            "authors": [{"name": "Eve\u{1b}]0;owned\u{7}"}],
            "publishedAt": "2026-06-11T17:00:00.000Z",
            "submittedOnDailyAt": "2026-06-12T00:00:00.000Z",
            "title": "\u{1b}[31mRed\u{1b}[0m friends\u{7}\u{8}\u{8}\u{8} title",
            "summary": "An abstract\u{1b}[2J that clears the screen.",
            "upvotes": 1
        },
        "title": "\u{1b}[31mRed\u{1b}[0m friends title",
        "summary": "An abstract."
    }])
    .to_string();
    env.http.route(
        "/hostile/daily_papers",
        crate::support::FixtureResponse::body(payload).with_content_type("application/json"),
    );
    env.ok(&["fetch", "--date", crate::env::HF_DAY, "--source", "hostile"]);
    env.ok(&[
        "subscribers",
        "add",
        "eve@example.org",
        "--topic",
        "ti:friends",
    ]);
    let out = env.paperboy(&["digest", "--date", crate::env::HF_DAY, "--dry-run"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("friends"), "the paper is listed: {stdout}");
    assert!(
        !stdout.chars().any(|c| c.is_control() && c != '\n'),
        "a control character reached the terminal: {stdout:?}"
    );
}

/// `paperboy check` and `paperboy migrate` with `database.url` replaced:
/// both must fail, saying `database.url` and the server's reason, and
/// never the password.
fn database_url_refused(env: &TestEnv, url: &str, reason: &str) {
    env.edit_config(&env.db_url, url);
    for args in [&["check"][..], &["migrate"][..]] {
        let out = env.paperboy(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert!(!out.status.success(), "{args:?} accepted {url}: {text}");
        assert!(text.contains("database.url"), "{args:?}: {text}");
        assert!(text.contains(reason), "{args:?}: no {reason:?} in {text}");
        assert!(
            !text.contains("hunter2"),
            "{args:?} shows the password: {text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_url_that_is_unreachable_wrong_or_unauthorised_stops_check_and_start() {
    let env = TestEnv::new().await;
    let port = crate::support::free_port();
    // Nothing listens there.
    database_url_refused(
        &env,
        &format!("postgres://pb:hunter2@127.0.0.1:{port}/paperboy"),
        "refused",
    );
    // A database the server does not have.
    let admin = std::env::var("PAPERBOY_TEST_POSTGRES").expect("the PostgreSQL test cluster");
    let mut missing = url::Url::parse(&admin).unwrap();
    missing.set_path("no_such_database");
    missing.set_password(Some("hunter2")).unwrap();
    let env = TestEnv::new().await;
    database_url_refused(&env, missing.as_str(), "does not exist");
    // A role that may log in but not create anything: the migrations fail.
    let url = crate::support::database::postgres_database().await;
    crate::support::database::execute(
        &url,
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pb_reader') THEN
                 CREATE ROLE pb_reader LOGIN;
             END IF;
         END $$",
        &[],
    )
    .await;
    let mut reader = url::Url::parse(&url).unwrap();
    reader.set_username("pb_reader").unwrap();
    reader.set_password(Some("hunter2")).unwrap();
    let env = TestEnv::new().await;
    database_url_refused(&env, reader.as_str(), "permission denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_from_a_newer_paperboy_is_refused_with_both_versions_on_either_engine() {
    let pg = crate::support::database::migrated_postgres_database().await;
    for env in [
        TestEnv::new().await,
        TestEnv::with_config_on("", Some(pg)).await,
    ] {
        env.ok(&["migrate"]);
        crate::support::database::execute(
            &env.db_url,
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             SELECT 99991231000000, 'from the future', TRUE, checksum, 0
             FROM _sqlx_migrations ORDER BY version LIMIT 1",
            &[],
        )
        .await;
        for args in [&["migrate"][..], &["check"][..]] {
            let out = env.paperboy(args);
            let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
            assert!(!out.status.success(), "{args:?}: {text}");
            assert!(text.contains("99991231000000"), "{args:?}: {text}");
            assert!(text.contains("(up to 2026"), "{args:?}: {text}");
        }
    }
}

//! The command line as operators script it: every bad input gets a clear
//! error naming what was wrong, a non-zero exit, and an intact database.

use std::time::Duration;

use crate::env::{TestEnv, HF_DAY};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_refused_naming_the_argument() {
    let env = TestEnv::new().await;
    let cases: &[(&[&str], &str)] = &[
        (&["digest", "--date", "2026-13-01"], "--date"),
        (&["fetch", "--date", "yesterday"], "--date"),
        (
            &["subscribers", "add", "not-an-address", "--topic", "x"],
            "no '@'",
        ),
        (
            &[
                "subscribers",
                "add",
                "a@example.org",
                "--topic",
                "ti:(diffusion OR flow",
            ],
            "expected ')' at column",
        ),
        (
            &["fetch", "--source", "nope", "--date", HF_DAY],
            "no source named \"nope\"",
        ),
        (
            &["preview", "--email", "nobody@example.org"],
            "no subscriber",
        ),
        (
            &["subscribers", "remove", "nobody@example.org"],
            "no subscriber",
        ),
    ];
    for (args, needle) in cases {
        let out = env.paperboy(args);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(
            stderr(&out).contains(needle),
            "{args:?}: stderr lacks {needle:?}:\n{}",
            stderr(&out)
        );
    }
    // Nothing was written by any of them.
    assert_eq!(env.ok(&["subscribers", "list"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_value_stops_startup_naming_the_key() {
    let env = TestEnv::with_config("\n[schedule]\nfetch = \"at dawn\"\n").await;
    let out = env.paperboy(&["subscribers", "list"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("schedule.fetch"), "{}", stderr(&out));

    // One bad value at a time: with several, which one is named first
    // depends on the order the configuration's keys are read in.
    env.edit_config("fetch = \"at dawn\"", "fetch = \"0 30 1 * * *\"");
    let out = env
        .command(&["subscribers", "list"])
        .env("PAPERBOY__DIGEST__MAX_PAPERS", "many")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(stderr(&out).contains("max_papers"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_a_bad_line_imports_nothing_and_names_the_line() {
    let env = TestEnv::new().await;
    let file = env.dir.path().join("subs.jsonl");
    std::fs::write(
        &file,
        "{\"email\": \"a@example.org\", \"topics\": [\"diffusion\"]}\n\
         {\"email\": \"b@example.org\", \"topics\": [\"(broken\"]}\n\
         {\"email\": \"not an address\", \"topics\": [\"x\"]}\n",
    )
    .unwrap();
    let out = env.paperboy(&["subscribers", "import", file.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains("line 3"), "{err}");
    assert!(err.contains("nothing imported"), "{err}");
    assert_eq!(env.ok(&["subscribers", "list"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_marking_an_unknown_or_malformed_paper_imports_nothing_and_names_the_line_and_id()
{
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let file = env.dir.path().join("subs.jsonl");
    let good = r#"{"email": "a@example.org", "topics": ["agents"], "more": ["2606.13120"]}"#;
    for (second, id, why) in [
        (
            r#"{"email": "b@example.org", "topics": ["llm"], "less": ["2606.13x"]}"#,
            "2606.13x",
            "not a paper id",
        ),
        (
            r#"{"email": "b@example.org", "topics": ["llm"], "more": ["2606.99999"]}"#,
            "2606.99999",
            "not stored",
        ),
        (
            r#"{"email": "b@example.org", "topics": ["llm"], "more": ["2606.13120"], "less": ["2606.13120"]}"#,
            "2606.13120",
            "both",
        ),
    ] {
        std::fs::write(&file, format!("{good}\n{second}\n")).unwrap();
        let out = env.paperboy(&["subscribers", "import", file.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("nothing imported") && err.contains("line 2") && err.contains(id),
            "{err}"
        );
        assert!(err.contains(why), "{err}");
        assert!(!err.contains("line 1"), "{err}");
        assert_eq!(env.ok(&["subscribers", "list"]), "");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_round_trips_subscribers_and_topics() {
    let env = TestEnv::new().await;
    env.ok(&[
        "subscribers",
        "add",
        "a@example.org",
        "--topic",
        "ti:diffusion AND cat:cs.LG",
        "--topic",
        "au:hinton",
    ]);
    env.ok(&[
        "subscribers",
        "add",
        "b@example.org",
        "--topic",
        "\"speculative decoding\"",
    ]);
    let exported = env.ok(&["subscribers", "export"]);
    assert_eq!(exported.lines().count(), 2);
    for line in exported.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v["email"].is_string() && v["topics"].is_array(), "{line}");
    }
    let other = TestEnv::new().await;
    let file = other.dir.path().join("export.jsonl");
    std::fs::write(&file, &exported).unwrap();
    assert!(other
        .ok(&["subscribers", "import", file.to_str().unwrap()])
        .contains("imported 2"));
    assert_eq!(other.ok(&["subscribers", "export"]), exported);
    // Importing again updates, never duplicates.
    other.ok(&["subscribers", "import", file.to_str().unwrap()]);
    assert_eq!(other.ok(&["subscribers", "list"]).lines().count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_prints_who_gets_what_and_sends_and_records_nothing() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "\"speculative decoding\"",
    ]);
    let out = env.ok(&["digest", "--date", HF_DAY, "--dry-run"]);
    assert!(out.contains("ada@example.org: 1 papers"), "{out}");
    assert!(out.contains("2606.12243"), "{out}");
    assert!(out.contains("nothing sent"), "{out}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(env.smtp.messages().is_empty());
    // The real run afterwards still sends it: the dry run reserved nothing.
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(env.smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preview_writes_the_html_digest_without_sending() {
    let env = TestEnv::new().await;
    env.ok(&["fetch", "--date", HF_DAY]);
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:agent*",
    ]);
    let file = env.dir.path().join("preview.html");
    env.ok(&[
        "preview",
        "--email",
        "ada@example.org",
        "--date",
        HF_DAY,
        "--out",
        file.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(
        html.contains("EvoArena"),
        "the most upvoted agent paper is in the preview"
    );
    let text = env.ok(&["preview", "--email", "ada@example.org", "--date", HF_DAY]);
    assert!(text.starts_with("Subject: "), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(env.smtp.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_dead_smtp_server_by_name() {
    let env = TestEnv::new().await;
    assert!(env.ok(&["check"]).contains("mail transport: ok"));
    let port = crate::support::free_port();
    env.edit_config(&env.smtp.url(), &format!("smtp://127.0.0.1:{port}"));
    let out = env.paperboy(&["check"]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("mail transport: FAILED"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_is_idempotent() {
    let env = TestEnv::new().await;
    env.ok(&["migrate"]);
    assert!(env.ok(&["migrate"]).contains("up to date"));
}

//! Sending controls end to end: a per-recipient-domain budget caps what one
//! run sends to that domain, defers (never drops) the rest, counts across
//! runs, and a later run with budget sends what was deferred.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::env::{TestEnv, HF_DAY};

const LIMITS: &str = r#"
[[digest.domain_limits]]
domain = "gmail.com"
per_minute = 3
"#;

fn recipients(env: &TestEnv) -> Vec<String> {
    let mut r: Vec<String> = env
        .smtp
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    r.sort();
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_to_one_domain_sends_its_budget_and_a_later_run_sends_the_deferred_rest() {
    let env = TestEnv::with_config(LIMITS).await;
    env.ok(&["fetch", "--date", HF_DAY]);
    let mut lines = String::new();
    for i in 0..8 {
        lines.push_str(&format!(
            "{{\"email\": \"reader{i}@gmail.com\", \"topics\": [\"ti:agent*\"]}}\n"
        ));
    }
    for i in 0..2 {
        lines.push_str(&format!(
            "{{\"email\": \"other{i}@example.org\", \"topics\": [\"ti:agent*\"]}}\n"
        ));
    }
    let import = env.dir.path().join("subs.jsonl");
    std::fs::write(&import, lines).unwrap();
    env.ok(&["subscribers", "import", import.to_str().unwrap()]);

    // Holding digests for a domain's budget is not a failure: exit 0.
    let out = env.ok(&["digest", "--date", HF_DAY]);
    assert!(out.contains("5 sent, 5 deferred, 0 failed"), "{out}");
    assert!(
        out.contains("5 of the deferred digests wait for their recipient domain's sending budget"),
        "{out}"
    );
    env.smtp.wait_for(5, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = recipients(&env);
    let gmail = got.iter().filter(|r| r.ends_with("@gmail.com")).count();
    assert_eq!(gmail, 3, "at most the budget to gmail.com: {got:?}");
    assert_eq!(got.len(), 5, "other domains are not held back: {got:?}");

    // Within the same minute a second run has no budget left either: the
    // budget counts what earlier runs sent.
    let out = env.ok(&["digest", "--date", HF_DAY]);
    assert!(out.contains("0 sent, 5 deferred"), "{out}");
    assert_eq!(recipients(&env).len(), 5);

    // With budget again, the deferred digests go out, each once.
    env.edit_config("per_minute = 3", "per_minute = 100");
    let third = env.ok(&["digest", "--date", HF_DAY]);
    assert!(third.contains("5 sent, 0 deferred"), "{third}");
    env.smtp.wait_for(10, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = recipients(&env);
    let unique: BTreeSet<&String> = all.iter().collect();
    assert_eq!(all.len(), 10, "{all:?}");
    assert_eq!(unique.len(), 10, "nobody got two: {all:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_domain_limit_that_is_not_a_bare_domain_is_refused_by_name() {
    let env = TestEnv::with_config(
        "\n[[digest.domain_limits]]\ndomain = \"someone@gmail.com\"\nper_hour = 10\n",
    )
    .await;
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("digest.domain_limits"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

//! End to end: recorded papers fetched over HTTP, digests sent over SMTP to
//! a real server on loopback, and what arrived read back and checked.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::Duration;

use chrono::Utc;
use paperboy::links::{LinkSigner, Purpose, SigningKeys};
use paperboy::store::DeliveryStatus;

use crate::env::{hf_day, TestEnv, HF_DAY};
use crate::support::{self, html_part, text_part};

async fn fetched_env() -> TestEnv {
    fetched(TestEnv::new().await)
}

fn fetched(env: TestEnv) -> TestEnv {
    env.ok(&["fetch", "--date", HF_DAY]);
    env
}

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

/// The arXiv ids a received digest links to, in order.
fn linked_ids(html: &str) -> BTreeSet<String> {
    support::links(html)
        .into_iter()
        .filter_map(|l| l.strip_prefix("https://arxiv.org/abs/").map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_arrives_as_multipart_with_list_headers_and_working_signed_links() {
    let env = fetched_env().await;
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:\"sparse attention\"",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let got = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpt_to, vec!["ada@example.org"]);
    let msg = support::parse(&got[0]);
    let ct = support::header_raw(&msg, "Content-Type").unwrap();
    assert!(ct.contains("multipart/alternative"), "{ct}");
    for h in ["Message-ID", "Date", "List-Id", "Subject"] {
        assert!(support::header_raw(&msg, h).is_some(), "missing {h}");
    }
    assert_eq!(
        support::header_raw(&msg, "Auto-Submitted").unwrap().trim(),
        "auto-generated"
    );
    assert_eq!(
        support::header_raw(&msg, "List-Unsubscribe-Post")
            .unwrap()
            .trim(),
        "List-Unsubscribe=One-Click"
    );
    let lu = support::header_raw(&msg, "List-Unsubscribe").unwrap();
    let lu = lu.trim().trim_start_matches('<').trim_end_matches('>');
    assert!(
        lu.starts_with("https://papers.example.org/unsubscribe/"),
        "{lu}"
    );

    // The link verifies with the operator's key, for this subscriber, as an unsubscribe link only.
    let keys = SigningKeys::load(env.dir.path().join("signing.key")).unwrap();
    let signer = LinkSigner::new(keys);
    let token = lu.rsplit('/').next().unwrap();
    let claims = signer
        .verify(token, Purpose::Unsubscribe, Utc::now())
        .unwrap();
    let app = env.app().await;
    let sub = app
        .store
        .subscriber_by_email(&"ada@example.org".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(claims.subscriber_id, sub.id);
    assert!(signer.verify(token, Purpose::Manage, Utc::now()).is_err());

    let html = html_part(&msg).unwrap();
    let text = text_part(&msg).unwrap();
    assert!(html.contains(lu), "the body repeats the unsubscribe link");
    assert!(
        text.contains(lu),
        "the text part spells the unsubscribe link out"
    );
    assert!(support::links(&html)
        .iter()
        .any(|l| l.starts_with("https://papers.example.org/manage/")));
    assert_eq!(
        linked_ids(&html),
        BTreeSet::from(["2606.13392".to_string()])
    );
    assert!(text.contains("MiniMax Sparse Attention"));

    // The text part's footer follows the signature separator (with its
    // space), each link alone on its line.
    let text = text.replace("\r\n", "\n");
    let lines: Vec<&str> = text.lines().collect();
    let sep = lines
        .iter()
        .position(|l| *l == "-- ")
        .unwrap_or_else(|| panic!("no signature separator in\n{text}"));
    assert!(lines[sep + 1..].contains(&lu), "{text}");
    // A topic named by its query shows it once, as the heading.
    assert!(
        text.contains("== ti:\"sparse attention\" ==\n\n1. "),
        "{text}"
    );
    // The title's matched words are marked as the abstract's are.
    let mark = "<mark>";
    assert!(
        html.contains(&format!("{mark}Sparse")) && html.contains("Attention</mark>"),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markup_in_paper_fields_arrives_escaped_and_script_urls_are_not_linked() {
    let env = fetched_env().await;
    env.ok(&[
        "subscribers",
        "add",
        "eve@example.org",
        "--topic",
        "ti:friends",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let got = env.smtp.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let msg = support::parse(&got[0]);
    let html = html_part(&msg).unwrap();
    let text = text_part(&msg).unwrap();
    assert!(
        !html.to_lowercase().contains("<script"),
        "raw script tag in HTML:\n{html}"
    );
    assert!(!html.contains("<img src=x"), "raw img tag in HTML");
    assert!(
        ["&lt;script&gt;alert(", "&#60;script&#62;alert("]
            .iter()
            .any(|e| html.contains(e)),
        "escaped title missing:\n{html}"
    );
    let links = support::links(&html);
    assert!(
        links
            .iter()
            .all(|l| l.starts_with("https://") || l.starts_with("http://")),
        "only web links: {links:?}"
    );
    assert!(
        text.contains("<script>alert('title')</script> Diffusion models & friends"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscriber_gets_exactly_the_papers_their_queries_match() {
    let env = fetched_env().await;
    let table: &[(&str, &[&str], &[&str])] = &[
        (
            "agents@example.org",
            &["ti:agent*"],
            &[
                "2606.07867",
                "2606.09290",
                "2606.10423",
                "2606.13120",
                "2606.13174",
                "2606.13572",
                "2606.13594",
                "2606.13681",
            ],
        ),
        (
            "phrase@example.org",
            &["\"speculative decoding\""],
            &["2606.12243"],
        ),
        (
            "popular@example.org",
            &["upvotes>=100"],
            &["2606.13392", "2606.13681"],
        ),
        (
            "rl@example.org",
            &["\"reinforcement learning\""],
            &["2606.08039", "2606.08063", "2606.09304", "2606.13106"],
        ),
        (
            "notitle@example.org",
            &["diffusion ANDNOT ti:diffusion"],
            &["2606.06113", "2606.12575"],
        ),
        (
            "two@example.org",
            &["ti:\"sparse attention\"", "robot*"],
            &["2606.13392", "2606.08039", "2606.08103"],
        ),
        (
            "author@example.org",
            &["au:kocielnik AND NOT ti:psychometric"],
            &["2606.00467"],
        ),
        (
            "nothing@example.org",
            &["ti:\"quantum chromodynamics\""],
            &[],
        ),
    ];
    for (email, topics, _) in table {
        let mut args = vec!["subscribers", "add", email];
        for t in *topics {
            args.push("--topic");
            args.push(t);
        }
        env.ok(&args);
    }
    env.ok(&["digest", "--date", HF_DAY]);
    let expected_mails = table.iter().filter(|t| !t.2.is_empty()).count();
    let got = env
        .smtp
        .wait_for(expected_mails, Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        env.smtp.messages().len(),
        expected_mails,
        "one mail per subscriber with matches, none for the rest"
    );
    let mut by_rcpt: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in &got {
        let html = html_part(&support::parse(m)).unwrap();
        by_rcpt.insert(m.rcpt_to[0].clone(), linked_ids(&html));
    }
    for (email, topics, want) in table {
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        let have = by_rcpt.remove(*email).unwrap_or_default();
        assert_eq!(have, want, "{email} with {topics:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_sends_nothing_and_a_later_day_never_repeats_a_paper() {
    second_run_and_later_day(fetched_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_second_run_sends_nothing_and_a_later_day_never_repeats_a_paper() {
    second_run_and_later_day(fetched(TestEnv::on_postgres().await)).await;
}

async fn second_run_and_later_day(env: TestEnv) {
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:agent*",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    assert_eq!(env.smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    let second = env.ok(&["digest", "--date", HF_DAY]);
    assert!(second.contains("0 sent"), "{second}");
    // The next day still covers the 12th (lookback), but every paper was sent already.
    let next = env.ok(&["digest", "--date", "2026-06-13"]);
    assert!(next.contains("0 sent"), "{next}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(env.smtp.messages().len(), 1);
}

/// A page another daemon stakes (it is planning it) is passed over on the
/// walk and looked at again after it: a holder that never reserves the
/// page loses none of its digests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_page_staked_elsewhere_and_never_reserved_is_sent_after_the_walk() {
    let env = fetched(TestEnv::on_postgres().await);
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:agent*",
    ]);
    let app = env.app().await;
    let page = app
        .store
        .subscribers_page(
            Some(paperboy::domain::SubscriberStatus::Active),
            Default::default(),
            1,
        )
        .await
        .unwrap();
    let stake = app.store.stake_page(hf_day(), page[0].id).await.unwrap();
    assert!(stake.is_some(), "the page could not be staked");
    let out = env.ok(&["digest", "--date", HF_DAY]);
    assert!(out.contains("1 sent"), "{out}");
    assert_eq!(env.smtp.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    drop(stake);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_half_way_and_restarted_sends_each_digest_exactly_once() {
    killed_and_restarted(fetched_env().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_run_killed_half_way_and_restarted_sends_each_digest_exactly_once() {
    killed_and_restarted(fetched(TestEnv::on_postgres().await)).await;
}

async fn killed_and_restarted(env: TestEnv) {
    let n = 12;
    let lines: String = (0..n)
        .map(|i| format!("{{\"email\": \"reader{i}@example.org\", \"topics\": [\"ti:agent*\"]}}\n"))
        .collect();
    let import = env.dir.path().join("subs.jsonl");
    std::fs::write(&import, lines).unwrap();
    env.ok(&["subscribers", "import", import.to_str().unwrap()]);

    // From the 5th message on the server never answers the end of DATA, so the
    // run is stuck mid-send when it is killed.
    env.smtp.faults().stall_from(5);
    let mut child = env
        .command(&["digest", "--date", HF_DAY])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let before = env.smtp.wait_for(4, Duration::from_secs(20)).await;
    assert_eq!(before.len(), 4);
    // Kill once the four accepted digests are recorded as sent: a kill
    // between the server's 250 and that record is the one window where a
    // resend (same Message-ID) cannot be avoided, tested elsewhere.
    let app = env.app().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let counts = app.store.delivery_counts(hf_day()).await.unwrap();
        let sent = counts
            .iter()
            .find(|(s, _)| *s == DeliveryStatus::Sent)
            .map_or(0, |c| c.1);
        if sent >= 4 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{counts:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        env.smtp.messages().len(),
        4,
        "stalled messages are not delivered"
    );

    env.smtp.faults().clear();
    env.ok(&["digest", "--date", HF_DAY]);
    let all = env.smtp.wait_for(n, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rcpts = recipients(&env);
    let unique: BTreeSet<&String> = rcpts.iter().collect();
    assert_eq!(unique.len(), n, "every subscriber got a digest");
    assert_eq!(rcpts.len(), n, "nobody got two: {rcpts:?}");
    assert_eq!(all.len(), n);
    // The resent digests keep their Message-IDs: one per subscriber and date.
    let ids: BTreeSet<String> = all
        .iter()
        .map(|m| support::header_raw(&support::parse(m), "Message-ID").unwrap())
        .collect();
    assert_eq!(ids.len(), n);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_rejection_is_recorded_with_the_reply_and_the_rest_of_the_run_goes_on() {
    let env = fetched_env().await;
    env.ok(&[
        "subscribers",
        "add",
        "gone@example.org",
        "--topic",
        "ti:agent*",
    ]);
    env.ok(&[
        "subscribers",
        "add",
        "ok@example.org",
        "--topic",
        "ti:agent*",
    ]);
    env.smtp
        .faults()
        .rcpt("gone@example.org", 550, "5.1.1 mailbox unavailable");
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(
        !out.status.success(),
        "a failed digest makes the run exit non-zero"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 sent") && stdout.contains("1 failed"),
        "{stdout}"
    );
    assert_eq!(recipients(&env), vec!["ok@example.org"]);
    let app = env.app().await;
    let gone = app
        .store
        .subscriber_by_email(&"gone@example.org".parse().unwrap())
        .await
        .unwrap();
    let d = app
        .store
        .delivery_for(gone.id, hf_day())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Failed);
    assert!(d
        .last_error
        .unwrap_or_default()
        .contains("mailbox unavailable"));
    // Failed digests are not retried by later runs.
    env.smtp.faults().clear();
    env.ok(&["digest", "--date", HF_DAY]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recipients(&env), vec!["ok@example.org"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_smtp_server_that_is_down_defers_the_digest_and_a_later_retry_delivers_it() {
    let port = support::free_port();
    let env = TestEnv::new().await;
    env.edit_config(&env.smtp.url(), &format!("smtp://127.0.0.1:{port}"));
    env.ok(&["fetch", "--date", HF_DAY]);
    env.ok(&[
        "subscribers",
        "add",
        "ada@example.org",
        "--topic",
        "ti:agent*",
    ]);
    let out = env.paperboy(&["digest", "--date", HF_DAY]);
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 deferred"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let app = env.app().await;
    let sub = app
        .store
        .subscriber_by_email(&"ada@example.org".parse().unwrap())
        .await
        .unwrap();
    let d = app
        .store
        .delivery_for(sub.id, hf_day())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(d.status, DeliveryStatus::Deferred);
    assert!(d.next_attempt_at.is_some());

    let server = support::SmtpServer::start_on(port).await.unwrap();
    let later = Utc::now() + chrono::Duration::hours(2);
    let report = app
        .digest_run()
        .resume_unfinished(hf_day(), later)
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    let got = server.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    let msg = support::parse(&got[0]);
    assert_eq!(
        support::header_raw(&msg, "Message-ID").unwrap().trim(),
        d.message_id
    );
    assert_eq!(
        app.store
            .delivery_for(sub.id, hf_day())
            .await
            .unwrap()
            .unwrap()
            .status,
        DeliveryStatus::Sent
    );
}

/// A Hugging Face day of `copies` × the recorded 30 papers, each copy with
/// its own ids and a numbered title: a day far busier than any real one.
fn busy_day(copies: usize) -> Vec<u8> {
    let day: Vec<serde_json::Value> = serde_json::from_slice(
        &std::fs::read(support::fixture_path(
            "hf_daily_papers_2026-06-12_full_30items.json",
        ))
        .unwrap(),
    )
    .unwrap();
    let mut out = Vec::new();
    for copy in 0..copies {
        for (i, item) in day.iter().enumerate() {
            let mut item = item.clone();
            let paper = &mut item["paper"];
            paper["id"] = format!("2606.{:05}", 10_000 + copy * 100 + i).into();
            let title = format!("{} ({copy})", paper["title"].as_str().unwrap());
            paper["title"] = title.clone().into();
            if item.get("title").is_some() {
                item["title"] = title.into();
            }
            out.push(item);
        }
    }
    serde_json::to_vec(&out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broadest_digest_at_a_thousand_papers_stays_under_the_html_budget_with_its_footer_last()
{
    let env = TestEnv::with_config(
        "\n[[sources]]\nname = \"busy\"\nkind = \"hf_daily_papers\"\nretries = 0\ntimeout_secs = 10\n",
    )
    .await;
    // One page holds the whole day (limit above its size).
    let url = format!("{}?limit=5000", env.http.url("/busy/daily_papers"));
    env.edit_config(
        "name = \"busy\"\n",
        &format!("name = \"busy\"\nurl = \"{url}\"\n"),
    );
    env.http.route(
        "/busy/daily_papers",
        support::FixtureResponse::body(busy_day(40)).with_content_type("application/json"),
    );
    env.edit_config("[digest]\n", "[digest]\nmax_papers = 1000\n");
    env.ok(&["fetch", "--date", HF_DAY]);
    // Topics that match every paper, and the top papers after them.
    env.ok(&[
        "subscribers",
        "add",
        "all@example.org",
        "--topic",
        "upvotes>=0",
        "--topic",
        "model* OR learn* OR language OR data OR large OR via OR with OR the",
    ]);
    env.ok(&["digest", "--date", HF_DAY]);
    let got = env.smtp.wait_for(1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1);
    let msg = support::parse(&got[0]);
    let html = html_part(&msg).unwrap();
    let text = text_part(&msg).unwrap();
    // Its size as sent, CRLF line ends included.
    let html = html.replace("\r\n", "\n");
    let sent = html.len() + html.matches('\n').count();
    assert!(sent <= 90_000, "{sent} bytes of HTML");
    // The subject counts the 1,000 papers planned; the mail shows what fits.
    let subject = support::header(&msg, "Subject").unwrap();
    let total: usize = subject.split(' ').next().unwrap().parse().unwrap();
    assert!(total >= 1000, "{subject}");
    let shown = linked_ids(&html).len();
    assert!(shown > 20 && shown < 200, "{shown} papers shown");
    // The rest are counted, in both parts, pointing at the whole digest.
    let more = total - shown;
    let line = format!("and {more} more matching papers not shown here");
    assert!(html.contains(&line), "no {line:?} in the HTML");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(flat.contains(&line), "no {line:?} in the text");
    let view = support::links(&html)
        .into_iter()
        .find(|l| l.contains("/digest/"))
        .expect("a view-in-browser link");
    assert!(
        html.contains(&format!("{line}. <a href=\"{view}\"")),
        "{html}"
    );
    // The footer survives whole, last: manage and unsubscribe, then the end.
    let unsubscribe = support::links(&html)
        .into_iter()
        .rfind(|l| l.contains("/unsubscribe/"))
        .expect("an unsubscribe link");
    let tail = &html[html.rfind("Manage your topics").expect("the footer")..];
    assert!(tail.contains(&unsubscribe), "{tail}");
    assert!(tail.contains(">Unsubscribe</a>"), "{tail}");
    assert!(tail.trim_end().ends_with("</html>"), "{tail}");
}

//! Fuzzing the parsers that read what the outside world sends: the topic
//! query language, every payload parser (Hugging Face JSON, arXiv API
//! Atom, arXiv announcement RSS/Atom, generic RSS/Atom/RDF), and the
//! readers of returned mail and provider webhooks (`paperboy::inbound`).
//!
//! Two halves: the kept corpus in `tests/fuzz_corpus/` (plus every fixture)
//! is replayed on every run; property-based mutation of those inputs runs
//! `PAPERBOY_FUZZ_CASES` cases (a few in the suite, many under
//! `scripts/fuzz`). A mutation that panics a parser is shrunk and written
//! back to the corpus, so it stays a regression test.
//!
//! Properties: no parser panics on any byte string; parsing is
//! deterministic; no error or skipped-item message carries a raw control
//! character; an accepted query prints to a canonical text that parses
//! back to the same query.

use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use chrono::{TimeZone, Utc};
use paperboy::domain::AnnounceType;
use paperboy::inbound::webhook::{mailgun, postmark, sendgrid, ses};
use paperboy::inbound::{classify, Context};
use paperboy::links::{LinkSigner, SigningKeys};
use paperboy::matching::Query;
use paperboy::sources::{arxiv_api, arxiv_rss, biorxiv, feed, hf_daily};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use sha2::{Digest, Sha256};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus")
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// Every payload kept for replay: the corpus and the recorded fixtures.
fn payload_seeds() -> Vec<(String, Vec<u8>)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths = files_in(&corpus_dir().join("payload"));
    paths.extend(files_in(&fixtures));
    paths.extend(files_in(&fixtures.join("synthetic")));
    paths.extend(files_in(&fixtures.join("feeds/paperboy")));
    paths.extend(feed_corpus(&fixtures.join("feeds/feedparser")));
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Every file under `dir`, recursively.
fn feed_corpus(dir: &Path) -> Vec<PathBuf> {
    let mut out = files_in(dir);
    if let Ok(entries) = std::fs::read_dir(dir) {
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            out.extend(feed_corpus(&d));
        }
    }
    out.retain(|p| {
        p.extension()
            .is_some_and(|e| e == "xml" || e == "json" || e == "bin")
    });
    out
}

/// A message is printable: no raw control character but newline and tab.
fn printable(name: &str, message: &str) -> Result<(), String> {
    match message
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        Some(c) => Err(format!(
            "{name} message has a raw control character {c:?}: {message:?}"
        )),
        None => Ok(()),
    }
}

/// Every message kept for the classifier: the bounce corpora and the
/// messages the mail fuzzer found.
fn bounce_seeds() -> Vec<(String, Vec<u8>)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bounces");
    let mut paths = files_in(&corpus_dir().join("bounce"));
    for set in ["sisimai", "flufl", "rfc"] {
        paths.extend(files_in(&fixtures.join(set)));
    }
    paths
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "eml" || e == "txt" || e == "bin")
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// Messages built to be as hard as mail gets: deep MIME nesting, bounces
/// quoting bounces, huge lines, thousands of recipients and addresses. Each
/// must be read without a panic (and, run in the suite, in moments).
fn hostile_messages() -> Vec<(String, Vec<u8>)> {
    let head = "From: MAILER-DAEMON@mx.example.net\r\nTo: bounces@papers.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n";
    let mut out = Vec::new();
    let mut nested = String::from(head);
    for depth in 0..300 {
        nested.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{depth}\"\r\n\r\n--b{depth}\r\n"
        ));
    }
    nested.push_str("Content-Type: text/plain\r\n\r\nuser unknown a@example.com\r\n");
    out.push(("300 nested multiparts".to_string(), nested.into_bytes()));

    let mut quoted = String::new();
    for _ in 0..60 {
        quoted = format!(
            "{head}Content-Type: multipart/report; report-type=delivery-status; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: message/rfc822\r\n\r\n{quoted}\r\n--q--\r\n"
        );
    }
    out.push((
        "60 bounces each quoting the next".to_string(),
        quoted.into_bytes(),
    ));

    let addresses: String = (0..40_000).map(|i| format!("u{i}@example.com ")).collect();
    out.push((
        "40,000 addresses on one line".to_string(),
        format!("{head}\r\nThe following addresses had permanent fatal errors:\r\n{addresses}\r\n")
            .into_bytes(),
    ));
    let lines: String = (0..40_000)
        .map(|i| format!("<u{i}@example.com>: 550 no\r\n"))
        .collect();
    out.push((
        "40,000 failed recipients".to_string(),
        format!("{head}\r\nThis is a permanent error.\r\n{lines}").into_bytes(),
    ));
    let groups: String = (0..20_000)
        .map(|i| format!("Final-Recipient: rfc822; u{i}@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"))
        .collect();
    out.push((
        "20,000 DSN recipients".to_string(),
        format!("{head}Content-Type: multipart/report; report-type=delivery-status; boundary=\"d\"\r\n\r\n--d\r\nContent-Type: message/delivery-status\r\n\r\n{groups}--d--\r\n").into_bytes(),
    ));
    out.push((
        "a 3 MB line of address characters".to_string(),
        format!(
            "{head}\r\n{}@{}",
            "a.".repeat(1_000_000),
            "b.".repeat(500_000)
        )
        .into_bytes(),
    ));
    let folded: String = (0..50_000).map(|_| " x\r\n").collect();
    out.push((
        "50,000 folded header lines".to_string(),
        format!("X-Long: start\r\n{folded}{head}\r\nbody\r\n").into_bytes(),
    ));
    out.push((
        "a base64 token alphabet megabyte".to_string(),
        format!(
            "{head}Delivered-To: {}\r\n\r\nuser unknown\r\n",
            "abcdefgh234567".repeat(70_000)
        )
        .into_bytes(),
    ));
    out
}

fn query_seeds() -> Vec<String> {
    files_in(&corpus_dir().join("query"))
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

const ALL_TYPES: &[AnnounceType] = &[
    AnnounceType::New,
    AnnounceType::Cross,
    AnnounceType::Replace,
    AnnounceType::ReplaceCross,
];

/// Runs `body` through every payload parser twice; fails if a result
/// differs between the two (a panic fails the caller).
fn every_parser(body: &[u8]) -> Result<(), String> {
    let day = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
    let twice = |name: &str, run: &dyn Fn() -> String| {
        let (a, b) = (run(), run());
        if a == b {
            Ok(())
        } else {
            Err(format!("{name} is not deterministic"))
        }
    };
    twice("hf_daily", &|| format!("{:?}", hf_daily::parse(body)))?;
    twice("arxiv_api", &|| {
        format!("{:?}", arxiv_api::parse_page(body, day))
    })?;
    twice("arxiv_api errors", &|| {
        format!("{:?}", arxiv_api::error_message(body))
    })?;
    twice("arxiv_rss", &|| {
        format!("{:?}", arxiv_rss::parse_items(body, ALL_TYPES))
    })?;
    twice("feed", &|| format!("{:?}", feed::parse_items(body, day)))?;
    twice("biorxiv", &|| {
        format!(
            "{:?}",
            biorxiv::parse_page(body, biorxiv::Server::Biorxiv, day, day)
        )
    })?;
    // What reaches an operator (errors, skipped items, unreadable dates)
    // never carries a raw control character.
    match feed::parse_items(body, day) {
        Err(e) => printable("feed error", &e.to_string())?,
        Ok(parsed) => {
            for item in parsed.skipped.iter().chain(&parsed.unreadable_dates) {
                printable("feed item", &item.to_string())?;
            }
        }
    }
    for e in [
        arxiv_api::parse_page(body, day).err(),
        arxiv_rss::parse_items(body, ALL_TYPES).err(),
        biorxiv::parse_page(body, biorxiv::Server::Biorxiv, day, day).err(),
    ]
    .into_iter()
    .flatten()
    {
        printable("parser error", &e.to_string())?;
    }
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = feed::html_to_text(text);
        let _ = feed::parse_feed_date(text);
        let _ = paperboy::sources::dates::parse(text);
    }
    inbound_readers(body)
}

/// Runs `body` through the bounce classifier and every webhook reader twice;
/// fails if a result differs between the two (a panic fails the caller).
fn inbound_readers(body: &[u8]) -> Result<(), String> {
    let signer = LinkSigner::new(SigningKeys::from_secrets([vec![5u8; 32]]).unwrap());
    let ctx = Context {
        signer: Some(&signer),
        envelope_recipient: Some("bounces+aaaaaaaaaaaaaaaaaaaaaaaaa@papers.example.org"),
        now: Utc.with_ymd_and_hms(2026, 6, 12, 8, 0, 0).unwrap(),
    };
    let headers = http::HeaderMap::new();
    let window = chrono::Duration::minutes(5);
    let twice = |name: &str, run: &dyn Fn() -> String| {
        let (a, b) = (run(), run());
        if a == b {
            Ok(())
        } else {
            Err(format!("{name} is not deterministic"))
        }
    };
    twice("classify", &|| {
        let report = classify(body, &ctx);
        format!("{report:?} {}", report.summary())
    })?;
    twice("sendgrid", &|| format!("{:?}", sendgrid::read(body, &ctx)))?;
    twice("postmark", &|| format!("{:?}", postmark::read(body, &ctx)))?;
    twice("mailgun", &|| {
        format!("{:?}", mailgun::verify_and_read(body, b"key", window, &ctx))
    })?;
    twice("sns", &|| match ses::parse(&headers, body) {
        Ok(m) => format!(
            "{:?} {:?}",
            m.certificate_url(),
            m.verify(
                b"-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
                &[]
            )
            .map(|v| v.message_id().to_string())
        ),
        Err(e) => e.to_string(),
    })?;
    if let Ok(text) = std::str::from_utf8(body) {
        twice("ses", &|| {
            format!("{:?}", ses::read_notification(text, &ctx))
        })?;
    }
    Ok(())
}

/// An accepted query's canonical text parses back to the same query.
fn query_round_trips(text: &str) -> Result<(), String> {
    if let Ok(query) = Query::parse(text) {
        let canonical = query.to_string();
        if canonical.chars().count() <= paperboy::matching::MAX_QUERY_CHARS {
            match Query::parse(&canonical) {
                Ok(again) if again == query => {}
                other => {
                    return Err(format!(
                        "{text:?} printed as {canonical:?}, read back as {other:?}"
                    ))
                }
            }
        }
    }
    Ok(())
}

#[test]
fn the_kept_corpus_and_every_fixture_replay_through_every_parser() {
    let seeds = payload_seeds();
    assert!(seeds.len() >= 30, "the corpus is missing: {}", seeds.len());
    for (name, body) in &seeds {
        if let Err(e) = every_parser(body) {
            panic!("{name}: {e}");
        }
    }
    let queries = query_seeds();
    assert!(queries.len() >= 40);
    for q in &queries {
        query_round_trips(q).unwrap();
    }
}

#[test]
fn the_bounce_corpora_and_hostile_mail_replay_through_every_reader() {
    let seeds = bounce_seeds();
    assert!(
        seeds.len() >= 700,
        "the bounce corpus is missing: {}",
        seeds.len()
    );
    for (name, body) in seeds.iter().chain(hostile_messages().iter()) {
        if let Err(e) = inbound_readers(body) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn hostile_payloads_in_the_corpus_are_refused_or_read_without_their_markup_running() {
    let corpus = corpus_dir().join("payload");
    let read = |name: &str| std::fs::read(corpus.join(name)).unwrap();
    assert!(hf_daily::parse(&read("deep_json.json")).is_err());
    assert!(feed::parse_items(&read("deep_xml.xml"), NaiveDate::MIN).is_err());
    // No entity is expanded from a DTD: no exponential blow-up, no file read.
    for name in ["billion_laughs.xml", "external_entity.xml"] {
        let text = format!("{:?}", feed::parse_items(&read(name), NaiveDate::MIN));
        assert!(
            !text.contains("lollollol") && !text.contains("root:"),
            "{name}: {text}"
        );
    }
}

fn cases() -> u32 {
    std::env::var("PAPERBOY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// Runs `strategy` through `check`; a failing (or panicking) input is shrunk,
/// saved with `save` and reported.
fn fuzz<S: Strategy>(
    strategy: S,
    check: impl Fn(&S::Value) -> Result<(), String>,
    save: impl Fn(&S::Value) -> PathBuf,
) where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |value| {
        check(&value).map_err(TestCaseError::fail)
    });
    if let Err(TestError::Fail(reason, value)) = result {
        let path = save(&value);
        panic!("{reason}; the input was kept in {}", path.display());
    } else if let Err(e) = result {
        panic!("{e}");
    }
}

/// Snippets that parsers of JSON and XML find interesting.
const DICTIONARY: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "&",
    "&amp;",
    "&#0;",
    "&#x1F600;",
    "&lt;script&gt;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<item>",
    "</item>",
    "<entry>",
    "</entry>",
    "<title>",
    "</title>",
    "<script>alert(1)</script>",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "true",
    "-0",
    "1e999",
    "\\u0000",
    "\\ud800",
    "\u{0}",
    "\u{feff}",
    "\u{202e}",
    "\r\n",
    "arXiv:2609.00001v1 Announce Type: new\nAbstract: ",
    "https://arxiv.org/abs/",
    "javascript:alert(1)",
    "\"paper\":",
    "\"id\":",
    "\"title\":",
    "\"authors\":",
];

#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Insert(prop::sample::Index, prop::sample::Index),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), any::<prop::sample::Index>())
            .prop_map(|(i, w)| Mutation::Insert(i, w)),
        (any::<prop::sample::Index>(), 1usize..200).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<prop::sample::Index>(), 1usize..400).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = body.len();
        let at = |i: &prop::sample::Index| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Truncate(i) => body.truncate(at(i)),
            Mutation::Flip(i, b) if len > 0 => body[i.index(len)] ^= b | 1,
            Mutation::Flip(..) => body.push(b'<'),
            Mutation::Insert(i, w) => {
                let word = DICTIONARY[w.index(DICTIONARY.len())].as_bytes();
                let pos = at(i);
                body.splice(pos..pos, word.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let pos = at(i).min(len);
                body.drain(pos..(pos + n).min(len));
            }
            Mutation::Duplicate(i, n) => {
                let pos = at(i).min(len);
                let slice = body[pos..(pos + n).min(len)].to_vec();
                body.splice(pos..pos, slice);
            }
        }
    }
    body
}

#[test]
fn mutated_payloads_never_panic_a_parser() {
    let seeds = payload_seeds();
    let strategy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..12),
    );
    let input = |(seed, mutations): &(prop::sample::Index, Vec<Mutation>)| {
        apply(seeds[seed.index(seeds.len())].1.clone(), mutations)
    };
    fuzz(
        strategy,
        |value| every_parser(&input(value)),
        |value| {
            let body = input(value);
            let hash: String = Sha256::digest(&body)[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let path = corpus_dir().join(format!("payload/found-{hash}.bin"));
            let _ = std::fs::write(&path, body);
            path
        },
    );
}

/// Snippets that MIME and bounce readers find interesting.
const MAIL_DICTIONARY: &[&str] = &[
    "\r\n",
    "\r\n\r\n",
    "\n\n",
    " ",
    "\t",
    ":",
    ";",
    "<",
    ">",
    "@",
    "--",
    "=?utf-8?B?",
    "=?iso-8859-1?Q?=E9?=",
    "?=",
    "=\r\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=\"x\"\r\n",
    "Content-Type: multipart/report; report-type=feedback-report; boundary=\"x\"\r\n",
    "Content-Type: message/delivery-status\r\n\r\n",
    "Content-Type: message/feedback-report\r\n\r\n",
    "Content-Type: message/rfc822\r\n\r\n",
    "Content-Type: text/rfc822-headers\r\n\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "--x\r\n",
    "--x--\r\n",
    "Final-Recipient: rfc822; a@example.com\r\n",
    "Original-Recipient: rfc822;",
    "Action: failed\r\n",
    "Action: delayed\r\n",
    "Status: 5.1.1\r\n",
    "Status: 4.4.7",
    "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n",
    "Feedback-Type: abuse\r\n",
    "Original-Mail-From: <bounces+",
    "X-Failed-Recipients: ",
    "Auto-Submitted: auto-replied\r\n",
    "From: MAILER-DAEMON@mx.example.net\r\n",
    "Subject: Undelivered Mail Returned to Sender\r\n",
    "This is a permanent error",
    "--- Below this line is a copy of the message.\r\n",
    "Return-Path: <>\r\n",
    "Message-ID: <",
    "List-Unsubscribe: <https://papers.example.org/unsubscribe/",
    "From ",
    "\u{0}",
    "\u{feff}",
    "\u{fffd}",
    "{\"notificationType\":\"Bounce\",\"bounce\":{\"bouncedRecipients\":[",
    "\"event\":\"bounce\"",
    "\"RecordType\":\"Bounce\"",
];

fn apply_mail(mut body: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = body.len();
        let at = |i: &prop::sample::Index| if len == 0 { 0 } else { i.index(len + 1) };
        match m {
            Mutation::Insert(i, w) => {
                let word = MAIL_DICTIONARY[w.index(MAIL_DICTIONARY.len())].as_bytes();
                let pos = at(i);
                body.splice(pos..pos, word.iter().copied());
            }
            other => body = apply(body, std::slice::from_ref(other)),
        }
    }
    body
}

#[test]
fn mutated_mail_never_panics_a_bounce_or_webhook_reader() {
    let seeds = bounce_seeds();
    let strategy = (
        any::<prop::sample::Index>(),
        prop::collection::vec(mutation(), 1..12),
    );
    let input = |(seed, mutations): &(prop::sample::Index, Vec<Mutation>)| {
        apply_mail(seeds[seed.index(seeds.len())].1.clone(), mutations)
    };
    fuzz(
        strategy,
        |value| inbound_readers(&input(value)),
        |value| {
            let body = input(value);
            let hash: String = Sha256::digest(&body)[..6]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let path = corpus_dir().join(format!("bounce/found-{hash}.eml"));
            let _ = std::fs::create_dir_all(corpus_dir().join("bounce"));
            let _ = std::fs::write(&path, body);
            path
        },
    );
}

fn query_text() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("\"".to_string()),
        Just(" AND ".to_string()),
        Just(" OR ".to_string()),
        Just(" NOT ".to_string()),
        Just(" ANDNOT ".to_string()),
        Just("-".to_string()),
        Just("*".to_string()),
        Just(":".to_string()),
        Just("ti:".to_string()),
        Just("abs:".to_string()),
        Just("au:".to_string()),
        Just("cat:".to_string()),
        Just("all:".to_string()),
        Just("upvotes>=".to_string()),
        Just("upvotes<".to_string()),
        Just(" ".to_string()),
        Just("_".to_string()),
        "[a-z]{1,8}",
        "[0-9]{1,4}",
        "\\PC{1,3}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|t| t.concat())
}

#[test]
fn generated_queries_never_panic_and_accepted_ones_round_trip() {
    let seeds = query_seeds();
    let strategy = prop_oneof![
        query_text(),
        (prop::sample::select(seeds), query_text()).prop_map(|(a, b)| format!("{a}{b}")),
    ];
    fuzz(
        strategy,
        |text| query_round_trips(text),
        |text| {
            use std::io::Write as _;
            let path = corpus_dir().join("query/found.txt");
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
            {
                let _ = writeln!(f, "{}", text.replace('\n', " "));
            }
            path
        },
    );
}

//! Digests that learn: the "More like this" / "Less like this" links in
//! every digest (GET records nothing, POST records once), the next digest
//! ranked by the marks, the "Recommended for you" section with its
//! reasons under the never-twice ledger, the settings page's marks and
//! switches, and every bad feedback link refused with nothing recorded.
//! The real binary sends the digests to the loopback SMTP server; the
//! links are followed on the real web server.

use std::collections::HashMap;

use chrono::{Duration, Utc};
use paperboy::links::Purpose;
use reqwest::StatusCode;

use crate::env::HF_DAY;
use crate::support::{self, ReceivedMail};
use crate::web::{Site, PUBLIC};

/// The recorded day's papers, announced today and the two days after
/// (counted in the document frequencies of today).
async fn site(digest: &str) -> (Site, [String; 3]) {
    let digest = digest.to_string();
    let site = Site::with_config(move |toml| {
        // `{FIXTURES}`: the fixture server's address, as the config has it.
        let base = toml
            .split("/api/daily_papers")
            .next()
            .and_then(|s| s.rsplit('"').next())
            .unwrap()
            .to_string();
        let digest = digest.replace("{FIXTURES}", &base);
        toml.replace("[digest]\n", &format!("[digest]\n{digest}"))
    })
    .await;
    site.env.ok(&["fetch", "--date", HF_DAY]);
    let today = site.app.today(Utc::now());
    let days = [0, 1, 2].map(|d| (today + Duration::days(d)).to_string());
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(&days[0])
        .execute(site.app.store.pool())
        .await
        .unwrap();
    // The day's document frequencies move with its papers (first announced
    // today), so the year's window always holds them.
    sqlx::query("UPDATE ranking_df_days SET day = ?")
        .bind(&days[0])
        .execute(site.app.store.pool())
        .await
        .unwrap();
    for day in &days[1..] {
        sqlx::query("INSERT INTO paper_sightings (paper_id, source, day, seen_at) SELECT paper_id, source, ?, seen_at FROM paper_sightings WHERE day = ?")
            .bind(day)
            .bind(&days[0])
            .execute(site.app.store.pool())
            .await
            .unwrap();
    }
    (site, days)
}

/// One paper of a digest's text part.
#[derive(Debug, Clone)]
struct Entry {
    title: String,
    more: String,
    less: String,
    reason: Option<String>,
}

impl Entry {
    fn paper(&self) -> String {
        let url = url::Url::parse(&self.more).unwrap();
        url.query_pairs()
            .find(|(k, _)| k == "paper")
            .map(|(_, v)| v.to_string())
            .unwrap()
    }
}

/// A reader's topic: most of the day's papers match.
const TOPIC: &str = "llm OR llms OR agent OR agents OR model OR models";

/// Three agent papers by title; EvoBrowseComp has the most upvotes.
const AGENT_TITLES: &str = "ti:evobrowsecomp OR ti:webchallenger OR ti:pianokontext";

/// A site whose digests carry at most `max_papers` papers, with one
/// reader, `email`, of `topic`, and their first digest (day 1).
struct Reader {
    site: Site,
    days: [String; 3],
    mail: ReceivedMail,
    /// The first digest's entries.
    first: Vec<(String, Entry)>,
}

async fn reader(max_papers: usize, email: &str, topic: &str) -> Reader {
    let (site, days) = site(&format!("max_papers = {max_papers}\n")).await;
    add(&site, email, topic);
    site.env.ok(&["digest", "--date", &days[0]]);
    let mail = site.mails(1).await.remove(0);
    let first = entries(&text_of(&mail));
    Reader {
        site,
        days,
        mail,
        first,
    }
}

/// `subscribers add EMAIL --topic TOPIC`, which must succeed; its output.
fn add(site: &Site, email: &str, topic: &str) -> String {
    site.env
        .ok(&["subscribers", "add", email, "--topic", topic])
}

/// `subscribers add EMAIL --topic TOPIC`, which must fail; its errors.
fn add_refused(site: &Site, email: &str, topic: &str) -> String {
    let out = site
        .env
        .paperboy(&["subscribers", "add", email, "--topic", topic]);
    assert!(!out.status.success(), "{email} {topic} was added");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The path of `email`'s settings page (valid for a day).
async fn manage_path(site: &Site, email: &str) -> String {
    let sub = site.subscriber(email).await;
    let url = site.signer().url(
        &PUBLIC.parse().unwrap(),
        Purpose::Manage,
        sub.id,
        sub.link_version,
        Utc::now() + Duration::days(1),
    );
    path_of(url.as_str())
}

/// The value of a query returning one number.
async fn count(site: &Site, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(site.app.store.pool())
        .await
        .unwrap()
}

fn titles(entries: &[(String, Entry)]) -> Vec<String> {
    entries.iter().map(|e| e.1.title.clone()).collect()
}

/// The mail of `sent` addressed to a recipient containing `to`.
fn mail_to<'a>(sent: &'a [ReceivedMail], to: &str) -> &'a ReceivedMail {
    sent.iter()
        .find(|m| m.rcpt_to.iter().any(|r| r.contains(to)))
        .unwrap_or_else(|| panic!("no mail to {to}"))
}

/// The numbered papers of a digest's text part, in order, with their
/// feedback links; and the section each is under.
fn entries(text: &str) -> Vec<(String, Entry)> {
    let mut out: Vec<(String, Entry)> = Vec::new();
    let mut section = String::new();
    for line in text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("== ").and_then(|s| s.strip_suffix(" ==")) {
            section = name.to_string();
        } else if let Some((n, rest)) = line.split_once(". ") {
            if n.parse::<usize>().is_ok() {
                out.push((
                    section.clone(),
                    Entry {
                        title: rest.trim().to_string(),
                        more: String::new(),
                        less: String::new(),
                        reason: None,
                    },
                ));
            }
        } else if let Some(url) = t.strip_prefix("More like this: ") {
            out.last_mut().unwrap().1.more = url.to_string();
        } else if let Some(url) = t.strip_prefix("Less like this: ") {
            out.last_mut().unwrap().1.less = url.to_string();
        } else if let Some(r) = t.strip_prefix("Recommended: ") {
            out.last_mut().unwrap().1.reason = Some(r.to_string());
        }
    }
    for (_, e) in &out {
        assert!(
            e.more.starts_with(&format!("{PUBLIC}/feedback/")) && e.less.ends_with(&e.paper()),
            "{e:?} in\n{text}"
        );
    }
    out
}

fn text_of(mail: &ReceivedMail) -> String {
    support::text_part(&mail.parsed()).unwrap()
}

fn path_of(public: &str) -> String {
    public.strip_prefix(PUBLIC).unwrap().to_string()
}

async fn marks(site: &Site) -> Vec<(String, String)> {
    sqlx::query_as("SELECT paper_id, mark FROM paper_marks ORDER BY paper_id")
        .fetch_all(site.app.store.pool())
        .await
        .unwrap()
}

/// The subscriber's digest for `date` as the preview renders it.
fn preview(site: &Site, email: &str, date: &str) -> Vec<(String, Entry)> {
    let out = site.env.ok(&["preview", "--email", email, "--date", date]);
    entries(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feedback_is_recorded_by_post_only_and_reorders_the_next_digest() {
    let Reader {
        site,
        days,
        mail,
        first,
    } = reader(3, "bob@example.org", TOPIC).await;
    assert_eq!(first.len(), 3, "{}", text_of(&mail));
    let html = support::html_part(&mail.parsed()).unwrap();
    assert_eq!(html.matches(">More like this</a>").count(), 3, "{html}");
    assert_eq!(html.matches(">Less like this</a>").count(), 3, "{html}");
    assert!(
        html.contains(&first[0].1.more.replace('&', "&amp;")) || html.contains(&first[0].1.more)
    );

    // A GET (what a mail scanner does) shows the paper and one button and
    // records nothing.
    let (status, page) = site.get(&path_of(&first[1].1.more)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains("papers like it") || page.contains("rank higher"),
        "{page}"
    );
    assert_eq!(page.matches("<button").count(), 1, "{page}");
    assert!(page.contains("/manage/"), "{page}");
    let (status, _) = site.get(&path_of(&first[2].1.less)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(marks(&site).await.is_empty());

    // The POST records, once; "less" after "more" replaces it.
    let liked = &first[0].1;
    let (status, page) = site.post_form(&path_of(&liked.more), &[]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Noted"), "{page}");
    let (status, _) = site.post_form(&path_of(&liked.more), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(marks(&site).await, vec![(liked.paper(), "more".into())]);
    site.post_form(&path_of(&liked.less), &[]).await;
    assert_eq!(marks(&site).await, vec![(liked.paper(), "less".into())]);
    site.post_form(&path_of(&liked.more), &[]).await;
    assert_eq!(marks(&site).await, vec![(liked.paper(), "more".into())]);

    // Ranking off (the settings page's switch): upvote order.
    let manage = manage_path(&site, "bob@example.org").await;
    let (_, settings) = site.get(&manage).await;
    assert!(settings.contains("Papers you marked"), "{settings}");
    assert!(settings.contains(&liked.title[..20]), "{settings}");
    let (status, _) = site
        .post_form(&format!("{manage}/marks"), &[("action", "switches")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let by_upvotes = preview(&site, "bob@example.org", &days[1]);
    let (status, _) = site
        .post_form(
            &format!("{manage}/marks"),
            &[("action", "switches"), ("ranking", "on")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let ranked = preview(&site, "bob@example.org", &days[1]);
    assert_eq!(by_upvotes.len(), 3);
    assert_eq!(ranked.len(), 3);
    assert_ne!(
        titles(&by_upvotes),
        titles(&ranked),
        "the marks changed nothing"
    );

    // "Less like this" on the paper upvotes put first: it never comes back.
    let dropped = &by_upvotes[0].1;
    site.post_form(&path_of(&dropped.less), &[]).await;
    let after_less = preview(&site, "bob@example.org", &days[1]);
    assert!(
        after_less.iter().all(|e| e.1.title != dropped.title),
        "{after_less:?}"
    );

    // The day-2 digest that goes out is the ranked one.
    site.env.ok(&["digest", "--date", &days[1]]);
    let second = entries(&text_of(&site.mails(2).await.remove(1)));
    assert_eq!(titles(&second), titles(&after_less));
    assert!(second.iter().all(|e| e.1.title != dropped.title));

    // Removing a mark on the settings page.
    let (status, _) = site
        .post_form(
            &format!("{manage}/marks"),
            &[("action", "remove"), ("paper", &dropped.paper())],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(marks(&site).await, vec![(liked.paper(), "more".into())]);
}

/// The "Recommended for you" entries of a digest (`text`), each checked to
/// give the marked paper, EvoBrowseComp, as its reason (wrapped in the
/// text part).
fn recommended_for_evobrowsecomp<'a>(entries: &'a [(String, Entry)], text: &str) -> Vec<&'a Entry> {
    let recommended: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.0 == "Recommended for you")
        .map(|e| &e.1)
        .collect();
    for r in &recommended {
        assert!(
            r.reason
                .as_deref()
                .is_some_and(|x| x.starts_with("like ‘EvoBrowseComp: Benchmarking")),
            "{text}"
        );
    }
    recommended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommendations_follow_the_topics_with_their_reason_and_never_repeat() {
    let Reader {
        site, days, first, ..
    } = reader(1, "cy@example.org", AGENT_TITLES).await;
    assert_eq!(first.len(), 1);
    assert!(first[0].1.title.starts_with("EvoBrowseComp"), "{first:?}");
    assert!(first.iter().all(|e| e.0 != "Recommended for you"));
    site.post_form(&path_of(&first[0].1.more), &[]).await;

    site.env.ok(&["digest", "--date", &days[1]]);
    let mail = site.mails(2).await.remove(1);
    let text = text_of(&mail);
    let second = entries(&text);
    let recommended = recommended_for_evobrowsecomp(&second, &text);
    assert!(!recommended.is_empty(), "{text}");
    assert!(recommended.len() <= 5, "{text}");
    // The one paper of the day this close to the marked one (cosine 0.10):
    // a benchmark of LLM tool knowledge, which the topics do not name.
    assert!(
        recommended.iter().any(|r| r.title.starts_with("ToolSense")),
        "{text}"
    );
    assert!(text.contains("which you marked"), "{text}");
    let html = support::html_part(&mail.parsed()).unwrap();
    assert!(html.contains("Recommended for you"), "{html}");
    // The section comes after the topic's.
    let topic_at = text.find("ti:evobrowsecomp").unwrap();
    assert!(topic_at < text.find("Recommended for you").unwrap());

    site.env.ok(&["digest", "--date", &days[2]]);
    let third = entries(&text_of(&site.mails(3).await.remove(2)));
    for e in &third {
        assert!(
            second.iter().all(|s| s.1.title != e.1.title) && first[0].1.title != e.1.title,
            "{} was sent twice",
            e.1.title
        );
    }
    let ledger = count(&site, "SELECT COUNT(*) FROM sent_papers").await;
    assert_eq!(ledger as usize, first.len() + second.len() + third.len());
}

/// A digest whose sending failed is rebuilt from its ledger when it is
/// retried: its recommended papers keep the reason they were recommended
/// for, which the ledger recorded with them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_digest_keeps_the_reasons_of_its_recommendations() {
    let Reader {
        site, days, first, ..
    } = reader(1, "cy@example.org", AGENT_TITLES).await;
    site.post_form(&path_of(&first[0].1.more), &[]).await;
    // The mark stored the profile the run reads.
    assert_eq!(
        count(&site, "SELECT COUNT(*) FROM ranking_profiles").await,
        1
    );

    // The mail server turns the day-2 digest away for now: it is deferred.
    site.env
        .smtp
        .faults()
        .rcpt("cy@example.org", 451, "4.7.1 try again later");
    let out = site.env.paperboy(&["digest", "--date", &days[1]]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 deferred"), "{stdout}");
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM sent_papers WHERE topic_position = -2 AND reason IS NOT NULL",
    )
    .fetch_all(site.app.store.pool())
    .await
    .unwrap();
    assert!(!reasons.is_empty());

    site.env.smtp.faults().clear();
    let report = site
        .app
        .digest_run()
        .resume_unfinished(days[1].parse().unwrap(), Utc::now() + Duration::hours(2))
        .await
        .unwrap();
    assert_eq!(report.sent, 1);
    let text = text_of(&site.mails(2).await.remove(1));
    let resumed = entries(&text);
    let recommended = recommended_for_evobrowsecomp(&resumed, &text);
    assert_eq!(recommended.len(), reasons.len(), "{text}");
}

/// Rows of the day's document frequencies and of paper vectors.
async fn ranking_rows(site: &Site) -> (i64, i64) {
    (
        count(site, "SELECT COUNT(*) FROM ranking_df_days").await,
        count(site, "SELECT COUNT(*) FROM paper_vectors").await,
    )
}

/// What a database from before ranking data was stored looks like.
async fn forget_ranking_data(site: &Site) {
    for sql in ["DELETE FROM paper_vectors", "DELETE FROM ranking_df_days"] {
        sqlx::query(sql)
            .execute(site.app.store.pool())
            .await
            .unwrap();
    }
}

/// A database upgraded from before ranking data was kept: `paperboy
/// migrate` computes it and says so, and `paperboy digest` computes it
/// before its run, as the daemon does when it starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_and_a_digest_compute_the_ranking_data_an_older_database_lacks() {
    let (site, days) = site("").await;
    let full = ranking_rows(&site).await;
    assert!(full.0 == 1 && full.1 > 0, "{full:?}");

    forget_ranking_data(&site).await;
    let out = site.env.ok(&["migrate"]);
    assert!(
        out.contains(&format!(
            "ranking data computed: 1 days of document frequencies counted (their {} papers' vectors stored), 0 other paper vectors stored",
            full.1
        )),
        "{out}"
    );
    assert_eq!(ranking_rows(&site).await, full);
    let again = site.env.ok(&["migrate"]);
    assert!(again.contains("ranking data is up to date"), "{again}");

    forget_ranking_data(&site).await;
    site.env.ok(&["digest", "--date", &days[0]]);
    assert_eq!(ranking_rows(&site).await, full);
}

/// Every row of the ranking tables and the marks, as text.
async fn ranking_tables(site: &Site) -> Vec<String> {
    let mut rows = Vec::new();
    for sql in [
        "SELECT paper_id || ' ' || hex(vector) FROM paper_vectors ORDER BY 1",
        "SELECT day || ' ' || papers || ' ' || hex(df) || ' ' || revision FROM ranking_df_days ORDER BY 1",
        "SELECT subscriber_id || ' ' || hex(profile) || ' ' || updated_at FROM ranking_profiles ORDER BY 1",
        "SELECT subscriber_id || ' ' || paper_id || ' ' || mark FROM paper_marks ORDER BY 1",
    ] {
        rows.extend(
            sqlx::query_scalar::<_, String>(sql)
                .fetch_all(site.app.store.pool())
                .await
                .unwrap(),
        );
    }
    rows
}

/// The paper ids a dry run lists for each address, in order.
fn dry_run_papers(out: &str) -> HashMap<String, Vec<String>> {
    let mut planned: HashMap<String, Vec<String>> = HashMap::new();
    let mut reader = String::new();
    for line in out.lines() {
        if let Some(paper) = line.strip_prefix("  ") {
            let id = paper.split_whitespace().next().unwrap().to_string();
            planned.entry(reader.clone()).or_default().push(id);
        } else if let Some((address, _)) = line.split_once(": ") {
            reader = address.to_string();
        }
    }
    planned
}

/// A dry run on a database lacking ranking data (no document
/// frequencies, vectors or profiles) ranks as the real run does, with the
/// data computed in memory: the ranking tables are left as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_ranks_by_ranking_data_it_computes_and_stores_none_of_it() {
    let (site, days) = site("max_papers = 3\n").await;
    import(&site, &[ANN_MARKS, BEN]);
    forget_ranking_data(&site).await;
    sqlx::query("DELETE FROM ranking_profiles")
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let before = ranking_tables(&site).await;
    assert_eq!(before.len(), 3, "only the marks: {before:?}");

    let out = site.env.ok(&["digest", "--date", &days[0], "--dry-run"]);
    assert_eq!(ranking_tables(&site).await, before, "the dry run wrote");
    let planned = dry_run_papers(&out);
    let (ann, ben) = (&planned["ann@example.org"], &planned["ben@example.org"]);
    assert!(ben.contains(&LESS.to_string()), "{out}");
    assert!(!ann.contains(&LESS.to_string()), "not ranked: {out}");
    assert_ne!(ann, ben, "{out}");

    // The run that sends computes the same and stores it.
    site.env.ok(&["digest", "--date", &days[0]]);
    let sent = site.mails(2).await;
    for (reader, ids) in [("ann@", ann), ("ben@", ben)] {
        let papers: Vec<String> = entries(&text_of(mail_to(&sent, reader)))
            .iter()
            .map(|e| e.1.paper())
            .collect();
        assert_eq!(&papers, ids, "{reader}");
    }
    let after = ranking_rows(&site).await;
    assert!(after.0 == 1 && after.1 > 0, "{after:?}");
}

/// The paper (EvoArena) ann marks "less like this"; upvotes put it in the
/// day's first three.
const LESS: &str = "2606.13681";

/// Ann marks two papers "more" (one written as arXiv writes it) and
/// [`LESS`] "less"; ben has the same topic and no marks.
const ANN_MARKS: &str = r#"{"email": "ann@example.org", "topics": ["TOPIC"], "more": ["2606.13120", "arXiv:2606.10423v2"], "less": ["2606.13681"]}"#;
const BEN: &str =
    r#"{"email": "ben@example.org", "topics": [{"name": "Agents", "query": "TOPIC"}]}"#;
const DEE_LESS: &str =
    r#"{"email": "dee@example.org", "topics": ["TOPIC"], "less": ["2606.13120"]}"#;
/// Eve chose none of the defaults.
const EVE_CHOICES: &str = r#"{"email": "eve@example.org", "topics": ["TOPIC"], "more": ["2606.13120"], "preferences": {"frequency": "weekly", "weekday": "fri", "delivery_hour": 9, "timezone": "Europe/Berlin", "paused_until": "2020-01-01", "top_papers": true, "ranking": true, "recommendations": false}}"#;

/// Imports `lines` (`TOPIC` standing for [`TOPIC`]) with `subscribers
/// import`; returns what it printed.
fn import(site: &Site, lines: &[&str]) -> String {
    let file = site.env.dir.path().join("readers.jsonl");
    let text: String = lines
        .iter()
        .map(|l| format!("{}\n", l.replace("TOPIC", TOPIC)))
        .collect();
    std::fs::write(&file, text).unwrap();
    site.env
        .ok(&["subscribers", "import", file.to_str().unwrap()])
}

/// Readers moved with `subscribers import` keep their marks: stored with
/// the profile the run itself builds from them, and their digest ranked
/// by them while a reader of the same topics without marks gets upvote
/// order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_with_marks_stores_them_and_their_profile_and_the_digest_ranks_by_them() {
    let (site, days) = site("max_papers = 3\n").await;
    let out = import(&site, &[ANN_MARKS, BEN]);
    assert!(out.contains("imported 2"), "{out}");
    assert_eq!(
        marks(&site).await,
        vec![
            ("2606.10423".into(), "more".into()),
            ("2606.13120".into(), "more".into()),
            ("2606.13681".into(), "less".into()),
        ]
    );
    let profile = || async {
        sqlx::query_scalar::<_, Vec<u8>>("SELECT profile FROM ranking_profiles")
            .fetch_all(site.app.store.pool())
            .await
            .unwrap()
    };
    let imported = profile().await;
    assert_eq!(imported.len(), 1, "one profile: ann's");

    let ann = preview(&site, "ann@example.org", &days[0]);
    let ben = preview(&site, "ben@example.org", &days[0]);
    assert!(
        ben.iter().any(|e| e.1.title.starts_with("EvoArena")),
        "{ben:?}"
    );
    assert!(
        ann.iter().all(|e| !e.1.title.starts_with("EvoArena")),
        "the less paper is gone: {ann:?}"
    );
    assert_ne!(titles(&ann), titles(&ben));

    // The run, finding no profile, builds the same one from the marks.
    sqlx::query("DELETE FROM ranking_profiles")
        .execute(site.app.store.pool())
        .await
        .unwrap();
    site.env.ok(&["digest", "--date", &days[0]]);
    assert_eq!(profile().await, imported);
    let sent = site.mails(2).await;
    assert_eq!(
        titles(&entries(&text_of(mail_to(&sent, "ann@")))),
        titles(&ann)
    );
}

/// Each subscriber's choices, marks (address, paper, mark) and stored
/// profile (address, blob), in address and paper order.
async fn marks_and_profiles(
    pool: &sqlx::SqlitePool,
) -> (
    Vec<String>,
    Vec<(String, String, String)>,
    Vec<(String, Vec<u8>)>,
) {
    let choices = sqlx::query_scalar(
        "SELECT email || ' ' || frequency || ' ' || COALESCE(weekday, '-') || ' '
             || COALESCE(delivery_hour, '-') || ' ' || COALESCE(timezone, '-') || ' '
             || COALESCE(paused_until, '-') || ' ' || top_papers || ranking || recommendations
         FROM subscribers ORDER BY email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let marks = sqlx::query_as(
        "SELECT s.email, m.paper_id, m.mark FROM paper_marks m
         JOIN subscribers s ON s.id = m.subscriber_id ORDER BY s.email, m.paper_id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let profiles = sqlx::query_as(
        "SELECT s.email, p.profile FROM ranking_profiles p
         JOIN subscribers s ON s.id = p.subscriber_id ORDER BY s.email",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (choices, marks, profiles)
}

/// `subscribers export` writes each reader's marks, so an import of it
/// into a fresh database with the same papers gives the same subscribers,
/// topics, marks and profiles, and the same ranked digests. Into a
/// database lacking a marked paper, the import names the line and the id
/// and imports nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_carries_the_marks_and_imports_into_a_fresh_database_ranking_the_same() {
    let (from, days) = site("max_papers = 3\n").await;
    import(&from, &[ANN_MARKS, BEN, DEE_LESS, EVE_CHOICES]);
    let exported = from.env.ok(&["subscribers", "export"]);
    let lines: Vec<&str> = exported.lines().collect();
    assert_eq!(lines.len(), 4, "{exported}");
    // Marks in paper id order; an empty list is left out.
    assert!(
        lines[0].contains(r#""more":["2606.10423","2606.13120"],"less":["2606.13681"]"#),
        "{exported}"
    );
    assert!(
        !lines[1].contains("more") && !lines[1].contains("less"),
        "{exported}"
    );
    assert!(
        lines[2].contains(r#""less":["2606.13120"]"#) && !lines[2].contains("more"),
        "{exported}"
    );
    // Choices are written unless all are the defaults.
    assert!(
        lines[3].contains(r#""preferences":{"frequency":"weekly","weekday":"fri","delivery_hour":9,"timezone":"Europe/Berlin","paused_until":"2020-01-01","top_papers":true,"ranking":true,"recommendations":false}"#),
        "{exported}"
    );
    assert!(
        lines[..3].iter().all(|l| !l.contains("preferences")),
        "{exported}"
    );
    let source = marks_and_profiles(from.app.store.pool()).await;
    assert_eq!((source.1.len(), source.2.len()), (5, 3), "{source:?}");
    assert_eq!(
        source.0[3],
        "eve@example.org weekly 4 9 Europe/Berlin 2020-01-01 110"
    );

    // A fresh database with the same papers announced on the same day.
    let (to, _) = site("max_papers = 3\n").await;
    let out = import(&to, &lines);
    assert!(out.contains("imported 4 subscribers (4 new"), "{out}");
    assert_eq!(marks_and_profiles(to.app.store.pool()).await, source);
    assert_eq!(to.env.ok(&["subscribers", "export"]), exported);
    for reader in [
        "ann@example.org",
        "ben@example.org",
        "dee@example.org",
        "eve@example.org",
    ] {
        assert_eq!(
            titles(&preview(&to, reader, &days[0])),
            titles(&preview(&from, reader, &days[0])),
            "{reader}"
        );
    }

    // A database without one of the marked papers: nothing imported.
    let lacking = crate::env::TestEnv::new().await;
    lacking.ok(&["fetch", "--date", HF_DAY]);
    let app = lacking.app().await;
    sqlx::query("DELETE FROM papers WHERE id = '2606.13120'")
        .execute(app.store.pool())
        .await
        .unwrap();
    let moved = lacking.dir.path().join("export.jsonl");
    std::fs::write(&moved, &exported).unwrap();
    let out = lacking.paperboy(&["subscribers", "import", moved.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("nothing imported") && err.contains("line 1: paper 2606.13120 is not stored"),
        "{err}"
    );
    assert_eq!(lacking.ok(&["subscribers", "list"]), "");
    assert_eq!(
        marks_and_profiles(app.store.pool()).await,
        (Vec::new(), Vec::new(), Vec::new())
    );

    // Bad choices are refused naming the line and the field.
    let bad = [
        (r#""timezone": "Mars/Olympus""#, "preferences.timezone"),
        (r#""delivery_hour": 24"#, "preferences.delivery_hour"),
        (r#""frequency": "weekly""#, "preferences.weekday"),
        (
            r#""frequency": "weekly", "weekday": "someday""#,
            "preferences.weekday",
        ),
        (r#""paused_until": "soon""#, "preferences.paused_until"),
    ];
    let lines: String = bad
        .iter()
        .enumerate()
        .map(|(n, (field, _))| {
            format!("{{\"email\": \"x{n}@example.org\", \"topics\": [\"x\"], \"preferences\": {{{field}}}}}\n")
        })
        .collect();
    std::fs::write(&moved, lines).unwrap();
    let out = lacking.paperboy(&["subscribers", "import", moved.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    for (n, (_, field)) in bad.iter().enumerate() {
        assert!(err.contains(&format!("line {}: {field}", n + 1)), "{err}");
    }
    assert_eq!(lacking.ok(&["subscribers", "list"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_feedback_link_gets_the_link_error_page_and_records_nothing() {
    let Reader {
        site, first: got, ..
    } = reader(2, "dee@example.org", "agent OR agents").await;
    assert_eq!(got.len(), 2);
    let (a, b) = (&got[0].1, &got[1].1);

    // Another paper's id under this paper's token: not valid.
    let swapped = a.more.replace(&a.paper(), &b.paper());
    for (status, page) in [
        site.get(&path_of(&swapped)).await,
        site.post_form(&path_of(&swapped), &[]).await,
    ] {
        assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
        assert!(page.contains("This link is not valid"), "{page}");
    }
    // A changed token.
    let token = a.more.split('/').nth(4).unwrap().to_string();
    let mut bytes = token.clone().into_bytes();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = a.more.replace(&token, std::str::from_utf8(&bytes).unwrap());
    let (status, _) = site.post_form(&path_of(&tampered), &[]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // A mark that is neither "more" nor "less".
    let (status, _) = site
        .post_form(&path_of(&a.more.replace("/more?", "/most?")), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Expired, and a paper that is not stored.
    let dee = site.subscriber("dee@example.org").await;
    let signer = site.signer();
    let link = |paper: &str, expires: chrono::DateTime<Utc>| {
        let token = signer.sign_bound(
            Purpose::Feedback,
            dee.id,
            dee.link_version,
            expires,
            paper.as_bytes(),
        );
        format!("/feedback/{token}/more?paper={paper}")
    };
    let (status, page) = site
        .post_form(&link(&a.paper(), Utc::now() - Duration::seconds(1)), &[])
        .await;
    assert_eq!(status, StatusCode::GONE, "{page}");
    assert!(page.contains("expired"), "{page}");
    let (status, page) = site
        .post_form(&link("2606.99999", Utc::now() + Duration::days(1)), &[])
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    assert!(page.contains("no longer stored"), "{page}");

    // Revoked with every other link.
    site.app
        .store
        .revoke_links(dee.id, dee.link_version, Utc::now())
        .await
        .unwrap();
    for (status, page) in [
        site.get(&path_of(&a.more)).await,
        site.post_form(&path_of(&a.more), &[]).await,
    ] {
        assert_eq!(status, StatusCode::GONE, "{page}");
        assert!(page.contains("no longer valid"), "{page}");
    }
    assert!(marks(&site).await.is_empty());
}

/// A site whose `like:` lookups go to the fixture server's `/arxiv/query`,
/// which answers two recorded arXiv API responses: paper 1111.2011, and the
/// empty feed arXiv sends for an id it does not have.
async fn like_site() -> (Site, [String; 3]) {
    let (site, days) = site("arxiv_lookup_url = \"{FIXTURES}/arxiv/query\"\n").await;
    site.env.http.route(
        "/arxiv/query?id_list=1111.2011&max_results=1",
        support::FixtureResponse::fixture("arxiv_api_2016_classic_id_list_1111.2011v2.xml")
            .with_content_type("application/atom+xml"),
    );
    site.env.http.route(
        "/arxiv/query?id_list=0808.05394&max_results=1",
        support::FixtureResponse::fixture(
            "arxiv_api_2026-04_empty_totalResults0_id_list_0808.05394.xml",
        )
        .with_content_type("application/atom+xml"),
    );
    site.env.http.route(
        "/arxiv/query?id_list=astro-ph%2F0601001&max_results=1",
        support::FixtureResponse::fixture(
            "arxiv_api_2026-05_id_list_astro-ph_0601001_old_style_id_affiliation_journal_ref.xml",
        )
        .with_content_type("application/atom+xml"),
    );
    (site, days)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn like_matches_papers_similar_to_a_stored_or_looked_up_paper_and_unknown_ids_are_errors() {
    let (site, days) = like_site().await;
    let lookups = || site.env.http.requests_to("/arxiv/query").len();

    // A stored paper (any version suffix), composed with OR like any term.
    add(
        &site,
        "ann@example.org",
        "like:2606.13120v2 OR ti:pianokontext",
    );
    assert_eq!(lookups(), 0, "a stored paper is never asked of arXiv");
    site.env.ok(&["digest", "--date", &days[0]]);
    let text = text_of(&site.mails(1).await.remove(0));
    let flat = one_line(&text);
    assert!(flat.contains("EvoBrowseComp"), "{text}");
    assert!(flat.contains("PianoKontext"), "{text}");
    assert!(
        flat.contains("Matched: like:2606.13120 (similar: ‘EvoBrowseComp: Benchmarking"),
        "{text}"
    );
    // NOT like: composes too: the paper itself is left out.
    let out = add(
        &site,
        "ann@example.org",
        "ti:evobrowsecomp AND NOT like:2606.13120",
    );
    assert!(out.contains("updated"), "{out}");

    // A paper not stored is fetched once from arXiv and stored, with no
    // sighting (no digest carries it as news).
    add(
        &site,
        "bo@example.org",
        "like:1111.2011v2 AND cat:cond-mat*",
    );
    assert_eq!(lookups(), 1);
    let (title, sightings): (String, i64) = sqlx::query_as(
        "SELECT title, (SELECT COUNT(*) FROM paper_sightings WHERE paper_id = p.id) FROM papers p WHERE id = '1111.2011'",
    )
    .fetch_one(site.app.store.pool())
    .await
    .unwrap();
    assert!(title.starts_with("Quantum Criticality"), "{title}");
    assert_eq!(sightings, 0);
    add(&site, "cy@example.org", "like:1111.2011");
    assert_eq!(lookups(), 1, "once stored, never asked again");

    // An id arXiv does not know: a query error at the id's column, nothing
    // stored.
    let err = add_refused(&site, "dee@example.org", "cat:cs.LG AND like:0808.05394");
    assert!(
        err.contains("arXiv has no paper with this id at column 20"),
        "{err}"
    );
    let dee = "SELECT COUNT(*) FROM subscribers WHERE email = 'dee@example.org'";
    assert_eq!(count(&site, dee).await, 0);
    // A malformed id is a parse error at its column, and asks no one.
    let before = lookups();
    let err = add_refused(&site, "dee@example.org", "like:2406.1");
    assert!(err.contains("'2406.1' is not a paper id"), "{err}");
    assert!(err.contains("at column 6"), "{err}");
    assert_eq!(lookups(), before);

    // The papers search page: the same errors and the same matches, from
    // the stored papers only (anyone may search it without limit, so it
    // never asks arXiv).
    let before = lookups();
    let (status, page) = site.get("/papers?q=like%3A0808.05394").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        one_line(&page).contains("the paper is not stored here at column 6"),
        "{page}"
    );
    assert_eq!(lookups(), before, "the public search never asks arXiv");
    let (status, page) = site.get("/papers?q=like%3A2406.1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains("not a paper id"), "{page}");
    let (status, page) = site.get("/papers?q=like%3A2606.13120").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("EvoBrowseComp"), "{page}");
    assert!(!page.contains("PianoKontext"), "{page}");

    // The subscribe form and the settings page refuse it with its line.
    let (status, page) = site
        .subscribe("eve@example.org", "diffusion\nlike:0808.05394")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(one_line(&page).contains("Line 2"), "{page}");
    assert!(
        one_line(&page).contains("arXiv has no paper with this id"),
        "{page}"
    );
    let ann = site.subscriber("ann@example.org").await;
    let manage = manage_path(&site, "ann@example.org").await;
    let (status, page) = site
        .post_form(
            &manage,
            &[
                ("action", "save"),
                ("topics", "like:0808.05394"),
                ("frequency", "daily"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    assert!(
        one_line(&page).contains("arXiv has no paper with this id"),
        "{page}"
    );
    let ann_after = site.subscriber("ann@example.org").await;
    assert_eq!(ann_after.topics.len(), ann.topics.len());
    assert_eq!(ann_after.topics[0].query, ann.topics[0].query);
    // Asked once by the CLI and once by the web server (each process
    // remembers what arXiv does not have).
    assert_eq!(lookups(), 3);

    // An old-style id, with a version, looked up and stored; the public
    // search then finds it in the store.
    let (status, page) = site.get("/papers?q=like%3Aastro-ph%2F0601001v1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert_eq!(lookups(), 3);
    add(&site, "zed@example.org", "like:astro-ph/0601001v1");
    assert_eq!(lookups(), 4);
    let (status, page) = site.get("/papers?q=like%3Aastro-ph%2F0601001v1").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(lookups(), 4);
    let stored = site
        .app
        .store
        .papers_by_id(&[paperboy::domain::PaperId::from_stored(
            "astro-ph/0601001".into(),
        )])
        .await
        .unwrap();
    assert!(stored[0].title.starts_with("Frequency of Hot Jupiters"));
}

//! The public papers pages over real HTTP: `/papers` (days, weeks, search,
//! paging, every bad parameter), `/papers.atom` read by Python's feedparser
//! (an independent parser), conditional GET, and `/api/papers`.

use std::process::Command;

use chrono::Utc;
use paperboy::domain::{ArxivId, FetchedPaper, Paper, PaperId};
use reqwest::header;
use reqwest::StatusCode;

use crate::env::HF_DAY;
use crate::web::{link_in, Site, PUBLIC};

fn path_of(public: &str) -> String {
    public.strip_prefix(PUBLIC).unwrap().to_string()
}

/// A site with the recorded Hugging Face day (30 papers) and the hostile
/// one (markup in every field) fetched, both announced on [`HF_DAY`].
async fn site_with_papers() -> Site {
    let site = Site::start().await;
    site.env.ok(&["fetch", "--date", HF_DAY]);
    site
}

fn position(body: &str, needle: &str) -> usize {
    body.find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not on the page"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_latest_day_is_listed_most_upvoted_first_with_its_links_and_the_page_headers() {
    let site = site_with_papers().await;
    let r = site.http.get(site.url("/papers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    let body = r.text().await.unwrap();
    assert!(h[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .contains("default-src 'none'"));
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
    assert!(h[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .starts_with("public"));
    assert!(
        body.contains("<h1>Papers of Friday, 12 June 2026</h1>"),
        "{body}"
    );
    assert!(body.contains("31 papers, most upvoted first."));
    // 118, 103, 74 upvotes.
    let evo = position(&body, "EvoArena: Tracking Memory Evolution");
    let minimax = position(&body, "MiniMax Sparse Attention");
    let robust = position(&body, "Robust-U1: Can MLLMs");
    assert!(evo < minimax && minimax < robust);
    assert!(body.contains("118 upvotes"));
    assert!(body.contains(r#"<a href="https://arxiv.org/abs/2606.13681">EvoArena"#));
    assert!(body.contains(r#"<a href="https://huggingface.co/papers/2606.13681">Hugging Face</a>"#));
    assert!(body.contains(r#"<a href="https://github.com/Aiden0526/EvoArena">Code</a>"#));
    assert!(body.contains(r#"<a href="https://aiden0526.github.io/EvoArena/">Project page</a>"#));
    assert!(body.contains("et al. (14 authors)"));
    // The hostile paper's markup is text, its javascript: link no link.
    assert!(!body.contains("<script"), "unescaped markup");
    assert!(!body.contains("href=\"javascript:"));
    assert!(!body.contains("<img"));
    assert!(body.contains("Diffusion models &#38; friends"));
    // Browsing explains nothing and offers no subscription to a search.
    assert!(!body.contains("Matched:"));
    assert!(!body.contains("Subscribe to this search"));
    // One day in the store: only the week link.
    assert!(body.contains(r#"<a href="/papers?week=2026-W24">Week 2026-W24</a>"#));
    assert!(body.contains(r#"href="/papers.atom?date=2026-06-12""#));
    assert!(body.contains(r#"href="/api/papers?date=2026-06-12""#));
    // The same day by date; unknown parameters ignored.
    let (status, by_date) = site.get("/papers?date=2026-06-12&utm_source=x&foo").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_date, body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn days_link_to_the_previous_and_next_day_with_papers_and_a_week_lists_them_all() {
    let site = site_with_papers().await;
    // Move two papers to the Wednesday before.
    sqlx::query(
        "UPDATE paper_sightings SET day = '2026-06-10' WHERE paper_id IN ('2606.13681', '2606.00467')",
    )
    .execute(site.app.store.pool())
    .await
    .unwrap();
    let (status, fri) = site.get("/papers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(fri.contains("29 papers"), "{fri}");
    assert!(
        fri.contains(r#"<a href="/papers?date=2026-06-10">← Wed 10 Jun</a>"#),
        "{fri}"
    );
    assert!(!fri.contains("EvoArena"));
    let (_, wed) = site.get("/papers?date=2026-06-10").await;
    assert!(wed.contains("2 papers"));
    assert!(
        wed.contains(r#"<a href="/papers?date=2026-06-12">Fri 12 Jun →</a>"#),
        "{wed}"
    );
    // A day without announcements: an empty list, still with its links.
    let (status, thu) = site.get("/papers?date=2026-06-11").await;
    assert_eq!(status, StatusCode::OK);
    assert!(thu.contains("No papers were announced on these days."));
    assert!(thu.contains(r#"href="/papers?date=2026-06-10""#));
    assert!(thu.contains(r#"href="/papers?date=2026-06-12""#));
    // The week: all 31, each with its day, still by upvotes.
    let (status, week) = site.get("/papers?week=2026-W24").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        week.contains("Papers of the week 2026-W24 (8 June to 14 June 2026)"),
        "{week}"
    );
    assert!(week.contains("31 papers"));
    assert!(position(&week, "EvoArena") < position(&week, "MiniMax Sparse Attention"));
    assert!(week.contains("Wed 10 Jun 2026"));
    assert!(week.contains("Fri 12 Jun 2026"));
    let (_, other_week) = site.get("/papers?week=2026-W23").await;
    assert!(other_week.contains("No papers were announced"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_parameter_is_a_400_page_naming_it_and_never_a_500() {
    let site = site_with_papers().await;
    for (query, parameter) in [
        ("date=2026-13-01", "date parameter"),
        ("date=12%2F06%2F2026", "date parameter"),
        ("date=2026-06-12T00:00", "date parameter"),
        ("date=%F0%9F%92%A5", "date parameter"),
        ("week=2026-W60", "week parameter"),
        ("week=last", "week parameter"),
        ("days=0", "days parameter"),
        ("days=91", "days parameter"),
        ("days=184467440737095516160", "days parameter"),
        ("days=-1", "days parameter"),
        ("page=0", "page parameter"),
        ("page=x", "page parameter"),
        ("page=99999999999999999999", "page parameter"),
    ] {
        for path in ["/papers", "/papers.atom"] {
            let (status, body) = site.get(&format!("{path}?{query}")).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}?{query}");
            assert!(body.contains(parameter), "{path}?{query}: {body}");
            assert!(!body.contains("<script"));
        }
        let (status, body) = site.get(&format!("/api/papers?{query}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            json["error"]["parameter"],
            parameter.trim_end_matches(" parameter"),
            "{query}"
        );
    }
    // A value echoed in the message is escaped.
    let (status, body) = site.get("/papers?date=%3Cscript%3Ex").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(!body.contains("<script>"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_marks_and_explains_matches_like_the_digest_and_offers_the_subscription() {
    let site = site_with_papers().await;
    let (status, body) = site
        .get("/papers?date=2026-06-12&q=abs%3A%22sparse+attention%22")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.contains("1 paper matches abs:&#34;sparse attention&#34;."),
        "{body}"
    );
    assert!(body.contains("MiniMax Sparse Attention"));
    assert!(!body.contains("EvoArena"));
    assert!(
        body.contains("Matched: <b>abs:&#34;sparse attention&#34;</b>"),
        "{body}"
    );
    assert!(
        body.to_lowercase()
            .contains("<mark>sparse attention</mark>"),
        "{body}"
    );
    // The search box keeps the query; the subscription form carries it.
    assert!(body.contains(r#"value="abs:&#34;sparse attention&#34;""#));
    assert!(body.contains("Subscribe to this search"));
    assert!(body
        .contains(r#"<input type="hidden" name="topics" value="abs:&#34;sparse attention&#34;">"#));
    // Which leads to the subscribe form with the query and frequency filled in.
    let (status, form) = site
        .get("/?topics=abs%3A%22sparse+attention%22&frequency=weekly&other=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        form.contains(">abs:&#34;sparse attention&#34;</textarea>"),
        "{form}"
    );
    assert!(form.contains(r#"value="weekly" checked"#), "{form}");

    // A search over a week and over the last days.
    let (_, week) = site.get("/papers?week=2026-W24&q=cat%3Acs.CL").await;
    let (_, days) = site.get("/papers?days=7&q=cat%3Acs.CL").await;
    assert!(week.contains(" match cat:cs.CL."), "{week}");
    assert_eq!(
        week.split("Matched: <b>").count(),
        days.split("Matched: <b>").count()
    );
    assert!(days.contains("Papers of the last 7 days"));
    // No match.
    let (status, none) = site.get("/papers?q=ti%3Azzzyzzx").await;
    assert_eq!(status, StatusCode::OK);
    assert!(none.contains("0 papers match ti:zzzyzzx."), "{none}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_with_a_mistake_is_shown_with_its_column_next_to_the_box() {
    let site = site_with_papers().await;
    for (q, column) in [("%28llm+AND", "column 9"), ("ti%3A", "column")] {
        let (status, body) = site.get(&format!("/papers?q={q}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{q}");
        assert!(body.contains(r#"<p class="error" id="q-error">"#), "{body}");
        assert!(body.contains(column), "{q}: {body}");
        assert!(body.contains(r#"aria-invalid="true""#));
        assert!(!body.contains("Subscribe to this search"));
    }
    // Too long and too deep: the parser's own errors.
    let long = "a+".repeat(3000);
    let (status, body) = site.get(&format!("/papers?q={long}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("q-error"));
    let deep = format!("{}a{}", "%28".repeat(200), "%29".repeat(200));
    let (status, body) = site.get(&format!("/papers?q={deep}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("q-error"));
    let (status, body) = site.get("/api/papers?q=%28llm+AND").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["parameter"], "q");
    assert_eq!(json["error"]["column"], 9);
    let (status, body) = site.get("/papers.atom?q=%28llm+AND").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("q parameter"));
}

/// `n` arXiv-only papers announced on `day`, titled "Paper N".
async fn store_many(site: &Site, day: &str, n: usize) {
    let papers: Vec<FetchedPaper> = (1..=n)
        .map(|i| {
            let id = format!("2606.{:05}", 50000 + i);
            FetchedPaper {
                paper: Paper::new(
                    PaperId::arxiv(&ArxivId::parse(&id).unwrap()),
                    &format!("Paper {i} on graphs"),
                    "An abstract about graphs.",
                    &format!("https://arxiv.org/abs/{id}"),
                ),
                day: day.parse().unwrap(),
                announce_type: None,
            }
        })
        .collect();
    site.app
        .store
        .store_fetched("rss", &papers, Utc::now())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lists_are_paged_and_a_page_past_the_end_says_so() {
    let site = Site::start().await;
    store_many(&site, "2026-06-12", 120).await;
    let (_, first) = site.get("/papers").await;
    assert!(first.contains("120 papers"));
    assert!(first.contains("Page 1 of 3"));
    assert!(
        first.contains(r#"<a href="/papers?date=2026-06-12&#38;page=2" rel="next">"#),
        "{first}"
    );
    assert!(!first.contains("rel=\"prev\""));
    // Unvoted papers by id: 1..50 on the first page.
    assert!(first.contains("Paper 50 on graphs"));
    assert!(!first.contains("Paper 51 on graphs"));
    let (_, third) = site.get("/papers?date=2026-06-12&page=3").await;
    assert!(third.contains("Page 3 of 3"));
    assert!(third.contains(r#"<ol class="papers" start="101">"#));
    assert!(third.contains("Paper 120 on graphs"));
    assert!(!third.contains("rel=\"next\""));
    let (status, past) = site.get("/papers?date=2026-06-12&page=4").await;
    assert_eq!(status, StatusCode::OK);
    assert!(past.contains("There is no page 4: the last is page 3."));
    assert!(
        past.contains(r#"<a href="/papers?date=2026-06-12&#38;page=3" rel="prev">"#),
        "{past}"
    );
    // A search is paged the same way, with the query kept in the links.
    let (_, search) = site.get("/papers?q=ti%3Agraphs&page=2").await;
    assert!(search.contains("120 papers match ti:graphs."));
    assert!(search.contains("page=3"));
    assert!(search.contains("q=ti%3Agraphs"));
    let api: serde_json::Value =
        serde_json::from_str(&site.get("/api/papers?page=3").await.1).unwrap();
    assert_eq!(api["total"], 120);
    assert_eq!(api["pages"], 3);
    assert_eq!(api["papers"].as_array().unwrap().len(), 20);
    // The store is empty before any fetch: an empty page, not an error.
    let empty = Site::start().await;
    let (status, body) = empty.get("/papers").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("No papers were announced"));
}

/// feedparser's reading of an Atom document: bozo flag, feed title, and
/// each entry's id, title, link, updated and author count, as JSON.
fn feedparser(xml: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.xml");
    std::fs::write(&path, xml).unwrap();
    let script = r#"
import json, sys, feedparser
d = feedparser.parse(sys.argv[1])
print(json.dumps({
    "bozo": int(d.bozo), "version": d.version, "title": d.feed.get("title"),
    "entries": [{"id": e.get("id"), "title": e.get("title"), "link": e.get("link"),
                 "updated": e.get("updated"), "authors": len(e.get("authors", [])),
                 "summary": e.get("summary"), "tags": [t.term for t in e.get("tags", [])]}
                for e in d.entries]}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python3 with feedparser (scripts/test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_atom_feed_is_valid_for_feedparser_with_stable_ids_and_conditional_get() {
    let site = site_with_papers().await;
    let r = site
        .http
        .get(site.url("/papers.atom?date=2026-06-12"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let h = r.headers().clone();
    assert_eq!(
        h[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    assert_eq!(h[header::CACHE_CONTROL], "public, max-age=300");
    let etag = h[header::ETAG].to_str().unwrap().to_string();
    let modified = h[header::LAST_MODIFIED].to_str().unwrap().to_string();
    let xml = r.text().await.unwrap();
    let feed = feedparser(&xml);
    assert_eq!(feed["bozo"], 0, "{xml}");
    assert_eq!(feed["version"], "atom10");
    let entries = feed["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 31);
    assert_eq!(
        entries[0]["id"],
        "tag:papers.example.org,2026:paper:2606.13681"
    );
    assert_eq!(entries[0]["link"], "https://arxiv.org/abs/2606.13681");
    assert!(entries[0]["title"]
        .as_str()
        .unwrap()
        .starts_with("EvoArena"));
    assert_eq!(entries[0]["authors"], 14);
    assert!(entries.iter().all(|e| e["updated"].is_string()));
    let hostile = entries
        .iter()
        .find(|e| e["id"].as_str().unwrap().ends_with("2606.99901"))
        .unwrap();
    assert_eq!(
        hostile["title"],
        "<script>alert('title')</script> Diffusion models & friends"
    );
    // The same papers found by a search keep their ids.
    let searched = feedparser(
        &site
            .get("/papers.atom?week=2026-W24&q=ti%3Aevoarena")
            .await
            .1,
    );
    assert_eq!(searched["bozo"], 0);
    assert_eq!(searched["entries"][0]["id"], entries[0]["id"]);
    assert!(searched["entries"][0]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Matched: ti:evoarena"));

    // Conditional GET: a current copy gets 304 with its validators.
    for (name, value) in [
        (header::IF_NONE_MATCH, etag.as_str()),
        (header::IF_MODIFIED_SINCE, modified.as_str()),
    ] {
        let r = site
            .http
            .get(site.url("/papers.atom?date=2026-06-12"))
            .header(name.clone(), value)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED, "{name}");
        assert_eq!(r.headers()[header::ETAG], etag.as_str());
        assert_eq!(r.headers()[header::CACHE_CONTROL], "public, max-age=300");
        assert!(r.text().await.unwrap().is_empty());
    }
    // A paper that changes changes the validators.
    sqlx::query("UPDATE papers SET upvotes = 500, updated_at = '2030-01-01T00:00:00.000Z' WHERE id = '2606.00467'")
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let r = site
        .http
        .get(site.url("/papers.atom?date=2026-06-12"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_ne!(r.headers()[header::ETAG], etag.as_str());
    assert_eq!(
        r.headers()[header::LAST_MODIFIED],
        "Tue, 01 Jan 2030 00:00:00 GMT"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_lists_the_same_papers_with_documented_fields() {
    let site = site_with_papers().await;
    let r = site
        .http
        .get(site.url("/api/papers?q=cat%3Acs.CL+OR+abs%3Adiffusion"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    assert!(r.headers().contains_key(header::ETAG));
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["from"], "2026-06-12");
    assert_eq!(json["to"], "2026-06-12");
    assert_eq!(json["q"], "cat:cs.CL OR abs:diffusion");
    assert_eq!(json["page"], 1);
    assert_eq!(json["page_size"], 50);
    let papers = json["papers"].as_array().unwrap();
    assert_eq!(json["total"], papers.len());
    assert!(!papers.is_empty());
    let votes: Vec<i64> = papers
        .iter()
        .map(|p| p["upvotes"].as_i64().unwrap_or(-1))
        .collect();
    assert!(votes.windows(2).all(|w| w[0] >= w[1]), "{votes:?}");
    for p in papers {
        assert!(!p["matched"].as_array().unwrap().is_empty());
        for field in [
            "id",
            "title",
            "authors",
            "categories",
            "upvotes",
            "abstract",
            "day",
            "updated",
            "url",
            "pdf_url",
            "code_url",
            "project_url",
            "hf_url",
            "matched",
        ] {
            assert!(p.get(field).is_some(), "no {field} in {p}");
        }
    }
    let all: serde_json::Value = serde_json::from_str(&site.get("/api/papers").await.1).unwrap();
    assert_eq!(all["total"], 31);
    assert_eq!(all["q"], serde_json::Value::Null);
    let first = &all["papers"][0];
    assert_eq!(first["id"], "2606.13681");
    assert_eq!(first["upvotes"], 118);
    assert_eq!(first["hf_url"], "https://huggingface.co/papers/2606.13681");
    assert_eq!(first["code_url"], "https://github.com/Aiden0526/EvoArena");
    let hostile = all["papers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "2606.99901")
        .unwrap();
    assert_eq!(
        hostile["code_url"],
        serde_json::Value::Null,
        "javascript: is no link"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_subscriber_asking_for_a_search_gets_a_settings_link_that_adds_it() {
    let site = site_with_papers().await;
    let (status, _) = site
        .post_form(
            "/subscribe",
            &[("email", "ada@example.org"), ("topics", "ti:evoarena")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let confirm = link_in(&site.mails(1).await[0], &format!("{PUBLIC}/confirm/"));
    let (status, _) = site.post_form(&path_of(&confirm), &[]).await;
    assert_eq!(status, StatusCode::OK);
    site.welcome(2, "ada@example.org").await;
    // Ten minutes between link mails: let the next one go now.
    sqlx::query("UPDATE subscribers SET last_link_mail_at = NULL")
        .execute(site.app.store.pool())
        .await
        .unwrap();

    // "Subscribe to this search" from the papers page, already subscribed.
    let (status, _) = site
        .post_form(
            "/subscribe",
            &[
                ("email", "ada@example.org"),
                ("topics", "abs:\"sparse attention\""),
                ("frequency", "daily"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mails = site.mails(3).await;
    let manage = link_in(&mails[2], &format!("{PUBLIC}/manage/"));
    assert!(
        manage.ends_with("?add=abs%3A%22sparse+attention%22"),
        "{manage}"
    );
    let (status, page) = site.get(&path_of(&manage)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Added to your topics below"), "{page}");
    assert!(
        page.contains("ti:evoarena\nabs:&#34;sparse attention&#34;</textarea>"),
        "{page}"
    );
    // Nothing is saved until Save.
    assert_eq!(site.subscriber("ada@example.org").await.topics.len(), 1);
    // A topic already there, or a query that does not parse, is not added.
    let token_path = path_of(manage.split('?').next().unwrap());
    let (_, again) = site
        .get(&format!("{token_path}?add=ti%3Aevoarena&add=%28broken"))
        .await;
    assert!(!again.contains("Added to your topics"));
    assert!(again.contains(">ti:evoarena</textarea>"));
    let (status, _) = site
        .post_form(
            &token_path,
            &[
                ("action", "save"),
                ("topics", "ti:evoarena\nabs:\"sparse attention\""),
                ("frequency", "daily"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let topics: Vec<String> = site
        .subscriber("ada@example.org")
        .await
        .topics
        .into_iter()
        .map(|t| t.query)
        .collect();
    assert_eq!(topics, ["ti:evoarena", "abs:\"sparse attention\""]);
}

/// The recorded papers fetched and announced today, and `email`
/// subscribed to `topics` with the CLI.
async fn subscribed_site(
    edit: impl FnOnce(String) -> String,
    email: &str,
    topics: &[&str],
) -> (Site, String) {
    let site = Site::with_config(edit).await;
    site.env.ok(&["fetch", "--date", HF_DAY]);
    let today = site.app.today(Utc::now()).to_string();
    sqlx::query("UPDATE paper_sightings SET day = ?")
        .bind(&today)
        .execute(site.app.store.pool())
        .await
        .unwrap();
    let mut args = vec!["subscribers", "add", email];
    for t in topics {
        args.push("--topic");
        args.push(t);
    }
    site.env.ok(&args);
    (site, today)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_digest_links_to_itself_as_a_page_which_also_lists_what_the_cap_left_out() {
    let (site, today) = subscribed_site(
        |toml| toml.replace("[digest]\n", "[digest]\nmax_papers = 3\n"),
        "ada@example.org",
        &["abs:agent", "ti:diffusion"],
    )
    .await;
    site.env.ok(&["digest", "--date", &today]);
    let mail = site.mails(1).await.remove(0);
    let text = crate::support::text_part(&mail.parsed()).unwrap();
    let view = link_in(&mail, &format!("{PUBLIC}/digest/"));
    assert!(view.ends_with(&format!("/{today}")), "{view}");
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        flat.contains(&format!("See them all in your browser: {view}")),
        "{text}"
    );
    let html = crate::support::html_part(&mail.parsed()).unwrap();
    assert!(html.contains("View in your browser</a>"));

    let (status, page) = site.get(&path_of(&view)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<h1>Your digest of "), "{page}");
    assert!(
        page.contains(r#"<h2 class="topic">abs:agent</h2>"#),
        "{page}"
    );
    assert!(page.matches("Matched: <b>").count() >= 3, "{page}");
    // The papers the cap left out, as many as the mail said.
    let more: usize = text
        .split("...and ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        page.contains(&format!("{more} more matching paper")),
        "{page}"
    );
    assert_eq!(
        page.matches(r#"<li class="paper">"#).count(),
        3 + more,
        "{page}"
    );
    // A tampered token, a wrong date, another purpose: refused.
    let token = view
        .split("/digest/")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    let (status, _) = site.get(&format!("/digest/{token}/2001-01-01")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = site.get(&format!("/digest/{token}/yesterday")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("date parameter"));
    let manage = link_in(&mail, &format!("{PUBLIC}/manage/"));
    let manage_token = manage.rsplit('/').next().unwrap();
    let (status, _) = site.get(&format!("/digest/{manage_token}/{today}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Revoking every link ends this one too.
    let (status, _) = site
        .post_form(&path_of(&manage), &[("action", "new_link")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = site.get(&path_of(&view)).await;
    assert_eq!(status, StatusCode::GONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_personal_feed_lists_a_subscribers_matches_and_is_revoked_with_their_links() {
    let (site, _today) = subscribed_site(
        |t| t,
        "ada@example.org",
        &["ti:evoarena", "ti:\"sparse attention\""],
    )
    .await;
    // The settings page links to the feed.
    let ada = site.subscriber("ada@example.org").await;
    let signer = paperboy::links::LinkSigner::new(
        paperboy::links::SigningKeys::load(site.env.dir.path().join("signing.key")).unwrap(),
    );
    let manage = signer
        .url(
            &PUBLIC.parse().unwrap(),
            paperboy::links::Purpose::Manage,
            ada.id,
            ada.link_version,
            Utc::now() + chrono::Duration::days(1),
        )
        .to_string();
    let (_, page) = site.get(&path_of(&manage)).await;
    let feed = page
        .split(&format!(r#"<a href="{PUBLIC}/feed/"#))
        .nth(1)
        .and_then(|t| t.split('"').next())
        .map(|token| format!("/feed/{token}"))
        .unwrap_or_else(|| panic!("no feed link in {page}"));
    let r = site.http.get(site.url(&feed)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    let parsed = feedparser(&r.text().await.unwrap());
    assert_eq!(parsed["bozo"], 0);
    let titles: Vec<&str> = parsed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles[0].starts_with("EvoArena"));
    assert_eq!(titles[1], "MiniMax Sparse Attention");
    assert!(parsed["entries"][1]["summary"]
        .as_str()
        .unwrap()
        .starts_with("Matched: ti:\"sparse attention\""));
    // Another purpose's token is no feed; revoked links end it.
    let manage_token = manage.rsplit('/').next().unwrap();
    let (status, _) = site.get(&format!("/feed/{manage_token}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = site
        .post_form(&path_of(&manage), &[("action", "new_link")])
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = site.get(&feed).await;
    assert_eq!(status, StatusCode::GONE);
}

//! The arXiv export API (`kind = "arxiv_api"`), Atom responses.
//!
//! Accepts both the classic format (namespaces declared inline, hard-wrapped
//! text, `http://` links) and the late-2025 one (namespaces on the root,
//! `https://` links, different element order): fields are found by local
//! name, never by position.
//!
//! A day's query is the operator's `search_query` ANDed with a
//! `submittedDate` window that mirrors arXiv's announcement schedule: the
//! digest day D is the UTC date on which an announcement appears (20:00
//! US-Eastern on D-1), and its window is the submissions between two 14:00
//! US-Eastern cut-offs on consecutive working days (Thursday to Friday for
//! Sunday's announcement, Friday to Monday for Monday's), converted to UTC
//! with the New York timezone so daylight saving is followed. arXiv does not
//! announce on Friday or Saturday evenings, so digest days Saturday and
//! Sunday have no window and cost no request. Holidays are not modelled: on
//! a holiday the API has nothing yet for the window, which is then announced
//! the next day. Results are sorted by submission date, descending,
//! and paged with `start`/`max_results`; an empty page before the reported
//! total is retried once (the API sometimes returns one under load).
//!
//! The API's error feed (an entry titled `Error`, sent with HTTP 400)
//! becomes an error quoting arXiv's message. Parsing does no I/O.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::America::New_York;
use regex::Regex;
use url::Url;

use super::normalise_inline;
use super::xml::{parse_document, Element};
use super::{http, FetchReport, ItemError, ParseError, Parsed, Source, SourceError};
use crate::domain::{ArxivId, FetchedPaper, Paper, PaperId};

/// One page of API results.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiPage {
    /// `opensearch:totalResults`; `None` when the feed omits it.
    pub total_results: Option<u64>,
    pub start_index: Option<u64>,
    pub entries: Parsed,
}

/// Parses an API response into papers of `day`.
pub fn parse(body: &[u8], day: NaiveDate) -> Result<Vec<FetchedPaper>, ParseError> {
    parse_page(body, day).map(|p| p.entries.papers)
}

/// Parses an API response, keeping paging counters and skipped entries.
pub fn parse_page(body: &[u8], day: NaiveDate) -> Result<ApiPage, ParseError> {
    let root = parse_document(body)?;
    if root.name != "feed" {
        return Err(ParseError::Structure(format!(
            "expected an Atom <feed>, found <{}>",
            root.name
        )));
    }
    if let Some(message) = error_entry(&root) {
        return Err(ParseError::ArxivApi(message));
    }
    let counter = |name: &str| -> Result<Option<u64>, ParseError> {
        match root.child_text(name) {
            None => Ok(None),
            Some(t) => t.parse().map(Some).map_err(|_| {
                ParseError::Structure(format!("opensearch:{name} is not a number: {t:?}"))
            }),
        }
    };
    let total_results = counter("totalResults")?;
    let start_index = counter("startIndex")?;
    let mut entries = Parsed::default();
    for (index, entry) in root.children_named("entry").enumerate() {
        match parse_entry(entry, day) {
            Ok(p) => entries.papers.push(p),
            Err(reason) => entries.skipped.push(ItemError { index, reason }),
        }
    }
    Ok(ApiPage {
        total_results,
        start_index,
        entries: entries.into_result()?,
    })
}

/// arXiv's explanation from an error feed, if `body` is one.
pub fn error_message(body: &[u8]) -> Option<String> {
    let root = parse_document(body).ok()?;
    (root.name == "feed").then(|| error_entry(&root)).flatten()
}

fn error_entry(root: &Element) -> Option<String> {
    let entry = root.children_named("entry").find(|e| {
        e.child_text("title") == Some("Error")
            && e.child_text("id")
                .is_some_and(|id| id.contains("/api/errors"))
    })?;
    Some(
        entry
            .child_text("summary")
            .map(normalise_inline)
            .unwrap_or_else(|| "unspecified error".into()),
    )
}

static GITHUB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"https?://(?:www\.)?github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
        .expect("valid regex")
});
static PROJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)project\s*(?:page|website|site|homepage)?\s*(?:is\s+)?(?:at|:)?\s*(https?://\S+)",
    )
    .expect("valid regex")
});
static GITHUB_IO: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"https?://[A-Za-z0-9-]+\.github\.io\S*").expect("valid regex"));

fn trim_link(s: &str) -> String {
    s.trim_end_matches(['.', ',', ';', ':', ')', ']', '}', '"', '\''])
        .to_string()
}

/// Code and project links an author put in the arXiv comment.
fn comment_links(comment: &str) -> (Option<String>, Option<String>) {
    let github = GITHUB.find(comment).map(|m| trim_link(m.as_str()));
    let project = PROJECT
        .captures(comment)
        .map(|c| trim_link(&c[1]))
        .or_else(|| GITHUB_IO.find(comment).map(|m| trim_link(m.as_str())))
        .filter(|p| Some(p) != github.as_ref());
    (github, project)
}

fn parse_entry(entry: &Element, day: NaiveDate) -> Result<FetchedPaper, String> {
    let raw_id = entry.child_text("id").ok_or("missing <id>")?;
    let (arxiv, version) = ArxivId::from_url(raw_id)
        .or_else(|| ArxivId::parse_versioned(raw_id).ok())
        .ok_or_else(|| format!("<id> {raw_id:?} is not an arXiv abstract URL"))?;
    // The API once omitted <title> for the paper literally titled "0"; an
    // absent title is an empty one, not a reason to lose the paper.
    let title = entry.child("title").map(|t| t.text.as_str()).unwrap_or("");
    let summary = entry
        .child("summary")
        .map(|s| s.text.as_str())
        .unwrap_or("");
    let mut p = Paper::new(PaperId::arxiv(&arxiv), title, summary, &arxiv.abs_url());
    p.version = version;
    p.authors = entry
        .children_named("author")
        .filter_map(|a| a.child_text("name"))
        .map(normalise_inline)
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(primary) = entry.child("primary_category").and_then(|c| c.attr("term")) {
        p.categories.push(primary.trim().to_string());
    }
    for c in entry
        .children_named("category")
        .filter_map(|c| c.attr("term"))
    {
        let c = c.trim().to_string();
        if !c.is_empty() && !p.categories.contains(&c) {
            p.categories.push(c);
        }
    }
    p.pdf_url = entry
        .children_named("link")
        .find(|l| {
            l.attr("title") == Some("pdf")
                || l.attr("type") == Some("application/pdf")
                || l.attr("href").is_some_and(|h| h.contains("/pdf/"))
        })
        .and_then(|l| l.attr("href"))
        .map(|h| h.replacen("http://", "https://", 1));
    p.doi = entry.child_text("doi").map(str::to_string);
    p.journal_ref = entry.child_text("journal_ref").map(normalise_inline);
    p.comment = entry.child_text("comment").map(normalise_inline);
    if let Some(comment) = &p.comment {
        let (github, project) = comment_links(comment);
        p.github_repo = github;
        p.project_page = project;
    }
    p.published_at = entry
        .child_text("published")
        .and_then(|d| DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&Utc));
    Ok(FetchedPaper {
        paper: p,
        day,
        announce_type: None,
    })
}

/// The `submittedDate` window of digest day `day` as arXiv's inclusive
/// `YYYYMMDDHHMM` UTC bounds (the end stops a minute short of the next
/// window's start), or `None` when arXiv announces nothing for that day.
pub fn submitted_window(day: NaiveDate) -> Option<(String, String)> {
    let announced = day - Days::new(1);
    let end_day = match announced.weekday() {
        Weekday::Fri | Weekday::Sat => return None,
        Weekday::Sun => announced - Days::new(2),
        _ => announced,
    };
    let start_day = match end_day.weekday() {
        Weekday::Mon => end_day - Days::new(3),
        _ => end_day - Days::new(1),
    };
    let end = eastern_cutoff(end_day);
    let last = end - chrono::Duration::minutes(1);
    Some((
        eastern_cutoff(start_day).format("%Y%m%d%H%M").to_string(),
        last.format("%Y%m%d%H%M").to_string(),
    ))
}

/// 14:00 US-Eastern on `day`, in UTC: arXiv's daily submission cut-off.
fn eastern_cutoff(day: NaiveDate) -> DateTime<Utc> {
    let local = day.and_time(NaiveTime::from_hms_opt(14, 0, 0).expect("valid time"));
    // 14:00 is never inside a DST transition (those happen at 02:00).
    New_York
        .from_local_datetime(&local)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| local.and_utc() + chrono::Duration::hours(5))
}

/// The full query string sent for `day`, or `None` on a day without an
/// announcement.
pub fn day_query(search_query: &str, day: NaiveDate) -> Option<String> {
    let (from, to) = submitted_window(day)?;
    Some(format!(
        "({}) AND submittedDate:[{from} TO {to}]",
        search_query.trim()
    ))
}

/// The URL of one page of the day's results.
pub fn page_url(base: &Url, query: &str, start: u32, size: u32) -> Url {
    let mut url = base.clone();
    url.query_pairs_mut()
        .append_pair("search_query", query)
        .append_pair("sortBy", "submittedDate")
        .append_pair("sortOrder", "descending")
        .append_pair("start", &start.to_string())
        .append_pair("max_results", &size.to_string());
    url
}

/// Looks single papers up by id on the arXiv API (`id_list=`), for a
/// `like:ID` topic naming a paper paperboy has not stored. Shares the
/// process's client, so arXiv's politeness gate (one request at a time,
/// [`super::SourceConfig`]'s arXiv spacing) holds across the sources and
/// the lookups.
#[derive(Debug, Clone)]
pub struct ArxivLookup {
    http: http::Http,
    url: Url,
    policy: http::RequestPolicy,
}

/// The name lookups go by in errors and logs.
const LOOKUP_NAME: &str = "arxiv-lookup";

impl ArxivLookup {
    /// Lookups at `url` (the API endpoint) with arXiv's politeness rules.
    pub fn new(http: &http::Http, url: Url) -> ArxivLookup {
        ArxivLookup {
            http: http.clone(),
            url,
            policy: http::RequestPolicy {
                timeout: std::time::Duration::from_secs(super::DEFAULT_TIMEOUT_SECS),
                retries: super::DEFAULT_RETRIES,
                min_interval: std::time::Duration::from_millis(super::ARXIV_MIN_INTERVAL_MS),
            },
        }
    }

    /// The URL asking for paper `id`.
    pub fn url_for(&self, id: &ArxivId) -> Url {
        let mut url = self.url.clone();
        url.query_pairs_mut()
            .append_pair("id_list", id.as_str())
            .append_pair("max_results", "1");
        url
    }

    /// Paper `id` as arXiv has it now, or `None` when arXiv has no such
    /// paper (an empty feed). `day` is only what the parsed paper is
    /// labelled with; nothing here stores it.
    pub async fn paper(&self, id: &ArxivId, day: NaiveDate) -> Result<Option<Paper>, SourceError> {
        let url = self.url_for(id);
        let (outcome, _) = self
            .http
            .get(&url, None, &self.policy)
            .await
            .map_err(|e| SourceError::from_http(LOOKUP_NAME, &url, e))?;
        let http::Outcome::Body { body, .. } = outcome else {
            return Err(SourceError::malformed(
                LOOKUP_NAME,
                &url,
                ParseError::Structure("unexpected 304 Not Modified".into()),
            ));
        };
        let page = parse_page(&body, day).map_err(|e| match e {
            ParseError::ArxivApi(message) => SourceError::Upstream {
                source_name: LOOKUP_NAME.into(),
                url: url.to_string(),
                message,
            },
            e => SourceError::malformed(LOOKUP_NAME, &url, e),
        })?;
        Ok(page
            .entries
            .papers
            .into_iter()
            .map(|f| f.paper)
            .find(|p| p.id.as_str() == id.as_str()))
    }
}

pub(super) async fn fetch_day(
    source: &Source,
    base: &Url,
    search_query: &str,
    page_size: u32,
    max_results: u32,
    day: NaiveDate,
) -> Result<FetchReport, SourceError> {
    let mut report = FetchReport::default();
    let Some(query) = day_query(search_query, day) else {
        tracing::info!(source.name = %source.name, digest.date = %day, "arXiv announces nothing for this day; not queried");
        return Ok(report);
    };
    let mut start = 0u32;
    let mut empty_retried = false;
    while start < max_results {
        let size = page_size.min(max_results.saturating_sub(start));
        let url = page_url(base, &query, start, size);
        let (outcome, requests) = source
            .http
            .get(&url, None, &source.policy)
            .await
            .map_err(|e| SourceError::from_http(&source.name, &url, e))?;
        report.requests += requests;
        let http::Outcome::Body { body, .. } = outcome else {
            // No validators are sent, so a 304 means a broken upstream.
            return Err(SourceError::malformed(
                &source.name,
                &url,
                ParseError::Structure("unexpected 304 Not Modified".into()),
            ));
        };
        let page = parse_page(&body, day).map_err(|e| match e {
            ParseError::ArxivApi(message) => SourceError::Upstream {
                source_name: source.name.clone(),
                url: url.to_string(),
                message,
            },
            e => SourceError::malformed(&source.name, &url, e),
        })?;
        let got = (page.entries.papers.len() + page.entries.skipped.len()) as u32;
        // An empty page where results were promised (or a feed without its
        // counters) is arXiv under load, not the end of the results.
        let suspicious = got == 0
            && match page.total_results {
                Some(total) => u64::from(start) < total,
                None => true,
            };
        if suspicious {
            if empty_retried {
                return Err(SourceError::malformed(
                    &source.name,
                    &url,
                    ParseError::Structure(format!(
                        "page at start={start} was empty twice although {} results were reported",
                        page.total_results
                            .map_or("an unknown number of".to_string(), |t| t.to_string())
                    )),
                ));
            }
            empty_retried = true;
            continue;
        }
        empty_retried = false;
        report.skipped.extend(
            page.entries
                .skipped
                .iter()
                .map(|s| format!("start={start}: {s}")),
        );
        report.papers.extend(page.entries.papers);
        start += got;
        let more = match page.total_results {
            Some(total) => u64::from(start) < total,
            None => got >= size,
        };
        if got == 0 || !more {
            break;
        }
    }
    if report.papers.len() as u64 >= u64::from(max_results) {
        tracing::warn!(source.name = %source.name, papers.count = report.papers.len(), "arXiv query hit max_results; the day may be incomplete");
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/", $name)).as_slice()
        };
    }
    const CLASSIC_ONE: &[u8] = fixture!("arxiv_api_2016_classic_id_list_1111.2011v2.xml");
    const CLASSIC_TEN: &[u8] =
        fixture!("arxiv_api_2016_classic_search_au-del_maestro_10results.xml");
    const CURRENT_FIVE: &[u8] =
        fixture!("arxiv_api_2026-06_search_all-transformer_AND_cat-cs.LG_5results.xml");
    const CURRENT_TEN: &[u8] =
        fixture!("arxiv_api_2026-04_search_testing_10results_doi_journal_ref.xml");
    const TITLE_ZERO: &[u8] = fixture!("arxiv_api_2026-04_id_list_2104.12255v1_title_is_0.xml");
    const OLD_STYLE: &[u8] = fixture!(
        "arxiv_api_2026-05_id_list_astro-ph_0601001_old_style_id_affiliation_journal_ref.xml"
    );
    const ERROR: &[u8] = fixture!("arxiv_api_2026-04_error_http400_id_list_abc.xml");
    const EMPTY: &[u8] = fixture!("arxiv_api_2026-04_empty_totalResults0_id_list_0808.05394.xml");

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_classic_format_yields_doi_journal_ref_version_and_unwrapped_text() {
        let page = parse_page(CLASSIC_ONE, d("2026-06-12")).unwrap();
        assert_eq!(page.total_results, Some(1));
        let p = &page.entries.papers[0].paper;
        assert_eq!(p.id.as_str(), "1111.2011");
        assert_eq!(p.version, Some(2));
        assert_eq!(
            p.title,
            "Quantum Criticality for Extended Nodes on a Bethe Lattice in the Large Connectivity Limit"
        );
        assert!(p
            .abstract_text
            .starts_with("Theoretical description of anisotropic systems"));
        assert!(!p.abstract_text.contains('\n'));
        assert_eq!(p.doi.as_deref(), Some("10.1103/PhysRevB.85.115117"));
        assert_eq!(
            p.journal_ref.as_deref(),
            Some("Phys. Rev. B 85, 115117 (2012)")
        );
        assert_eq!(
            p.comment.as_deref(),
            Some("8 pages, 3 figures. Published version")
        );
        assert_eq!(p.categories, vec!["cond-mat.str-el", "cond-mat.stat-mech"]);
        assert_eq!(
            p.authors,
            vec!["James M. Murray", "Adrian Del Maestro", "Zlatko Tesanovic"]
        );
        assert_eq!(p.url, "https://arxiv.org/abs/1111.2011");
        assert_eq!(
            p.pdf_url.as_deref(),
            Some("https://arxiv.org/pdf/1111.2011v2")
        );
        assert_eq!(
            p.published_at.unwrap().to_rfc3339(),
            "2011-11-08T18:48:36+00:00"
        );
    }

    #[test]
    fn classic_search_results_include_old_style_ids() {
        let papers = parse(CLASSIC_TEN, d("2026-06-12")).unwrap();
        assert_eq!(papers.len(), 10);
        assert!(papers
            .iter()
            .any(|p| p.paper.id.as_str() == "cond-mat/0412498"));
        assert!(papers
            .iter()
            .all(|p| !p.paper.title.is_empty() && !p.paper.authors.is_empty()));
    }

    #[test]
    fn the_current_format_puts_the_primary_category_first_and_finds_project_links() {
        let papers = parse(CURRENT_FIVE, d("2026-06-12")).unwrap();
        assert_eq!(papers.len(), 5);
        let mana = &papers[0].paper;
        assert_eq!(mana.id.as_str(), "2606.13677");
        assert_eq!(mana.version, Some(1));
        assert_eq!(
            mana.title,
            "Mana: Dexterous Manipulation of Articulated Tools"
        );
        assert_eq!(mana.categories[0], "cs.RO");
        assert!(mana.categories.contains(&"cs.LG".to_string()));
        assert_eq!(
            mana.project_page.as_deref(),
            Some("https://zhaohengyin.github.io/mana")
        );
        assert!(papers.iter().all(|p| p.day == d("2026-06-12")));
        // Paragraph breaks of the current format survive as newlines.
        assert!(papers.iter().any(|p| p.paper.abstract_text.contains('\n')));
    }

    #[test]
    fn current_results_carry_doi_and_journal_ref() {
        let papers = parse(CURRENT_TEN, d("2026-06-12")).unwrap();
        assert_eq!(papers.len(), 10);
        assert!(papers
            .iter()
            .any(|p| p.paper.doi.as_deref() == Some("10.1109/ICSTW55395.2022.00035")));
        assert!(papers.iter().any(|p| p.paper.journal_ref.is_some()));
    }

    #[test]
    fn a_paper_titled_0_keeps_its_title_and_literal_dollar() {
        let papers = parse(TITLE_ZERO, d("2026-06-12")).unwrap();
        let p = &papers[0].paper;
        assert_eq!(p.title, "0");
        assert!(p.abstract_text.contains("$35,000 in total"));
        assert_eq!(p.categories, vec!["cs.CR"]);
    }

    #[test]
    fn old_style_ids_decode_entities_once_and_drop_leading_space() {
        let papers = parse(OLD_STYLE, d("2026-06-12")).unwrap();
        let p = &papers[0].paper;
        assert_eq!(p.id.as_str(), "astro-ph/0601001");
        assert_eq!(p.version, Some(1));
        assert!(p.abstract_text.starts_with("We derive the frequencies"));
        assert!(p.abstract_text.contains("Gould & Morgan (2003)"));
        assert!(p.abstract_text.contains("V_max<17.5"));
        assert_eq!(p.journal_ref.as_deref(), Some("ActaAstron.56:1-50,2006"));
        assert_eq!(p.authors[0], "Andrew Gould");
        assert_eq!(p.categories, vec!["astro-ph"]);
    }

    #[test]
    fn the_error_feed_becomes_an_error_quoting_arxiv() {
        let err = parse(ERROR, d("2026-06-12")).unwrap_err();
        assert_eq!(
            err,
            ParseError::ArxivApi("incorrect id format for abc".into())
        );
        assert_eq!(
            error_message(ERROR).as_deref(),
            Some("incorrect id format for abc")
        );
        assert_eq!(error_message(CLASSIC_ONE), None);
    }

    #[test]
    fn zero_total_results_is_an_empty_day() {
        let page = parse_page(EMPTY, d("2026-06-12")).unwrap();
        assert_eq!(page.total_results, Some(0));
        assert!(page.entries.papers.is_empty());
    }

    #[test]
    fn truncated_and_foreign_payloads_are_rejected_with_the_reason() {
        let err = parse(&CURRENT_FIVE[..CURRENT_FIVE.len() - 40], d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = parse(b"<rss version=\"2.0\"><channel/></rss>", d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("expected an Atom <feed>"), "{err}");
    }

    #[test]
    fn comment_links_find_code_and_project_pages() {
        let (gh, pp) = comment_links(
            "Accepted at X. Code: https://github.com/org/repo. Project page: https://org.github.io/p/",
        );
        assert_eq!(gh.as_deref(), Some("https://github.com/org/repo"));
        assert_eq!(pp.as_deref(), Some("https://org.github.io/p/"));
        assert_eq!(comment_links("12 pages, 3 figures"), (None, None));
    }

    #[test]
    fn a_weekday_window_runs_between_the_two_previous_eastern_cut_offs() {
        // Friday 2026-06-12 UTC: Thursday evening's announcement, 14:00 EDT = 18:00 UTC.
        assert_eq!(
            submitted_window(d("2026-06-12")),
            Some(("202606101800".to_string(), "202606111759".to_string()))
        );
        // In winter 14:00 EST is 19:00 UTC.
        assert_eq!(
            submitted_window(d("2026-01-15")),
            Some(("202601131900".to_string(), "202601141859".to_string()))
        );
    }

    #[test]
    fn monday_announces_thursday_to_friday_and_tuesday_the_weekend() {
        assert_eq!(
            day_query("cat:cs.LG", d("2026-03-02")).as_deref(),
            Some("(cat:cs.LG) AND submittedDate:[202602261900 TO 202602271859]")
        );
        assert_eq!(
            submitted_window(d("2026-03-03")),
            Some(("202602271900".to_string(), "202603021859".to_string()))
        );
    }

    #[test]
    fn saturday_and_sunday_have_no_announcement() {
        assert_eq!(submitted_window(d("2026-02-28")), None);
        assert_eq!(submitted_window(d("2026-03-01")), None);
    }

    #[test]
    fn the_window_follows_daylight_saving_across_the_switch() {
        // DST starts Sunday 2026-03-08: Friday 03-06 is EST, Monday 03-09 EDT.
        assert_eq!(
            submitted_window(d("2026-03-10")),
            Some(("202603061900".to_string(), "202603091759".to_string()))
        );
    }

    proptest::proptest! {
        #[test]
        fn consecutive_windows_tile_time_without_gaps_or_overlaps(offset in 0i64..3650) {
            // Every announcement window starts exactly where the previous one ended.
            let day = d("2024-01-01") + chrono::Duration::days(offset);
            if let Some((from, _)) = submitted_window(day) {
                let mut prev = day - Days::new(1);
                let previous = loop {
                    if let Some(w) = submitted_window(prev) { break w; }
                    prev = prev - Days::new(1);
                };
                let end = chrono::NaiveDateTime::parse_from_str(&previous.1, "%Y%m%d%H%M").unwrap();
                let start = chrono::NaiveDateTime::parse_from_str(&from, "%Y%m%d%H%M").unwrap();
                proptest::prop_assert_eq!(end + chrono::Duration::minutes(1), start);
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes, d("2026-06-12"));
        }

        #[test]
        fn parsing_never_panics_on_a_cut_or_mutated_fixture(cut in 0usize..CURRENT_FIVE.len(), pos in 0usize..CLASSIC_ONE.len(), byte in proptest::num::u8::ANY) {
            let _ = parse(&CURRENT_FIVE[..cut], d("2026-06-12"));
            let mut m = CLASSIC_ONE.to_vec();
            m[pos] = byte;
            let _ = parse(&m, d("2026-06-12"));
        }
    }
}

//! bioRxiv and medRxiv (`kind = "biorxiv"`, `server = "biorxiv"` or
//! `"medrxiv"`), read from the public details API:
//! `{url}/{server}/{from}/{to}/{cursor}` answers JSON, 100 records a page,
//! `{"messages": [{"status": "ok", "cursor", "count", "total", ...}],
//! "collection": [{"doi", "title", "authors": "A; B; C", "date",
//! "version", "type", "category", "abstract", "published", "server", ...}]}`
//! (counters are numbers or strings; an empty window says `"no posts
//! found"`). Where the shape comes from: `tests/fixtures/SOURCES.md`.
//!
//! A day's papers are the records dated that day (`from` = `to` = the
//! day). Each record is one version of a preprint: the paper is keyed by its
//! DOI without version, so a new version is the same paper (versions met in
//! one fetch are merged, later versions' text winning, as arXiv's are), and a
//! preprint later published in a journal keeps its key (the journal DOI
//! goes to `journal_ref`). `category` (`neuroscience`, `cell biology`) is the
//! paper's category, matched by `cat:`.
//!
//! The API has been seen to misbehave, so paging trusts nothing it says:
//! pages are requested by cursor until one is empty or short, adds no
//! record not already seen (a repeated page), or the reported total is
//! reached, and at most [`MAX_PAGES`]; a record dated outside the requested
//! day (the server comparing dates as text) is skipped and reported, never
//! filed under a wrong day. Parsing does no I/O.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde_json::Value;
use url::Url;

use super::{html, normalise_inline};
use super::{FetchReport, ItemError, ParseError, Parsed, Source, SourceError};
use crate::domain::{FetchedPaper, Paper, PaperId};

/// Default base of the details API.
pub const DEFAULT_URL: &str = "https://api.biorxiv.org/details";
/// Records per page, fixed by the API.
pub const PAGE_SIZE: usize = 100;
/// Pages fetched for one day at most (a busy bioRxiv day is a few hundred
/// records).
pub const MAX_PAGES: usize = 50;

/// Which preprint server a source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Biorxiv,
    Medrxiv,
}

impl Server {
    /// Reads the config value (`biorxiv`, `medrxiv`, any case).
    pub fn parse(s: &str) -> Option<Server> {
        match s.trim().to_ascii_lowercase().as_str() {
            "biorxiv" => Some(Server::Biorxiv),
            "medrxiv" => Some(Server::Medrxiv),
            _ => None,
        }
    }

    /// The path segment the API expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Server::Biorxiv => "biorxiv",
            Server::Medrxiv => "medrxiv",
        }
    }

    fn site(self) -> &'static str {
        match self {
            Server::Biorxiv => "https://www.biorxiv.org",
            Server::Medrxiv => "https://www.medrxiv.org",
        }
    }
}

/// One page of the details API.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    /// `messages[0].status` (`ok`, `no posts found`, ...).
    pub status: String,
    /// `messages[0].total`, when it is a number.
    pub total: Option<u64>,
    /// Records on the page, good or bad.
    pub records: usize,
    pub entries: Parsed,
    /// `(doi, version)` of every good record, to tell a repeated page.
    pub keys: Vec<(String, u32)>,
}

/// The URL of one page.
pub fn page_url(base: &Url, server: Server, from: NaiveDate, to: NaiveDate, cursor: usize) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .push(server.as_str())
            .push(&from.to_string())
            .push(&to.to_string())
            .push(&cursor.to_string());
    }
    url
}

/// Parses one page; records dated outside `from..=to` are skipped.
pub fn parse_page(
    body: &[u8],
    server: Server,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Page, ParseError> {
    let value = ParseError::json(body)?;
    let Value::Object(root) = value else {
        return Err(ParseError::Structure(
            "expected a JSON object with `messages` and `collection`".into(),
        ));
    };
    let message = root
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.first())
        .and_then(Value::as_object);
    let status = message
        .and_then(|m| m.get("status"))
        .and_then(Value::as_str)
        .map(normalise_inline)
        .unwrap_or_default();
    let total = message.and_then(|m| m.get("total")).and_then(number);
    let records = match root.get("collection") {
        Some(Value::Array(items)) => items.as_slice(),
        None | Some(Value::Null) => &[],
        Some(_) => {
            return Err(ParseError::Structure(
                "`collection` is not a list of records".into(),
            ))
        }
    };
    if records.is_empty() && !status.is_empty() && status != "ok" && !status.contains("no posts") {
        return Err(ParseError::Structure(format!(
            "the API answered status {:?}",
            super::charset::printable(&status)
        )));
    }
    let mut page = Page {
        status,
        total,
        records: records.len(),
        ..Page::default()
    };
    for (index, record) in records.iter().enumerate() {
        match parse_record(record, server, from, to) {
            Ok((paper, key, date_unreadable)) => {
                if let Some(raw) = date_unreadable {
                    page.entries.unreadable_dates.push(ItemError {
                        index,
                        reason: format!("unreadable date {raw:?}"),
                    });
                }
                page.keys.push(key);
                page.entries.papers.push(paper);
            }
            Err(reason) => page.entries.skipped.push(ItemError { index, reason }),
        }
    }
    Ok(page)
}

/// A JSON number, or a string holding one.
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn text<'a>(record: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    record
        .get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// A record's date: `YYYY-MM-DD`, padded or not, possibly with a time after.
fn record_date(s: &str) -> Option<NaiveDate> {
    let day_part = s.trim().split(['T', ' ']).next()?;
    let mut parts = day_part.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 {
        return None;
    }
    NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)
}

type Record = (FetchedPaper, (String, u32), Option<String>);

fn parse_record(
    record: &Value,
    server: Server,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Record, String> {
    let record = record.as_object().ok_or("a record is not a JSON object")?;
    let doi = text(record, "doi")
        .ok_or("missing doi")?
        .trim_start_matches("https://doi.org/")
        .to_ascii_lowercase();
    if !doi.starts_with("10.") {
        return Err(format!(
            "doi {:?} is not a DOI",
            super::charset::printable(&doi)
        ));
    }
    let title = text(record, "title")
        .map(html::to_text)
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| format!("{doi}: missing title"))?;
    let version = record
        .get("version")
        .and_then(number)
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(1);
    let raw_date = text(record, "date");
    let date = raw_date.and_then(record_date);
    if let Some(d) = date {
        if d < from || d > to {
            return Err(format!(
                "{doi}v{version}: dated {d}, outside the requested {from}..{to}"
            ));
        }
    }
    let day = date.unwrap_or(from);
    let site = match text(record, "server")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("medrxiv") => Server::Medrxiv.site(),
        Some("biorxiv") => Server::Biorxiv.site(),
        _ => server.site(),
    };
    let url = format!("{site}/content/{doi}v{version}");
    let abstract_text = text(record, "abstract")
        .map(html::to_text)
        .unwrap_or_default();
    let id = PaperId::from_feed_item(None, Some(&format!("https://doi.org/{doi}")))
        .ok_or_else(|| format!("{doi}: no usable id"))?;
    let mut p = Paper::new(id, &title, "", &url);
    p.abstract_text = abstract_text
        .lines()
        .map(normalise_inline)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    p.version = Some(version);
    p.pdf_url = Some(format!("{url}.full.pdf"));
    p.doi = Some(doi.clone());
    p.authors = text(record, "authors")
        .map(|a| {
            a.split(';')
                .map(normalise_inline)
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if let Some(category) = text(record, "category").map(normalise_inline) {
        p.categories.push(category);
    }
    p.journal_ref = text(record, "published")
        .filter(|p| !p.eq_ignore_ascii_case("NA"))
        .map(|p| format!("Published as doi:{}", normalise_inline(p)));
    p.published_at = date
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    let unreadable = match (raw_date, date) {
        (Some(raw), None) => Some(super::charset::printable(raw).into_owned()),
        _ => None,
    };
    Ok((
        FetchedPaper {
            paper: p,
            day,
            announce_type: None,
        },
        (doi, version),
        unreadable,
    ))
}

/// Every page of one day, versions merged.
pub(super) async fn fetch_day(
    source: &Source,
    base: &Url,
    server: Server,
    day: NaiveDate,
) -> Result<FetchReport, SourceError> {
    let mut report = FetchReport::default();
    let mut seen: HashSet<(String, u32)> = HashSet::new();
    let mut by_id: HashMap<PaperId, usize> = HashMap::new();
    let mut cursor = 0usize;
    for page_number in 0..MAX_PAGES {
        let url = page_url(base, server, day, day, cursor);
        let (outcome, requests) = source
            .http
            .get(&url, None, &source.policy)
            .await
            .map_err(|e| SourceError::from_http(&source.name, &url, e))?;
        report.requests += requests;
        let super::http::Outcome::Body { body, .. } = outcome else {
            return Err(SourceError::malformed(
                &source.name,
                &url,
                ParseError::Structure("unexpected 304 Not Modified".into()),
            ));
        };
        let page = parse_page(&body, server, day, day)
            .map_err(|e| SourceError::malformed(&source.name, &url, e))?;
        let fresh = page.keys.iter().filter(|k| !seen.contains(*k)).count();
        if page.records > 0 && fresh == 0 && !page.keys.is_empty() {
            tracing::warn!(source.name = %source.name, http.url = %url, "the page repeats records already read; stopping");
            break;
        }
        report.skipped.extend(
            page.entries
                .skipped
                .iter()
                .map(|s| format!("cursor={cursor}: {s}")),
        );
        report.unreadable_dates.extend(
            page.entries
                .unreadable_dates
                .iter()
                .map(|s| format!("cursor={cursor}: {s}")),
        );
        for (paper, key) in page.entries.papers.into_iter().zip(page.keys) {
            if !seen.insert(key) {
                continue;
            }
            match by_id.get(&paper.paper.id) {
                Some(&i) => merge_version(&mut report.papers[i], paper),
                None => {
                    by_id.insert(paper.paper.id.clone(), report.papers.len());
                    report.papers.push(paper);
                }
            }
        }
        cursor += page.records;
        let done = page.records < PAGE_SIZE || page.total.is_some_and(|t| cursor as u64 >= t);
        if done {
            break;
        }
        if page_number + 1 == MAX_PAGES {
            tracing::warn!(source.name = %source.name, fetch.date = %day, pages = MAX_PAGES, "stopped at the page limit");
        }
    }
    for skipped in &report.skipped {
        tracing::warn!(source.name = %source.name, item = %skipped, "skipped a record");
    }
    for undated in &report.unreadable_dates {
        tracing::warn!(source.name = %source.name, item = %undated, "kept a record under the fetch day: its date could not be read");
    }
    Ok(report)
}

/// Folds another version of the same preprint into `kept`: the later
/// version's text wins, whichever came first.
fn merge_version(kept: &mut FetchedPaper, other: FetchedPaper) {
    let (mut older, newer) = if other.paper.version >= kept.paper.version {
        (kept.clone(), other)
    } else {
        (other, kept.clone())
    };
    older.day = older.day.max(newer.day);
    older.paper.merge(newer.paper);
    *kept = older;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const PAGE: &[u8] =
        include_bytes!("../../tests/fixtures/biorxiv_details_2026-06-11_shape_3records.json");

    #[test]
    fn records_become_papers_keyed_by_doi_with_category_authors_and_links() {
        let page = parse_page(PAGE, Server::Biorxiv, d("2026-06-11"), d("2026-06-11")).unwrap();
        assert_eq!(page.status, "ok");
        assert_eq!(page.total, Some(3));
        assert_eq!(page.records, 3);
        let p = &page.entries.papers[0];
        assert_eq!(
            p.paper.id.as_str(),
            "feed:doi.org/10.1101/2026.06.09.612345"
        );
        assert_eq!(p.day, d("2026-06-11"));
        assert_eq!(p.paper.version, Some(2));
        assert_eq!(p.paper.categories, vec!["neuroscience"]);
        assert_eq!(p.paper.authors[0], "Okafor, A. N.");
        assert_eq!(p.paper.authors.len(), 3);
        assert_eq!(
            p.paper.url,
            "https://www.biorxiv.org/content/10.1101/2026.06.09.612345v2"
        );
        assert_eq!(p.paper.doi.as_deref(), Some("10.1101/2026.06.09.612345"));
        assert!(p.paper.title.contains("E. coli"), "{}", p.paper.title);
        assert!(!p.paper.title.contains('<'));
        let published = &page.entries.papers[1];
        assert_eq!(
            published.paper.journal_ref.as_deref(),
            Some("Published as doi:10.1038/s41586-026-01234-5")
        );
        assert_eq!(page.entries.skipped.len(), 1, "{:?}", page.entries.skipped);
        assert!(page.entries.skipped[0]
            .reason
            .contains("outside the requested"));
    }

    #[test]
    fn an_empty_window_and_string_counters_are_understood() {
        let page = parse_page(
            br#"{"messages":[{"status":"no posts found"}],"collection":[]}"#,
            Server::Medrxiv,
            d("2026-06-13"),
            d("2026-06-13"),
        )
        .unwrap();
        assert_eq!(page.records, 0);
        let page = parse_page(
            br#"{"messages":[{"status":"ok","cursor":"0","count":"0","total":"156"}],"collection":[]}"#,
            Server::Medrxiv,
            d("2026-06-13"),
            d("2026-06-13"),
        )
        .unwrap();
        assert_eq!(page.total, Some(156));
    }

    #[test]
    fn broken_pages_are_errors_naming_what_is_wrong() {
        let err = parse_page(
            &PAGE[..PAGE.len() / 2],
            Server::Biorxiv,
            d("2026-06-11"),
            d("2026-06-11"),
        )
        .unwrap_err();
        assert!(matches!(err, ParseError::Truncated(_)), "{err}");
        let err = parse_page(b"[]", Server::Biorxiv, d("2026-06-11"), d("2026-06-11")).unwrap_err();
        assert!(err.to_string().contains("JSON object"), "{err}");
        let err = parse_page(
            br#"{"messages":[{"status":"error: bad interval \u001b[31m"}]}"#,
            Server::Biorxiv,
            d("2026-06-11"),
            d("2026-06-11"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("bad interval"), "{err}");
        assert!(!err.to_string().chars().any(|c| c.is_control()), "{err:?}");
    }

    #[test]
    fn pages_are_addressed_by_server_window_and_cursor() {
        let base = Url::parse(DEFAULT_URL).unwrap();
        assert_eq!(
            page_url(
                &base,
                Server::Medrxiv,
                d("2026-06-11"),
                d("2026-06-11"),
                200
            )
            .as_str(),
            "https://api.biorxiv.org/details/medrxiv/2026-06-11/2026-06-11/200"
        );
        let base = Url::parse("http://127.0.0.1:9/api/details/").unwrap();
        assert_eq!(
            page_url(&base, Server::Biorxiv, d("2026-06-11"), d("2026-06-12"), 0).as_str(),
            "http://127.0.0.1:9/api/details/biorxiv/2026-06-11/2026-06-12/0"
        );
    }

    #[test]
    fn a_later_version_wins_whichever_comes_first() {
        let page = parse_page(PAGE, Server::Biorxiv, d("2026-06-11"), d("2026-06-11")).unwrap();
        let mut v2 = page.entries.papers[0].clone();
        let mut v1 = v2.clone();
        v1.paper.version = Some(1);
        v1.paper.title = "Old title".into();
        let mut kept = v1.clone();
        merge_version(&mut kept, v2.clone());
        assert_eq!(kept.paper.title, v2.paper.title);
        assert_eq!(kept.paper.version, Some(2));
        merge_version(&mut v2, v1);
        assert_eq!(v2.paper.title, kept.paper.title);
        assert_eq!(v2.paper.version, Some(2));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..256), pos in 0usize..PAGE.len(), byte in proptest::num::u8::ANY) {
            let _ = parse_page(&bytes, Server::Biorxiv, d("2026-06-11"), d("2026-06-11"));
            let mut m = PAGE.to_vec();
            m[pos] = byte;
            let _ = parse_page(&m, Server::Biorxiv, d("2026-06-11"), d("2026-06-11"));
        }
    }
}

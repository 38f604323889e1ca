//! Hugging Face Daily Papers (`kind = "hf_daily_papers"`).
//!
//! `GET {url}?date=YYYY-MM-DD&limit=100&p=N` returns a bare JSON array of
//! `{paper: {...}, publishedAt, title, summary, numComments, ...}`. Both the
//! 2024 shape (no `submittedOnDailyAt`, wrapped titles) and the current one
//! are accepted. The day is `paper.submittedOnDailyAt` (the day HF featured
//! the paper), falling back to the outer `publishedAt`. Ids are arXiv ids;
//! the landing page is the arXiv abstract page; categories are unknown.
//!
//! Rule for bad input: invalid or truncated JSON, or a top level that is not
//! an array, is an error; an item without a usable `paper.id`, title or date
//! is skipped and reported by index, unless every item is bad.
//!
//! This module does no I/O beyond building the request URL.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;
use url::Url;

use super::{ItemError, ParseError, Parsed};
use crate::domain::{ArxivId, FetchedPaper, Paper, PaperId};

/// The most papers the API returns per page (`limit` above 100 is a 400).
pub const PAGE_LIMIT: usize = 100;

/// Pages fetched at most for one day: HF features a few dozen papers a
/// day, so more than this means the server ignores `p`.
pub const MAX_PAGES: u32 = 5;

/// The request URL for page `page` (0-based) of one day's list. The API's
/// default page is 50 papers, which busy days exceed, so the largest page
/// is asked for unless the operator's URL already sets `limit`.
pub fn request_url(base: &Url, date: NaiveDate, page: u32) -> Url {
    let mut url = base.clone();
    let has_limit = base.query_pairs().any(|(k, _)| k == "limit");
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("date", &date.format("%Y-%m-%d").to_string());
        if !has_limit {
            q.append_pair("limit", &PAGE_LIMIT.to_string());
        }
        if page > 0 {
            q.append_pair("p", &page.to_string());
        }
    }
    url
}

/// The page size in effect for requests built from `base`.
pub fn page_limit(base: &Url) -> usize {
    base.query_pairs()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(PAGE_LIMIT)
}

/// Parses a Daily Papers response, skipping (and logging) unusable items.
pub fn parse(body: &[u8]) -> Result<Vec<FetchedPaper>, ParseError> {
    parse_items(body).map(|p| p.papers)
}

/// Parses a Daily Papers response, returning skipped items alongside.
pub fn parse_items(body: &[u8]) -> Result<Parsed, ParseError> {
    let value = ParseError::json(body)?;
    let Value::Array(items) = value else {
        return Err(ParseError::Structure(format!(
            "expected a JSON array of papers, found {}",
            json_kind(&value)
        )));
    };
    let mut parsed = Parsed::default();
    for (index, item) in items.iter().enumerate() {
        match parse_item(item) {
            Ok(p) => parsed.papers.push(p),
            Err(reason) => parsed.skipped.push(ItemError { index, reason }),
        }
    }
    parsed.into_result()
}

fn parse_item(item: &Value) -> Result<FetchedPaper, String> {
    let outer = item
        .as_object()
        .ok_or_else(|| format!("expected an object, found {}", json_kind(item)))?;
    let paper = outer
        .get("paper")
        .and_then(Value::as_object)
        .ok_or("missing the `paper` object")?;
    let raw_id = match paper.get("id") {
        Some(Value::String(s)) => s.as_str(),
        // A numeric id has already lost trailing zeros (2503.02130 -> 2503.0213).
        Some(other) => return Err(format!("paper.id is {} not a string", json_kind(other))),
        None => return Err("missing paper.id".into()),
    };
    let (arxiv, version) =
        ArxivId::parse_versioned(raw_id).map_err(|e| format!("paper.id: {e}"))?;
    let title = str_field(paper, "title")
        .or_else(|| str_field(outer, "title"))
        .filter(|t| !t.trim().is_empty())
        .ok_or("missing title")?;
    let summary = str_field(paper, "summary")
        .or_else(|| str_field(outer, "summary"))
        .unwrap_or("");
    let day = date_field(paper, "submittedOnDailyAt")
        .or_else(|| date_field(outer, "publishedAt"))
        .map(|d| d.date_naive())
        .ok_or("missing paper.submittedOnDailyAt and publishedAt")?;

    let mut p = Paper::new(PaperId::arxiv(&arxiv), title, summary, &arxiv.abs_url());
    p.version = version;
    p.pdf_url = Some(format!("https://arxiv.org/pdf/{}", arxiv.as_str()));
    p.authors = paper
        .get("authors")
        .and_then(Value::as_array)
        .map(|authors| {
            authors
                .iter()
                .filter_map(|a| a.get("name").and_then(Value::as_str))
                .map(super::normalise_inline)
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    p.upvotes = paper.get("upvotes").and_then(Value::as_i64);
    p.num_comments = outer
        .get("numComments")
        .or_else(|| paper.get("numComments"))
        .and_then(Value::as_i64);
    p.ai_keywords = paper
        .get("ai_keywords")
        .and_then(Value::as_array)
        .map(|k| {
            k.iter()
                .filter_map(Value::as_str)
                .map(super::normalise_inline)
                .filter(|k| !k.is_empty())
                .collect()
        })
        .unwrap_or_default();
    p.github_repo = url_field(paper, "githubRepo");
    p.project_page = url_field(paper, "projectPage");
    p.published_at = date_field(paper, "publishedAt");
    Ok(FetchedPaper {
        paper: p,
        day,
        announce_type: None,
    })
}

fn str_field<'a>(obj: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a str> {
    obj.get(key).and_then(Value::as_str)
}

fn url_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    str_field(obj, key)
        .map(str::trim)
        .filter(|s| s.starts_with("http://") || s.starts_with("https://"))
        .map(str::to_string)
}

fn date_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<DateTime<Utc>> {
    let s = str_field(obj, key)?;
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &[u8] =
        include_bytes!("../../tests/fixtures/hf_daily_papers_2026-06-12_full_30items.json");
    const SUBSET: &[u8] =
        include_bytes!("../../tests/fixtures/hf_daily_papers_2026-06-12_subset_6items.json");
    const LEGACY: &[u8] =
        include_bytes!("../../tests/fixtures/hf_daily_papers_2024-10-25_legacy_shape_2items.json");

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn the_current_shape_yields_every_paper_with_its_hf_fields() {
        let papers = parse(FULL).unwrap();
        assert_eq!(papers.len(), 30);
        assert!(papers.iter().all(|p| p.day == day("2026-06-12")));
        let first = &papers[0].paper;
        assert_eq!(first.id.as_str(), "2606.00467");
        assert_eq!(first.url, "https://arxiv.org/abs/2606.00467");
        assert_eq!(first.upvotes, Some(0));
        assert_eq!(first.num_comments, Some(2));
        assert_eq!(
            first.authors,
            vec!["Etienne Casanova", "Rafal Kocielnik", "R. Michael Alvarez"]
        );
        assert!(first
            .ai_keywords
            .contains(&"zero-shot annotation".to_string()));
        assert!(first.categories.is_empty());
        assert_eq!(
            first.published_at.unwrap().to_rfc3339(),
            "2026-05-30T00:00:00+00:00"
        );
    }

    #[test]
    fn repos_project_pages_and_upvotes_are_kept_when_present() {
        let papers = parse(SUBSET).unwrap();
        let by_id = |id: &str| {
            &papers
                .iter()
                .find(|p| p.paper.id.as_str() == id)
                .unwrap()
                .paper
        };
        let p = by_id("2606.09446");
        assert_eq!(
            p.github_repo.as_deref(),
            Some("https://github.com/raphael-baena/morphology4metrology")
        );
        assert_eq!(
            p.project_page.as_deref(),
            Some("https://malamatenia.github.io/morphology4metrology-analysis/")
        );
        let msa = by_id("2606.13392");
        assert_eq!(msa.upvotes, Some(103));
        assert_eq!(msa.num_comments, Some(4));
        assert_eq!(by_id("2606.00467").github_repo, None);
    }

    #[test]
    fn the_2024_shape_falls_back_to_the_outer_published_date_and_unwraps_titles() {
        let papers = parse(LEGACY).unwrap();
        assert_eq!(papers.len(), 2);
        let p = &papers[0];
        assert_eq!(p.paper.id.as_str(), "2410.17243");
        assert_eq!(p.day, day("2024-10-25"));
        assert_eq!(
            p.paper.title,
            "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
        );
        assert_eq!(p.paper.upvotes, Some(74));
        assert!(!p.paper.abstract_text.contains('\n'));
        assert!(p
            .paper
            .abstract_text
            .starts_with("Contrastive loss is a powerful approach"));
    }

    #[test]
    fn one_bad_item_is_skipped_by_index_and_the_rest_kept() {
        let body = br#"[{"paper":{"id":"2606.00001","title":"Good","summary":"s","submittedOnDailyAt":"2026-06-12T00:00:00.000Z"}},
                        {"paper":{"title":"No id"}},
                        {"paper":{"id":2503.0213,"title":"Float id","submittedOnDailyAt":"2026-06-12T00:00:00.000Z"}}]"#;
        let parsed = parse_items(body).unwrap();
        assert_eq!(parsed.papers.len(), 1);
        assert_eq!(parsed.skipped.len(), 2);
        assert_eq!(parsed.skipped[0].to_string(), "item 1: missing paper.id");
        assert!(parsed.skipped[1]
            .to_string()
            .starts_with("item 2: paper.id is a number"));
    }

    #[test]
    fn a_payload_whose_items_are_all_bad_is_an_error_naming_the_first() {
        let err = parse(br#"[{"paper":{"id":"2606.00001"}}]"#).unwrap_err();
        assert!(err.to_string().contains("item 0: missing title"), "{err}");
    }

    #[test]
    fn truncated_or_non_array_json_is_rejected_with_the_reason() {
        let err = parse(&FULL[..FULL.len() / 2]).unwrap_err();
        assert!(matches!(err, ParseError::Truncated(_)), "{err}");
        let err = parse(br#"{"date":"2026-06-12","results":[]}"#).unwrap_err();
        assert!(err.to_string().contains("expected a JSON array"), "{err}");
        let err = parse(b"<html>Bad gateway</html>").unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
    }

    #[test]
    fn an_empty_list_is_an_empty_day() {
        assert!(parse(b"[]").unwrap().is_empty());
    }

    #[test]
    fn the_request_carries_the_date_the_largest_page_and_the_page_number() {
        let base = Url::parse(super::super::DEFAULT_HF_URL).unwrap();
        assert_eq!(
            request_url(&base, day("2026-06-12"), 0).as_str(),
            "https://huggingface.co/api/daily_papers?date=2026-06-12&limit=100"
        );
        assert_eq!(
            request_url(&base, day("2026-06-12"), 2).as_str(),
            "https://huggingface.co/api/daily_papers?date=2026-06-12&limit=100&p=2"
        );
        assert_eq!(page_limit(&base), 100);
    }

    #[test]
    fn an_operator_chosen_limit_is_kept_and_used_as_the_page_size() {
        let base = Url::parse("https://hf.example/api/daily_papers?limit=20").unwrap();
        assert_eq!(
            request_url(&base, day("2026-06-12"), 1).as_str(),
            "https://hf.example/api/daily_papers?limit=20&date=2026-06-12&p=1"
        );
        assert_eq!(page_limit(&base), 20);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parsing_never_panics_on_a_cut_or_mutated_fixture(cut in 0usize..SUBSET.len(), pos in 0usize..SUBSET.len(), byte in proptest::num::u8::ANY) {
            let _ = parse(&SUBSET[..cut]);
            let mut m = SUBSET.to_vec();
            m[pos] = byte;
            let _ = parse(&m);
        }
    }
}

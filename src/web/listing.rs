//! What `/papers`, `/papers.atom` and `/api/papers` share: their
//! parameters, each parsed strictly from the query string, and the list of
//! papers they select (a day, a week or the last N days, optionally
//! searched with a topic query, one page of it).
//!
//! Unknown parameters are ignored; a known one with a bad value is a
//! [`ParamError`] naming it. The query text is parsed by the filter
//! language and matched with the digest's matcher, so a search finds and
//! explains exactly what a topic would.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use crate::digest::likes::LikeLookup;
use crate::digest::ranked::RankedWindow;
use crate::domain::Paper;

use crate::matching::{CompiledQuery, MatchedTerm, Matcher, PaperSet, Query, QueryError};
use crate::store::{DbResult, ListedPaper, ListingGeneration, PaperListing, Store};

/// Papers on one page.
pub const PAGE_SIZE: usize = 50;
/// Most days `days=N` may span.
pub const MAX_DAYS: u32 = 90;
/// Highest page number accepted.
pub const MAX_PAGE: usize = 10_000;

/// Which days are listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The latest day with announcements (no `date`, `week` or `days`).
    Latest,
    /// `date=YYYY-MM-DD`.
    Day(NaiveDate),
    /// `week=YYYY-Www`: the ISO week starting on this Monday.
    Week(NaiveDate),
    /// `days=N`: the N days up to the latest day with announcements.
    Days(u32),
}

/// The parameters of a papers request, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    pub span: Span,
    /// The search as typed, trimmed; empty: no search.
    pub q: String,
    /// 1-based.
    pub page: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            span: Span::Latest,
            q: String::new(),
            page: 1,
        }
    }
}

/// A parameter with a value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    pub parameter: &'static str,
    pub message: String,
}

impl ParamError {
    fn new(parameter: &'static str, message: impl Into<String>) -> Self {
        ParamError {
            parameter,
            message: message.into(),
        }
    }
}

impl Params {
    /// Parses a raw query string. The first occurrence of a parameter
    /// counts; an empty value is the same as none. When several of `days`,
    /// `week` and `date` are given, `days` wins over `week` over `date`
    /// (the search form sends the shown day along with its range choice),
    /// but each given one must still be well-formed.
    pub fn parse(raw: Option<&str>) -> Result<Params, ParamError> {
        let mut date = None;
        let mut week = None;
        let mut days = None;
        let mut q = None;
        let mut page = None;
        for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            let slot = match &*key {
                "date" => &mut date,
                "week" => &mut week,
                "days" => &mut days,
                "q" => &mut q,
                "page" => &mut page,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.into_owned());
            }
        }
        let given = |v: Option<String>| v.filter(|s| !s.trim().is_empty());
        let date = given(date).map(|d| parse_date(&d)).transpose()?;
        let week = given(week).map(|w| parse_week(&w)).transpose()?;
        let days = given(days).map(|d| parse_days(&d)).transpose()?;
        let page = given(page).map(|p| parse_page(&p)).transpose()?;
        let span = match (days, week, date) {
            (Some(n), _, _) => Span::Days(n),
            (None, Some(monday), _) => Span::Week(monday),
            (None, None, Some(d)) => Span::Day(d),
            (None, None, None) => Span::Latest,
        };
        Ok(Params {
            span,
            q: q.map(|q| q.trim().to_string()).unwrap_or_default(),
            page: page.unwrap_or(1),
        })
    }

    /// The query string that selects the same papers over `span` (the
    /// span as resolved), on `page` (`None`: this request's page).
    pub fn query_string(&self, span: Span, page: Option<usize>) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        match span {
            Span::Latest => {}
            Span::Day(d) => {
                q.append_pair("date", &d.to_string());
            }
            Span::Week(monday) => {
                q.append_pair("week", &week_param(monday));
            }
            Span::Days(n) => {
                q.append_pair("days", &n.to_string());
            }
        }
        if !self.q.is_empty() {
            q.append_pair("q", &self.q);
        }
        let page = page.unwrap_or(self.page);
        if page > 1 {
            q.append_pair("page", &page.to_string());
        }
        q.finish()
    }

    /// The parsed search, if there is one.
    pub fn query(&self) -> Option<Result<Query, QueryError>> {
        (!self.q.is_empty()).then(|| Query::parse(&self.q))
    }
}

/// `YYYY-MM-DD`, exactly.
pub fn parse_date(s: &str) -> Result<NaiveDate, ParamError> {
    let s = s.trim();
    let shape = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    shape
        .then(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| {
            ParamError::new(
                "date",
                format!("The date parameter must be a day written YYYY-MM-DD, like 2026-06-12; {:?} is not.", shorten(s)),
            )
        })
}

/// `YYYY-Www` (an ISO week, `2026-W24`); its Monday.
pub fn parse_week(s: &str) -> Result<NaiveDate, ParamError> {
    let s = s.trim();
    let err = || {
        ParamError::new(
            "week",
            format!(
                "The week parameter must be an ISO week written YYYY-Www, like 2026-W24; {:?} is not.",
                shorten(s)
            ),
        )
    };
    let (year, week) = s
        .split_once("-W")
        .or_else(|| s.split_once("-w"))
        .ok_or_else(err)?;
    let digits = |t: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(year, 4..=4) || !digits(week, 1..=2) {
        return Err(err());
    }
    let (year, week) = (
        year.parse().map_err(|_| err())?,
        week.parse().map_err(|_| err())?,
    );
    NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(err)
}

/// A whole number of days from 1 to [`MAX_DAYS`].
pub fn parse_days(s: &str) -> Result<u32, ParamError> {
    match s.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_DAYS).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            "days",
            format!(
                "The days parameter must be a whole number of days from 1 to {MAX_DAYS}; {:?} is not.",
                shorten(s)
            ),
        )),
    }
}

/// A page number from 1 to [`MAX_PAGE`].
pub fn parse_page(s: &str) -> Result<usize, ParamError> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        _ => Err(ParamError::new(
            "page",
            format!(
                "The page parameter must be a page number from 1 to {MAX_PAGE}; {:?} is not.",
                shorten(s)
            ),
        )),
    }
}

/// A value as quoted back in a message: at most 40 characters.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_string()
    } else {
        s.chars().take(40).collect::<String>() + "…"
    }
}

/// The ISO week of a day, as the `week` parameter writes it.
pub fn week_param(d: NaiveDate) -> String {
    let w = d.iso_week();
    format!("{:04}-W{:02}", w.year(), w.week())
}

/// The Monday of a day's ISO week.
pub fn monday_of(d: NaiveDate) -> NaiveDate {
    d - Duration::days(i64::from(d.weekday().num_days_from_monday()))
}

/// One listed paper: the paper, where it was announced and, in a search,
/// the terms that matched it.
pub struct Entry<'a> {
    pub paper: &'a Paper,
    pub about: &'a ListedPaper,
    pub matched: Vec<MatchedTerm>,
    /// Its index in the listing.
    pub index: usize,
}

/// The papers a request selects.
pub struct Selection {
    /// The span resolved to days (`Latest` to the day it is).
    pub span: Span,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Every paper of the days, in page order, and their index.
    range: Arc<CachedRange>,
    /// Indexes into the listing of the papers the search matched (all of
    /// them without a search), in page order.
    pub hits: Vec<usize>,
    /// The searches, compiled against the range's matcher, with the papers
    /// each matches.
    search: Option<Vec<(CompiledQuery, PaperSet)>>,
}

/// Listings of ranges of days, read and indexed once for many requests:
/// the days' papers and (built on the first search) their matcher. An
/// entry is used while the store's [`ListingGeneration`] is unchanged (no
/// new sighting, no changed paper), so a past day's page costs no SQL
/// beyond that check. Bounded by the papers held: past
/// [`RANGE_CACHE_PAPERS`], the least recently used ranges are dropped; a
/// matcher that compiled more than [`MATCHER_MAX_ATOMS`] distinct terms is
/// rebuilt, so visitors' queries cannot grow it without limit.
#[derive(Default)]
pub struct RangeCache {
    entries: Mutex<HashMap<(NaiveDate, NaiveDate), Arc<CachedRange>>>,
    clock: AtomicU64,
    /// Held while a range is read from the store: requests that miss at
    /// the same time (every visitor's first page after a fetch) wait for
    /// the one read instead of each reading the same days again.
    filling: tokio::sync::Mutex<()>,
}

/// Most papers the cache holds across its ranges (about 2 kB each, twice
/// that with a matcher).
pub const RANGE_CACHE_PAPERS: usize = 200_000;
/// Distinct query terms a cached matcher may compile before it is rebuilt.
pub const MATCHER_MAX_ATOMS: usize = 20_000;

struct CachedRange {
    generation: ListingGeneration,
    listing: PaperListing,
    matcher: Mutex<Option<Matcher>>,
    /// The papers' vectors, made when a `like:` search first needs them.
    ranked: std::sync::OnceLock<RankedWindow>,
    last_used: AtomicU64,
}

impl RangeCache {
    async fn get(
        &self,
        store: &Store,
        from: NaiveDate,
        to: NaiveDate,
    ) -> DbResult<Arc<CachedRange>> {
        let generation = store.listing_generation().await?;
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let cached = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(from, to))
            .filter(|r| r.generation == generation)
            .cloned();
        if let Some(range) = cached {
            range.last_used.store(tick, Ordering::Relaxed);
            return Ok(range);
        }
        let _filling = self.filling.lock().await;
        let generation = store.listing_generation().await?;
        let filled = self
            .entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(from, to))
            .filter(|r| r.generation == generation)
            .cloned();
        if let Some(range) = filled {
            range.last_used.store(tick, Ordering::Relaxed);
            return Ok(range);
        }
        let range = Arc::new(CachedRange {
            ranked: std::sync::OnceLock::new(),
            generation,
            listing: store.listed_papers(from, to).await?,
            matcher: Mutex::new(None),
            last_used: AtomicU64::new(tick),
        });
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.insert((from, to), range.clone());
        let current = range.generation.clone();
        entries.retain(|_, r| r.generation == current);
        while entries.len() > 1
            && entries
                .values()
                .map(|r| r.listing.papers.len())
                .sum::<usize>()
                > RANGE_CACHE_PAPERS
        {
            let oldest = entries
                .iter()
                .min_by_key(|(_, r)| r.last_used.load(Ordering::Relaxed))
                .map(|(k, _)| *k);
            match oldest {
                Some(k) => entries.remove(&k),
                None => break,
            };
        }
        Ok(range)
    }
}

impl CachedRange {
    /// Runs `f` with the range's matcher, built on first use.
    fn with_matcher<T>(&self, f: impl FnOnce(&mut Matcher) -> T) -> T {
        let mut guard = self.matcher.lock().unwrap_or_else(|e| e.into_inner());
        if guard
            .as_ref()
            .is_none_or(|m| m.atom_count() > MATCHER_MAX_ATOMS)
        {
            *guard = Some(Matcher::new(&self.listing.papers));
        }
        f(guard.as_mut().expect("built just above"))
    }
}

impl Selection {
    /// Reads the days of `span` and keeps the papers any of `queries`
    /// matches (all of them when there is none). `today` ends the range
    /// when the store has no papers at all.
    pub async fn load(
        store: &Store,
        cache: &RangeCache,
        likes: &LikeLookup,
        span: Span,
        queries: &[Query],
        today: NaiveDate,
    ) -> DbResult<Selection> {
        let latest = || async {
            Ok::<_, crate::store::DbError>(store.latest_announced_day().await?.unwrap_or(today))
        };
        let (span, from, to) = match span {
            Span::Latest => {
                let d = latest().await?;
                (Span::Day(d), d, d)
            }
            Span::Day(d) => (span, d, d),
            Span::Week(monday) => (span, monday, monday + Duration::days(6)),
            Span::Days(n) => {
                let end = latest().await?;
                (span, end - Duration::days(i64::from(n) - 1), end)
            }
        };
        Self::load_days(store, cache, likes, span, from, to, queries).await
    }

    /// As [`Selection::load`], for the days `from..=to` (`span` as resolved).
    #[allow(clippy::too_many_arguments)]
    pub async fn load_days(
        store: &Store,
        cache: &RangeCache,
        likes: &LikeLookup,
        span: Span,
        from: NaiveDate,
        to: NaiveDate,
        queries: &[Query],
    ) -> DbResult<Selection> {
        let range = cache.get(store, from, to).await?;
        // The papers `like:` terms name; one nobody can find matches
        // nothing (the pages report it before searching).
        let mut liked: Vec<(String, Paper)> = Vec::new();
        for q in queries {
            for id in q.likes() {
                if liked.iter().any(|(seen, _)| seen == id) {
                    continue;
                }
                if let Ok(p) = likes.paper(id, chrono::Utc::now()).await {
                    liked.push((id.to_string(), p));
                }
            }
        }
        let (hits, search) = if queries.is_empty() {
            ((0..range.listing.papers.len()).collect(), None)
        } else {
            // Indexing a range takes seconds for a month of papers: on a
            // blocking thread, so the runtime's workers keep answering
            // other requests (and one waiting for the same index waits
            // there too, not on a worker).
            let indexed = range.clone();
            let queries = queries.to_vec();
            let compiled: Vec<(CompiledQuery, PaperSet)> = tokio::task::spawn_blocking(move || {
                indexed.with_matcher(|matcher| {
                    for (id, p) in &liked {
                        if !matcher.knows_like(id) {
                            let ranked = indexed
                                .ranked
                                .get_or_init(|| RankedWindow::new(&indexed.listing.papers, from));
                            matcher.set_like(id, &p.title, ranked.similar(p));
                        }
                    }
                    queries
                        .iter()
                        .map(|q| {
                            let c = matcher.compile(q);
                            let set = matcher.matches(&c);
                            (c, set)
                        })
                        .collect()
                })
            })
            .await
            .unwrap_or_else(|e| match e.try_into_panic() {
                // A panic while indexing is the request's, as before.
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("indexing a range: {e}"),
            });
            let hits: BTreeSet<usize> = compiled.iter().flat_map(|(_, set)| set.iter()).collect();
            (hits.into_iter().collect(), Some(compiled))
        };
        Ok(Selection {
            span,
            from,
            to,
            range,
            hits,
            search,
        })
    }

    /// The listed papers (every paper of the days, in page order).
    pub fn papers(&self) -> &[Paper] {
        &self.range.listing.papers
    }

    /// How many pages the hits fill (at least one).
    pub fn pages(&self) -> usize {
        self.hits.len().div_ceil(PAGE_SIZE).max(1)
    }

    /// The hits on page `page` (1-based), with what matched each.
    pub fn page(&self, page: usize) -> Vec<Entry<'_>> {
        let skip = (page - 1).saturating_mul(PAGE_SIZE);
        self.entries(self.hits.iter().skip(skip).take(PAGE_SIZE).copied())
    }

    /// The first `limit` hits, in page order.
    pub fn first(&self, limit: usize) -> Vec<Entry<'_>> {
        self.entries(self.hits.iter().take(limit).copied())
    }

    fn entries(&self, indexes: impl Iterator<Item = usize>) -> Vec<Entry<'_>> {
        let listing = &self.range.listing;
        let mut entries: Vec<Entry<'_>> = indexes
            .map(|i| Entry {
                paper: &listing.papers[i],
                about: &listing.about[i],
                matched: Vec::new(),
                index: i,
            })
            .collect();
        if let Some(compiled) = &self.search {
            self.range.with_matcher(|m| {
                for e in &mut entries {
                    for (c, set) in compiled {
                        if set.contains(e.index) {
                            for t in m.explain(c, e.index) {
                                if !e.matched.iter().any(|k| k.label == t.label) {
                                    e.matched.push(t);
                                }
                            }
                        }
                    }
                }
            });
        }
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn no_parameters_is_the_latest_day_first_page() {
        assert_eq!(Params::parse(None).unwrap(), Params::default());
        assert_eq!(Params::parse(Some("")).unwrap(), Params::default());
        assert_eq!(
            Params::parse(Some("utm_source=x&date=&q=++&page=")).unwrap(),
            Params::default()
        );
    }

    #[test]
    fn each_parameter_is_parsed_and_the_first_occurrence_counts() {
        let p = Params::parse(Some("date=2026-06-12&q=ti%3Adiffusion+&page=3&date=bad")).unwrap();
        assert_eq!(p.span, Span::Day(d("2026-06-12")));
        assert_eq!(p.q, "ti:diffusion");
        assert_eq!(p.page, 3);
        assert_eq!(
            Params::parse(Some("week=2026-W24")).unwrap().span,
            Span::Week(d("2026-06-08"))
        );
        assert_eq!(
            Params::parse(Some("days=30&week=2026-W24&date=2026-06-12"))
                .unwrap()
                .span,
            Span::Days(30)
        );
        assert_eq!(
            Params::parse(Some("week=2026-W24&date=2026-06-12"))
                .unwrap()
                .span,
            Span::Week(d("2026-06-08"))
        );
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for (raw, parameter) in [
            ("date=2026-13-01", "date"),
            ("date=2026-6-1", "date"),
            ("date=12/06/2026", "date"),
            ("date=2026-02-30", "date"),
            ("date=%00", "date"),
            ("week=2026-W54", "week"),
            ("week=2026-24", "week"),
            ("week=26-W01", "week"),
            ("week=2026-W1x", "week"),
            ("days=0", "days"),
            ("days=-3", "days"),
            ("days=91", "days"),
            ("days=99999999999999999999999", "days"),
            ("days=ten", "days"),
            ("page=0", "page"),
            ("page=10001", "page"),
            ("page=two", "page"),
            ("days=30&date=nope", "date"),
        ] {
            let e = Params::parse(Some(raw)).unwrap_err();
            assert_eq!(e.parameter, parameter, "{raw}");
            assert!(e.message.contains(parameter), "{raw}: {e}");
        }
        let long = format!("date={}", "9".repeat(5000));
        assert!(Params::parse(Some(&long)).unwrap_err().message.len() < 200);
    }

    #[test]
    fn weeks_are_iso_weeks() {
        assert_eq!(parse_week("2026-W01").unwrap(), d("2025-12-29"));
        assert_eq!(parse_week("2020-W53").unwrap(), d("2020-12-28"));
        assert!(parse_week("2025-W53").is_err());
        assert_eq!(parse_week("2026-W53").unwrap(), d("2026-12-28"));
        assert_eq!(week_param(d("2026-06-12")), "2026-W24");
        assert_eq!(week_param(d("2026-01-01")), "2026-W01");
        assert_eq!(week_param(d("2027-01-01")), "2026-W53");
        assert_eq!(monday_of(d("2026-06-14")), d("2026-06-08"));
        assert_eq!(monday_of(d("2026-06-08")), d("2026-06-08"));
    }
}

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

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc, Weekday};

use crate::digest::frequencies::Frequencies;
use crate::digest::likes::LikeLookup;
use crate::digest::ranked::{KeptWindow, RankedWindow};
use crate::domain::Paper;

use crate::matching::{CompiledQuery, MatchedTerm, Matcher, PaperSet, Query, QueryError};
use crate::store::{DayStamp, DbResult, ListedPaper, ListingGeneration, PaperListing, Store};

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

    /// The parsed search, if there is one, with each of its `like:` papers
    /// found among the stored papers (a public search never asks arXiv).
    pub async fn stored_query(
        &self,
        likes: &LikeLookup,
        now: DateTime<Utc>,
    ) -> Result<Option<Query>, QueryError> {
        let Some(query) = self.query().transpose()? else {
            return Ok(None);
        };
        likes.check(&self.q, now).await?;
        Ok(Some(query))
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
    /// Every paper of the days, in page order, and the days it came from.
    range: Arc<CachedRange>,
    /// Indexes into the listing of the papers the search matched (all of
    /// them without a search), in page order.
    pub hits: Vec<usize>,
    /// The searches, as parsed, for explaining a hit.
    queries: Vec<Query>,
    /// The papers the searches' `like:` terms name, for a day whose
    /// matcher was rebuilt before a hit is explained.
    liked: Vec<(String, Paper)>,
    /// Per day of the range (as in `range.days`): the searches compiled
    /// against that day's matcher (which build of it, and the papers each
    /// matches there).
    search: Option<Arc<Vec<DaySearch>>>,
}

/// The searches compiled against one day's matcher.
struct DaySearch {
    /// The matcher build they were compiled by (a rebuilt matcher compiles
    /// them again when explaining).
    build: u64,
    compiled: Vec<(CompiledQuery, PaperSet)>,
    /// The window the searches' `like:` terms were compared in (`None`
    /// without any).
    ranked: Option<Arc<RankedWindow>>,
}

/// Listings and search indexes of announced days, read and indexed once
/// for many requests.
///
/// A day is the unit: its papers (one store read) and, built on the first
/// search that covers it, its matcher. A range of days (`date`, `week`,
/// `days=N`) is assembled from its days' listings and searched by
/// matching each day's index and combining the hits, so a 30-day search
/// after a fetch re-reads and re-indexes only the days the fetch touched
/// (each day is kept with its [`DayStamp`] and reused while the store
/// reports the same stamp) and a past day's index is built once.
///
/// Requests check the store's [`ListingGeneration`] (two index lookups);
/// while it is unchanged an assembled range is used as it is, so a page
/// costs no other SQL, and the same search again is answered from the
/// range's kept searches ([`RANGE_SEARCHES`]). Bounded by papers held: days past
/// [`DAY_CACHE_PAPERS`] and assembled ranges past [`RANGE_CACHE_PAPERS`]
/// are dropped least recently used first (a range keeps its days alive
/// while it is held, so at most both bounds together are in memory; about
/// 2 kB a paper, 4 kB with its day's index), and a day's matcher that
/// compiled more than [`MATCHER_MAX_ATOMS`] distinct terms is rebuilt, so
/// visitors' queries cannot grow it without limit.
///
/// A `like:ID` search compares ID's paper with each day's papers as a
/// digest run of today does: their stored vectors under the document
/// frequencies of the year ending today ([`Frequencies`], the process's
/// shared sum). A day keeps its [`RankedWindow`] while these stay the
/// same; when they move, the day's window is read again, its matcher
/// rebuilt and a kept `like:` search answered again.
#[derive(Default)]
pub struct RangeCache {
    /// The document frequencies `like:` terms are weighed by, and the
    /// timezone that says which day is today.
    frequencies: Frequencies,
    timezone: chrono_tz::Tz,
    ranges: Mutex<HashMap<(NaiveDate, NaiveDate), Arc<CachedRange>>>,
    days: Mutex<HashMap<NaiveDate, Arc<CachedDay>>>,
    clock: AtomicU64,
    /// Held while days are read from the store: requests that miss at
    /// the same time (every visitor's first page after a fetch) wait for
    /// the one read instead of each reading the same days again.
    filling: tokio::sync::Mutex<()>,
}

/// Most papers the cached days hold together.
pub const DAY_CACHE_PAPERS: usize = 120_000;
/// Most papers the assembled ranges hold together.
pub const RANGE_CACHE_PAPERS: usize = 120_000;
/// Searches a cached range keeps the answers of.
pub const RANGE_SEARCHES: usize = 64;
/// Distinct query terms a day's matcher may compile before it is rebuilt.
pub const MATCHER_MAX_ATOMS: usize = 20_000;

/// Numbers matcher builds, so a query compiled by one build is never
/// explained by another.
static MATCHER_BUILDS: AtomicU64 = AtomicU64::new(0);

/// One announced day: its papers as a one-day listing and its index.
struct CachedDay {
    stamp: DayStamp,
    listing: PaperListing,
    /// The papers' vectors, read when a `like:` search first needs them.
    ranked: KeptWindow,
    /// The matcher, built on the first search.
    matcher: Mutex<Option<DayMatcher>>,
    last_used: AtomicU64,
}

/// A day's matcher, its build number, and the window its `like:` terms
/// were compared in.
struct DayMatcher {
    build: u64,
    matcher: Matcher,
    likes_from: Option<Arc<RankedWindow>>,
}

/// A range of days assembled from its days.
struct CachedRange {
    generation: ListingGeneration,
    listing: PaperListing,
    /// The days with announcements, in date order, each with where its
    /// papers are in `listing` (a paper announced on several days of the
    /// range is listed once).
    days: Vec<(Arc<CachedDay>, Vec<u32>)>,
    /// Per paper of `listing`: its first day (index into `days`) and its
    /// index in that day's listing, where its search explanation comes from.
    origin: Vec<(u32, u32)>,
    /// The searches answered on this range, least recently used dropped
    /// past [`RANGE_SEARCHES`]: the same search again (its next page, a
    /// popular query, a feed reader polling) costs a lookup. Gone with the
    /// range when the store changes.
    searches: Mutex<KeptSearches>,
    last_used: AtomicU64,
}

/// Searches kept by a range: the queries, when each was last used, its answer.
type KeptSearches = HashMap<Vec<Query>, (u64, Arc<RangeSearch>)>;

/// A search of a range: the listing indexes it matched, in page order, and
/// each day's compiled queries for explaining a hit.
struct RangeSearch {
    hits: Vec<usize>,
    days: Arc<Vec<DaySearch>>,
}

/// Evicts least recently used entries until the papers held fit `limit`
/// (one entry always stays).
fn bound<K: Copy + Eq + std::hash::Hash, V>(
    entries: &mut HashMap<K, Arc<V>>,
    limit: usize,
    papers: impl Fn(&V) -> usize,
    last_used: impl Fn(&V) -> u64,
) {
    let mut held: usize = entries.values().map(|v| papers(v)).sum();
    while entries.len() > 1 && held > limit {
        let Some(oldest) = entries
            .iter()
            .min_by_key(|(_, v)| last_used(v))
            .map(|(k, _)| *k)
        else {
            break;
        };
        if let Some(v) = entries.remove(&oldest) {
            held -= papers(&v);
        }
    }
}

impl RangeCache {
    /// A cache weighing `like:` terms by `frequencies`, today being the
    /// date in `timezone`.
    pub fn new(frequencies: Frequencies, timezone: chrono_tz::Tz) -> RangeCache {
        RangeCache {
            frequencies,
            timezone,
            ..RangeCache::default()
        }
    }

    /// The day's window for `like:` terms (read on first use, and again
    /// when the document frequencies moved).
    async fn ranked(&self, store: &Store, day: &CachedDay) -> DbResult<Arc<RankedWindow>> {
        let today = Utc::now().with_timezone(&self.timezone).date_naive();
        day.ranked
            .get(store, &self.frequencies, &day.listing.papers, today)
            .await
    }

    /// The assembled range `from..=to`, if it is cached and current.
    fn cached(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        generation: &ListingGeneration,
        tick: u64,
    ) -> Option<Arc<CachedRange>> {
        let range = self
            .ranges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(from, to))
            .filter(|r| r.generation == *generation)
            .cloned()?;
        range.last_used.store(tick, Ordering::Relaxed);
        Some(range)
    }

    async fn get(
        &self,
        store: &Store,
        from: NaiveDate,
        to: NaiveDate,
    ) -> DbResult<Arc<CachedRange>> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let generation = store.listing_generation().await?;
        if let Some(range) = self.cached(from, to, &generation, tick) {
            return Ok(range);
        }
        let _filling = self.filling.lock().await;
        let generation = store.listing_generation().await?;
        if let Some(range) = self.cached(from, to, &generation, tick) {
            return Ok(range);
        }
        let mut days = Vec::new();
        for (d, stamp) in store.listing_days(from, to).await? {
            let kept = self
                .days
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&d)
                .filter(|c| c.stamp == stamp)
                .cloned();
            let day = match kept {
                Some(day) => day,
                None => {
                    let day = Arc::new(CachedDay {
                        stamp,
                        listing: store.listed_papers(d, d).await?,
                        ranked: KeptWindow::default(),
                        matcher: Mutex::new(None),
                        last_used: AtomicU64::new(tick),
                    });
                    self.days
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(d, day.clone());
                    day
                }
            };
            day.last_used.store(tick, Ordering::Relaxed);
            days.push(day);
        }
        bound(
            &mut self.days.lock().unwrap_or_else(|e| e.into_inner()),
            DAY_CACHE_PAPERS,
            |d| d.listing.papers.len(),
            |d| d.last_used.load(Ordering::Relaxed),
        );
        let range = Arc::new(CachedRange::assemble(generation, days, tick));
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        ranges.insert((from, to), range.clone());
        let current = range.generation.clone();
        ranges.retain(|_, r| r.generation == current);
        bound(
            &mut ranges,
            RANGE_CACHE_PAPERS,
            |r| r.listing.papers.len(),
            |r| r.last_used.load(Ordering::Relaxed),
        );
        Ok(range)
    }
}

impl CachedDay {
    /// Runs `f` with the day's matcher and its build number, building it
    /// on first use (and again once it compiled too many terms, or when
    /// `ranked` is not the window its `like:` terms were compared in).
    /// With `ranked`, the matcher is first told which of the day's papers
    /// each of `liked` is similar to, for the ids it does not know yet:
    /// compared with the day's papers, as a daily digest compares them.
    fn with_matcher<T>(
        &self,
        ranked: Option<&Arc<RankedWindow>>,
        liked: &[(String, Paper)],
        f: impl FnOnce(u64, &mut Matcher) -> T,
    ) -> T {
        let mut guard = self.matcher.lock().unwrap_or_else(|e| e.into_inner());
        let stale = |m: &DayMatcher| {
            m.matcher.atom_count() > MATCHER_MAX_ATOMS
                || matches!((ranked, &m.likes_from), (Some(now), Some(told)) if !Arc::ptr_eq(now, told))
        };
        if guard.as_ref().is_none_or(stale) {
            *guard = Some(DayMatcher {
                build: MATCHER_BUILDS.fetch_add(1, Ordering::Relaxed),
                matcher: Matcher::new(&self.listing.papers),
                likes_from: None,
            });
        }
        let held = guard.as_mut().expect("built just above");
        if let Some(ranked) = ranked {
            for (id, paper) in liked {
                if !held.matcher.knows_like(id) {
                    held.matcher
                        .set_like(id, &paper.title, ranked.similar(paper));
                }
            }
            held.likes_from = Some(ranked.clone());
        }
        f(held.build, &mut held.matcher)
    }
}

impl CachedRange {
    /// The range's listing from its days' (in date order): each paper once,
    /// announced on its first day, listed by every source that listed it
    /// on any day, in the store's page order (see `Store::listed_papers`).
    fn assemble(generation: ListingGeneration, days: Vec<Arc<CachedDay>>, tick: u64) -> Self {
        let mut papers: Vec<(&Paper, ListedPaper)> = Vec::new();
        let mut origin = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        let mut maps: Vec<Vec<u32>> = Vec::with_capacity(days.len());
        for (di, day) in days.iter().enumerate() {
            let listing = &day.listing;
            let mut map = Vec::with_capacity(listing.papers.len());
            for (li, (paper, about)) in listing.papers.iter().zip(&listing.about).enumerate() {
                let i = *at.entry(paper.id.as_str()).or_insert_with(|| {
                    papers.push((paper, about.clone()));
                    origin.push((di as u32, li as u32));
                    papers.len() - 1
                });
                let merged = &mut papers[i].1;
                if merged.seq > about.seq {
                    merged.seq = about.seq;
                }
                for s in &about.sources {
                    if !merged.sources.contains(s) {
                        merged.sources.push(s.clone());
                    }
                }
                map.push(i as u32);
            }
            maps.push(map);
        }
        let mut order: Vec<usize> = (0..papers.len()).collect();
        order.sort_by(|&a, &b| {
            let key = |i: usize| {
                let (p, about) = &papers[i];
                (
                    p.upvotes.is_none(),
                    std::cmp::Reverse(p.upvotes),
                    if p.upvotes.is_none() { 0 } else { about.seq },
                    p.id.as_str(),
                )
            };
            key(a).cmp(&key(b))
        });
        let mut position = vec![0u32; papers.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos as u32;
        }
        let mut listing = PaperListing {
            papers: Vec::with_capacity(papers.len()),
            about: Vec::with_capacity(papers.len()),
        };
        let mut sorted_origin = Vec::with_capacity(papers.len());
        for &i in &order {
            let (paper, about) = &papers[i];
            let mut about = about.clone();
            about.sources.sort();
            listing.papers.push((*paper).clone());
            listing.about.push(about);
            sorted_origin.push(origin[i]);
        }
        for map in &mut maps {
            for i in map.iter_mut() {
                *i = position[*i as usize];
            }
        }
        drop(at);
        drop(papers);
        CachedRange {
            generation,
            listing,
            days: days.into_iter().zip(maps).collect(),
            origin: sorted_origin,
            searches: Mutex::new(HashMap::new()),
            last_used: AtomicU64::new(tick),
        }
    }

    /// The answer to `queries` kept from an earlier search of this range,
    /// if its `like:` terms were compared in the days' windows `ranked`.
    fn kept_search(
        &self,
        queries: &[Query],
        ranked: &[Option<Arc<RankedWindow>>],
        tick: u64,
    ) -> Option<Arc<RangeSearch>> {
        let mut searches = self.searches.lock().unwrap_or_else(|e| e.into_inner());
        let (used, found) = searches.get_mut(queries)?;
        let same = found
            .days
            .iter()
            .zip(ranked)
            .all(|(d, r)| match (&d.ranked, r) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (a, b) => a.is_none() && b.is_none(),
            });
        if !same {
            return None;
        }
        *used = tick;
        Some(found.clone())
    }

    /// Keeps the answer to `queries`, dropping the least recently used
    /// past [`RANGE_SEARCHES`].
    fn keep_search(&self, queries: Vec<Query>, found: Arc<RangeSearch>, tick: u64) {
        let mut searches = self.searches.lock().unwrap_or_else(|e| e.into_inner());
        searches.insert(queries, (tick, found));
        while searches.len() > RANGE_SEARCHES {
            let Some(oldest) = searches
                .iter()
                .min_by_key(|(_, (used, _))| *used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            searches.remove(&oldest);
        }
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
            // Each day's window for the `like:` terms, as a digest run
            // of today weighs them.
            let mut ranked = Vec::with_capacity(range.days.len());
            for (day, _) in &range.days {
                ranked.push(match liked.is_empty() {
                    true => None,
                    false => Some(cache.ranked(store, day).await?),
                });
            }
            let tick = cache.clock.fetch_add(1, Ordering::Relaxed);
            let found = match range.kept_search(queries, &ranked, tick) {
                Some(found) => found,
                None => {
                    let found = Arc::new(Self::search(&range, queries, &liked, ranked).await);
                    range.keep_search(queries.to_vec(), found.clone(), tick);
                    found
                }
            };
            (found.hits.clone(), Some(found.days.clone()))
        };
        Ok(Selection {
            span,
            from,
            to,
            range,
            hits,
            queries: queries.to_vec(),
            liked,
            search,
        })
    }

    /// Matches `queries` on each day of `range` (indexing the days not
    /// searched before) and combines the hits.
    async fn search(
        range: &Arc<CachedRange>,
        queries: &[Query],
        liked: &[(String, Paper)],
        ranked: Vec<Option<Arc<RankedWindow>>>,
    ) -> RangeSearch {
        // Indexing a day not searched before takes a moment, a month of
        // them seconds: on a blocking thread, so the runtime's workers
        // keep answering other requests (and one waiting for the same
        // index waits there too, not on a worker).
        let (searched, queries, liked) = (range.clone(), queries.to_vec(), liked.to_vec());
        let (hits, search) = tokio::task::spawn_blocking(move || {
            let mut hits = BTreeSet::new();
            let search: Vec<DaySearch> = searched
                .days
                .iter()
                .zip(ranked)
                .map(|((day, map), ranked)| {
                    day.with_matcher(ranked.as_ref(), &liked, |build, matcher| {
                        let compiled = queries
                            .iter()
                            .map(|q| {
                                let c = matcher.compile(q);
                                let set = matcher.matches(&c);
                                hits.extend(set.iter().map(|l| map[l] as usize));
                                (c, set)
                            })
                            .collect();
                        DaySearch {
                            build,
                            compiled,
                            ranked: ranked.clone(),
                        }
                    })
                })
                .collect();
            (hits, search)
        })
        .await
        .unwrap_or_else(|e| match e.try_into_panic() {
            // A panic while indexing is the request's, as before.
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("indexing a range: {e}"),
        });
        RangeSearch {
            hits: hits.into_iter().collect(),
            days: Arc::new(search),
        }
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
        let Some(search) = &self.search else {
            return entries;
        };
        for e in &mut entries {
            let (di, local) = self.range.origin[e.index];
            let (di, local) = (di as usize, local as usize);
            let day_search = &search[di];
            let ranked = day_search.ranked.as_ref();
            self.range.days[di]
                .0
                .with_matcher(ranked, &self.liked, |build, m| {
                    for (q, (c, set)) in self.queries.iter().zip(&day_search.compiled) {
                        if !set.contains(local) {
                            continue;
                        }
                        let terms = if build == day_search.build {
                            m.explain(c, local)
                        } else {
                            let c = m.compile(q);
                            m.explain(&c, local)
                        };
                        for t in terms {
                            if !e.matched.iter().any(|k| k.label == t.label) {
                                e.matched.push(t);
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

    mod cache {
        use super::super::*;
        use crate::domain::{AnnounceType, ArxivId, FetchedPaper, PaperId};
        use crate::store::test_store;
        use chrono::Utc;

        fn fetched(id: &str, title: &str, upvotes: Option<i64>, d: &str) -> FetchedPaper {
            let pid = PaperId::arxiv(&ArxivId::parse(id).unwrap());
            let mut paper = Paper::new(
                pid,
                title,
                "An abstract about models.",
                "https://arxiv.org/abs/x",
            );
            paper.upvotes = upvotes;
            FetchedPaper {
                paper,
                day: d.parse().unwrap(),
                announce_type: Some(AnnounceType::New),
            }
        }

        async fn three_days(store: &Store) {
            let now = Utc::now();
            let hf = [
                fetched("2606.00009", "Diffusion soups", Some(5), "2026-06-12"),
                fetched("2606.00003", "Agents that plan", Some(40), "2026-06-11"),
                fetched("2606.00001", "Diffusion for video", Some(5), "2026-06-10"),
                fetched("2606.00005", "Language models", Some(5), "2026-06-12"),
            ];
            store.store_fetched("hf", &hf, now).await.unwrap();
            let rss = [
                fetched("2606.00007", "Graph diffusion", None, "2026-06-10"),
                fetched("2606.00002", "Tabular agents", None, "2026-06-11"),
                fetched("2606.00009", "Diffusion soups", None, "2026-06-10"),
                fetched("2606.00004", "Agents again", None, "2026-06-12"),
                fetched("2606.00002", "Tabular agents", None, "2026-06-12"),
            ];
            store.store_fetched("rss", &rss, now).await.unwrap();
        }

        fn shown(l: &PaperListing) -> Vec<(String, NaiveDate, Vec<String>)> {
            l.papers
                .iter()
                .zip(&l.about)
                .map(|(p, a)| (p.id.to_string(), a.day, a.sources.clone()))
                .collect()
        }

        #[tokio::test]
        async fn a_range_assembled_from_its_days_lists_what_the_store_lists_for_it() {
            let (store, _dir) = test_store().await;
            three_days(&store).await;
            let cache = RangeCache::default();
            for (from, to) in [
                ("2026-06-10", "2026-06-12"),
                ("2026-06-11", "2026-06-12"),
                ("2026-06-12", "2026-06-12"),
                ("2026-06-01", "2026-06-30"),
                ("2026-07-01", "2026-07-30"),
            ] {
                let (from, to) = (from.parse().unwrap(), to.parse().unwrap());
                let range = cache.get(&store, from, to).await.unwrap();
                let direct = store.listed_papers(from, to).await.unwrap();
                assert_eq!(shown(&range.listing), shown(&direct), "{from}..{to}");
            }
        }

        #[tokio::test]
        async fn a_fetch_rereads_only_the_days_it_touched() {
            let (store, _dir) = test_store().await;
            three_days(&store).await;
            let cache = RangeCache::default();
            let (from, to) = ("2026-06-10".parse().unwrap(), "2026-06-12".parse().unwrap());
            let before = cache.get(&store, from, to).await.unwrap();
            assert!(Arc::ptr_eq(
                &before,
                &cache.get(&store, from, to).await.unwrap()
            ));
            store
                .store_fetched(
                    "rss",
                    &[fetched(
                        "2606.00011",
                        "New on the last day",
                        None,
                        "2026-06-12",
                    )],
                    Utc::now(),
                )
                .await
                .unwrap();
            let after = cache.get(&store, from, to).await.unwrap();
            assert!(!Arc::ptr_eq(&before, &after));
            let same: Vec<bool> = before
                .days
                .iter()
                .zip(&after.days)
                .map(|((a, _), (b, _))| Arc::ptr_eq(a, b))
                .collect();
            assert_eq!(same, [true, true, false]);
            assert_eq!(after.listing.papers.len(), before.listing.papers.len() + 1);
        }

        #[tokio::test]
        async fn a_like_search_finds_what_a_digest_run_of_today_finds() {
            use crate::digest::ranked::testing::{disagreeing_day, LIKED};
            let (store, _dir) = test_store().await;
            let (today, expected) = disagreeing_day(&store).await;
            let cache = RangeCache::default();
            let likes = LikeLookup::new(store.clone(), None);
            let q = Query::parse(&format!("like:{LIKED}")).unwrap();
            for _ in 0..2 {
                let sel = Selection::load_days(
                    &store,
                    &cache,
                    &likes,
                    Span::Day(today),
                    today,
                    today,
                    std::slice::from_ref(&q),
                )
                .await
                .unwrap();
                let found: BTreeSet<String> = sel
                    .hits
                    .iter()
                    .map(|&i| sel.papers()[i].id.as_str().to_string())
                    .collect();
                assert_eq!(found, expected);
            }
        }

        #[tokio::test]
        async fn a_search_over_days_finds_and_explains_what_one_index_over_the_range_does() {
            let (store, _dir) = test_store().await;
            three_days(&store).await;
            let cache = RangeCache::default();
            let likes = LikeLookup::new(store.clone(), None);
            let (from, to) = ("2026-06-10".parse().unwrap(), "2026-06-12".parse().unwrap());
            for text in [
                "diffusion",
                "agent* OR ti:language",
                "upvotes>=5 AND NOT ti:agents",
                "nothing",
            ] {
                let q = Query::parse(text).unwrap();
                let sel = Selection::load_days(
                    &store,
                    &cache,
                    &likes,
                    Span::Days(3),
                    from,
                    to,
                    std::slice::from_ref(&q),
                )
                .await
                .unwrap();
                let direct = store.listed_papers(from, to).await.unwrap();
                let mut m = Matcher::new(&direct.papers);
                let c = m.compile(&q);
                let want: Vec<usize> = m.matches(&c).iter().collect();
                assert_eq!(sel.hits, want, "{text}");
                for e in sel.page(1) {
                    let labels = |v: Vec<MatchedTerm>| -> Vec<String> {
                        let mut out: Vec<String> = Vec::new();
                        for t in v {
                            if !out.iter().any(|l| **l == *t.label) {
                                out.push(t.label.to_string());
                            }
                        }
                        out
                    };
                    assert_eq!(labels(e.matched), labels(m.explain(&c, e.index)), "{text}");
                }
            }
        }
        #[tokio::test]
        async fn a_search_again_is_answered_from_its_range_and_the_kept_searches_are_bounded() {
            let (store, _dir) = test_store().await;
            three_days(&store).await;
            let cache = RangeCache::default();
            let likes = LikeLookup::new(store.clone(), None);
            let (from, to) = ("2026-06-10".parse().unwrap(), "2026-06-12".parse().unwrap());
            let search = |text: &str| {
                let q = Query::parse(text).unwrap();
                let (store, cache, likes) = (&store, &cache, &likes);
                async move {
                    Selection::load_days(store, cache, likes, Span::Days(3), from, to, &[q])
                        .await
                        .unwrap()
                }
            };
            let first = search("agent* OR ti:language").await;
            let again = search("agent* OR ti:language").await;
            assert_eq!(first.hits, again.hits);
            assert!(Arc::ptr_eq(
                first.search.as_ref().unwrap(),
                again.search.as_ref().unwrap()
            ));
            let explained = |s: &Selection| -> Vec<Vec<String>> {
                s.page(1)
                    .into_iter()
                    .map(|e| e.matched.iter().map(|t| t.label.to_string()).collect())
                    .collect()
            };
            assert_eq!(explained(&first), explained(&again));
            // Past the bound, the least recently used search goes first.
            for n in 0..RANGE_SEARCHES {
                search(&format!("ti:word{n}")).await;
            }
            let range = cache.get(&store, from, to).await.unwrap();
            assert_eq!(range.searches.lock().unwrap().len(), RANGE_SEARCHES);
            let later = search("agent* OR ti:language").await;
            assert!(!Arc::ptr_eq(
                first.search.as_ref().unwrap(),
                later.search.as_ref().unwrap()
            ));
            assert_eq!(first.hits, later.hits);
        }
    }
}

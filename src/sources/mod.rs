//! Paper sources: fetching and parsing every kind of upstream paper list.
//!
//! Owns the operator-facing [`SourceConfig`] (one `[[sources]]` table), the
//! runtime [`Source`] built from it, and one module per source kind, each
//! with a pure `parse` function kept apart from HTTP so it can be tested and
//! fuzzed on recorded payloads. All network access goes through [`http`].
//!
//! This module must not touch the store, the matcher or the mailer: it hands
//! back [`FetchReport`]s and the caller decides what to persist. In
//! particular, conditional-GET [`Validators`] are returned, never saved here,
//! so that a crash between fetching and storing can never hide papers behind
//! a later `304 Not Modified`.
//!
//! Per-item rule shared by every parser: an item that lacks what a paper
//! needs (an id, a title, a day) is skipped and reported in
//! [`FetchReport::skipped`], so one bad item does not drop the good ones; a
//! payload that is structurally broken (truncated, not JSON/XML, wrong root)
//! or whose items are *all* bad is an error.

pub mod arxiv_api;
pub mod arxiv_rss;
pub mod biorxiv;
pub(crate) mod calendar;
pub(crate) mod charset;
pub mod dates;
pub mod feed;
pub mod hf_daily;
mod html;
pub(crate) mod http;
pub use http::client_builder;
#[cfg(test)]
mod test_server;
mod xml;

use std::collections::HashMap;
use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use chrono::NaiveDate;
use regex::Regex;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::domain::{normalise_inline, AnnounceType, FetchedPaper};
pub use http::{Http, HttpError, HttpOptions, RequestPolicy};

/// Which upstream a `[[sources]]` table describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Hugging Face Daily Papers JSON API.
    HfDailyPapers,
    /// rss.arxiv.org announcement feeds (RSS 2.0 or Atom).
    ArxivRss,
    /// export.arxiv.org query API (Atom).
    ArxivApi,
    /// Any RSS 2.0, RSS 1.0 (RDF) or Atom feed.
    Feed,
    /// bioRxiv or medRxiv, through the api.biorxiv.org details API.
    Biorxiv,
}

impl SourceKind {
    /// The `kind` value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HfDailyPapers => "hf_daily_papers",
            Self::ArxivRss => "arxiv_rss",
            Self::ArxivApi => "arxiv_api",
            Self::Feed => "feed",
            Self::Biorxiv => "biorxiv",
        }
    }
}

/// One `[[sources]]` table of the operator's TOML, as written. Unknown keys
/// are rejected at deserialisation; [`SourceConfig::validate`] checks values
/// and that each key applies to the kind.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub name: String,
    pub kind: SourceKind,
    /// Endpoint; each kind has a default except `feed`, which requires one.
    pub url: Option<String>,
    /// `arxiv_rss` only: categories joined with `+` in the feed URL.
    pub categories: Option<Vec<String>>,
    /// `arxiv_rss` only: which announcements to keep (default `new`, `cross`).
    pub announce_types: Option<Vec<String>>,
    /// `arxiv_api` only: an arXiv query such as `cat:cs.LG`.
    pub search_query: Option<String>,
    /// `arxiv_api` only: results per request (default 100, at most 2000).
    pub page_size: Option<u32>,
    /// `arxiv_api` only: results per day at most (default 1000, at most 30000).
    pub max_results: Option<u32>,
    /// `biorxiv` only: which server, `biorxiv` (default) or `medrxiv`.
    pub server: Option<String>,
    /// Overall per-request timeout (default 30).
    pub timeout_secs: Option<u64>,
    /// Retries after a 429, 5xx, timeout or connection failure (default 3).
    pub retries: Option<u32>,
    /// Minimum spacing between requests to the same host (default 3000 for
    /// the arXiv kinds, per arXiv's terms of use; 1000 for `biorxiv`; 0
    /// otherwise).
    pub min_interval_ms: Option<u64>,
}

/// A `[[sources]]` table that cannot be used, naming the source and the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("source `{source_name}`: key `{key}`: {reason}")]
pub struct ConfigError {
    pub source_name: String,
    pub key: &'static str,
    pub reason: String,
}

/// Default endpoint of `hf_daily_papers`.
pub const DEFAULT_HF_URL: &str = "https://huggingface.co/api/daily_papers";
/// Default base of `arxiv_rss`; `https://rss.arxiv.org/atom` also works.
pub const DEFAULT_ARXIV_RSS_URL: &str = "https://rss.arxiv.org/rss";
/// Default endpoint of `arxiv_api`.
pub const DEFAULT_ARXIV_API_URL: &str = "https://export.arxiv.org/api/query";
const DEFAULT_TIMEOUT_SECS: u64 = 30;
const DEFAULT_RETRIES: u32 = 3;
const ARXIV_MIN_INTERVAL_MS: u64 = 3000;
const DEFAULT_PAGE_SIZE: u32 = 100;
const DEFAULT_MAX_RESULTS: u32 = 1000;

static CATEGORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z]+(?:-[A-Za-z]+)*(?:\.[A-Za-z]+(?:-[A-Za-z]+)*)?$").expect("valid regex")
});

impl SourceConfig {
    /// Checks every value, returning the first problem with the source's name
    /// and the offending key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &'static str, reason: String| ConfigError {
            source_name: self.name.clone(),
            key,
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(err("name", "must not be empty".into()));
        }
        if self.name.chars().any(char::is_control) {
            return Err(err("name", "must not contain control characters".into()));
        }
        let kind = self.kind;
        let only_for = |key: &'static str, present: bool, allowed: SourceKind| {
            if present && kind != allowed {
                Err(err(
                    key,
                    format!(
                        "applies only to kind `{}`, not `{}`",
                        allowed.as_str(),
                        kind.as_str()
                    ),
                ))
            } else {
                Ok(())
            }
        };
        only_for(
            "categories",
            self.categories.is_some(),
            SourceKind::ArxivRss,
        )?;
        only_for(
            "announce_types",
            self.announce_types.is_some(),
            SourceKind::ArxivRss,
        )?;
        only_for(
            "search_query",
            self.search_query.is_some(),
            SourceKind::ArxivApi,
        )?;
        only_for("page_size", self.page_size.is_some(), SourceKind::ArxivApi)?;
        only_for(
            "max_results",
            self.max_results.is_some(),
            SourceKind::ArxivApi,
        )?;
        only_for("server", self.server.is_some(), SourceKind::Biorxiv)?;
        if let Some(server) = &self.server {
            if biorxiv::Server::parse(server).is_none() {
                return Err(err(
                    "server",
                    format!("{server:?} is not a server (expected biorxiv or medrxiv)"),
                ));
            }
        }
        match (&self.url, kind) {
            (Some(u), _) => {
                parse_http_url(u).map_err(|reason| err("url", reason))?;
            }
            (None, SourceKind::Feed) => {
                return Err(err("url", "is required for kind `feed`".into()));
            }
            (None, _) => {}
        }
        if kind == SourceKind::ArxivRss {
            let cats = self.categories.as_deref().unwrap_or_default();
            if cats.is_empty() {
                return Err(err("categories", "list at least one arXiv category".into()));
            }
            if let Some(bad) = cats.iter().find(|c| !CATEGORY.is_match(c.trim())) {
                return Err(err(
                    "categories",
                    format!("{bad:?} is not an arXiv category such as \"cs.LG\""),
                ));
            }
            if let Some(types) = &self.announce_types {
                if types.is_empty() {
                    return Err(err("announce_types", "must not be empty".into()));
                }
                if let Some(bad) = types.iter().find(|t| AnnounceType::parse(t).is_none()) {
                    return Err(err(
                        "announce_types",
                        format!(
                            "unknown announce type {bad:?} (expected new, cross, replace or replace-cross)"
                        ),
                    ));
                }
            }
        }
        if kind == SourceKind::ArxivApi {
            match &self.search_query {
                Some(q) if !q.trim().is_empty() => {}
                _ => return Err(err("search_query", "must not be empty".into())),
            }
            if let Some(p) = self.page_size {
                if !(1..=2000).contains(&p) {
                    return Err(err("page_size", format!("{p} is not between 1 and 2000")));
                }
            }
            if let Some(m) = self.max_results {
                if !(1..=30000).contains(&m) {
                    return Err(err(
                        "max_results",
                        format!("{m} is not between 1 and 30000"),
                    ));
                }
            }
        }
        if self.timeout_secs == Some(0) {
            return Err(err("timeout_secs", "must be at least 1".into()));
        }
        if let Some(r) = self.retries {
            if r > 10 {
                return Err(err("retries", format!("{r} is more than 10")));
            }
        }
        Ok(())
    }

    /// Validates every table and that no two share a name (names key the
    /// stored validators and appear in logs and errors).
    pub fn validate_all(configs: &[SourceConfig]) -> Result<(), ConfigError> {
        for (i, c) in configs.iter().enumerate() {
            c.validate()?;
            if configs[..i].iter().any(|o| o.name.trim() == c.name.trim()) {
                return Err(ConfigError {
                    source_name: c.name.clone(),
                    key: "name",
                    reason: "is used by another source".into(),
                });
            }
        }
        Ok(())
    }

    fn policy(&self) -> RequestPolicy {
        let default_interval = match self.kind {
            SourceKind::ArxivApi | SourceKind::ArxivRss => ARXIV_MIN_INTERVAL_MS,
            // The details API states no limit; one request a second is polite.
            SourceKind::Biorxiv => 1000,
            SourceKind::HfDailyPapers | SourceKind::Feed => 0,
        };
        RequestPolicy {
            timeout: Duration::from_secs(self.timeout_secs.unwrap_or(DEFAULT_TIMEOUT_SECS)),
            retries: self.retries.unwrap_or(DEFAULT_RETRIES),
            min_interval: Duration::from_millis(self.min_interval_ms.unwrap_or(default_interval)),
        }
    }
}

fn parse_http_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("{s:?} is not an http(s) URL"));
    }
    Ok(url)
}

/// Conditional-GET validators for one URL, as the server last sent them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// True when the server sent neither an ETag nor a Last-Modified.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

/// What one [`Source::fetch`] produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FetchReport {
    pub papers: Vec<FetchedPaper>,
    /// Validators to persist per URL, only after `papers` are stored.
    pub validators: Vec<(String, Validators)>,
    /// The server answered `304 Not Modified`: nothing new since the
    /// validators passed in; `papers` is empty.
    pub not_modified: bool,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Items left out of `papers`, each saying which item and why.
    pub skipped: Vec<String>,
    /// Items kept under the requested day because no date they gave could
    /// be read, each with the raw value.
    pub unreadable_dates: Vec<String>,
}

/// A payload that could not be turned into papers, saying what and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("invalid JSON at line {line}, column {column}: {detail}")]
    Json {
        line: usize,
        column: usize,
        detail: String,
    },
    #[error("invalid XML at byte {offset}: {detail}")]
    Xml { offset: u64, detail: String },
    #[error("truncated payload: {0}")]
    Truncated(String),
    #[error("unexpected payload structure: {0}")]
    Structure(String),
    #[error("no usable item: {0}")]
    NoUsableItem(String),
    #[error("arXiv API error: {0}")]
    ArxivApi(String),
}

impl ParseError {
    /// A JSON payload's value (a leading byte-order mark is skipped), or
    /// where and why it is not JSON: a payload that stops early is
    /// [`ParseError::Truncated`], anything else [`ParseError::Json`] with
    /// its line and column.
    pub(crate) fn json(body: &[u8]) -> Result<serde_json::Value, ParseError> {
        let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
        serde_json::from_slice(body).map_err(|e| {
            let detail = e.to_string();
            if e.is_eof() {
                ParseError::Truncated(format!("JSON ends early ({detail})"))
            } else {
                ParseError::Json {
                    line: e.line(),
                    column: e.column(),
                    detail,
                }
            }
        })
    }
}

/// One item a parser skipped, with its 0-based position in the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    pub index: usize,
    pub reason: String,
}

impl fmt::Display for ItemError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "item {}: {}",
            self.index,
            charset::printable(&self.reason)
        )
    }
}

/// Papers parsed from one payload plus the items that had to be skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub papers: Vec<FetchedPaper>,
    pub skipped: Vec<ItemError>,
    /// Items (among `papers` or `skipped`) that gave a date no reader
    /// understood, with the raw value.
    pub unreadable_dates: Vec<ItemError>,
}

impl Parsed {
    /// Applies the all-bad rule: items existed but none was usable.
    fn into_result(self) -> Result<Parsed, ParseError> {
        if self.papers.is_empty() {
            if let Some(first) = self.skipped.first() {
                return Err(ParseError::NoUsableItem(format!(
                    "all {} item(s) rejected; first: {first}",
                    self.skipped.len()
                )));
            }
        }
        Ok(self)
    }
}

/// A fetch that failed, always naming the source and what went wrong.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source `{source_name}`: {url} answered HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        source_name: String,
        url: String,
        status: u16,
        /// The upstream's own explanation (arXiv's error feed) when present.
        message: Option<String>,
    },
    /// The upstream answered successfully but with its own error document
    /// (arXiv's error feed sent with HTTP 200).
    #[error("source `{source_name}`: {url} reported an error: {message}")]
    Upstream {
        source_name: String,
        url: String,
        message: String,
    },
    #[error("source `{source_name}`: {url} timed out after {after:?}")]
    Timeout {
        source_name: String,
        url: String,
        after: Duration,
    },
    #[error("source `{source_name}`: could not reach {url}: {reason}")]
    Network {
        source_name: String,
        url: String,
        reason: String,
    },
    #[error("source `{source_name}`: {url} sent more than {limit} bytes")]
    TooLarge {
        source_name: String,
        url: String,
        limit: usize,
    },
    #[error("source `{source_name}`: malformed payload from {url}: {error}")]
    Malformed {
        source_name: String,
        url: String,
        error: ParseError,
    },
}

impl SourceError {
    /// The configured name of the source that failed.
    pub fn source_name(&self) -> &str {
        match self {
            Self::Status { source_name, .. }
            | Self::Upstream { source_name, .. }
            | Self::Timeout { source_name, .. }
            | Self::Network { source_name, .. }
            | Self::TooLarge { source_name, .. }
            | Self::Malformed { source_name, .. } => source_name,
        }
    }

    fn from_http(source_name: &str, url: &Url, error: HttpError) -> Self {
        let source_name = source_name.to_string();
        let url = url.to_string();
        match error {
            HttpError::Status { status, body } => {
                let message = arxiv_api::error_message(&body).or_else(|| json_error(&body));
                SourceError::Status {
                    source_name,
                    url,
                    status,
                    message,
                }
            }
            HttpError::Timeout { after } => SourceError::Timeout {
                source_name,
                url,
                after,
            },
            HttpError::Network(reason) => SourceError::Network {
                source_name,
                url,
                reason,
            },
            HttpError::TooLarge { limit } => SourceError::TooLarge {
                source_name,
                url,
                limit,
            },
        }
    }

    fn malformed(source_name: &str, url: &Url, error: ParseError) -> Self {
        SourceError::Malformed {
            source_name: source_name.to_string(),
            url: url.to_string(),
            error,
        }
    }
}

#[derive(Debug, Clone)]
enum Spec {
    HfDaily {
        url: Url,
    },
    ArxivRss {
        url: Url,
        announce_types: Vec<AnnounceType>,
    },
    ArxivApi {
        url: Url,
        search_query: String,
        page_size: u32,
        max_results: u32,
    },
    Feed {
        url: Url,
    },
    Biorxiv {
        url: Url,
        server: biorxiv::Server,
    },
}

/// A validated, ready-to-fetch paper source.
#[derive(Debug, Clone)]
pub struct Source {
    name: String,
    kind: SourceKind,
    spec: Spec,
    policy: RequestPolicy,
    http: Http,
}

impl Source {
    /// Builds a source from its validated config, sharing `http` (one client
    /// and one politeness gate per host for the whole process).
    pub fn new(config: &SourceConfig, http: &Http) -> Result<Source, ConfigError> {
        config.validate()?;
        let configured = config.url.as_deref();
        let url_or = |default: &str| config_url(config, configured.unwrap_or(default));
        let spec = match config.kind {
            SourceKind::HfDailyPapers => Spec::HfDaily {
                url: url_or(DEFAULT_HF_URL)?,
            },
            SourceKind::ArxivRss => {
                let base = config
                    .url
                    .as_deref()
                    .unwrap_or(DEFAULT_ARXIV_RSS_URL)
                    .trim()
                    .trim_end_matches('/');
                let cats: Vec<&str> = config
                    .categories
                    .iter()
                    .flatten()
                    .map(|c| c.trim())
                    .collect();
                let announce_types = match &config.announce_types {
                    Some(types) => types
                        .iter()
                        .filter_map(|t| AnnounceType::parse(t))
                        .collect(),
                    None => vec![AnnounceType::New, AnnounceType::Cross],
                };
                Spec::ArxivRss {
                    url: config_url(config, &format!("{base}/{}", cats.join("+")))?,
                    announce_types,
                }
            }
            SourceKind::ArxivApi => Spec::ArxivApi {
                url: url_or(DEFAULT_ARXIV_API_URL)?,
                search_query: config
                    .search_query
                    .clone()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                page_size: config.page_size.unwrap_or(DEFAULT_PAGE_SIZE),
                max_results: config.max_results.unwrap_or(DEFAULT_MAX_RESULTS),
            },
            SourceKind::Feed => Spec::Feed { url: url_or("")? },
            SourceKind::Biorxiv => Spec::Biorxiv {
                url: url_or(biorxiv::DEFAULT_URL)?,
                server: config
                    .server
                    .as_deref()
                    .and_then(biorxiv::Server::parse)
                    .unwrap_or(biorxiv::Server::Biorxiv),
            },
        };
        Ok(Source {
            name: config.name.clone(),
            kind: config.kind,
            spec,
            policy: config.policy(),
            http: http.clone(),
        })
    }

    /// The operator's name for this source.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Which upstream this source reads.
    pub fn kind(&self) -> SourceKind {
        self.kind
    }

    /// Fetches the papers of `date` (see each kind's module for what a day
    /// means; the arXiv announcement feeds carry only the current day and
    /// ignore it). `validators` are the ones last persisted, keyed by URL.
    pub async fn fetch(
        &self,
        date: NaiveDate,
        validators: &HashMap<String, Validators>,
    ) -> Result<FetchReport, SourceError> {
        match &self.spec {
            Spec::HfDaily { url } => self.fetch_hf_day(url, date, validators).await,
            Spec::ArxivRss {
                url,
                announce_types,
            } => {
                self.fetch_one(url, validators, |body, _| {
                    arxiv_rss::parse_items(body, announce_types)
                })
                .await
            }
            Spec::Feed { url } => {
                self.fetch_one(url, validators, |body, content_type| {
                    let served = feed::Served {
                        url: Some(url),
                        content_type,
                    };
                    feed::parse_served(body, served, date)
                })
                .await
            }
            Spec::ArxivApi {
                url,
                search_query,
                page_size,
                max_results,
            } => {
                arxiv_api::fetch_day(self, url, search_query, *page_size, *max_results, date).await
            }
            Spec::Biorxiv { url, server } => biorxiv::fetch_day(self, url, *server, date).await,
        }
    }

    /// Every page of one Daily Papers day: pages are fetched until one is
    /// short, unchanged (304), or adds no paper not already seen (a server
    /// that ignores `p`), and at most [`hf_daily::MAX_PAGES`].
    async fn fetch_hf_day(
        &self,
        base: &Url,
        date: NaiveDate,
        validators: &HashMap<String, Validators>,
    ) -> Result<FetchReport, SourceError> {
        let limit = hf_daily::page_limit(base);
        let mut total = FetchReport::default();
        let mut seen = std::collections::HashSet::new();
        for page in 0..hf_daily::MAX_PAGES {
            let url = hf_daily::request_url(base, date, page);
            let mut items = 0;
            let report = self
                .fetch_one(&url, validators, |body, _| {
                    let parsed = hf_daily::parse_items(body)?;
                    items = parsed.papers.len() + parsed.skipped.len();
                    Ok(parsed)
                })
                .await?;
            total.requests += report.requests;
            total.validators.extend(report.validators);
            total.skipped.extend(report.skipped);
            total.unreadable_dates.extend(report.unreadable_dates);
            if page == 0 {
                total.not_modified = report.not_modified;
            }
            let mut fresh = false;
            for p in report.papers {
                if seen.insert(p.paper.id.clone()) {
                    total.papers.push(p);
                    fresh = true;
                }
            }
            if report.not_modified || items < limit || !fresh {
                break;
            }
        }
        Ok(total)
    }

    /// One conditional GET of a single-document source, then `parse`.
    async fn fetch_one(
        &self,
        url: &Url,
        validators: &HashMap<String, Validators>,
        parse: impl FnOnce(&[u8], Option<&str>) -> Result<Parsed, ParseError>,
    ) -> Result<FetchReport, SourceError> {
        let known = validators.get(url.as_str());
        let (outcome, requests) = self
            .http
            .get(url, known, &self.policy)
            .await
            .map_err(|e| SourceError::from_http(&self.name, url, e))?;
        let mut report = FetchReport {
            requests,
            ..FetchReport::default()
        };
        match outcome {
            http::Outcome::NotModified => {
                report.not_modified = true;
                if let Some(v) = known {
                    report.validators.push((url.to_string(), v.clone()));
                }
            }
            http::Outcome::Body {
                body,
                validators,
                content_type,
            } => {
                let parsed = parse(&body, content_type.as_deref())
                    .map_err(|e| SourceError::malformed(&self.name, url, e))?;
                report.papers = parsed.papers;
                report.skipped = parsed.skipped.iter().map(ToString::to_string).collect();
                report.unreadable_dates = parsed
                    .unreadable_dates
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                if !validators.is_empty() {
                    report.validators.push((url.to_string(), validators));
                }
            }
        }
        for skipped in &report.skipped {
            tracing::warn!(source.name = %self.name, item = %skipped, "skipped a malformed item");
        }
        for undated in &report.unreadable_dates {
            tracing::warn!(source.name = %self.name, item = %undated, "kept an item under the fetch day: its date could not be read");
        }
        Ok(report)
    }
}

/// The `error`/`message` string of a JSON error body (Hugging Face sends
/// `{"error": "..."}` with its 4xx answers).
fn json_error(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["error", "message"]
        .iter()
        .find_map(|k| v.get(k).and_then(serde_json::Value::as_str))
        .map(normalise_inline)
        .filter(|m| !m.is_empty())
}

fn config_url(config: &SourceConfig, s: &str) -> Result<Url, ConfigError> {
    parse_http_url(s).map_err(|reason| ConfigError {
        source_name: config.name.clone(),
        key: "url",
        reason,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap as Map;
    use std::sync::{Arc, Mutex};

    use axum::extract::{Path, Query};
    use axum::http::{HeaderMap as AxHeaders, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;
    use tokio::time::Instant;

    use super::test_server::{http, serve};
    use super::*;

    #[derive(Deserialize)]
    struct Settings {
        sources: Vec<SourceConfig>,
    }

    fn from_toml(s: &str) -> Result<Vec<SourceConfig>, String> {
        config::Config::builder()
            .add_source(config::File::from_str(s, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<Settings>())
            .map(|s| s.sources)
            .map_err(|e| e.to_string())
    }

    fn one(toml: &str) -> SourceConfig {
        from_toml(toml).unwrap().remove(0)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const EXAMPLE: &str = r#"
        [[sources]]
        name = "hf"
        kind = "hf_daily_papers"
        url = "https://huggingface.co/api/daily_papers"
        [[sources]]
        name = "arxiv-lg"
        kind = "arxiv_rss"
        categories = ["cs.LG", "cs.CL"]
        announce_types = ["new", "cross"]
        [[sources]]
        name = "arxiv-api"
        kind = "arxiv_api"
        search_query = "cat:cs.LG"
        [[sources]]
        name = "biorxiv"
        kind = "feed"
        url = "https://connect.biorxiv.org/biorxiv_xml/neuroscience"
        timeout_secs = 10
    "#;

    #[test]
    fn the_documented_example_config_parses_and_validates() {
        let sources = from_toml(EXAMPLE).unwrap();
        assert_eq!(sources.len(), 4);
        for s in &sources {
            s.validate().unwrap();
        }
        assert_eq!(sources[1].kind, SourceKind::ArxivRss);
        assert_eq!(
            sources[1].policy().min_interval,
            Duration::from_millis(3000)
        );
        assert_eq!(
            sources[2].policy().min_interval,
            Duration::from_millis(3000)
        );
        assert_eq!(sources[0].policy().min_interval, Duration::ZERO);
        assert_eq!(sources[3].policy().timeout, Duration::from_secs(10));
        let http = http();
        let rss = Source::new(&sources[1], &http).unwrap();
        let Spec::ArxivRss {
            url,
            announce_types,
        } = &rss.spec
        else {
            panic!()
        };
        assert_eq!(url.as_str(), "https://rss.arxiv.org/rss/cs.LG+cs.CL");
        assert_eq!(announce_types, &[AnnounceType::New, AnnounceType::Cross]);
    }

    #[tokio::test]
    async fn a_fetch_runs_on_a_spawned_task_and_an_empty_weekend_list_is_ok() {
        let base = serve(Router::new().route("/api/daily_papers", get(|| async { "[]" }))).await;
        let mut c = cfg(SourceKind::HfDailyPapers, "hf");
        c.url = Some(format!("{base}/api/daily_papers"));
        let source = Source::new(&c, &http()).unwrap();
        // The scheduler spawns fetches, so the future must be Send + 'static.
        let report = tokio::spawn(async move { source.fetch(d("2026-06-13"), &Map::new()).await })
            .await
            .unwrap()
            .unwrap();
        assert!(report.papers.is_empty());
        assert_eq!(report.requests, 1);
    }

    #[test]
    fn two_sources_may_not_share_a_name() {
        let mut sources = from_toml(EXAMPLE).unwrap();
        SourceConfig::validate_all(&sources).unwrap();
        sources[3].name = "hf".into();
        let err = SourceConfig::validate_all(&sources).unwrap_err();
        assert_eq!(
            err.to_string(),
            "source `hf`: key `name`: is used by another source"
        );
    }

    #[test]
    fn unknown_keys_are_rejected_when_reading_the_config() {
        let err = from_toml(
            "[[sources]]\nname = \"hf\"\nkind = \"hf_daily_papers\"\ncategory = [\"cs.LG\"]\n",
        )
        .unwrap_err();
        assert!(err.contains("category"), "{err}");
        let err = from_toml("[[sources]]\nname = \"x\"\nkind = \"rss\"\n").unwrap_err();
        assert!(err.contains("rss"), "{err}");
    }

    #[test]
    fn validation_names_the_source_and_the_bad_key() {
        let cases = [
            ("name = \" \"\nkind = \"hf_daily_papers\"", "name"),
            ("name = \"a\"\nkind = \"feed\"", "url"),
            ("name = \"a\"\nkind = \"feed\"\nurl = \"ftp://x.org/f\"", "url"),
            ("name = \"a\"\nkind = \"hf_daily_papers\"\nurl = \"not a url\"", "url"),
            ("name = \"a\"\nkind = \"arxiv_rss\"", "categories"),
            ("name = \"a\"\nkind = \"arxiv_rss\"\ncategories = []", "categories"),
            ("name = \"a\"\nkind = \"arxiv_rss\"\ncategories = [\"cs LG\"]", "categories"),
            (
                "name = \"a\"\nkind = \"arxiv_rss\"\ncategories = [\"cs.LG\"]\nannounce_types = [\"old\"]",
                "announce_types",
            ),
            ("name = \"a\"\nkind = \"arxiv_api\"", "search_query"),
            ("name = \"a\"\nkind = \"arxiv_api\"\nsearch_query = \"  \"", "search_query"),
            ("name = \"a\"\nkind = \"arxiv_api\"\nsearch_query = \"x\"\npage_size = 0", "page_size"),
            ("name = \"a\"\nkind = \"hf_daily_papers\"\nsearch_query = \"x\"", "search_query"),
            ("name = \"a\"\nkind = \"hf_daily_papers\"\ntimeout_secs = 0", "timeout_secs"),
        ];
        for (body, key) in cases {
            let cfg = one(&format!("[[sources]]\n{body}\n"));
            let err = cfg.validate().unwrap_err();
            assert_eq!(err.key, key, "{body}: {err}");
            assert!(err.to_string().contains(&format!("key `{key}`")), "{err}");
            assert!(err.to_string().starts_with("source `"), "{err}");
        }
    }

    fn cfg(kind: SourceKind, name: &str) -> SourceConfig {
        SourceConfig {
            name: name.into(),
            kind,
            url: None,
            categories: None,
            announce_types: None,
            search_query: None,
            page_size: None,
            max_results: None,
            server: None,
            timeout_secs: Some(5),
            retries: Some(1),
            min_interval_ms: Some(0),
        }
    }

    const HF_FULL: &[u8] =
        include_bytes!("../../tests/fixtures/hf_daily_papers_2026-06-12_full_30items.json");
    const RSS_COMBINED: &[u8] = include_bytes!(
        "../../tests/fixtures/arxiv_rss_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_new_cross_replace_DOI.xml"
    );
    const API_ERROR: &[u8] =
        include_bytes!("../../tests/fixtures/arxiv_api_2026-04_error_http400_id_list_abc.xml");

    #[tokio::test]
    async fn hugging_face_is_asked_for_the_date_and_its_papers_returned() {
        let base = serve(Router::new().route(
            "/api/daily_papers",
            get(|Query(q): Query<Map<String, String>>| async move {
                if q.get("date").map(String::as_str) == Some("2026-06-12") {
                    ([("etag", "\"hf1\"")], HF_FULL).into_response()
                } else {
                    (StatusCode::BAD_REQUEST, r#"{"error":"Invalid date"}"#).into_response()
                }
            }),
        ))
        .await;
        let mut c = cfg(SourceKind::HfDailyPapers, "hf");
        c.url = Some(format!("{base}/api/daily_papers"));
        let source = Source::new(&c, &http()).unwrap();
        assert_eq!(source.name(), "hf");
        let report = source.fetch(d("2026-06-12"), &Map::new()).await.unwrap();
        assert_eq!(report.papers.len(), 30);
        assert_eq!(report.requests, 1);
        assert!(!report.not_modified);
        assert_eq!(
            report.validators,
            vec![(
                format!("{base}/api/daily_papers?date=2026-06-12&limit=100"),
                Validators {
                    etag: Some("\"hf1\"".into()),
                    last_modified: None
                }
            )]
        );
        let err = source
            .fetch(d("2026-06-13"), &Map::new())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("source `hf`:"), "{err}");
        assert!(
            matches!(err, SourceError::Status { status: 400, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn the_arxiv_feed_url_joins_categories_and_a_304_reports_not_modified() {
        let base = serve(Router::new().route(
            "/rss/{cats}",
            get(|Path(cats): Path<String>, headers: AxHeaders| async move {
                if cats != "cs.LG+stat.ML" {
                    return (StatusCode::NOT_FOUND, "unknown").into_response();
                }
                if headers.get("if-none-match").is_some_and(|v| v == "\"r1\"") {
                    return StatusCode::NOT_MODIFIED.into_response();
                }
                ([("etag", "\"r1\"")], RSS_COMBINED).into_response()
            }),
        ))
        .await;
        let mut c = cfg(SourceKind::ArxivRss, "arxiv-lg");
        c.url = Some(format!("{base}/rss/"));
        c.categories = Some(vec!["cs.LG".into(), "stat.ML".into()]);
        let source = Source::new(&c, &http()).unwrap();
        let first = source.fetch(d("2026-01-01"), &Map::new()).await.unwrap();
        assert_eq!(first.papers.len(), 3);
        assert!(first.papers.iter().all(|p| p.day == d("2026-09-24")));
        let known: Map<String, Validators> = first.validators.into_iter().collect();
        let second = source.fetch(d("2026-01-01"), &known).await.unwrap();
        assert!(second.not_modified);
        assert!(second.papers.is_empty());
    }

    #[tokio::test]
    async fn a_truncated_feed_is_rejected_naming_the_source() {
        let base = serve(Router::new().route(
            "/f",
            get(|| async { &RSS_COMBINED[..RSS_COMBINED.len() / 3] }),
        ))
        .await;
        let mut c = cfg(SourceKind::Feed, "biorxiv");
        c.url = Some(format!("{base}/f"));
        let err = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.starts_with("source `biorxiv`: malformed payload"),
            "{msg}"
        );
        assert!(msg.contains("truncated"), "{msg}");
    }

    #[tokio::test]
    async fn a_timeout_names_the_source() {
        let base = serve(Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        ))
        .await;
        let mut c = cfg(SourceKind::Feed, "slowpoke");
        c.url = Some(format!("{base}/slow"));
        c.timeout_secs = Some(1);
        c.retries = Some(0);
        let err = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Timeout { .. }), "{err}");
        assert!(err.to_string().starts_with("source `slowpoke`"), "{err}");
    }

    #[tokio::test]
    async fn the_arxiv_api_400_error_feed_is_quoted() {
        let base = serve(Router::new().route(
            "/api/query",
            get(|| async { (StatusCode::BAD_REQUEST, API_ERROR) }),
        ))
        .await;
        let mut c = cfg(SourceKind::ArxivApi, "arxiv-api");
        c.url = Some(format!("{base}/api/query"));
        c.search_query = Some("cat:cs.LG".into());
        let err = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("HTTP 400: incorrect id format for abc"),
            "{msg}"
        );
        assert!(msg.starts_with("source `arxiv-api`"), "{msg}");
    }

    #[tokio::test]
    async fn an_arxiv_error_feed_sent_with_200_is_an_upstream_error() {
        let base = serve(Router::new().route("/api/query", get(|| async { API_ERROR }))).await;
        let mut c = cfg(SourceKind::ArxivApi, "arxiv-api");
        c.url = Some(format!("{base}/api/query"));
        c.search_query = Some("cat:cs.LG".into());
        let err = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap_err();
        assert!(matches!(err, SourceError::Upstream { .. }), "{err}");
        assert!(
            err.to_string()
                .ends_with("reported an error: incorrect id format for abc"),
            "{err}"
        );
        assert_eq!(err.source_name(), "arxiv-api");
    }

    fn api_page(total: u32, ids: std::ops::Range<u32>) -> String {
        let entries: String = ids
            .map(|i| {
                format!(
                    "<entry><id>http://arxiv.org/abs/2606.{i:05}v1</id><title>Paper {i}</title>\
                     <summary>Abstract {i}</summary><category term=\"cs.LG\"/>\
                     <published>2026-06-11T12:00:00Z</published><arxiv:primary_category term=\"cs.LG\"/>\
                     <author><name>Author {i}</name></author></entry>"
                )
            })
            .collect();
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>\
             <feed xmlns:opensearch=\"http://a9.com/-/spec/opensearch/1.1/\" xmlns:arxiv=\"http://arxiv.org/schemas/atom\" xmlns=\"http://www.w3.org/2005/Atom\">\
             <opensearch:totalResults>{total}</opensearch:totalResults>{entries}</feed>"
        )
    }

    type RequestLog = Arc<Mutex<Vec<(Map<String, String>, Instant, Instant)>>>;

    #[tokio::test]
    async fn arxiv_api_pages_are_requested_in_order_spaced_and_an_empty_page_retried_once() {
        let log: RequestLog = Arc::default();
        let l = log.clone();
        let base = serve(Router::new().route(
            "/api/query",
            get(move |Query(q): Query<Map<String, String>>| {
                let l = l.clone();
                async move {
                    let started = Instant::now();
                    let start: u32 = q["start"].parse().unwrap();
                    let size: u32 = q["max_results"].parse().unwrap();
                    let seen_at_2 = l
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(q, _, _)| q["start"] == "2")
                        .count();
                    // The second page comes back empty once, as arXiv does under load.
                    let body = if start == 2 && seen_at_2 == 0 {
                        api_page(5, 0..0)
                    } else {
                        api_page(5, start..(start + size).min(5))
                    };
                    l.lock().unwrap().push((q, started, Instant::now()));
                    body
                }
            }),
        ))
        .await;
        let mut c = cfg(SourceKind::ArxivApi, "arxiv-api");
        c.url = Some(format!("{base}/api/query"));
        c.search_query = Some("cat:cs.LG".into());
        c.page_size = Some(2);
        c.min_interval_ms = Some(30);
        let report = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap();
        let ids: Vec<&str> = report.papers.iter().map(|p| p.paper.id.as_str()).collect();
        assert_eq!(
            ids,
            vec![
                "2606.00000",
                "2606.00001",
                "2606.00002",
                "2606.00003",
                "2606.00004"
            ]
        );
        assert!(report.papers.iter().all(|p| p.day == d("2026-06-12")));
        assert_eq!(report.requests, 4);
        let log = log.lock().unwrap();
        let starts: Vec<&str> = log.iter().map(|(q, _, _)| q["start"].as_str()).collect();
        assert_eq!(starts, vec!["0", "2", "2", "4"]);
        let q = &log[0].0;
        assert_eq!(
            q["search_query"],
            "(cat:cs.LG) AND submittedDate:[202606101800 TO 202606111759]"
        );
        assert_eq!(q["sortBy"], "submittedDate");
        assert_eq!(q["sortOrder"], "descending");
        for pair in log.windows(2) {
            assert!(
                pair[1].1 >= pair[0].2 + Duration::from_millis(30),
                "requests too close"
            );
        }
    }

    #[tokio::test]
    async fn arxiv_api_stops_at_max_results() {
        let base = serve(Router::new().route(
            "/api/query",
            get(|Query(q): Query<Map<String, String>>| async move {
                let start: u32 = q["start"].parse().unwrap();
                let size: u32 = q["max_results"].parse().unwrap();
                api_page(100, start..start + size)
            }),
        ))
        .await;
        let mut c = cfg(SourceKind::ArxivApi, "arxiv-api");
        c.url = Some(format!("{base}/api/query"));
        c.search_query = Some("cat:cs.LG".into());
        c.page_size = Some(4);
        c.max_results = Some(10);
        let report = Source::new(&c, &http())
            .unwrap()
            .fetch(d("2026-06-12"), &Map::new())
            .await
            .unwrap();
        assert_eq!(report.papers.len(), 10);
        assert_eq!(report.requests, 3);
    }
}

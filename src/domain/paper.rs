//! A paper as paperboy stores, matches and mails it, whatever its source.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::ArxivId;

/// The canonical key of a paper across sources and days.
///
/// arXiv papers (from any source, including a generic feed whose links point
/// at arxiv.org) are keyed by their versionless arXiv id, so a paper seen by
/// Hugging Face and by the arXiv feed is one paper. Anything else is keyed by
/// its feed guid or link, prefixed so it can never collide with an arXiv id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PaperId(String);

impl PaperId {
    pub fn arxiv(id: &ArxivId) -> Self {
        PaperId(id.as_str().to_string())
    }

    /// Keys a generic feed item. An arXiv link or guid yields the arXiv key;
    /// otherwise the guid (or link) is used verbatim after trimming, and a
    /// URL's scheme, case of host and trailing slash are normalised so the
    /// same item from `http://` and `https://` is one paper.
    pub fn from_feed_item(guid: Option<&str>, link: Option<&str>) -> Option<Self> {
        for candidate in [guid, link].into_iter().flatten() {
            let c = candidate.trim();
            if let Some((id, _)) = ArxivId::from_url(c) {
                return Some(Self::arxiv(&id));
            }
            if let Ok((id, _)) = ArxivId::parse_versioned(c) {
                if c.starts_with("oai:arXiv.org:") || c.to_ascii_lowercase().starts_with("arxiv:") {
                    return Some(Self::arxiv(&id));
                }
            }
        }
        let key = guid
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .or_else(|| link.map(str::trim).filter(|l| !l.is_empty()))?;
        Some(PaperId(format!("feed:{}", normalise_url_key(key))))
    }

    /// Parses a paper id as an operator writes it (`subscribers import`):
    /// an arXiv id (any version suffix or `arXiv:` prefix dropped, as the
    /// store keys arXiv papers) or a feed item's `feed:` key as stored.
    pub fn parse(input: &str) -> Result<Self, PaperIdError> {
        if let Some(key) = input.strip_prefix("feed:") {
            if !key.is_empty() && !key.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Ok(PaperId(input.to_string()));
            }
        } else if let Ok(id) = ArxivId::parse(input) {
            return Ok(Self::arxiv(&id));
        }
        Err(PaperIdError(input.to_string()))
    }

    /// Rebuilds an id read back from the store.
    pub fn from_stored(s: String) -> Self {
        PaperId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn arxiv_id(&self) -> Option<ArxivId> {
        if self.0.starts_with("feed:") {
            None
        } else {
            ArxivId::parse(&self.0).ok()
        }
    }
}

fn normalise_url_key(key: &str) -> String {
    match url::Url::parse(key) {
        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
            let host = u.host_str().unwrap_or("").to_ascii_lowercase();
            let mut s = format!("{host}{}", u.path().trim_end_matches('/'));
            if let Some(q) = u.query() {
                s.push('?');
                s.push_str(q);
            }
            s
        }
        _ => key.to_string(),
    }
}

/// An id [`PaperId::parse`] rejects.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a paper id: {0:?} (an arXiv id such as 2606.00467, or a stored feed: key)")]
pub struct PaperIdError(pub String);

impl fmt::Display for PaperId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the arXiv announcement feed listed a paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnnounceType {
    New,
    Cross,
    Replace,
    ReplaceCross,
}

impl AnnounceType {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "new" => Some(Self::New),
            "cross" => Some(Self::Cross),
            "replace" => Some(Self::Replace),
            "replace-cross" => Some(Self::ReplaceCross),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Cross => "cross",
            Self::Replace => "replace",
            Self::ReplaceCross => "replace-cross",
        }
    }
}

/// Everything known about one paper. Optional fields are absent when no
/// source has reported them; [`Paper::merge`] combines two sources' views.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Paper {
    pub id: PaperId,
    /// Latest version seen, for arXiv papers.
    pub version: Option<u32>,
    /// Whitespace-normalised title.
    pub title: String,
    /// Whitespace-normalised abstract; paragraph breaks kept as `\n`.
    pub abstract_text: String,
    pub authors: Vec<String>,
    /// Primary category first when known (`cs.LG`, `astro-ph`, ...).
    pub categories: Vec<String>,
    /// The paper's landing page (arXiv abstract page, feed item link).
    pub url: String,
    pub pdf_url: Option<String>,
    pub doi: Option<String>,
    pub journal_ref: Option<String>,
    pub comment: Option<String>,
    /// Hugging Face upvotes, for papers featured there.
    pub upvotes: Option<i64>,
    pub num_comments: Option<i64>,
    pub ai_keywords: Vec<String>,
    pub github_repo: Option<String>,
    pub project_page: Option<String>,
    /// First publication (arXiv v1 submission, feed item date).
    pub published_at: Option<DateTime<Utc>>,
}

impl Paper {
    /// A paper with only the required fields; sources fill in the rest.
    pub fn new(id: PaperId, title: &str, abstract_text: &str, url: &str) -> Self {
        Paper {
            id,
            version: None,
            title: normalise_inline(title),
            abstract_text: normalise_paragraphs(abstract_text),
            authors: Vec::new(),
            categories: Vec::new(),
            url: url.trim().to_string(),
            pdf_url: None,
            doi: None,
            journal_ref: None,
            comment: None,
            upvotes: None,
            num_comments: None,
            ai_keywords: Vec::new(),
            github_repo: None,
            project_page: None,
            published_at: None,
        }
    }

    /// Folds another source's view of the same paper into this one.
    ///
    /// Text fields take the newer view (`other`) when it is non-empty, so a
    /// corrected title replaces the old one; optional fields are filled from
    /// whichever source has them; categories are unioned keeping this
    /// paper's primary first; counts take the larger value; the version
    /// takes the latest.
    pub fn merge(&mut self, other: Paper) {
        debug_assert_eq!(self.id, other.id);
        if !other.title.is_empty() {
            self.title = other.title;
        }
        if other.abstract_text.len() >= self.abstract_text.len() / 2
            && !other.abstract_text.is_empty()
        {
            // A truncated abstract (some feeds cut it) never replaces a full one.
            if !(self
                .abstract_text
                .starts_with(other.abstract_text.trim_end_matches('…'))
                && other.abstract_text.len() < self.abstract_text.len())
            {
                self.abstract_text = other.abstract_text;
            }
        }
        if !other.authors.is_empty() && other.authors.len() >= self.authors.len() {
            self.authors = other.authors;
        }
        for c in other.categories {
            if !self.categories.contains(&c) {
                self.categories.push(c);
            }
        }
        if self.url.is_empty()
            || (!self.url.starts_with("https://arxiv.org")
                && other.url.starts_with("https://arxiv.org"))
        {
            self.url = other.url;
        }
        self.version = self.version.max(other.version);
        fill(&mut self.pdf_url, other.pdf_url);
        fill(&mut self.doi, other.doi);
        fill(&mut self.journal_ref, other.journal_ref);
        fill(&mut self.comment, other.comment);
        self.upvotes = max_opt(self.upvotes, other.upvotes);
        self.num_comments = max_opt(self.num_comments, other.num_comments);
        for k in other.ai_keywords {
            if !self.ai_keywords.contains(&k) {
                self.ai_keywords.push(k);
            }
        }
        fill(&mut self.github_repo, other.github_repo);
        fill(&mut self.project_page, other.project_page);
        self.published_at = match (self.published_at, other.published_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

fn fill(slot: &mut Option<String>, value: Option<String>) {
    if let Some(v) = value.filter(|v| !v.trim().is_empty()) {
        *slot = Some(v);
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Collapses every run of whitespace (including arXiv's hard wraps) to one
/// space and drops every other invisible character (controls, bidi
/// overrides and isolates, zero-width characters: see
/// [`super::invisible`]), so a payload's terminal escapes never reach an
/// operator's terminal (`--dry-run`) and a right-to-left override never
/// reorders a title on a page or in a mail.
pub fn normalise_inline(s: &str) -> String {
    s.split_whitespace()
        .map(|word| {
            word.chars()
                .filter(|&c| !super::invisible::is_invisible(c))
                .collect::<String>()
        })
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Like [`normalise_inline`], but keeps paragraph breaks: a newline followed
/// by indentation (the current arXiv API), or a blank line, starts a new
/// paragraph; a plain hard wrap (classic API, 2024 Hugging Face) does not.
pub fn normalise_paragraphs(s: &str) -> String {
    let s = s.replace("\r\n", "\n");
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    let lines: Vec<&str> = s
        .trim_matches(|c: char| c == '\n' || c == ' ')
        .split('\n')
        .collect();
    let wrapped = looks_hard_wrapped(&lines);
    for (i, line) in lines.iter().enumerate() {
        let starts_paragraph = i > 0
            && (line.trim().is_empty()
                || (!wrapped && line.starts_with("  "))
                || (!wrapped && !line.starts_with(' ')));
        if starts_paragraph && !current.trim().is_empty() {
            paragraphs.push(normalise_inline(&current));
            current.clear();
        }
        if line.trim().is_empty() {
            continue;
        }
        current.push(' ');
        current.push_str(line);
    }
    if !current.trim().is_empty() {
        paragraphs.push(normalise_inline(&current));
    }
    paragraphs.join("\n")
}

/// Hard-wrapped text has several lines, all but the last of similar, long
/// length (arXiv wraps at about 80 columns).
fn looks_hard_wrapped(lines: &[&str]) -> bool {
    if lines.len() < 3 {
        return lines.len() == 2 && lines[0].trim().len() >= 60;
    }
    let body = &lines[..lines.len() - 1];
    let long = body
        .iter()
        .filter(|l| (60..=90).contains(&l.trim().len()))
        .count();
    long * 10 >= body.len() * 7
}

/// A paper as one source reported it, with the day it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct FetchedPaper {
    pub paper: Paper,
    /// The digest day: the arXiv announcement date, the Hugging Face daily
    /// list date, a feed item's publication date.
    pub day: NaiveDate,
    /// Set by the arXiv announcement feeds only.
    pub announce_type: Option<AnnounceType>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paper_id_parses_to_the_key_the_store_uses() {
        let ok = |s: &str| PaperId::parse(s).unwrap().0;
        assert_eq!(ok("2606.00467"), "2606.00467");
        assert_eq!(ok("arXiv:2606.00467v3"), "2606.00467");
        assert_eq!(ok("astro-ph/0601001"), "astro-ph/0601001");
        assert_eq!(ok("feed:example.org/post/1"), "feed:example.org/post/1");
        for bad in [
            "",
            "2606",
            "feed:",
            "feed:a b",
            "https://arxiv.org/abs/2606.00467",
        ] {
            assert_eq!(
                PaperId::parse(bad),
                Err(PaperIdError(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn control_characters_are_dropped_from_inline_text() {
        assert_eq!(
            normalise_inline("\u{1b}[31mRed\u{1b}[0m  title\u{7}\u{8}\n wrapped"),
            "[31mRed[0m title wrapped"
        );
        assert_eq!(normalise_inline("\u{0}\u{1b}"), "");
    }

    fn paper(id: &str) -> Paper {
        Paper::new(
            PaperId(id.into()),
            "T",
            "Abstract",
            "https://arxiv.org/abs/x",
        )
    }

    #[test]
    fn arxiv_links_in_feeds_key_by_arxiv_id() {
        let id = PaperId::from_feed_item(Some("oai:arXiv.org:2604.21935v1"), None).unwrap();
        assert_eq!(id.as_str(), "2604.21935");
        let id = PaperId::from_feed_item(None, Some("https://arxiv.org/abs/2604.21935")).unwrap();
        assert_eq!(id.as_str(), "2604.21935");
    }

    #[test]
    fn other_feed_items_key_by_guid_then_link_with_a_prefix() {
        let a = PaperId::from_feed_item(
            None,
            Some("http://www.biorxiv.org/content/10.1101/2024.01.01.123v1/"),
        )
        .unwrap();
        let b = PaperId::from_feed_item(
            None,
            Some("https://WWW.biorxiv.org/content/10.1101/2024.01.01.123v1"),
        )
        .unwrap();
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("feed:"));
        assert!(a.arxiv_id().is_none());
        assert!(PaperId::from_feed_item(Some("  "), None).is_none());
    }

    #[test]
    fn merge_keeps_fields_of_both_sources() {
        let mut hf = paper("2606.00467");
        hf.upvotes = Some(12);
        hf.github_repo = Some("https://github.com/a/b".into());
        hf.categories = vec![];
        let mut ax = paper("2606.00467");
        ax.categories = vec!["cs.LG".into(), "cs.AI".into()];
        ax.doi = Some("10.1/x".into());
        ax.version = Some(2);
        hf.merge(ax);
        assert_eq!(hf.upvotes, Some(12));
        assert_eq!(hf.doi.as_deref(), Some("10.1/x"));
        assert_eq!(hf.categories, vec!["cs.LG", "cs.AI"]);
        assert_eq!(hf.github_repo.as_deref(), Some("https://github.com/a/b"));
        assert_eq!(hf.version, Some(2));
    }

    #[test]
    fn a_truncated_abstract_does_not_replace_a_full_one() {
        let mut full = paper("1");
        full.abstract_text = "First sentence. Second sentence is long enough.".into();
        let mut cut = paper("1");
        cut.abstract_text = "First sentence.".into();
        full.merge(cut);
        assert_eq!(
            full.abstract_text,
            "First sentence. Second sentence is long enough."
        );
    }

    #[test]
    fn hard_wraps_are_joined_and_indented_paragraphs_kept() {
        let classic = "  We study the behaviour of the system in the limit of large connectivity and\nshow that the model exhibits a transition between two phases of different\nnature.\n";
        assert_eq!(
            normalise_paragraphs(classic),
            "We study the behaviour of the system in the limit of large connectivity and show that the model exhibits a transition between two phases of different nature."
        );
        let current = "First paragraph here.\n  Second paragraph here.";
        assert_eq!(
            normalise_paragraphs(current),
            "First paragraph here.\nSecond paragraph here."
        );
        assert_eq!(
            normalise_inline("A\n  title  with\twraps"),
            "A title with wraps"
        );
        assert_eq!(normalise_paragraphs("a\n\n\nb"), "a\nb");
    }
}

//! One subscriber's digest, from the papers chosen for them to a finished
//! message: the view model (sections in the subscriber's topic order, each
//! paper's highlighted excerpt, signed manage and unsubscribe links) and the
//! run's cache of rendered paper blocks.
//!
//! It must not query the store or choose papers: the caller hands it the
//! subscriber and their papers, already planned.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

use super::digest::{
    excerpt, render_digest_within, shorten_authors, top_papers_heading, DigestEntry, DigestView,
    FeedbackLinks, PaperBlock, PaperView, Span, TopicSection,
};
use super::format::RenderedEmail;
use super::href::web_link;
use crate::domain::{
    Paper, PaperId, Subscriber, SubscriberId, RECOMMENDED_POSITION, TOP_PAPERS_POSITION,
};
use crate::links::{link_url, LinkSigner, Purpose};
use crate::mail::{EmailKind, OutgoingEmail};
use crate::matching::{highlight, Field, MatchedTerm};

/// A paper as a digest lists it: under which of the subscriber's topics,
/// and the terms that matched it.
#[derive(Debug, Clone)]
pub struct DigestPaper {
    /// Shared with the run's other digests: one copy of each paper per run.
    pub paper: Arc<Paper>,
    /// Position of the topic it is listed under (the first that matched).
    pub topic_position: i64,
    /// The terms that matched, across every topic that matched it.
    pub matched: Vec<MatchedTerm>,
    /// Why a recommended paper is there ("like ‘TITLE’, which you marked").
    pub reason: Option<String>,
}

/// What one digest says: the subscriber, its date, its papers in mail
/// order, and how many more matched than it shows.
#[derive(Debug, Clone, Copy)]
pub struct DigestContent<'a> {
    pub subscriber: &'a Subscriber,
    pub date: NaiveDate,
    pub papers: &'a [DigestPaper],
    /// Matched papers left out by `[digest] max_papers`.
    pub more: usize,
    /// A weekly digest: its top papers are the week's.
    pub weekly: bool,
}

/// Builds the digests of one run. What it owns is owned, so messages are
/// rendered on other threads while the sending task keeps its connections
/// busy.
pub struct DigestRenderer {
    base_url: url::Url,
    site_name: String,
    signer: LinkSigner,
    /// `[digest] max_html_bytes`: papers past it are counted, not shown.
    max_html_bytes: usize,
    /// A paper's block (highlighted excerpt, authors, links), rendered,
    /// depends only on the paper and the terms that matched it, which
    /// subscribers with the same topics share: built and rendered once per
    /// run for each pair while it stays in this cache.
    paper_blocks: Mutex<BlockCache>,
    /// Each paper's [`PaperFacts`], shared by its blocks for every set of
    /// matched terms. Bounded: emptied when it reaches
    /// [`PAPER_FACTS_MAX`] entries.
    paper_facts: Mutex<HashMap<PaperId, Arc<PaperFacts>>>,
}

/// At most this many bytes of rendered paper blocks are kept per run.
/// A day's distinct (paper, matched terms) pairs are what should fit:
/// with ranking, each reader's papers are their own, and 5,000 readers of
/// three of a dozen overlapping topics over 1,000 papers made 17,700
/// pairs of about 2.2 kB (`scripts/bench --ranking`) in 250,000 blocks;
/// 4,096 blocks emptied when full rendered 143,000 of them.
const PAPER_BLOCKS_BYTES: usize = 64 << 20;

/// At most this many papers' [`PaperFacts`] are kept per run.
const PAPER_FACTS_MAX: usize = 16384;

/// Rendered blocks by paper and matched labels, in two generations: a
/// block is added to the young one, and found in either (moving to the
/// young one); when the young one holds half of
/// [`PAPER_BLOCKS_BYTES`], the old one is dropped and the young one
/// becomes old. Blocks in use stay, where emptying the whole cache would
/// render them all again.
struct BlockCache {
    young: HashMap<(PaperId, String), PaperBlock>,
    old: HashMap<(PaperId, String), PaperBlock>,
    young_bytes: usize,
    /// Most bytes of both generations together.
    limit: usize,
}

impl BlockCache {
    fn new(limit: usize) -> BlockCache {
        BlockCache {
            young: HashMap::new(),
            old: HashMap::new(),
            young_bytes: 0,
            limit,
        }
    }

    fn get(&mut self, key: &(PaperId, String)) -> Option<PaperBlock> {
        if let Some(block) = self.young.get(key) {
            return Some(block.clone());
        }
        let (key, block) = self.old.remove_entry(key)?;
        self.insert(key, block.clone());
        Some(block)
    }

    fn insert(&mut self, key: (PaperId, String), block: PaperBlock) {
        let bytes = key.0.as_str().len() + key.1.len() + block.html().len() + block.text().len();
        if self.young_bytes + bytes > self.limit / 2 {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        self.young_bytes += bytes;
        self.young.insert(key, block);
    }
}

impl DigestRenderer {
    /// `base_url` is `[web] base_url`, where the signed links point;
    /// `max_html_bytes` is `[digest] max_html_bytes`.
    pub fn new(
        base_url: url::Url,
        site_name: String,
        signer: LinkSigner,
        max_html_bytes: usize,
    ) -> DigestRenderer {
        DigestRenderer {
            base_url,
            site_name,
            signer,
            max_html_bytes,
            paper_blocks: Mutex::new(BlockCache::new(PAPER_BLOCKS_BYTES)),
            paper_facts: Mutex::new(HashMap::new()),
        }
    }

    /// The digest's subject and both parts, its HTML within
    /// `max_html_bytes` (see [`render_digest_within`]); its links expire
    /// counting from `now`.
    pub fn render(
        &self,
        content: DigestContent<'_>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<RenderedEmail> {
        let view = self.view(content, now)?;
        render_digest_within(&view, self.max_html_bytes).context("rendering a digest")
    }

    /// The digest as a message with the given Message-ID, dated `now`, with
    /// its one-click unsubscribe link.
    pub fn email(
        &self,
        content: DigestContent<'_>,
        message_id: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<OutgoingEmail> {
        let view = self.view(content, now)?;
        let rendered =
            render_digest_within(&view, self.max_html_bytes).context("rendering a digest")?;
        let unsubscribe =
            url::Url::parse(&view.unsubscribe_url).context("building the unsubscribe link")?;
        Ok(OutgoingEmail {
            to: content.subscriber.email.clone(),
            subject: rendered.subject,
            html: rendered.html,
            text: rendered.text,
            message_id: message_id.to_string(),
            date: now,
            list_unsubscribe: Some(unsubscribe),
            list_unsubscribe_mailto: None,
            kind: EmailKind::Digest,
        })
    }

    /// The digest's view model: sections in the subscriber's topic order.
    fn view(&self, content: DigestContent<'_>, now: DateTime<Utc>) -> anyhow::Result<DigestView> {
        let base = &self.base_url;
        let sub = content.subscriber;
        let entry = |p: &DigestPaper| -> anyhow::Result<DigestEntry> {
            Ok(DigestEntry {
                block: self.paper_block(&p.paper, &p.matched)?,
                reason: p.reason.clone(),
                feedback: Some(feedback_links(
                    &self.signer,
                    base,
                    sub.id,
                    sub.link_version,
                    &p.paper.id,
                    now,
                )),
            })
        };
        let section = |position: i64| -> anyhow::Result<Vec<DigestEntry>> {
            content
                .papers
                .iter()
                .filter(|p| p.topic_position == position)
                .map(entry)
                .collect()
        };
        let mut sections: Vec<TopicSection> = Vec::new();
        for topic in &sub.topics {
            let papers = section(topic.position)?;
            if !papers.is_empty() {
                sections.push(TopicSection {
                    name: topic.name.clone(),
                    query: topic.query.clone(),
                    papers,
                });
            }
        }
        // After the topics: the recommendations, then the top papers.
        for (position, name) in [
            (RECOMMENDED_POSITION, RECOMMENDED_SECTION),
            (TOP_PAPERS_POSITION, top_papers_heading(content.weekly)),
        ] {
            let papers = section(position)?;
            if !papers.is_empty() {
                sections.push(TopicSection {
                    name: name.into(),
                    query: String::new(),
                    papers,
                });
            }
        }
        // Papers whose topic was since removed still go out, under "Other".
        let known: HashSet<i64> = sub
            .topics
            .iter()
            .map(|t| t.position)
            .chain([TOP_PAPERS_POSITION, RECOMMENDED_POSITION])
            .collect();
        let orphans: Vec<DigestEntry> = content
            .papers
            .iter()
            .filter(|p| !known.contains(&p.topic_position))
            .map(entry)
            .collect::<anyhow::Result<_>>()?;
        if !orphans.is_empty() {
            sections.push(TopicSection {
                name: "Other".into(),
                query: String::new(),
                papers: orphans,
            });
        }
        let link = |purpose: Purpose| {
            self.signer
                .url(
                    base,
                    purpose,
                    sub.id,
                    sub.link_version,
                    purpose.default_expiry(now),
                )
                .to_string()
        };
        Ok(DigestView {
            date_label: content.date.format("%A, %-d %B %Y").to_string(),
            short_date: content.date.format("%-d %b %Y").to_string(),
            sections,
            more_count: content.more,
            total_count: content.papers.len() + content.more,
            manage_url: link(Purpose::Manage),
            unsubscribe_url: link(Purpose::Unsubscribe),
            view_url: digest_page_url(
                &self.signer,
                base,
                sub.id,
                sub.link_version,
                content.date,
                now,
            ),
            site_name: self.site_name.clone(),
            base_url: base.to_string(),
        })
    }

    /// The paper's rendered [`paper_view`], through the per-run cache.
    fn paper_block(&self, p: &Paper, matched: &[MatchedTerm]) -> anyhow::Result<PaperBlock> {
        let labels = matched_labels(matched);
        let key = (p.id.clone(), labels);
        let cached = self
            .paper_blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key);
        if let Some(block) = cached {
            return Ok(block);
        }
        let facts = self.paper_facts(p);
        let block = PaperBlock::render(&paper_view_of(&facts, p, matched))
            .context("rendering a paper's block")?;
        self.paper_blocks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, block.clone());
        Ok(block)
    }

    /// The paper's [`PaperFacts`], through the per-run cache.
    fn paper_facts(&self, p: &Paper) -> Arc<PaperFacts> {
        let cached = self
            .paper_facts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&p.id)
            .cloned();
        if let Some(facts) = cached {
            return facts;
        }
        let facts = Arc::new(PaperFacts::of(p));
        let mut all = self.paper_facts.lock().unwrap_or_else(|e| e.into_inner());
        if all.len() >= PAPER_FACTS_MAX {
            all.clear();
        }
        all.insert(p.id.clone(), facts.clone());
        facts
    }
}

/// The heading of the section of papers recommended from the subscriber's
/// "More like this" marks.
pub const RECOMMENDED_SECTION: &str = "Recommended for you";

/// A paper's "More like this" and "Less like this" links for one
/// subscriber: `{base}/feedback/{token}/more?paper={id}` (and `less`). The
/// token is bound to the paper's id, so editing the id breaks it; it
/// expires and is revoked like the subscriber's other links.
pub fn feedback_links(
    signer: &LinkSigner,
    base: &url::Url,
    subscriber: SubscriberId,
    link_version: i64,
    paper: &PaperId,
    now: DateTime<Utc>,
) -> FeedbackLinks {
    let purpose = Purpose::Feedback;
    let token = signer.sign_bound(
        purpose,
        subscriber,
        link_version,
        purpose.default_expiry(now),
        paper.as_str().as_bytes(),
    );
    let url = |mark: &str| {
        let mut url = link_url(base, purpose, &token);
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(mark);
        }
        url.query_pairs_mut().append_pair("paper", paper.as_str());
        url.to_string()
    };
    FeedbackLinks {
        more_url: url("more"),
        less_url: url("less"),
    }
}

/// The signed link to one of a subscriber's digests as a web page:
/// `{base}/digest/{token}/{YYYY-MM-DD}`. Revoked with the subscriber's
/// other links.
pub fn digest_page_url(
    signer: &LinkSigner,
    base: &url::Url,
    subscriber: SubscriberId,
    link_version: i64,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> String {
    let purpose = Purpose::ViewDigest;
    let mut url = signer.url(
        base,
        purpose,
        subscriber,
        link_version,
        purpose.default_expiry(now),
    );
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.push(&date.format("%Y-%m-%d").to_string());
    }
    url.to_string()
}

/// Authors named before "et al.", in a digest and on the papers pages.
pub const AUTHORS_SHOWN: usize = 6;
/// Most characters of an abstract's excerpt.
pub const EXCERPT_CHARS: usize = 420;

/// What a paper's block shows whatever matched it: its web links,
/// shortened authors and categories. The same for every subscriber, so a
/// digest run works it out once per paper.
#[derive(Debug, Clone)]
struct PaperFacts {
    url: String,
    authors: String,
    code_url: Option<String>,
    project_url: Option<String>,
    pdf_url: Option<String>,
    categories: String,
}

impl PaperFacts {
    fn of(p: &Paper) -> PaperFacts {
        PaperFacts {
            url: web_link(&p.url).unwrap_or_default(),
            authors: shorten_authors(&p.authors, AUTHORS_SHOWN),
            code_url: p.github_repo.as_deref().and_then(web_link),
            project_url: p.project_page.as_deref().and_then(web_link),
            pdf_url: p.pdf_url.as_deref().and_then(web_link),
            categories: p.categories.join(", "),
        }
    }
}

/// One paper as the digest shows it (the papers pages show it the same
/// way): its abstract's excerpt with the `matched` terms marked, authors
/// shortened, and only web links from a source (see [`super::href`]).
pub fn paper_view(p: &Paper, matched: &[MatchedTerm]) -> PaperView {
    paper_view_of(&PaperFacts::of(p), p, matched)
}

/// [`paper_view`] with the paper's [`PaperFacts`] already worked out.
fn paper_view_of(facts: &PaperFacts, p: &Paper, matched: &[MatchedTerm]) -> PaperView {
    let spans: Vec<Span> = highlight(&p.abstract_text, matched, Field::Abstract)
        .into_iter()
        .map(|s| Span {
            text: s.text,
            hit: s.hit,
        })
        .collect();
    let title_spans = highlight(&p.title, matched, Field::Title)
        .into_iter()
        .map(|s| Span {
            text: s.text,
            hit: s.hit,
        })
        .collect();
    let facts = facts.clone();
    PaperView {
        title: p.title.clone(),
        title_spans,
        url: facts.url,
        authors: facts.authors,
        excerpt: excerpt(&spans, EXCERPT_CHARS),
        matched: matched_labels(matched),
        upvotes: p.upvotes,
        code_url: facts.code_url,
        project_url: facts.project_url,
        pdf_url: facts.pdf_url,
        categories: facts.categories,
    }
}

/// Why a paper matched, e.g. `"ti:diffusion, cat:cs.LG"`. Labels are
/// canonical query terms (no commas), so the text also identifies the set.
pub fn matched_labels(matched: &[MatchedTerm]) -> String {
    matched
        .iter()
        .map(|m| &*m.label)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> (PaperId, String) {
        (PaperId::from_stored(id.into()), "ti:x".to_string())
    }

    fn block(n: usize) -> PaperBlock {
        PaperBlock::render(&PaperView {
            title: "x".repeat(n),
            ..PaperView::default()
        })
        .unwrap()
    }

    /// Bytes [`BlockCache`] counts for `key(id)` and `b`.
    fn size(id: &str, b: &PaperBlock) -> usize {
        id.len() + "ti:x".len() + b.html().len() + b.text().len()
    }

    #[test]
    fn the_block_cache_keeps_what_is_in_use_and_stays_within_its_bytes() {
        let b = block(100);
        let each = size("a", &b);
        // Each generation holds two blocks.
        let mut cache = BlockCache::new(4 * each + 1);
        cache.insert(key("a"), b.clone());
        cache.insert(key("b"), b.clone());
        // The third starts a new generation; the first two are still found.
        cache.insert(key("c"), b.clone());
        assert_eq!(cache.get(&key("a")), Some(b.clone()));
        // "a" moved to the young generation with "c"; the next block makes
        // that generation old and "b", never used since, is dropped.
        cache.insert(key("d"), b.clone());
        assert_eq!(cache.get(&key("b")), None);
        for k in ["a", "c", "d"] {
            assert_eq!(cache.get(&key(k)), Some(b.clone()), "{k}");
        }
        let held: usize = cache
            .young
            .keys()
            .chain(cache.old.keys())
            .map(|(id, _)| size(id.as_str(), &b))
            .sum();
        assert!(held <= 4 * each + 1, "{held} bytes held");
    }
}

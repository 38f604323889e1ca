//! The digest mail: its view models, its templates (`templates/email/`
//! `digest.*` and `paper.*`), its subject line, author shortening and
//! excerpt cutting.
//!
//! It must not query the store, match papers, sign links or send mail: the
//! caller (see `digest_mail`) fills the views with finished strings and
//! URLs. HTML is auto-escaped; nothing from a paper or a subscriber is ever
//! marked safe. The one thing inserted unescaped is a [`PaperBlock`]'s HTML,
//! which its own template already escaped.

use askama::Template;

use super::format::{ascii_html, tidy_text, RenderedEmail, ViewHelpers};
use crate::domain::normalise_inline;

/// A piece of excerpt text; `hit` marks a matched query term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub text: String,
    pub hit: bool,
}

impl Span {
    pub fn plain(text: impl Into<String>) -> Self {
        Span {
            text: text.into(),
            hit: false,
        }
    }

    pub fn hit(text: impl Into<String>) -> Self {
        Span {
            text: text.into(),
            hit: true,
        }
    }
}

/// One paper as shown in the digest.
#[derive(Debug, Clone, Default)]
pub struct PaperView {
    pub title: String,
    /// The title split where matched terms occur; empty shows `title`
    /// unmarked.
    pub title_spans: Vec<Span>,
    pub url: String,
    /// Already shortened, see [`shorten_authors`].
    pub authors: String,
    /// Already cut, see [`excerpt`].
    pub excerpt: Vec<Span>,
    /// Why it matched, e.g. `"ti:diffusion, cat:cs.LG"`.
    pub matched: String,
    pub upvotes: Option<i64>,
    pub code_url: Option<String>,
    pub project_url: Option<String>,
    pub pdf_url: Option<String>,
    /// e.g. `"cs.LG, cs.AI"`.
    pub categories: String,
}

/// One paper's block of the digest, rendered (HTML and text) from its
/// [`PaperView`] once, then shared: every digest that shows the paper for
/// the same matched terms shows the same block, so a run renders it once
/// however many subscribers get it. Cloning shares the rendered text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaperBlock(std::sync::Arc<(String, String)>);

impl PaperBlock {
    /// Renders the block. Its HTML is escaped like the rest of the digest
    /// and already pure ASCII (see [`ascii_html`]); the text is wrapped.
    pub fn render(view: &PaperView) -> Result<PaperBlock, askama::Error> {
        let html = ascii_html(PaperHtml { v: view }.render()?);
        let text = PaperText { v: view }.render()?;
        Ok(PaperBlock(std::sync::Arc::new((
            html.trim_end_matches('\n').to_owned(),
            text.trim_end_matches('\n').to_owned(),
        ))))
    }

    /// The block's HTML: a table row, escaped by the template that made
    /// it, so the digest inserts it as it is.
    pub fn html(&self) -> &str {
        &self.0 .0
    }

    /// The block's text part, without the number the digest puts in front.
    pub fn text(&self) -> &str {
        &self.0 .1
    }

    /// The block's HTML without its closing `</td></tr>`, so the digest
    /// can add what belongs to one subscriber (feedback links, a reason)
    /// inside the paper's cell and close it.
    pub fn html_open(&self) -> &str {
        self.html()
            .strip_suffix("</td></tr>")
            .unwrap_or(self.html())
    }

    /// Whether [`PaperBlock::html_open`] left the cell open.
    pub fn is_open(&self) -> bool {
        self.html().ends_with("</td></tr>")
    }
}

/// One paper of a digest's section: its shared [`PaperBlock`] and what
/// belongs to this subscriber alone.
#[derive(Debug, Clone)]
pub struct DigestEntry {
    pub block: PaperBlock,
    /// Why a recommended paper is there: "like ‘TITLE’, which you marked".
    pub reason: Option<String>,
    /// The signed "More like this" / "Less like this" links.
    pub feedback: Option<FeedbackLinks>,
}

impl From<PaperBlock> for DigestEntry {
    fn from(block: PaperBlock) -> Self {
        DigestEntry {
            block,
            reason: None,
            feedback: None,
        }
    }
}

/// A paper's two feedback links (signed for one subscriber and paper).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackLinks {
    pub more_url: String,
    pub less_url: String,
}

/// The papers one of the subscriber's topics matched.
#[derive(Debug, Clone, Default)]
pub struct TopicSection {
    pub name: String,
    pub query: String,
    pub papers: Vec<DigestEntry>,
}

/// Everything the digest email shows.
#[derive(Debug, Clone, Default)]
pub struct DigestView {
    /// Long form for the body, e.g. `"Friday, 12 June 2026"`.
    pub date_label: String,
    /// Short form for the subject, e.g. `"12 Jun 2026"`.
    pub short_date: String,
    pub sections: Vec<TopicSection>,
    /// Matched papers left out of this mail by the per-mail cap (and, once
    /// rendered within `[digest] max_html_bytes`, by the size budget).
    pub more_count: usize,
    /// Every matched paper, shown or not.
    pub total_count: usize,
    pub manage_url: String,
    pub unsubscribe_url: String,
    /// The same digest as a web page ("view in browser"), also where the
    /// papers left out by the cap are listed.
    pub view_url: String,
    pub site_name: String,
    pub base_url: String,
}

#[derive(Template)]
#[template(path = "email/paper.html")]
struct PaperHtml<'a> {
    v: &'a PaperView,
}

#[derive(Template)]
#[template(path = "email/paper.txt")]
struct PaperText<'a> {
    v: &'a PaperView,
}

#[derive(Template)]
#[template(path = "email/digest.html")]
struct DigestHtml<'a> {
    v: &'a DigestView,
}

#[derive(Template)]
#[template(path = "email/digest.txt")]
struct DigestText<'a> {
    v: &'a DigestView,
}

impl ViewHelpers for PaperText<'_> {}
impl PaperHelpers for PaperText<'_> {}
impl ViewHelpers for PaperHtml<'_> {}
impl ViewHelpers for DigestText<'_> {}
impl ViewHelpers for DigestHtml<'_> {}

/// What the paper templates call besides [`ViewHelpers`].
trait PaperHelpers {
    /// The excerpt's text without its highlighting, for the text part.
    fn spans_text(&self, spans: &[Span]) -> String {
        spans.iter().map(|s| s.text.as_str()).collect()
    }
}

/// Renders the digest's subject, HTML and text parts.
pub fn render_digest(view: &DigestView) -> Result<RenderedEmail, askama::Error> {
    Ok(RenderedEmail {
        subject: digest_subject(view),
        html: digest_html(view)?,
        text: tidy_text(&DigestText { v: view }.render()?),
    })
}

/// The heading of the top papers section.
pub const TOP_PAPERS_SECTION: &str = "Top papers of the day";
/// The same, in a weekly digest.
pub const TOP_PAPERS_WEEK_SECTION: &str = "Top papers of the week";

/// The top papers section's heading in a daily or a weekly digest.
pub fn top_papers_heading(weekly: bool) -> &'static str {
    if weekly {
        TOP_PAPERS_WEEK_SECTION
    } else {
        TOP_PAPERS_SECTION
    }
}

fn digest_html(view: &DigestView) -> Result<String, askama::Error> {
    Ok(ascii_html(DigestHtml { v: view }.render()?))
}

/// Renders the digest with as many of its papers, in the order it shows
/// them, as keep its HTML part within `max_html_bytes` as sent (CRLF line
/// ends; `[digest] max_html_bytes`: Gmail clips longer HTML, footer
/// included); the papers
/// left out join the "N more" count, whose line links to the whole digest
/// on the web. Both parts show the same papers. The frame, header and
/// footer always stay, even if they alone pass the budget.
///
/// Whatever the templates render counts: sizes are measured, never
/// estimated. Paper blocks are rendered already, so a trial is one
/// assembly of the digest around them; the number that fits is found by
/// interpolating between measured sizes (usually 3 or 4 trials whatever
/// the number of papers), bisecting when that stalls.
pub fn render_digest_within(
    view: &DigestView,
    max_html_bytes: usize,
) -> Result<RenderedEmail, askama::Error> {
    let blocks: Vec<usize> = view
        .sections
        .iter()
        .flat_map(|s| s.papers.iter().map(|p| p.block.html().len()))
        .collect();
    // prefix[n]: the blocks' bytes of the first n papers.
    let prefix: Vec<usize> = std::iter::once(0)
        .chain(blocks.iter().scan(0, |sum, b| {
            *sum += b;
            Some(*sum)
        }))
        .collect();
    let all = blocks.len();
    // Sizes as sent: the mail layer ends every line with CRLF.
    let wire_len = |html: &str| html.len() + memchr::memchr_iter(b'\n', html.as_bytes()).count();
    // The whole digest is rendered only when its papers alone fit: a
    // digest of 1,000 papers is never assembled whole to learn that it
    // does not fit.
    let mut hi_len = None;
    if prefix[all] <= max_html_bytes {
        let html = digest_html(view)?;
        if wire_len(&html) <= max_html_bytes {
            return Ok(RenderedEmail {
                subject: digest_subject(view),
                html,
                text: tidy_text(&DigestText { v: view }.render()?),
            });
        }
        hi_len = Some(wire_len(&html));
    }
    // Invariant: the first `lo` papers fit (or lo = 0), the first `hi` do not.
    let (mut lo, mut hi) = (0, all);
    let mut lo_view = view.first(0);
    let mut lo_html = digest_html(&lo_view)?;
    let mut lo_len = wire_len(&lo_html);
    // Unmeasured, the whole is at least the frame and the blocks.
    let mut hi_len = hi_len.unwrap_or(lo_len + prefix[all]);
    let mut stalls = 0;
    while hi - lo > 1 && lo_len <= max_html_bytes {
        let span = hi - lo;
        // Bytes of HTML per byte of paper block between the two measured
        // points, for the papers' own markup and their sections' headings.
        let per_block =
            (hi_len.saturating_sub(lo_len)) as f64 / (prefix[hi] - prefix[lo]).max(1) as f64;
        let room = (max_html_bytes - lo_len) as f64 / per_block.max(1.0);
        let guess = if stalls >= 2 {
            lo + span / 2
        } else {
            prefix.partition_point(|&p| ((p - prefix[lo].min(p)) as f64) <= room) - 1
        };
        let guess = guess.clamp(lo + 1, hi - 1);
        let trial = view.first(guess);
        let trial_html = digest_html(&trial)?;
        let trial_len = wire_len(&trial_html);
        if trial_len <= max_html_bytes {
            (lo, lo_len, lo_view, lo_html) = (guess, trial_len, trial, trial_html);
        } else {
            (hi, hi_len) = (guess, trial_len);
        }
        stalls = if hi - lo > span / 2 { stalls + 1 } else { 0 };
    }
    Ok(RenderedEmail {
        subject: digest_subject(&lo_view),
        html: lo_html,
        text: tidy_text(&DigestText { v: &lo_view }.render()?),
    })
}

impl DigestView {
    /// The digest showing only its first `n` papers (in the order it shows
    /// them), the others counted in its "N more" line; sections left empty
    /// are dropped.
    fn first(&self, n: usize) -> DigestView {
        let mut left = n;
        let mut dropped = 0;
        let sections = self
            .sections
            .iter()
            .filter_map(|s| {
                let kept = s.papers.len().min(left);
                left -= kept;
                dropped += s.papers.len() - kept;
                (kept > 0).then(|| {
                    let mut section = s.clone();
                    section.papers.truncate(kept);
                    section
                })
            })
            .collect();
        DigestView {
            sections,
            more_count: self.more_count + dropped,
            ..self.clone()
        }
    }
}

/// `"7 new papers on your topics — 12 Jun 2026"`; a digest of nothing but
/// the top papers (a subscriber without topics, or a day none of their
/// topics matched) says so: `"Top papers of the day — 12 Jun 2026"` (or
/// "of the week").
pub fn digest_subject(view: &DigestView) -> String {
    let noun = if view.total_count == 1 {
        "paper"
    } else {
        "papers"
    };
    let date = if view.short_date.trim().is_empty() {
        &view.date_label
    } else {
        &view.short_date
    };
    let top_only = view.sections.iter().all(|s| {
        s.query.is_empty() && (s.name == TOP_PAPERS_SECTION || s.name == TOP_PAPERS_WEEK_SECTION)
    });
    if top_only && !view.sections.is_empty() {
        return normalise_inline(&format!("{} — {date}", view.sections[0].name));
    }
    normalise_inline(&format!(
        "{} new {noun} on your topics — {date}",
        view.total_count
    ))
}

/// `"A, B, C et al. (14 authors)"` when there are more than `max` authors;
/// all names otherwise.
pub fn shorten_authors(authors: &[String], max: usize) -> String {
    let names: Vec<String> = authors
        .iter()
        .map(|a| normalise_inline(a))
        .filter(|a| !a.is_empty())
        .collect();
    if names.len() <= max {
        return names.join(", ");
    }
    if max == 0 {
        return format!("{} authors", names.len());
    }
    format!(
        "{} et al. ({} authors)",
        names[..max].join(", "),
        names.len()
    )
}

/// Cuts highlighted text to at most `max_chars` characters (ellipses not
/// counted), on word boundaries, keeping the first hit visible when it fits;
/// "…" marks each side that was cut.
pub fn excerpt(spans: &[Span], max_chars: usize) -> Vec<Span> {
    let mut chars: Vec<(char, bool)> = Vec::with_capacity(spans.iter().map(|s| s.text.len()).sum());
    for s in spans {
        chars.extend(s.text.chars().map(|c| (c, s.hit)));
    }
    let n = chars.len();
    if n <= max_chars {
        return regroup(&chars);
    }
    if max_chars == 0 {
        return vec![Span::plain("…")];
    }
    let is_space = |i: usize| chars[i].0.is_whitespace();

    let first_hit = chars.iter().position(|&(_, hit)| hit);
    let mut start = 0;
    if let Some(hit_start) = first_hit {
        let hit_end = (hit_start..n).find(|&i| !chars[i].1).unwrap_or(n);
        if hit_end > max_chars {
            // Show some context before the hit, but never push its end out.
            let with_context = hit_start.saturating_sub(max_chars / 4);
            start = with_context.max(hit_end.saturating_sub(max_chars));
            start = start.min(hit_start);
            if start > 0 && !is_space(start - 1) {
                start = (start..hit_start)
                    .find(|&i| is_space(i))
                    .map(|i| i + 1)
                    .unwrap_or(hit_start);
            }
        }
    }
    while start < n && is_space(start) {
        start += 1;
    }

    let mut end = (start + max_chars).min(n);
    if end < n {
        if !is_space(end) {
            if let Some(space) = (start + 1..end).rev().find(|&i| is_space(i)) {
                end = space;
            }
        }
        // A dangling comma before the ellipsis reads like a typo.
        while end > start && (is_space(end - 1) || ",;:".contains(chars[end - 1].0)) {
            end -= 1;
        }
    }

    let mut out = Vec::new();
    if start > 0 {
        out.push(Span::plain("…"));
    }
    out.extend(regroup(&chars[start..end]));
    if end < n {
        match out.last_mut() {
            Some(last) if !last.hit => last.text.push('…'),
            _ => out.push(Span::plain("…")),
        }
    }
    if start > 0 && out.len() > 1 && !out[1].hit {
        let first = out.remove(0);
        out[0].text.insert_str(0, &first.text);
    }
    out
}

fn regroup(chars: &[(char, bool)]) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut rest = chars;
    while let Some(&(_, hit)) = rest.first() {
        let run = rest
            .iter()
            .position(|&(_, h)| h != hit)
            .unwrap_or(rest.len());
        out.push(Span {
            text: rest[..run].iter().map(|&(c, _)| c).collect(),
            hit,
        });
        rest = &rest[run..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paper(title: &str) -> PaperView {
        PaperView {
            title: title.into(),
            url: "https://arxiv.org/abs/2606.01234".into(),
            authors: "Ada Lovelace, Alan Turing, Grace Hopper et al. (14 authors)".into(),
            excerpt: vec![
                Span::plain("We study "),
                Span::hit("diffusion"),
                Span::plain(" models for <b>graphs</b> & sets."),
            ],
            matched: "ti:diffusion, cat:cs.LG".into(),
            upvotes: Some(12),
            code_url: Some("https://github.com/example/repo".into()),
            project_url: None,
            pdf_url: Some("https://arxiv.org/pdf/2606.01234".into()),
            categories: "cs.LG, cs.AI".into(),
            ..PaperView::default()
        }
    }

    /// A paper's entry with its feedback links, as every digest has them.
    fn block(view: PaperView) -> DigestEntry {
        let token = "FEEDBACKTOKEN/more?paper=2606.01234";
        DigestEntry {
            block: PaperBlock::render(&view).unwrap(),
            reason: None,
            feedback: Some(FeedbackLinks {
                more_url: format!("https://example.org/papers/feedback/{token}"),
                less_url: format!(
                    "https://example.org/papers/feedback/{}",
                    token.replace("more", "less")
                ),
            }),
        }
    }

    fn view() -> DigestView {
        DigestView {
            date_label: "Friday, 12 June 2026".into(),
            short_date: "12 Jun 2026".into(),
            sections: vec![
                TopicSection {
                    name: "Diffusion".into(),
                    query: "ti:diffusion AND cat:cs.LG".into(),
                    papers: vec![
                        block(paper("<script>alert(1)</script> Denoising at scale")),
                        block(paper("A second paper about diffusion with a rather long title that must wrap in the text part")),
                    ],
                },
                TopicSection {
                    name: "Graphs".into(),
                    query: "abs:\"graph neural\"".into(),
                    papers: vec![block(PaperView {
                        upvotes: None,
                        code_url: None,
                        pdf_url: None,
                        ..paper("Plain graph paper")
                    })],
                },
            ],
            more_count: 4,
            total_count: 7,
            manage_url: "https://example.org/papers/manage/MANAGETOKEN".into(),
            unsubscribe_url: "https://example.org/papers/unsubscribe/UNSUBTOKEN".into(),
            view_url: "https://example.org/papers/digest/VIEWTOKEN/2026-06-12".into(),
            site_name: "Paperboy".into(),
            base_url: "https://example.org/papers/".into(),
        }
    }

    fn text_of(spans: &[Span]) -> String {
        spans.iter().map(|s| s.text.as_str()).collect()
    }

    #[test]
    fn a_script_title_is_escaped_in_html_and_intact_in_text() {
        let r = render_digest(&view()).unwrap();
        assert!(!r.html.contains("<script"), "raw script tag in HTML");
        assert!(r.html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
        assert!(r.html.contains("&#60;b&#62;graphs&#60;/b&#62; &#38; sets"));
        assert!(r
            .text
            .contains("1. <script>alert(1)</script> Denoising at scale"));
        assert!(r.text.contains("models for <b>graphs</b> & sets."));
    }

    #[test]
    fn subscriber_supplied_topic_names_and_queries_are_escaped() {
        let mut v = view();
        v.sections[0].name = "<img src=x onerror=alert(1)>".into();
        v.sections[0].query = "ti:\"a\" <i>".into();
        let r = render_digest(&v).unwrap();
        assert!(!r.html.contains("<img"));
        assert!(r.html.contains("&#60;img src=x onerror=alert(1)&#62;"));
        assert!(r.html.contains("ti:&#34;a&#34; &#60;i&#62;"));
    }

    #[test]
    fn highlights_are_bare_marks_styled_once_in_the_head() {
        let r = render_digest(&view()).unwrap();
        assert!(r.html.contains("We study <mark>diffusion</mark> models"));
        assert!(r.html.contains("Matched: <b>ti:diffusion, cat:cs.LG</b>"));
        let head = &r.html[..r.html.find("</head>").unwrap()];
        assert!(head.contains("mark { background-color: #fef08a;"), "{head}");
        assert!(r.text.contains("   We study diffusion models"));
        assert!(r.text.contains("   Matched: ti:diffusion, cat:cs.LG"));
    }

    #[test]
    fn paper_rows_carry_classes_and_no_inline_style() {
        let block = block(paper("A paper"));
        assert!(
            !block.block.html().contains("style="),
            "{}",
            block.block.html()
        );
        let r = render_digest(&view()).unwrap();
        let head = &r.html[..r.html.find("</head>").unwrap()];
        for class in ["pb-p", "pb-t", "pb-a", "pb-e", "pb-m", "pb-l"] {
            assert!(
                block.block.html().contains(&format!("class=\"{class}\"")),
                "{class}"
            );
            assert!(head.contains(&format!(".{class} ")), "{class} has no rule");
        }
    }

    #[test]
    fn title_matches_are_marked_like_abstract_matches() {
        let mut v = view();
        v.sections[0].papers[1] = block(PaperView {
            title_spans: vec![
                Span::plain("A second paper about "),
                Span::hit("diffusion"),
                Span::plain(" <models>"),
            ],
            ..paper("A second paper about diffusion <models>")
        });
        let r = render_digest(&v).unwrap();
        assert!(
            r.html.contains(
                "class=\"pb-t\">A second paper about <mark>diffusion</mark> &#60;models&#62;</a>"
            ),
            "{}",
            r.html
        );
        // The abstract's matches use the very same mark.
        assert!(r.html.contains("We study <mark>diffusion</mark> models"));
        // The text part marks neither: titles read as their abstracts do.
        assert!(
            r.text
                .contains("2. A second paper about diffusion <models>\n"),
            "{}",
            r.text
        );
        assert!(r.text.contains("   We study diffusion models"));
    }

    #[test]
    fn the_more_line_appears_only_when_papers_were_left_out() {
        let r = render_digest(&view()).unwrap();
        assert!(r.html.contains("and 4 more matching papers not shown here"));
        assert!(r
            .text
            .contains("...and 4 more matching papers not shown here"));
        let mut v = view();
        v.more_count = 1;
        assert!(render_digest(&v)
            .unwrap()
            .text
            .contains("1 more matching paper not"));
        v.more_count = 0;
        let r = render_digest(&v).unwrap();
        assert!(!r.html.contains("more matching"));
        assert!(!r.text.contains("more matching"));
    }

    #[test]
    fn both_parts_link_to_the_digest_in_a_browser_and_the_more_line_points_there() {
        let r = render_digest(&view()).unwrap();
        assert!(r.html.contains(
            "href=\"https://example.org/papers/digest/VIEWTOKEN/2026-06-12\" class=\"pb-link\" style=\"color:#1d4ed8;\">View in your browser</a>"
        ), "{}", r.html);
        assert!(r.text.contains(
            "View in your browser: https://example.org/papers/digest/VIEWTOKEN/2026-06-12"
        ));
        assert!(r.html.contains(
            "not shown here. <a href=\"https://example.org/papers/digest/VIEWTOKEN/2026-06-12\""
        ), "{}", r.html);
        let flat = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("See them all in your browser: https://example.org/papers/digest/VIEWTOKEN/2026-06-12"),
            "{}",
            r.text
        );
    }

    #[test]
    fn both_parts_carry_the_manage_and_unsubscribe_links() {
        let r = render_digest(&view()).unwrap();
        for part in [&r.html, &r.text] {
            assert!(part.contains("https://example.org/papers/manage/MANAGETOKEN"));
            assert!(part.contains("https://example.org/papers/unsubscribe/UNSUBTOKEN"));
        }
        assert!(r.html.contains(">Unsubscribe</a>"));
    }

    #[test]
    fn the_text_footer_follows_the_signature_separator_with_each_url_on_its_own_line() {
        let r = render_digest(&view()).unwrap();
        let lines: Vec<&str> = r.text.lines().collect();
        let sep = lines
            .iter()
            .position(|l| *l == "-- ")
            .unwrap_or_else(|| panic!("no \"-- \" line in\n{}", r.text));
        assert_eq!(
            lines.iter().filter(|l| l.trim_end() == "--").count(),
            1,
            "one separator"
        );
        let footer = &lines[sep + 1..];
        for url in [
            "https://example.org/papers/manage/MANAGETOKEN",
            "https://example.org/papers/unsubscribe/UNSUBTOKEN",
        ] {
            assert!(
                footer.contains(&url),
                "{url} alone on a line in\n{}",
                r.text
            );
        }
        let confirm =
            crate::email::link_mail::render_confirm(&crate::email::link_mail::ConfirmView {
                confirm_url: "https://example.org/papers/confirm/TOKEN".into(),
                site_name: "Paperboy".into(),
            })
            .unwrap();
        assert!(confirm.text.contains("\n-- \n"), "{}", confirm.text);
        assert!(confirm
            .text
            .lines()
            .any(|l| l == "https://example.org/papers/confirm/TOKEN"));
    }

    #[test]
    fn a_topic_named_by_its_query_shows_the_query_once() {
        let mut v = view();
        v.sections[0].name = v.sections[0].query.clone();
        let r = render_digest(&v).unwrap();
        for part in [&r.text, &r.html] {
            assert_eq!(
                part.matches("ti:diffusion AND cat:cs.LG").count(),
                1,
                "{part}"
            );
        }
        assert!(
            r.text.contains("== ti:diffusion AND cat:cs.LG ==\n\n1. "),
            "{}",
            r.text
        );
        // A topic with its own name shows both, the query under the name.
        let r = render_digest(&view()).unwrap();
        assert!(
            r.text
                .contains("== Diffusion ==\n   ti:diffusion AND cat:cs.LG\n"),
            "{}",
            r.text
        );
        assert_eq!(r.html.matches("ti:diffusion AND cat:cs.LG").count(), 1);
    }

    #[test]
    fn the_text_part_spells_out_every_link() {
        let r = render_digest(&view()).unwrap();
        assert!(r
            .text
            .contains("Abstract: https://arxiv.org/abs/2606.01234"));
        assert!(r.text.contains("PDF: https://arxiv.org/pdf/2606.01234"));
        assert!(r.text.contains("Code: https://github.com/example/repo"));
        assert!(r.text.contains("Upvotes: 12"));
        assert!(!r.text.contains("Project page:"));
    }

    #[test]
    fn text_lines_are_wrapped_except_unbreakable_urls() {
        let r = render_digest(&view()).unwrap();
        for line in r.text.lines() {
            assert!(
                line.chars().count() <= super::super::format::TEXT_WIDTH || line.contains("://"),
                "line too long: {line:?}"
            );
        }
        assert!(r.text.contains("2. A second paper about diffusion with a rather long title that must\n   wrap in the text part"));
    }

    #[test]
    fn the_html_loads_nothing_remote_and_runs_nothing() {
        let mut v = view();
        v.sections[0].papers[0] = block(PaperView {
            code_url: Some("javascript:alert(1)".into()),
            ..paper("<script>alert(1)</script> Denoising at scale")
        });
        let r = render_digest(&v).unwrap();
        let lower = r.html.to_ascii_lowercase();
        for banned in [
            "<script",
            " src=",
            "<link",
            "@import",
            "url(",
            "<iframe",
            "javascript:",
        ] {
            assert!(!lower.contains(banned), "HTML contains {banned:?}");
        }
        for (at, _) in lower.match_indices("http") {
            assert!(
                lower[..at].ends_with("href=\""),
                "URL outside a link at {at}: {}",
                &r.html[at.saturating_sub(40)..(at + 40).min(r.html.len())]
            );
        }
        assert!(r
            .html
            .contains("<meta name=\"color-scheme\" content=\"light dark\">"));
        assert!(r.html.contains("@media (prefers-color-scheme: dark)"));
        assert_eq!(lower.matches("<style").count(), 1);
    }

    /// The view with `n` more papers in its first section, each distinct.
    fn long_view(n: usize) -> DigestView {
        let mut v = view();
        for i in 0..n {
            let title = format!("Paper {i} on diffusion {}", "and more ".repeat(i % 7));
            v.sections[i % 2].papers.push(block(paper(&title)));
        }
        v
    }

    fn papers_shown(html: &str) -> usize {
        html.matches("class=\"pb-p\"").count()
    }

    #[test]
    fn a_digest_within_its_budget_is_rendered_whole() {
        let v = view();
        assert_eq!(
            render_digest_within(&v, 1_000_000).unwrap(),
            render_digest(&v).unwrap()
        );
    }

    #[test]
    fn a_digest_past_its_budget_shows_the_most_papers_that_fit_and_counts_the_rest() {
        let v = long_view(400);
        let total: usize = v.sections.iter().map(|s| s.papers.len()).sum();
        let whole = render_digest(&v).unwrap();
        for budget in [20_000, 45_000, 90_000, 150_000] {
            assert!(whole.html.len() > budget);
            let r = render_digest_within(&v, budget).unwrap();
            let sent = r.html.len() + r.html.matches('\n').count();
            assert!(sent <= budget, "{sent} > {budget}");
            let shown = papers_shown(&r.html);
            assert!(shown > 0 && shown < total, "{shown}");
            // One paper more would not have fitted.
            let one_more = render_digest(&v.first(shown + 1)).unwrap().html;
            assert!(one_more.len() + one_more.matches('\n').count() > budget);
            // The rest are counted, in both parts, which show the same papers.
            let more = v.more_count + total - shown;
            let line = format!("and {more} more matching papers not shown here");
            assert!(r.html.contains(&line), "{line}");
            assert!(r.text.contains(&line), "{line}");
            assert_eq!(r.text.matches("   Abstract: ").count(), shown);
            // The footer is whole and last.
            let tail = &r.html[r.html.rfind("UNSUBTOKEN").unwrap()..];
            assert!(tail.contains(">Unsubscribe</a>"), "{tail}");
            assert!(r.html.trim_end().ends_with("</html>"));
            assert!(r
                .text
                .contains("https://example.org/papers/unsubscribe/UNSUBTOKEN"));
            // The subject still counts every paper.
            assert_eq!(r.subject, whole.subject);
        }
    }

    #[test]
    fn a_budget_smaller_than_the_frame_keeps_the_frame_and_counts_every_paper() {
        let v = long_view(10);
        let r = render_digest_within(&v, 100).unwrap();
        assert_eq!(papers_shown(&r.html), 0);
        assert!(r.html.contains("and 17 more matching papers"), "{}", r.html);
        assert!(r.html.contains(">Unsubscribe</a>"));
    }

    #[test]
    fn the_subject_counts_papers_and_carries_the_short_date() {
        let mut v = view();
        assert_eq!(
            digest_subject(&v),
            "7 new papers on your topics — 12 Jun 2026"
        );
        v.total_count = 1;
        v.short_date = String::new();
        assert_eq!(
            digest_subject(&v),
            "1 new paper on your topics — Friday, 12 June 2026"
        );
    }

    #[test]
    fn a_digest_of_only_the_top_papers_says_so_in_its_subject() {
        let mut v = view();
        let mut top = v.sections[0].clone();
        top.name = top_papers_heading(false).into();
        top.query = String::new();
        v.sections = vec![top.clone()];
        assert_eq!(digest_subject(&v), "Top papers of the day — 12 Jun 2026");
        v.sections[0].name = top_papers_heading(true).into();
        assert_eq!(digest_subject(&v), "Top papers of the week — 12 Jun 2026");
        // A topic that happens to carry the heading's name is still a topic.
        v.sections[0].query = "ti:top".into();
        assert_eq!(
            digest_subject(&v),
            "7 new papers on your topics — 12 Jun 2026"
        );
    }

    #[test]
    fn authors_are_shortened_with_a_count_beyond_the_limit() {
        let names: Vec<String> = (1..=14).map(|i| format!("Author {i}")).collect();
        assert_eq!(
            shorten_authors(&names, 3),
            "Author 1, Author 2, Author 3 et al. (14 authors)"
        );
        assert_eq!(
            shorten_authors(&names[..3], 3),
            "Author 1, Author 2, Author 3"
        );
        assert_eq!(shorten_authors(&names[..1], 3), "Author 1");
        assert_eq!(shorten_authors(&[], 3), "");
        assert_eq!(shorten_authors(&names, 0), "14 authors");
        let messy = vec!["  Ada\n Lovelace ".to_string(), String::new()];
        assert_eq!(shorten_authors(&messy, 3), "Ada Lovelace");
    }

    #[test]
    fn a_short_excerpt_is_kept_whole() {
        let spans = vec![
            Span::plain("We study "),
            Span::hit("diffusion"),
            Span::plain("."),
        ];
        assert_eq!(excerpt(&spans, 100), spans);
    }

    #[test]
    fn a_long_excerpt_is_cut_on_a_word_boundary_with_an_ellipsis() {
        let spans = vec![
            Span::hit("Diffusion"),
            Span::plain(" models are strong generative models for images and audio."),
        ];
        let out = excerpt(&spans, 30);
        assert_eq!(text_of(&out), "Diffusion models are strong…");
        assert!(out[0].hit && out[0].text == "Diffusion");
    }

    #[test]
    fn a_late_first_hit_moves_the_window_so_it_stays_visible() {
        let lead = "word ".repeat(40);
        let spans = vec![
            Span::plain(lead.clone()),
            Span::hit("transformer"),
            Span::plain(" architectures for long context and more words after that"),
        ];
        let out = excerpt(&spans, 60);
        let text = text_of(&out);
        assert!(text.starts_with('…'), "{text}");
        assert!(text.ends_with('…'), "{text}");
        assert!(
            out.iter().any(|s| s.hit && s.text == "transformer"),
            "{out:?}"
        );
        assert!(text.chars().filter(|&c| c != '…').count() <= 60, "{text}");
        assert!(!text.contains(" …") && !text.contains("… "), "{text}");
    }

    #[test]
    fn a_single_overlong_word_is_cut_hard() {
        let spans = vec![Span::plain("x".repeat(50))];
        assert_eq!(
            text_of(&excerpt(&spans, 10)),
            format!("{}…", "x".repeat(10))
        );
    }

    fn spans_strategy() -> impl Strategy<Value = Vec<Span>> {
        proptest::collection::vec(
            ("[a-zé ,.]{0,12}", any::<bool>()).prop_map(|(text, hit)| Span { text, hit }),
            0..30,
        )
    }

    proptest! {
        #[test]
        fn an_excerpt_is_a_bounded_piece_of_the_input(spans in spans_strategy(), max in 0usize..80) {
            let full = text_of(&spans);
            let out = excerpt(&spans, max);
            let shown = text_of(&out);
            let core = shown.trim_start_matches('…').trim_end_matches('…');
            prop_assert!(core.chars().count() <= max);
            prop_assert!(full.contains(core));
            if full.chars().count() <= max {
                prop_assert_eq!(shown, full);
            }
        }

        #[test]
        fn the_first_hit_survives_when_it_fits(pre in "[a-z ]{0,200}", hit in "[a-z]{1,15}", post in "[a-z ]{0,200}", max in 20usize..80) {
            let spans = vec![Span::plain(format!("{pre} ")), Span::hit(hit.clone()), Span::plain(format!(" {post}"))];
            let out = excerpt(&spans, max);
            prop_assert!(out.iter().any(|s| s.hit && s.text == hit), "{:?}", out);
        }
    }
}

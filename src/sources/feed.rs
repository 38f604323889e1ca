//! Generic feeds (`kind = "feed"`): RSS 0.9x/2.0, RSS 1.0 (RDF), Atom 0.3
//! and 1.0, read the way Python's feedparser reads them (docs/FEEDS.md has
//! the rules and the measured agreement).
//!
//! - Elements are recognised by namespace, not by prefix: RSS bound to a
//!   prefix (`<r:link>`) is RSS, and an extension sharing a local name
//!   (`<media:title>`, `<szf:description>`) never wins over the real element
//!   (`media:title` is a fallback title, as in feedparser). An Atom-style
//!   `<link href>` inside an RSS item is a link.
//! - Text: an Atom text construct is what its `type` says (`text` by
//!   default, `html`, `xhtml`; Atom 0.3 `mode="escaped"`/`"base64"` and MIME
//!   types too); an RSS title or description is HTML when it looks like it
//!   (escaped or CDATA markup, character references), else plain text. HTML
//!   is reduced to text by [`super::html`]: no tag survives, and no
//!   `script`/`style` content.
//! - Links and ids are resolved against `xml:base` and the document's URL
//!   (RFC 3986, Atom §2); an item's link is its last alternate HTML link,
//!   else a guid that is a permalink (an Atom id included), as feedparser's.
//! - Dates: `published` (`pubDate`, `issued`, `dcterms:issued`), else
//!   `updated` (`modified`, `dc:date`, `dcterms:modified`), else `created`
//!   (`dcterms:created`), each in every format [`super::dates`] reads; the
//!   day is the date in its own offset. An item whose dates all fail to
//!   read belongs to the requested day and is reported in
//!   [`Parsed::unreadable_dates`] with the raw value.
//!
//! Each item becomes a paper keyed by [`PaperId::from_feed_item`], so an item
//! linking to arxiv.org merges with the arXiv sources. Items without a
//! title, or without any guid, id or link, are skipped and reported.
//! Parsing does no I/O.

use base64::Engine as _;
use chrono::{DateTime, FixedOffset, NaiveDate};
use url::Url;

use super::charset::printable;
use super::xml::{parse_with, Element, Origin};
use super::{dates, html, normalise_inline};
use super::{ItemError, ParseError, Parsed};
use crate::domain::{ArxivId, FetchedPaper, Paper, PaperId};

/// What is known about a feed document besides its bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Served<'a> {
    /// The URL it was fetched from (the base of relative links).
    pub url: Option<&'a Url>,
    /// Its HTTP Content-Type (for the `charset` parameter).
    pub content_type: Option<&'a str>,
}

/// Parses a feed; items without a date belong to `day`.
pub fn parse(body: &[u8], day: NaiveDate) -> Result<Vec<FetchedPaper>, ParseError> {
    parse_items(body, day).map(|p| p.papers)
}

/// Like [`parse`], also returning the items that had to be skipped.
pub fn parse_items(body: &[u8], day: NaiveDate) -> Result<Parsed, ParseError> {
    parse_served(body, Served::default(), day)
}

/// Like [`parse_items`], for a document served from a URL with a
/// Content-Type.
pub fn parse_served(body: &[u8], served: Served<'_>, day: NaiveDate) -> Result<Parsed, ParseError> {
    let entries = read_entries(body, served)?;
    let mut parsed = Parsed::default();
    for (index, entry) in entries.into_iter().enumerate() {
        if entry.date.is_none() && !entry.raw_dates.is_empty() {
            parsed.unreadable_dates.push(ItemError {
                index,
                reason: format!(
                    "unreadable date {}",
                    entry
                        .raw_dates
                        .iter()
                        .map(|d| format!("{:?}", printable(d)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
        }
        match entry.into_paper(day) {
            Ok(p) => parsed.papers.push(p),
            Err(reason) => parsed.skipped.push(ItemError {
                index,
                reason: printable(&reason).into_owned(),
            }),
        }
    }
    parsed.into_result()
}

/// Reads an HTML fragment to text (see [`super::html`]).
pub fn html_to_text(html: &str) -> String {
    html::to_text(html)
}

/// Reads a feed date in any format feedparser reads.
pub fn parse_feed_date(s: &str) -> Option<DateTime<FixedOffset>> {
    dates::parse(s)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Rss,
    Rdf,
    Atom,
}

/// One item as the feed gives it, before it is made a paper.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entry {
    /// The title reduced to text, whitespace collapsed.
    pub title: Option<String>,
    /// The link a reader would follow, resolved to an absolute URI when a
    /// base is known.
    pub link: Option<String>,
    /// The guid, Atom id or RDF `about`, resolved when it is a permalink.
    pub id: Option<String>,
    /// The entry's date: published, else updated, else created.
    pub date: Option<DateTime<FixedOffset>>,
    /// Every date element's raw text, for the message when none reads.
    pub raw_dates: Vec<String>,
    /// The description or summary reduced to text, one paragraph per line.
    pub summary: String,
    /// Whether the summary came from HTML (already laid out in paragraphs).
    pub summary_is_html: bool,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub doi: Option<String>,
}

/// Reads every item of a feed, in document order, whether or not it could
/// become a paper.
pub fn read_entries(body: &[u8], served: Served<'_>) -> Result<Vec<Entry>, ParseError> {
    let doc = parse_with(
        body,
        Origin {
            url: served.url,
            content_type: served.content_type,
        },
    )?;
    let root = &doc.root;
    let utf8 = doc.charset.name() == "UTF-8";
    let format = match root.name.to_ascii_lowercase().as_str() {
        "rss" | "channel" => Format::Rss,
        "rdf" => Format::Rdf,
        "feed" => Format::Atom,
        _ => {
            return Err(ParseError::Structure(format!(
                "expected an RSS, RDF or Atom feed, found <{}>",
                printable(&root.name)
            )))
        }
    };
    let atom = format == Format::Atom;
    let item_name = if atom { "entry" } else { "item" };
    let mut items: Vec<&Element> = Vec::new();
    let mut channels = vec![root];
    channels.extend(root.children.iter().filter(|c| is_core(c, "channel")));
    for parent in channels {
        items.extend(parent.children.iter().filter(|c| is_core(c, item_name)));
    }
    if format == Format::Rss
        && !root.children.iter().any(|c| is_core(c, "channel"))
        && !root.name.eq_ignore_ascii_case("channel")
    {
        return Err(ParseError::Structure(
            "RSS document without a <channel>".into(),
        ));
    }
    Ok(items
        .into_iter()
        .map(|item| read_entry(item, atom, utf8))
        .collect())
}

/// Namespaces feedparser reads as the feed's own vocabulary (RSS in its
/// versions, Atom 0.3 and 1.0, and their drafts).
const CORE_NAMESPACES: &[&str] = &[
    "http://backend.userland.com/rss",
    "http://blogs.law.harvard.edu/tech/rss",
    "http://purl.org/rss/1.0/",
    "http://my.netscape.com/rdf/simple/0.9/",
    "http://example.com/newformat#",
    "http://example.com/necho",
    "http://purl.org/echo/",
    "uri/of/echo/namespace#",
    "http://purl.org/pie/",
    "http://purl.org/atom/ns#",
    "http://www.w3.org/2005/atom",
    "http://purl.org/rss/1.0/modules/rss091#",
];
const DC: &str = "http://purl.org/dc/elements/1.1/";
const DCTERMS: &str = "http://purl.org/dc/terms/";
const CONTENT: &str = "http://purl.org/rss/1.0/modules/content/";

/// The vocabulary an element belongs to, by namespace; an undeclared
/// prefix is taken at its usual meaning (`dc:`), as feedparser's loose
/// reader does.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Vocab {
    Core,
    Dc,
    Dcterms,
    Content,
    Media,
    Other,
}

fn vocab(el: &Element) -> Vocab {
    match el.ns.as_deref().map(str::to_ascii_lowercase) {
        None => match el.prefix.as_deref() {
            None => Vocab::Core,
            Some("dc") => Vocab::Dc,
            Some("dcterms") => Vocab::Dcterms,
            Some("content") => Vocab::Content,
            Some("media") => Vocab::Media,
            Some(_) => Vocab::Other,
        },
        Some(ns) => {
            if ns.contains("backend.userland.com/rss")
                || CORE_NAMESPACES
                    .iter()
                    .any(|c| *c == ns.trim_end_matches('/') || *c == ns)
            {
                Vocab::Core
            } else if ns == DC {
                Vocab::Dc
            } else if ns == DCTERMS {
                Vocab::Dcterms
            } else if ns == CONTENT {
                Vocab::Content
            } else if ns.starts_with("http://search.yahoo.com/mrss") {
                Vocab::Media
            } else {
                Vocab::Other
            }
        }
    }
}

fn is_core(el: &Element, name: &str) -> bool {
    el.name.eq_ignore_ascii_case(name) && vocab(el) == Vocab::Core
}

fn is(el: &Element, v: Vocab, name: &str) -> bool {
    el.name.eq_ignore_ascii_case(name) && vocab(el) == v
}

/// How a text construct's content is to be read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum TextType {
    Text,
    Html,
    Xhtml,
    /// Base64 of text (Atom 0.3 `mode="base64"`, a non-text MIME type).
    Base64 {
        html: bool,
    },
}

fn text_type(el: &Element) -> Option<TextType> {
    let ty = el.attr("type").map(|t| t.trim().to_ascii_lowercase());
    let mode = el.attr("mode").map(|m| m.trim().to_ascii_lowercase());
    let mapped = match ty.as_deref() {
        None => None,
        Some("text" | "plain") => Some("text/plain".to_string()),
        Some("html") => Some("text/html".to_string()),
        Some("xhtml") => Some("application/xhtml+xml".to_string()),
        Some(other) => Some(other.to_string()),
    };
    let html_mime = |t: &str| t == "text/html" || t == "application/xhtml+xml";
    if mode.as_deref() == Some("base64") {
        return Some(TextType::Base64 {
            html: mapped.as_deref().is_some_and(html_mime),
        });
    }
    let t = mapped?;
    Some(match t.as_str() {
        "text/plain" => TextType::Text,
        "text/html" => TextType::Html,
        "application/xhtml+xml" => TextType::Xhtml,
        _ if mode.as_deref() == Some("escaped") => TextType::Html,
        t if t.starts_with("text/") || t.ends_with("+xml") || t.ends_with("/xml") => TextType::Text,
        _ => TextType::Base64 { html: false },
    })
}

/// A title, summary or content element read as text; `None` when empty.
/// `default` is the element's type when it declares none (HTML for an RSS
/// description, text otherwise). The second value says whether it was HTML.
fn text_construct(
    el: &Element,
    default: TextType,
    atom: bool,
    utf8: bool,
) -> Option<(String, bool)> {
    let declared = text_type(el);
    let (text, was_html) = if !el.children.is_empty() {
        // Markup as child elements: inline XHTML, or HTML a feed forgot to
        // escape (feedparser reads both as XHTML).
        (html::to_text(&el.inner_html()), true)
    } else {
        match declared.unwrap_or(default) {
            TextType::Html | TextType::Xhtml => (html::to_text(&el.text), true),
            TextType::Base64 { html: is_html } => {
                let decoded = decode_base64(&el.text).unwrap_or_else(|| el.text.clone());
                if is_html {
                    (html::to_text(&decoded), true)
                } else {
                    (decoded, false)
                }
            }
            // RSS says nothing reliable: HTML when it looks like HTML, or
            // when it carries active markup, which is never shown as text.
            TextType::Text
                if !atom
                    && (html::looks_like_html(&el.text) || html::has_active_markup(&el.text)) =>
            {
                (html::to_text(&el.text), true)
            }
            TextType::Text => (el.text.clone(), false),
        }
    };
    let text = repair(&text, utf8);
    let text = if was_html {
        text
    } else {
        html::paragraphs(&text.replace("\r\n", "\n"))
    };
    let text = text.trim().to_string();
    (!text.is_empty()).then_some((text, was_html))
}

fn decode_base64(s: &str) -> Option<String> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// Two repairs feedparser makes to every text: UTF-8 that was decoded as
/// Latin-1 and re-encoded (`Ã©` for `é`) in a UTF-8 document, and C1
/// control characters that stand for their Windows-1252 characters.
fn repair(s: &str, utf8: bool) -> String {
    let mut s = s.to_string();
    if utf8
        && s.chars().any(|c| ('\u{80}'..='\u{ff}').contains(&c))
        && s.chars().all(|c| c <= '\u{ff}')
    {
        let bytes: Vec<u8> = s.chars().map(|c| c as u8).collect();
        if let Ok(fixed) = String::from_utf8(bytes) {
            s = fixed;
        }
    }
    if s.chars().any(|c| ('\u{80}'..='\u{9f}').contains(&c)) {
        s = s
            .chars()
            .map(|c| {
                if ('\u{80}'..='\u{9f}').contains(&c) {
                    let byte = [c as u8];
                    let (decoded, _) = encoding_rs::WINDOWS_1252.decode_without_bom_handling(&byte);
                    decoded.chars().next().unwrap_or(c)
                } else {
                    c
                }
            })
            .collect();
    }
    s
}

/// Resolves a reference against an element's base; a scheme that runs
/// code or reads local data is refused.
fn resolve(el: &Element, reference: &str) -> Option<String> {
    let reference = reference.trim();
    if reference.is_empty() {
        return None;
    }
    // `http:////x` and `http:/x` are typos for `http://x` (feedparser too).
    let fixed = fix_slashes(reference);
    let resolved = match &el.base {
        Some(base) => base.join(&fixed).map(|u| u.to_string()).ok()?,
        None => match Url::parse(&fixed) {
            Ok(u) => u.to_string(),
            // Relative with nothing to resolve against: kept as written.
            Err(url::ParseError::RelativeUrlWithoutBase) => fixed,
            Err(_) => return None,
        },
    };
    let scheme = resolved
        .split_once(':')
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    if ["javascript", "vbscript", "data", "file", "about", "blob"].contains(&scheme.as_str()) {
        return None;
    }
    Some(resolved)
}

fn fix_slashes(s: &str) -> String {
    if let Some((scheme, rest)) = s.split_once("://") {
        if !scheme.is_empty()
            && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return format!("{scheme}://{}", rest.trim_start_matches('/'));
        }
    }
    s.to_string()
}

fn read_entry(item: &Element, atom: bool, utf8: bool) -> Entry {
    let mut entry = Entry::default();
    let mut media_title = None;
    let mut guid_link: Option<String> = None;
    let mut link: Option<String> = None;
    let (mut published, mut updated, mut created): (Option<&str>, Option<&str>, Option<&str>) =
        (None, None, None);
    // Microsoft's CDF puts the link and date on the item itself.
    let item_attr = |name: &str| {
        item.attrs
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
            .map(|a| a.value.as_str())
    };
    if let Some(href) = item_attr("href") {
        link = resolve(item, href);
    }
    if let Some(modified) = item_attr("lastmod") {
        updated = Some(modified.trim());
    }
    for child in &item.children {
        let v = vocab(child);
        let name = child.name.to_ascii_lowercase();
        match (v, name.as_str()) {
            (Vocab::Core | Vocab::Dc, "title") if entry.title.is_none() => {
                entry.title = text_construct(child, TextType::Text, atom, utf8)
                    .map(|(t, _)| normalise_inline(&t));
            }
            (Vocab::Media, "title") => {
                media_title = text_construct(child, TextType::Text, false, utf8)
                    .map(|(t, _)| normalise_inline(&t));
            }
            (Vocab::Core, "link") => {
                if let Some(href) = child
                    .attr("href")
                    .or(child.attr("url"))
                    .or(child.attr("uri"))
                {
                    let rel = child.attr("rel").unwrap_or("alternate").trim();
                    let ty = child
                        .attr("type")
                        .unwrap_or("text/html")
                        .trim()
                        .to_ascii_lowercase();
                    let html_type = ty == "text/html"
                        || ty == "application/xhtml+xml"
                        || ty == "html"
                        || ty == "xhtml";
                    if rel == "alternate" && html_type {
                        if let Some(u) = resolve(child, href) {
                            link = Some(u);
                        }
                    }
                } else if !child.text.trim().is_empty() {
                    // Query strings escaped twice (`&amp;amp;`) read as `&`.
                    let text = child.text.trim().replace("&amp;", "&");
                    if let Some(u) = resolve(child, &text) {
                        link = Some(u);
                    }
                }
            }
            (Vocab::Core, "guid" | "id") => {
                let value = child.text.trim();
                if value.is_empty() {
                    continue;
                }
                let permalink = child
                    .attr("isPermaLink")
                    .or(child.attr("ispermalink"))
                    .is_none_or(|p| p == "true");
                let resolved = if permalink {
                    resolve(child, value)
                } else {
                    None
                };
                if link.is_none() && guid_link.is_none() {
                    guid_link.clone_from(&resolved);
                }
                entry.id = Some(resolved.unwrap_or_else(|| value.to_string()));
            }
            (Vocab::Core, "pubdate" | "published" | "issued") | (Vocab::Dcterms, "issued") => {
                published = Some(child.text.trim());
            }
            (Vocab::Core, "updated" | "modified" | "lastbuilddate")
            | (Vocab::Dc, "date")
            | (Vocab::Dcterms, "modified") => updated = Some(child.text.trim()),
            (Vocab::Core, "created") | (Vocab::Dcterms, "created") => {
                created = Some(child.text.trim())
            }
            _ => {}
        }
    }
    if entry.title.is_none() {
        entry.title = media_title;
    }
    if entry.id.is_none() {
        entry.id = item
            .attrs
            .iter()
            .find(|a| a.name == "about")
            .map(|a| a.value.trim().to_string())
            .filter(|a| !a.is_empty());
    }
    entry.link = link.or(guid_link);
    for raw in [published, updated, created].into_iter().flatten() {
        if !raw.is_empty() {
            entry.raw_dates.push(raw.to_string());
        }
    }
    entry.date = [published, updated, created]
        .into_iter()
        .find_map(|raw| raw.and_then(dates::parse));
    let body = if atom {
        item.children
            .iter()
            .find(|c| is_core(c, "summary"))
            .or_else(|| item.children.iter().find(|c| is_core(c, "content")))
    } else {
        item.children
            .iter()
            .find(|c| is_core(c, "description"))
            .or_else(|| {
                item.children
                    .iter()
                    .find(|c| is(c, Vocab::Content, "encoded"))
            })
            .or_else(|| {
                item.children
                    .iter()
                    .find(|c| is(c, Vocab::Dc, "description"))
            })
    };
    let default = match body {
        Some(b) if !atom && (b.name == "description" || b.name == "encoded") => TextType::Html,
        _ => TextType::Text,
    };
    if let Some((text, was_html)) = body.and_then(|b| text_construct(b, default, atom, utf8)) {
        entry.summary = text;
        entry.summary_is_html = was_html;
    }
    entry.authors = authors(item, atom);
    for c in item
        .children
        .iter()
        .filter(|c| is_core(c, "category") || is(c, Vocab::Dc, "subject"))
    {
        let term = c.attr("term").unwrap_or(&c.text);
        let term = normalise_inline(term);
        if !term.is_empty() && !entry.categories.contains(&term) {
            entry.categories.push(term);
        }
    }
    entry.doi = item.child_text("doi").map(str::to_string).or_else(|| {
        item.children_named("identifier")
            .map(|i| i.text.trim())
            .find_map(|i| i.strip_prefix("doi:").or(i.starts_with("10.").then_some(i)))
            .map(|d| d.trim().to_string())
    });
    entry
}

impl Entry {
    /// The paper this item stands for; `day` is used when it has no
    /// readable date.
    fn into_paper(self, default_day: NaiveDate) -> Result<FetchedPaper, String> {
        let link = self.link.as_deref().filter(|l| !l.is_empty());
        let guid = self.id.as_deref();
        let id = PaperId::from_feed_item(guid, link).ok_or("no guid, id or link")?;
        let title = self
            .title
            .as_deref()
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| format!("{id}: missing title"))?;
        let arxiv = [link, guid]
            .into_iter()
            .flatten()
            .find_map(ArxivId::from_url);
        let is_web = |u: &&str| {
            let lower = u.to_ascii_lowercase();
            lower.starts_with("http://") || lower.starts_with("https://")
        };
        let url = link
            .filter(is_web)
            .map(str::to_string)
            .or_else(|| guid.filter(is_web).map(str::to_string))
            .or_else(|| arxiv.as_ref().map(|(a, _)| a.abs_url()))
            .or_else(|| self.doi.as_ref().map(|d| format!("https://doi.org/{d}")))
            .or_else(|| link.map(str::to_string))
            .unwrap_or_default();
        let mut p = Paper::new(id, title, &self.summary, &url);
        if self.summary_is_html {
            // Already one normalised paragraph per line; re-flowing could join
            // short paragraphs that happen to look hard-wrapped.
            p.abstract_text = self
                .summary
                .lines()
                .map(normalise_inline)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join("\n");
        }
        p.version = arxiv.and_then(|(_, v)| v);
        p.authors = self.authors;
        p.categories = self.categories;
        p.doi = self.doi;
        p.published_at = self.date.map(dates::to_utc);
        Ok(FetchedPaper {
            paper: p,
            day: self.date.map_or(default_day, |d| d.date_naive()),
            announce_type: None,
        })
    }
}

fn authors(item: &Element, atom: bool) -> Vec<String> {
    let mut names: Vec<String> = item
        .children
        .iter()
        .filter(|c| is(c, Vocab::Dc, "creator"))
        .map(|c| normalise_inline(&c.text))
        .collect();
    if names.is_empty() {
        names = item
            .children
            .iter()
            .filter(|c| is_core(c, "author"))
            .map(|a| {
                if atom || !a.children.is_empty() {
                    a.children
                        .iter()
                        .find(|c| is_core(c, "name"))
                        .map(|n| normalise_inline(&n.text))
                        .unwrap_or_default()
                } else {
                    // RSS 2.0 `author` is `email (Name)`; keep the name when given.
                    let t = a.text.trim();
                    match (t.find('('), t.rfind(')')) {
                        (Some(open), Some(close)) if open < close => {
                            normalise_inline(&t[open + 1..close])
                        }
                        _ => normalise_inline(t),
                    }
                }
            })
            .collect();
    }
    names.retain(|n| !n.is_empty());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const RDF_FEED: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">
 <channel rdf:about="http://connect.biorxiv.org/biorxiv_xml/neuroscience"><title>bioRxiv Neuroscience</title></channel>
 <item rdf:about="http://biorxiv.org/cgi/content/short/2026.06.10.123456v1?rss=1">
  <title>Grid cells &amp; place cells</title>
  <link>http://biorxiv.org/cgi/content/short/2026.06.10.123456v1?rss=1</link>
  <description>&lt;p&gt;We record &amp;lt;100 neurons.&lt;/p&gt;&lt;p&gt;Second paragraph.&lt;/p&gt;</description>
  <dc:creator>Doe, J.</dc:creator><dc:creator>Roe, R.</dc:creator>
  <dc:date>2026-06-11</dc:date>
  <dc:identifier>doi:10.1101/2026.06.10.123456</dc:identifier>
  <dc:subject>Neuroscience</dc:subject>
 </item>
</rdf:RDF>"#;

    #[test]
    fn rss_1_0_items_yield_doi_authors_day_and_html_free_paragraphs() {
        let papers = parse(RDF_FEED, d("2026-06-12")).unwrap();
        assert_eq!(papers.len(), 1);
        let p = &papers[0];
        assert_eq!(p.day, d("2026-06-11"));
        assert_eq!(p.paper.title, "Grid cells & place cells");
        assert_eq!(
            p.paper.abstract_text,
            "We record <100 neurons.\nSecond paragraph."
        );
        assert_eq!(p.paper.authors, vec!["Doe, J.", "Roe, R."]);
        assert_eq!(p.paper.doi.as_deref(), Some("10.1101/2026.06.10.123456"));
        assert_eq!(p.paper.categories, vec!["Neuroscience"]);
        assert!(p
            .paper
            .id
            .as_str()
            .starts_with("feed:biorxiv.org/cgi/content/short/"));
    }

    #[test]
    fn atom_entries_linking_to_arxiv_key_by_the_arxiv_id() {
        let body = br#"<feed xmlns="http://www.w3.org/2005/Atom"><entry>
            <id>tag:example.org,2026:1</id><title type="html">A &lt;b&gt;bold&lt;/b&gt; &amp;amp; &lt;i&gt;brave&lt;/i&gt; claim</title>
            <link rel="alternate" href="https://arxiv.org/abs/2606.13677v2"/>
            <summary>Plain $x$ text</summary><author><name>Ann Lee</name></author>
            <category term="cs.LG"/><updated>2026-06-12T23:30:00-05:00</updated></entry></feed>"#;
        let papers = parse(body, d("2026-06-01")).unwrap();
        let p = &papers[0];
        assert_eq!(p.paper.id.as_str(), "2606.13677");
        assert_eq!(p.paper.version, Some(2));
        assert_eq!(p.paper.title, "A bold & brave claim");
        assert_eq!(p.paper.abstract_text, "Plain $x$ text");
        assert_eq!(p.paper.authors, vec!["Ann Lee"]);
        // The day is read in the item's own offset, not UTC.
        assert_eq!(p.day, d("2026-06-12"));
    }

    #[test]
    fn the_arxiv_announcement_feed_also_parses_as_a_generic_feed() {
        let body =
            include_bytes!("../../tests/fixtures/arxiv_rss_2026-04-27_cs.LG_trimmed_3items.xml");
        let papers = parse(body, d("2026-01-01")).unwrap();
        assert_eq!(papers.len(), 3);
        assert!(papers.iter().all(|p| p.day == d("2026-04-27")));
        assert!(papers.iter().all(|p| p.paper.id.arxiv_id().is_some()));
    }

    #[test]
    fn rss_items_without_a_date_take_the_requested_day_and_bad_items_are_skipped() {
        let body = br#"<rss version="2.0"><channel>
            <item><title>Kept</title><link>https://journal.example/a/1</link>
              <description>x &lt; y &amp;&amp; &lt;script&gt;bad()&lt;/script&gt;z</description>
              <author>ed@example.org (Ed Itor)</author></item>
            <item><title>No link</title></item>
            <item><link>https://journal.example/a/3</link></item>
            </channel></rss>"#;
        let parsed = parse_items(body, d("2026-06-12")).unwrap();
        assert_eq!(parsed.papers.len(), 1);
        let p = &parsed.papers[0];
        assert_eq!(p.day, d("2026-06-12"));
        assert_eq!(p.paper.abstract_text, "x < y && z");
        assert_eq!(p.paper.authors, vec!["Ed Itor"]);
        let skipped: Vec<String> = parsed.skipped.iter().map(ToString::to_string).collect();
        assert_eq!(skipped[0], "item 1: no guid, id or link");
        assert!(skipped[1].starts_with("item 2: ") && skipped[1].ends_with("missing title"));
        assert!(
            parsed.unreadable_dates.is_empty(),
            "no date is not a bad date"
        );
    }

    #[test]
    fn journal_titles_with_markup_read_as_text_in_rss_and_atom() {
        let body = br#"<rss version="2.0"><channel>
            <item><title>Structure of &lt;i&gt;E. coli&lt;/i&gt; RNA polymerase</title><link>https://j.example/1</link></item>
            <item><title><![CDATA[Ca<sup>2+</sup> waves in H<sub>2</sub>O &amp; more]]></title><link>https://j.example/2</link></item>
            <item><title>The &lt;p&gt; element, x &lt; y</title><link>https://j.example/3</link></item>
            <item><title>&lt;script&gt;alert(1)&lt;/script&gt;Safe &lt;iframe src="//evil"&gt;&lt;/iframe&gt;title &amp;amp; more</title><link>https://j.example/4</link></item>
            </channel></rss>"#;
        let titles: Vec<String> = parse(body, d("2026-06-12"))
            .unwrap()
            .into_iter()
            .map(|p| p.paper.title)
            .collect();
        assert_eq!(
            titles,
            [
                "Structure of E. coli RNA polymerase",
                "Ca²⁺ waves in H₂O & more",
                "The <p> element, x < y",
                "Safe title & more",
            ]
        );
        let atom = br#"<feed xmlns="http://www.w3.org/2005/Atom">
            <entry><id>urn:a</id><title>The &lt;p&gt; element considered harmful</title></entry>
            <entry><id>urn:b</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">safe<script>location.href='http:/'+document.cookie</script> description</div></title></entry>
            </feed>"#;
        let titles: Vec<String> = parse(atom, d("2026-06-12"))
            .unwrap()
            .into_iter()
            .map(|p| p.paper.title)
            .collect();
        assert_eq!(
            titles,
            ["The <p> element considered harmful", "safe description"]
        );
    }

    #[test]
    fn extension_elements_never_win_over_the_real_ones() {
        let body = br#"<rss xmlns:media="http://search.yahoo.com/mrss/" xmlns:szf="urn:szf"><channel>
            <item><media:title>Wrong</media:title><title>Right</title><szf:link>https://wrong.example</szf:link>
              <link>https://right.example/1</link></item>
            <item><media:title>Fallback</media:title><guid>https://right.example/2</guid></item>
            </channel></rss>"#;
        let papers = parse(body, d("2026-06-12")).unwrap();
        assert_eq!(papers[0].paper.title, "Right");
        assert_eq!(papers[0].paper.url, "https://right.example/1");
        assert_eq!(papers[1].paper.title, "Fallback");
    }

    #[test]
    fn prefixed_rss_and_atom_links_inside_rss_items_are_read() {
        let body = br#"<r:rss xmlns:r="http://backend.userland.com/rss2" xmlns:atom="http://www.w3.org/2005/Atom"><r:channel>
            <r:item><r:title>Prefixed</r:title><r:link>https://a.example/1</r:link></r:item>
            <r:item><r:title>Atom link</r:title><atom:link rel="alternate" href="https://a.example/2"/></r:item>
            </r:channel></r:rss>"#;
        let papers = parse(body, d("2026-06-12")).unwrap();
        let urls: Vec<&str> = papers.iter().map(|p| p.paper.url.as_str()).collect();
        assert_eq!(urls, ["https://a.example/1", "https://a.example/2"]);
    }

    #[test]
    fn relative_links_resolve_against_xml_base_and_the_document_url() {
        let url = Url::parse("http://journal.example/feeds/all.xml").unwrap();
        let body = br#"<feed xmlns="http://www.w3.org/2005/Atom" xml:base="/articles/">
            <entry><id>/relative/uri</id><title>A</title><link href="2026/one"/></entry>
            <entry xml:base="http://other.example/x/"><id>tag:x,2026:2</id><title>B</title><link href="../two"/></entry>
            <entry><id>tag:x,2026:3</id><title>C</title></entry>
            <entry><id>urn:x</id><title>D</title><link href="HTTP://Upper.Example/Path"/></entry>
            <entry><id>urn:y</id><title>E</title><link href="javascript:alert(1)"/></entry>
            </feed>"#;
        let parsed = parse_served(
            body,
            Served {
                url: Some(&url),
                content_type: None,
            },
            d("2026-06-12"),
        )
        .unwrap();
        let urls: Vec<&str> = parsed.papers.iter().map(|p| p.paper.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://journal.example/articles/2026/one",
                "http://other.example/two",
                "tag:x,2026:3",
                "http://upper.example/Path",
                "urn:y",
            ]
        );
        assert_eq!(
            parsed.papers[0].paper.id.as_str(),
            "feed:journal.example/relative/uri"
        );
    }

    #[test]
    fn base64_atom_0_3_content_is_decoded() {
        let body = br#"<feed version="0.3" xmlns="http://purl.org/atom/ns#"><entry><id>urn:1</id>
            <title type="text/html" mode="base64">PGI+QmFzZTwvYj4gNjQ=</title>
            <summary type="text/plain" mode="base64">UGxhaW4gc3VtbWFyeQ==</summary>
            <modified>2004-01-02T03:04:05Z</modified></entry></feed>"#;
        let p = &parse(body, d("2026-06-12")).unwrap()[0];
        assert_eq!(p.paper.title, "Base 64");
        assert_eq!(p.paper.abstract_text, "Plain summary");
        assert_eq!(p.day, d("2004-01-02"));
    }

    #[test]
    fn a_malformed_date_falls_back_to_the_other_and_none_is_counted() {
        let body = br#"<rss xmlns:dcterms="http://purl.org/dc/terms/"><channel>
            <item><title>A</title><link>https://a.example/1</link><pubDate>not a date</pubDate><dcterms:modified>2026-06-10T10:00:00Z</dcterms:modified></item>
            <item><title>B</title><link>https://a.example/2</link><pubDate>31/02/2026 &#x1b;[31m</pubDate></item>
            </channel></rss>"#;
        let parsed = parse_items(body, d("2026-06-12")).unwrap();
        assert_eq!(parsed.papers[0].day, d("2026-06-10"));
        assert_eq!(parsed.papers[1].day, d("2026-06-12"));
        assert_eq!(parsed.unreadable_dates.len(), 1);
        let reason = parsed.unreadable_dates[0].to_string();
        assert!(reason.starts_with("item 1: unreadable date"), "{reason}");
        assert!(!reason.chars().any(|c| c.is_control()), "{reason:?}");
        assert!(reason.contains("31/02/2026"), "{reason}");
    }

    #[test]
    fn xhtml_content_and_unescaped_markup_are_read_as_text_in_order() {
        let body = br#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:x:1</id>
            <title>Plain</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
            <p>First <em>emphasised</em> point &amp;amp; H<sub>2</sub>O.</p><p>Second.</p></div></content></entry></feed>"#;
        let papers = parse(body, d("2026-06-12")).unwrap();
        assert_eq!(
            papers[0].paper.abstract_text,
            "First emphasised point &amp; H₂O.\nSecond."
        );
        assert_eq!(papers[0].paper.id.as_str(), "feed:urn:x:1");
    }

    #[test]
    fn non_feeds_and_truncated_feeds_are_rejected() {
        let err = parse(b"<html><body>Not found</body></html>", d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("found <html>"), "{err}");
        let err = parse(&RDF_FEED[..RDF_FEED.len() - 20], d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn html_is_reduced_to_text_but_plain_angle_brackets_survive() {
        assert_eq!(
            html_to_text("<p>H<sub>2</sub>O at p<0.05 and n<m, m>k</p><!-- x --><p>Next<br/>line &amp; more</p>"),
            "H₂O at p<0.05 and n<m, m>k\nNext line & more"
        );
        assert_eq!(html_to_text("a <script>alert(1)</script>b"), "a b");
        assert_eq!(html_to_text("&lt;script&gt; as text"), "<script> as text");
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes, d("2026-06-12"));
        }

        #[test]
        fn parsing_never_panics_on_a_cut_or_mutated_feed(cut in 0usize..RDF_FEED.len(), pos in 0usize..RDF_FEED.len(), byte in proptest::num::u8::ANY) {
            let _ = parse(&RDF_FEED[..cut], d("2026-06-12"));
            let mut m = RDF_FEED.to_vec();
            m[pos] = byte;
            let _ = parse(&m, d("2026-06-12"));
        }
    }
}

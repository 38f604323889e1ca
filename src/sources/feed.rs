//! Generic feeds (`kind = "feed"`): RSS 2.0, RSS 1.0 (RDF) and Atom,
//! detected by the root element (bioRxiv, journals, blogs...).
//!
//! Each item becomes a paper keyed by [`PaperId::from_feed_item`], so an item
//! linking to arxiv.org merges with the arXiv sources. Descriptions are HTML
//! by the RSS spec (and Atom says so with `type="html"`): tags are stripped
//! to text, paragraphs kept, entities decoded. The day is the item's date
//! (`pubDate`, `dc:date`, `published`, `updated`) in its own UTC offset; an
//! item with no readable date belongs to the requested day. Items without a
//! title, or without both guid and link, are skipped and reported.
//! Parsing does no I/O.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, Utc};

use super::normalise_inline;
use super::xml::{parse_document, Element};
use super::{ItemError, ParseError, Parsed};
use crate::domain::{ArxivId, FetchedPaper, Paper, PaperId};

/// Parses a feed; items without a date belong to `day`.
pub fn parse(body: &[u8], day: NaiveDate) -> Result<Vec<FetchedPaper>, ParseError> {
    parse_items(body, day).map(|p| p.papers)
}

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Rss,
    Rdf,
    Atom,
}

/// Like [`parse`], also returning the items that had to be skipped.
pub fn parse_items(body: &[u8], day: NaiveDate) -> Result<Parsed, ParseError> {
    let root = parse_document(body)?;
    let (format, items): (Format, Vec<&Element>) = match root.name.as_str() {
        "rss" => {
            let channel = root
                .child("channel")
                .ok_or_else(|| ParseError::Structure("RSS document without a <channel>".into()))?;
            (Format::Rss, channel.children_named("item").collect())
        }
        "RDF" => {
            // RSS 1.0 puts items beside the channel; tolerate them inside it too.
            let mut items: Vec<&Element> = root.children_named("item").collect();
            if let Some(channel) = root.child("channel") {
                items.extend(channel.children_named("item"));
            }
            (Format::Rdf, items)
        }
        "feed" => (Format::Atom, root.children_named("entry").collect()),
        other => {
            return Err(ParseError::Structure(format!(
                "expected an RSS, RDF or Atom feed, found <{other}>"
            )))
        }
    };
    let mut parsed = Parsed::default();
    for (index, item) in items.into_iter().enumerate() {
        match parse_item(item, format, day) {
            Ok(p) => parsed.papers.push(p),
            Err(reason) => parsed.skipped.push(ItemError { index, reason }),
        }
    }
    parsed.into_result()
}

fn parse_item(
    item: &Element,
    format: Format,
    default_day: NaiveDate,
) -> Result<FetchedPaper, String> {
    let (guid, link) = match format {
        Format::Atom => (
            item.child_text("id"),
            item.children_named("link")
                .find(|l| l.attr("rel").is_none_or(|r| r == "alternate"))
                .and_then(|l| l.attr("href"))
                .map(str::trim),
        ),
        Format::Rss => (
            item.child_text("guid"),
            item.unprefixed_child("link").map(|l| l.text.trim()),
        ),
        Format::Rdf => (
            item.attr("about").map(str::trim).filter(|a| !a.is_empty()),
            item.unprefixed_child("link").map(|l| l.text.trim()),
        ),
    };
    let link = link.filter(|l| !l.is_empty());
    let id = PaperId::from_feed_item(guid, link).ok_or("no guid, id or link")?;
    let title_el = item
        .child("title")
        .ok_or_else(|| format!("{id}: missing title"))?;
    let title = text_construct(title_el, format == Format::Atom);
    if title.trim().is_empty() {
        return Err(format!("{id}: empty title"));
    }
    let body_el = match format {
        Format::Atom => item.child("summary").or(item.child("content")),
        _ => item
            .unprefixed_child("description")
            .or(item.child("encoded"))
            .or(item.child("description")),
    };
    let abstract_text = body_el.map(|e| text_construct(e, true)).unwrap_or_default();
    let abstract_is_html = body_el.is_some_and(|e| is_html(e, true));
    let arxiv = [link, guid]
        .into_iter()
        .flatten()
        .find_map(ArxivId::from_url);
    let url = link
        .map(str::to_string)
        .or_else(|| guid.filter(|g| g.starts_with("http")).map(str::to_string))
        .or_else(|| arxiv.as_ref().map(|(a, _)| a.abs_url()))
        .unwrap_or_default();
    let mut p = Paper::new(id, &title, &abstract_text, &url);
    if abstract_is_html {
        // Already one normalised paragraph per line; re-flowing could join
        // short paragraphs that happen to look hard-wrapped.
        p.abstract_text = abstract_text.trim().to_string();
    }
    p.version = arxiv.and_then(|(_, v)| v);
    p.authors = authors(item, format);
    for c in item
        .children_named("category")
        .chain(item.children_named("subject"))
    {
        let term = c.attr("term").unwrap_or(&c.text);
        let term = normalise_inline(term);
        if !term.is_empty() && !p.categories.contains(&term) {
            p.categories.push(term);
        }
    }
    p.doi = item.child_text("doi").map(str::to_string).or_else(|| {
        item.children_named("identifier")
            .map(|i| i.text.trim())
            .find_map(|i| i.strip_prefix("doi:").or(i.starts_with("10.").then_some(i)))
            .map(|d| d.trim().to_string())
    });
    let date = ["pubDate", "date", "published", "updated", "issued"]
        .iter()
        .find_map(|n| item.child_text(n))
        .and_then(parse_feed_date);
    p.published_at = date.map(|d| d.with_timezone(&Utc));
    Ok(FetchedPaper {
        paper: p,
        day: date.map_or(default_day, |d| d.date_naive()),
        announce_type: None,
    })
}

fn authors(item: &Element, format: Format) -> Vec<String> {
    let mut names: Vec<String> = item
        .children_named("creator")
        .map(|c| normalise_inline(&c.text))
        .collect();
    if names.is_empty() {
        names = item
            .children_named("author")
            .map(|a| match format {
                Format::Atom => a
                    .child_text("name")
                    .map(normalise_inline)
                    .unwrap_or_default(),
                // RSS 2.0 `author` is `email (Name)`; keep the name when given.
                _ => {
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

/// Text of a title/description: HTML is reduced to text when the element is
/// HTML by definition (`html`) or by its Atom `type` attribute.
fn text_construct(el: &Element, html_by_default: bool) -> String {
    if el.children.is_empty() {
        return if is_html(el, html_by_default) {
            html_to_text(&el.text)
        } else {
            el.text.clone()
        };
    }
    // Markup as child elements: Atom `type="xhtml"`, or a feed that forgot
    // to escape its HTML. Read the text in order, breaking at blocks.
    // Its text was decoded by the XML parser already: only lay it out.
    let text = el.flat_text(
        &|child| match html_tag_kind(&child.name.to_ascii_lowercase()) {
            Some(TagKind::Block) => "\n\n",
            Some(TagKind::Inline) => "",
            _ => " ",
        },
    );
    paragraphs(&text)
}

fn is_html(el: &Element, html_by_default: bool) -> bool {
    if !el.children.is_empty() {
        return true;
    }
    match el.attr("type") {
        Some("html") | Some("xhtml") | Some("text/html") => true,
        Some(_) => false,
        None => html_by_default,
    }
}

/// Strips tags (dropping `<script>`/`<style>` content), turns block breaks
/// into paragraph breaks (one paragraph per line, whitespace collapsed) and
/// decodes HTML entities after stripping, so escaped markup stays as text. A `<` that does not open
/// a tag (`x < y`) is kept.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        out.push_str(&rest[..lt]);
        // A literal `<` just before removed markup must not join what follows
        // into a new tag (`<<!>p>` is not `<p>`).
        if out.ends_with('<') {
            out.push(' ');
        }
        let after = &rest[lt + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            continue;
        }
        if after.starts_with('!') || after.starts_with('?') {
            rest = after.find('>').map_or("", |i| &after[i + 1..]);
            continue;
        }
        let closing = after.starts_with('/');
        let name_part = after.trim_start_matches('/');
        let name_len = name_part
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(name_part.len());
        let name = name_part[..name_len].to_ascii_lowercase();
        let ends_name = name_part[name_len..]
            .chars()
            .next()
            .is_some_and(|c| c.is_whitespace() || c == '>' || c == '/');
        // Only known HTML tags are markup: `p<q and r>s` in plain text stays.
        let kind = html_tag_kind(&name).filter(|_| ends_name);
        let (Some(kind), Some(gt)) = (kind, after.find('>')) else {
            out.push('<');
            rest = after;
            continue;
        };
        rest = &after[gt + 1..];
        match kind {
            TagKind::Hidden if !closing => {
                let close = format!("</{name}");
                rest = match rest.to_ascii_lowercase().find(&close) {
                    Some(i) => rest[i..].find('>').map_or("", |j| &rest[i + j + 1..]),
                    None => "",
                };
            }
            TagKind::Hidden | TagKind::Inline => {}
            TagKind::Block => out.push_str("\n\n"),
            TagKind::Break => out.push(' '),
        }
    }
    out.push_str(rest);
    paragraphs(&html_escape::decode_html_entities(&out))
}

/// One line per paragraph (blank-line separated), whitespace collapsed.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|para| para.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

enum TagKind {
    /// Content dropped (`script`, `style`).
    Hidden,
    /// Starts a paragraph.
    Block,
    /// Separates words (`br`, table cells).
    Break,
    /// Vanishes without a space: `H<sub>2</sub>O` reads `H2O`.
    Inline,
}

fn html_tag_kind(name: &str) -> Option<TagKind> {
    Some(match name {
        "script" | "style" => TagKind::Hidden,
        "p" | "div" | "blockquote" | "ul" | "ol" | "dl" | "h1" | "h2" | "h3" | "h4" | "h5"
        | "h6" | "table" | "section" | "article" | "figure" | "pre" | "header" | "footer" => {
            TagKind::Block
        }
        "br" | "hr" | "li" | "tr" | "td" | "th" | "dt" | "dd" | "img" | "figcaption" | "tbody"
        | "thead" => TagKind::Break,
        "a" | "b" | "i" | "u" | "s" | "em" | "strong" | "span" | "sub" | "sup" | "small"
        | "big" | "font" | "code" | "abbr" | "cite" | "q" | "mark" | "tt" | "kbd" | "var"
        | "math" | "mi" | "mn" | "mo" | "msub" | "msup" | "mrow" => TagKind::Inline,
        _ => return None,
    })
}

/// Reads the date formats feeds use: RFC 3339, RFC 2822, and bare dates or
/// naive date-times (taken as UTC).
pub fn parse_feed_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let s = s.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(s) {
        return Some(d);
    }
    if let Ok(d) = DateTime::parse_from_rfc2822(s) {
        return Some(d);
    }
    let utc = FixedOffset::east_opt(0)?;
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, format) {
            return Some(d.and_utc().with_timezone(&utc));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s.get(..10)?, "%Y-%m-%d") {
        if s.len() == 10 {
            return Some(d.and_hms_opt(0, 0, 0)?.and_utc().with_timezone(&utc));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const RDF: &[u8] = br#"<?xml version="1.0" encoding="UTF-8"?>
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
        let papers = parse(RDF, d("2026-06-12")).unwrap();
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
    }

    #[test]
    fn html_is_reduced_to_text_but_plain_angle_brackets_survive() {
        assert_eq!(
            html_to_text("<p>H<sub>2</sub>O at p<0.05 and n<m, m>k</p><!-- x --><p>Next<br/>line &amp; more</p>"),
            "H2O at p<0.05 and n<m, m>k\nNext line & more"
        );
        assert_eq!(html_to_text("a <script>alert(1)</script>b"), "a b");
        assert_eq!(html_to_text("&lt;script&gt; as text"), "<script> as text");
    }

    #[test]
    fn xhtml_content_and_unescaped_markup_are_read_as_text_in_order() {
        let body = br#"<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>urn:x:1</id>
            <title>Plain</title><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">
            <p>First <em>emphasised</em> point &amp;amp; H<sub>2</sub>O.</p><p>Second.</p></div></content></entry></feed>"#;
        let papers = parse(body, d("2026-06-12")).unwrap();
        assert_eq!(
            papers[0].paper.abstract_text,
            "First emphasised point &amp; H2O.\nSecond."
        );
        assert_eq!(papers[0].paper.id.as_str(), "feed:urn:x:1");
    }

    #[test]
    fn non_feeds_and_truncated_feeds_are_rejected() {
        let err = parse(b"<html><body>Not found</body></html>", d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("found <html>"), "{err}");
        let err = parse(&RDF[..RDF.len() - 20], d("2026-06-12")).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
    }

    #[test]
    fn feed_dates_in_common_formats_are_read() {
        assert_eq!(
            parse_feed_date("Mon, 27 Apr 2026 00:00:00 -0400")
                .unwrap()
                .date_naive(),
            d("2026-04-27")
        );
        assert_eq!(
            parse_feed_date("2026-09-25T04:00:11.600500+00:00")
                .unwrap()
                .date_naive(),
            d("2026-09-25")
        );
        assert_eq!(
            parse_feed_date("2026-06-11").unwrap().date_naive(),
            d("2026-06-11")
        );
        assert_eq!(
            parse_feed_date("2026-06-11 23:10:00").unwrap().date_naive(),
            d("2026-06-11")
        );
        assert!(parse_feed_date("yesterday").is_none());
    }

    #[test]
    fn removed_markup_never_joins_a_literal_lt_into_a_tag() {
        assert!(!html_to_text("<<!>p>").contains("<p>"));
        assert!(!html_to_text("a <<!-- c -->b> d").contains("<b>"));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes, d("2026-06-12"));
        }

        #[test]
        fn html_to_text_never_panics_and_leaves_no_tags(s in "[<>a-z/ &;!p]{0,64}") {
            let t = html_to_text(&s);
            proptest::prop_assert!(!t.contains("<p>"));
        }


        #[test]
        fn parsing_never_panics_on_a_cut_or_mutated_feed(cut in 0usize..RDF.len(), pos in 0usize..RDF.len(), byte in proptest::num::u8::ANY) {
            let _ = parse(&RDF[..cut], d("2026-06-12"));
            let mut m = RDF.to_vec();
            m[pos] = byte;
            let _ = parse(&m, d("2026-06-12"));
        }
    }
}

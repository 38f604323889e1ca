//! arXiv announcement feeds (`kind = "arxiv_rss"`): rss.arxiv.org in its
//! RSS 2.0 and Atom variants, detected by the root element.
//!
//! A feed carries exactly one announcement (the latest), so the requested
//! date is ignored: each paper's day is its item's `pubDate` (Atom
//! `published`) read in its own UTC offset, i.e. the announcement date as
//! arXiv states it. Weekend and holiday feeds are empty, which is an empty
//! day, not an error.
//!
//! Each item's `Announce Type` comes from `arxiv:announce_type`, else from
//! the `arXiv:<id> Announce Type: <t> Abstract:` prefix of the description,
//! which is stripped from the abstract. Items whose type is known and not
//! configured are dropped silently; an item with no discernible type is kept.
//! The feed has no primary-category marker, so categories keep feed order.
//! Parsing does no I/O.

use std::sync::LazyLock;

use regex::Regex;

use super::feed::parse_feed_date;
use super::normalise_inline;
use super::xml::{parse_document, Element};
use super::{ItemError, ParseError, Parsed};
use crate::domain::{AnnounceType, ArxivId, FetchedPaper, Paper, PaperId};

static PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?s)^\s*(?:arXiv:(\S+)\s+)?Announce Type:\s*([A-Za-z-]+)\s*(?:Abstract:[ \t]*)?")
        .expect("valid regex")
});

/// Parses an announcement feed, keeping only `announce_types`.
pub fn parse(
    body: &[u8],
    announce_types: &[AnnounceType],
) -> Result<Vec<FetchedPaper>, ParseError> {
    parse_items(body, announce_types).map(|p| p.papers)
}

/// Like [`parse`], also returning the items that had to be skipped.
pub fn parse_items(body: &[u8], announce_types: &[AnnounceType]) -> Result<Parsed, ParseError> {
    let root = parse_document(body)?;
    let (items, feed_date, atom): (Vec<&Element>, Option<&str>, bool) = match root.name.as_str() {
        "rss" => {
            let channel = root
                .child("channel")
                .ok_or_else(|| ParseError::Structure("RSS document without a <channel>".into()))?;
            (
                channel.children_named("item").collect(),
                channel.child_text("pubDate"),
                false,
            )
        }
        "feed" => (root.children_named("entry").collect(), None, true),
        other => {
            return Err(ParseError::Structure(format!(
                "expected an arXiv <rss> or Atom <feed>, found <{other}>"
            )))
        }
    };
    let mut parsed = Parsed::default();
    for (index, item) in items.into_iter().enumerate() {
        match parse_item(item, atom, feed_date) {
            Ok(p) => parsed.papers.push(p),
            Err(reason) => parsed.skipped.push(ItemError { index, reason }),
        }
    }
    // Filter after the all-bad check: a feed of only `replace` items plus
    // one broken item is a valid, empty day.
    let mut parsed = parsed.into_result()?;
    parsed
        .papers
        .retain(|p| p.announce_type.is_none_or(|t| announce_types.contains(&t)));
    Ok(parsed)
}

fn parse_item(item: &Element, atom: bool, feed_date: Option<&str>) -> Result<FetchedPaper, String> {
    let (guid, link, description, date) = if atom {
        let link = item
            .children_named("link")
            .find(|l| l.attr("rel").is_none_or(|r| r == "alternate"))
            .and_then(|l| l.attr("href"));
        (
            item.child_text("id"),
            link,
            item.child("summary").map(|s| s.text.as_str()).unwrap_or(""),
            item.child_text("published").or(item.child_text("updated")),
        )
    } else {
        (
            item.child_text("guid"),
            item.unprefixed_child("link").map(|l| l.text.trim()),
            item.child("description")
                .map(|s| s.text.as_str())
                .unwrap_or(""),
            item.child_text("pubDate").or(item.child_text("date")),
        )
    };
    let prefix = PREFIX.captures(description);
    let from_prefix = prefix
        .as_ref()
        .and_then(|c| c.get(1))
        .and_then(|m| ArxivId::parse_versioned(m.as_str()).ok());
    let (arxiv, version) = guid
        .and_then(|g| ArxivId::parse_versioned(g).ok())
        .or(from_prefix)
        .or_else(|| link.and_then(ArxivId::from_url))
        .ok_or_else(|| format!("no arXiv id in guid {guid:?} or link {link:?}"))?;
    let title = item
        .child("title")
        .map(|t| t.text.as_str())
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| format!("{}: missing title", arxiv.as_str()))?;
    let announce_type = item
        .child_text("announce_type")
        .and_then(AnnounceType::parse)
        .or_else(|| prefix.as_ref().and_then(|c| AnnounceType::parse(&c[2])));
    let abstract_text = match &prefix {
        Some(c) => &description[c.get(0).map_or(0, |m| m.end())..],
        None => description,
    };
    let date = date
        .or(feed_date)
        .ok_or_else(|| format!("{}: no publication date", arxiv.as_str()))?;
    let day = parse_feed_date(date)
        .ok_or_else(|| format!("{}: unreadable date {date:?}", arxiv.as_str()))?
        .date_naive();

    let mut p = Paper::new(
        PaperId::arxiv(&arxiv),
        title,
        abstract_text,
        &arxiv.abs_url(),
    );
    p.version = version;
    p.pdf_url = Some(format!("https://arxiv.org/pdf/{}", arxiv.as_str()));
    p.authors = item
        .child_text("creator")
        .map(split_authors)
        .unwrap_or_default();
    for c in item.children_named("category") {
        let term = if atom {
            c.attr("term").unwrap_or("")
        } else {
            c.text.as_str()
        };
        let term = term.trim().to_string();
        if !term.is_empty() && !p.categories.contains(&term) {
            p.categories.push(term);
        }
    }
    p.doi = item
        .child_text("DOI")
        .or(item.child_text("doi"))
        .map(str::to_string);
    p.journal_ref = item
        .child_text("journal_reference")
        .or(item.child_text("journal_ref"))
        .map(normalise_inline);
    Ok(FetchedPaper {
        paper: p,
        day,
        announce_type,
    })
}

const SUFFIXES: &[&str] = &["Jr", "Jr.", "Sr", "Sr.", "II", "III", "IV", "PhD", "Ph.D."];

/// Splits arXiv's one-string author list (`A, B and C`, `A, B, and C`).
///
/// Names never contain `, ` in arXiv's rendering except before a
/// generational suffix (`Smith, Jr.`), which is glued back on.
pub fn split_authors(s: &str) -> Vec<String> {
    let s = normalise_inline(s);
    let mut out: Vec<String> = Vec::new();
    for part in s.split(", ") {
        let part = part.strip_prefix("and ").unwrap_or(part);
        for name in part.split(" and ") {
            let name = name.trim().trim_end_matches(',').trim();
            if name.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(prev) if SUFFIXES.contains(&name) => {
                    prev.push_str(", ");
                    prev.push_str(name);
                }
                _ => out.push(name.to_string()),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!("../../tests/fixtures/", $name)).as_slice()
        };
    }
    const AI: &[u8] = fixture!("arxiv_rss_2026-04-27_cs.AI_trimmed_3items.xml");
    const LG: &[u8] = fixture!("arxiv_rss_2026-04-27_cs.LG_trimmed_3items.xml");
    const COMBINED: &[u8] =
        fixture!("arxiv_rss_2026-09-24_cs.LG+cs.AI+cs.CL+stat.ML_new_cross_replace_DOI.xml");
    const ATOM: &[u8] =
        fixture!("arxiv_atomfeed_2026-09-25_cs.LG_new_cross_replace_abstracts_truncated.xml");
    const ALL: &[AnnounceType] = &[
        AnnounceType::New,
        AnnounceType::Cross,
        AnnounceType::Replace,
        AnnounceType::ReplaceCross,
    ];
    const DEFAULT: &[AnnounceType] = &[AnnounceType::New, AnnounceType::Cross];

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn rss_items_yield_ids_versions_day_authors_and_a_clean_abstract() {
        let papers = parse(AI, DEFAULT).unwrap();
        assert_eq!(papers.len(), 3);
        let p = &papers[0];
        assert_eq!(p.paper.id.as_str(), "2604.21935");
        assert_eq!(p.paper.version, Some(1));
        assert_eq!(p.day, d("2026-04-27"));
        assert_eq!(p.announce_type, Some(AnnounceType::New));
        assert_eq!(p.paper.authors, vec!["Michael Cooper", "Samuel Cooper"]);
        assert_eq!(p.paper.categories, vec!["cs.AI", "cs.LG"]);
        assert!(p
            .paper
            .abstract_text
            .starts_with("Although language models demonstrate"));
        assert_eq!(p.paper.url, "https://arxiv.org/abs/2604.21935");
        assert_eq!(parse(LG, DEFAULT).unwrap().len(), 3);
    }

    #[test]
    fn latex_in_abstracts_is_kept() {
        let papers = parse(AI, DEFAULT).unwrap();
        assert!(papers
            .iter()
            .any(|p| p.paper.abstract_text.contains("\\textbf{")));
    }

    #[test]
    fn the_default_filter_keeps_new_and_cross_and_drops_replace() {
        let papers = parse(COMBINED, DEFAULT).unwrap();
        let ids: Vec<_> = papers.iter().map(|p| p.paper.id.as_str()).collect();
        assert_eq!(ids, vec!["2609.26811", "2609.26820", "2205.06398"]);
        let cross = &papers[2];
        assert_eq!(cross.announce_type, Some(AnnounceType::Cross));
        assert_eq!(cross.paper.version, Some(2));
        assert_eq!(
            cross.paper.doi.as_deref(),
            Some("10.1093/bioinformatics/btac431")
        );
        assert_eq!(
            cross.paper.categories,
            vec!["stat.ME", "stat.AP", "stat.ML"]
        );
        assert_eq!(
            cross.paper.authors,
            vec!["Pritam Dey", "Zhengwu Zhang", "David B. Dunson"]
        );
        assert!(papers.iter().all(|p| p.day == d("2026-09-24")));
        let all = parse(COMBINED, ALL).unwrap();
        assert_eq!(all.len(), 4);
        assert_eq!(all[3].announce_type, Some(AnnounceType::Replace));
        assert_eq!(all[3].paper.version, Some(3));
    }

    #[test]
    fn the_atom_variant_yields_journal_reference_doi_and_its_own_day() {
        let papers = parse(ATOM, ALL).unwrap();
        assert_eq!(papers.len(), 3);
        let p = &papers[0];
        assert_eq!(p.paper.id.as_str(), "2609.28553");
        assert_eq!(p.day, d("2026-09-25"));
        assert_eq!(
            p.paper.doi.as_deref(),
            Some("10.1109/MAPR72750.2026.11685822")
        );
        assert_eq!(
            p.paper.journal_ref.as_deref(),
            Some("2026 International Conference on Multimedia Analysis and Pattern Recognition (MAPR)")
        );
        assert_eq!(p.paper.categories, vec!["cs.LG", "cs.AI"]);
        assert_eq!(p.paper.authors.len(), 6);
        assert!(p
            .paper
            .abstract_text
            .starts_with("Drug toxicity prediction"));
        assert_eq!(papers[1].announce_type, Some(AnnounceType::Cross));
        assert_eq!(papers[1].paper.categories[0], "hep-ph");
        assert_eq!(parse(ATOM, DEFAULT).unwrap().len(), 2);
    }

    #[test]
    fn an_empty_weekend_feed_is_an_empty_day() {
        let body = br#"<rss version="2.0"><channel><title>cs.LG updates on arXiv.org</title>
            <pubDate>Sat, 26 Sep 2026 00:00:00 -0400</pubDate></channel></rss>"#;
        assert!(parse(body, DEFAULT).unwrap().is_empty());
    }

    #[test]
    fn the_announce_type_falls_back_to_the_description_prefix() {
        let body = br#"<rss><channel><pubDate>Thu, 24 Sep 2026 00:00:00 -0400</pubDate><item>
            <title>T &amp; U &lt;script&gt;alert(1)&lt;/script&gt;</title><link>https://arxiv.org/abs/2609.00001</link>
            <description>arXiv:2609.00001v2 Announce Type: replace-cross
Abstract: Costs $5 &amp; more.</description></item></channel></rss>"#;
        let papers = parse(body, ALL).unwrap();
        let p = &papers[0];
        assert_eq!(p.announce_type, Some(AnnounceType::ReplaceCross));
        assert_eq!(p.paper.version, Some(2));
        assert_eq!(p.paper.abstract_text, "Costs $5 & more.");
        assert_eq!(p.paper.title, "T & U <script>alert(1)</script>");
        assert_eq!(p.day, d("2026-09-24"));
        assert!(parse(body, DEFAULT).unwrap().is_empty());
    }

    #[test]
    fn a_broken_item_beside_only_filtered_ones_is_still_an_empty_day() {
        let body = br#"<rss><channel><pubDate>Thu, 24 Sep 2026 00:00:00 -0400</pubDate>
            <item><title>Old</title><guid>oai:arXiv.org:2009.13987v3</guid>
              <arxiv:announce_type>replace</arxiv:announce_type></item>
            <item><title>No id</title></item></channel></rss>"#;
        let parsed = parse_items(body, DEFAULT).unwrap();
        assert!(parsed.papers.is_empty());
        assert_eq!(parsed.skipped.len(), 1);
        assert_eq!(parsed.skipped[0].index, 1);
    }

    #[test]
    fn author_lists_split_on_commas_and_and_keeping_suffixes() {
        assert_eq!(
            split_authors("A. One, B. Two and C. Three"),
            vec!["A. One", "B. Two", "C. Three"]
        );
        assert_eq!(
            split_authors("A. One, B. Two, and C. Three"),
            vec!["A. One", "B. Two", "C. Three"]
        );
        assert_eq!(
            split_authors("John Smith, Jr., Ann Lee"),
            vec!["John Smith, Jr.", "Ann Lee"]
        );
        assert_eq!(
            split_authors("Alexander Sandberg"),
            vec!["Alexander Sandberg"]
        );
        assert!(split_authors("  ").is_empty());
    }

    #[test]
    fn garbage_and_truncated_feeds_are_rejected_with_the_reason() {
        let err = parse(&COMBINED[..COMBINED.len() / 2], DEFAULT).unwrap_err();
        assert!(err.to_string().contains("truncated"), "{err}");
        let err = parse(b"<html><body>503</body></html>", DEFAULT).unwrap_err();
        assert!(err.to_string().contains("found <html>"), "{err}");
        let err = parse(b"\x00\xff garbage", DEFAULT).unwrap_err();
        assert!(!err.to_string().is_empty());
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse(&bytes, DEFAULT);
        }

        #[test]
        fn parsing_never_panics_on_a_cut_or_mutated_fixture(cut in 0usize..ATOM.len(), pos in 0usize..COMBINED.len(), byte in proptest::num::u8::ANY) {
            let _ = parse(&ATOM[..cut], DEFAULT);
            let mut m = COMBINED.to_vec();
            m[pos] = byte;
            let _ = parse(&m, DEFAULT);
        }
    }
}

//! Marks where matched terms occur in a paper's text, for the digest.
//!
//! Uses the same tokenisation, folding and stemming as matching, so what is
//! marked is what matched (`transformer` marks `Transformers`, `test-time`
//! marks `test time`). Output spans always concatenate back to the input
//! byte for byte; this module never alters or escapes text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::matcher::MatchedTerm;
use super::query::{Field, Term};
use super::words::{tokenize, EnglishStemmer, Token};

/// A text's tokens and their stems (or folded forms, for a field that is
/// not stemmed).
struct Prepared {
    tokens: Vec<Token>,
    stems: Vec<String>,
}

/// Texts tokenised and stemmed recently: a digest run highlights the same
/// few hundred abstracts for every subscriber, and stemming them each time
/// cost more than rendering the rest of the mail. Bounded; cleared when full.
/// Indexed by whether the texts are stemmed; looked up by the text itself
/// (no copy of it made to look it up).
type PreparedCache = [HashMap<Box<str>, Arc<Prepared>>; 2];
static PREPARED: Mutex<Option<PreparedCache>> = Mutex::new(None);
const PREPARED_MAX: usize = 2048;

fn prepared(text: &str, stemmed: bool) -> Arc<Prepared> {
    if let Some(hit) = PREPARED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .and_then(|m| m[usize::from(stemmed)].get(text))
    {
        return hit.clone();
    }
    let stemmer = EnglishStemmer::new();
    let tokens = tokenize(text);
    let stems = tokens
        .iter()
        .map(|t| {
            if stemmed {
                stemmer.stem(&t.folded)
            } else {
                t.folded.clone()
            }
        })
        .collect();
    let fresh = Arc::new(Prepared { tokens, stems });
    let mut cache = PREPARED.lock().unwrap_or_else(|e| e.into_inner());
    let map = &mut cache.get_or_insert_with(Default::default)[usize::from(stemmed)];
    if map.len() >= PREPARED_MAX {
        map.clear();
    }
    map.insert(text.into(), fresh.clone());
    fresh
}

/// A run of the original text, marked when it is part of a matched term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// A slice of the input, verbatim.
    pub text: String,
    /// Whether it is (part of) a matched word or phrase.
    pub hit: bool,
}

/// Splits `text`, one value of `field` (a title, an abstract, one author's
/// name or one category), into spans where the `terms` that search that
/// field occur.
pub fn highlight(text: &str, terms: &[MatchedTerm], field: Field) -> Vec<Span> {
    let ranges = hit_ranges(text, terms, field);
    let mut spans = Vec::new();
    let mut at = 0;
    for (start, end) in ranges {
        if start > at {
            spans.push(Span {
                text: text[at..start].to_string(),
                hit: false,
            });
        }
        spans.push(Span {
            text: text[start..end].to_string(),
            hit: true,
        });
        at = end;
    }
    if at < text.len() {
        spans.push(Span {
            text: text[at..].to_string(),
            hit: false,
        });
    }
    spans
}

/// Token runs (first, last) of a name of `len` tokens in which the `n`
/// words of a phrase occur in order, other tokens allowed between;
/// `is(k, j)` says whether word `k` matches token `j`. Runs do not overlap.
fn name_runs(
    len: usize,
    n: usize,
    is: impl Fn(usize, usize) -> bool,
) -> impl Iterator<Item = (usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < len {
        if !is(0, i) {
            i += 1;
            continue;
        }
        // Taking each next word at its earliest token finds a complete run
        // whenever one starts here; if none does, none starts later.
        let (mut k, mut last) = (1, i);
        for j in i + 1..len {
            if k == n {
                break;
            }
            if is(k, j) {
                k += 1;
                last = j;
            }
        }
        if k < n {
            break;
        }
        runs.push((i, last));
        i = last + 1;
    }
    runs.into_iter()
}

/// Sorted, disjoint byte ranges of `text` to mark.
fn hit_ranges(text: &str, terms: &[MatchedTerm], field: Field) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let mut text_prepared: Option<Arc<Prepared>> = None;
    let stemmer = EnglishStemmer::new();
    for m in terms {
        match &*m.term {
            Term::Text { scope, words } if scope.covers(field) && !words.is_empty() => {
                let stemmed = field.is_stemmed();
                let p = text_prepared.get_or_insert_with(|| prepared(text, stemmed));
                let (tokens, stems) = (&p.tokens, &p.stems);
                let wanted: Vec<String> = words
                    .iter()
                    .map(|w| {
                        if w.prefix || !stemmed {
                            w.text.clone()
                        } else {
                            stemmer.stem(&w.text)
                        }
                    })
                    .collect();
                let n = words.len();
                let is = |k: usize, j: usize| {
                    if words[k].prefix {
                        tokens[j].folded.starts_with(&wanted[k])
                    } else {
                        stems[j] == wanted[k]
                    }
                };
                if field == Field::Author && n > 1 {
                    // As the matcher reads a name: the words in order,
                    // others allowed between ("Geoffrey E. Hinton" for
                    // "geoffrey hinton"); the whole run is marked.
                    ranges.extend(
                        name_runs(tokens.len(), n, is)
                            .map(|(first, last)| (tokens[first].start, tokens[last].end)),
                    );
                    continue;
                }
                for i in 0..tokens.len().saturating_sub(n - 1) {
                    let hit = (0..n).all(|k| {
                        if words[k].prefix {
                            tokens[i + k].folded.starts_with(&wanted[k])
                        } else {
                            stems[i + k] == wanted[k]
                        }
                    });
                    if hit {
                        ranges.push((tokens[i].start, tokens[i + n - 1].end));
                    }
                }
            }
            Term::Category { pattern, prefix } if field == Field::Category => {
                let trimmed = text.trim();
                if !trimmed.is_empty() && Term::category_matches(pattern, *prefix, trimmed) {
                    let start = text.len() - text.trim_start().len();
                    ranges.push((start, start + trimmed.len()));
                }
            }
            _ => {}
        }
    }
    ranges.sort_unstable();
    let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
    for (s, e) in ranges {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::Query;
    use proptest::prelude::*;

    fn terms(q: &str) -> Vec<MatchedTerm> {
        fn leaves(e: &crate::matching::Expr, out: &mut Vec<MatchedTerm>) {
            match e {
                crate::matching::Expr::Term(t) => out.push(MatchedTerm {
                    label: t.to_string().into(),
                    term: t.clone().into(),
                }),
                crate::matching::Expr::Not(e) => leaves(e, out),
                crate::matching::Expr::And(es) | crate::matching::Expr::Or(es) => {
                    es.iter().for_each(|e| leaves(e, out))
                }
            }
        }
        let mut out = Vec::new();
        leaves(Query::parse(q).unwrap().root(), &mut out);
        out
    }

    fn marked(text: &str, q: &str, field: Field) -> Vec<String> {
        highlight(text, &terms(q), field)
            .into_iter()
            .filter(|s| s.hit)
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn stemmed_case_folded_words_are_marked() {
        assert_eq!(
            marked(
                "Transformers beat the transformer.",
                "transformer",
                Field::Title
            ),
            ["Transformers", "transformer"]
        );
    }

    #[test]
    fn hyphenated_phrases_mark_the_whole_run() {
        assert_eq!(
            marked(
                "On Test-Time training and test time scaling",
                "test-time",
                Field::Abstract
            ),
            ["Test-Time", "test time"]
        );
    }

    #[test]
    fn prefixes_mark_whole_words_and_overlaps_merge() {
        assert_eq!(
            marked(
                "Diffusion models diffuse",
                "diffus* \"diffusion models\"",
                Field::Abstract
            ),
            ["Diffusion models", "diffuse"]
        );
    }

    #[test]
    fn terms_for_other_fields_are_not_marked() {
        assert!(marked("Diffusion", "au:diffusion", Field::Title).is_empty());
        assert!(marked("Diffusion", "ti:diffusion", Field::Abstract).is_empty());
        assert_eq!(
            marked("Diffusion", "all:diffusion", Field::Abstract),
            ["Diffusion"]
        );
        assert_eq!(
            marked("Boglárka Tóth", "au:boglarka", Field::Author),
            ["Boglárka"]
        );
        assert_eq!(marked("cs.LG", "cat:cs", Field::Category), ["cs.LG"]);
        assert!(marked("stat.ML", "cat:cs", Field::Category).is_empty());
    }

    #[test]
    fn a_quoted_name_marks_the_name_with_its_middle_parts() {
        assert_eq!(
            marked(
                "Geoffrey E. Hinton",
                "au:\"geoffrey hinton\"",
                Field::Author
            ),
            ["Geoffrey E. Hinton"]
        );
        assert_eq!(
            marked("Geoffrey Hinton", "all:\"geoffrey hinton\"", Field::Author),
            ["Geoffrey Hinton"]
        );
        assert_eq!(
            marked("Geoffrey E. Hinton", "au:\"geoff* hinton\"", Field::Author),
            ["Geoffrey E. Hinton"]
        );
        // Out of order, or a word missing: nothing (as in matching).
        assert!(marked("Hinton Geoffrey", "au:\"geoffrey hinton\"", Field::Author).is_empty());
        assert!(marked("Geoffrey Smith", "au:\"geoffrey hinton\"", Field::Author).is_empty());
        // Titles keep strict adjacency.
        assert!(marked(
            "Geoffrey and Hinton",
            "ti:\"geoffrey hinton\"",
            Field::Title
        )
        .is_empty());
    }

    #[test]
    fn author_names_are_not_stemmed() {
        assert!(marked("Ann Walkers", "au:walker", Field::Author).is_empty());
        assert_eq!(marked("Walkers", "walker", Field::Title), ["Walkers"]);
    }

    proptest! {
        #[test]
        fn spans_concatenate_to_the_input(
            text in "\\PC{0,60}",
            q in prop_oneof![Just("ab*"), Just("\"de f\""), Just("all:x"), Just("the OR é"), Just("cat:cs")],
        ) {
            for field in [Field::Title, Field::Abstract, Field::Author, Field::Category] {
                let spans = highlight(&text, &terms(q), field);
                let joined: String = spans.iter().map(|s| s.text.as_str()).collect();
                prop_assert_eq!(&joined, &text);
                prop_assert!(spans.iter().all(|s| !s.text.is_empty()));
            }
        }
    }
}

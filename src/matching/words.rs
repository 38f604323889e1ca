//! Word tokenisation and normalisation, shared by the index, the query parser
//! and highlighting so that all three agree on what a "word" is.
//!
//! A word is a maximal run of letters and digits after NFKD folding, with
//! combining marks dropped and case lowered (`Boglárka` → `boglarka`,
//! `ﬁne` → `fine`). Everything else (spaces, hyphens, dots, underscores,
//! apostrophes) separates words, which is why `test-time` and
//! `geoffrey_hinton` become two-word phrases. Tokens keep the byte range of
//! the original text they came from. This module must stay free of any
//! knowledge of fields or queries.

use rust_stemmers::{Algorithm, Stemmer};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// One folded word and the bytes of the original text it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub start: usize,
    pub end: usize,
    pub folded: String,
}

/// Splits `text` into folded words, in order.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for_each_word(text, |start, end, folded| {
        out.push(Token {
            start,
            end,
            folded: folded.to_string(),
        })
    });
    out
}

/// Calls `f(start, end, folded)` for each word of `text`, in order, with
/// the same words as [`tokenize`] but one reused buffer: indexing a month
/// of papers folds millions of words, and a `String` per word was most of
/// its time.
pub(crate) fn for_each_word(text: &str, mut f: impl FnMut(usize, usize, &str)) {
    let mut word = String::with_capacity(32);
    let (mut start, mut end) = (0, 0);
    for (at, c) in text.char_indices() {
        let c_end = at + c.len_utf8();
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                if word.is_empty() {
                    start = at;
                }
                word.push(c.to_ascii_lowercase());
                end = c_end;
            } else if !word.is_empty() {
                f(start, end, &word);
                word.clear();
            }
            continue;
        }
        if is_combining_mark(c) {
            // A mark belongs to the letter before it (decomposed input).
            if !word.is_empty() {
                end = c_end;
            }
            continue;
        }
        decompose_compatible(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            if d.is_alphanumeric() {
                for l in d.to_lowercase() {
                    if !is_combining_mark(l) {
                        if word.is_empty() {
                            start = at;
                        }
                        word.push(l);
                        end = c_end;
                    }
                }
            } else if !word.is_empty() {
                f(start, end, &word);
                word.clear();
            }
        });
    }
    if !word.is_empty() {
        f(start, end, &word);
    }
}

/// English (Porter2) stemming of an already folded word.
pub(crate) struct EnglishStemmer(Stemmer);

impl EnglishStemmer {
    pub fn new() -> Self {
        EnglishStemmer(Stemmer::create(Algorithm::English))
    }

    pub fn stem(&self, folded: &str) -> String {
        self.0.stem(folded).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn words(s: &str) -> Vec<String> {
        tokenize(s).into_iter().map(|t| t.folded).collect()
    }

    #[test]
    fn diacritics_and_case_are_folded() {
        assert_eq!(
            words("Boglárka Ecsedi-Tóth"),
            ["boglarka", "ecsedi", "toth"]
        );
        // Already decomposed input folds the same way.
        assert_eq!(words("Bogla\u{301}rka"), ["boglarka"]);
        assert_eq!(words("ﬁne-tuning"), ["fine", "tuning"]);
    }

    #[test]
    fn punctuation_and_underscores_separate_words() {
        assert_eq!(
            words("geoffrey_hinton, G. Hinton's (3D) cs.LG"),
            ["geoffrey", "hinton", "g", "hinton", "s", "3d", "cs", "lg"]
        );
    }

    #[test]
    fn tokens_cover_their_original_bytes() {
        let text = "Über Test-Time";
        let toks = tokenize(text);
        assert_eq!(&text[toks[0].start..toks[0].end], "Über");
        assert_eq!(&text[toks[2].start..toks[2].end], "Time");
    }

    #[test]
    fn plurals_stem_to_the_singular() {
        let s = EnglishStemmer::new();
        assert_eq!(s.stem("transformers"), s.stem("transformer"));
        assert_eq!(s.stem("soups"), s.stem("soup"));
        assert_ne!(s.stem("diffusion"), s.stem("transformer"));
    }

    proptest! {
        #[test]
        fn tokens_are_nonempty_ordered_and_on_char_boundaries(s in "\\PC{0,40}") {
            let toks = tokenize(&s);
            let mut last = 0;
            for t in &toks {
                prop_assert!(!t.folded.is_empty());
                prop_assert!(t.start >= last || t.start < t.end);
                prop_assert!(s.is_char_boundary(t.start) && s.is_char_boundary(t.end));
                prop_assert!(t.start < t.end);
                last = t.start;
            }
        }

        #[test]
        fn a_folded_word_tokenises_to_itself(s in "\\PC{0,40}") {
            for t in tokenize(&s) {
                prop_assert_eq!(words(&t.folded), vec![t.folded.clone()]);
            }
        }
    }
}

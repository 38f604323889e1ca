//! Topic matching: the filter language, the day's paper index, and
//! highlighting of what matched.
//!
//! Pure code: no I/O, no async, no SQL. The caller parses each subscriber's
//! topic once ([`Query::parse`]), builds one [`Matcher`] per day's papers,
//! and streams queries through [`Matcher::compile`] and
//! [`Matcher::matches`]; the matcher caches the paper set of every distinct
//! term it has seen, so a day with many subscribers costs little more than
//! its distinct terms. [`Matcher::explain`] and [`highlight`] run only for
//! the papers actually mailed. `matches` and `explain` take `&self`, so once
//! a batch of queries is compiled they can be evaluated from several
//! threads; parsing costs about as much as compiling and matching, so a
//! caller should parse each distinct topic text once per run.
//!
//! ```
//! use paperboy::domain::{Paper, PaperId};
//! use paperboy::matching::{Matcher, Query};
//!
//! let papers = vec![Paper::new(
//!     PaperId::from_stored("2401.00001".into()),
//!     "Test-Time Training for Transformers",
//!     "We adapt models at test time.",
//!     "https://arxiv.org/abs/2401.00001",
//! )];
//! let mut matcher = Matcher::new(&papers);
//! let q: Query = "ti:transformer AND \"test time\"".parse().unwrap();
//! let compiled = matcher.compile(&q);
//! assert_eq!(matcher.matches(&compiled).iter().collect::<Vec<_>>(), [0]);
//! ```

mod hasher;
mod highlight;
mod matcher;
mod paper_set;
mod parser;
mod query;
mod text_table;
mod words;

pub use highlight::{highlight, Span};
pub use matcher::{CompiledQuery, MatchedTerm, MatchedText, Matcher, TextId};
pub use paper_set::PaperSet;
pub use query::{
    Comparison, Expr, Field, Query, QueryError, Scope, Term, Word, MAX_DEPTH, MAX_QUERY_CHARS,
    MAX_TERMS,
};
/// The words of a text as topics see them, for ranking's paper vectors.
pub(crate) use words::{tokenize, EnglishStemmer};

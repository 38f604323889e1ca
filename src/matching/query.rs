//! The topic filter language: its syntax tree, canonical text and errors.
//!
//! Owns what a query *means* (fields, terms, boolean structure) and how it
//! is written back out; parsing lives in `parser`, evaluation in `matcher`.
//! Nothing here touches papers.
//!
//! Syntax, close to arXiv's search:
//! - bare words and `"quoted phrases"` (typographic quotes work too); a hyphenated or underscored word is
//!   the phrase of its parts (`test-time` = `"test time"`);
//! - fields `ti:` `abs:` `au:` `cat:` `all:` apply to the next word, phrase
//!   or parenthesised group (`ti:(diffusion OR flow)`); an inner field wins;
//!   a bare term searches title and abstract; `all:` also searches authors
//!   and the words of categories (`all:lg` matches `cs.LG`);
//! - `AND`, `OR`, `NOT`, `ANDNOT`, a leading `-` (as `NOT`), parentheses,
//!   and implicit `AND` between terms; precedence `NOT` > `AND` > `OR`.
//!   As on arXiv, operators are keywords only in upper case: `and`, `or`,
//!   `not` are ordinary words;
//! - a trailing `*` makes a prefix (at least 2 characters before it);
//! - `cat:cs.LG` is one category, `cat:cs` and `cat:cs.*` the whole archive;
//! - `upvotes>=N` (also `>`, `<=`, `<`, `=`), true only for papers that
//!   carry upvotes;
//! - `like:ID` (an arXiv id such as `2406.12345`, `2406.12345v2` or
//!   `hep-th/9901001`, or a stored paper's id such as `feed:…`, quoted
//!   when it holds a space): the papers similar to that paper. The caller
//!   resolves the paper and hands the matcher the similar papers
//!   ([`crate::matching::Matcher::set_like`]).

use std::fmt;

/// The longest query accepted, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// The deepest nesting of parentheses and `NOT`s accepted.
pub const MAX_DEPTH: usize = 32;
/// The most terms (words, phrases, categories, comparisons) in one query.
pub const MAX_TERMS: usize = 64;

/// A parsed topic query. Build it with [`Query::parse`] or `str::parse` (see `parser`);
/// its `Display` is the canonical text, which parses back to the same query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Query {
    pub(crate) root: Expr,
}

impl Query {
    /// The boolean structure of the query.
    pub fn root(&self) -> &Expr {
        &self.root
    }

    /// The paper ids of its `like:` terms, each once, in query order.
    pub fn likes(&self) -> Vec<&str> {
        fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a str>) {
            match e {
                Expr::Term(Term::Like { id }) => {
                    if !out.contains(&id.as_str()) {
                        out.push(id);
                    }
                }
                Expr::Term(_) => {}
                Expr::Not(e) => walk(e, out),
                Expr::And(es) | Expr::Or(es) => es.iter().for_each(|e| walk(e, out)),
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.root.fmt(f)
    }
}

/// A node of the query's boolean structure. `And`/`Or` have at least two
/// children; grouping parentheses leave no node of their own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Expr {
    Term(Term),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Which paper text a word or phrase is searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// A bare term: title or abstract.
    Default,
    Title,
    Abstract,
    /// One author's name (no stemming).
    Author,
    /// Title, abstract, authors and the words of the categories.
    All,
}

impl Scope {
    fn prefix(self) -> &'static str {
        match self {
            Scope::Default => "",
            Scope::Title => "ti:",
            Scope::Abstract => "abs:",
            Scope::Author => "au:",
            Scope::All => "all:",
        }
    }

    /// Whether terms of this scope are searched in `field`.
    pub fn covers(self, field: Field) -> bool {
        matches!(
            (self, field),
            (Scope::Default, Field::Title | Field::Abstract)
                | (Scope::Title, Field::Title)
                | (Scope::Abstract, Field::Abstract)
                | (Scope::Author, Field::Author)
                | (Scope::All, _)
        )
    }
}

/// A text of a paper, as passed to [`crate::matching::highlight`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Title,
    Abstract,
    /// One author's name.
    Author,
    /// One category, such as `cs.LG`.
    Category,
}

impl Field {
    /// Title and abstract words are stemmed; names and categories are not.
    pub(crate) fn is_stemmed(self) -> bool {
        matches!(self, Field::Title | Field::Abstract)
    }
}

/// One folded word of a term; `prefix` when written with a trailing `*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Word {
    /// Lower-cased, diacritics dropped, unstemmed.
    pub text: String,
    pub prefix: bool,
}

/// A leaf of the query.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    /// A word (one element) or a phrase (several, adjacent and in order).
    Text { scope: Scope, words: Vec<Word> },
    /// `cat:`: `pattern` as written (without a trailing `*`).
    Category { pattern: String, prefix: bool },
    /// `upvotes>=N` and friends.
    Upvotes { op: Comparison, value: i64 },
    /// `like:ID`: papers similar to paper `id` (its canonical id: a
    /// versionless arXiv id, or a stored paper's id as written).
    Like { id: String },
}

impl Term {
    /// Whether `category` (any case) is selected by a `cat:` pattern: exact,
    /// or within the archive when the pattern has no `*`, or by prefix.
    pub(crate) fn category_matches(pattern: &str, prefix: bool, category: &str) -> bool {
        // A space in a category (bioRxiv's `cell biology`) is written `_` in
        // a query (`cat:cell_biology`), as in `au:geoffrey_hinton`.
        let c = category.trim().to_lowercase().replace(' ', "_");
        let p = pattern.to_lowercase().replace(' ', "_");
        if prefix {
            c.starts_with(&p)
        } else {
            c == p || (c.starts_with(&p) && c[p.len()..].starts_with('.'))
        }
    }
}

/// The comparison of an `upvotes` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparison {
    Ge,
    Gt,
    Le,
    Lt,
    Eq,
}

impl Comparison {
    pub(crate) fn holds(self, left: i64, right: i64) -> bool {
        match self {
            Comparison::Ge => left >= right,
            Comparison::Gt => left > right,
            Comparison::Le => left <= right,
            Comparison::Lt => left < right,
            Comparison::Eq => left == right,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Comparison::Ge => ">=",
            Comparison::Gt => ">",
            Comparison::Le => "<=",
            Comparison::Lt => "<",
            Comparison::Eq => "=",
        }
    }
}

impl fmt::Display for Term {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Term::Text { scope, words } => {
                f.write_str(scope.prefix())?;
                // A lone word that the lexer would read as something else
                // is quoted so the canonical text parses back the same.
                let quote = words.len() != 1 || words[0].text == "upvotes";
                if quote {
                    f.write_str("\"")?;
                }
                for (i, w) in words.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    f.write_str(&w.text)?;
                    if w.prefix {
                        f.write_str("*")?;
                    }
                }
                if quote {
                    f.write_str("\"")?;
                }
                Ok(())
            }
            Term::Category { pattern, prefix } => {
                let star = if *prefix { "*" } else { "" };
                if is_keyword(pattern) || pattern.eq_ignore_ascii_case("upvotes") {
                    write!(f, "cat:\"{pattern}{star}\"")
                } else {
                    write!(f, "cat:{pattern}{star}")
                }
            }
            Term::Upvotes { op, value } => write!(f, "upvotes{}{value}", op.as_str()),
            Term::Like { id } => {
                if id
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '(' | ')'))
                {
                    write!(f, "like:\"{id}\"")
                } else {
                    write!(f, "like:{id}")
                }
            }
        }
    }
}

pub(crate) fn is_keyword(s: &str) -> bool {
    matches!(s, "AND" | "OR" | "NOT" | "ANDNOT")
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn child(f: &mut fmt::Formatter<'_>, e: &Expr, paren: bool) -> fmt::Result {
            if paren {
                write!(f, "({e})")
            } else {
                write!(f, "{e}")
            }
        }
        match self {
            Expr::Term(t) => t.fmt(f),
            Expr::Not(e) => {
                f.write_str("NOT ")?;
                child(f, e, matches!(**e, Expr::And(_) | Expr::Or(_)))
            }
            Expr::And(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" AND ")?;
                    }
                    child(f, e, matches!(e, Expr::And(_) | Expr::Or(_)))?;
                }
                Ok(())
            }
            Expr::Or(es) => {
                for (i, e) in es.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" OR ")?;
                    }
                    child(f, e, matches!(e, Expr::Or(_)))?;
                }
                Ok(())
            }
        }
    }
}

/// Why a query was rejected, and where: `column` is the 1-based character
/// column in the query text (one past the end for a query that stops
/// short).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl QueryError {
    pub(crate) fn at(column: usize, message: impl Into<String>) -> Self {
        QueryError {
            column,
            message: message.into(),
        }
    }

    /// The empty query has no meaningful column.
    pub(crate) fn empty() -> Self {
        QueryError::at(1, EMPTY)
    }

    fn render(&self) -> String {
        if self.message == EMPTY {
            EMPTY.to_string()
        } else {
            format!("{} at column {}", self.message, self.column)
        }
    }
}

const EMPTY: &str = "empty query";

#[cfg(test)]
mod tests {
    use super::Term;

    #[test]
    fn categories_without_a_dot_and_with_spaces_match_as_written_with_underscores() {
        assert!(Term::category_matches(
            "neuroscience",
            false,
            "neuroscience"
        ));
        assert!(Term::category_matches(
            "Neuroscience",
            false,
            "neuroscience"
        ));
        assert!(!Term::category_matches("neuro", false, "neuroscience"));
        assert!(Term::category_matches("neuro", true, "neuroscience"));
        assert!(Term::category_matches(
            "cell_biology",
            false,
            "cell biology"
        ));
        assert!(Term::category_matches("cell", true, "cell biology"));
        assert!(!Term::category_matches("cell", false, "cell biology"));
        assert!(Term::category_matches("cs", false, "cs.LG"));
    }
}

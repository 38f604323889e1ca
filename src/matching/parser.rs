//! Lexer and recursive-descent parser for the topic filter language (the
//! syntax is documented in `query`). Turns text into a [`Query`] or a
//! [`QueryError`] naming the column and what was expected; it must never
//! panic and enforces the size limits so no input can hurt the matcher.

use super::query::{
    is_keyword, Comparison, Expr, Query, QueryError, Scope, Term, Word, MAX_DEPTH, MAX_QUERY_CHARS,
    MAX_TERMS,
};
use super::words::tokenize;
use crate::domain::{invisible, ArxivId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldName {
    Text(Scope),
    Category,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Lex {
    LParen,
    RParen,
    And,
    Or,
    Not,
    AndNot,
    Minus,
    Field(FieldName),
    Word(String),
    Phrase(String),
    Upvotes(Comparison, i64),
    /// `like:ID`: the id as written and the column of its first character.
    Like(String, usize),
}

#[derive(Debug, Clone)]
struct Lexeme {
    kind: Lex,
    /// 1-based character column of the lexeme's first character.
    col: usize,
    /// Length in characters, to quote the lexeme as written in errors.
    len: usize,
}

impl Query {
    /// Parses a query, or says where and what was wrong.
    pub fn parse(input: &str) -> Result<Query, QueryError> {
        parse(input)
    }
}

impl Query {
    /// The `like:` terms of `input` as `(canonical paper id, column of the
    /// id)`, in order: where to point an error about a paper that cannot be
    /// found. Terms that do not parse are left out (parsing reports them).
    pub fn like_columns(input: &str) -> Vec<(String, usize)> {
        let chars: Vec<char> = input.chars().collect();
        let Ok(lexemes) = lex(&chars) else {
            return Vec::new();
        };
        lexemes
            .into_iter()
            .filter_map(|l| match l.kind {
                Lex::Like(raw, col) => match like_term(&raw, col) {
                    Ok(Term::Like { id }) => Some((id, col)),
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }
}

impl std::str::FromStr for Query {
    type Err = QueryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse(s)
    }
}

fn parse(input: &str) -> Result<Query, QueryError> {
    // Sized once: `collect` would grow it from a quarter of the bytes.
    let mut chars: Vec<char> = Vec::with_capacity(input.len());
    chars.extend(input.chars());
    if chars.len() > MAX_QUERY_CHARS {
        return Err(QueryError::at(
            MAX_QUERY_CHARS + 1,
            format!("query is longer than {MAX_QUERY_CHARS} characters"),
        ));
    }
    // Queries are shown back in pages, mails and `paperboy subscribers list`:
    // no terminal escapes, carriage returns, bidi overrides or zero-width
    // characters that would hide or reorder what a reader sees (tabs and
    // line feeds are just spaces).
    if let Some((col, c)) = invisible::find_invisible(input, &['\t', '\n']) {
        return Err(QueryError::at(
            col,
            format!(
                "{} is not allowed (a topic may hold no control character, bidi control or zero-width character: they hide or reorder what is shown)",
                invisible::describe(c)
            ),
        ));
    }
    let lexemes = lex(&chars)?;
    if lexemes.is_empty() {
        return Err(QueryError::empty());
    }
    let mut p = Parser {
        chars: &chars,
        lex: lexemes,
        pos: 0,
        end_col: chars.len() + 1,
        depth: 0,
        terms: 0,
        scope: None,
    };
    let root = p.parse_or()?;
    if let Some(l) = p.peek() {
        return Err(QueryError::at(l.col, format!("unexpected '{}'", p.text(l))));
    }
    Ok(Query { root })
}

fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || c == '(' || c == ')' || is_quote(c)
}

/// Typographic quotes (pasted from documents) delimit phrases too.
fn is_quote(c: char) -> bool {
    matches!(c, '"' | '\u{201C}' | '\u{201D}' | '\u{201E}')
}

fn lex(chars: &[char]) -> Result<Vec<Lexeme>, QueryError> {
    let n = chars.len();
    let mut out = Vec::with_capacity(n / 4 + 2);
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let col = i + 1;
        let mut push = |kind: Lex, len: usize| out.push(Lexeme { kind, col, len });
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        match c {
            '(' => {
                push(Lex::LParen, 1);
                i += 1;
            }
            ')' => {
                push(Lex::RParen, 1);
                i += 1;
            }
            c if is_quote(c) => {
                let Some(close) = chars[i + 1..].iter().position(|&c| is_quote(c)) else {
                    return Err(QueryError::at(
                        n + 1,
                        format!("expected '\"' to close the phrase opened at column {col}"),
                    ));
                };
                let content: String = chars[i + 1..i + 1 + close].iter().collect();
                push(Lex::Phrase(content), close + 2);
                i += close + 2;
            }
            '-' if i + 1 < n && !chars[i + 1].is_whitespace() && chars[i + 1] != ')' => {
                push(Lex::Minus, 1);
                i += 1;
            }
            _ => {
                let mut j = i;
                while j < n && !is_delimiter(chars[j]) {
                    j += 1;
                }
                let raw: String = chars[i..j].iter().collect();
                if let Some(colon) = chars[i..j].iter().position(|&c| c == ':') {
                    if colon > 0 && chars[i..i + colon].iter().all(|c| c.is_ascii_alphabetic()) {
                        let name = raw[..colon].to_ascii_lowercase();
                        if name == "like" {
                            let (lexeme, next) = lex_like(chars, i, i + colon + 1)?;
                            out.push(lexeme);
                            i = next;
                            continue;
                        }
                        let field = match name.as_str() {
                            "ti" => FieldName::Text(Scope::Title),
                            "abs" => FieldName::Text(Scope::Abstract),
                            "au" => FieldName::Text(Scope::Author),
                            "all" => FieldName::Text(Scope::All),
                            "cat" => FieldName::Category,
                            _ => {
                                return Err(QueryError::at(
                                    col,
                                    format!(
                                    "unknown field '{}:' (expected ti:, abs:, au:, cat:, all: or like:)",
                                    &raw[..colon]
                                ),
                                ))
                            }
                        };
                        push(Lex::Field(field), colon + 1);
                        i += colon + 1;
                        continue;
                    }
                }
                if let Some((lexeme, next)) = lex_upvotes(chars, i)? {
                    out.push(lexeme);
                    i = next;
                    continue;
                }
                let kind = match raw.as_str() {
                    "AND" => Lex::And,
                    "OR" => Lex::Or,
                    "NOT" => Lex::Not,
                    "ANDNOT" => Lex::AndNot,
                    _ => Lex::Word(raw),
                };
                push(kind, j - i);
                i = j;
            }
        }
    }
    Ok(out)
}

/// Reads the paper id of a `like:` written at `i`, starting at `start`:
/// up to the next space or parenthesis, or a quoted id.
fn lex_like(chars: &[char], i: usize, start: usize) -> Result<(Lexeme, usize), QueryError> {
    let n = chars.len();
    let (id, id_col, next) = if start < n && is_quote(chars[start]) {
        let Some(close) = chars[start + 1..].iter().position(|&c| is_quote(c)) else {
            return Err(QueryError::at(
                n + 1,
                format!(
                    "expected '\"' to close the phrase opened at column {}",
                    start + 1
                ),
            ));
        };
        let id: String = chars[start + 1..start + 1 + close].iter().collect();
        (id, start + 2, start + close + 2)
    } else {
        let mut j = start;
        while j < n && !is_delimiter(chars[j]) {
            j += 1;
        }
        (chars[start..j].iter().collect(), start + 1, j)
    };
    let lexeme = Lexeme {
        kind: Lex::Like(id, id_col),
        col: i + 1,
        len: next - i,
    };
    Ok((lexeme, next))
}

/// The term of `like:ID`, `id` written at column `col`: an arXiv id (any
/// version, old style too; kept versionless) or a stored paper's id.
fn like_term(raw: &str, col: usize) -> Result<Term, QueryError> {
    let id = raw.trim();
    if id.is_empty() {
        return Err(QueryError::at(
            col,
            "expected a paper id after 'like:' (an arXiv id such as 2406.12345)",
        ));
    }
    if let Ok(arxiv) = ArxivId::parse(id) {
        return Ok(Term::Like {
            id: arxiv.as_str().to_string(),
        });
    }
    if id
        .strip_prefix("feed:")
        .is_some_and(|rest| !rest.is_empty())
    {
        return Ok(Term::Like { id: id.to_string() });
    }
    Err(QueryError::at(
        col,
        format!(
            "'{id}' is not a paper id (expected an arXiv id such as 2406.12345, 2406.12345v2 or hep-th/9901001, or a stored paper's id such as feed:…)"
        ),
    ))
}

fn field_label(f: FieldName) -> &'static str {
    match f {
        FieldName::Category => "cat:",
        FieldName::Text(s) => match s {
            Scope::Title => "ti:",
            Scope::Abstract => "abs:",
            Scope::Author => "au:",
            Scope::All => "all:",
            Scope::Default => "",
        },
    }
}

/// Reads `upvotes>=N` (spaces allowed around the operator) starting at `i`;
/// `None` when the text there is not a comparison, so `upvotes` alone stays
/// an ordinary word.
fn lex_upvotes(chars: &[char], i: usize) -> Result<Option<(Lexeme, usize)>, QueryError> {
    const KEY: &str = "upvotes";
    let n = chars.len();
    if n - i < KEY.len()
        || !chars[i..i + KEY.len()]
            .iter()
            .zip(KEY.chars())
            .all(|(a, b)| a.to_ascii_lowercase() == b)
    {
        return Ok(None);
    }
    let mut j = i + KEY.len();
    while j < n && chars[j].is_whitespace() {
        j += 1;
    }
    let op = match (chars.get(j), chars.get(j + 1)) {
        (Some('>'), Some('=')) => Comparison::Ge,
        (Some('<'), Some('=')) => Comparison::Le,
        (Some('>'), _) => Comparison::Gt,
        (Some('<'), _) => Comparison::Lt,
        (Some('='), _) => Comparison::Eq,
        _ => return Ok(None),
    };
    j += op.as_str().len();
    while j < n && chars[j].is_whitespace() {
        j += 1;
    }
    let num_start = j;
    if j < n && chars[j] == '-' {
        j += 1;
    }
    while j < n && chars[j].is_ascii_digit() {
        j += 1;
    }
    let number: String = chars[num_start..j].iter().collect();
    let written: String = chars[i..num_start].iter().collect();
    let value = number.parse::<i64>().map_err(|_| {
        if number.trim_start_matches('-').is_empty() {
            QueryError::at(
                num_start + 1,
                format!("expected a number after '{}'", written.trim_end()),
            )
        } else {
            QueryError::at(num_start + 1, format!("number '{number}' is too large"))
        }
    })?;
    if j < n && !is_delimiter(chars[j]) {
        return Err(QueryError::at(
            j + 1,
            format!(
                "unexpected '{}' after '{}{number}'",
                chars[j],
                written.trim_end()
            ),
        ));
    }
    Ok(Some((
        Lexeme {
            kind: Lex::Upvotes(op, value),
            col: i + 1,
            len: j - i,
        },
        j,
    )))
}

struct Parser<'q> {
    chars: &'q [char],
    lex: Vec<Lexeme>,
    pos: usize,
    end_col: usize,
    depth: usize,
    terms: usize,
    /// The field of the innermost enclosing `field:(...)` group.
    scope: Option<FieldName>,
}

impl Parser<'_> {
    fn text(&self, l: &Lexeme) -> String {
        self.chars[l.col - 1..l.col - 1 + l.len].iter().collect()
    }

    fn peek(&self) -> Option<&Lexeme> {
        self.lex.get(self.pos)
    }

    fn peek_kind(&self) -> Option<&Lex> {
        self.peek().map(|l| &l.kind)
    }

    /// Consumes the current lexeme, returning its column.
    fn bump(&mut self) -> usize {
        let col = self.lex[self.pos].col;
        self.pos += 1;
        col
    }

    /// The error for a missing term at the current position.
    fn expected_term(&self) -> QueryError {
        match self.peek() {
            None => {
                let prev = self.pos.checked_sub(1).map(|p| self.text(&self.lex[p]));
                QueryError::at(
                    self.end_col,
                    format!(
                        "unexpected end of query after '{}'",
                        prev.unwrap_or_default()
                    ),
                )
            }
            Some(l) => QueryError::at(l.col, format!("unexpected '{}'", self.text(l))),
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::at(
                col,
                format!("query nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    fn parse_or(&mut self) -> Result<Expr, QueryError> {
        let first = self.parse_and()?;
        // One operand (the common case) allocates no list.
        if !matches!(self.peek_kind(), Some(Lex::Or)) {
            return Ok(first);
        }
        let mut items = Vec::with_capacity(4);
        items.push(first);
        while let Some(Lex::Or) = self.peek_kind() {
            self.bump();
            items.push(self.parse_and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Or(items)
        })
    }

    fn parse_and(&mut self) -> Result<Expr, QueryError> {
        let first = self.parse_unary()?;
        if matches!(self.peek_kind(), None | Some(Lex::Or) | Some(Lex::RParen)) {
            return Ok(first);
        }
        let mut items = Vec::with_capacity(4);
        items.push(first);
        loop {
            match self.peek_kind() {
                None | Some(Lex::Or) | Some(Lex::RParen) => break,
                Some(Lex::And) => {
                    self.bump();
                    items.push(self.parse_unary()?);
                }
                Some(Lex::AndNot) => {
                    let col = self.bump();
                    self.enter(col)?;
                    let e = self.parse_unary()?;
                    self.depth -= 1;
                    items.push(Expr::Not(Box::new(e)));
                }
                Some(_) => items.push(self.parse_unary()?),
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::And(items)
        })
    }

    fn parse_unary(&mut self) -> Result<Expr, QueryError> {
        match self.peek_kind() {
            Some(Lex::Not) | Some(Lex::Minus) => {
                let col = self.bump();
                self.enter(col)?;
                let e = self.parse_unary()?;
                self.depth -= 1;
                Ok(Expr::Not(Box::new(e)))
            }
            _ => self.parse_primary(),
        }
    }

    fn parse_primary(&mut self) -> Result<Expr, QueryError> {
        // Fields are read in a loop, not recursively: `ti:au:x` means `au:x`.
        let mut field = None;
        while let Some(Lex::Field(f)) = self.peek_kind() {
            field = Some(*f);
            self.bump();
        }
        let Some(l) = self.lex.get_mut(self.pos) else {
            return Err(self.expected_term());
        };
        let col = l.col;
        // Word and phrase text is taken, not cloned: each lexeme is
        // consumed exactly once.
        let kind = match &mut l.kind {
            Lex::Word(w) => Lex::Word(std::mem::take(w)),
            Lex::Phrase(p) => Lex::Phrase(std::mem::take(p)),
            other => other.clone(),
        };
        match kind {
            Lex::LParen => {
                self.bump();
                self.enter(col)?;
                let outer = self.scope;
                if field.is_some() {
                    self.scope = field;
                }
                let e = self.parse_or()?;
                self.scope = outer;
                self.depth -= 1;
                match self.peek() {
                    Some(r) if r.kind == Lex::RParen => {
                        self.bump();
                        Ok(e)
                    }
                    Some(r) => Err(QueryError::at(
                        r.col,
                        format!("expected ')' but found '{}'", self.text(r)),
                    )),
                    None => Err(QueryError::at(self.end_col, "expected ')'")),
                }
            }
            Lex::Word(raw) => {
                self.bump();
                self.count_term(col)?;
                let term = self.leaf(field, &raw, col)?;
                Ok(Expr::Term(term))
            }
            Lex::Phrase(content) => {
                self.bump();
                self.count_term(col)?;
                let term = self.leaf(field, &content, col + 1)?;
                Ok(Expr::Term(term))
            }
            Lex::Upvotes(op, value) => {
                if let Some(f) = field.or(self.scope) {
                    let name = field_label(f);
                    return Err(QueryError::at(
                        col,
                        format!("field '{name}' cannot apply to an upvotes comparison"),
                    ));
                }
                self.bump();
                self.count_term(col)?;
                Ok(Expr::Term(Term::Upvotes { op, value }))
            }
            Lex::Like(raw, id_col) => {
                if let Some(f) = field.or(self.scope) {
                    return Err(QueryError::at(
                        col,
                        format!("field '{}' cannot apply to like:", field_label(f)),
                    ));
                }
                self.bump();
                self.count_term(col)?;
                Ok(Expr::Term(like_term(&raw, id_col)?))
            }
            _ => Err(self.expected_term()),
        }
    }

    fn count_term(&mut self, col: usize) -> Result<(), QueryError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return Err(QueryError::at(
                col,
                format!("query has more than {MAX_TERMS} terms"),
            ));
        }
        Ok(())
    }

    /// Builds a word, phrase or category term from its text, which starts
    /// at column `col`.
    fn leaf(&self, field: Option<FieldName>, raw: &str, col: usize) -> Result<Term, QueryError> {
        match field.or(self.scope) {
            Some(FieldName::Category) => category(raw, col),
            Some(FieldName::Text(scope)) => text_term(scope, raw, col),
            None => text_term(Scope::Default, raw, col),
        }
    }
}

fn char_col(raw: &str, byte: usize, col: usize) -> usize {
    col + raw[..byte].chars().count()
}

fn text_term(scope: Scope, raw: &str, col: usize) -> Result<Term, QueryError> {
    let tokens = tokenize(raw);
    if tokens.is_empty() {
        let message = if raw.trim().is_empty() {
            "empty phrase".to_string()
        } else {
            format!("'{}' has no letters or digits", raw.trim())
        };
        return Err(QueryError::at(col, message));
    }
    for (b, c) in raw.char_indices() {
        if c == '*' && !tokens.iter().any(|t| t.end == b) {
            return Err(QueryError::at(
                char_col(raw, b, col),
                "'*' must directly follow a word",
            ));
        }
    }
    let mut words = Vec::with_capacity(tokens.len());
    for t in tokens {
        let prefix = raw[t.end..].starts_with('*');
        if prefix && t.folded.chars().count() < 2 {
            return Err(QueryError::at(
                char_col(raw, t.end, col),
                "a prefix needs at least 2 characters before '*'",
            ));
        }
        words.push(Word {
            text: t.folded,
            prefix,
        });
    }
    Ok(Term::Text { scope, words })
}

fn category(raw: &str, col: usize) -> Result<Term, QueryError> {
    let lead = raw.len() - raw.trim_start().len();
    let col = col + raw[..lead].chars().count();
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(QueryError::at(col, "expected a category after 'cat:'"));
    }
    let (pattern, prefix) = match raw.strip_suffix('*') {
        Some(p) => (p, true),
        None => (raw, false),
    };
    for (b, c) in pattern.char_indices() {
        let ok = c.is_alphanumeric() || (b > 0 && matches!(c, '.' | '-' | '_'));
        if !ok {
            return Err(QueryError::at(
                char_col(pattern, b, col),
                format!("'{c}' is not allowed in a category (expected a name like cs.LG)"),
            ));
        }
    }
    if pattern.is_empty() || (prefix && pattern.chars().count() < 2) {
        return Err(QueryError::at(
            col + pattern.chars().count(),
            "a prefix needs at least 2 characters before '*'",
        ));
    }
    debug_assert!(!is_keyword(pattern) || !prefix || pattern.len() > 1);
    Ok(Term::Category {
        pattern: pattern.to_string(),
        prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_takes_arxiv_ids_with_any_version_old_style_ids_and_stored_ids() {
        for (q, id) in [
            ("like:2406.12345", "2406.12345"),
            ("like:2406.12345v12", "2406.12345"),
            ("like:0704.0001", "0704.0001"),
            ("LIKE:arXiv:2406.12345", "2406.12345"),
            ("like:hep-th/9901001v2", "hep-th/9901001"),
            ("like:math.GT/0309136", "math.GT/0309136"),
            ("like:feed:example.org/posts/1", "feed:example.org/posts/1"),
            (
                "like:\"feed:a guid (with spaces)\"",
                "feed:a guid (with spaces)",
            ),
        ] {
            let parsed = Query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            assert_eq!(parsed.likes(), [id], "{q}");
            // The canonical text parses back to the same query.
            assert_eq!(Query::parse(&parsed.to_string()).unwrap(), parsed, "{q}");
        }
        let q = Query::parse("like:2406.12345 AND cat:cs.LG OR -like:2401.00001").unwrap();
        assert_eq!(q.likes(), ["2406.12345", "2401.00001"]);
        assert_eq!(
            Query::like_columns("cat:cs.LG AND like:2406.12345v2"),
            [("2406.12345".to_string(), 20)]
        );
    }

    #[test]
    fn a_malformed_like_id_is_an_error_at_its_column() {
        for (q, col, says) in [
            (
                "cat:cs.LG AND like:2406.1",
                20,
                "'2406.1' is not a paper id",
            ),
            ("like:", 6, "expected a paper id after 'like:'"),
            ("like: 2406.12345", 6, "expected a paper id"),
            ("like:abc", 6, "'abc' is not a paper id"),
            ("like:feed:", 6, "'feed:' is not a paper id"),
            ("ti:like:2406.12345", 4, "field 'ti:' cannot apply to like:"),
            (
                "abs:(x like:2406.12345)",
                8,
                "field 'abs:' cannot apply to like:",
            ),
            ("like:\"2406.12345", 17, "expected '\"' to close"),
        ] {
            let e = Query::parse(q).expect_err(q);
            assert_eq!(e.column, col, "{q}: {e}");
            assert!(e.message.contains(says), "{q}: {e}");
        }
        // A bare word "like" is an ordinary word.
        assert!(Query::parse("like AND dislike").unwrap().likes().is_empty());
    }
    use proptest::prelude::*;

    fn err(q: &str) -> String {
        Query::parse(q).unwrap_err().to_string()
    }

    fn canon(q: &str) -> String {
        Query::parse(q).unwrap().to_string()
    }

    #[test]
    fn precedence_is_not_then_and_then_or() {
        assert_eq!(canon("a OR b c"), "a OR b AND c");
        assert_eq!(canon("(a OR b) c"), "(a OR b) AND c");
        assert_eq!(canon("NOT a b"), "NOT a AND b");
        assert_eq!(canon("a ANDNOT b OR c"), "a AND NOT b OR c");
        assert_eq!(canon("-a -(b OR c)"), "NOT a AND NOT (b OR c)");
    }

    #[test]
    fn lower_case_operators_are_ordinary_words() {
        assert_eq!(canon("rock and roll"), "rock AND and AND roll");
        assert_eq!(canon("a or b"), "a AND or AND b");
    }

    #[test]
    fn fields_apply_to_the_next_term_or_group() {
        assert_eq!(
            canon("ti:(diffusion OR flow) x"),
            "(ti:diffusion OR ti:flow) AND x"
        );
        assert_eq!(canon("ti:(a au:b)"), "ti:a AND au:b");
        assert_eq!(canon("TI:Diffusion"), "ti:diffusion");
        assert_eq!(canon("au:geoffrey_hinton"), "au:\"geoffrey hinton\"");
        assert_eq!(canon("all:\"Boglárka\""), "all:boglarka");
        assert_eq!(
            canon("cat:(cs.LG OR \"stat.ML\")"),
            "cat:cs.LG OR cat:stat.ML"
        );
        assert_eq!(canon("cat:cs.*"), "cat:cs.*");
    }

    #[test]
    fn hyphenated_words_and_prefixes_become_phrases_and_stars() {
        assert_eq!(canon("test-time"), "\"test time\"");
        assert_eq!(canon("diffus*"), "diffus*");
        assert_eq!(canon("\"large lang*\""), "\"large lang*\"");
        assert_eq!(canon("\"upvotes\""), "\"upvotes\"");
        assert_eq!(
            canon("\u{201C}Diffusion Models\u{201D}"),
            "\"diffusion models\""
        );
    }

    #[test]
    fn upvote_comparisons_parse_with_or_without_spaces() {
        assert_eq!(canon("upvotes>=10"), "upvotes>=10");
        assert_eq!(canon("Upvotes > 3 x"), "upvotes>3 AND x");
        assert_eq!(
            canon("upvotes<5 OR upvotes=0 OR upvotes<=-1"),
            "upvotes<5 OR upvotes=0 OR upvotes<=-1"
        );
        assert_eq!(canon("upvotes"), "\"upvotes\"");
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        assert_eq!(err(""), "empty query");
        assert_eq!(err("   "), "empty query");
        assert_eq!(
            err("ti:x AND"),
            "unexpected end of query after 'AND' at column 9"
        );
        assert_eq!(err("(diffusion OR flow"), "expected ')' at column 19");
        assert_eq!(err("(a b c"), "expected ')' at column 7");
        assert_eq!(err("a OR OR b"), "unexpected 'OR' at column 6");
        assert_eq!(err("AND a"), "unexpected 'AND' at column 1");
        assert_eq!(err("a b)"), "unexpected ')' at column 4");
        assert_eq!(
            err("ti:"),
            "unexpected end of query after 'ti:' at column 4"
        );
        assert_eq!(err("ti:()"), "unexpected ')' at column 5");
        assert_eq!(
            err("a \"b c"),
            "expected '\"' to close the phrase opened at column 3 at column 7"
        );
        assert_eq!(
            err("d*"),
            "a prefix needs at least 2 characters before '*' at column 2"
        );
        assert_eq!(err("ab *cd"), "'*' must directly follow a word at column 4");
        assert_eq!(
            err("x foo:bar"),
            "unknown field 'foo:' (expected ti:, abs:, au:, cat:, all: or like:) at column 3"
        );
        assert_eq!(
            err("upvotes>=x"),
            "expected a number after 'upvotes>=' at column 10"
        );
        assert_eq!(
            err("upvotes>=3x"),
            "unexpected 'x' after 'upvotes>=3' at column 11"
        );
        assert_eq!(
            err("ti:upvotes>3"),
            "field 'ti:' cannot apply to an upvotes comparison at column 4"
        );
        assert_eq!(err("a \"\""), "empty phrase at column 4");
        assert_eq!(err("a &"), "'&' has no letters or digits at column 3");
        assert_eq!(
            err("cat:c*"),
            "a prefix needs at least 2 characters before '*' at column 6"
        );
        assert_eq!(
            err("cat:cs/LG"),
            "'/' is not allowed in a category (expected a name like cs.LG) at column 7"
        );
        assert_eq!(
            err("a NOT"),
            "unexpected end of query after 'NOT' at column 6"
        );
    }

    #[test]
    fn limits_reject_pathological_queries_clearly() {
        let long = "a ".repeat(501);
        assert_eq!(
            err(&long),
            "query is longer than 1000 characters at column 1001"
        );
        let deep = format!("{}x{}", "(".repeat(33), ")".repeat(33));
        assert_eq!(err(&deep), "query nests deeper than 32 levels at column 33");
        let ok = format!("{}x{}", "(".repeat(32), ")".repeat(32));
        assert!(Query::parse(&ok).is_ok());
        let nots = "NOT ".repeat(33) + "x";
        assert_eq!(
            err(&nots),
            "query nests deeper than 32 levels at column 129"
        );
        assert!(err("diffusion\u{1b}[2J").starts_with(
            "an escape character (U+001B) is not allowed (a topic may hold no control character"
        ));
        assert!(err("diffusion\u{1b}[2J").ends_with("at column 10"));
        for (bad, named) in [
            ("a\rb", "a carriage return (U+000D)"),
            ("a\u{b}b", "a vertical tab (U+000B)"),
            ("a\u{c}b", "a form feed (U+000C)"),
            ("a\u{85}b", "a next-line character (U+0085)"),
            ("a\u{202e}b", "a right-to-left override (U+202E)"),
            ("a\u{2066}b", "a left-to-right isolate (U+2066)"),
            ("a\u{200b}b", "a zero-width space (U+200B)"),
            ("a\u{2028}b", "a line separator (U+2028)"),
        ] {
            assert!(err(bad).starts_with(named), "{bad:?}: {}", err(bad));
            assert!(err(bad).ends_with("at column 2"), "{bad:?}: {}", err(bad));
        }
        assert!(Query::parse("diffusion\tmodels").is_ok());
        let many = "ab ".repeat(65);
        assert_eq!(err(&many), "query has more than 64 terms at column 193");
        assert!(Query::parse(&"ab ".repeat(64)).is_ok());
    }

    fn arb_query_text() -> impl Strategy<Value = String> {
        let atom = prop_oneof![
            Just("diffusion".to_string()),
            Just("Test-Time".to_string()),
            Just("\"large lang*\"".to_string()),
            Just("cat:cs.LG".to_string()),
            Just("cat:cs.*".to_string()),
            Just("au:hinton".to_string()),
            Just("all:Boglárka".to_string()),
            Just("upvotes>=3".to_string()),
            Just("transf*".to_string()),
            Just("and".to_string()),
            "[a-zé]{1,6}",
        ];
        atom.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} OR {b}")),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} ANDNOT {b}")),
                inner.clone().prop_map(|a| format!("NOT {a}")),
                inner.clone().prop_map(|a| format!("-({a})")),
                inner.clone().prop_map(|a| format!("ti:({a})")),
                inner.prop_map(|a| format!("({a})")),
            ]
        })
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(s in "\\PC{0,80}") {
            let _ = Query::parse(&s);
        }

        #[test]
        fn the_parser_never_panics_on_query_like_text(s in "[a-z():\"*\\- <>=ANDORTI_.]{0,60}") {
            let _ = Query::parse(&s);
        }

        #[test]
        fn canonical_text_parses_back_to_the_same_query(s in arb_query_text()) {
            if let Ok(q) = Query::parse(&s) {
                let text = q.to_string();
                prop_assert_eq!(Query::parse(&text), Ok(q), "{}", text);
            }
        }

        #[test]
        fn any_accepted_query_round_trips(s in "\\PC{0,60}") {
            if let Ok(q) = Query::parse(&s) {
                let text = q.to_string();
                if text.chars().count() <= MAX_QUERY_CHARS {
                    prop_assert_eq!(Query::parse(&text), Ok(q), "{}", text);
                }
            }
        }
    }
}

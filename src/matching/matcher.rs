//! The day's paper index and query evaluation over it.
//!
//! [`Matcher::new`] tokenises every paper once per field into an inverted
//! index (folded word → papers, with token positions kept for phrase
//! checks). [`Matcher::compile`] lowers a query to a postfix program over
//! interned atoms (a word, phrase, prefix, category or comparison in one
//! scope); each distinct atom's paper set is computed once and cached for
//! every later query, which is what makes a run over many subscribers
//! cheap. [`Matcher::matches`] is then bitset arithmetic only. This module
//! does no I/O and keeps no per-query state after a call returns.

use std::collections::HashMap;

use super::hasher::TermHasher;
use super::paper_set::PaperSet;
use super::query::{Expr, Query, QueryError, Scope, Term, Word};
use super::text_table::TextTable;
use super::words::{for_each_word, EnglishStemmer};
use crate::domain::Paper;

type TermMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<TermHasher>>;

/// A byte string that identifies a term exactly (two terms encode alike
/// only when they are equal): the key [`Matcher`] interns terms by. Words
/// carry their lengths, so no two word lists run together.
fn encode_term(t: &Term, out: &mut Vec<u8>) {
    out.clear();
    match t {
        Term::Text { scope, words } => {
            out.extend_from_slice(&[0, *scope as u8]);
            for w in words {
                out.push(u8::from(w.prefix));
                out.extend_from_slice(&(w.text.len() as u32).to_le_bytes());
                out.extend_from_slice(w.text.as_bytes());
            }
        }
        Term::Category { pattern, prefix } => {
            out.extend_from_slice(&[1, u8::from(*prefix)]);
            out.extend_from_slice(pattern.as_bytes());
        }
        Term::Upvotes { op, value } => {
            out.extend_from_slice(&[2, *op as u8]);
            out.extend_from_slice(&value.to_le_bytes());
        }
        Term::Like { id } => {
            out.push(3);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

/// Marks the boundary between two authors (or categories) in a field's
/// token sequence, so a phrase never spans two names.
const SEP: u32 = u32::MAX;

/// One searchable text field of every paper of the day.
struct FieldIndex {
    stemmed: bool,
    /// Segments are personal names: a phrase matches its words in order
    /// within one name, other words allowed between, so `"geoffrey hinton"`
    /// finds "Geoffrey E. Hinton".
    names: bool,
    surface_ids: TermMap<Box<str>, u32>,
    surface_text: Vec<String>,
    /// Surface ids ordered by their text, for prefix range scans.
    sorted: Vec<u32>,
    surface_stem: Vec<u32>,
    stem_ids: HashMap<String, u32>,
    stem_postings: Vec<Vec<u32>>,
    surface_postings: Vec<Vec<u32>>,
    /// Per paper, its surface ids in order, `SEP` between segments.
    docs: Vec<Vec<u32>>,
}

enum Resolved {
    Stem(u32),
    /// Sorted surface ids that start with a prefix.
    Surfaces(Vec<u32>),
}

impl FieldIndex {
    fn build<'p>(
        papers: &'p [Paper],
        segments: impl Fn(&'p Paper) -> Vec<&'p str>,
        stemmer: Option<&EnglishStemmer>,
    ) -> Self {
        let mut ix = FieldIndex {
            stemmed: stemmer.is_some(),
            names: false,
            surface_ids: TermMap::default(),
            surface_text: Vec::new(),
            sorted: Vec::new(),
            surface_stem: Vec::new(),
            stem_ids: HashMap::new(),
            stem_postings: Vec::new(),
            surface_postings: Vec::new(),
            docs: Vec::with_capacity(papers.len()),
        };
        for (p, paper) in papers.iter().enumerate() {
            let p = p as u32;
            let mut doc = Vec::new();
            for (si, seg) in segments(paper).into_iter().enumerate() {
                if si > 0 {
                    doc.push(SEP);
                }
                for_each_word(seg, |_, _, folded| {
                    let sid = ix.intern_surface(folded, stemmer);
                    doc.push(sid);
                    push_posting(&mut ix.surface_postings[sid as usize], p);
                    let stem = ix.surface_stem[sid as usize] as usize;
                    push_posting(&mut ix.stem_postings[stem], p);
                });
            }
            ix.docs.push(doc);
        }
        let mut sorted: Vec<u32> = (0..ix.surface_text.len() as u32).collect();
        sorted.sort_by(|&a, &b| ix.surface_text[a as usize].cmp(&ix.surface_text[b as usize]));
        ix.sorted = sorted;
        ix
    }

    /// The id of a folded word, new words stemmed once: a word seen
    /// before costs one hash lookup and no allocation.
    fn intern_surface(&mut self, folded: &str, stemmer: Option<&EnglishStemmer>) -> u32 {
        if let Some(&id) = self.surface_ids.get(folded) {
            return id;
        }
        let id = self.surface_text.len() as u32;
        let stem = match stemmer {
            Some(s) => s.stem(folded),
            None => folded.to_string(),
        };
        let next_stem = self.stem_ids.len() as u32;
        let stem_id = *self.stem_ids.entry(stem).or_insert(next_stem);
        if stem_id == next_stem {
            self.stem_postings.push(Vec::new());
        }
        self.surface_ids.insert(folded.into(), id);
        self.surface_text.push(folded.to_string());
        self.surface_stem.push(stem_id);
        self.surface_postings.push(Vec::new());
        id
    }

    fn prefix_surfaces(&self, prefix: &str) -> Vec<u32> {
        let start = self
            .sorted
            .partition_point(|&id| self.surface_text[id as usize].as_str() < prefix);
        let mut ids: Vec<u32> = self.sorted[start..]
            .iter()
            .take_while(|&&id| self.surface_text[id as usize].starts_with(prefix))
            .copied()
            .collect();
        ids.sort_unstable();
        ids
    }

    /// The papers where `words` occur as adjacent tokens in this field.
    fn find(&self, words: &[Word], stemmer: &EnglishStemmer, universe: usize) -> PaperSet {
        let mut resolved = Vec::with_capacity(words.len());
        for w in words {
            let r = if w.prefix {
                let ids = self.prefix_surfaces(&w.text);
                if ids.is_empty() {
                    return PaperSet::empty(universe);
                }
                Resolved::Surfaces(ids)
            } else {
                let key = if self.stemmed {
                    stemmer.stem(&w.text)
                } else {
                    w.text.clone()
                };
                match self.stem_ids.get(&key) {
                    Some(&id) => Resolved::Stem(id),
                    None => return PaperSet::empty(universe),
                }
            };
            resolved.push(r);
        }
        let mut candidates: Option<PaperSet> = None;
        for r in &resolved {
            let mut set = PaperSet::empty(universe);
            match r {
                Resolved::Stem(id) => {
                    for &p in &self.stem_postings[*id as usize] {
                        set.insert(p as usize);
                    }
                }
                Resolved::Surfaces(ids) => {
                    for &sid in ids {
                        for &p in &self.surface_postings[sid as usize] {
                            set.insert(p as usize);
                        }
                    }
                }
            }
            match candidates.as_mut() {
                Some(c) => c.and_with(&set),
                None => candidates = Some(set),
            }
        }
        let mut set = candidates.unwrap_or_else(|| PaperSet::empty(universe));
        if resolved.len() > 1 {
            // Only papers holding every word are checked for adjacency.
            let hits: Vec<usize> = set.iter().collect();
            for p in hits {
                let found = if self.names {
                    self.has_name_sequence(&self.docs[p], &resolved)
                } else {
                    self.has_sequence(&self.docs[p], &resolved)
                };
                if !found {
                    set.remove(p);
                }
            }
        }
        set
    }

    fn token_matches(&self, r: &Resolved, sid: u32) -> bool {
        sid != SEP
            && match r {
                Resolved::Stem(s) => self.surface_stem[sid as usize] == *s,
                Resolved::Surfaces(ids) => ids.binary_search(&sid).is_ok(),
            }
    }

    fn has_sequence(&self, doc: &[u32], seq: &[Resolved]) -> bool {
        doc.windows(seq.len()).any(|w| {
            w.iter()
                .zip(seq)
                .all(|(&sid, r)| self.token_matches(r, sid))
        })
    }

    /// Whether one segment holds `seq` in order, gaps allowed (greedy
    /// leftmost matching decides a subsequence exactly).
    fn has_name_sequence(&self, doc: &[u32], seq: &[Resolved]) -> bool {
        doc.split(|&sid| sid == SEP).any(|name| {
            let mut next = 0;
            for &sid in name {
                if next < seq.len() && self.token_matches(&seq[next], sid) {
                    next += 1;
                }
            }
            next == seq.len()
        })
    }
}

fn push_posting(list: &mut Vec<u32>, p: u32) {
    if list.last() != Some(&p) {
        list.push(p);
    }
}

/// A term of a query that contributed to a paper's match, for "why this
/// paper" lines and highlighting. Cheap to clone: the matcher keeps one of
/// each term and every explanation shares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchedTerm {
    /// The term in canonical query syntax: `ti:diffusion`, `"test time"`,
    /// `cat:cs.LG`, `upvotes>=10`.
    pub label: std::sync::Arc<str>,
    /// The term itself, for [`crate::matching::highlight`].
    pub term: std::sync::Arc<Term>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Atom(u32),
    Not,
    And(u32),
    Or(u32),
}

#[derive(Debug, Clone, Copy)]
struct Leaf {
    /// Index into the matcher's interned terms.
    term: u32,
}

/// A query lowered against one [`Matcher`]: only valid with the matcher that
/// compiled it.
#[derive(Debug, Clone)]
pub struct CompiledQuery {
    ops: Vec<Op>,
    leaves: Vec<Leaf>,
}

/// Normalised identity of an atom: terms that select the same papers by
/// construction share one cached paper set.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum AtomKey {
    Text(Scope, Vec<Word>),
    Category(String, bool),
    Upvotes(super::query::Comparison, i64),
    Like(String),
}

/// What a `like:ID` term matches, as the caller resolved it.
#[derive(Debug, Clone)]
struct Like {
    /// The liked paper's title, for the explanation.
    title: String,
    /// The day's papers similar to it.
    papers: Vec<usize>,
}

/// The day's papers, indexed once, plus the cache of every atom any query
/// compiled so far has used.
pub struct Matcher {
    universe: usize,
    title: FieldIndex,
    abstract_text: FieldIndex,
    authors: FieldIndex,
    category_words: FieldIndex,
    categories: Vec<Vec<String>>,
    upvotes: Vec<Option<i64>>,
    stemmer: EnglishStemmer,
    /// Every distinct term compiled so far, by [`encode_term`] → (its
    /// index in `terms`, its atom), both in the table so compiling a known
    /// term is one lookup.
    by_term: TextTable,
    /// [`encode_term`]'s buffer, reused.
    term_key: Vec<u8>,
    /// Per interned term: its label, kept here so compiled queries stay
    /// two small vectors.
    terms: Vec<MatchedTerm>,
    by_key: TermMap<AtomKey, u32>,
    atoms: Vec<PaperSet>,
    /// Every distinct topic text seen through [`Matcher::text_id`], with
    /// its id and how many papers it matches: subscribers share topic
    /// texts, and parsing costs as much as compiling and matching, so a
    /// run parses each text once. A lookup hands out a small id, never a
    /// reference count, and [`Matcher::text_ids`] looks up a page of texts
    /// at once.
    by_text: TextTable,
    texts: Vec<Result<MatchedText, QueryError>>,
    /// What [`Matcher::text`] answers for an id it never handed out.
    foreign: QueryError,
    /// The `like:` papers the caller resolved, by canonical id.
    likes: HashMap<String, Like>,
}

/// A topic text in one [`Matcher`]'s text cache: only valid with the
/// matcher that handed it out. Whether the text parsed is in the id
/// itself (its top bit), so checking costs no memory access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextId(u32);

impl TextId {
    const INVALID: u32 = 1 << 31;

    /// Whether the text parsed (otherwise [`Matcher::text`] gives the error).
    pub fn is_valid(self) -> bool {
        self.0 & Self::INVALID == 0
    }

    fn index(self) -> usize {
        (self.0 & !Self::INVALID) as usize
    }
}

/// A topic text compiled through the per-run cache, with the papers it
/// matches (evaluated once per run, not once per subscriber).
#[derive(Debug, Clone)]
pub struct MatchedText {
    pub query: CompiledQuery,
    pub papers: PaperSet,
    /// `papers.len()`, counted once.
    count: usize,
}

impl MatchedText {
    /// How many papers the text matches.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Matcher {
    /// Indexes the day's papers; paper indices in results refer to `papers`.
    pub fn new(papers: &[Paper]) -> Self {
        let stemmer = EnglishStemmer::new();
        let title = FieldIndex::build(papers, |p| vec![p.title.as_str()], Some(&stemmer));
        let abstract_text =
            FieldIndex::build(papers, |p| vec![p.abstract_text.as_str()], Some(&stemmer));
        let mut authors = FieldIndex::build(
            papers,
            |p| p.authors.iter().map(String::as_str).collect(),
            None,
        );
        authors.names = true;
        let category_words = FieldIndex::build(
            papers,
            |p| p.categories.iter().map(String::as_str).collect(),
            None,
        );
        Matcher {
            universe: papers.len(),
            title,
            abstract_text,
            authors,
            category_words,
            categories: papers
                .iter()
                .map(|p| {
                    p.categories
                        .iter()
                        .map(|c| c.trim().to_lowercase())
                        .collect()
                })
                .collect(),
            upvotes: papers.iter().map(|p| p.upvotes).collect(),
            stemmer,
            by_term: TextTable::default(),
            term_key: Vec::new(),
            terms: Vec::new(),
            by_key: TermMap::default(),
            atoms: Vec::new(),
            by_text: TextTable::default(),
            texts: Vec::new(),
            foreign: QueryError::at(0, "topic text compiled by another run"),
            likes: HashMap::new(),
        }
    }

    /// Says what `like:ID` matches: the papers (indices of the day) similar
    /// to paper `id`, titled `title`. Call it before compiling any query
    /// that uses `like:ID`: a `like:` term the matcher was not told about
    /// matches nothing, and a term once compiled keeps its papers.
    pub fn set_like(&mut self, id: &str, title: &str, papers: impl IntoIterator<Item = usize>) {
        let universe = self.universe;
        self.likes.insert(
            id.to_string(),
            Like {
                title: title.to_string(),
                papers: papers.into_iter().filter(|&p| p < universe).collect(),
            },
        );
    }

    /// Whether [`Matcher::set_like`] was called for `id`.
    pub fn knows_like(&self, id: &str) -> bool {
        self.likes.contains_key(id)
    }

    /// How many papers were indexed.
    pub fn paper_count(&self) -> usize {
        self.universe
    }

    /// How many distinct atoms all compiled queries have used so far.
    pub fn atom_count(&self) -> usize {
        self.atoms.len()
    }

    /// Lowers `q` to a program over cached atoms, computing the paper set of
    /// any atom not seen before.
    pub fn compile(&mut self, q: &Query) -> CompiledQuery {
        let mut out = CompiledQuery {
            ops: Vec::new(),
            leaves: Vec::new(),
        };
        self.lower(&q.root, &mut out);
        out
    }

    /// The id of a topic text in this run's cache, parsing, compiling and
    /// matching it the first time it is seen (a parse error is remembered
    /// the same way).
    pub fn text_id(&mut self, text: &str) -> TextId {
        self.text_entry(text).0
    }

    /// [`Matcher::text_id`] and how many papers the text matches.
    fn text_entry(&mut self, text: &str) -> (TextId, usize) {
        if let Some((id, count)) = self.by_text.get(text.as_bytes()) {
            return (TextId(id), count as usize);
        }
        self.insert_text(text, Query::parse(text))
    }

    /// [`Matcher::text_id`] of each text, in order, with how many papers
    /// it matches. Same answers as one call per text; a page of lookups
    /// at once lets their cache misses overlap.
    pub fn text_ids(&mut self, texts: &[&str]) -> Vec<(TextId, usize)> {
        let mut found = Vec::with_capacity(texts.len());
        self.by_text.get_many(texts, &mut found);
        texts
            .iter()
            .zip(found)
            .map(|(text, entry)| match entry {
                Some((id, count)) => (TextId(id), count as usize),
                // New, or added by an earlier text of this page.
                None => self.text_entry(text),
            })
            .collect()
    }

    /// The id of a topic text already in this run's cache.
    pub fn lookup(&self, text: &str) -> Option<TextId> {
        self.by_text.get(text.as_bytes()).map(|(id, _)| TextId(id))
    }

    /// Adds a topic text the cache does not hold yet: compiles and matches
    /// it.
    fn insert_text(&mut self, text: &str, parsed: Result<Query, QueryError>) -> (TextId, usize) {
        let compiled = parsed.map(|q| {
            let query = self.compile(&q);
            let papers = self.matches(&query);
            MatchedText {
                count: papers.len(),
                query,
                papers,
            }
        });
        let index = self.texts.len() as u32;
        let (id, count) = match &compiled {
            Ok(m) => (TextId(index), m.count),
            Err(_) => (TextId(index | TextId::INVALID), 0),
        };
        self.texts.push(compiled);
        self.by_text.insert(text.as_bytes(), (id.0, count as u32));
        (id, count)
    }

    /// How many papers a cached text matches (0 for an unknown id or a
    /// text that does not parse).
    pub fn text_len(&self, id: TextId) -> usize {
        self.text(id).map_or(0, MatchedText::len)
    }

    /// A cached text: its program and papers, or why it does not parse.
    /// An id this matcher never handed out is an error, not a panic.
    pub fn text(&self, id: TextId) -> Result<&MatchedText, &QueryError> {
        match self.texts.get(id.index()) {
            Some(r) => r.as_ref(),
            None => Err(&self.foreign),
        }
    }

    /// Parses and compiles a topic's query text, or returns the program (or
    /// the parse error) cached for the same text earlier in this run.
    pub fn compile_text(&mut self, text: &str) -> Result<&CompiledQuery, QueryError> {
        let id = self.text_id(text);
        self.text(id).map(|m| &m.query).map_err(Clone::clone)
    }

    /// How many distinct topic texts [`Matcher::text_id`] has seen.
    pub fn text_count(&self) -> usize {
        self.texts.len()
    }

    fn lower(&mut self, e: &Expr, out: &mut CompiledQuery) {
        match e {
            Expr::Term(t) => {
                let (term, atom) = self.intern(t);
                out.ops.push(Op::Atom(atom));
                out.leaves.push(Leaf { term });
            }
            Expr::Not(inner) => {
                self.lower(inner, out);
                out.ops.push(Op::Not);
            }
            Expr::And(es) | Expr::Or(es) => {
                for c in es {
                    self.lower(c, out);
                }
                let n = es.len() as u32;
                out.ops.push(if matches!(e, Expr::And(_)) {
                    Op::And(n)
                } else {
                    Op::Or(n)
                });
            }
        }
    }

    fn intern(&mut self, t: &Term) -> (u32, u32) {
        let mut key = std::mem::take(&mut self.term_key);
        encode_term(t, &mut key);
        let found = match self.by_term.get(&key) {
            Some(found) => found,
            None => {
                let found = self.intern_new(t);
                self.by_term.insert(&key, found);
                found
            }
        };
        self.term_key = key;
        found
    }

    /// Adds a term [`Matcher::intern`] has not seen: its label, and its
    /// atom unless an equivalent term made it already.
    fn intern_new(&mut self, t: &Term) -> (u32, u32) {
        let key = match t {
            Term::Text { scope, words } => AtomKey::Text(*scope, words.clone()),
            Term::Category { pattern, prefix } => {
                AtomKey::Category(pattern.to_lowercase(), *prefix)
            }
            Term::Upvotes { op, value } => AtomKey::Upvotes(*op, *value),
            Term::Like { id } => AtomKey::Like(id.clone()),
        };
        let atom = match self.by_key.get(&key) {
            Some(&id) => id,
            None => {
                let set = self.evaluate_atom(t);
                let id = self.atoms.len() as u32;
                self.atoms.push(set);
                self.by_key.insert(key, id);
                id
            }
        };
        let id = self.terms.len() as u32;
        // "like:ID (similar: ‘TITLE’)": the id alone says little to a reader.
        let label = match t {
            Term::Like { id } => match self.likes.get(id) {
                Some(like) => format!("{t} (similar: ‘{}’)", like.title),
                None => t.to_string(),
            },
            _ => t.to_string(),
        };
        self.terms.push(MatchedTerm {
            label: label.into(),
            term: std::sync::Arc::new(t.clone()),
        });
        (id, atom)
    }

    fn evaluate_atom(&self, t: &Term) -> PaperSet {
        let n = self.universe;
        match t {
            Term::Text { scope, words } => {
                let fields: &[&FieldIndex] = match scope {
                    Scope::Default => &[&self.title, &self.abstract_text],
                    Scope::Title => &[&self.title],
                    Scope::Abstract => &[&self.abstract_text],
                    Scope::Author => &[&self.authors],
                    Scope::All => &[
                        &self.title,
                        &self.abstract_text,
                        &self.authors,
                        &self.category_words,
                    ],
                };
                let mut set = PaperSet::empty(n);
                for f in fields {
                    set.or_with(&f.find(words, &self.stemmer, n));
                }
                set
            }
            Term::Category { pattern, prefix } => {
                let mut set = PaperSet::empty(n);
                for (p, cats) in self.categories.iter().enumerate() {
                    if cats
                        .iter()
                        .any(|c| Term::category_matches(pattern, *prefix, c))
                    {
                        set.insert(p);
                    }
                }
                set
            }
            Term::Upvotes { op, value } => {
                let mut set = PaperSet::empty(n);
                for (p, up) in self.upvotes.iter().enumerate() {
                    if up.is_some_and(|u| op.holds(u, *value)) {
                        set.insert(p);
                    }
                }
                set
            }
            Term::Like { id } => {
                let mut set = PaperSet::empty(n);
                for &p in self.likes.get(id).map_or(&[][..], |l| &l.papers[..]) {
                    set.insert(p);
                }
                set
            }
        }
    }

    /// The papers matching a compiled query. `NOT` is relative to all of
    /// the day's papers.
    pub fn matches(&self, q: &CompiledQuery) -> PaperSet {
        use std::borrow::Cow;
        let empty = PaperSet::empty(self.universe);
        // Atoms are borrowed from the cache; a set is copied only when an
        // operator first has to change it.
        let mut stack: Vec<Cow<'_, PaperSet>> = Vec::with_capacity(8);
        for op in &q.ops {
            match *op {
                // A query compiled by another matcher selects nothing
                // rather than panicking.
                Op::Atom(a) => {
                    stack.push(Cow::Borrowed(self.atoms.get(a as usize).unwrap_or(&empty)))
                }
                Op::Not => {
                    if let Some(top) = stack.last_mut() {
                        top.to_mut().invert();
                    }
                }
                Op::And(n) | Op::Or(n) => {
                    let Some(mut acc) = stack.pop() else { continue };
                    for _ in 1..n {
                        let Some(s) = stack.pop() else { break };
                        if matches!(op, Op::And(_)) {
                            acc.to_mut().and_with(&s);
                        } else {
                            acc.to_mut().or_with(&s);
                        }
                    }
                    stack.push(acc);
                }
            }
        }
        match stack.pop() {
            Some(set) => set.into_owned(),
            None => empty,
        }
    }

    /// Why `paper` matched `q`: the terms, outside any `NOT`, of the
    /// branches that made the query true for it (in `(a b) OR c`, `a` is
    /// not listed when `b` is missing), each label once, in query order.
    /// Empty when the paper does not match.
    pub fn explain(&self, q: &CompiledQuery, paper: usize) -> Vec<MatchedTerm> {
        // Per paper, a boolean evaluation of the program that carries, for
        // each true sub-expression, the leaves that made it true.
        let mut stack: Vec<(bool, Vec<u32>)> = Vec::new();
        let mut leaves = q.leaves.iter();
        for op in &q.ops {
            match *op {
                Op::Atom(a) => {
                    let leaf = leaves.next().map_or(u32::MAX, |l| l.term);
                    let hit = self
                        .atoms
                        .get(a as usize)
                        .is_some_and(|s| s.contains(paper));
                    stack.push((hit, if hit { vec![leaf] } else { Vec::new() }));
                }
                Op::Not => {
                    if let Some(top) = stack.last_mut() {
                        *top = (!top.0, Vec::new());
                    }
                }
                Op::And(n) | Op::Or(n) => {
                    let base = stack.len().saturating_sub(n as usize);
                    let children = stack.split_off(base);
                    let is_and = matches!(op, Op::And(_));
                    let value = if is_and {
                        children.iter().all(|c| c.0)
                    } else {
                        children.iter().any(|c| c.0)
                    };
                    let why = if value {
                        children
                            .into_iter()
                            .filter(|c| c.0)
                            .flat_map(|c| c.1)
                            .collect()
                    } else {
                        Vec::new()
                    };
                    stack.push((value, why));
                }
            }
        }
        let Some((true, mut why)) = stack.pop() else {
            return Vec::new();
        };
        why.sort_unstable();
        let mut out: Vec<MatchedTerm> = Vec::new();
        for t in why {
            if let Some(matched) = self.terms.get(t as usize) {
                if !out.iter().any(|m| m.label == matched.label) {
                    out.push(matched.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaperId;
    use crate::matching::query::{Comparison, Field};
    use crate::matching::words::tokenize;
    use proptest::prelude::*;

    fn paper(title: &str, abs: &str, authors: &[&str], cats: &[&str], up: Option<i64>) -> Paper {
        let mut p = Paper::new(
            PaperId::from_stored(format!("p:{title}")),
            title,
            abs,
            "https://example.org",
        );
        p.authors = authors.iter().map(|s| s.to_string()).collect();
        p.categories = cats.iter().map(|s| s.to_string()).collect();
        p.upvotes = up;
        p
    }

    fn corpus() -> Vec<Paper> {
        vec![
            // 0
            paper(
                "Diffusion Models for Image Synthesis",
                "We train denoising diffusion models at scale.",
                &["Geoffrey E. Hinton", "Ann Lee"],
                &["cs.CV", "cs.LG"],
                Some(42),
            ),
            // 1
            paper(
                "Test-Time Training of Transformers",
                "Transformers adapt at test time using self-supervision.",
                &["Boglárka Tóth"],
                &["cs.LG", "stat.ML"],
                Some(3),
            ),
            // 2
            paper(
                "Primordial Soup Chemistry",
                "Soups of amino acids and flow reactors.",
                &["Geoffrey Hinton"],
                &["astro-ph.GA"],
                None,
            ),
            // 3
            paper(
                "Normalizing Flows and Flow Matching",
                "A study of test set time complexity; the model diffuses.",
                &["Lee Geoffrey", "Hinton Smith"],
                &["stat.ML"],
                Some(0),
            ),
        ]
    }

    fn run(matcher: &mut Matcher, q: &str) -> Vec<usize> {
        let q = Query::parse(q).unwrap_or_else(|e| panic!("{q}: {e}"));
        let c = matcher.compile(&q);
        matcher.matches(&c).iter().collect()
    }

    #[test]
    fn queries_select_exactly_the_expected_papers() {
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        let table: &[(&str, &[usize])] = &[
            // Porter2 conflates "diffusion" and "diffuses".
            ("diffusion", &[0, 3]),
            ("Diffusion", &[0, 3]),
            ("\"diffusion models\"", &[0]),
            ("\"models diffusion\"", &[3]),
            ("diffus*", &[0, 3]),
            ("ti:diffus*", &[0]),
            ("abs:diffusion", &[0, 3]),
            ("ti:diffusion", &[0]),
            ("transformer", &[1]),
            ("soup", &[2]),
            ("ti:soups", &[2]),
            ("test-time", &[1]),
            ("\"test time\"", &[1]),
            ("test time", &[1, 3]),
            ("flow OR soup", &[2, 3]),
            ("flow soup", &[2]),
            ("flow AND NOT soup", &[3]),
            ("flow ANDNOT soup", &[3]),
            ("flow -soup", &[3]),
            ("NOT flow", &[0, 1]),
            ("-cat:cs", &[2, 3]),
            ("ti:diffusion OR transformer flow", &[0]),
            ("(ti:diffusion OR transformer) flow", &[]),
            ("(diffusion OR transformer) cs", &[]),
            ("au:hinton", &[0, 2, 3]),
            ("au:\"geoffrey hinton\"", &[0, 2]),
            ("au:geoffrey_hinton", &[0, 2]),
            ("au:\"hinton smith\"", &[3]),
            ("au:\"geoffrey lee\"", &[]),
            ("au:\"ann lee geoffrey\"", &[]),
            ("au:Boglarka", &[1]),
            ("au:boglárka", &[1]),
            ("au:hint*", &[0, 2, 3]),
            ("hinton", &[]),
            ("all:hinton", &[0, 2, 3]),
            ("all:lg", &[0, 1]),
            ("all:astro-ph", &[2]),
            ("cat:cs.LG", &[0, 1]),
            ("cat:CS.lg", &[0, 1]),
            ("cat:cs", &[0, 1]),
            ("cat:cs.*", &[0, 1]),
            ("cat:astro-ph", &[2]),
            ("cat:astro*", &[2]),
            // An archive is a whole dotted component, not a string prefix.
            ("cat:astro", &[]),
            ("cat:stat.ML cat:cs.LG", &[1]),
            ("cat:(cs.CV OR astro-ph.GA)", &[0, 2]),
            ("cat:c", &[]),
            ("upvotes>=3", &[0, 1]),
            ("upvotes>3", &[0]),
            ("upvotes<3", &[3]),
            ("upvotes<=3", &[1, 3]),
            ("upvotes=0", &[3]),
            ("NOT upvotes>=1", &[2, 3]),
            ("ti:(flow OR soup) au:hinton", &[2, 3]),
            ("and", &[2, 3]),
            ("flow and soup", &[2]),
            ("\"flow matching\" OR \"amino acid\"", &[2, 3]),
            ("\"large lang*\"", &[]),
            ("\"self super*\"", &[1]),
        ];
        for (q, want) in table {
            assert_eq!(&run(&mut m, q), want, "query {q}");
        }
    }

    fn labels_of(m: &Matcher, c: &CompiledQuery, p: usize) -> Vec<String> {
        m.explain(c, p)
            .into_iter()
            .map(|t| t.label.to_string())
            .collect()
    }

    #[test]
    fn explain_lists_the_terms_of_the_branches_that_matched() {
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        let q =
            Query::parse("ti:diffusion AND cat:cs.LG -soup OR transformer OR au:hinton").unwrap();
        let c = m.compile(&q);
        let labels = |p| {
            m.explain(&c, p)
                .into_iter()
                .map(|t| t.label.to_string())
                .collect::<Vec<_>>()
        };
        // Paper 0 satisfies both branches; paper 1 only the second, so its
        // cat:cs.LG (from the failed first branch) is not a reason.
        assert_eq!(labels(0), ["ti:diffusion", "cat:cs.LG", "au:hinton"]);
        assert_eq!(labels(1), ["transformer"]);
        assert_eq!(labels(2), ["au:hinton"]);
        let not_not = m.compile(&Query::parse("soup OR NOT flow").unwrap());
        assert!(m.explain(&not_not, 0).is_empty(), "a NOT is never a reason");
        assert_eq!(labels_of(&m, &not_not, 2), ["soup"]);
        let hyph = m.compile(&Query::parse("test-time").unwrap());
        assert_eq!(&*m.explain(&hyph, 1)[0].label, "\"test time\"");
        assert!(m.explain(&hyph, 0).is_empty());
    }

    #[test]
    fn an_author_phrase_skips_middle_names_and_initials_but_never_joins_two_authors() {
        let papers = vec![
            paper("A", "x", &["Geoffrey E. Hinton", "Yann LeCun"], &[], None),
            paper("B", "x", &["Geoffrey Smith", "Ann Hinton"], &[], None),
            paper("C", "x", &["Hinton Geoffrey"], &[], None),
            paper("D", "Geoffrey E. Hinton", &["Someone Else"], &[], None),
        ];
        let mut m = Matcher::new(&papers);
        let mut hits = |q: &str| {
            let c = m.compile(&Query::parse(q).unwrap());
            m.matches(&c).iter().collect::<Vec<_>>()
        };
        assert_eq!(hits("au:\"geoffrey hinton\""), vec![0]);
        assert_eq!(hits("au:\"geoffrey e hinton\""), vec![0]);
        assert_eq!(hits("au:\"hinton geoffrey\""), vec![2], "order counts");
        assert_eq!(hits("au:\"geoff* hinton\""), vec![0]);
        // Titles and abstracts keep strict adjacency.
        assert_eq!(hits("ti:\"geoffrey hinton\""), Vec::<usize>::new());
        assert_eq!(hits("all:\"geoffrey hinton\""), vec![0]);
    }

    #[test]
    fn matchers_and_compiled_queries_can_be_shared_across_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Matcher>();
        shareable::<CompiledQuery>();
        shareable::<PaperSet>();
    }

    #[test]
    fn a_query_compiled_by_another_matcher_selects_nothing_instead_of_panicking() {
        let papers = corpus();
        let mut big = Matcher::new(&papers);
        for q in ["a", "b", "c", "diffusion"] {
            big.compile(&Query::parse(q).unwrap());
        }
        let foreign = big.compile(&Query::parse("diffusion").unwrap());
        let small = Matcher::new(&papers[..1]);
        assert!(small.matches(&foreign).is_empty());
        assert!(small.explain(&foreign, 0).is_empty());
        assert!(big.explain(&foreign, 99).is_empty());
    }

    #[test]
    fn like_matches_the_papers_the_caller_resolved_and_explains_with_the_title() {
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        m.set_like("2406.12345", "Diffusion for all", [0, 2, 999]);
        let q: Query = "like:2406.12345v3 AND NOT cat:none".parse().unwrap();
        let c = m.compile(&q);
        assert_eq!(m.matches(&c).iter().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(
            labels_of(&m, &c, 2),
            ["like:2406.12345 (similar: ‘Diffusion for all’)"]
        );
        // Composes as any atom.
        let c = m.compile(&"NOT like:2406.12345".parse().unwrap());
        assert!(!m.matches(&c).contains(0) && m.matches(&c).contains(1));
        // An id the caller did not resolve matches nothing.
        let c = m.compile(&"like:hep-th/9901001".parse().unwrap());
        assert!(m.matches(&c).is_empty());
        assert!(!m.knows_like("hep-th/9901001") && m.knows_like("2406.12345"));
    }

    #[test]
    fn an_empty_day_matches_nothing() {
        let mut m = Matcher::new(&[]);
        let c = m.compile(&Query::parse("NOT diffusion").unwrap());
        assert!(m.matches(&c).is_empty());
        assert_eq!(m.paper_count(), 0);
    }

    #[test]
    fn a_topic_text_is_parsed_once_per_run_and_its_error_is_remembered() {
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        let a = m.text_id("ti:diffusion OR soup");
        let b = m.text_id("ti:diffusion OR soup");
        assert_eq!(a, b, "the second call reuses the first program");
        let cached = m.text(b).unwrap();
        assert_eq!(cached.papers.iter().collect::<Vec<_>>(), [0, 2]);
        assert_eq!(m.matches(&cached.query), cached.papers);
        assert_eq!(cached.len(), 2);
        let err = m.compile_text("(unbalanced").unwrap_err();
        assert_eq!(m.compile_text("(unbalanced").unwrap_err(), err);
        assert_eq!(m.text_count(), 2);
        // The same query written differently is a different text, same papers.
        let c = m.text_id("soup OR ti:diffusion");
        assert_ne!(c, a);
        assert_eq!(m.text(c).unwrap().papers, m.text(a).unwrap().papers);
        // An id from another run's matcher is an error, not a panic.
        let other = Matcher::new(&papers[..1]);
        assert!(other.text(c).is_err());
    }

    #[test]
    fn a_page_of_texts_gets_the_ids_and_counts_of_lookups_one_by_one() {
        let papers = corpus();
        // Repeats within the page, a text new to the run twice, a bad one.
        let page = [
            "ti:diffusion",
            "soup",
            "ti:diffusion",
            "\"unclosed",
            "au:hinton OR cat:cs.LG",
            "soup",
            "\"unclosed",
        ];
        let mut batched = Matcher::new(&papers);
        batched.text_id("soup");
        let got = batched.text_ids(&page);
        let mut single = Matcher::new(&papers);
        single.text_id("soup");
        let want: Vec<(TextId, usize)> = page
            .iter()
            .map(|t| {
                let id = single.text_id(t);
                (id, single.text_len(id))
            })
            .collect();
        assert_eq!(got, want);
        assert_eq!(batched.text_count(), 4);
        assert!(!got[3].0.is_valid());
        assert!(got[0].1 > 0);
    }

    #[test]
    fn equivalent_terms_share_one_cached_atom() {
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        for q in [
            "cat:cs.LG",
            "cat:CS.LG",
            "Diffusion",
            "diffusion",
            "\"diffusion\"",
            "x diffusion",
        ] {
            m.compile(&Query::parse(q).unwrap());
        }
        // cs.lg, diffusion, x
        assert_eq!(m.atom_count(), 3);
    }

    #[test]
    fn ten_thousand_random_queries_reuse_a_small_atom_cache() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let papers = corpus();
        let mut m = Matcher::new(&papers);
        let mut runner = TestRunner::deterministic();
        let strategy = arb_expr();
        let mut distinct = std::collections::HashSet::new();
        let mut occurrences = 0;
        for _ in 0..10_000 {
            let e = strategy.new_tree(&mut runner).unwrap().current();
            occurrences += collect_terms(&e, &mut distinct);
            let c = m.compile(&Query { root: e });
            let _ = m.matches(&c);
        }
        // One atom per distinct term (the generator emits normalised
        // terms), however often it recurs.
        assert_eq!(m.atom_count(), distinct.len());
        assert!(
            occurrences > 5 * distinct.len(),
            "{occurrences} vs {}",
            distinct.len()
        );
    }

    /// Not a benchmark gate: prints compile + match throughput for a
    /// synthetic day (`cargo test --release -- --ignored throughput`).
    #[test]
    #[ignore]
    fn throughput_on_a_synthetic_day() {
        let words: Vec<String> = (0..5000).map(|i| format!("w{i}x")).collect();
        let mut seed = 12345u64;
        let mut rnd = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            // Skewed towards small indices, like word frequencies.
            let r = (seed % 1_000_000) as f64 / 1_000_000.0;
            ((r * r * r) * n as f64) as usize
        };
        let text = |rnd: &mut dyn FnMut(usize) -> usize, len: usize| {
            (0..len)
                .map(|_| words[rnd(words.len())].as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let papers: Vec<Paper> = (0..1000)
            .map(|i| {
                let t = text(&mut rnd, 10);
                let a = text(&mut rnd, 180);
                let mut p = paper(&t, &a, &["Ann Lee", "Bo Chen"], &["cs.LG"], Some(i % 30));
                p.id = PaperId::from_stored(format!("p{i}"));
                p
            })
            .collect();
        let topics: Vec<Query> = (0..20_000)
            .map(|i| {
                let a = &words[rnd(words.len())];
                let b = &words[rnd(words.len())];
                let c = &words[rnd(words.len())];
                let q = match i % 4 {
                    0 => format!("ti:{a} OR abs:\"{b} {c}\""),
                    1 => format!("{a} {b} -{c} cat:cs.LG"),
                    2 => format!("({a} OR {b}*) upvotes>=5"),
                    _ => format!("au:lee OR all:{a}"),
                };
                Query::parse(&q).unwrap()
            })
            .collect();
        let started = std::time::Instant::now();
        let mut m = Matcher::new(&papers);
        let indexed = started.elapsed();
        let mut hits = 0usize;
        let n = 300_000;
        let mut compiling = std::time::Duration::ZERO;
        for i in 0..n {
            let t = std::time::Instant::now();
            let c = m.compile(&topics[(i * 7919) % topics.len()]);
            compiling += t.elapsed();
            hits += m.matches(&c).len();
        }
        let total = started.elapsed();
        let warm = std::time::Instant::now();
        for i in 0..n {
            let c = m.compile(&topics[(i * 7919) % topics.len()]);
            hits += m.matches(&c).len();
        }
        eprintln!("warm: {n} queries in {:?}", warm.elapsed());
        eprintln!(
            "index {indexed:?}; {n} queries in {:?} of which compile {compiling:?} ({} atoms, {hits} hits)",
            total - indexed,
            m.atom_count()
        );
    }

    /// Adds the terms of `e` to `out`; returns how many occurrences it has.
    fn collect_terms(e: &Expr, out: &mut std::collections::HashSet<Term>) -> usize {
        match e {
            Expr::Term(t) => {
                out.insert(t.clone());
                1
            }
            Expr::Not(e) => collect_terms(e, out),
            Expr::And(es) | Expr::Or(es) => es.iter().map(|e| collect_terms(e, out)).sum(),
        }
    }

    // A naive evaluator that scans each paper's texts directly, sharing
    // only tokenisation with the index.
    fn reference_matches(p: &Paper, e: &Expr) -> bool {
        match e {
            Expr::Not(e) => !reference_matches(p, e),
            Expr::And(es) => es.iter().all(|e| reference_matches(p, e)),
            Expr::Or(es) => es.iter().any(|e| reference_matches(p, e)),
            Expr::Term(Term::Upvotes { op, value }) => {
                p.upvotes.is_some_and(|u| op.holds(u, *value))
            }
            // Never generated below: a `like:` needs the caller's papers.
            Expr::Term(Term::Like { .. }) => false,
            Expr::Term(Term::Category { pattern, prefix }) => p
                .categories
                .iter()
                .any(|c| Term::category_matches(pattern, *prefix, c)),
            Expr::Term(Term::Text { scope, words }) => {
                let stemmer = EnglishStemmer::new();
                let fields = [
                    Field::Title,
                    Field::Abstract,
                    Field::Author,
                    Field::Category,
                ];
                fields.into_iter().filter(|f| scope.covers(*f)).any(|f| {
                    let texts: Vec<&str> = match f {
                        Field::Title => vec![&p.title],
                        Field::Abstract => vec![&p.abstract_text],
                        Field::Author => p.authors.iter().map(String::as_str).collect(),
                        Field::Category => p.categories.iter().map(String::as_str).collect(),
                    };
                    let same = |tok: &String, word: &Word| {
                        if word.prefix {
                            tok.starts_with(&word.text)
                        } else if f.is_stemmed() {
                            stemmer.stem(tok) == stemmer.stem(&word.text)
                        } else {
                            *tok == word.text
                        }
                    };
                    texts.into_iter().any(|t| {
                        let toks: Vec<String> = tokenize(t).into_iter().map(|t| t.folded).collect();
                        if f == Field::Author {
                            // Names: the words in order, anything between.
                            let mut rest = toks.iter();
                            words.iter().all(|w| rest.any(|tok| same(tok, w)))
                        } else {
                            toks.windows(words.len())
                                .any(|w| w.iter().zip(words).all(|(tok, word)| same(tok, word)))
                        }
                    })
                })
            }
        }
    }

    const VOCAB: &[&str] = &[
        "flow",
        "flows",
        "model",
        "models",
        "test",
        "time",
        "diffusion",
        "lee",
        "cs",
        "lg",
    ];

    fn arb_words() -> impl Strategy<Value = Vec<Word>> {
        proptest::collection::vec(
            (proptest::sample::select(VOCAB), any::<bool>()).prop_map(|(w, p)| Word {
                text: if p { w[..2].to_string() } else { w.to_string() },
                prefix: p,
            }),
            1..3,
        )
    }

    fn arb_term() -> impl Strategy<Value = Term> {
        let scope = proptest::sample::select(vec![
            Scope::Default,
            Scope::Title,
            Scope::Abstract,
            Scope::Author,
            Scope::All,
        ]);
        prop_oneof![
            4 => (scope, arb_words()).prop_map(|(scope, words)| Term::Text { scope, words }),
            1 => (proptest::sample::select(vec!["cs", "cs.LG", "stat.ML", "cs.", "st"]), any::<bool>())
                .prop_map(|(p, prefix)| Term::Category { pattern: p.to_string(), prefix }),
            1 => (proptest::sample::select(vec![Comparison::Ge, Comparison::Lt, Comparison::Eq]), 0i64..5)
                .prop_map(|(op, value)| Term::Upvotes { op, value }),
        ]
    }

    fn arb_expr() -> impl Strategy<Value = Expr> {
        arb_term()
            .prop_map(Expr::Term)
            .prop_recursive(4, 20, 3, |inner| {
                prop_oneof![
                    inner.clone().prop_map(|e| Expr::Not(Box::new(e))),
                    proptest::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
                    proptest::collection::vec(inner, 2..4).prop_map(Expr::Or),
                ]
            })
    }

    fn arb_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::sample::select(VOCAB).prop_map(str::to_string),
                1 => proptest::sample::select(vec!["Flow", "Test-Time", "modelling", "Lée", "x"]).prop_map(str::to_string),
            ],
            0..8,
        )
        .prop_map(|w| w.join(" "))
    }

    fn arb_paper() -> impl Strategy<Value = Paper> {
        (
            arb_text(),
            arb_text(),
            proptest::collection::vec(arb_text(), 0..3),
            proptest::collection::vec(
                proptest::sample::select(vec!["cs.LG", "cs.CV", "stat.ML", "cs"]),
                0..3,
            ),
            proptest::option::of(0i64..5),
        )
            .prop_map(|(t, a, au, cats, up)| {
                let au: Vec<&str> = au.iter().map(String::as_str).collect();
                paper(&t, &a, &au, &cats, up)
            })
    }

    proptest! {
        #[test]
        fn terms_encode_alike_only_when_equal(a in arb_term(), b in arb_term()) {
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            encode_term(&a, &mut ka);
            encode_term(&b, &mut kb);
            prop_assert_eq!(ka == kb, a == b, "{:?} / {:?}", a, b);
        }

        /// A word list never encodes like another split differently.
        #[test]
        fn word_boundaries_are_part_of_the_encoding(words in arb_words()) {
            let joined = Term::Text {
                scope: Scope::Title,
                words: vec![Word {
                    text: words.iter().map(|w| w.text.as_str()).collect(),
                    prefix: false,
                }],
            };
            let split = Term::Text { scope: Scope::Title, words: words.clone() };
            let (mut kj, mut ks) = (Vec::new(), Vec::new());
            encode_term(&joined, &mut kj);
            encode_term(&split, &mut ks);
            prop_assert_eq!(kj == ks, joined == split);
        }

        #[test]
        fn bitset_evaluation_equals_a_naive_per_paper_scan(
            papers in proptest::collection::vec(arb_paper(), 0..70),
            queries in proptest::collection::vec(arb_expr(), 1..6),
        ) {
            let mut m = Matcher::new(&papers);
            for e in queries {
                let c = m.compile(&Query { root: e.clone() });
                let got: Vec<usize> = m.matches(&c).iter().collect();
                // Through the topic-text cache (twice: cold, then cached),
                // the canonical text selects the same papers.
                for _ in 0..2 {
                    let id = m.text_id(&e.to_string());
                    if let Ok(by_text) = m.text(id) {
                        prop_assert_eq!(by_text.papers.iter().collect::<Vec<_>>(), got.clone(), "{}", e);
                        prop_assert_eq!(m.matches(&by_text.query).iter().collect::<Vec<_>>(), got.clone(), "{}", e);
                    }
                }
                let want: Vec<usize> = (0..papers.len()).filter(|&i| reference_matches(&papers[i], &e)).collect();
                prop_assert_eq!(got, want, "{}", e);
            }
        }

        #[test]
        fn explained_terms_of_a_match_each_hold_for_the_paper(
            papers in proptest::collection::vec(arb_paper(), 1..20),
            e in arb_expr(),
        ) {
            let mut m = Matcher::new(&papers);
            let c = m.compile(&Query { root: e });
            for p in m.matches(&c).iter() {
                for t in m.explain(&c, p) {
                    prop_assert!(reference_matches(&papers[p], &Expr::Term(Term::clone(&t.term))), "{}", t.label);
                }
            }
        }
    }
}

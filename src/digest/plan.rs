//! Planning digests: which papers each subscriber gets, under which topic,
//! and why each matched, for a page of subscribers at a time. Pure: no I/O
//! (the caller reads the subscribers and their ledgers), so it is
//! unit-tested directly.

use std::collections::HashSet;

use smallvec::SmallVec;

use super::ranked::{RankedWindow, SubscriberRanking};
use super::top_papers::top_papers;
use crate::domain::{Paper, PaperId, Subscriber, Topic, RECOMMENDED_POSITION, TOP_PAPERS_POSITION};
use crate::matching::{CompiledQuery, MatchedTerm, Matcher, PaperSet, TextId};
use crate::ranking::{Standing, RECOMMEND_THRESHOLD};

/// A subscriber's topics compiled against the run's matcher: ids into its
/// per-run text cache, so a subscriber holds no reference counts and (up
/// to four topics) no heap allocation. Topics whose stored query no longer
/// parses are skipped (and reported by the caller).
pub struct CompiledTopics<'t> {
    /// Each topic that parsed, its text's id and how many papers the text
    /// matches.
    pub topics: SmallVec<[(&'t Topic, TextId, usize); 4]>,
    pub invalid: Vec<(&'t Topic, String)>,
}

impl<'t> CompiledTopics<'t> {
    /// Compiles through the matcher's per-run cache of topic texts, so a
    /// text shared by many subscribers is parsed and compiled once.
    pub fn compile(matcher: &mut Matcher, topics: &'t [Topic]) -> Self {
        let texts: SmallVec<[&str; 4]> = topics.iter().map(|t| t.query.as_str()).collect();
        let ids = matcher.text_ids(&texts);
        Self::from_ids(matcher, topics, &ids)
    }

    /// The topics, given their texts' entries from [`Matcher::text_ids`].
    fn from_ids(matcher: &Matcher, topics: &'t [Topic], ids: &[(TextId, usize)]) -> Self {
        let mut out = CompiledTopics {
            topics: SmallVec::new(),
            invalid: Vec::new(),
        };
        for (t, &(id, count)) in topics.iter().zip(ids) {
            if id.is_valid() {
                out.topics.push((t, id, count));
            } else if let Err(e) = matcher.text(id) {
                out.invalid.push((t, e.to_string()));
            }
        }
        out
    }

    /// Each compiled topic with its program, in the subscriber's order.
    pub fn queries<'a, 'm>(
        &'a self,
        matcher: &'m Matcher,
    ) -> impl Iterator<Item = (&'t Topic, &'m CompiledQuery)> + 'a
    where
        'm: 'a,
    {
        self.topics
            .iter()
            .filter_map(|&(t, id, _)| matcher.text(id).ok().map(|m| (t, &m.query)))
    }
}

/// Compiles and lists the candidates of a page of subscribers (each given
/// by its topics), in order: the same as [`CompiledTopics::compile`] and
/// [`candidate_sets`] per subscriber, but the page's topic texts are looked
/// up together ([`Matcher::text_ids`]) and the paper sets the overlap
/// checks read are touched first, so independent cache misses overlap.
/// (Spreading a page's lookups, new
/// texts and candidate sets over both cores with rayon was measured slower
/// than this loop on the 2-vCPU machine, 1.75-1.81 s vs 1.67-1.78 s at a
/// million subscribers: see BENCHMARKS.md.)
pub fn plan_page<'t>(
    matcher: &mut Matcher,
    page: &[&'t [Topic]],
) -> Vec<(CompiledTopics<'t>, Candidates)> {
    // The whole page's texts in one lookup: their cache misses overlap.
    let texts: Vec<&str> = page
        .iter()
        .flat_map(|topics| topics.iter().map(|t| t.query.as_str()))
        .collect();
    let ids = matcher.text_ids(&texts);
    touch_overlap_sets(matcher, page, &ids);
    let mut rest = ids.as_slice();
    page.iter()
        .map(|topics| {
            let (mine, after) = rest.split_at(topics.len());
            rest = after;
            let c = CompiledTopics::from_ids(matcher, topics, mine);
            let cands = candidate_sets(matcher, &c);
            (c, cands)
        })
        .collect()
}

/// Reads the first words of every paper set [`candidate_sets`] will compare
/// on this page (those of subscribers with two or more topics that matched
/// something), so that their cache misses overlap here rather than queue
/// one by one there. Changes nothing.
fn touch_overlap_sets(matcher: &Matcher, page: &[&[Topic]], ids: &[(TextId, usize)]) {
    let mut sink = 0u64;
    let mut rest = ids;
    for topics in page {
        let (mine, after) = rest.split_at(topics.len().min(rest.len()));
        rest = after;
        if mine.iter().filter(|(_, n)| *n > 0).count() < 2 {
            continue;
        }
        for &(id, n) in mine {
            if n > 0 {
                if let Ok(m) = matcher.text(id) {
                    sink ^= m.papers.words().first().copied().unwrap_or(0);
                }
            }
        }
    }
    std::hint::black_box(sink);
}

/// One paper of a planned digest.
#[derive(Debug, Clone)]
pub struct PlannedPaper {
    /// Index into the run's paper list.
    pub paper: usize,
    /// Position of the topic it is listed under (the first that matched).
    pub topic_position: i64,
    /// The terms that matched, across every topic that matched it.
    pub matched: Vec<MatchedTerm>,
    /// Why a recommended paper is there ("like ‘TITLE’, which you marked").
    pub reason: Option<String>,
}

/// Every paper matching any of the subscriber's topics, in mail order:
/// grouped by topic (the subscriber's order), then most upvoted first, then
/// the order of the run's paper list. A paper matching several topics is
/// listed once, under the first.
pub fn candidates(
    matcher: &Matcher,
    papers: &[Paper],
    topics: &CompiledTopics,
) -> Vec<PlannedPaper> {
    let mut seen = PaperSet::empty(papers.len());
    let mut out: Vec<PlannedPaper> = Vec::new();
    for (topic, compiled) in topics.queries(matcher) {
        let mut new = matcher.matches(compiled);
        new.and_not_with(&seen);
        seen.or_with(&new);
        let start = out.len();
        out.reserve(new.len());
        out.extend(new.iter().map(|i| PlannedPaper {
            paper: i,
            topic_position: topic.position,
            matched: Vec::new(),
            reason: None,
        }));
        // Almost free when the run's papers are already in mail order.
        out[start..].sort_by_key(|p| {
            (
                std::cmp::Reverse(papers[p.paper].upvotes.unwrap_or(-1)),
                p.paper,
            )
        });
    }
    out
}

/// Every paper matching any of a subscriber's topics, kept as bitsets: one
/// disjoint set per topic (a paper is under the first topic that matched
/// it). Listing them is left to [`finish_sets`], which stops at the cap.
#[derive(Debug, Clone, Default)]
pub struct Candidates {
    per_topic: SmallVec<[(i64, TopicSet); 3]>,
    count: usize,
}

/// A topic's papers in [`Candidates`]: the text's cached set as is when no
/// earlier topic matched any of its papers (the common case); only an
/// overlap makes a set of its own.
#[derive(Debug, Clone)]
enum TopicSet {
    Cached(TextId),
    Own(PaperSet),
}

impl TopicSet {
    fn get<'a>(&'a self, matcher: &'a Matcher) -> Option<&'a PaperSet> {
        match self {
            TopicSet::Cached(id) => matcher.text(*id).ok().map(|m| &m.papers),
            TopicSet::Own(set) => Some(set),
        }
    }
}

impl Candidates {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// How many papers matched.
    pub fn len(&self) -> usize {
        self.count
    }

    /// (paper index, topic position) in mail order, provided the run's
    /// papers are in mail order ([`sort_for_mail`]). `matcher` is the one
    /// that planned them.
    pub fn iter<'a>(&'a self, matcher: &'a Matcher) -> impl Iterator<Item = (usize, i64)> + 'a {
        self.per_topic.iter().flat_map(move |(pos, set)| {
            set.get(matcher)
                .into_iter()
                .flat_map(move |s| s.iter().map(move |i| (i, *pos)))
        })
    }

    /// Whether paper `i` is among them.
    pub fn contains(&self, matcher: &Matcher, i: usize) -> bool {
        self.per_topic
            .iter()
            .any(|(_, s)| s.get(matcher).is_some_and(|s| s.contains(i)))
    }
}

/// [`candidates`] as bitsets, from the topics' cached paper sets: a few
/// word operations per topic and no allocation for a subscriber nothing
/// matched (most, on a small day). `papers` must be in mail order.
pub fn candidate_sets(matcher: &Matcher, topics: &CompiledTopics) -> Candidates {
    let mut out = Candidates::default();
    // The earlier topics that matched anything; their sets are read only
    // when a later topic also matched something (an overlap check).
    let mut earlier: SmallVec<[TextId; 4]> = SmallVec::new();
    for &(topic, id, n) in &topics.topics {
        if n == 0 {
            continue;
        }
        if earlier.is_empty() {
            earlier.push(id);
            out.count += n;
            out.per_topic.push((topic.position, TopicSet::Cached(id)));
            continue;
        }
        let Ok(text) = matcher.text(id) else { continue };
        let before: SmallVec<[&PaperSet; 4]> = earlier
            .iter()
            .filter_map(|&e| matcher.text(e).ok().map(|m| &m.papers))
            .collect();
        earlier.push(id);
        // A paper is listed under the first topic that matched it: this
        // topic keeps only the papers no earlier topic has.
        let set = &text.papers;
        let words = set.words();
        let seen = |i: usize| {
            before
                .iter()
                .fold(0, |acc, s| acc | s.words().get(i).copied().unwrap_or(0))
        };
        let overlaps = (0..words.len()).any(|i| words[i] & seen(i) != 0);
        let (kept, n) = if overlaps {
            let own = PaperSet::from_words(
                (0..words.len()).map(|i| words[i] & !seen(i)).collect(),
                set.universe(),
            );
            let n = own.len();
            (TopicSet::Own(own), n)
        } else {
            (TopicSet::Cached(id), n)
        };
        if n > 0 {
            out.count += n;
            out.per_topic.push((topic.position, kept));
        }
    }
    out
}

/// [`finish`] over [`Candidates`]: drops papers already sent, keeps the
/// first `max_papers` in mail order and explains them; returns them and how
/// many more (not yet sent) papers matched.
pub fn finish_sets(
    matcher: &Matcher,
    papers: &[Paper],
    topics: &CompiledTopics,
    candidates: &Candidates,
    already_sent: &HashSet<PaperId>,
    max_papers: usize,
) -> (Vec<PlannedPaper>, usize) {
    let sent_among = if already_sent.is_empty() {
        0
    } else {
        papers
            .iter()
            .enumerate()
            .filter(|(i, p)| already_sent.contains(&p.id) && candidates.contains(matcher, *i))
            .count()
    };
    let unsent = candidates.len() - sent_among;
    let mut kept: Vec<PlannedPaper> = candidates
        .iter(matcher)
        .filter(|(i, _)| sent_among == 0 || !already_sent.contains(&papers[*i].id))
        .take(max_papers)
        .map(|(paper, topic_position)| PlannedPaper {
            paper,
            topic_position,
            matched: Vec::new(),
            reason: None,
        })
        .collect();
    explain_all(matcher, topics, &mut kept);
    let more = unsent - kept.len();
    (kept, more)
}

/// [`finish_sets`] for a subscriber ranked by their marks: the cap keeps
/// the most relevant of the papers not yet sent (a paper marked "less" is
/// never kept, papers close to one come last), listed by topic in the
/// subscriber's order and, within a topic, most relevant first (upvotes
/// break ties). Returns them and how many more (not sent, not removed)
/// matched.
pub fn finish_ranked(
    matcher: &Matcher,
    papers: &[Paper],
    topics: &CompiledTopics,
    candidates: &Candidates,
    already_sent: &HashSet<PaperId>,
    max_papers: usize,
    ranking: &SubscriberRanking,
) -> (Vec<PlannedPaper>, usize) {
    let unsent: Vec<(usize, i64)> = candidates
        .iter(matcher)
        .filter(|(i, _)| !already_sent.contains(&papers[*i].id))
        .collect();
    let mut order: Vec<usize> = unsent.iter().map(|&(i, _)| i).collect();
    let dropped = |i: usize| ranking.ranking.standing(i) == Standing::Removed;
    let shown = order.iter().filter(|&&i| !dropped(i)).count();
    ranking
        .ranking
        .order_first(&mut order, max_papers, |i| papers[i].upvotes);
    let rank: std::collections::HashMap<usize, usize> =
        order.iter().enumerate().map(|(r, &p)| (p, r)).collect();
    // Topics in the order the candidates list them (the subscriber's).
    let mut topic_order: SmallVec<[i64; 4]> = SmallVec::new();
    for &(_, pos) in &unsent {
        if !topic_order.contains(&pos) {
            topic_order.push(pos);
        }
    }
    let mut kept: Vec<(usize, usize, PlannedPaper)> = unsent
        .iter()
        .filter_map(|&(paper, topic_position)| {
            let r = *rank.get(&paper)?;
            let t = topic_order.iter().position(|&p| p == topic_position)?;
            Some((
                t,
                r,
                PlannedPaper {
                    paper,
                    topic_position,
                    matched: Vec::new(),
                    reason: None,
                },
            ))
        })
        .collect();
    kept.sort_by_key(|k| (k.0, k.1));
    let mut kept: Vec<PlannedPaper> = kept.into_iter().map(|k| k.2).collect();
    explain_all(matcher, topics, &mut kept);
    let more = shown - kept.len();
    (kept, more)
}

/// The "Recommended for you" papers of a ranked subscriber: up to `limit`
/// of the run's papers that matched none of their topics and were never
/// sent to them, scoring at least [`RECOMMEND_THRESHOLD`], best first,
/// each with its reason.
fn recommendations(
    matcher: &Matcher,
    papers: &[Paper],
    candidates: &Candidates,
    sent: &HashSet<PaperId>,
    limit: usize,
    window: &RankedWindow,
    ranking: &SubscriberRanking,
) -> Vec<PlannedPaper> {
    if limit == 0 || !ranking.recommendations {
        return Vec::new();
    }
    let pool = (0..papers.len())
        .filter(|&i| !sent.contains(&papers[i].id) && !candidates.contains(matcher, i));
    ranking
        .ranking
        .recommend(pool, limit, RECOMMEND_THRESHOLD)
        .into_iter()
        .map(|r| PlannedPaper {
            paper: r.paper,
            topic_position: RECOMMENDED_POSITION,
            matched: Vec::new(),
            reason: ranking.reason(window, r.paper),
        })
        .collect()
}

/// A subscriber's planned digest: the papers to send, in mail order, and
/// how many more (not yet sent) matched than fit.
#[derive(Debug, Clone)]
pub struct Plan {
    pub papers: Vec<PlannedPaper>,
    pub more: usize,
}

/// What bounds a digest: `[digest] max_papers` and `send_empty`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanLimits {
    pub max_papers: usize,
    /// Plan a digest even when nothing new matched.
    pub send_empty: bool,
    /// Papers in the top papers section of those who get it
    /// ([`Subscriber::wants_top_papers`]).
    pub trending_count: usize,
    /// Most papers in the "Recommended for you" section of a subscriber
    /// with marks (0: none).
    pub recommendations: usize,
}

/// The run's ranking of its papers and how to find a subscriber's (none
/// for a subscriber without marks or with ranking off).
#[derive(Clone, Copy)]
pub struct Ranked<'a> {
    pub window: &'a RankedWindow,
    pub subscribers: &'a std::collections::HashMap<crate::domain::SubscriberId, SubscriberRanking>,
}

impl<'a> Ranked<'a> {
    fn of(&self, sub: &Subscriber) -> Option<(&'a RankedWindow, &'a SubscriberRanking)> {
        Some((self.window, self.subscribers.get(&sub.id)?))
    }
}

/// Plans the digests of a page of subscribers against `papers` (in mail
/// order, indexed by `matcher`), in page order: `None` for a subscriber
/// `wanted` leaves out, or with no digest due. `sent` gives each
/// subscriber's papers already sent.
pub fn plan_digests<'p>(
    matcher: &mut Matcher,
    papers: &[Paper],
    page: &'p [Subscriber],
    wanted: impl Fn(&Subscriber) -> bool,
    sent: impl Fn(&Subscriber) -> &'p HashSet<PaperId>,
    limits: PlanLimits,
    ranked: Option<Ranked<'_>>,
) -> Vec<Option<Plan>> {
    let topics: Vec<&[Topic]> = page.iter().map(|s| s.topics.as_slice()).collect();
    let compiled = plan_page(matcher, &topics);
    page.iter()
        .zip(compiled)
        .map(|(sub, (topics, candidates))| {
            if !wanted(sub) {
                return None;
            }
            finish_plan(
                matcher,
                papers,
                sub,
                &topics,
                &candidates,
                sent(sub),
                limits,
                ranked.and_then(|r| r.of(sub)),
            )
        })
        .collect()
}

/// One subscriber's plan from their compiled topics and candidates:
/// `None` when no digest is due (nothing new matched and `send_empty` is
/// off). A topic whose stored query no longer parses is logged and skipped.
/// `ranked`: the subscriber's ranking, when they have marks and ranking on
/// (their topics' papers ranked, and their recommendations after them).
#[allow(clippy::too_many_arguments)]
pub fn finish_plan(
    matcher: &Matcher,
    papers: &[Paper],
    sub: &Subscriber,
    topics: &CompiledTopics,
    candidates: &Candidates,
    sent: &HashSet<PaperId>,
    limits: PlanLimits,
    ranked: Option<(&RankedWindow, &SubscriberRanking)>,
) -> Option<Plan> {
    for (topic, err) in &topics.invalid {
        tracing::warn!(subscriber.id = %sub.id, topic.position = topic.position, error = %err, "skipping a topic whose query does not parse");
    }
    let wants_top = sub.wants_top_papers();
    if candidates.is_empty() && !wants_top && !limits.send_empty {
        return None;
    }
    let (mut kept, more) = match ranked {
        Some((_, ranking)) => finish_ranked(
            matcher,
            papers,
            topics,
            candidates,
            sent,
            limits.max_papers,
            ranking,
        ),
        None => finish_sets(matcher, papers, topics, candidates, sent, limits.max_papers),
    };
    // Recommended after the topics, from the papers they did not match.
    let recommended = match ranked {
        Some((window, ranking)) if !kept.is_empty() => recommendations(
            matcher,
            papers,
            candidates,
            sent,
            limits.recommendations,
            window,
            ranking,
        ),
        _ => Vec::new(),
    };
    let is_recommended = |i: usize| recommended.iter().any(|r| r.paper == i);
    if wants_top {
        // After the topics, leaving out every paper they matched (listed
        // above, or counted in "N more") and the recommended ones.
        let top = top_papers(
            papers,
            |i| candidates.contains(matcher, i) || is_recommended(i),
            sent,
            limits.trending_count,
        );
        kept.extend(top.into_iter().map(|paper| PlannedPaper {
            paper,
            topic_position: TOP_PAPERS_POSITION,
            matched: Vec::new(),
            reason: None,
        }));
    }
    kept.extend(recommended);
    if kept.is_empty() && !limits.send_empty {
        return None;
    }
    Some(Plan { papers: kept, more })
}

fn explain_all(matcher: &Matcher, topics: &CompiledTopics, planned: &mut [PlannedPaper]) {
    for p in planned {
        for (_, compiled) in topics.queries(matcher) {
            for term in matcher.explain(compiled, p.paper) {
                if !p.matched.iter().any(|m| m.label == term.label) {
                    p.matched.push(term);
                }
            }
        }
    }
}

/// Puts the run's papers in mail order (most upvoted first, otherwise as
/// given), so [`candidates`] lists each topic's papers without reordering.
pub fn sort_for_mail(papers: &mut [Paper]) {
    papers.sort_by_key(|p| std::cmp::Reverse(p.upvotes.unwrap_or(-1)));
}

/// Drops papers already sent, caps the list at `max_papers` and explains the
/// papers kept. Returns the papers and how many more matched than were kept.
pub fn finish(
    matcher: &Matcher,
    papers: &[Paper],
    topics: &CompiledTopics,
    mut planned: Vec<PlannedPaper>,
    already_sent: &HashSet<PaperId>,
    max_papers: usize,
) -> (Vec<PlannedPaper>, usize) {
    planned.retain(|p| !already_sent.contains(&papers[p.paper].id));
    let more = planned.len().saturating_sub(max_papers);
    planned.truncate(max_papers);
    explain_all(matcher, topics, &mut planned);
    (planned, more)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PaperId;

    fn paper(id: &str, title: &str, upvotes: Option<i64>) -> Paper {
        let mut p = Paper::new(
            PaperId::from_stored(id.into()),
            title,
            "Nothing else.",
            "https://arxiv.org/abs/x",
        );
        p.upvotes = upvotes;
        p
    }

    fn topic(pos: i64, q: &str) -> Topic {
        Topic {
            position: pos,
            name: q.into(),
            query: q.into(),
        }
    }

    #[test]
    fn papers_are_grouped_by_topic_listed_once_and_most_upvoted_first() {
        let papers = vec![
            paper("1", "Diffusion models", Some(3)),
            paper("2", "Diffusion transformers", Some(50)),
            paper("3", "Transformers for speech", None),
            paper("4", "Unrelated", Some(100)),
        ];
        let mut m = Matcher::new(&papers);
        let wanted = [topic(0, "diffusion"), topic(1, "transformer")];
        let topics = CompiledTopics::compile(&mut m, &wanted);
        let plan = candidates(&m, &papers, &topics);
        let got: Vec<(usize, i64)> = plan.iter().map(|p| (p.paper, p.topic_position)).collect();
        assert_eq!(got, vec![(1, 0), (0, 0), (2, 1)]);
        let (kept, more) = finish(&m, &papers, &topics, plan, &HashSet::new(), 2);
        assert_eq!(more, 1);
        assert_eq!(kept.len(), 2);
        // Paper 2 matched both topics: both terms explain it.
        assert_eq!(kept[0].matched.len(), 2, "{:?}", kept[0].matched);
    }

    #[test]
    fn papers_in_mail_order_plan_the_same_digest_as_papers_in_any_order() {
        let given = vec![
            paper("1", "Diffusion a", None),
            paper("2", "Diffusion b", Some(5)),
            paper("3", "Transformer c", Some(5)),
            paper("4", "Diffusion d", Some(9)),
            paper("5", "Transformer diffusion e", None),
        ];
        let mut sorted = given.clone();
        sort_for_mail(&mut sorted);
        let ids = |p: &[Paper]| p.iter().map(|p| p.id.to_string()).collect::<Vec<_>>();
        // Most upvoted first; ties keep the order they were given in.
        assert_eq!(ids(&sorted), ["4", "2", "3", "1", "5"]);
        let wanted = [topic(0, "diffusion"), topic(1, "transformer")];
        let plan_ids = |papers: &[Paper]| {
            let mut m = Matcher::new(papers);
            let topics = CompiledTopics::compile(&mut m, &wanted);
            candidates(&m, papers, &topics)
                .iter()
                .map(|c| (papers[c.paper].id.to_string(), c.topic_position))
                .collect::<Vec<_>>()
        };
        assert_eq!(plan_ids(&given), plan_ids(&sorted));
        assert_eq!(
            plan_ids(&sorted),
            [
                ("4".into(), 0),
                ("2".into(), 0),
                ("1".into(), 0),
                ("5".into(), 0),
                ("3".into(), 1)
            ]
        );
    }

    #[test]
    fn already_sent_papers_are_dropped_before_the_cap() {
        let papers = vec![
            paper("1", "Diffusion a", None),
            paper("2", "Diffusion b", None),
        ];
        let mut m = Matcher::new(&papers);
        let wanted = [topic(0, "diffusion")];
        let topics = CompiledTopics::compile(&mut m, &wanted);
        let plan = candidates(&m, &papers, &topics);
        let sent = HashSet::from([PaperId::from_stored("1".into())]);
        let (kept, more) = finish(&m, &papers, &topics, plan, &sent, 1);
        assert_eq!((kept.len(), more), (1, 0));
        assert_eq!(kept[0].paper, 1);
    }

    #[test]
    fn candidate_sets_plan_the_same_digest_as_the_candidate_list() {
        let mut papers = vec![
            paper("1", "Diffusion a", None),
            paper("2", "Diffusion b transformer", Some(5)),
            paper("3", "Transformer c", Some(5)),
            paper("4", "Diffusion d", Some(9)),
            paper("5", "Transformer diffusion e", None),
            paper("6", "Speech", Some(1)),
        ];
        sort_for_mail(&mut papers);
        let mut m = Matcher::new(&papers);
        let wanted = [
            topic(0, "speech"),
            topic(1, "diffusion"),
            topic(2, "nothing"),
            topic(3, "transformer"),
        ];
        let topics = CompiledTopics::compile(&mut m, &wanted);
        let list = candidates(&m, &papers, &topics);
        let sets = candidate_sets(&m, &topics);
        assert_eq!(sets.len(), list.len());
        assert_eq!(
            sets.iter(&m).collect::<Vec<_>>(),
            list.iter()
                .map(|p| (p.paper, p.topic_position))
                .collect::<Vec<_>>()
        );
        for sent in [HashSet::new(), HashSet::from([papers[1].id.clone()])] {
            for cap in [1, 3, 10] {
                let (a, more_a) = finish(&m, &papers, &topics, list.clone(), &sent, cap);
                let (b, more_b) = finish_sets(&m, &papers, &topics, &sets, &sent, cap);
                assert_eq!(more_a, more_b, "cap {cap}, sent {sent:?}");
                let key = |v: &[PlannedPaper]| {
                    v.iter()
                        .map(|p| (p.paper, p.topic_position, p.matched.len()))
                        .collect::<Vec<_>>()
                };
                assert_eq!(key(&a), key(&b), "cap {cap}, sent {sent:?}");
            }
        }
    }

    #[test]
    fn a_page_planned_at_once_equals_each_subscriber_planned_alone() {
        let mut papers: Vec<Paper> = (0..40)
            .map(|i| {
                let title = match i % 4 {
                    0 => "Diffusion models",
                    1 => "Speech transformer",
                    2 => "Vision diffusion transformer",
                    _ => "Graphs",
                };
                paper(&i.to_string(), title, Some(i % 7))
            })
            .collect();
        sort_for_mail(&mut papers);
        let texts = [
            "diffusion",
            "transformer",
            "ti:speech",
            "(bad",
            "graphs -vision",
            "nothing",
        ];
        let subs: Vec<Vec<Topic>> = (0..150)
            .map(|i| {
                (0..3)
                    .map(|k| topic(k as i64, texts[(i * 7 + k * 5 + i / 13) % texts.len()]))
                    .collect()
            })
            .collect();
        let page: Vec<&[Topic]> = subs.iter().map(Vec::as_slice).collect();
        let mut alone = Matcher::new(&papers);
        let mut together = Matcher::new(&papers);
        // Half the texts are cached before the page, half are new to it.
        CompiledTopics::compile(&mut together, &subs[0]);
        let planned = plan_page(&mut together, &page);
        assert_eq!(planned.len(), subs.len());
        for (topics, (compiled, cands)) in subs.iter().zip(&planned) {
            let c = CompiledTopics::compile(&mut alone, topics);
            let want = candidate_sets(&alone, &c);
            assert_eq!(
                cands.iter(&together).collect::<Vec<_>>(),
                want.iter(&alone).collect::<Vec<_>>()
            );
            assert_eq!(compiled.topics.len(), c.topics.len());
            assert_eq!(compiled.invalid.len(), c.invalid.len());
        }
    }

    #[test]
    fn a_subscriber_nothing_matched_has_no_candidates() {
        let papers = vec![paper("1", "Diffusion", None)];
        let mut m = Matcher::new(&papers);
        let wanted = [topic(0, "speech"), topic(1, "ti:vision")];
        let topics = CompiledTopics::compile(&mut m, &wanted);
        let sets = candidate_sets(&m, &topics);
        assert!(sets.is_empty());
        assert_eq!(sets.iter(&m).count(), 0);
    }

    #[test]
    fn a_stored_query_that_no_longer_parses_is_reported_not_fatal() {
        let papers = vec![paper("1", "Diffusion", None)];
        let mut m = Matcher::new(&papers);
        let wanted = [topic(0, "(unbalanced"), topic(1, "diffusion")];
        let topics = CompiledTopics::compile(&mut m, &wanted);
        assert_eq!(topics.invalid.len(), 1);
        assert_eq!(candidates(&m, &papers, &topics).len(), 1);
    }
}

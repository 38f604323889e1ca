//! The top papers section: the run's most upvoted papers, for subscribers
//! with no topics (the trending digest) and those who asked for them after
//! their topics. Pure, like the rest of planning.

use std::collections::HashSet;

use crate::domain::{Paper, PaperId};

/// Up to `count` of `papers` (in mail order: most upvoted first) that have
/// an upvote count, leaving out those `listed` already holds (listed above,
/// under a topic) and those `sent` before (the ledger: never the same
/// paper twice). Indexes into `papers`, in order.
pub fn top_papers(
    papers: &[Paper],
    listed: impl Fn(usize) -> bool,
    sent: &HashSet<PaperId>,
    count: usize,
) -> Vec<usize> {
    papers
        .iter()
        .enumerate()
        .filter(|(i, p)| p.upvotes.is_some() && !listed(*i) && !sent.contains(&p.id))
        .map(|(i, _)| i)
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper(id: &str, upvotes: Option<i64>) -> Paper {
        let mut p = Paper::new(
            PaperId::from_stored(id.into()),
            id,
            "",
            "https://arxiv.org/abs/x",
        );
        p.upvotes = upvotes;
        p
    }

    #[test]
    fn the_top_papers_are_the_most_upvoted_not_listed_and_never_sent() {
        // Mail order: most upvoted first, papers without a count last.
        let papers = vec![
            paper("a", Some(90)),
            paper("b", Some(40)),
            paper("c", Some(7)),
            paper("d", Some(0)),
            paper("e", None),
        ];
        let sent = HashSet::from([PaperId::from_stored("b".into())]);
        assert_eq!(top_papers(&papers, |_| false, &HashSet::new(), 2), [0, 1]);
        assert_eq!(top_papers(&papers, |i| i == 0, &sent, 2), [2, 3]);
        assert_eq!(top_papers(&papers, |_| false, &sent, 10), [0, 2, 3]);
        assert!(top_papers(&papers, |_| false, &sent, 0).is_empty());
    }
}

//! A digest ready to render and send: its delivery record (reserved in the
//! store), its subscriber, and its papers.

use crate::domain::Subscriber;
use crate::email::{DigestContent, DigestPaper};
use crate::store::Delivery;

/// One subscriber's digest for one date, reserved.
pub(crate) struct Job {
    pub delivery: Delivery,
    pub subscriber: Subscriber,
    /// In mail order, shared with the run's other jobs.
    pub papers: Vec<DigestPaper>,
    /// A weekly subscriber's digest: its top papers are the week's.
    pub weekly: bool,
}

impl Job {
    /// What the digest says, for rendering.
    pub fn content(&self) -> DigestContent<'_> {
        DigestContent {
            subscriber: &self.subscriber,
            date: self.delivery.digest_date,
            papers: &self.papers,
            more: self.delivery.more_count.max(0) as usize,
            weekly: self.weekly,
        }
    }
}

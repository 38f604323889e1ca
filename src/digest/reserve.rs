//! From plans to jobs: reserving a page of new digests in the store (the
//! idempotency point: one digest per subscriber and date, and each paper in
//! a subscriber's ledger once), and rebuilding a digest an earlier run left
//! unfinished from its ledger rows, so it goes out with the same papers and
//! Message-ID.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};

use super::frequencies::Frequencies;
use super::job::Job;
use super::likes::{self, LikeLookup};
use super::plan::{CompiledTopics, Plan};
use super::ranked::RankedWindow;
use super::report::DigestReport;
use super::window::Window;
use crate::domain::{Paper, PaperId, Subscriber};
use crate::email::{message_id, DigestPaper, Occasion};
use crate::matching::{MatchedTerm, Matcher};
use crate::store::{BatchReservation, Delivery, Hold, NewReservation, Store};

/// What rebuilding an unfinished digest reads: the store, and for the
/// `like:` terms of its subscriber's topics the run's lookup and document
/// frequencies, so a resumed digest explains a `like:` match as the first
/// attempt did.
pub(crate) struct Resumer<'a> {
    pub store: &'a Store,
    pub likes: &'a LikeLookup,
    pub frequencies: &'a Frequencies,
}

/// A subscriber's planned digest, not yet reserved.
pub(crate) struct Planned {
    pub sub: Subscriber,
    pub plan: Plan,
    /// A weekly subscriber: the digest's top papers are the week's.
    pub weekly: bool,
}

/// Reserves a page of digests planned against `window` in one transaction,
/// held by `hold` until they are claimed, and returns the jobs to send: the
/// new digests with the papers this run put in their ledger, and digests
/// an earlier run left unfinished. Digests that need nothing sent, or that
/// another process reserved first and still holds, count as already done.
/// `domain` is the right-hand side of their Message-IDs.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn reserve_page(
    resumer: &Resumer<'_>,
    domain: &str,
    date: NaiveDate,
    window: &Window,
    planned: Vec<Planned>,
    hold: &Hold,
    now: DateTime<Utc>,
    report: &mut DigestReport,
) -> anyhow::Result<Vec<Job>> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let batch: Vec<NewReservation> = planned
        .iter()
        .map(|p| NewReservation {
            subscriber_id: p.sub.id,
            message_id: message_id(Occasion::Digest(date), p.sub.id, domain),
            papers: p
                .plan
                .papers
                .iter()
                .map(|k| (window.ids[k.paper].clone(), k.topic_position))
                .collect(),
            reasons: p.plan.papers.iter().map(|k| k.reason.clone()).collect(),
            more_count: p.plan.more as i64,
        })
        .collect();
    let store = resumer.store;
    let reserved = store
        .reserve_deliveries(date, &batch, hold, now)
        .await
        .context("reserving deliveries")?;
    // Deliveries another run reserved in between, read together.
    let mut existing = HashMap::new();
    let existing_ids = planned
        .iter()
        .zip(&reserved)
        .filter(|(_, r)| matches!(r, BatchReservation::Existing))
        .map(|(p, _)| p.sub.id);
    if let (Some(first), Some(last)) = (existing_ids.clone().min(), existing_ids.max()) {
        existing = store.deliveries_in_range(date, first, last).await?;
    }
    let mut jobs = Vec::with_capacity(planned.len());
    for (p, r) in planned.into_iter().zip(reserved) {
        match r {
            BatchReservation::New { delivery, kept } => {
                // Another run may have claimed some papers in between; keep only ours.
                let papers = p
                    .plan
                    .papers
                    .into_iter()
                    .zip(kept)
                    .filter(|(_, ours)| *ours)
                    .map(|(k, _)| DigestPaper {
                        paper: window.shared[k.paper].clone(),
                        topic_position: k.topic_position,
                        matched: k.matched,
                        reason: k.reason,
                    })
                    .collect();
                jobs.push(Job {
                    delivery: *delivery,
                    subscriber: p.sub,
                    papers,
                    weekly: p.weekly,
                });
            }
            BatchReservation::Existing => match existing.remove(&p.sub.id) {
                Some(d) if d.status.is_unfinished() && !d.held_elsewhere(&hold.owner, now) => {
                    jobs.push(resumer.resume(d, p.sub, Some(window), p.weekly).await?);
                }
                _ => report.already_done += 1,
            },
            BatchReservation::Nothing => report.already_done += 1,
        }
    }
    Ok(jobs)
}

impl Resumer<'_> {
    /// Rebuilds an unfinished delivery from its ledger rows, re-explaining the
    /// matches against the subscriber's current topics; a recommended paper
    /// keeps the reason its ledger row recorded. Papers in `window` are taken
    /// from it; the others are read from the store. A `like:ID` term matches
    /// the digest's papers similar to ID's under the stored vectors and the
    /// document frequencies of the digest's date, as in the run that planned
    /// it, and is explained with ID's title.
    pub(crate) async fn resume(
        &self,
        delivery: Delivery,
        subscriber: Subscriber,
        window: Option<&Window>,
        weekly: bool,
    ) -> anyhow::Result<Job> {
        let store = self.store;
        let no_index = HashMap::new();
        let (run_papers, index) = match window {
            Some(w) => (&w.shared[..], &w.index),
            None => (&[][..], &no_index),
        };
        let rows = store.delivery_papers(delivery.id).await?;
        let mut reasons = store.delivery_reasons(delivery.id).await?;
        let mut papers: Vec<Paper> = Vec::with_capacity(rows.len());
        let missing: Vec<PaperId> = rows
            .iter()
            .filter(|(id, _)| !index.contains_key(id))
            .map(|(id, _)| id.clone())
            .collect();
        let loaded: HashMap<PaperId, Paper> = store
            .papers_by_id(&missing)
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        for (id, _) in &rows {
            if let Some(&i) = index.get(id) {
                papers.push(Paper::clone(&run_papers[i]));
            } else if let Some(p) = loaded.get(id) {
                papers.push(p.clone());
            }
        }
        let mut small = Matcher::new(&papers);
        let like_ids =
            likes::unknown_likes(subscriber.topics.iter().map(|t| t.query.as_str()), &small);
        if !like_ids.is_empty() {
            let ranked =
                RankedWindow::load(store, self.frequencies, &papers, delivery.digest_date).await?;
            likes::register(self.likes, like_ids, &mut small, &ranked, Utc::now()).await;
        }
        let topics = CompiledTopics::compile(&mut small, &subscriber.topics);
        let mut out = Vec::with_capacity(papers.len());
        for (i, paper) in papers.iter().enumerate() {
            let mut matched: Vec<MatchedTerm> = Vec::new();
            for (_, c) in topics.queries(&small) {
                for t in small.explain(c, i) {
                    if !matched.iter().any(|m| m.label == t.label) {
                        matched.push(t);
                    }
                }
            }
            let topic_position = rows
                .iter()
                .find(|(id, _)| *id == paper.id)
                .map(|r| r.1)
                .unwrap_or(0);
            out.push(DigestPaper {
                paper: Arc::new(paper.clone()),
                topic_position,
                matched,
                reason: reasons.remove(&paper.id),
            });
        }
        // The compiled topics borrow the subscriber's; done with them.
        drop(topics);
        Ok(Job {
            delivery,
            subscriber,
            papers: out,
            weekly,
        })
    }
}

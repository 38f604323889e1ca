//! `paperboy preview`: what one subscriber would get for a date, rendered
//! and not sent: the recorded digest if one exists, else a fresh plan. It
//! reserves nothing and changes nothing in the store.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};

use super::job::Job;
use super::plan::{self, CompiledTopics, Plan};
use super::run::DigestRun;
use super::window::{Window, WEEK_DAYS};
use crate::domain::{DeliveryId, Frequency, PaperId, Subscriber};
use crate::email::{DigestPaper, RenderedEmail};
use crate::store::{Delivery, DeliveryStatus};

impl DigestRun {
    /// Renders what `sub` would get for `date`; `None` when no digest would
    /// be sent.
    pub async fn preview(
        &self,
        sub: Subscriber,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<RenderedEmail>> {
        let weekly = matches!(
            self.store.preferences(sub.id).await?.frequency,
            Frequency::Weekly(_)
        );
        let job = if let Some(existing) = self.store.delivery_for(sub.id, date).await? {
            self.resumer().resume(existing, sub, None, weekly).await?
        } else {
            let mut days = i64::from(self.config.lookback_days);
            if weekly {
                days = days.max(WEEK_DAYS);
            }
            let mut window = Window::load(&self.store, date, days).await?;
            let Some(plan) = self.plan_one(&mut window, &sub, date).await? else {
                return Ok(None);
            };
            Job {
                delivery: unreserved(&sub, date, &plan, now),
                papers: plan
                    .papers
                    .into_iter()
                    .map(|p| DigestPaper {
                        paper: Arc::new(window.papers[p.paper].clone()),
                        topic_position: p.topic_position,
                        matched: p.matched,
                        reason: p.reason,
                    })
                    .collect(),
                subscriber: sub,
                weekly,
            }
        };
        Ok(Some(self.renderer().render(job.content(), now)?))
    }

    /// Plans one subscriber's digest against `window`, reading only their
    /// own history.
    async fn plan_one(
        &self,
        window: &mut Window,
        sub: &Subscriber,
        date: NaiveDate,
    ) -> anyhow::Result<Option<Plan>> {
        let marks = self.store.ranking_marks_in_range(sub.id, sub.id).await?;
        let rankings = if marks.is_empty() {
            HashMap::new()
        } else {
            window
                .ranked(&self.store, &self.frequencies, date)
                .await?
                .rank_page(&self.store, marks)
                .await?
        };
        self.prepare_likes(window, std::slice::from_ref(sub), date)
            .await?;
        let matcher = &mut window.matcher;
        let topics = CompiledTopics::compile(matcher, &sub.topics);
        let candidates = plan::candidate_sets(matcher, &topics);
        // A ranked subscriber's recommendations come from any paper of the
        // window: their whole ledger of it is needed.
        let ids: Vec<&PaperId> = if rankings.is_empty() {
            candidates
                .iter(matcher)
                .map(|(i, _)| &window.papers[i].id)
                .collect()
        } else {
            window.ids.iter().collect()
        };
        let sent = self.store.already_sent(sub.id, &ids).await?;
        let ranked = window
            .ranked
            .as_ref()
            .and_then(|w| Some((w, rankings.get(&sub.id)?)));
        Ok(plan::finish_plan(
            matcher,
            &window.papers,
            sub,
            &topics,
            &candidates,
            &sent,
            self.limits(),
            ranked,
        ))
    }
}

/// A delivery record for a digest that is previewed, never reserved.
fn unreserved(sub: &Subscriber, date: NaiveDate, plan: &Plan, now: DateTime<Utc>) -> Delivery {
    Delivery {
        id: DeliveryId::default(),
        subscriber_id: sub.id,
        digest_date: date,
        status: DeliveryStatus::Pending,
        message_id: String::new(),
        paper_count: plan.papers.len() as i64,
        more_count: plan.more as i64,
        attempts: 0,
        last_error: None,
        smtp_code: None,
        next_attempt_at: None,
        created_at: now,
        sent_at: None,
        held: None,
    }
}

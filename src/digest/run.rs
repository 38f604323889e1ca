//! A digest run for one date: plan every active subscriber's digest, reserve
//! it in the store (the idempotency point), render it and send it.
//!
//! Subscribers are streamed in pages, never all loaded. A run interrupted at
//! any point and started again resends the unfinished digests with the same
//! papers and Message-ID and never plans a second digest for a subscriber
//! and date; a run started twice sends nothing the second time.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::ProgressBar;

use super::due::{self, When};
use super::plan::{self, CompiledTopics, PlannedPaper};
use super::send as batch;
use super::top_papers::top_papers;
use crate::app::App;
use crate::domain::{Paper, PaperId, SubscriberId};
use crate::domain::{Subscriber, SubscriberStatus, TOP_PAPERS_POSITION};
use crate::email::{DigestContent, DigestPaper, DigestRenderer, RenderedEmail};
use crate::mail::{self, PreparedEmail, SendError};
use crate::matching::{self, Matcher};
use crate::store::Delivery;

const PAGE: i64 = 500;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DigestOptions {
    /// Plan and print, reserve and send nothing.
    pub dry_run: bool,
    /// Everyone due on the date (by hand), or those whose delivery hour
    /// came in a scheduler tick's window.
    pub when: When,
}

/// What a run did; also what it logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DigestReport {
    pub papers: usize,
    pub subscribers: usize,
    pub matched: usize,
    pub sent: usize,
    /// Left for a later run: a temporary failure, or (counted in
    /// `throttled` too) a recipient domain's sending budget spent.
    pub deferred: usize,
    /// Deferred only because a `[[digest.domain_limits]]` budget was spent:
    /// the limits doing their job, not a problem.
    pub throttled: usize,
    pub failed: usize,
    /// Digests for this date that an earlier run already finished.
    pub already_done: usize,
    /// Dry run only: who would get which papers.
    pub plans: Vec<PlannedDigest>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedDigest {
    pub email: String,
    pub papers: Vec<(String, String)>,
    pub more: usize,
}

/// A digest ready to render and send.
pub(super) struct Job {
    pub(super) delivery: Delivery,
    pub(super) subscriber: Subscriber,
    /// Shared with the run's other jobs: one copy of each paper per run.
    pub(super) papers: Vec<DigestPaper>,
}

impl Job {
    /// What the digest says, for rendering.
    pub(super) fn content(&self) -> DigestContent<'_> {
        DigestContent {
            subscriber: &self.subscriber,
            date: self.delivery.digest_date,
            papers: &self.papers,
            more: self.delivery.more_count.max(0) as usize,
        }
    }
}

/// Runs the digest for `date`.
pub async fn run_digest(
    app: &App,
    date: NaiveDate,
    options: DigestOptions,
    now: DateTime<Utc>,
    progress: &ProgressBar,
) -> anyhow::Result<DigestReport> {
    let started = Instant::now();
    let lookback = i64::from(app.settings.digest.lookback_days);
    let from = date - Duration::days(lookback);
    let mut week: Option<Window> = None;
    let mut papers = app
        .store
        .papers_between(from, date)
        .await
        .context("loading the day's papers")?;
    plan::sort_for_mail(&mut papers);
    let index: HashMap<PaperId, usize> = papers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.clone(), i))
        .collect();
    let mut matcher = Matcher::new(&papers);
    let shared: Vec<Arc<Paper>> = papers.iter().cloned().map(Arc::new).collect();
    let run_ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
    let no_history = HashSet::new();
    let mut report = DigestReport {
        papers: papers.len(),
        ..Default::default()
    };
    if let Ok(counts) = app.store.subscriber_counts().await {
        let active = counts
            .iter()
            .find(|(s, _)| *s == SubscriberStatus::Active)
            .map(|c| c.1)
            .unwrap_or(0);
        progress.set_length(active as u64);
    }
    let sender = batch::Sender::new(app).await?;
    let mut after = SubscriberId::default();
    loop {
        let page = app
            .store
            .subscribers_page(Some(SubscriberStatus::Active), after, PAGE)
            .await
            .context("reading subscribers")?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let selected = select(app, date, options.when, page[0].id, last.id).await?;
        let mut existing_page = app
            .store
            .deliveries_in_range(date, page[0].id, last.id)
            .await?;
        // Weekly subscribers get the week's papers, daily ones the lookback's.
        let weekly_window =
            |sub: &Subscriber| lookback < WEEK_DAYS && selected.weekly.contains(&sub.id);
        let fresh = |sub: &Subscriber| {
            selected.due.contains(&sub.id) && !existing_page.contains_key(&sub.id)
        };
        let sent_page = app
            .store
            .already_sent_in_range(page[0].id, last.id, &run_ids)
            .await?;
        let mut plans = plan_page(
            app,
            &mut matcher,
            &papers,
            &page,
            |sub| fresh(sub) && !weekly_window(sub),
            |sub| sent_page.get(&sub.id).unwrap_or(&no_history),
        )
        .into_iter();
        let week_plans = if page.iter().any(|s| fresh(s) && weekly_window(s)) {
            if week.is_none() {
                week = Some(Window::load(app, date, WEEK_DAYS).await?);
            }
            let w = week.as_mut().expect("loaded just above");
            let week_sent = app
                .store
                .already_sent_in_range(page[0].id, last.id, &w.ids)
                .await?;
            plan_page(
                app,
                &mut w.matcher,
                &w.papers,
                &page,
                |sub| fresh(sub) && weekly_window(sub),
                |sub| week_sent.get(&sub.id).unwrap_or(&no_history),
            )
        } else {
            Vec::new()
        };
        let mut week_plans = week_plans.into_iter();
        let mut jobs = Vec::new();
        let mut planned = Vec::new();
        let mut week_planned = Vec::new();
        for sub in page {
            let plan = plans.next().flatten();
            let week_plan = week_plans.next().flatten();
            report.subscribers += 1;
            progress.inc(1);
            let is_due = selected.due.contains(&sub.id);
            // A tick looks only at the subscribers whose hour came (an
            // unfinished digest of anyone else is the retry job's).
            if !is_due && options.when != When::Manual {
                continue;
            }
            if let Some(existing) = existing_page.remove(&sub.id) {
                if existing.status.is_unfinished() && !options.dry_run {
                    jobs.push(resume_job(app, existing, sub, &shared, &index).await?);
                } else {
                    report.already_done += 1;
                }
                continue;
            }
            // Paused, or weekly on another day: no digest planned today.
            if !is_due {
                continue;
            }
            let weekly = weekly_window(&sub);
            let Some((kept, more)) = (if weekly { week_plan } else { plan }) else {
                continue;
            };
            report.matched += 1;
            if options.dry_run {
                let papers = match (&week, weekly) {
                    (Some(w), true) => &w.papers[..],
                    _ => &papers[..],
                };
                report.plans.push(PlannedDigest {
                    email: sub.email.to_string(),
                    papers: kept
                        .iter()
                        .map(|p| {
                            (
                                papers[p.paper].id.to_string(),
                                papers[p.paper].title.clone(),
                            )
                        })
                        .collect(),
                    more,
                });
                continue;
            }
            let entry = batch::Planned { sub, kept, more };
            if weekly {
                week_planned.push(entry);
            } else {
                planned.push(entry);
            }
        }
        let reserved =
            batch::reserve_page(app, date, &shared, &index, planned, now, &mut report).await?;
        jobs.extend(reserved);
        if let (Some(w), false) = (&week, week_planned.is_empty()) {
            let reserved = batch::reserve_page(
                app,
                date,
                &w.shared,
                &w.index,
                week_planned,
                now,
                &mut report,
            )
            .await?;
            jobs.extend(reserved);
        }
        sender.send_jobs(jobs, &mut report).await;
    }
    progress.finish_and_clear();
    tracing::info!(
        digest.date = %date,
        papers.count = report.papers,
        subscribers.count = report.subscribers,
        digests.matched = report.matched,
        digests.sent = report.sent,
        digests.deferred = report.deferred,
        digests.throttled = report.throttled,
        digests.failed = report.failed,
        digests.already_done = report.already_done,
        dry_run = options.dry_run,
        duration_ms = started.elapsed().as_millis() as u64,
        "digest run finished"
    );
    Ok(report)
}

/// How far back a weekly digest looks (the ledger keeps out what an
/// earlier digest already carried).
const WEEK_DAYS: i64 = 7;

/// The papers of `date` and the `days` before it, in mail order, with
/// their matcher and lookups.
struct Window {
    papers: Vec<Paper>,
    /// The same papers, for the jobs.
    shared: Vec<Arc<Paper>>,
    matcher: Matcher,
    ids: Vec<PaperId>,
    index: HashMap<PaperId, usize>,
}

impl Window {
    async fn load(app: &App, date: NaiveDate, days: i64) -> anyhow::Result<Window> {
        let mut papers = app
            .store
            .papers_between(date - Duration::days(days), date)
            .await
            .context("loading the week's papers")?;
        plan::sort_for_mail(&mut papers);
        let matcher = Matcher::new(&papers);
        let ids: Vec<PaperId> = papers.iter().map(|p| p.id.clone()).collect();
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        Ok(Window {
            shared: papers.iter().cloned().map(Arc::new).collect(),
            papers,
            matcher,
            ids,
            index,
        })
    }
}

/// Which subscribers of one page get the digest for `date` in this run.
struct Selected {
    due: HashSet<SubscriberId>,
    /// Weekly subscribers among the due ones.
    weekly: HashSet<SubscriberId>,
}

/// Selects, among the active subscribers with ids in `first..=last`, those
/// due the digest for `date` (see [`due`]).
async fn select(
    app: &App,
    date: NaiveDate,
    when: When,
    first: SubscriberId,
    last: SubscriberId,
) -> anyhow::Result<Selected> {
    let defaults = due::Defaults::of(&app.settings.schedule);
    let mut selected = Selected {
        due: HashSet::new(),
        weekly: HashSet::new(),
    };
    for (id, prefs) in app.store.schedules_between(first, last).await? {
        if due::is_due(&prefs, defaults, date, when) {
            selected.due.insert(id);
            if matches!(prefs.frequency, crate::domain::Frequency::Weekly(_)) {
                selected.weekly.insert(id);
            }
        }
    }
    Ok(selected)
}

/// Sends every unfinished digest (of any date since `since`) whose retry
/// time has come: the retry job, and the catch-up after a crash.
pub async fn resume_unfinished(
    app: &App,
    since: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<DigestReport> {
    let mut report = DigestReport::default();
    let unfinished = app.store.unfinished_deliveries(since, now).await?;
    let sender = batch::Sender::new(app).await?;
    for chunk in unfinished.chunks(PAGE as usize) {
        let mut jobs = Vec::with_capacity(chunk.len());
        for delivery in chunk {
            let sub = app.store.subscriber_by_id(delivery.subscriber_id).await?;
            if sub.status != SubscriberStatus::Active {
                continue;
            }
            jobs.push(resume_job(app, delivery.clone(), sub, &[], &HashMap::new()).await?);
        }
        sender.send_jobs(jobs, &mut report).await;
    }
    if report.sent + report.deferred + report.failed > 0 {
        tracing::info!(
            digests.sent = report.sent,
            digests.deferred = report.deferred,
            digests.throttled = report.throttled,
            digests.failed = report.failed,
            "retried unfinished digests"
        );
    }
    Ok(report)
}

/// Plans the digests of a page of subscribers ([`plan::plan_page`]), in
/// page order: `None` for a subscriber `wanted` leaves out or with no
/// digest due. `sent` gives each subscriber's papers already sent.
fn plan_page<'p>(
    app: &App,
    matcher: &mut Matcher,
    papers: &[Paper],
    page: &'p [Subscriber],
    wanted: impl Fn(&Subscriber) -> bool,
    sent: impl Fn(&Subscriber) -> &'p HashSet<PaperId>,
) -> Vec<Option<(Vec<PlannedPaper>, usize)>> {
    let topics: Vec<&[crate::domain::Topic]> = page.iter().map(|s| s.topics.as_slice()).collect();
    let compiled = plan::plan_page(matcher, &topics);
    page.iter()
        .zip(compiled)
        .map(|(sub, (topics, candidates))| {
            if !wanted(sub) {
                return None;
            }
            finish_plan(app, matcher, papers, sub, &topics, &candidates, sent(sub))
        })
        .collect()
}

/// Plans one subscriber's digest against the run's papers: `None` when no
/// digest is due (nothing new matched and `send_empty` is off).
async fn plan_for(
    app: &App,
    matcher: &mut Matcher,
    papers: &[Paper],
    sub: &Subscriber,
) -> anyhow::Result<Option<(Vec<PlannedPaper>, usize)>> {
    let topics = CompiledTopics::compile(matcher, &sub.topics);
    let candidates = plan::candidate_sets(matcher, &topics);
    let ids: Vec<&PaperId> = candidates
        .iter(matcher)
        .map(|(i, _)| &papers[i].id)
        .collect();
    let sent = app.store.already_sent(sub.id, &ids).await?;
    Ok(finish_plan(
        app,
        matcher,
        papers,
        sub,
        &topics,
        &candidates,
        &sent,
    ))
}

fn finish_plan(
    app: &App,
    matcher: &Matcher,
    papers: &[Paper],
    sub: &Subscriber,
    topics: &CompiledTopics,
    candidates: &plan::Candidates,
    sent: &HashSet<PaperId>,
) -> Option<(Vec<PlannedPaper>, usize)> {
    for (topic, err) in &topics.invalid {
        tracing::warn!(subscriber.id = %sub.id, topic.position = topic.position, error = %err, "skipping a topic whose query does not parse");
    }
    let wants_top = sub.wants_top_papers();
    if candidates.is_empty() && !wants_top && !app.settings.digest.send_empty {
        return None;
    }
    let (mut kept, more) = plan::finish_sets(
        matcher,
        papers,
        topics,
        candidates,
        sent,
        app.settings.digest.max_papers,
    );
    if wants_top {
        // After the topics, leaving out every paper they matched (listed
        // above, or counted in "N more").
        let top = top_papers(
            papers,
            |i| candidates.contains(matcher, i),
            sent,
            app.settings.digest.trending_count,
        );
        kept.extend(top.into_iter().map(|paper| PlannedPaper {
            paper,
            topic_position: TOP_PAPERS_POSITION,
            matched: Vec::new(),
        }));
    }
    if kept.is_empty() && !app.settings.digest.send_empty {
        return None;
    }
    Some((kept, more))
}

/// Renders what `sub` would get for `date` without reserving or sending:
/// the recorded digest if one exists, else a fresh plan.
pub async fn preview(
    app: &App,
    sub: Subscriber,
    date: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<RenderedEmail>> {
    let job = if let Some(existing) = app.store.delivery_for(sub.id, date).await? {
        resume_job(app, existing, sub, &[], &HashMap::new()).await?
    } else {
        let mut days = i64::from(app.settings.digest.lookback_days);
        if matches!(
            app.store.preferences(sub.id).await?.frequency,
            crate::domain::Frequency::Weekly(_)
        ) {
            days = days.max(WEEK_DAYS);
        }
        let Window {
            papers,
            mut matcher,
            ..
        } = Window::load(app, date, days).await?;
        let Some((kept, more)) = plan_for(app, &mut matcher, &papers, &sub).await? else {
            return Ok(None);
        };
        let delivery = Delivery {
            id: crate::domain::DeliveryId::default(),
            subscriber_id: sub.id,
            digest_date: date,
            status: crate::store::DeliveryStatus::Pending,
            message_id: String::new(),
            paper_count: kept.len() as i64,
            more_count: more as i64,
            attempts: 0,
            last_error: None,
            smtp_code: None,
            next_attempt_at: None,
            created_at: now,
            sent_at: None,
        };
        let papers = kept
            .into_iter()
            .map(|p| DigestPaper {
                paper: Arc::new(papers[p.paper].clone()),
                topic_position: p.topic_position,
                matched: p.matched,
            })
            .collect();
        Job {
            delivery,
            subscriber: sub,
            papers,
        }
    };
    let renderer = DigestRenderer::new(
        app.settings.web.base_url.clone(),
        app.settings.digest.site_name.clone(),
        app.signer.clone(),
    );
    Ok(Some(renderer.render(job.content(), now)?))
}

/// Rebuilds an unfinished delivery from its ledger rows, re-explaining the
/// matches against the subscriber's current topics.
pub(super) async fn resume_job(
    app: &App,
    delivery: Delivery,
    subscriber: Subscriber,
    run_papers: &[Arc<Paper>],
    index: &HashMap<PaperId, usize>,
) -> anyhow::Result<Job> {
    let rows = app.store.delivery_papers(delivery.id).await?;
    let mut papers: Vec<Paper> = Vec::with_capacity(rows.len());
    let missing: Vec<PaperId> = rows
        .iter()
        .filter(|(id, _)| !index.contains_key(id))
        .map(|(id, _)| id.clone())
        .collect();
    let loaded: HashMap<PaperId, Paper> = app
        .store
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
    let topics = CompiledTopics::compile(&mut small, &subscriber.topics);
    let mut out = Vec::with_capacity(papers.len());
    for (i, paper) in papers.iter().enumerate() {
        let mut matched: Vec<matching::MatchedTerm> = Vec::new();
        for (_, c) in topics.queries(&small) {
            for t in small.explain(c, i) {
                if !matched.iter().any(|m| m.label == t.label) {
                    matched.push(t);
                }
            }
        }
        let topic = rows
            .iter()
            .find(|(id, _)| *id == paper.id)
            .map(|r| r.1)
            .unwrap_or(0);
        out.push(DigestPaper {
            paper: Arc::new(paper.clone()),
            topic_position: topic,
            matched,
        });
    }
    // The compiled topics borrow the subscriber's; done with them.
    drop(topics);
    Ok(Job {
        delivery,
        subscriber,
        papers: out,
    })
}

pub(super) enum Outcome {
    Sent,
    Deferred,
    /// Deferred: its recipient domain's budget is spent.
    Throttled,
    Failed,
    /// Another run (in this or another process) is sending it, or has.
    ClaimedElsewhere,
}

/// Sends one claimed digest and records a failure; a digest the server
/// accepted is `Sent`, and the caller records it (see [`batch::send_jobs`]).
pub(super) async fn send_one(
    app: &App,
    job: &Job,
    email: &Result<PreparedEmail, SendError>,
) -> anyhow::Result<Outcome> {
    let id = job.delivery.id;
    let started = Instant::now();
    let result = match email {
        Ok(email) => app.mailer.send_prepared(email).await,
        // Not buildable (a bad address): a permanent failure, as from `send`.
        Err(e) => Err(e.clone()),
    };
    let now = Utc::now();
    match result {
        Ok(()) => {
            tracing::debug!(
                subscriber.id = %job.subscriber.id,
                delivery.id = %id,
                smtp_ms = started.elapsed().as_millis() as u64,
                "digest sent"
            );
            Ok(Outcome::Sent)
        }
        Err(SendError::Transient { code, reason }) => {
            let horizon = Duration::hours(i64::from(app.settings.digest.retry_horizon_hours));
            if now - job.delivery.created_at > horizon {
                app.store
                    .mark_failed(
                        id,
                        None,
                        &format!("gave up after retries: {reason}"),
                        None,
                        now,
                    )
                    .await?;
                tracing::warn!(
                    subscriber.id = %job.subscriber.id,
                    delivery.id = %id,
                    "digest failed: transient errors past the retry horizon"
                );
                return Ok(Outcome::Failed);
            }
            let attempts = job.delivery.attempts + 1;
            let backoff = Duration::minutes(5 * (1i64 << attempts.clamp(0, 6)));
            app.store
                .mark_deferred(id, code, &reason, now + backoff, now)
                .await?;
            tracing::warn!(subscriber.id = %job.subscriber.id, delivery.id = %id, error = %mail::loggable_reply(&reason), retry_in_min = backoff.num_minutes(), "digest deferred");
            Ok(Outcome::Deferred)
        }
        Err(SendError::Permanent { code, reply }) => {
            let limit = app.settings.mail.suspend_after_hard_bounces;
            let streak = app.mailer.blames_recipient(code, &reply).then_some(limit);
            let suspended = app.store.mark_failed(id, code, &reply, streak, now).await?;
            tracing::warn!(
                subscriber.id = %job.subscriber.id,
                delivery.id = %id,
                smtp.code = code,
                "digest rejected permanently"
            );
            if suspended {
                tracing::warn!(
                    subscriber.id = %job.subscriber.id,
                    hard_bounces = limit,
                    "subscriber suspended after hard bounces in a row"
                );
            }
            Ok(Outcome::Failed)
        }
    }
}

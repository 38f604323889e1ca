//! Reserving, claiming and recording a page of digests with few write
//! transactions, while the messages themselves go out concurrently.
//!
//! The order per digest is the one-at-a-time protocol's: reserved with its
//! papers (`pending`), claimed (`sending`, owned by this process) before its
//! DATA, marked `sent` after the server accepted it. What changes is that a
//! page's reservations share one transaction, claims are made for a chunk of
//! digests at a time just before they are sent, and `sent` marks are
//! written together as soon as no other send has finished (so a digest the
//! server accepted is recorded within milliseconds, never held back for a
//! batch to fill).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use futures::stream::FuturesUnordered;
use futures::{FutureExt as _, StreamExt as _};

use super::limits::{self, Budget, SendLimits};
use super::plan::PlannedPaper;
use super::run::{resume_job, send_one, DigestReport, Job, Outcome};
use crate::app::App;
use crate::domain::Subscriber;
use crate::domain::{DeliveryId, Paper, PaperId};
use crate::email::{message_id, DigestPaper, DigestRenderer, Occasion};
use crate::mail::{Mailer, PreparedEmail, SendError};
use crate::store::{BatchReservation, ClaimRequest, DeliveryStatus, NewReservation};

/// Digests claimed per write transaction.
const CLAIM_CHUNK: usize = 32;
/// Most `sent` marks held before they are written even under full load.
const MARK_BATCH: usize = 256;
/// Chunks of built messages waiting for their claim: enough that the
/// sending task never waits for rendering, few enough to bound memory.
const BUILT_AHEAD: usize = 2;

/// A subscriber's planned digest, not yet reserved.
pub(super) struct Planned {
    pub sub: Subscriber,
    pub kept: Vec<PlannedPaper>,
    pub more: usize,
}

/// Reserves a page of planned digests in one transaction and returns the
/// jobs to send: the new digests with the papers this run put in their
/// ledger, and digests an earlier run left unfinished. Digests that need
/// nothing sent count as already done.
pub(super) async fn reserve_page(
    app: &App,
    date: NaiveDate,
    papers: &[std::sync::Arc<Paper>],
    index: &HashMap<PaperId, usize>,
    planned: Vec<Planned>,
    now: DateTime<Utc>,
    report: &mut DigestReport,
) -> anyhow::Result<Vec<Job>> {
    if planned.is_empty() {
        return Ok(Vec::new());
    }
    let domain = app.mailer.sender_domain();
    let batch: Vec<NewReservation> = planned
        .iter()
        .map(|p| NewReservation {
            subscriber_id: p.sub.id,
            message_id: message_id(Occasion::Digest(date), p.sub.id, &domain),
            papers: p
                .kept
                .iter()
                .map(|k| (papers[k.paper].id.clone(), k.topic_position))
                .collect(),
            more_count: p.more as i64,
        })
        .collect();
    let reserved = app
        .store
        .reserve_deliveries(date, &batch, now)
        .await
        .context("reserving deliveries")?;
    let mut jobs = Vec::with_capacity(planned.len());
    for (p, r) in planned.into_iter().zip(reserved) {
        match r {
            BatchReservation::New { delivery, kept } => {
                // Another run may have claimed some papers in between; keep only ours.
                let papers = p
                    .kept
                    .into_iter()
                    .zip(kept)
                    .filter(|(_, ours)| *ours)
                    .map(|(k, _)| DigestPaper {
                        paper: papers[k.paper].clone(),
                        topic_position: k.topic_position,
                        matched: k.matched,
                    })
                    .collect();
                jobs.push(Job {
                    delivery,
                    subscriber: p.sub,
                    papers,
                });
            }
            BatchReservation::Existing => match app.store.delivery_for(p.sub.id, date).await? {
                Some(d) if d.status.is_unfinished() => {
                    jobs.push(resume_job(app, d, p.sub, papers, index).await?);
                }
                _ => report.already_done += 1,
            },
            BatchReservation::Nothing => report.already_done += 1,
        }
    }
    Ok(jobs)
}

/// A job and its message, built and formatted (or why it cannot be).
type Built = (Job, anyhow::Result<Result<PreparedEmail, SendError>>);

/// A job ready for DATA: claimed by this run, its message built.
struct Claimed {
    job: Job,
    email: Result<PreparedEmail, SendError>,
}

/// What preparing one job gave.
enum Prepared {
    Send(Box<Claimed>),
    /// Settled without sending (claimed elsewhere, or deferred by a limit).
    Done(Outcome),
}

/// Sends a run's digests: `[digest] concurrency` messages in flight, under
/// the run's sending limits (`max_per_second`, `domain_limits`), which last
/// for the whole run.
pub(super) struct Sender<'a> {
    app: &'a App,
    renderer: std::sync::Arc<DigestRenderer>,
    limits: Mutex<SendLimits>,
}

impl<'a> Sender<'a> {
    /// Sets up the run's limits; a domain's budget starts from what was sent
    /// to it in the last minute and hour, by this run or earlier ones.
    pub(super) async fn new(app: &'a App) -> anyhow::Result<Sender<'a>> {
        let settings = &app.settings.digest;
        let now = Instant::now();
        let mut limits = SendLimits::new(settings.max_per_second, &settings.domain_limits, now);
        let domains: Vec<String> = limits.limited_domains().map(str::to_owned).collect();
        let wall = Utc::now();
        for domain in domains {
            let minute = app
                .store
                .digests_to_domain_since(&domain, wall - chrono::Duration::minutes(1))
                .await
                .context("counting recent digests per domain")?;
            let hour = app
                .store
                .digests_to_domain_since(&domain, wall - chrono::Duration::hours(1))
                .await
                .context("counting recent digests per domain")?;
            limits.already_sent(&domain, minute, hour, now);
        }
        Ok(Sender {
            app,
            renderer: std::sync::Arc::new(DigestRenderer::new(
                app.settings.web.base_url.clone(),
                app.settings.digest.site_name.clone(),
                app.signer.clone(),
            )),
            limits: Mutex::new(limits),
        })
    }

    fn limits(&self) -> std::sync::MutexGuard<'_, SendLimits> {
        self.limits.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends `jobs`, claiming them a chunk at a time just before they go and
    /// recording each outcome in `report`. The messages are rendered and
    /// formatted ahead on a blocking thread (see [`build_ahead`]) while the
    /// sends already claimed go on; rendering changes nothing in the store.
    pub(super) async fn send_jobs(&self, jobs: Vec<Job>, report: &mut DigestReport) {
        let concurrency = self.app.settings.digest.concurrency.max(1);
        let (built_tx, mut built_rx) = tokio::sync::mpsc::channel(BUILT_AHEAD);
        let renderer = self.renderer.clone();
        let mailer = self.app.mailer.clone();
        let builder =
            tokio::task::spawn_blocking(move || build_ahead(&renderer, &mailer, jobs, &built_tx));
        let mut all_built = false;
        let mut ready: VecDeque<anyhow::Result<Prepared>> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut finished: Vec<(DeliveryId, anyhow::Result<Outcome>)> = Vec::new();
        let mut sent: Vec<DeliveryId> = Vec::new();
        loop {
            while in_flight.len() < concurrency {
                if ready.is_empty() && !all_built {
                    match polling(&mut in_flight, &mut finished, built_rx.recv()).await {
                        Some(chunk) => {
                            let claimed =
                                polling(&mut in_flight, &mut finished, self.claim_chunk(chunk))
                                    .await;
                            ready.extend(claimed);
                        }
                        None => all_built = true,
                    }
                }
                match ready.pop_front() {
                    Some(Ok(Prepared::Send(c))) => in_flight.push(self.send_claimed(*c)),
                    Some(Ok(Prepared::Done(outcome))) => {
                        tally(DeliveryId::default(), Ok(outcome), &mut sent, report)
                    }
                    Some(Err(e)) => tally(DeliveryId::default(), Err(e), &mut sent, report),
                    None => break,
                }
            }
            for (id, outcome) in finished.drain(..) {
                tally(id, outcome, &mut sent, report);
            }
            if in_flight.is_empty() {
                break;
            }
            // Write the marks whenever no other send has finished yet.
            let next = match in_flight.next().now_or_never() {
                Some(next) => next,
                None => {
                    // Record every accepted digest before waiting on the
                    // sends still in flight, including those that finish
                    // while the marks are written.
                    loop {
                        let flush = self.flush_sent(&mut sent, report);
                        polling(&mut in_flight, &mut finished, flush).await;
                        for (id, outcome) in finished.drain(..) {
                            tally(id, outcome, &mut sent, report);
                        }
                        if sent.is_empty() {
                            break;
                        }
                    }
                    if in_flight.is_empty() {
                        continue;
                    }
                    in_flight.next().await
                }
            };
            if let Some((id, outcome)) = next {
                tally(id, outcome, &mut sent, report);
                if sent.len() >= MARK_BATCH {
                    let flush = self.flush_sent(&mut sent, report);
                    polling(&mut in_flight, &mut finished, flush).await;
                }
            }
        }
        self.flush_sent(&mut sent, report).await;
        // A panic while rendering is a bug: surface it here, after every
        // digest already sent is recorded (the rest stay `pending`).
        if let Err(e) = builder.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    /// Sends one claimed digest under the global pace.
    async fn send_claimed(&self, c: Claimed) -> (DeliveryId, anyhow::Result<Outcome>) {
        let wait = self.limits().pace(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let id = c.job.delivery.id;
        (id, send_one(self.app, &c.job, &c.email).await)
    }

    /// Records the accepted digests as sent, in one transaction.
    async fn flush_sent(&self, sent: &mut Vec<DeliveryId>, report: &mut DigestReport) {
        if sent.is_empty() {
            return;
        }
        match self.app.store.mark_sent_many(sent, Utc::now()).await {
            Ok(()) => report.sent += sent.len(),
            Err(e) => {
                // Accepted by the server but not recorded: left `sending`,
                // owned by this process, so a later run resends them (the
                // same Message-ID) rather than never.
                report.deferred += sent.len();
                tracing::error!(
                    error = format!("{e:#}"),
                    digests = sent.len(),
                    "sent digests could not be recorded"
                );
            }
        }
        sent.clear();
    }

    /// Builds each job's message, defers those whose recipient domain has no
    /// budget left, then claims the rest in one transaction. A digest left
    /// `sending` by a process that is still alive is not taken.
    async fn claim_chunk(&self, chunk: Vec<Built>) -> Vec<anyhow::Result<Prepared>> {
        let app = self.app;
        let now = Utc::now();
        let mut out: Vec<anyhow::Result<Prepared>> = Vec::with_capacity(chunk.len());
        let mut to_claim: Vec<Claimed> = Vec::with_capacity(chunk.len());
        for (job, email) in chunk {
            let email = match email {
                Ok(email) => email,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            if job.delivery.status == DeliveryStatus::Sending {
                match app.store.delivery_owner(job.delivery.id).await {
                    Ok(Some(owner)) if super::owner::is_alive(&owner) => {
                        tracing::debug!(
                            delivery.id = %job.delivery.id,
                            "digest claimed by another run"
                        );
                        out.push(Ok(Prepared::Done(Outcome::ClaimedElsewhere)));
                        continue;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        out.push(Err(e.into()));
                        continue;
                    }
                }
            }
            let budget = self
                .limits()
                .admit(job.subscriber.email.as_str(), Instant::now());
            if let Budget::DeferFor(wait) = budget {
                out.push(self.defer_for_budget(&job, wait, now).await);
                continue;
            }
            to_claim.push(Claimed { job, email });
        }
        let requests: Vec<ClaimRequest> = to_claim
            .iter()
            .map(|c| ClaimRequest {
                id: c.job.delivery.id,
                expected: c.job.delivery.status,
                attempts: c.job.delivery.attempts,
            })
            .collect();
        match app
            .store
            .claim_deliveries(&requests, super::owner::this_process(), now)
            .await
        {
            Ok(won) => {
                for (c, won) in to_claim.into_iter().zip(won) {
                    if won {
                        out.push(Ok(Prepared::Send(Box::new(c))));
                    } else {
                        tracing::debug!(
                            delivery.id = %c.job.delivery.id,
                            "digest claimed by another run"
                        );
                        out.push(Ok(Prepared::Done(Outcome::ClaimedElsewhere)));
                    }
                }
            }
            Err(e) => {
                let e = anyhow::Error::from(e).context("claiming deliveries");
                for _ in &to_claim {
                    out.push(Err(anyhow::anyhow!("{e:#}")));
                }
            }
        }
        out
    }

    /// Leaves a digest for a later run: its domain's budget is spent.
    async fn defer_for_budget(
        &self,
        job: &Job,
        wait: std::time::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Prepared> {
        let retry_at =
            now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1));
        let domain = limits::domain_of(job.subscriber.email.as_str());
        self.app
            .store
            .mark_deferred(
                job.delivery.id,
                None,
                &format!("the sending budget for {domain} is spent"),
                retry_at,
                now,
            )
            .await?;
        tracing::debug!(
            delivery.id = %job.delivery.id,
            recipient.domain = %domain,
            retry_in_s = wait.as_secs(),
            "digest deferred: domain budget spent"
        );
        Ok(Prepared::Done(Outcome::Throttled))
    }
}

/// Renders and formats every job's message, a chunk at a time, handing
/// each chunk to the sending task; stops early if that task is gone.
fn build_ahead(
    renderer: &DigestRenderer,
    mailer: &Mailer,
    jobs: Vec<Job>,
    out: &tokio::sync::mpsc::Sender<Vec<Built>>,
) {
    let mut jobs = jobs.into_iter();
    loop {
        let chunk: Vec<Job> = jobs.by_ref().take(CLAIM_CHUNK).collect();
        if chunk.is_empty()
            || out
                .blocking_send(build_emails(renderer, mailer, chunk))
                .is_err()
        {
            return;
        }
    }
}

/// Renders and formats the messages of a chunk, on two threads: this is
/// most of a digest run's CPU time.
fn build_emails(renderer: &DigestRenderer, mailer: &Mailer, mut jobs: Vec<Job>) -> Vec<Built> {
    let now = Utc::now();
    let build = |job: Job| -> Built {
        let email = renderer
            .email(job.content(), &job.delivery.message_id, now)
            .map(|email| mailer.prepare(&email));
        (job, email)
    };
    if jobs.len() < 4 {
        return jobs.into_iter().map(build).collect();
    }
    let b = jobs.split_off(jobs.len() / 2);
    std::thread::scope(|scope| {
        let other = scope.spawn(|| b.into_iter().map(build).collect::<Vec<_>>());
        let mut out: Vec<Built> = jobs.into_iter().map(build).collect();
        match other.join() {
            Ok(rest) => out.extend(rest),
            // A panic in rendering is a bug: let it be this thread's.
            Err(panic) => std::panic::resume_unwind(panic),
        }
        out
    })
}

/// Counts one outcome; a sent digest waits in `sent` for its mark.
/// Runs `work` (a store write) while still driving the sends in flight,
/// keeping what they finish in `finished`. A send records its own failure in
/// a write transaction; left unpolled halfway through it, that transaction
/// would hold SQLite's write lock while `work` waited for it.
async fn polling<S, T>(
    in_flight: &mut S,
    finished: &mut Vec<S::Item>,
    work: impl std::future::Future<Output = T>,
) -> T
where
    S: futures::Stream + Unpin + futures::stream::FusedStream,
{
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            out = &mut work => return out,
            Some(done) = in_flight.next(), if !in_flight.is_terminated() => finished.push(done),
        }
    }
}

fn tally(
    id: DeliveryId,
    outcome: anyhow::Result<Outcome>,
    sent: &mut Vec<DeliveryId>,
    report: &mut DigestReport,
) {
    match outcome {
        Ok(Outcome::Sent) => sent.push(id),
        Ok(Outcome::Deferred) => report.deferred += 1,
        Ok(Outcome::Throttled) => {
            report.deferred += 1;
            report.throttled += 1;
        }
        Ok(Outcome::Failed) => report.failed += 1,
        Ok(Outcome::ClaimedElsewhere) => report.already_done += 1,
        Err(e) => {
            report.deferred += 1;
            tracing::error!(
                error = format!("{e:#}"),
                "a digest could not be sent or recorded"
            );
        }
    }
}

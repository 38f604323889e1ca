//! Sending a run's reserved digests: claiming, sending and recording them
//! with few write transactions while the messages go out concurrently,
//! under the run's sending limits, and counting each outcome.
//!
//! The order per digest is the one-at-a-time protocol's: reserved with its
//! papers (`pending`, see `reserve`), claimed (`sending`, owned by this
//! process) before its DATA, marked `sent` after the server accepted it, or
//! `deferred` (retried later, see `retry`) or `failed`. What changes is that
//! claims are made for a chunk of digests at a time just before they are
//! sent (one statement; on PostgreSQL the next chunk's while this one is
//! sent), and `sent` marks are written by a task of their
//! own while the sends go on, each statement taking every mark that
//! arrived while the previous one was written or within a few
//! milliseconds of the first (so a digest the server accepted is recorded
//! within a round trip or two and those milliseconds, and the sends never
//! wait on the database for it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt as _};
use futures::stream::FuturesUnordered;
use futures::StreamExt as _;

use super::config::DigestConfig;
use super::job::Job;
use super::limits::SendLimits;
use super::owner;
use super::report::DigestReport;
use super::retry::Retry;
use crate::domain::{DeliveryId, PaperId};
use crate::email::DigestRenderer;
use crate::inbound::verp::{ReturnPath, SubscriberRef};
use crate::mail::{self, Mailer, PreparedEmail, SendError};
use crate::store::{BucketSpec, ClaimRequest, Store};

/// Digests claimed per statement.
const CLAIM_CHUNK: usize = 32;
/// Most `sent` marks written in one statement, and most waiting for the
/// writer: when marks wait, sending waits, so at most twice this many
/// accepted digests (plus those in flight) are unrecorded at any moment,
/// the most a crash can have sent again.
const MARK_BATCH: usize = 128;
/// How long the first mark of a statement waits for others to join it:
/// each statement has a fixed cost on the server (a transaction, and on
/// PostgreSQL a plan), which a mark a millisecond apart would pay alone.
/// Short, because an accepted digest not yet recorded is one a crash sends
/// again: waiting longer saves statements (a daemon sending a share of a
/// run writes fewer marks a statement) but lets more of them wait.
const MARK_GATHER: std::time::Duration = std::time::Duration::from_millis(10);
/// Marks that, once waiting, are written without waiting out
/// [`MARK_GATHER`].
const MARK_ENOUGH: usize = 32;
/// Chunks of built messages waiting for their claim: enough that the
/// sending task never waits for rendering, few enough to bound memory.
const BUILT_AHEAD: usize = 2;

/// A job's message, built ahead of its claim.
enum Message {
    /// Formatted, ready for DATA.
    Ready(PreparedEmail),
    /// Not buildable (a bad address): it fails permanently, as a send would.
    Unbuildable(SendError),
}

/// What the sending loop waited for.
enum Next {
    /// A send finished.
    Sent(anyhow::Result<Outcome>),
    /// The next chunk's claim answered.
    Claimed(Vec<anyhow::Result<Prepared>>),
}

/// A job and its message, or why rendering failed (the digest then stays
/// for a later run).
struct Built {
    job: Job,
    /// Papers taken out of the digest to fit the server's SIZE limit: they
    /// leave the ledger before it is claimed.
    dropped: Vec<PaperId>,
    message: anyhow::Result<Message>,
}

/// A job ready for DATA: claimed by this run, its message built.
struct Claimed {
    job: Job,
    message: Message,
    /// Its turn under the global pace, shared by every daemon.
    not_before: Option<tokio::time::Instant>,
}

/// What preparing one job gave.
enum Prepared {
    Send(Box<Claimed>),
    /// Settled without sending (claimed elsewhere, or deferred by a limit).
    Done(Outcome),
}

/// How one digest's send ended.
#[derive(Debug)]
enum Outcome {
    /// Accepted by the server; recorded with the next batch of marks.
    Sent(DeliveryId),
    /// Deferred for a retry, with the reply (or error) that caused it, fit
    /// for a log line.
    Deferred(String),
    /// Deferred: its recipient domain's budget is spent.
    Throttled,
    /// Failed for good, with the reply (or error), fit for a log line.
    Failed(String),
    /// Another run (in this or another process) is sending it, or has.
    ClaimedElsewhere,
}

/// Sends a run's digests: `[digest] concurrency` messages in flight, under
/// the run's sending limits (`max_per_second`, `domain_limits`), which last
/// for the whole run.
pub(super) struct Sender<'a> {
    store: &'a Store,
    mailer: &'a Mailer,
    config: &'a DigestConfig,
    renderer: Arc<DigestRenderer>,
    /// `[mail] return_path`: each digest's envelope sender names it.
    return_path: Option<Arc<ReturnPath>>,
    limits: SendLimits,
    /// The deliveries of the current [`Sender::send_jobs`], and those
    /// reserved for the next ([`Sender::hold`]): their leases (the
    /// reservation's, then the claim's) are renewed while it runs.
    held: Arc<Mutex<Vec<DeliveryId>>>,
}

impl<'a> Sender<'a> {
    /// Sets up the run's limits: the budgets themselves are kept in the
    /// database, shared with every other run and daemon.
    pub(super) async fn new(
        store: &'a Store,
        mailer: &'a Mailer,
        config: &'a DigestConfig,
        renderer: DigestRenderer,
        return_path: Option<ReturnPath>,
    ) -> anyhow::Result<Sender<'a>> {
        let limits = SendLimits::new(config.max_per_second, &config.domain_limits);
        Ok(Sender {
            store,
            mailer,
            config,
            renderer: Arc::new(renderer),
            return_path: return_path.map(Arc::new),
            limits,
            held: Arc::default(),
        })
    }

    /// Sends `jobs`, claiming them a chunk at a time just before they go and
    /// recording each outcome in `report`. The messages are rendered and
    /// formatted ahead on a blocking thread (see [`build_ahead`]) while the
    /// sends already claimed go on; rendering changes nothing in the store.
    pub(super) async fn send_jobs(&self, jobs: Vec<Job>, report: &mut DigestReport) {
        if !jobs.is_empty() {
            // Learn the server's SIZE limit before the first message is
            // built, so that every digest is built to fit it.
            self.mailer.warm_up().await;
        }
        let mine: HashSet<DeliveryId> = jobs.iter().map(|j| j.delivery.id).collect();
        self.hold(mine.iter().copied());
        let _renewing = self.renew_leases();
        let concurrency = self.config.concurrency.max(1);
        let (built_tx, mut built_rx) = tokio::sync::mpsc::channel(BUILT_AHEAD);
        let renderer = self.renderer.clone();
        let mailer = self.mailer.clone();
        let return_path = self.return_path.clone();
        let builder = tokio::task::spawn_blocking(move || {
            let build = Build {
                renderer: &renderer,
                mailer: &mailer,
                return_path: return_path.as_deref(),
            };
            build_ahead(build, jobs, &built_tx)
        });
        let marks = MarkWriter::start(self.store.clone());
        let mut all_built = false;
        let mut ready: VecDeque<anyhow::Result<Prepared>> = VecDeque::new();
        let mut in_flight = FuturesUnordered::new();
        let mut finished: Vec<anyhow::Result<Outcome>> = Vec::new();
        // The next chunk is claimed while this one is sent, unless the
        // store's writers take turns: then a claim is awaited before more
        // sends start, as one left unpolled while an outcome waits for the
        // mark writer would hold the write lock the writer waits for.
        let claim_ahead = !self.store.writers_take_turns();
        let mut claiming: Option<BoxFuture<'_, Vec<anyhow::Result<Prepared>>>> = None;
        loop {
            while in_flight.len() < concurrency {
                match ready.pop_front() {
                    Some(Ok(Prepared::Send(c))) => in_flight.push(self.send_claimed(*c)),
                    Some(Ok(Prepared::Done(outcome))) => {
                        let sends = Sends::new(&mut in_flight, &mut finished);
                        tally(Ok(outcome), &marks, report, sends).await
                    }
                    Some(Err(e)) => {
                        let sends = Sends::new(&mut in_flight, &mut finished);
                        tally(Err(e), &marks, report, sends).await
                    }
                    None => break,
                }
            }
            let claim_next = if claim_ahead {
                claiming.is_none() && ready.len() <= CLAIM_CHUNK / 2
            } else {
                ready.is_empty() && in_flight.len() < concurrency
            };
            if claim_next && !all_built {
                match polling(&mut in_flight, &mut finished, built_rx.recv()).await {
                    Some(chunk) if claim_ahead => claiming = Some(self.claim_chunk(chunk).boxed()),
                    Some(chunk) => {
                        let claimed =
                            polling(&mut in_flight, &mut finished, self.claim_chunk(chunk)).await;
                        ready.extend(claimed);
                    }
                    None => all_built = true,
                }
            }
            // Tallying drives the sends in flight, which may finish more.
            while !finished.is_empty() {
                for outcome in std::mem::take(&mut finished) {
                    let sends = Sends::new(&mut in_flight, &mut finished);
                    tally(outcome, &marks, report, sends).await;
                }
            }
            if in_flight.is_empty() && claiming.is_none() {
                if ready.is_empty() && all_built {
                    break;
                }
                continue;
            }
            let next = tokio::select! {
                Some(outcome) = in_flight.next() => Next::Sent(outcome),
                claimed = async {
                    match claiming.as_mut() {
                        Some(claim) => claim.await,
                        None => std::future::pending().await,
                    }
                } => Next::Claimed(claimed),
            };
            match next {
                Next::Sent(outcome) => {
                    let sends = Sends::new(&mut in_flight, &mut finished);
                    tally(outcome, &marks, report, sends).await
                }
                Next::Claimed(claimed) => {
                    claiming = None;
                    ready.extend(claimed);
                }
            }
        }
        let marked = marks.finish().await;
        report.sent += marked.recorded;
        report.deferred += marked.unrecorded;
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|id| !mine.contains(id));
        // A panic while rendering is a bug: surface it here, after every
        // digest already sent is recorded (the rest stay `pending`).
        if let Err(e) = builder.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    }

    /// Adds digests reserved for a later [`Sender::send_jobs`] to those
    /// whose leases the current one renews, so they stay held while they
    /// wait.
    pub(super) fn hold(&self, ids: impl IntoIterator<Item = DeliveryId>) {
        self.held
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(ids);
    }

    /// Renews the leases of the digests this sender reserved or claimed,
    /// every third of a lease, until the returned guard is dropped (at the
    /// end of [`Sender::send_jobs`]); those it settled are no longer
    /// `pending` or `sending`, and those another process took over are no
    /// longer its own, and are left alone. A digest accepted but not recorded (the database
    /// failed) is then left to lapse, and another run resends it.
    fn renew_leases(&self) -> owner::AbortOnDrop {
        let store = self.store.clone();
        let held = self.held.clone();
        owner::keep_renewing(self.config.lease, move |until| {
            let store = store.clone();
            let ids: Vec<DeliveryId> = held.lock().unwrap_or_else(|e| e.into_inner()).clone();
            async move {
                if ids.is_empty() {
                    return true;
                }
                if let Err(e) = store
                    .renew_delivery_leases(&ids, owner::this_process(), until)
                    .await
                {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "renewing the leases of digests being sent"
                    );
                }
                true
            }
        })
    }

    /// Sends one claimed digest under the global pace.
    async fn send_claimed(&self, c: Claimed) -> anyhow::Result<Outcome> {
        if let Some(at) = c.not_before {
            tokio::time::sleep_until(at).await;
        }
        self.send_one(&c.job, &c.message).await
    }

    /// Sends one claimed digest and records a failure; a digest the server
    /// accepted is `Sent`, and the run's [`MarkWriter`] records it.
    async fn send_one(&self, job: &Job, message: &Message) -> anyhow::Result<Outcome> {
        let id = job.delivery.id;
        let started = Instant::now();
        let result = match message {
            Message::Ready(email) => self.mailer.send_prepared(email).await,
            Message::Unbuildable(e) => Err(e.clone()),
        };
        let now = Utc::now();
        let store = self.store;
        match result {
            Ok(()) => {
                tracing::debug!(
                    subscriber.id = %job.subscriber.id,
                    delivery.id = %id,
                    smtp_ms = started.elapsed().as_millis() as u64,
                    "digest sent"
                );
                Ok(Outcome::Sent(id))
            }
            Err(SendError::Transient { code, reason }) => {
                let policy = self.config.retry;
                match policy.after_transient(job.delivery.created_at, job.delivery.attempts, now) {
                    Retry::GiveUp => {
                        store
                            .mark_failed(
                                id,
                                None,
                                &format!("gave up after retries: {reason}"),
                                None,
                                now,
                            )
                            .await?;
                        let reason = mail::loggable_reply(&reason);
                        tracing::warn!(
                            subscriber.id = %job.subscriber.id,
                            delivery.id = %id,
                            error = %reason,
                            "digest failed: transient errors past the retry horizon"
                        );
                        Ok(Outcome::Failed(reason))
                    }
                    Retry::At(retry_at) => {
                        store
                            .mark_deferred(id, code, &reason, retry_at, now)
                            .await?;
                        let reason = mail::loggable_reply(&reason);
                        tracing::warn!(subscriber.id = %job.subscriber.id, delivery.id = %id, error = %reason, retry_in_min = (retry_at - now).num_minutes(), "digest deferred");
                        Ok(Outcome::Deferred(reason))
                    }
                }
            }
            Err(e @ SendError::TooLarge { .. }) => {
                store
                    .mark_failed(id, None, &e.to_string(), None, now)
                    .await?;
                tracing::warn!(
                    subscriber.id = %job.subscriber.id,
                    delivery.id = %id,
                    error = %e,
                    "digest not sent: larger than the server takes"
                );
                // Grouped by the limit, not by each digest's size.
                let SendError::TooLarge { limit, .. } = e else {
                    unreachable!("matched above")
                };
                Ok(Outcome::Failed(format!(
                    "larger than the server's limit of {limit} bytes (SIZE)"
                )))
            }
            Err(SendError::Permanent { code, reply }) => {
                let limit = self.config.suspend_after_hard_bounces;
                let streak = self.mailer.blames_recipient(code, &reply).then_some(limit);
                let suspended = store.mark_failed(id, code, &reply, streak, now).await?;
                // `552 5.3.4 Message file too big`: the code, the enhanced
                // status and the text, with any address taken out.
                let shown = mail::loggable_reply(&match code {
                    Some(code) => format!("{code} {reply}"),
                    None => reply,
                });
                tracing::warn!(
                    subscriber.id = %job.subscriber.id,
                    delivery.id = %id,
                    smtp.code = code,
                    smtp.reply = %shown,
                    "digest rejected permanently"
                );
                if suspended {
                    tracing::warn!(
                        subscriber.id = %job.subscriber.id,
                        hard_bounces = limit,
                        "subscriber suspended after hard bounces in a row"
                    );
                }
                Ok(Outcome::Failed(shown))
            }
        }
    }

    /// Defers the built jobs whose recipient domain has no budget left,
    /// then claims the rest in one statement. A digest another process
    /// holds (`sending` under a lease that has not passed) is not taken.
    async fn claim_chunk(&self, chunk: Vec<Built>) -> Vec<anyhow::Result<Prepared>> {
        let store = self.store;
        let now = Utc::now();
        let mut out: Vec<anyhow::Result<Prepared>> = Vec::with_capacity(chunk.len());
        let mut to_claim: Vec<Claimed> = Vec::with_capacity(chunk.len());
        for Built {
            job,
            dropped,
            message,
        } in chunk
        {
            if !dropped.is_empty() {
                // Out of the ledger before the smaller digest goes: a crash
                // after this resends the smaller one, and the dropped
                // papers wait for a later digest.
                if let Err(e) = store
                    .release_papers(job.delivery.id, &dropped, job.delivery.more_count, now)
                    .await
                {
                    out.push(Err(e.into()));
                    continue;
                }
            }
            let message = match message {
                Ok(message) => message,
                Err(e) => {
                    out.push(Err(e));
                    continue;
                }
            };
            to_claim.push(Claimed {
                job,
                message,
                not_before: None,
            });
        }
        let to_claim = match self.within_budgets(to_claim, now, &mut out).await {
            Ok(admitted) => admitted,
            Err((e, n)) => {
                for _ in 0..n {
                    out.push(Err(anyhow::anyhow!("{e:#}")));
                }
                return out;
            }
        };
        let requests: Vec<ClaimRequest> = to_claim
            .iter()
            .map(|c| ClaimRequest {
                id: c.job.delivery.id,
                expected: c.job.delivery.status,
                attempts: c.job.delivery.attempts,
            })
            .collect();
        let lease_until = now + owner::span(self.config.lease);
        match store
            .claim_deliveries(&requests, owner::this_process(), lease_until, now)
            .await
        {
            Ok(won) => {
                let mut paced = self.paced(won.iter().filter(|w| **w).count()).await;
                for (mut c, won) in to_claim.into_iter().zip(won) {
                    if won {
                        c.not_before = paced.next().flatten();
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

    /// Takes the budgets of the domains of `jobs` from the database, all
    /// the chunk's domains in one transaction: those within budget come
    /// back, in order; the others are deferred (their outcomes pushed to
    /// `out`, one statement per spent domain) until the budget has room
    /// again. A budget taken for a
    /// digest another daemon then claims is spent all the same (never
    /// more than the budget goes out). On a database error, the error and
    /// how many jobs it leaves unsent.
    async fn within_budgets(
        &self,
        jobs: Vec<Claimed>,
        now: DateTime<Utc>,
        out: &mut Vec<anyhow::Result<Prepared>>,
    ) -> Result<Vec<Claimed>, (anyhow::Error, usize)> {
        let mut wanted: HashMap<String, u32> = HashMap::new();
        for c in &jobs {
            if let Some((domain, _)) = self.limits.domain_budget(c.job.subscriber.email.as_str()) {
                *wanted.entry(domain).or_default() += 1;
            }
        }
        if wanted.is_empty() {
            return Ok(jobs);
        }
        // Per domain: how many may go, and when the rest may try again.
        let wanted: Vec<(String, u32)> = wanted.into_iter().collect();
        let wants: Vec<(&[BucketSpec], u32)> = wanted
            .iter()
            .map(|(domain, want)| {
                let (_, specs) = self
                    .limits
                    .domain_budget(&format!("x@{domain}"))
                    .expect("a limited domain");
                (specs, *want)
            })
            .collect();
        let mut granted: HashMap<String, (u32, std::time::Duration)> =
            match self.store.take_budgets(&wants, now).await {
                Ok(got) => wanted.into_iter().map(|(d, _)| d).zip(got).collect(),
                Err(e) => {
                    let e = anyhow::Error::from(e).context("taking the sending budgets");
                    return Err((e, jobs.len()));
                }
            };
        let mut admitted = Vec::with_capacity(jobs.len());
        // Per domain whose budget is spent: when to try again, and its jobs.
        let mut spent: HashMap<String, (std::time::Duration, Vec<DeliveryId>)> = HashMap::new();
        for c in jobs {
            let budget = self
                .limits
                .domain_budget(c.job.subscriber.email.as_str())
                .and_then(|(domain, _)| Some(domain.clone()).zip(granted.get_mut(&domain)));
            match budget {
                Some((domain, (0, retry))) => {
                    let entry = spent.entry(domain).or_insert((*retry, Vec::new()));
                    entry.1.push(c.job.delivery.id);
                }
                Some((_, (left, _))) => {
                    *left -= 1;
                    admitted.push(c);
                }
                None => admitted.push(c),
            }
        }
        for (domain, (wait, ids)) in spent {
            match self.defer_for_budget(&domain, &ids, wait, now).await {
                Ok(deferred) => out.extend(ids.iter().map(|id| {
                    Ok(Prepared::Done(if deferred.contains(id) {
                        Outcome::Throttled
                    } else {
                        Outcome::ClaimedElsewhere
                    }))
                })),
                Err(e) => out.extend(ids.iter().map(|_| Err(anyhow::anyhow!("{e:#}")))),
            }
        }
        Ok(admitted)
    }

    /// When each of `n` claimed digests may go under the global pace (none
    /// when `max_per_second` is 0), reserved in the database so that all
    /// daemons together keep to it. A database error lets them go at once
    /// (the pace is a courtesy to the server; the budgets are not).
    async fn paced(&self, n: usize) -> impl Iterator<Item = Option<tokio::time::Instant>> {
        let waits = match (self.limits.pace(), u32::try_from(n)) {
            (Some(pace), Ok(n)) if n > 0 => {
                match self.store.reserve_pace(pace, n, Utc::now()).await {
                    Ok(waits) => waits,
                    Err(e) => {
                        tracing::warn!(error = format!("{e:#}"), "reserving the global pace");
                        Vec::new()
                    }
                }
            }
            _ => Vec::new(),
        };
        let start = tokio::time::Instant::now();
        waits
            .into_iter()
            .map(move |w| Some(start + w))
            .chain(std::iter::repeat(None))
    }

    /// Leaves the digests `ids` to `domain` for a later run, in one
    /// statement: the domain's budget is spent. Those another process
    /// holds are left to it (see [`Store::defer_many`]); answers the ids
    /// deferred.
    async fn defer_for_budget(
        &self,
        domain: &str,
        ids: &[DeliveryId],
        wait: std::time::Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<HashSet<DeliveryId>> {
        let retry_at =
            now + chrono::Duration::from_std(wait).unwrap_or_else(|_| chrono::Duration::hours(1));
        let deferred: HashSet<DeliveryId> = self
            .store
            .defer_many(
                ids,
                owner::this_process(),
                &format!("the sending budget for {domain} is spent"),
                retry_at,
                now,
            )
            .await?
            .into_iter()
            .collect();
        tracing::debug!(
            digests = deferred.len(),
            recipient.domain = %domain,
            retry_in_s = wait.as_secs(),
            "digests deferred: domain budget spent"
        );
        Ok(deferred)
    }
}

/// What building a digest's message takes.
#[derive(Clone, Copy)]
struct Build<'a> {
    renderer: &'a DigestRenderer,
    mailer: &'a Mailer,
    return_path: Option<&'a ReturnPath>,
}

impl Build<'_> {
    /// The job's message, its envelope sender the delivery's bounce
    /// address when `[mail] return_path` is set.
    fn message(&self, job: &Job, now: DateTime<Utc>) -> anyhow::Result<Message> {
        let mut email = self
            .renderer
            .email(job.content(), &job.delivery.message_id, now)?;
        let prepared = match self.return_path {
            Some(path) => {
                email.list_unsubscribe_mailto = Some(path.unsubscribe_address(SubscriberRef {
                    subscriber_id: job.subscriber.id,
                    link_version: job.subscriber.link_version,
                }));
                self.mailer
                    .prepare_with_return_path(&email, &path.for_delivery(job.delivery.id.get()))
            }
            None => self.mailer.prepare(&email),
        };
        Ok(match prepared {
            Ok(prepared) => Message::Ready(prepared),
            Err(e) => Message::Unbuildable(e),
        })
    }
}

/// Renders and formats every job's message, a chunk at a time, handing
/// each chunk to the sending task; stops early if that task is gone.
fn build_ahead(build: Build<'_>, jobs: Vec<Job>, out: &tokio::sync::mpsc::Sender<Vec<Built>>) {
    let mut jobs = jobs.into_iter();
    loop {
        let chunk: Vec<Job> = jobs.by_ref().take(CLAIM_CHUNK).collect();
        if chunk.is_empty() || out.blocking_send(build_messages(build, chunk)).is_err() {
            return;
        }
    }
}

/// Renders and formats the messages of a chunk, on two threads: this is
/// most of a digest run's CPU time.
fn build_messages(builder: Build<'_>, mut jobs: Vec<Job>) -> Vec<Built> {
    let now = Utc::now();
    let build = |job: Job| -> Built { build_fitting(builder, job, now) };
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

/// Builds a job's message. When it is larger than the server takes (its
/// SIZE, once known), papers are dropped from the end of the digest into
/// its "N more" count, as few as needed (a binary search over how many
/// stay; at least one does), and returned so the caller releases them from
/// the ledger. A digest that does not fit even so is sent as it is and
/// refused by the transport, without its body leaving.
fn build_fitting(builder: Build<'_>, mut job: Job, now: DateTime<Utc>) -> Built {
    let mailer = builder.mailer;
    let build = |job: &Job| builder.message(job, now);
    let size = |built: &anyhow::Result<Message>| match built {
        Ok(Message::Ready(email)) => Some(email.as_bytes().len() as u64),
        _ => None,
    };
    let first = build(&job);
    let whole = |job: Job, message| Built {
        job,
        dropped: Vec::new(),
        message,
    };
    let Some(limit) = mailer.size_limit() else {
        return whole(job, first);
    };
    if job.papers.len() < 2 || size(&first).is_none_or(|n| n <= limit) {
        return whole(job, first);
    }
    let all = std::mem::take(&mut job.papers);
    let more = job.delivery.more_count;
    let keep = |job: &mut Job, k: usize| {
        job.papers = all[..k].to_vec();
        job.delivery.more_count = more + (all.len() - k) as i64;
        job.delivery.paper_count = k as i64;
    };
    // The largest k in 1..len that fits (k = 1 if none does).
    let (mut lo, mut hi) = (1, all.len() - 1);
    let mut best = None;
    while lo <= hi {
        let mid = (lo + hi) / 2;
        keep(&mut job, mid);
        let built = build(&job);
        if size(&built).is_some_and(|n| n <= limit) {
            best = Some((mid, built));
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    let (k, message) = match best {
        Some(found) => found,
        None => {
            keep(&mut job, 1);
            let built = build(&job);
            (1, built)
        }
    };
    keep(&mut job, k);
    let dropped = all[k..].iter().map(|p| p.paper.id.clone()).collect();
    Built {
        job,
        dropped,
        message,
    }
}

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

/// Records the digests the server accepted as `sent`, from a task of its
/// own: the sends go on while a batch of marks is written (a round trip
/// to PostgreSQL), and the ids that arrive meanwhile go together in the
/// next statement. A mark waits at most [`MARK_GATHER`] for others to
/// join it, never for a batch to fill: an accepted digest waiting for its
/// mark is one a crash would send again.
struct MarkWriter {
    ids: tokio::sync::mpsc::Sender<DeliveryId>,
    task: tokio::task::JoinHandle<Marked>,
}

/// What a [`MarkWriter`] recorded.
#[derive(Debug, Default)]
struct Marked {
    recorded: usize,
    /// Accepted by the server but not recorded (the database failed): left
    /// `sending` under this process's lease, which lapses once the run
    /// stops renewing it, so a later run resends them (the same
    /// Message-ID) rather than never.
    unrecorded: usize,
}

impl MarkWriter {
    fn start(store: Store) -> MarkWriter {
        let (ids, mut rx) = tokio::sync::mpsc::channel(MARK_BATCH);
        let task = tokio::spawn(async move {
            let mut marked = Marked::default();
            let mut batch = Vec::with_capacity(MARK_BATCH);
            while rx.recv_many(&mut batch, MARK_BATCH).await > 0 {
                let until = tokio::time::Instant::now() + MARK_GATHER;
                while batch.len() < MARK_ENOUGH {
                    let room = MARK_BATCH - batch.len();
                    let more = rx.recv_many(&mut batch, room);
                    match tokio::time::timeout_at(until, more).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                match store.mark_sent_many(&batch, Utc::now()).await {
                    Ok(()) => marked.recorded += batch.len(),
                    Err(e) => {
                        marked.unrecorded += batch.len();
                        tracing::error!(
                            error = format!("{e:#}"),
                            digests = batch.len(),
                            "sent digests could not be recorded"
                        );
                    }
                }
                batch.clear();
            }
            marked
        });
        MarkWriter { ids, task }
    }

    /// Queues an accepted digest's mark, waiting while [`MARK_BATCH`] marks
    /// wait; false if the writer is gone.
    async fn mark(&self, id: DeliveryId) -> bool {
        self.ids.send(id).await.is_ok()
    }

    /// Writes the marks still queued and answers what was recorded.
    async fn finish(self) -> Marked {
        drop(self.ids);
        match self.task.await {
            Ok(marked) => marked,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Marked::default(),
        }
    }
}

/// The sends in flight and where those that finish go: what [`tally`]
/// keeps driving while it waits.
struct Sends<'s, S: futures::Stream> {
    in_flight: &'s mut S,
    finished: &'s mut Vec<S::Item>,
}

impl<'s, S: futures::Stream> Sends<'s, S> {
    fn new(in_flight: &'s mut S, finished: &'s mut Vec<S::Item>) -> Self {
        Sends {
            in_flight,
            finished,
        }
    }
}

/// Counts one outcome in `report`; a sent digest is counted once its mark
/// is written (see [`MarkWriter`]).
///
/// Queuing a mark waits while [`MARK_BATCH`] marks wait for the writer,
/// and the sends in flight are driven meanwhile (what they finish is kept
/// in `sends.finished`). Left unpolled, they could stop the writer for
/// good: a send that records its failure or deferral writes in a
/// transaction, and on SQLite a writer granted this process's write turn
/// (or SQLite's lock) keeps it until it is polled to its commit, while the
/// mark writer queues behind it for its next statement. With the sends
/// parked here, the writer never drains the queue and this never returns.
/// On PostgreSQL the writer waits for a pooled connection instead, which
/// sends waiting to be polled can hold the same way.
async fn tally<S>(
    outcome: anyhow::Result<Outcome>,
    marks: &MarkWriter,
    report: &mut DigestReport,
    sends: Sends<'_, S>,
) where
    S: futures::Stream + Unpin + futures::stream::FusedStream,
{
    match outcome {
        Ok(Outcome::Sent(id)) => {
            if !polling(sends.in_flight, sends.finished, marks.mark(id)).await {
                report.deferred += 1;
                tracing::error!(delivery.id = %id, "a sent digest could not be recorded");
            }
        }
        Ok(Outcome::Deferred(reply)) => {
            report.deferred += 1;
            *report.replies.entry(reply).or_default() += 1;
        }
        Ok(Outcome::Throttled) => {
            report.deferred += 1;
            report.throttled += 1;
        }
        Ok(Outcome::Failed(reply)) => {
            report.failed += 1;
            *report.replies.entry(reply).or_default() += 1;
        }
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

#[cfg(test)]
mod tests {
    use futures::future::{BoxFuture, FutureExt as _};
    use futures::stream::FuturesUnordered;

    use super::*;
    use crate::store::test_store;

    /// The sending loop on SQLite with the mark queue full while the mark
    /// writer waits for the write turn a send in flight holds (it records
    /// its deferral, and gives the turn back once polled to its commit):
    /// queuing the next mark drives that send, so the writer gets its turn
    /// and the queue drains. Waiting on the queue alone, each would wait
    /// for the other for ever.
    #[tokio::test]
    async fn a_full_mark_queue_still_drives_the_send_that_holds_the_write_turn() {
        let (store, _dir) = test_store().await;
        let Store::Sqlite(sqlite) = &store else {
            unreachable!("the test store is SQLite")
        };
        let marks = MarkWriter::start(store.clone());
        let turn = sqlite.begin_write().await.unwrap();
        let mut in_flight: FuturesUnordered<BoxFuture<'static, anyhow::Result<Outcome>>> =
            FuturesUnordered::new();
        in_flight.push(
            async move {
                tokio::task::yield_now().await;
                drop(turn);
                Ok(Outcome::Deferred("451 4.3.0 try again later".into()))
            }
            .boxed(),
        );
        let mut finished = Vec::new();
        let mut report = DigestReport::default();
        // The writer takes a first mark and waits for the turn for its
        // statement; then its queue fills.
        assert!(marks.mark(DeliveryId::new(1)).await);
        tokio::time::sleep(MARK_GATHER * 5).await;
        for id in 2..=MARK_BATCH as i64 + 1 {
            assert!(marks.mark(DeliveryId::new(id)).await);
        }

        let next = Ok(Outcome::Sent(DeliveryId::new(MARK_BATCH as i64 + 2)));
        let sends = Sends::new(&mut in_flight, &mut finished);
        let tallied = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            tally(next, &marks, &mut report, sends),
        )
        .await;
        assert!(tallied.is_ok(), "the mark and the send wait for each other");
        assert!(
            matches!(finished.as_slice(), [Ok(Outcome::Deferred(_))]),
            "{finished:?}"
        );
        let marked = marks.finish().await;
        assert_eq!((marked.recorded, marked.unrecorded), (MARK_BATCH + 2, 0));
    }
}

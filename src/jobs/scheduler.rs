//! The daemon's clock: cron jobs for fetch, the digest tick, retry and
//! retention, in the configured timezone, and the catch-up at start.
//!
//! Job closures only call [`tick`]; the work itself lives in the job
//! modules. A job never overlaps itself: a tick that finds the previous run
//! still going is skipped and logged. The instant of a tick is an argument,
//! so tests drive the clock.

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Duration, Utc};
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use super::catch_up::last_due_day;
use super::catch_up::{catch_up, CatchUp};
use super::digest::digest_tick;
use super::fetch::FetchJob;
use super::retention::retention;
use super::retry::retry;
use super::slots::{once, slot_of, Once};
use crate::digest::DigestRun;
use crate::domain::Cron;
use crate::settings::{DataSettings, ScheduleSettings};

/// The daemon's jobs, each with the parts it uses, and when they run.
#[derive(Debug, Clone)]
pub struct Jobs {
    pub fetch: FetchJob,
    pub digest: DigestRun,
    pub schedule: ScheduleSettings,
    pub data: DataSettings,
}

impl Jobs {
    /// Runs what was due while the daemon was stopped (see
    /// [`super::catch_up`]).
    pub async fn catch_up(&self, now: DateTime<Utc>) -> anyhow::Result<CatchUp> {
        catch_up(&self.fetch, &self.digest, &self.schedule, now).await
    }
}

/// The daemon's jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Fetch,
    Digest,
    Retry,
    Retention,
}

impl JobKind {
    const ALL: [JobKind; 4] = [
        JobKind::Fetch,
        JobKind::Digest,
        JobKind::Retry,
        JobKind::Retention,
    ];

    /// Its cron line.
    fn cron(self, schedule: &ScheduleSettings) -> &Cron {
        match self {
            JobKind::Fetch => &schedule.fetch,
            JobKind::Digest => &schedule.digest,
            JobKind::Retry => &schedule.retry,
            JobKind::Retention => &schedule.retention,
        }
    }

    /// Its key in `[schedule]`, and its name in the slots' lease rows.
    pub(crate) fn key(self) -> &'static str {
        match self {
            JobKind::Fetch => "fetch",
            JobKind::Digest => "digest",
            JobKind::Retry => "retry",
            JobKind::Retention => "retention",
        }
    }
}

/// What a [`tick`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickOutcome {
    /// The job ran (successfully or not: a failure is logged and recorded).
    Ran,
    /// The previous run of the job still held its lock.
    Skipped,
    /// The daemon is stopping.
    Cancelled,
}

/// One cron tick of `kind` at `now`, under the job's `lock`: skipped (and
/// logged) when the previous run of the same job is still going. The tick's
/// slot runs once across the daemons sharing the database (see
/// [`super::slots`]): a daemon that finds another running it waits for it.
pub async fn tick(
    jobs: &Jobs,
    kind: JobKind,
    lock: &Mutex<()>,
    token: &CancellationToken,
    now: DateTime<Utc>,
) -> TickOutcome {
    if token.is_cancelled() {
        return TickOutcome::Cancelled;
    }
    let Ok(_guard) = lock.try_lock() else {
        tracing::warn!(job = ?kind, "previous run still in progress; skipping this tick");
        return TickOutcome::Skipped;
    };
    let schedule = &jobs.schedule;
    let slot = slot_of(kind.cron(schedule), schedule.timezone, now);
    let work = async {
        match kind {
            JobKind::Fetch => {
                let today = jobs.digest.today(now);
                jobs.fetch
                    .run(&[today - Duration::days(1), today], None)
                    .await
                    .map(|_| ())
            }
            JobKind::Digest => digest_tick(&jobs.digest, now).await.map(|_| ()),
            JobKind::Retry => retry(&jobs.digest, now).await.map(|_| ()),
            JobKind::Retention => {
                let today = schedule.today(now);
                retention(&jobs.digest.store, &jobs.data, today, now)
                    .await
                    .map(|_| ())
            }
        }
    };
    let store = &jobs.digest.store;
    let lease = jobs.digest.config.lease;
    match once(store, kind.key(), slot, lease, token, work).await {
        Ok(Once::Ran(Ok(()))) | Ok(Once::RanElsewhere) => {}
        Ok(Once::Ran(Err(e))) => {
            tracing::error!(job = ?kind, error = format!("{e:#}"), "scheduled job failed");
        }
        Ok(Once::Cancelled) => return TickOutcome::Cancelled,
        Err(e) => {
            tracing::error!(job = ?kind, error = format!("{e:#}"), "taking the scheduled job's slot failed");
        }
    }
    TickOutcome::Ran
}

/// The running scheduler; [`SchedulerHandle::stop`] waits for the job in
/// progress to finish.
pub struct SchedulerHandle {
    scheduler: JobScheduler,
    locks: Vec<Arc<Mutex<()>>>,
}

impl SchedulerHandle {
    pub async fn stop(mut self) {
        if let Err(e) = self.scheduler.shutdown().await {
            tracing::warn!(error = %e, "stopping the scheduler");
        }
        for lock in &self.locks {
            let _ = lock.lock().await;
        }
    }
}

/// Starts the cron jobs, and the catch-up when `[schedule] catch_up` is on.
pub async fn start(jobs: Arc<Jobs>, token: CancellationToken) -> anyhow::Result<SchedulerHandle> {
    let scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    let schedule = &jobs.schedule;
    let mut locks = Vec::new();
    for kind in JobKind::ALL {
        let cron = kind.cron(schedule);
        let lock = Arc::new(Mutex::new(()));
        locks.push(lock.clone());
        let jobs = jobs.clone();
        let token = token.clone();
        let job = Job::new_async_tz(cron.as_str(), schedule.timezone, move |_, _| {
            let jobs = jobs.clone();
            let lock = lock.clone();
            let token = token.clone();
            Box::pin(async move {
                tick(&jobs, kind, &lock, &token, Utc::now()).await;
            })
        })
        .with_context(|| format!("schedule.{}: {cron:?}", kind.key()))?;
        scheduler.add(job).await.context("adding a scheduled job")?;
    }
    scheduler.start().await.context("starting the scheduler")?;
    spawn_missed_retention(jobs.clone(), token.clone(), locks[3].clone());
    if schedule.catch_up {
        spawn_catch_up(jobs, token, locks[0].clone(), locks[1].clone());
    }
    Ok(SchedulerHandle { scheduler, locks })
}

/// The retention run of the day whose scheduled time came last, if it did
/// not run (the daemon was stopped then, or has just been installed). Runs
/// whatever `[schedule] catch_up` says: a daemon restarted every day before
/// the job's hour would otherwise never forget anything.
pub async fn missed_retention(jobs: &Jobs, now: DateTime<Utc>) -> anyhow::Result<bool> {
    let schedule = &jobs.schedule;
    let Some(day) = last_due_day(&schedule.retention, schedule.timezone, now) else {
        return Ok(false);
    };
    let slot = slot_of(&schedule.retention, schedule.timezone, now);
    let store = &jobs.digest.store;
    let work = retention(store, &jobs.data, day, now);
    let lease = jobs.digest.config.lease;
    let token = CancellationToken::new();
    match once(store, JobKind::Retention.key(), slot, lease, &token, work).await? {
        Once::Ran(ran) => Ok(ran?.is_some()),
        Once::RanElsewhere | Once::Cancelled => Ok(false),
    }
}

fn spawn_missed_retention(jobs: Arc<Jobs>, token: CancellationToken, lock: Arc<Mutex<()>>) {
    tokio::spawn(async move {
        let _running = lock.lock().await;
        if token.is_cancelled() {
            return;
        }
        if let Err(e) = missed_retention(&jobs, Utc::now()).await {
            tracing::error!(
                error = format!("{e:#}"),
                "the retention run at start failed"
            );
        }
    });
}

/// Runs [`catch_up`] holding the fetch and digest locks, so a tick that
/// comes meanwhile is skipped instead of overlapping it.
fn spawn_catch_up(
    jobs: Arc<Jobs>,
    token: CancellationToken,
    fetch_lock: Arc<Mutex<()>>,
    digest_lock: Arc<Mutex<()>>,
) {
    tokio::spawn(async move {
        let _fetch = fetch_lock.lock().await;
        let _digest = digest_lock.lock().await;
        if token.is_cancelled() {
            return;
        }
        if let Err(e) = jobs.catch_up(Utc::now()).await {
            tracing::error!(error = format!("{e:#}"), "catching up missed runs failed");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::testing::{digest_run, outbox, papers, subscriber};
    use crate::store::RunKind;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn a_tick_is_skipped_while_its_job_runs_and_none_starts_once_stopping() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        subscriber(&run, "ada@example.org", "diffusion").await;
        let jobs = Jobs {
            fetch: FetchJob::new(run.store.clone(), Vec::new()),
            digest: run,
            schedule: ScheduleSettings::default(),
            data: DataSettings::default(),
        };
        let lock = Mutex::new(());
        let token = CancellationToken::new();
        let now = at("2026-06-12T07:00:00Z");

        let running = lock.lock().await;
        let outcome = tick(&jobs, JobKind::Digest, &lock, &token, now).await;
        assert_eq!(outcome, TickOutcome::Skipped);
        let store = &jobs.digest.store;
        assert!(store.last_run(RunKind::Digest).await.unwrap().is_none());
        drop(running);

        let outcome = tick(&jobs, JobKind::Digest, &lock, &token, now).await;
        assert_eq!(outcome, TickOutcome::Ran);
        assert_eq!(outbox(&dir).len(), 1);

        token.cancel();
        let outcome = tick(&jobs, JobKind::Fetch, &lock, &token, now).await;
        assert_eq!(outcome, TickOutcome::Cancelled);
        assert!(store.last_run(RunKind::Fetch).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_fetch_tick_fetches_and_records_yesterday_and_today() {
        let (run, _dir) = digest_run().await;
        let jobs = Jobs {
            fetch: FetchJob::new(run.store.clone(), Vec::new()),
            digest: run,
            schedule: ScheduleSettings::default(),
            data: DataSettings::default(),
        };
        let lock = Mutex::new(());
        let token = CancellationToken::new();
        let now = at("2026-06-12T02:00:00Z");
        let outcome = tick(&jobs, JobKind::Fetch, &lock, &token, now).await;
        assert_eq!(outcome, TickOutcome::Ran);
        let store = &jobs.digest.store;
        for day in ["2026-06-11", "2026-06-12"] {
            let day = day.parse().unwrap();
            assert!(store.has_run(RunKind::Fetch, day).await.unwrap(), "{day}");
        }
        let last = store.last_run(RunKind::Fetch).await.unwrap().unwrap();
        assert_eq!(last.outcome.as_deref(), Some("ok"));
    }
}

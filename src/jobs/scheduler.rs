//! The daemon's clock: cron jobs for fetch, the digest tick and retry, in
//! the configured timezone, plus the run bookkeeping shared with the CLI.
//!
//! Job closures only call [`tick`]; the work itself lives in
//! [`crate::jobs::fetch`] and [`crate::digest`]. A job never overlaps itself: a
//! tick that finds the previous run still going is skipped and logged. The
//! instant of a tick is an argument, so tests drive the clock.
//!
//! The digest job is a tick (hourly by default): each sends the digests
//! whose subscribers' local delivery hour came since the previous tick
//! ([`digest_tick`], rules in [`crate::digest::due`]).

use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::ProgressBar;
use tokio::sync::Mutex;
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::digest::due::{self, When};
use crate::digest::run::{resume_unfinished, run_digest, DigestOptions, DigestReport};
use crate::jobs::fetch::{run_fetch, FetchSummary};
use crate::store::RunKind;

/// Fetches each date in turn and records the run.
pub async fn fetch_job(
    app: &App,
    dates: &[NaiveDate],
    only: Option<&str>,
) -> anyhow::Result<Vec<FetchSummary>> {
    let mut out = Vec::new();
    for &date in dates {
        let run = app
            .store
            .start_run(RunKind::Fetch, date, Utc::now())
            .await?;
        let result = run_fetch(app, date, only, Utc::now()).await;
        let (outcome, summary) = match &result {
            Ok(s) if s.failed() == 0 => ("ok", format!("{} new papers", s.new_papers())),
            Ok(s) => (
                "partial",
                format!(
                    "{} new papers, {} sources failed",
                    s.new_papers(),
                    s.failed()
                ),
            ),
            Err(e) => ("failed", format!("{e:#}")),
        };
        let summary = match &result {
            Ok(s) if !s.silent().is_empty() => format!(
                "{summary}; warning: no papers from {} on a day they announce",
                s.silent().join(", ")
            ),
            _ => summary,
        };
        let summary = match result.as_ref().map(FetchSummary::item_problems) {
            Ok(problems) if !problems.is_empty() => format!("{summary}; {problems}"),
            _ => summary,
        };
        app.store
            .finish_run(run, outcome, &summary, Utc::now())
            .await?;
        out.push(result?);
    }
    Ok(out)
}

/// Runs the digest for `date` (then retries due unfinished digests) and
/// records the run. A dry run records nothing.
pub async fn digest_job(
    app: &App,
    date: NaiveDate,
    options: DigestOptions,
    progress: &ProgressBar,
) -> anyhow::Result<DigestReport> {
    if options.dry_run {
        return run_digest(app, date, options, Utc::now(), progress).await;
    }
    let run = app
        .store
        .start_run(RunKind::Digest, date, Utc::now())
        .await?;
    let result = async {
        let mut report = run_digest(app, date, options, Utc::now(), progress).await?;
        let retried = resume_unfinished(app, date - Duration::days(7), Utc::now()).await?;
        add(&mut report, &retried);
        anyhow::Ok(report)
    }
    .await;
    finish(app, run, &result).await?;
    result
}

/// One digest tick at `now`: for each digest date some subscriber can be
/// on (their local date, or the day before), sends the digests whose
/// delivery instant lies between the previous tick and `now`; then retries
/// due unfinished digests, and records how far it planned.
pub async fn digest_tick(app: &App, now: DateTime<Utc>) -> anyhow::Result<DigestReport> {
    let since = app.store.digest_covered_until().await?;
    let mut zones = app.store.timezones_in_use().await?;
    zones.push(app.settings.schedule.timezone);
    let run = app
        .store
        .start_run(RunKind::Digest, app.today(now), now)
        .await?;
    let result = async {
        let options = DigestOptions {
            dry_run: false,
            when: When::Tick { since, now },
        };
        let mut report = DigestReport::default();
        for date in due::candidate_dates(zones, now) {
            if !anyone_due(app, date, options.when).await? {
                continue;
            }
            let r = run_digest(app, date, options, now, &ProgressBar::hidden()).await?;
            report.papers = report.papers.max(r.papers);
            report.subscribers = report.subscribers.max(r.subscribers);
            report.matched += r.matched;
            report.already_done += r.already_done;
            add(&mut report, &r);
        }
        let retried = resume_unfinished(app, app.today(now) - Duration::days(7), now).await?;
        add(&mut report, &retried);
        app.store.set_digest_covered_until(now).await?;
        anyhow::Ok(report)
    }
    .await;
    finish(app, run, &result).await?;
    result
}

/// Whether any active subscriber is due the digest for `date` in this tick:
/// most ticks find nobody for most dates, and then load no papers.
async fn anyone_due(app: &App, date: NaiveDate, when: When) -> anyhow::Result<bool> {
    let defaults = due::Defaults::of(&app.settings.schedule);
    let mut after = crate::domain::SubscriberId::default();
    loop {
        let page = app.store.schedules_page(after, 1000).await?;
        let Some(&(last, _)) = page.last() else {
            return Ok(false);
        };
        if page
            .iter()
            .any(|(_, prefs)| due::is_due(prefs, defaults, date, when))
        {
            return Ok(true);
        }
        after = last;
    }
}

fn add(report: &mut DigestReport, more: &DigestReport) {
    report.sent += more.sent;
    report.deferred += more.deferred;
    report.throttled += more.throttled;
    report.failed += more.failed;
}

/// Records the outcome of a digest run.
async fn finish(app: &App, run: i64, result: &anyhow::Result<DigestReport>) -> anyhow::Result<()> {
    let (outcome, summary) = match &result {
        Ok(r) if r.failed == 0 && r.deferred == 0 => ("ok", format!("{} sent", r.sent)),
        // Held back by the domain budgets only: the limits at work.
        Ok(r) if r.failed == 0 && r.deferred == r.throttled => (
            "ok",
            format!(
                "{} sent, {} held for later by the domain sending limits",
                r.sent, r.throttled
            ),
        ),
        Ok(r) => (
            "partial",
            format!(
                "{} sent, {} deferred, {} failed",
                r.sent, r.deferred, r.failed
            ),
        ),
        Err(e) => ("failed", format!("{e:#}")),
    };
    app.store
        .finish_run(run, outcome, &summary, Utc::now())
        .await?;
    Ok(())
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

/// The daemon's jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    Fetch,
    Digest,
    Retry,
}

pub async fn start(app: Arc<App>, token: CancellationToken) -> anyhow::Result<SchedulerHandle> {
    let scheduler = JobScheduler::new()
        .await
        .context("starting the scheduler")?;
    let tz = app.settings.schedule.timezone;
    let mut locks = Vec::new();
    for (kind, expr) in [
        (JobKind::Fetch, app.settings.schedule.fetch.clone()),
        (JobKind::Digest, app.settings.schedule.digest.clone()),
        (JobKind::Retry, app.settings.schedule.retry.clone()),
    ] {
        let lock = Arc::new(Mutex::new(()));
        locks.push(lock.clone());
        let app = app.clone();
        let token = token.clone();
        let job = Job::new_async_tz(expr.as_str(), tz, move |_, _| {
            let app = app.clone();
            let lock = lock.clone();
            let token = token.clone();
            Box::pin(async move {
                tick(&app, kind, &lock, &token, Utc::now()).await;
            })
        })
        .with_context(|| format!("schedule.{kind:?}: {expr:?}").to_lowercase())?;
        scheduler.add(job).await.context("adding a scheduled job")?;
    }
    scheduler.start().await.context("starting the scheduler")?;
    if app.settings.schedule.catch_up {
        spawn_catch_up(app, token, locks[0].clone(), locks[1].clone());
    }
    Ok(SchedulerHandle { scheduler, locks })
}

/// Runs [`crate::jobs::catch_up::catch_up`] holding the fetch and digest locks, so
/// a tick that comes meanwhile is skipped instead of overlapping it.
fn spawn_catch_up(
    app: Arc<App>,
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
        if let Err(e) = crate::jobs::catch_up::catch_up(&app, Utc::now()).await {
            tracing::error!(error = format!("{e:#}"), "catching up missed runs failed");
        }
    });
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
/// logged) when the previous run of the same job is still going.
pub async fn tick(
    app: &App,
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
    let today = app.today(now);
    let result = match kind {
        JobKind::Fetch => fetch_job(app, &[today - Duration::days(1), today], None)
            .await
            .map(|_| ()),
        JobKind::Digest => digest_tick(app, now).await.map(|_| ()),
        JobKind::Retry => resume_unfinished(app, today - Duration::days(7), now)
            .await
            .map(|_| ()),
    };
    if let Err(e) = result {
        tracing::error!(job = ?kind, error = format!("{e:#}"), "scheduled job failed");
    }
    TickOutcome::Ran
}

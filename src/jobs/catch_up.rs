//! Catch-up at start: works out which fetch or digest tick was due while
//! the daemon was down, and runs it once when it starts again.
//!
//! For the fetch, "missed" means: the most recent scheduled time (in the
//! schedule's timezone) is in the past, no fetch is recorded for that day,
//! and the job has run before (a fresh install has missed nothing). Only the
//! latest missed day is fetched.
//!
//! For the digest tick, "missed" means its most recent scheduled time is
//! later than the instant the last tick covered (and a digest ran before):
//! one tick then runs at once and sends every digest whose subscriber's
//! hour came during the downtime (their local today, or yesterday when the
//! downtime crossed their midnight; see [`crate::digest::due`]). The time is
//! always an argument, so tests move the clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;

use super::digest::digest_tick;
use super::fetch::FetchJob;
use super::slots::{once, slot_of, Once};
use crate::digest::DigestRun;
use crate::domain::Cron;
use crate::settings::ScheduleSettings;
use crate::store::{RunKind, Store};

/// The day (in `tz`) of the latest time at or before `now` that `cron`
/// schedules, looking back at most two days; `None` when nothing was due.
pub fn last_due_day(cron: &Cron, tz: Tz, now: DateTime<Utc>) -> Option<NaiveDate> {
    cron.last_at_or_before(tz, now)
        .map(|t| t.with_timezone(&tz).date_naive())
}

/// What [`catch_up`] found missed and ran.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CatchUp {
    pub fetched: Option<NaiveDate>,
    /// The operator's date of a digest tick run to catch up (what it sent is
    /// in its run record).
    pub digest: Option<NaiveDate>,
}

/// The day the scheduled fetch missed, if any (see the module doc).
pub async fn missed_fetch(
    store: &Store,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<NaiveDate>> {
    let Some(day) = last_due_day(&schedule.fetch, schedule.timezone, now) else {
        return Ok(None);
    };
    if store.last_run(RunKind::Fetch).await?.is_none() || store.has_run(RunKind::Fetch, day).await?
    {
        return Ok(None);
    }
    Ok(Some(day))
}

/// Whether a digest tick was due while stopped (see the module doc).
pub async fn missed_tick(
    store: &Store,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let Some(due) = schedule.digest.last_at_or_before(schedule.timezone, now) else {
        return Ok(false);
    };
    if store.last_run(RunKind::Digest).await?.is_none() {
        return Ok(false);
    }
    Ok(match store.digest_covered_until().await? {
        Some(covered) => covered < due,
        None => true,
    })
}

/// Runs a missed fetch (for the missed day and the day before, as the
/// scheduled fetch does), then a missed digest tick. The caller holds the
/// job locks, so a cron tick cannot overlap it. Each runs under the missed
/// slot's lease row (see [`super::slots`]): of several daemons starting
/// together, one catches it up and the others find it done.
pub async fn catch_up(
    fetch: &FetchJob,
    digest: &DigestRun,
    schedule: &ScheduleSettings,
    now: DateTime<Utc>,
) -> anyhow::Result<CatchUp> {
    let mut done = CatchUp::default();
    let lease = digest.config.lease;
    let token = CancellationToken::new();
    if let Some(day) = missed_fetch(&fetch.store, schedule, now).await? {
        let slot = slot_of(&schedule.fetch, schedule.timezone, now);
        let work = async {
            tracing::info!(fetch.date = %day, "catching up a fetch missed while stopped");
            fetch.run(&[day - Duration::days(1), day], None).await
        };
        if let Once::Ran(ran) = once(&fetch.store, "fetch", slot, lease, &token, work).await? {
            ran?;
            done.fetched = Some(day);
        }
    }
    if missed_tick(&digest.store, schedule, now).await? {
        let slot = slot_of(&schedule.digest, schedule.timezone, now);
        let work = async {
            tracing::info!("catching up digest ticks missed while stopped");
            digest_tick(digest, now).await
        };
        if let Once::Ran(ran) = once(&digest.store, "digest", slot, lease, &token, work).await? {
            ran?;
            done.digest = Some(digest.today(now));
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cron(expr: &str) -> Cron {
        Cron::parse(expr).unwrap()
    }

    #[tokio::test]
    async fn a_fetch_is_missed_only_after_its_time_on_a_day_without_one_once_it_ran_before() {
        let (store, _dir) = crate::store::test_store().await;
        let schedule = ScheduleSettings::default();
        let fetch_at = schedule
            .fetch
            .last_at_or_before(schedule.timezone, at("2026-06-12T23:00:00Z"))
            .unwrap();
        let after = fetch_at + Duration::minutes(1);
        // A fresh install has missed nothing.
        assert_eq!(missed_fetch(&store, &schedule, after).await.unwrap(), None);
        assert!(!missed_tick(&store, &schedule, after).await.unwrap());

        let yesterday = "2026-06-11".parse().unwrap();
        let run = store
            .start_run(RunKind::Fetch, yesterday, at("2026-06-11T02:00:00Z"))
            .await
            .unwrap();
        store
            .finish_run(run, "ok", "0 new papers", at("2026-06-11T02:00:01Z"))
            .await
            .unwrap();
        let day: NaiveDate = "2026-06-12".parse().unwrap();
        assert_eq!(
            missed_fetch(&store, &schedule, after).await.unwrap(),
            Some(day)
        );
        // Before the day's fetch time, the day before is the one due, and
        // it ran.
        let before = fetch_at - Duration::minutes(1);
        assert_eq!(missed_fetch(&store, &schedule, before).await.unwrap(), None);
    }

    #[test]
    fn the_due_day_is_today_after_the_scheduled_time_and_yesterday_before_it() {
        let daily_7 = cron("0 0 7 * * *");
        assert_eq!(
            last_due_day(&daily_7, Tz::UTC, at("2026-06-12T09:00:00Z")),
            Some("2026-06-12".parse().unwrap())
        );
        assert_eq!(
            last_due_day(&daily_7, Tz::UTC, at("2026-06-12T06:59:59Z")),
            Some("2026-06-11".parse().unwrap())
        );
        assert_eq!(
            last_due_day(&daily_7, Tz::UTC, at("2026-06-12T07:00:00Z")),
            Some("2026-06-12".parse().unwrap()),
            "the scheduled instant itself is due"
        );
    }

    #[test]
    fn the_due_day_is_read_in_the_schedules_timezone() {
        // 07:00 in Tokyo is 22:00 UTC the day before.
        let tz: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            last_due_day(&cron("0 0 7 * * *"), tz, at("2026-06-11T23:00:00Z")),
            Some("2026-06-12".parse().unwrap())
        );
    }

    #[test]
    fn a_weekly_schedule_not_due_in_two_days_has_nothing_to_catch_up() {
        // Mondays only; 2026-06-12 is a Friday.
        assert_eq!(
            last_due_day(&cron("0 0 7 * * MON"), Tz::UTC, at("2026-06-12T09:00:00Z")),
            None
        );
    }
}

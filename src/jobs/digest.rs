//! The digest jobs: `paperboy digest` for a date (everyone due that day,
//! whatever their hour), and the daemon's tick, which sends the digests
//! whose subscribers' delivery hour came since the previous tick (rules in
//! [`crate::digest::due`]). Both retry due unfinished digests after their
//! own, and both are recorded as digest runs.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use indicatif::ProgressBar;

use super::retry;
use crate::digest::{due, DigestOptions, DigestReport, DigestRun, When};
use crate::domain::SubscriberId;
use crate::store::{RunKind, Store};

/// Runs the digest for `date` (then retries due unfinished digests of the
/// week before it) and records the run. A dry run writes nothing: not the
/// run, and not the ranking data or `like:` papers it computes or looks up
/// on the way (kept in memory for it).
pub async fn digest_job(
    run: &DigestRun,
    date: NaiveDate,
    options: DigestOptions,
    progress: &ProgressBar,
) -> anyhow::Result<DigestReport> {
    if options.dry_run {
        let dry = run
            .clone()
            .with_frequencies(run.frequencies.in_memory())
            .with_likes(run.likes.without_storing());
        return dry.run(date, options, Utc::now(), progress).await;
    }
    let record = run
        .store
        .start_run(RunKind::Digest, date, Utc::now())
        .await?;
    let result = async {
        let mut report = run.run(date, options, Utc::now(), progress).await?;
        let retried = run
            .resume_unfinished(date - Duration::days(retry::RETRY_DAYS), Utc::now())
            .await?;
        report.add_sends(&retried);
        anyhow::Ok(report)
    }
    .await;
    finish(&run.store, record, &result).await?;
    result
}

/// One digest tick at `now`: for each digest date some subscriber can be
/// on (their local date, or the day before), sends the digests whose
/// delivery instant lies between the previous tick and `now`; then retries
/// due unfinished digests, and records how far it planned.
pub async fn digest_tick(run: &DigestRun, now: DateTime<Utc>) -> anyhow::Result<DigestReport> {
    let since = run.store.digest_covered_until().await?;
    let mut zones = run.store.timezones_in_use().await?;
    zones.push(run.config.defaults.timezone);
    let record = run
        .store
        .start_run(RunKind::Digest, run.today(now), now)
        .await?;
    let result = async {
        let options = DigestOptions {
            dry_run: false,
            when: When::Tick { since, now },
        };
        let mut report = DigestReport::default();
        for date in due::candidate_dates(zones, now) {
            if !anyone_due(run, date, options.when).await? {
                continue;
            }
            let r = run.run(date, options, now, &ProgressBar::hidden()).await?;
            report.papers = report.papers.max(r.papers);
            report.subscribers = report.subscribers.max(r.subscribers);
            report.matched += r.matched;
            report.already_done += r.already_done;
            report.add_sends(&r);
        }
        let retried = retry::retry(run, now).await?;
        report.add_sends(&retried);
        run.store.set_digest_covered_until(now).await?;
        anyhow::Ok(report)
    }
    .await;
    finish(&run.store, record, &result).await?;
    result
}

/// Whether any active subscriber is due the digest for `date` in this tick:
/// most ticks find nobody for most dates, and then load no papers.
async fn anyone_due(run: &DigestRun, date: NaiveDate, when: When) -> anyhow::Result<bool> {
    let mut after = SubscriberId::default();
    loop {
        let page = run.store.schedules_page(after, 1000).await?;
        let Some(&(last, _)) = page.last() else {
            return Ok(false);
        };
        if page
            .iter()
            .any(|(_, prefs)| due::is_due(prefs, run.config.defaults, date, when))
        {
            return Ok(true);
        }
        after = last;
    }
}

/// Records the outcome of a digest run.
async fn finish(
    store: &Store,
    record: i64,
    result: &anyhow::Result<DigestReport>,
) -> anyhow::Result<()> {
    let (outcome, summary) = run_outcome(result);
    store
        .finish_run(record, outcome, &summary, Utc::now())
        .await?;
    Ok(())
}

/// A digest run's recorded outcome and summary: `ok` when everything went
/// out or waits only for a domain's sending budget (the limits at work);
/// `degraded` when some digests were deferred for a retry or failed, with
/// the counts and the most frequent reply; `failed` when the run broke off,
/// or delivered nothing while it had digests to send.
pub fn run_outcome(result: &anyhow::Result<DigestReport>) -> (&'static str, String) {
    let r = match result {
        Ok(r) => r,
        Err(e) => return ("failed", format!("{e:#}")),
    };
    if !r.needs_attention() {
        let summary = if r.throttled > 0 {
            format!(
                "{} sent, {} held for later by the domain sending limits",
                r.sent, r.throttled
            )
        } else {
            format!("{} sent", r.sent)
        };
        return ("ok", summary);
    }
    let mut summary = format!(
        "{} sent, {} deferred, {} failed",
        r.sent,
        r.deferred - r.throttled,
        r.failed
    );
    if let Some((reply, n)) = r.top_reply() {
        summary.push_str(&format!("; most frequent reply ({n}): {reply}"));
    }
    let outcome = if r.sent == 0 { "failed" } else { "degraded" };
    (outcome, summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::testing::{day, digest_run, outbox, papers, subscriber};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[tokio::test]
    async fn the_tick_sends_a_digest_in_the_hour_it_is_due_once_and_records_each_run() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        // The operator's default hour: 07:00 UTC.
        subscriber(&run, "ada@example.org", "diffusion").await;

        let early = digest_tick(&run, at("2026-06-12T06:00:00Z")).await.unwrap();
        assert_eq!(early.sent, 0);
        assert!(outbox(&dir).is_empty());
        let due = digest_tick(&run, at("2026-06-12T07:00:00Z")).await.unwrap();
        assert_eq!(due.sent, 1);
        let later = digest_tick(&run, at("2026-06-12T08:00:00Z")).await.unwrap();
        assert_eq!((later.sent, later.already_done), (0, 0));
        assert_eq!(outbox(&dir).len(), 1);

        let last = run.store.last_run(RunKind::Digest).await.unwrap().unwrap();
        assert_eq!(last.target_date, day());
        assert_eq!(last.outcome.as_deref(), Some("ok"));
        assert_eq!(
            run.store.digest_covered_until().await.unwrap(),
            Some(at("2026-06-12T08:00:00Z"))
        );
    }

    #[tokio::test]
    async fn a_hand_run_is_recorded_with_what_it_sent_and_a_dry_run_is_not_recorded() {
        let (run, dir) = digest_run().await;
        papers(&run, &["Diffusion models for proteins"]).await;
        subscriber(&run, "ada@example.org", "diffusion").await;
        let hidden = ProgressBar::hidden();

        let dry = DigestOptions {
            dry_run: true,
            ..Default::default()
        };
        let report = digest_job(&run, day(), dry, &hidden).await.unwrap();
        assert_eq!((report.matched, report.sent), (1, 0));
        assert!(run.store.last_run(RunKind::Digest).await.unwrap().is_none());

        let report = digest_job(&run, day(), DigestOptions::default(), &hidden)
            .await
            .unwrap();
        assert_eq!(report.sent, 1);
        assert_eq!(outbox(&dir).len(), 1);
        let last = run.store.last_run(RunKind::Digest).await.unwrap().unwrap();
        assert_eq!(
            (last.outcome.as_deref(), last.summary.as_deref()),
            (Some("ok"), Some("1 sent"))
        );
    }

    fn report(sent: usize, deferred: usize, throttled: usize, failed: usize) -> DigestReport {
        DigestReport {
            sent,
            deferred,
            throttled,
            failed,
            ..Default::default()
        }
    }

    #[test]
    fn a_digest_run_is_degraded_by_problems_and_failed_when_it_delivered_nothing() {
        let mut bad = report(1000, 0, 0, 1000);
        bad.replies
            .insert("552 5.3.4 Message file too big".into(), 990);
        bad.replies.insert("550 5.1.1 unknown".into(), 10);
        let (outcome, summary) = run_outcome(&Ok(bad));
        assert_eq!(outcome, "degraded");
        assert_eq!(
            summary,
            "1000 sent, 0 deferred, 1000 failed; most frequent reply (990): 552 5.3.4 Message file too big"
        );

        let mut none = report(0, 2000, 0, 0);
        none.replies
            .insert("tls=verify: unknown issuer".into(), 2000);
        let (outcome, summary) = run_outcome(&Ok(none));
        assert_eq!(outcome, "failed", "0 of 2000 delivered");
        assert!(
            summary.starts_with("0 sent, 2000 deferred, 0 failed"),
            "{summary}"
        );
    }

    #[test]
    fn a_run_is_ok_when_only_the_domain_budgets_held_digests_back() {
        assert_eq!(
            run_outcome(&Ok(report(3, 0, 0, 0))),
            ("ok", "3 sent".into())
        );
        assert_eq!(
            run_outcome(&Ok(report(3, 2, 2, 0))),
            (
                "ok",
                "3 sent, 2 held for later by the domain sending limits".into()
            )
        );
        assert_eq!(
            run_outcome(&Ok(report(3, 2, 1, 0))),
            ("degraded", "3 sent, 1 deferred, 0 failed".into())
        );
        assert_eq!(
            run_outcome(&Ok(report(3, 0, 0, 1))),
            ("degraded", "3 sent, 0 deferred, 1 failed".into())
        );
        assert_eq!(run_outcome(&Ok(report(0, 0, 0, 0))).0, "ok");
        let (outcome, summary) = run_outcome(&Err(
            anyhow::anyhow!("disk full").context("reserving deliveries")
        ));
        assert_eq!(outcome, "failed");
        assert_eq!(summary, "reserving deliveries: disk full");
    }
}

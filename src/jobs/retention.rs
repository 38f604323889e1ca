//! The daily retention job: erases the people who unsubscribed more than
//! `[data] forget_unsubscribed_after_days` ago (their address, topics,
//! preferences and ledger; anonymous counts stay), deletes addresses and
//! subscription requests never confirmed within
//! `[data] forget_unconfirmed_after_days`, and prunes delivery records,
//! their ledger rows and bounces older than `[data] keep_deliveries_days`,
//! and ranking's document frequencies of days that left its window
//! ([`WINDOW_DAYS`]; papers are kept, and with them their vectors).
//!
//! It runs once per day: each run is recorded for its day (in the
//! schedule's timezone), and a day that has a finished run is not run
//! again, so a restart, the start-up check and the cron tick never repeat
//! it. What it removed is logged and recorded as counts, never as
//! addresses. The time is an argument, so tests move the clock.

use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::digest::frequencies::WINDOW_DAYS;
use crate::settings::DataSettings;
use crate::store::{RetentionCutoffs, RetentionReport, RunKind, Store};

/// The cutoffs for a run at `now` on `today`.
pub fn cutoffs(data: &DataSettings, today: NaiveDate, now: DateTime<Utc>) -> RetentionCutoffs {
    RetentionCutoffs {
        unsubscribed_before: now - Duration::days(data.forget_unsubscribed_after_days.into()),
        unconfirmed_before: now - Duration::days(data.forget_unconfirmed_after_days.into()),
        deliveries_before: today - Duration::days(data.keep_deliveries_days.into()),
        df_days_before: today - Duration::days(i64::from(WINDOW_DAYS) - 1),
    }
}

/// Runs the retention sweeps for `today` unless a run for that day already
/// finished (then `None`).
pub async fn retention(
    store: &Store,
    data: &DataSettings,
    today: NaiveDate,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<RetentionReport>> {
    if store.has_run(RunKind::Retention, today).await? {
        tracing::debug!(retention.date = %today, "retention already ran for this day");
        return Ok(None);
    }
    let run = store.start_run(RunKind::Retention, today, now).await?;
    let result = sweep(store, &cutoffs(data, today, now), now).await;
    match &result {
        Ok(report) => {
            tracing::info!(
                retention.date = %today,
                erased.count = report.erased,
                unconfirmed.count = report.unconfirmed,
                requests.count = report.requests,
                deliveries.count = report.deliveries,
                ledger.count = report.ledger,
                bounces.count = report.bounces,
                df_days.count = report.df_days,
                "retention run finished"
            );
            store
                .finish_run(run, "ok", &report.to_string(), now)
                .await?;
        }
        Err(e) => {
            tracing::error!(retention.date = %today, error = format!("{e:#}"), "retention run failed");
            store
                .finish_run(run, "failed", &format!("{e:#}"), now)
                .await?;
        }
    }
    result.map(Some)
}

async fn sweep(
    store: &Store,
    cutoffs: &RetentionCutoffs,
    now: DateTime<Utc>,
) -> anyhow::Result<RetentionReport> {
    let mut report = RetentionReport::default();
    for id in store.unsubscribed_to_erase(cutoffs).await? {
        match store.erase_subscriber(id, None, now).await {
            Ok(_) => report.erased += 1,
            // Erased meanwhile (`subscribers forget`).
            Err(crate::store::DbError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
    (report.unconfirmed, report.requests) =
        store.purge_unconfirmed(cutoffs.unconfirmed_before).await?;
    (report.deliveries, report.ledger, report.bounces) =
        store.prune_deliveries(cutoffs.deliveries_before).await?;
    report.df_days = store.prune_df_days(cutoffs.df_days_before).await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewTopic, Preferences, SubscriberEmail, SubscriberId};
    use crate::store::test_store;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn email(s: &str) -> SubscriberEmail {
        SubscriberEmail::parse(s).unwrap()
    }

    fn topics() -> Vec<NewTopic> {
        vec![NewTopic {
            name: "diffusion".into(),
            query: "diffusion".into(),
        }]
    }

    async fn active(store: &Store, address: &str, since: DateTime<Utc>) -> SubscriberId {
        store
            .upsert_active(&email(address), &topics(), since)
            .await
            .unwrap()
            .id()
    }

    async fn unsubscribed(store: &Store, address: &str, when: DateTime<Utc>) -> SubscriberId {
        let id = active(store, address, when - Duration::days(100)).await;
        store.unsubscribe(id, 1, when).await.unwrap();
        id
    }

    async fn pending(store: &Store, address: &str, when: DateTime<Utc>) -> SubscriberId {
        store
            .request_subscription(
                &email(address),
                &topics(),
                &Preferences::default(),
                false,
                when,
            )
            .await
            .unwrap()
            .subscriber_id
    }

    /// A sent digest for `day` carrying one paper, with one soft bounce.
    async fn delivery(store: &Store, id: SubscriberId, day: &str, paper: &str) {
        let pool = store.pool();
        let delivery: i64 = sqlx::query_scalar(
            "INSERT INTO deliveries (subscriber_id, digest_date, status, message_id, paper_count,
                 created_at, updated_at, last_error)
             VALUES (?1, ?2, 'sent', '<m@x>', 1, ?2 || 'T07:00:00.000Z', ?2 || 'T07:00:00.000Z',
                 '450 4.2.0 <ada@example.org> mailbox busy')
             RETURNING id",
        )
        .bind(id)
        .bind(day)
        .fetch_one(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO sent_papers (subscriber_id, paper_id, delivery_id, position, topic_position)
             VALUES (?, ?, ?, 0, 0)",
        )
        .bind(id)
        .bind(paper)
        .bind(delivery)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO bounces (subscriber_id, delivery_id, kind, smtp_code, occurred_at)
             VALUES (?, ?, 'soft', 450, ?)",
        )
        .bind(id)
        .bind(delivery)
        .bind(format!("{day}T07:00:01.000Z"))
        .execute(pool)
        .await
        .unwrap();
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .fetch_one(store.pool())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_daily_run_erases_purges_and_prunes_exactly_what_is_past_its_time() {
        let (store, _dir) = test_store().await;
        let data = DataSettings::default();
        let now = at("2026-06-12T03:45:00Z");
        let today: NaiveDate = "2026-06-12".parse().unwrap();

        let gone = unsubscribed(&store, "gone@example.org", now - Duration::days(31)).await;
        let recent = unsubscribed(&store, "recent@example.org", now - Duration::days(29)).await;
        let reader = active(&store, "reader@example.org", now - Duration::days(500)).await;
        let stale = pending(&store, "stale@example.org", now - Duration::days(8)).await;
        let fresh = pending(&store, "fresh@example.org", now - Duration::days(6)).await;
        // An unsubscribed address a stranger asked to re-subscribe 8 days
        // ago: the request goes, the address stays (it is not 30 days yet).
        let asked = unsubscribed(&store, "asked@example.org", now - Duration::days(10)).await;
        pending(&store, "asked@example.org", now - Duration::days(8)).await;
        // One who unsubscribed long ago but asked to come back yesterday:
        // kept until the request is confirmed or too old.
        let back = unsubscribed(&store, "back@example.org", now - Duration::days(40)).await;
        pending(&store, "back@example.org", now - Duration::days(1)).await;

        delivery(&store, reader, "2025-05-07", "2505.00001").await; // 401 days
        delivery(&store, reader, "2025-05-09", "2505.00002").await; // 399 days
        delivery(&store, gone, "2026-05-01", "2605.00001").await;
        // Document frequencies: the day before the 365-day window goes,
        // its first day stays.
        for d in ["2025-06-12", "2025-06-13"] {
            let d: NaiveDate = d.parse().unwrap();
            store.replace_df_day(d, 1, &[1], now).await.unwrap();
        }

        let report = retention(&store, &data, today, now).await.unwrap().unwrap();
        assert_eq!(
            report,
            RetentionReport {
                erased: 1,
                unconfirmed: 1,
                requests: 1,
                deliveries: 1,
                ledger: 1,
                bounces: 1,
                df_days: 1,
            }
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM ranking_df_days").await,
            1
        );

        // The erased person: no address, topics, ledger or error text;
        // their delivery and bounce stay for the counts.
        assert!(store.subscriber_by_id(gone).await.is_err());
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM subscribers WHERE email LIKE 'gone%'"
            )
            .await,
            0
        );
        let row: (String, String, Option<String>) =
            sqlx::query_as("SELECT email, status, erased_at FROM subscribers WHERE id = ?")
                .bind(gone)
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(!row.0.contains('@'), "{row:?}");
        assert_eq!(row.1, "unsubscribed");
        assert!(row.2.is_some());
        for table in ["topics", "sent_papers"] {
            let sql = format!(
                "SELECT COUNT(*) FROM {table} WHERE subscriber_id = {}",
                gone.get()
            );
            assert_eq!(count(&store, &sql).await, 0, "{table}");
        }
        let sql = format!(
            "SELECT COUNT(*) FROM deliveries WHERE subscriber_id = {} AND last_error IS NULL",
            gone.get()
        );
        assert_eq!(count(&store, &sql).await, 1);

        // Everyone else as they were.
        for id in [recent, reader, fresh, asked, back] {
            assert_eq!(store.subscriber_by_id(id).await.unwrap().topics.len(), 1);
        }
        assert!(store.subscriber_by_id(stale).await.is_err());
        assert!(store.pending_request(asked).await.unwrap().is_none());
        assert!(store.pending_request(back).await.unwrap().is_some());
        let sql = format!(
            "SELECT COUNT(*) FROM sent_papers WHERE subscriber_id = {}",
            reader.get()
        );
        assert_eq!(
            count(&store, &sql).await,
            1,
            "the 399-day-old ledger row stays"
        );

        // Once per day: the same day again does nothing, even later on.
        let later = now + Duration::hours(20);
        assert_eq!(retention(&store, &data, today, later).await.unwrap(), None);
        // Two days on, the one who unsubscribed 29 days ago is 31 days out.
        let next = now + Duration::days(2);
        let report = retention(&store, &data, today + Duration::days(2), next)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(report.erased, 1);
        assert!(store.subscriber_by_id(recent).await.is_err());
        assert_eq!(report.deliveries, 1, "the 399-day-old digest is now 401");
        let last = store.last_run(RunKind::Retention).await.unwrap().unwrap();
        assert_eq!(last.outcome.as_deref(), Some("ok"));
        assert!(last.summary.unwrap().contains("erased 1 unsubscribed"));
    }
}

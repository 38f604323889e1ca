//! The numbers behind `/metrics`, read from the database at scrape time so
//! they survive restarts and include what a hand-run CLI command did.

use chrono::NaiveDate;
use sqlx::Row as _;

use super::{day, parse_ts, Backend, DbResult, DbRow, MetricsSnapshot};

impl Backend {
    /// Reads every metric in one read transaction.
    pub async fn metrics_snapshot(&self, today: NaiveDate) -> DbResult<MetricsSnapshot> {
        let mut tx = self.pool.begin().await?;
        let pairs = |rows: Vec<DbRow>| -> Vec<(String, i64)> {
            rows.iter().map(|r| (r.get(0), r.get(1))).collect()
        };
        let papers_by_source = pairs(
            sqlx::query(
                "SELECT source, COUNT(*) FROM paper_sightings GROUP BY source ORDER BY source",
            )
            .fetch_all(&mut *tx)
            .await?,
        );
        let papers = sqlx::query_scalar("SELECT COUNT(*) FROM papers")
            .fetch_one(&mut *tx)
            .await?;
        let deliveries_by_status = pairs(
            sqlx::query("SELECT status, COUNT(*) FROM deliveries GROUP BY status ORDER BY status")
                .fetch_all(&mut *tx)
                .await?,
        );
        let subscribers_by_status = pairs(
            sqlx::query("SELECT status, COUNT(*) FROM subscribers GROUP BY status ORDER BY status")
                .fetch_all(&mut *tx)
                .await?,
        );
        let unsubscribes_today = sqlx::query_scalar(
            "SELECT COUNT(*) FROM subscribers WHERE substr(unsubscribed_at, 1, 10) = $1",
        )
        .bind(day(today))
        .fetch_one(&mut *tx)
        .await?;
        let mut bounces_today = super::BounceCounts::default();
        for row in sqlx::query(
            "SELECT kind, COUNT(*) FROM bounces WHERE substr(occurred_at, 1, 10) = $1 GROUP BY kind",
        )
        .bind(day(today))
        .fetch_all(&mut *tx)
        .await?
        {
            let n: i64 = row.get(1);
            match row.get::<String, _>(0).as_str() {
                "hard" => bounces_today.hard = n,
                _ => bounces_today.soft = n,
            }
        }
        let mut last_runs = Vec::new();
        for row in sqlx::query(
            "SELECT kind, finished_at, outcome FROM runs r
             WHERE id = (SELECT MAX(id) FROM runs WHERE kind = r.kind) ORDER BY kind",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let finished = row
                .get::<Option<String>, _>(1)
                .as_deref()
                .map(parse_ts)
                .transpose()?;
            last_runs.push((row.get(0), finished, row.get(2)));
        }
        tx.commit().await?;
        Ok(MetricsSnapshot {
            papers_by_source,
            papers,
            deliveries_by_status,
            subscribers_by_status,
            unsubscribes_today,
            bounces_today,
            last_runs,
            late: super::InboundCounts::default(),
            late_days: Vec::new(),
        })
    }
}

//! A log of fetch, digest and retention runs, for health checks and `paperboy status`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{day, parse_day, parse_ts, ts, Backend, DbResult, Run, RunKind};

impl Backend {
    pub async fn start_run(
        &self,
        kind: RunKind,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> DbResult<i64> {
        Ok(sqlx::query_scalar(
            "INSERT INTO runs (kind, target_date, started_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(kind.as_str())
        .bind(day(date))
        .bind(ts(now))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn finish_run(
        &self,
        id: i64,
        outcome: &str,
        summary: &str,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        sqlx::query("UPDATE runs SET finished_at = $1, outcome = $2, summary = $3 WHERE id = $4")
            .bind(ts(now))
            .bind(outcome)
            .bind(summary)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a run of `kind` for `date` got to its end (whatever its
    /// outcome). A run killed half-way has no end recorded, so a restarted
    /// daemon catches it up: resending what it reserved and planning the
    /// subscribers it never reached.
    pub async fn has_run(&self, kind: RunKind, date: NaiveDate) -> DbResult<bool> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM runs WHERE kind = $1 AND target_date = $2
                 AND finished_at IS NOT NULL)",
        )
        .bind(kind.as_str())
        .bind(day(date))
        .fetch_one(&self.pool)
        .await?)
    }

    pub async fn last_run(&self, kind: RunKind) -> DbResult<Option<Run>> {
        let row = sqlx::query(
            "SELECT id, kind, target_date, started_at, finished_at, outcome, summary FROM runs
             WHERE kind = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(kind.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(Run {
                id: r.get("id"),
                kind: r.get("kind"),
                target_date: parse_day(r.get("target_date"))?,
                started_at: parse_ts(r.get("started_at"))?,
                finished_at: r
                    .get::<Option<String>, _>("finished_at")
                    .as_deref()
                    .map(parse_ts)
                    .transpose()?,
                outcome: r.get("outcome"),
                summary: r.get("summary"),
            })
        })
        .transpose()
    }
}

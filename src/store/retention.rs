//! What the daily retention job removes (see [`crate::jobs::retention`]):
//! people who unsubscribed long enough ago (erased as
//! [`Store::erase_subscriber`] does), addresses that never confirmed and
//! subscription requests nobody confirmed, and delivery records with their
//! ledger and bounces past the keeping period. Every sweep takes its
//! cutoffs as arguments; none reads the clock.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;

use super::{day, ts, Backend, DbResult, RetentionCutoffs};
use crate::domain::SubscriberId;

/// Deliveries removed per transaction, so a first run over years of
/// history never holds the write lock for long.
const PRUNE_BATCH: i64 = 1000;

impl Backend {
    /// People who unsubscribed before `cutoffs.unsubscribed_before` and are
    /// not erased yet, except those with a subscription request made since
    /// `cutoffs.unconfirmed_before` (they asked to come back; the request
    /// is kept until it is confirmed or too old).
    pub async fn unsubscribed_to_erase(
        &self,
        cutoffs: &RetentionCutoffs,
    ) -> DbResult<Vec<SubscriberId>> {
        Ok(sqlx::query_scalar(
            "SELECT s.id FROM subscribers s
             WHERE s.erased_at IS NULL AND s.status IN ('unsubscribed', 'suspended')
               AND s.unsubscribed_at IS NOT NULL AND s.unsubscribed_at < $1
               AND NOT EXISTS (SELECT 1 FROM subscription_requests r
                               WHERE r.subscriber_id = s.id AND r.created_at >= $2)
             ORDER BY s.id",
        )
        .bind(ts(cutoffs.unsubscribed_before))
        .bind(ts(cutoffs.unconfirmed_before))
        .fetch_all(&self.pool)
        .await?)
    }

    /// Deletes subscription requests made before `before` (never confirmed:
    /// a confirmed one is applied and removed), then addresses that never
    /// confirmed, created and last mailed before `before`, with no request
    /// left waiting, with their topics. Returns (addresses, requests).
    pub async fn purge_unconfirmed(&self, before: DateTime<Utc>) -> DbResult<(u64, u64)> {
        let mut tx = self.begin_write().await?;
        let requests = sqlx::query("DELETE FROM subscription_requests WHERE created_at < $1")
            .bind(ts(before))
            .execute(&mut **tx)
            .await?
            .rows_affected();
        let rows = sqlx::query(
            "DELETE FROM subscribers
             WHERE status = 'pending' AND confirmed_at IS NULL AND erased_at IS NULL
               AND created_at < $1
               AND (last_link_mail_at IS NULL OR last_link_mail_at < $1)
               AND NOT EXISTS (SELECT 1 FROM subscription_requests r
                               WHERE r.subscriber_id = subscribers.id)",
        )
        .bind(ts(before))
        .execute(&mut **tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok((rows, requests))
    }

    /// Deletes deliveries of digest days before `before`, with their ledger
    /// rows and bounces, a batch per transaction. Returns (deliveries,
    /// ledger rows, bounces).
    pub async fn prune_deliveries(&self, before: NaiveDate) -> DbResult<(u64, u64, u64)> {
        let (mut deliveries, mut ledger, mut bounces) = (0, 0, 0);
        let batch = "SELECT id FROM deliveries WHERE digest_date < $1 ORDER BY id LIMIT $2";
        loop {
            let mut tx = self.begin_write().await?;
            ledger += sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM sent_papers WHERE delivery_id IN ({batch})"
            )))
            .bind(day(before))
            .bind(PRUNE_BATCH)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            bounces += sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM bounces WHERE delivery_id IN ({batch})"
            )))
            .bind(day(before))
            .bind(PRUNE_BATCH)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            let n = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM deliveries WHERE id IN ({batch})"
            )))
            .bind(day(before))
            .bind(PRUNE_BATCH)
            .execute(&mut **tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            deliveries += n;
            if n < PRUNE_BATCH as u64 {
                return Ok((deliveries, ledger, bounces));
            }
        }
    }
}

//! Bounces: every 4xx (soft) and 5xx (hard) reply that deferred or failed a
//! digest, counted per day for `/metrics` and `paperboy status`, and the
//! hard-bounce streak that suspends a subscriber. Written inside the
//! transaction that records the delivery's outcome (see `deliveries.rs`);
//! a delivered digest resets the streak (a trigger in the migration).

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Row as _, Transaction};

use super::{day, ts, Address, Backend, BounceCounts, BounceKind, Db, DbResult};
use crate::domain::{DeliveryId, SubscriberEmail, SubscriberId};

/// Records a bounce of `delivery_id`. A hard one that blames the address
/// (`streak` is `Some(suspend_after)`) extends the subscriber's streak and,
/// when it reaches `suspend_after` (0: never), suspends an active
/// subscriber. Returns whether this bounce suspended them.
pub(super) async fn record(
    tx: &mut Transaction<'_, Db>,
    delivery_id: DeliveryId,
    kind: BounceKind,
    code: u16,
    streak: Option<u32>,
    now: DateTime<Utc>,
) -> DbResult<bool> {
    let subscriber_id: SubscriberId =
        sqlx::query_scalar("SELECT subscriber_id FROM deliveries WHERE id = $1")
            .bind(delivery_id)
            .fetch_one(&mut **tx)
            .await?;
    sqlx::query(
        "INSERT INTO bounces (subscriber_id, delivery_id, kind, smtp_code, occurred_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(subscriber_id)
    .bind(delivery_id)
    .bind(kind.as_str())
    .bind(i64::from(code))
    .bind(ts(now))
    .execute(&mut **tx)
    .await?;
    let Some(suspend_after) = streak.filter(|_| kind == BounceKind::Hard) else {
        return Ok(false);
    };
    sqlx::query("UPDATE subscribers SET hard_bounces = hard_bounces + 1 WHERE id = $1")
        .bind(subscriber_id)
        .execute(&mut **tx)
        .await?;
    if suspend_after == 0 {
        return Ok(false);
    }
    let suspended = sqlx::query(
        "UPDATE subscribers SET status = 'suspended', updated_at = $1
         WHERE id = $2 AND status = 'active' AND hard_bounces >= $3",
    )
    .bind(ts(now))
    .bind(subscriber_id)
    .bind(i64::from(suspend_after))
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(suspended > 0)
}

impl Backend {
    /// Bounces recorded on `date` (UTC timestamps, like the other per-day counts).
    pub async fn bounce_counts(&self, date: NaiveDate) -> DbResult<BounceCounts> {
        let rows = sqlx::query(
            "SELECT kind, COUNT(*) FROM bounces WHERE substr(occurred_at, 1, 10) = $1 GROUP BY kind",
        )
        .bind(day(date))
        .fetch_all(&self.pool)
        .await?;
        let mut counts = BounceCounts::default();
        for row in rows {
            let n: i64 = row.get(1);
            match row.get::<String, _>(0).as_str() {
                "hard" => counts.hard = n,
                _ => counts.soft = n,
            }
        }
        Ok(counts)
    }

    /// The subscriber's current streak of hard bounces.
    pub async fn hard_bounces(&self, subscriber_id: SubscriberId) -> DbResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT hard_bounces FROM subscribers WHERE id = $1")
                .bind(subscriber_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    /// Re-activates a suspended subscriber (the operator fixed the address
    /// or the receiving server); their streak starts again from zero.
    /// Returns false when the subscriber was not suspended.
    pub async fn reactivate(&self, email: &SubscriberEmail, now: DateTime<Utc>) -> DbResult<bool> {
        let changed = sqlx::query(
            "UPDATE subscribers SET status = 'active', updated_at = $1
             WHERE email = $2 AND status = 'suspended'",
        )
        .bind(ts(now))
        .bind(Address(email.as_str()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed > 0)
    }
}

//! Scheduled jobs' slots: each run of a job at the instant its cron line
//! named (the slot) is taken by one daemon among all that share the
//! database, with a lease row inserted `ON CONFLICT` (see
//! `migrations/*/20261207100500_leases.sql`). Portable SQL, one text for
//! both engines.

use chrono::{DateTime, Duration, Utc};

use super::{ts, Backend, DbResult, SlotClaim};

/// Finished slots older than this are forgotten when a later one finishes.
const KEEP_SLOTS_DAYS: i64 = 14;

impl Backend {
    /// Takes the slot `slot` of `job` for `owner` until `lease_until`:
    /// [`SlotClaim::Taken`] when nobody had it, or its holder's lease had
    /// passed at `now` (the holder died; this process runs it again);
    /// [`SlotClaim::Held`] while another process holds it;
    /// [`SlotClaim::Finished`] once it ran.
    pub async fn take_job_slot(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<SlotClaim> {
        let mut tx = self.begin_write().await?;
        let taken: Option<String> = sqlx::query_scalar(
            "INSERT INTO job_slots (job, slot, owner, lease_until) VALUES ($1, $2, $3, $4)
             ON CONFLICT (job, slot) DO UPDATE
                 SET owner = excluded.owner, lease_until = excluded.lease_until
                 WHERE job_slots.finished_at IS NULL AND job_slots.lease_until <= $5
             RETURNING owner",
        )
        .bind(job)
        .bind(ts(slot))
        .bind(owner)
        .bind(ts(lease_until))
        .bind(ts(now))
        .fetch_optional(&mut **tx)
        .await?;
        let claim = if taken.is_some() {
            SlotClaim::Taken
        } else {
            let finished: Option<Option<String>> = sqlx::query_scalar(
                "SELECT finished_at FROM job_slots WHERE job = $1 AND slot = $2",
            )
            .bind(job)
            .bind(ts(slot))
            .fetch_optional(&mut **tx)
            .await?;
            match finished {
                Some(Some(_)) => SlotClaim::Finished,
                _ => SlotClaim::Held,
            }
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Extends `owner`'s hold on a slot it runs; false when it no longer
    /// holds it (its lease passed and another process took the slot).
    pub async fn renew_job_slot(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE job_slots SET lease_until = $1
             WHERE job = $2 AND slot = $3 AND owner = $4 AND finished_at IS NULL",
        )
        .bind(ts(lease_until))
        .bind(job)
        .bind(ts(slot))
        .bind(owner)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Records that the slot ran (whatever its outcome: a failed run is
    /// recorded as such, and the next slot catches up what it left), and
    /// forgets the job's slots of more than two weeks before it.
    pub async fn finish_job_slot(
        &self,
        job: &str,
        slot: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE job_slots SET finished_at = $1 WHERE job = $2 AND slot = $3")
            .bind(ts(now))
            .bind(job)
            .bind(ts(slot))
            .execute(&mut **tx)
            .await?;
        sqlx::query("DELETE FROM job_slots WHERE job = $1 AND slot < $2")
            .bind(job)
            .bind(ts(slot - Duration::days(KEEP_SLOTS_DAYS)))
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    #[tokio::test]
    async fn a_slot_runs_once_and_a_lapsed_holder_is_replaced() {
        let (store, _dir) = test_store().await;
        let slot = DateTime::parse_from_rfc3339("2026-06-12T07:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let t0 = Utc::now();
        let minute = Duration::minutes(1);
        let take = |owner: &'static str, at: DateTime<Utc>| {
            let store = store.clone();
            async move {
                store
                    .take_job_slot("digest", slot, owner, at + minute, at)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(take("a:1:1", t0).await, SlotClaim::Taken);
        assert_eq!(take("b:2:2", t0).await, SlotClaim::Held);
        // Another job's slot at the same instant is its own.
        assert_eq!(
            store
                .take_job_slot("retry", slot, "b:2:2", t0 + minute, t0)
                .await
                .unwrap(),
            SlotClaim::Taken
        );
        // Renewed, the holder keeps it past its first lease.
        assert!(store
            .renew_job_slot("digest", slot, "a:1:1", t0 + minute * 3)
            .await
            .unwrap());
        assert_eq!(take("b:2:2", t0 + minute * 2).await, SlotClaim::Held);
        // The holder dies: once its lease passed, one other daemon takes
        // the slot over, and the old holder cannot renew it.
        let t4 = t0 + minute * 4;
        assert_eq!(take("b:2:2", t4).await, SlotClaim::Taken);
        assert_eq!(take("c:3:3", t4).await, SlotClaim::Held);
        assert!(!store
            .renew_job_slot("digest", slot, "a:1:1", t4 + minute)
            .await
            .unwrap());
        store.finish_job_slot("digest", slot, t4).await.unwrap();
        // Finished: nobody runs it again, even long after.
        assert_eq!(take("c:3:3", t4 + minute * 60).await, SlotClaim::Finished);
        assert_eq!(take("a:1:1", t4).await, SlotClaim::Finished);
        // The next slot is a new one.
        assert_eq!(
            store
                .take_job_slot("digest", slot + minute * 60, "c:3:3", t4 + minute, t4)
                .await
                .unwrap(),
            SlotClaim::Taken
        );
    }
}

//! Deliveries (one digest per subscriber per date) and the ledger of papers
//! already sent to each subscriber.
//!
//! The send protocol: a page of deliveries is *reserved* together with
//! their ledger rows in one transaction (`pending`), claimed (`sending`)
//! just before the messages are handed to SMTP, then marked `sent`
//! (`delivery_pages.rs`, the only path, a page at a time), `deferred`
//! (transient failure) or `failed` (permanent, here). A crash leaves
//! `pending` or `sending` rows that the next run resends with the same
//! Message-ID and the same papers.
//!
//! The ledger (`sent_papers`) has no foreign keys: their check on every
//! inserted row was the largest server cost of a digest run, and the
//! reservation writes each row with the delivery it names. A trigger on
//! `deliveries` deletes a delivery's ledger rows with it, including the
//! deliveries a subscriber's deletion cascades to (migration
//! `20261207100700_ledger_without_row_checks`).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder, Row};

use super::bounces;
use super::{
    day, parse_day, parse_ts, push_list, ts, Backend, BounceKind, Db, DbError, DbResult, DbRow,
    Delivery, DeliveryStatus, Hold,
};
use crate::domain::{DeliveryId, PaperId, SubscriberId};

pub(super) const DELIVERY_COLUMNS: &str =
    "id, subscriber_id, digest_date, status, message_id, paper_count, \
    more_count, attempts, last_error, smtp_code, next_attempt_at, created_at, sent_at, \
    claimed_by, lease_until";

impl Backend {
    /// The subset of `candidates` already sent (or reserved) to a subscriber.
    pub async fn already_sent(
        &self,
        subscriber_id: SubscriberId,
        candidates: &[&PaperId],
    ) -> DbResult<HashSet<PaperId>> {
        let mut sent = HashSet::new();
        for chunk in candidates.chunks(500) {
            let mut q =
                QueryBuilder::<Db>::new("SELECT paper_id FROM sent_papers WHERE subscriber_id = ");
            q.push_bind(subscriber_id).push(" AND paper_id IN ");
            push_list(&mut q, chunk.iter().map(|id| id.as_str().to_string()));
            for id in q
                .build_query_scalar::<String>()
                .fetch_all(&self.pool)
                .await?
            {
                sent.insert(PaperId::from_stored(id));
            }
        }
        Ok(sent)
    }

    pub async fn delivery_for(
        &self,
        subscriber_id: SubscriberId,
        date: NaiveDate,
    ) -> DbResult<Option<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE subscriber_id = $1 AND digest_date = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(subscriber_id)
            .bind(day(date))
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    pub async fn delivery_by_id(&self, id: DeliveryId) -> DbResult<Delivery> {
        let sql = format!("SELECT {DELIVERY_COLUMNS} FROM deliveries WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref()
            .map(delivery_from_row)
            .transpose()?
            .ok_or(DbError::NotFound)
    }

    /// The papers recorded for a delivery, in mail order, with the position
    /// of the topic each was listed under.
    pub async fn delivery_papers(&self, delivery_id: DeliveryId) -> DbResult<Vec<(PaperId, i64)>> {
        let rows = sqlx::query(
            "SELECT paper_id, topic_position FROM sent_papers WHERE delivery_id = $1 ORDER BY position",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                (
                    PaperId::from_stored(r.get("paper_id")),
                    r.get("topic_position"),
                )
            })
            .collect())
    }

    /// The reasons recorded with a delivery's papers (recommended ones:
    /// "like ‘TITLE’, which you marked"), by paper.
    pub async fn delivery_reasons(
        &self,
        delivery_id: DeliveryId,
    ) -> DbResult<HashMap<PaperId, String>> {
        let rows = sqlx::query(
            "SELECT paper_id, reason FROM sent_papers WHERE delivery_id = $1 AND reason IS NOT NULL",
        )
        .bind(delivery_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (PaperId::from_stored(r.get("paper_id")), r.get("reason")))
            .collect())
    }

    /// Unfinished deliveries of any date up to `until`, due at `now`.
    pub async fn unfinished_deliveries(
        &self,
        since: NaiveDate,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE status IN ('pending', 'sending', 'deferred') AND digest_date >= $1
               AND (next_attempt_at IS NULL OR next_attempt_at <= $2)
             ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(since))
            .bind(ts(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// Records a transient failure; the delivery is retried from `retry_at`.
    /// A 4xx `code` is also counted as a soft bounce.
    pub async fn mark_deferred(
        &self,
        id: DeliveryId,
        code: Option<u16>,
        reason: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE deliveries SET status = 'deferred', last_error = $1, next_attempt_at = $2, updated_at = $3
             WHERE id = $4 AND status <> 'sent'",
        )
        .bind(reason)
        .bind(ts(retry_at))
        .bind(ts(now))
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if let (1.., Some(BounceKind::Soft), Some(code)) = (changed, BounceKind::of(code), code) {
            bounces::record(&mut tx, id, BounceKind::Soft, code, None, now).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a permanent failure with the server's reply. A 5xx `code` is a
    /// hard bounce; when it blames the address (`streak` is
    /// `Some(suspend_after)`) it extends the subscriber's streak, and the
    /// streak reaching `suspend_after` (0: never) suspends the subscriber.
    /// Returns whether the subscriber was suspended by this failure.
    ///
    /// The digest's papers leave the ledger in the same transaction: the
    /// ledger means "delivered", and a digest refused for good (552 too
    /// large, 554 content, a suspended address) delivered nothing, so its
    /// papers are offered again by a later digest (still never twice once
    /// one is delivered). A digest merely in flight keeps its rows: a crash
    /// between reserve and send resends the same papers.
    pub async fn mark_failed(
        &self,
        id: DeliveryId,
        code: Option<u16>,
        reply: &str,
        streak: Option<u32>,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE deliveries SET status = 'failed', smtp_code = $1, last_error = $2, next_attempt_at = NULL,
                 updated_at = $3 WHERE id = $4 AND status NOT IN ('sent', 'failed')",
        )
        .bind(code.map(i64::from))
        .bind(reply)
        .bind(ts(now))
        .bind(id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
        if changed > 0 {
            sqlx::query("DELETE FROM sent_papers WHERE delivery_id = $1")
                .bind(id)
                .execute(&mut **tx)
                .await?;
        }
        let mut suspended = false;
        if let (1.., Some(BounceKind::Hard), Some(code)) = (changed, BounceKind::of(code), code) {
            suspended = bounces::record(&mut tx, id, BounceKind::Hard, code, streak, now).await?;
        }
        tx.commit().await?;
        Ok(suspended)
    }

    /// Takes `papers` out of an unfinished digest that was too large for
    /// the server: out of the ledger (a later digest offers them) and into
    /// its "N more" count, before it is sent. A digest already sent or
    /// failed is left as it is.
    pub async fn release_papers(
        &self,
        delivery_id: DeliveryId,
        papers: &[PaperId],
        more_count: i64,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let unfinished: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE id = $1 AND status IN ('pending', 'sending', 'deferred')",
        )
        .bind(delivery_id)
        .fetch_optional(&mut **tx)
        .await?;
        if unfinished.is_none() {
            tx.rollback().await?;
            return Ok(());
        }
        for chunk in papers.chunks(500) {
            let mut q = QueryBuilder::<Db>::new("DELETE FROM sent_papers WHERE delivery_id = ");
            q.push_bind(delivery_id).push(" AND paper_id IN ");
            push_list(&mut q, chunk.iter().map(|p| p.as_str().to_string()));
            q.build().execute(&mut **tx).await?;
        }
        sqlx::query(
            "UPDATE deliveries SET more_count = $1, updated_at = $2,
                 paper_count = (SELECT COUNT(*) FROM sent_papers WHERE delivery_id = $3)
             WHERE id = $3",
        )
        .bind(more_count)
        .bind(ts(now))
        .bind(delivery_id)
        .execute(&mut **tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Delivery counts by status for a date.
    pub async fn delivery_counts(&self, date: NaiveDate) -> DbResult<Vec<(DeliveryStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM deliveries WHERE digest_date = $1 GROUP BY status ORDER BY status",
        )
        .bind(day(date))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((DeliveryStatus::parse(r.get("status"))?, r.get("n"))))
            .collect()
    }
}

pub(super) fn delivery_from_row(r: &DbRow) -> DbResult<Delivery> {
    let opt_ts = |col: &str| -> DbResult<Option<DateTime<Utc>>> {
        r.get::<Option<String>, _>(col)
            .as_deref()
            .map(parse_ts)
            .transpose()
    };
    Ok(Delivery {
        id: r.get("id"),
        subscriber_id: r.get("subscriber_id"),
        digest_date: parse_day(r.get("digest_date"))?,
        status: DeliveryStatus::parse(r.get("status"))?,
        message_id: r.get("message_id"),
        paper_count: r.get("paper_count"),
        more_count: r.get("more_count"),
        attempts: r.get("attempts"),
        last_error: r.get("last_error"),
        smtp_code: r.get("smtp_code"),
        next_attempt_at: opt_ts("next_attempt_at")?,
        created_at: parse_ts(r.get("created_at"))?,
        sent_at: opt_ts("sent_at")?,
        held: match (
            r.get::<Option<String>, _>("claimed_by"),
            opt_ts("lease_until")?,
        ) {
            (Some(owner), Some(until)) => Some(Hold { owner, until }),
            _ => None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::SubscriberEmail;
    use crate::store::OneDigest as _;
    use crate::store::{test_subscriber, Reservation, Store};

    async fn subscriber(store: &Store) -> SubscriberId {
        test_subscriber(store, "a@example.org").await
    }

    fn pid(s: &str) -> PaperId {
        PaperId::from_stored(s.into())
    }

    #[tokio::test]
    async fn a_permanent_failure_releases_the_digests_papers_and_a_send_keeps_them() {
        let (store, _dir) = test_store().await;
        let sub = subscriber(&store).await;
        let now = Utc::now();
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
        let papers = [(pid("p1"), 0), (pid("p2"), 0)];
        let Some(Reservation::New(first)) = store
            .reserve_delivery(sub, day(12), "<a@x>", &papers, 0, now)
            .await
            .unwrap()
        else {
            panic!("reserved")
        };
        let ids = [&papers[0].0, &papers[1].0];
        assert_eq!(store.already_sent(sub, &ids).await.unwrap().len(), 2);
        store
            .mark_failed(first.id, Some(552), "5.3.4 Message file too big", None, now)
            .await
            .unwrap();
        assert!(
            store.already_sent(sub, &ids).await.unwrap().is_empty(),
            "a refused digest delivered nothing"
        );
        // The next digest takes them, and once it is sent they stay.
        let Some(Reservation::New(second)) = store
            .reserve_delivery(sub, day(13), "<b@x>", &papers, 0, now)
            .await
            .unwrap()
        else {
            panic!("the released papers are offered again")
        };
        assert_eq!(second.paper_count, 2);
        store.mark_sent(second.id, now).await.unwrap();
        store
            .mark_failed(second.id, Some(550), "too late", None, now)
            .await
            .unwrap();
        assert_eq!(store.already_sent(sub, &ids).await.unwrap().len(), 2);
        assert_eq!(
            store.delivery_by_id(first.id).await.unwrap().paper_count,
            2,
            "the failed digest still says what it held"
        );
    }

    #[tokio::test]
    async fn a_second_reservation_for_the_same_day_returns_the_first() {
        let (store, _dir) = test_store().await;
        let sub = subscriber(&store).await;
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        let papers = vec![(pid("1"), 0), (pid("2"), 0)];
        let first = store
            .reserve_delivery(sub, d, "<m1@x>", &papers, 0, Utc::now())
            .await
            .unwrap();
        let Some(Reservation::New(first)) = first else {
            panic!("expected a new reservation")
        };
        let again = store
            .reserve_delivery(sub, d, "<m2@x>", &papers, 0, Utc::now())
            .await
            .unwrap();
        let Some(Reservation::Existing(again)) = again else {
            panic!("expected the existing one")
        };
        assert_eq!(first.id, again.id);
        assert_eq!(again.message_id, "<m1@x>");
        assert_eq!(store.delivery_papers(first.id).await.unwrap(), papers);
    }

    #[tokio::test]
    async fn papers_in_the_ledger_are_never_reserved_again() {
        let (store, _dir) = test_store().await;
        let sub = subscriber(&store).await;
        let d1: NaiveDate = "2026-06-12".parse().unwrap();
        let d2: NaiveDate = "2026-06-13".parse().unwrap();
        store
            .reserve_delivery(sub, d1, "<a@x>", &[(pid("1"), 0)], 0, Utc::now())
            .await
            .unwrap();
        let sent = store
            .already_sent(sub, &[&pid("1"), &pid("2")])
            .await
            .unwrap();
        assert_eq!(sent, HashSet::from([pid("1")]));
        // A racing run that still offers paper 1 gets nothing reserved.
        assert!(store
            .reserve_delivery(sub, d2, "<b@x>", &[(pid("1"), 0)], 0, Utc::now())
            .await
            .unwrap()
            .is_none());
        assert!(store.delivery_for(sub, d2).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn status_moves_through_sending_to_sent_and_a_sent_digest_is_never_deferred() {
        let (store, _dir) = test_store().await;
        let sub = subscriber(&store).await;
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        let Some(Reservation::New(del)) = store
            .reserve_delivery(sub, d, "<a@x>", &[(pid("1"), 0)], 0, Utc::now())
            .await
            .unwrap()
        else {
            panic!()
        };
        store.mark_sending(del.id, Utc::now()).await.unwrap();
        assert_eq!(
            store
                .unfinished_deliveries(d, Utc::now())
                .await
                .unwrap()
                .len(),
            1
        );
        store.mark_sent(del.id, Utc::now()).await.unwrap();
        store
            .mark_deferred(del.id, Some(451), "late", Utc::now(), Utc::now())
            .await
            .unwrap();
        let after = store.delivery_by_id(del.id).await.unwrap();
        assert_eq!(after.status, DeliveryStatus::Sent);
        assert_eq!(
            store.bounce_counts(Utc::now().date_naive()).await.unwrap(),
            Default::default(),
            "a deferral that changed nothing is no bounce"
        );
        assert_eq!(after.attempts, 1);
        assert!(store
            .unfinished_deliveries(d, Utc::now())
            .await
            .unwrap()
            .is_empty());
    }

    async fn reserve_one(store: &Store, sub: SubscriberId, date: &str) -> DeliveryId {
        let d: NaiveDate = date.parse().unwrap();
        let Some(Reservation::New(del)) = store
            .reserve_delivery(sub, d, &format!("<{date}@x>"), &[], 0, Utc::now())
            .await
            .unwrap()
        else {
            panic!("expected a new reservation")
        };
        del.id
    }

    #[tokio::test]
    async fn hard_bounces_in_a_row_suspend_and_a_delivery_in_between_resets_the_streak() {
        let (store, _dir) = test_store().await;
        let sub = subscriber(&store).await;
        let now = Utc::now();
        let a = reserve_one(&store, sub, "2026-06-10").await;
        assert!(!store
            .mark_failed(a, Some(550), "no such user", Some(2), now)
            .await
            .unwrap());
        assert_eq!(store.hard_bounces(sub).await.unwrap(), 1);
        // Failing the same delivery again is not a second bounce.
        assert!(!store
            .mark_failed(a, Some(550), "again", Some(2), now)
            .await
            .unwrap());
        assert_eq!(store.hard_bounces(sub).await.unwrap(), 1);

        let b = reserve_one(&store, sub, "2026-06-11").await;
        store.mark_sending(b, now).await.unwrap();
        store.mark_sent(b, now).await.unwrap();
        assert_eq!(
            store.hard_bounces(sub).await.unwrap(),
            0,
            "reset by a delivery"
        );

        let c = reserve_one(&store, sub, "2026-06-12").await;
        assert!(!store
            .mark_failed(c, Some(550), "x", Some(2), now)
            .await
            .unwrap());
        let d = reserve_one(&store, sub, "2026-06-13").await;
        store
            .mark_deferred(d, Some(451), "greylisted", now, now)
            .await
            .unwrap();
        store
            .mark_deferred(d, None, "connection refused", now, now)
            .await
            .unwrap();
        // Permanent failures without a 5xx (given up after retries) are no bounce.
        assert!(!store
            .mark_failed(d, None, "gave up", Some(2), now)
            .await
            .unwrap());
        // A 5xx that does not blame the address (a rejected sender) is
        // counted as a bounce but leaves the streak alone.
        let f = reserve_one(&store, sub, "2026-06-15").await;
        assert!(!store
            .mark_failed(f, Some(550), "sender rejected", None, now)
            .await
            .unwrap());
        assert_eq!(store.hard_bounces(sub).await.unwrap(), 1);
        let e = reserve_one(&store, sub, "2026-06-14").await;
        assert!(store
            .mark_failed(e, Some(552), "mailbox full", Some(2), now)
            .await
            .unwrap());
        let s = store.subscriber_by_id(sub).await.unwrap();
        assert_eq!(s.status, crate::domain::SubscriberStatus::Suspended);
        assert_eq!(
            store.bounce_counts(now.date_naive()).await.unwrap(),
            crate::store::BounceCounts { hard: 4, soft: 1 }
        );

        let email = SubscriberEmail::parse("a@example.org").unwrap();
        assert!(store.reactivate(&email, now).await.unwrap());
        assert!(
            !store.reactivate(&email, now).await.unwrap(),
            "already active"
        );
        assert_eq!(store.hard_bounces(sub).await.unwrap(), 0);
        let s = store.subscriber_by_id(sub).await.unwrap();
        assert_eq!(s.status, crate::domain::SubscriberStatus::Active);
    }

    /// A new delivery to `sub` for `date` carrying `papers`.
    async fn reserve_papers(
        store: &Store,
        sub: SubscriberId,
        date: &str,
        papers: &[&str],
    ) -> DeliveryId {
        let papers: Vec<(PaperId, i64)> = papers.iter().map(|p| (pid(p), 0)).collect();
        let message_id = format!("<{}.{date}@x>", sub.get());
        match store
            .reserve_delivery(
                sub,
                date.parse().unwrap(),
                &message_id,
                &papers,
                0,
                Utc::now(),
            )
            .await
            .unwrap()
        {
            Some(Reservation::New(d)) => d.id,
            other => panic!("a new delivery, not {other:?}"),
        }
    }

    async fn count(store: &Store, sql: &str, id: i64) -> i64 {
        sqlx::query_scalar(AssertSqlSafe(sql.to_string()))
            .bind(id)
            .fetch_one(super::super::test_pool(store))
            .await
            .unwrap()
    }

    async fn ledger_of_delivery(store: &Store, id: DeliveryId) -> i64 {
        let sql = "SELECT COUNT(*) FROM sent_papers WHERE delivery_id = $1";
        count(store, sql, id.get()).await
    }

    async fn ledger_of_subscriber(store: &Store, id: SubscriberId) -> i64 {
        let sql = "SELECT COUNT(*) FROM sent_papers WHERE subscriber_id = $1";
        count(store, sql, id.get()).await
    }

    /// Ledger rows whose delivery is gone (none may exist).
    async fn orphans(store: &Store) -> i64 {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM sent_papers WHERE delivery_id NOT IN (SELECT id FROM deliveries)",
        )
        .fetch_one(super::super::test_pool(store))
        .await
        .unwrap()
    }

    async fn delete_deliveries(store: &Store, sql: &str, arg: &str) -> u64 {
        sqlx::query(AssertSqlSafe(sql.to_string()))
            .bind(arg)
            .execute(super::super::test_pool(store))
            .await
            .unwrap()
            .rows_affected()
    }

    /// The ledger has no foreign keys (their per-row checks were the
    /// largest cost of a digest run); a trigger on `deliveries` keeps their
    /// cascade.
    #[tokio::test]
    async fn deleting_a_delivery_or_its_subscriber_deletes_its_ledger_rows_and_no_others() {
        let (store, _dir) = test_store().await;
        let ada = test_subscriber(&store, "ada@example.org").await;
        let bob = test_subscriber(&store, "bob@example.org").await;
        let first = reserve_papers(&store, ada, "2026-06-12", &["p1", "p2"]).await;
        let second = reserve_papers(&store, ada, "2026-06-13", &["p3"]).await;
        let bobs = reserve_papers(&store, bob, "2026-06-12", &["p1", "p4"]).await;
        assert_eq!(ledger_of_delivery(&store, first).await, 2);

        let sql = "DELETE FROM deliveries WHERE message_id = $1";
        let message_id = format!("<{}.2026-06-12@x>", ada.get());
        assert_eq!(delete_deliveries(&store, sql, &message_id).await, 1);
        assert_eq!(ledger_of_delivery(&store, first).await, 0);
        assert_eq!(ledger_of_delivery(&store, second).await, 1);
        assert_eq!(ledger_of_delivery(&store, bobs).await, 2);
        assert_eq!(
            store.already_sent(ada, &[&pid("p1")]).await.unwrap().len(),
            0,
            "a deleted digest's papers may be sent again"
        );

        // Deleting a subscriber cascades to their deliveries, and on to
        // the ledger through the trigger.
        let email = SubscriberEmail::parse("bob@example.org").unwrap();
        store.remove_subscriber(&email).await.unwrap();
        assert_eq!(ledger_of_subscriber(&store, bob).await, 0);
        assert_eq!(ledger_of_subscriber(&store, ada).await, 1);
        assert_eq!(orphans(&store).await, 0);
    }

    #[tokio::test]
    async fn bulk_deletes_retention_and_erasure_leave_no_ledger_row_without_its_delivery() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let ada = test_subscriber(&store, "ada@example.org").await;
        let bob = test_subscriber(&store, "bob@example.org").await;
        let cy = test_subscriber(&store, "cy@example.org").await;
        for (sub, [old, older, recent]) in [
            (ada, ["a1", "a2", "a3"]),
            (bob, ["b1", "b2", "b3"]),
            (cy, ["c1", "c2", "c3"]),
        ] {
            reserve_papers(&store, sub, "2025-01-01", &[old]).await;
            reserve_papers(&store, sub, "2025-01-02", &[older]).await;
            reserve_papers(&store, sub, "2026-06-12", &[recent]).await;
        }

        // Several deliveries in one statement: each one's rows go.
        let sql = "DELETE FROM deliveries WHERE digest_date = $1";
        assert_eq!(delete_deliveries(&store, sql, "2025-01-01").await, 3);
        assert_eq!(orphans(&store).await, 0);
        for sub in [ada, bob, cy] {
            assert_eq!(ledger_of_subscriber(&store, sub).await, 2);
        }

        // Retention: the old digests go with their ledger, the recent stay.
        let pruned = store
            .prune_deliveries("2026-01-01".parse().unwrap())
            .await
            .unwrap();
        assert_eq!(pruned, (3, 3, 0));
        assert_eq!(orphans(&store).await, 0);

        // Erasure: cy's unsent digest is deleted, the ledger with it.
        store.erase_subscriber(cy, None, now).await.unwrap();
        assert_eq!(ledger_of_subscriber(&store, cy).await, 0);
        assert_eq!(orphans(&store).await, 0);
        for sub in [ada, bob] {
            assert_eq!(ledger_of_subscriber(&store, sub).await, 1);
        }
    }

    /// A database an older paperboy migrated, ledger and all (SQLite
    /// rebuilds the table to drop its keys).
    #[tokio::test]
    async fn an_older_database_keeps_its_ledger_rows_and_their_cascade_when_migrated() {
        type LedgerRow = (i64, String, i64, i64, i64, Option<String>);
        let (store, _guard) = super::super::test_store_at(20261207100600).await;
        let ada = test_subscriber(&store, "ada@example.org").await;
        let bob = test_subscriber(&store, "bob@example.org").await;
        let first = reserve_papers(&store, ada, "2026-06-12", &["p1", "p2"]).await;
        reserve_papers(&store, ada, "2026-06-13", &["p3"]).await;
        reserve_papers(&store, bob, "2026-06-12", &["p1"]).await;
        let pool = super::super::test_pool(&store);
        sqlx::query("UPDATE sent_papers SET reason = 'because' WHERE paper_id = 'p2'")
            .execute(pool)
            .await
            .unwrap();
        let ledger = || async {
            sqlx::query_as::<_, LedgerRow>(
                "SELECT subscriber_id, paper_id, delivery_id, position, topic_position, reason
                 FROM sent_papers ORDER BY subscriber_id, paper_id",
            )
            .fetch_all(pool)
            .await
            .unwrap()
        };
        let before = ledger().await;
        assert_eq!(before.len(), 4);

        store.migrate().await.unwrap();
        assert_eq!(ledger().await, before);
        let indexes: Vec<String> = sqlx::query_scalar(if super::super::POSTGRES {
            "SELECT indexname::text FROM pg_indexes
             WHERE tablename = 'sent_papers' AND indexname <> 'sent_papers_pkey' ORDER BY 1"
        } else {
            "SELECT name FROM pragma_index_list('sent_papers') WHERE origin = 'c' ORDER BY 1"
        })
        .fetch_all(pool)
        .await
        .unwrap();
        assert_eq!(indexes, ["sent_papers_delivery", "sent_papers_paper"]);
        assert!(
            store.already_sent(ada, &[&pid("p3")]).await.unwrap().len() == 1,
            "the ledger still answers"
        );

        let sql = "DELETE FROM deliveries WHERE message_id = $1";
        let message_id = format!("<{}.2026-06-12@x>", ada.get());
        assert_eq!(delete_deliveries(&store, sql, &message_id).await, 1);
        assert_eq!(ledger_of_delivery(&store, first).await, 0);
        let email = SubscriberEmail::parse("bob@example.org").unwrap();
        store.remove_subscriber(&email).await.unwrap();
        assert_eq!(ledger_of_subscriber(&store, bob).await, 0);
        assert_eq!(ledger().await.len(), 1);
        assert_eq!(orphans(&store).await, 0);
    }
}

//! The send protocol's writes, a whole page of digests at once: one
//! transaction reserves many deliveries with their ledger rows, one
//! statement claims many (a compare-and-set per row on the status and
//! attempt count read, so of several runs that saw the same delivery
//! exactly one sends it), one marks many sent. A statement alone needs no
//! transaction around it, and its rows or ids go as one parameter (an
//! array on PostgreSQL, JSON on SQLite: `push_id_in`, `push_claim_rows`
//! in each backend), so each is one round trip and one prepared statement
//! whatever the count. This is the only path; the store's tests take
//! single digests through it too (`OneDigest`).
//!
//! On PostgreSQL the statements that find deliveries by id are planned at
//! every execution (`persistent(false)`: an unnamed statement, one more
//! round trip). A run's deliveries grow from none to one per subscriber
//! while it sends, and a kept generic plan made while the table held a few
//! hundred rows reads the whole table by sequential scan for every claim
//! and every batch of sent marks: measured at 100 times the work by the
//! end of a 20,000-digest run. `PLANNED_EACH_TIME` says which.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{AssertSqlSafe, QueryBuilder};

use super::{
    day, push_list, ts, Backend, BatchReservation, ClaimRequest, Db, DbResult, Delivery,
    DeliveryStatus, Hold, NewReservation,
};
use crate::domain::{DeliveryId, PaperId, SubscriberId};

/// Most rows per statement: every statement is a round trip to the
/// database thread, so rows go in multi-row statements, well under
/// SQLite's limit of 32,766 bound parameters. Powers of two: see
/// [`statement_chunks`].
const DELIVERY_ROWS: usize = 256;
/// Whether statements that find deliveries by id are prepared for each
/// execution (see the module doc): on PostgreSQL only, whose planner keeps
/// a generic plan; SQLite's plans do not depend on the table's size.
const PLANNED_EACH_TIME: bool = super::POSTGRES;
const LEDGER_ROWS: usize = 1024;

/// `rows` in slices of at most `max` (a power of two) rows, every slice a
/// power of two long: the full slices, then the rest as its binary digits
/// (700 rows at most 256: 256, 256, 128, 32, 16, 8, 4). Each length is a
/// different statement, which sqlx prepares once and keeps per connection;
/// with any length allowed, a long run would prepare and keep a statement
/// (and its parameter slots) for nearly every page.
fn statement_chunks<T>(rows: &[T], max: usize) -> impl Iterator<Item = &[T]> {
    debug_assert!(max.is_power_of_two());
    let mut rest = rows;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let len = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(len);
        rest = tail;
        Some(chunk)
    })
}

/// One ledger row of a reservation: `paper` at `position` of the digest
/// `delivery_id`, from the subscriber's topic at `topic` (and why, for a
/// recommended paper).
pub(crate) struct LedgerRow<'a> {
    pub subscriber_id: SubscriberId,
    pub delivery_id: DeliveryId,
    pub paper: &'a PaperId,
    pub position: i64,
    pub topic: i64,
    pub reason: Option<&'a str>,
}

impl Backend {
    /// Reserves every digest of `batch` for `date` in one transaction,
    /// answering one [`BatchReservation`] per item in order.
    ///
    /// The whole page goes in a few statements, not two per digest: the
    /// deliveries many rows at a time (a subscriber whose digest for the
    /// date exists gets no row back), then every new delivery's ledger rows
    /// together (a paper the subscriber's ledger already holds is not
    /// inserted, so not kept), then one statement drops the deliveries left
    /// with no paper of their own. Rows cross from SQLite's thread one
    /// message at a time, so the ledger's rows are not returned: a
    /// statement's count of inserted rows says whether it kept them all.
    ///
    /// The new deliveries are held by `hold` (its owner and lease, as a
    /// claim is) from the start: another daemon walking the same page
    /// leaves them to this one rather than building them too, and takes
    /// them over only once the lease has passed.
    pub async fn reserve_deliveries(
        &self,
        date: NaiveDate,
        batch: &[NewReservation],
        hold: &Hold,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<BatchReservation>> {
        let now_ts = ts(now);
        let created_at = super::parse_ts(&now_ts)?;
        let date_s = day(date);
        let mut tx = self.begin_write().await?;

        // Delivery ids by subscriber, for the rows this call inserted.
        let mut ids: HashMap<SubscriberId, DeliveryId> = HashMap::with_capacity(batch.len());
        for chunk in statement_chunks(batch, DELIVERY_ROWS) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO deliveries (subscriber_id, digest_date, status, message_id, paper_count,
                     more_count, created_at, updated_at, claimed_by, lease_until) ",
            );
            super::push_delivery_rows(&mut q, chunk, &date_s, &now_ts, hold);
            q.push(
                " ON CONFLICT (subscriber_id, digest_date) DO NOTHING RETURNING subscriber_id, id",
            );
            ids.extend(
                q.build_query_as::<(SubscriberId, DeliveryId)>()
                    .fetch_all(&mut **tx)
                    .await?,
            );
        }

        // Which item owns each new delivery: the first with its subscriber
        // (a second item for the same subscriber found the row existing).
        let mut owner: Vec<Option<DeliveryId>> = Vec::with_capacity(batch.len());
        let mut taken: HashSet<DeliveryId> = HashSet::with_capacity(ids.len());
        for item in batch {
            owner.push(
                ids.get(&item.subscriber_id)
                    .copied()
                    .filter(|id| taken.insert(*id)),
            );
        }

        // Every new delivery's ledger rows, many per statement. A statement
        // that inserted all its rows kept every paper; for the deliveries of
        // one that did not (another digest holds some of the papers), the
        // ledger says which rows are theirs.
        let mut kept: HashMap<DeliveryId, Vec<bool>> = HashMap::with_capacity(ids.len());
        let rows: Vec<LedgerRow> = batch
            .iter()
            .zip(&owner)
            .filter_map(|(item, id)| id.map(|id| (item, id)))
            .flat_map(|(item, id)| {
                kept.insert(id, vec![false; item.papers.len()]);
                item.papers
                    .iter()
                    .enumerate()
                    .map(move |(position, (paper, topic))| {
                        let reason = item.reasons.get(position).and_then(|r| r.as_deref());
                        LedgerRow {
                            subscriber_id: item.subscriber_id,
                            delivery_id: id,
                            paper,
                            position: position as i64,
                            topic: *topic,
                            reason,
                        }
                    })
            })
            .collect();
        let mut unsure: Vec<DeliveryId> = Vec::new();
        for chunk in statement_chunks(&rows, LEDGER_ROWS) {
            let mut q = QueryBuilder::<Db>::new(
                "INSERT INTO sent_papers (subscriber_id, paper_id, delivery_id, position, topic_position, reason) ",
            );
            super::push_ledger_rows(&mut q, chunk);
            q.push(" ON CONFLICT DO NOTHING");
            let inserted = q.build().execute(&mut **tx).await?.rows_affected();
            for LedgerRow {
                delivery_id: id,
                position,
                ..
            } in chunk
            {
                if inserted == chunk.len() as u64 {
                    let slot = kept
                        .get_mut(id)
                        .zip(usize::try_from(*position).ok())
                        .and_then(|(k, p)| k.get_mut(p));
                    if let Some(k) = slot {
                        *k = true;
                    }
                } else if unsure.last() != Some(id) {
                    unsure.push(*id);
                }
            }
        }
        if !unsure.is_empty() {
            let mut q =
                QueryBuilder::<Db>::new("SELECT delivery_id, position FROM sent_papers WHERE ");
            super::push_id_in(&mut q, "delivery_id", &unsure);
            let rows = q
                .build_query_as::<(DeliveryId, i64)>()
                .fetch_all(&mut **tx)
                .await?;
            for (id, position) in rows {
                let slot = kept
                    .get_mut(&id)
                    .zip(usize::try_from(position).ok())
                    .and_then(|(k, p)| k.get_mut(p));
                if let Some(k) = slot {
                    *k = true;
                }
            }
        }

        // Deliveries every paper of which another digest already holds go
        // again; those that lost some papers get their count corrected.
        let mut empty: Vec<DeliveryId> = Vec::new();
        for (item, id) in batch.iter().zip(&owner) {
            let Some(id) = id else { continue };
            let count = kept[id].iter().filter(|k| **k).count() as i64;
            if count == 0 && !item.papers.is_empty() {
                empty.push(*id);
            } else if count != item.papers.len() as i64 {
                sqlx::query("UPDATE deliveries SET paper_count = $1 WHERE id = $2")
                    .bind(count)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
            }
        }
        if !empty.is_empty() {
            let mut q = QueryBuilder::<Db>::new("DELETE FROM deliveries WHERE ");
            super::push_id_in(&mut q, "id", &empty);
            q.build().execute(&mut **tx).await?;
        }
        tx.commit().await?;

        let mut out = Vec::with_capacity(batch.len());
        for (item, id) in batch.iter().zip(owner) {
            let Some(id) = id else {
                out.push(BatchReservation::Existing);
                continue;
            };
            let kept = kept.remove(&id).unwrap_or_default();
            let count = kept.iter().filter(|k| **k).count() as i64;
            if count == 0 && !item.papers.is_empty() {
                out.push(BatchReservation::Nothing);
                continue;
            }
            out.push(BatchReservation::New {
                delivery: Box::new(Delivery {
                    id,
                    subscriber_id: item.subscriber_id,
                    digest_date: date,
                    status: DeliveryStatus::Pending,
                    message_id: item.message_id.clone(),
                    paper_count: count,
                    more_count: item.more_count,
                    attempts: 0,
                    last_error: None,
                    smtp_code: None,
                    next_attempt_at: None,
                    created_at,
                    sent_at: None,
                    held: Some(hold.clone()),
                }),
                kept,
            });
        }
        Ok(out)
    }

    /// Claims many deliveries for `owner` in one statement: whether this
    /// call won each, in order. Each row is a compare-and-set on the status
    /// and attempt count its claimant read, so of several processes that
    /// read the same delivery exactly one sends it. A delivery another
    /// process holds under a lease that has not passed at `now` is not
    /// taken: one it is sending, or one it reserved (`pending`, see
    /// [`Backend::reserve_deliveries`]) and has not claimed yet; `owner`
    /// claims its own reservations. One whose lease has passed is taken:
    /// its holder died or lost the database, and for a digest it was
    /// sending, the mail it may have sent is the one allowed resend of the
    /// same Message-ID. A `deferred` delivery is claimed whoever held it
    /// (its last claimant gave it back to the retry job). The claim holds
    /// until `lease_until`.
    ///
    /// The rows go as one parameter (see `push_claim_rows`) in one
    /// statement, atomic alone: no transaction around it, one round trip.
    /// On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED`: a row
    /// another daemon is claiming at this moment is skipped (it wins it),
    /// instead of waiting for its statement and then losing.
    pub async fn claim_deliveries(
        &self,
        claims: &[ClaimRequest],
        owner: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<bool>> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::<Db>::new("");
        if super::POSTGRES {
            // The rows are locked once, up front; a subquery in the WHERE
            // clause is run again for every row the update visits.
            let ids: Vec<DeliveryId> = claims.iter().map(|c| c.id).collect();
            q.push("WITH locked AS MATERIALIZED (SELECT id FROM deliveries WHERE ");
            super::push_id_in(&mut q, "id", &ids);
            q.push(" FOR UPDATE SKIP LOCKED) ");
        }
        q.push(
            "UPDATE deliveries SET status = 'sending', attempts = deliveries.attempts + 1,
                 updated_at = ",
        );
        q.push_bind(ts(now))
            .push(", claimed_by = ")
            .push_bind(owner.to_string())
            .push(", lease_until = ")
            .push_bind(ts(lease_until))
            .push(" FROM ");
        super::push_claim_rows(&mut q, claims);
        if super::POSTGRES {
            q.push(" JOIN locked ON locked.id = c.id");
        }
        q.push(
            " WHERE deliveries.id = c.id AND deliveries.status = c.expected_status
                 AND deliveries.attempts = c.expected_attempts
                 AND deliveries.status IN ('pending', 'sending', 'deferred')
                 AND (deliveries.status <> 'sending' OR deliveries.lease_until IS NULL
                      OR deliveries.lease_until <= ",
        );
        q.push_bind(ts(now)).push(")");
        q.push(
            " AND (deliveries.status <> 'pending' OR deliveries.claimed_by IS NULL
                 OR deliveries.lease_until IS NULL OR deliveries.claimed_by = ",
        );
        q.push_bind(owner.to_string())
            .push(" OR deliveries.lease_until <= ")
            .push_bind(ts(now))
            .push(")");
        q.push(" RETURNING deliveries.id");
        let mut conn = self.write_one().await?;
        let claimed: HashSet<DeliveryId> = q
            .build_query_scalar::<DeliveryId>()
            .persistent(!PLANNED_EACH_TIME)
            .fetch_all(&mut **conn)
            .await?
            .into_iter()
            .collect();
        Ok(claims.iter().map(|c| claimed.contains(&c.id)).collect())
    }

    /// Extends `owner`'s holds on the deliveries `ids` it reserved and has
    /// not sent yet, or is sending, to `lease_until`, in one statement;
    /// answers how many it still held. A delivery another process took
    /// over (the lease had passed) is not renewed.
    pub async fn renew_delivery_leases(
        &self,
        ids: &[DeliveryId],
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> DbResult<u64> {
        if ids.is_empty() {
            return Ok(0);
        }
        let mut q = QueryBuilder::<Db>::new("UPDATE deliveries SET lease_until = ");
        q.push_bind(ts(lease_until))
            .push(" WHERE status IN ('pending', 'sending') AND claimed_by = ")
            .push_bind(owner.to_string())
            .push(" AND ");
        super::push_id_in(&mut q, "id", ids);
        let mut conn = self.write_one().await?;
        Ok(q.build()
            .persistent(!PLANNED_EACH_TIME)
            .execute(&mut **conn)
            .await?
            .rows_affected())
    }

    /// Which of `papers` each subscriber with an id in `first..=last`
    /// already got (or has reserved): [`Store::already_sent`] for a page of
    /// subscribers, answered from the ledger's paper index.
    pub async fn already_sent_in_range(
        &self,
        first: SubscriberId,
        last: SubscriberId,
        papers: &[PaperId],
    ) -> DbResult<HashMap<SubscriberId, HashSet<PaperId>>> {
        let mut sent: HashMap<SubscriberId, HashSet<PaperId>> = HashMap::new();
        for chunk in papers.chunks(500) {
            let mut q = QueryBuilder::<Db>::new(
                "SELECT subscriber_id, paper_id FROM sent_papers WHERE paper_id IN ",
            );
            push_list(&mut q, chunk.iter().map(|id| id.as_str().to_string()));
            q.push(" AND subscriber_id BETWEEN ")
                .push_bind(first)
                .push(" AND ")
                .push_bind(last);
            let rows = q
                .build_query_as::<(SubscriberId, String)>()
                .fetch_all(&self.pool)
                .await?;
            for (sub, paper) in rows {
                sent.entry(sub)
                    .or_default()
                    .insert(PaperId::from_stored(paper));
            }
        }
        Ok(sent)
    }

    /// [`Store::delivery_for`] for every subscriber with an id in
    /// `first..=last`: the deliveries for `date` that exist, by subscriber.
    pub async fn deliveries_in_range(
        &self,
        date: NaiveDate,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<HashMap<SubscriberId, Delivery>> {
        let sql = format!(
            "SELECT {} FROM deliveries WHERE digest_date = $1 AND subscriber_id BETWEEN $2 AND $3",
            super::deliveries::DELIVERY_COLUMNS
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(date))
            .bind(first)
            .bind(last)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| super::deliveries::delivery_from_row(r).map(|d| (d.subscriber_id, d)))
            .collect()
    }

    /// Defers the deliveries `ids` not yet sent until `retry_at` with
    /// `reason`, in one statement: what [`Store::mark_deferred`] does
    /// without a reply code (so no bounce is counted), for a chunk's
    /// digests whose domain budget is spent, before they are claimed.
    /// Answers the ids deferred. A delivery another process than `owner`
    /// holds at `now` (reserved or being sent, under a lease that has not
    /// passed) is left to its holder, as a claim leaves it: deferred, any
    /// process could claim it and send it again while its holder sends it.
    pub async fn defer_many(
        &self,
        ids: &[DeliveryId],
        owner: &str,
        reason: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<DeliveryId>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q =
            QueryBuilder::<Db>::new("UPDATE deliveries SET status = 'deferred', last_error = ");
        q.push_bind(reason.to_string())
            .push(", next_attempt_at = ")
            .push_bind(ts(retry_at))
            .push(", updated_at = ")
            .push_bind(ts(now))
            .push(
                " WHERE status <> 'sent' AND NOT (status IN ('pending', 'sending')
                   AND COALESCE(claimed_by <> ",
            )
            .push_bind(owner.to_string())
            .push(" AND lease_until > ")
            .push_bind(ts(now))
            .push(", FALSE)) AND ");
        super::push_id_in(&mut q, "id", ids);
        q.push(" RETURNING id");
        let mut conn = self.write_one().await?;
        Ok(q.build_query_scalar::<DeliveryId>()
            .persistent(!PLANNED_EACH_TIME)
            .fetch_all(&mut **conn)
            .await?)
    }

    /// [`Store::mark_sent`] for many deliveries in one statement (no
    /// transaction around it: one round trip).
    pub async fn mark_sent_many(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> DbResult<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut q = QueryBuilder::<Db>::new("UPDATE deliveries SET status = 'sent', sent_at = ");
        q.push_bind(ts(now))
            .push(", updated_at = ")
            .push_bind(ts(now))
            .push(", last_error = NULL, next_attempt_at = NULL WHERE ");
        super::push_id_in(&mut q, "id", ids);
        let mut conn = self.write_one().await?;
        q.build()
            .persistent(!PLANNED_EACH_TIME)
            .execute(&mut **conn)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::store::test_subscriber as subscriber;
    use crate::store::OneDigest as _;
    use crate::store::Reservation;
    use crate::store::{lapsed_hold, test_hold};

    fn pid(s: &str) -> PaperId {
        PaperId::from_stored(s.into())
    }

    /// A claim on each new delivery of `got`, as read when reserved.
    fn claims_of(got: &[BatchReservation]) -> Vec<ClaimRequest> {
        got.iter()
            .map(|r| match r {
                BatchReservation::New { delivery, .. } => ClaimRequest {
                    id: delivery.id,
                    expected: delivery.status,
                    attempts: delivery.attempts,
                },
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn item(sub: SubscriberId, papers: &[&str]) -> NewReservation {
        NewReservation {
            subscriber_id: sub,
            message_id: format!("<{sub}@x>"),
            papers: papers.iter().map(|p| (pid(p), 0)).collect(),
            reasons: Vec::new(),
            more_count: 0,
        }
    }

    #[test]
    fn statements_come_in_power_of_two_lengths_covering_every_row_in_order() {
        let lens = |n: usize, max: usize| -> Vec<usize> {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<&[usize]> = statement_chunks(&rows, max).collect();
            assert_eq!(chunks.concat(), rows);
            chunks.iter().map(|c| c.len()).collect()
        };
        assert_eq!(lens(700, 256), [256, 256, 128, 32, 16, 8, 4]);
        assert_eq!(lens(512, 256), [256, 256]);
        assert_eq!(lens(1, 256), [1]);
        assert!(lens(0, 256).is_empty());
        for n in 0..2000 {
            assert!(lens(n, 512)
                .iter()
                .all(|l| l.is_power_of_two() && *l <= 512));
        }
    }

    #[tokio::test]
    async fn a_batch_reserves_new_digests_and_leaves_existing_and_ledgered_ones_alone() {
        let (store, _dir) = test_store().await;
        let a = subscriber(&store, "a@example.org").await;
        let b = subscriber(&store, "b@example.org").await;
        let c = subscriber(&store, "c@example.org").await;
        let d1: NaiveDate = "2026-06-12".parse().unwrap();
        let d2: NaiveDate = "2026-06-13".parse().unwrap();
        // b already has today's digest; c got paper 9 yesterday.
        let Some(Reservation::New(b_first)) = store
            .reserve_delivery(b, d2, "<b-first@x>", &[(pid("1"), 0)], 0, Utc::now())
            .await
            .unwrap()
        else {
            panic!("a new reservation")
        };
        store
            .reserve_delivery(c, d1, "<c-old@x>", &[(pid("9"), 0)], 0, Utc::now())
            .await
            .unwrap();
        let batch = [item(a, &["1", "2"]), item(b, &["2"]), item(c, &["9"])];
        let got = store
            .reserve_deliveries(d2, &batch, &test_hold(), Utc::now())
            .await
            .unwrap();
        let BatchReservation::New { delivery, kept } = &got[0] else {
            panic!("a's digest is new: {got:?}")
        };
        assert_eq!(kept, &[true, true]);
        assert_eq!(
            store.delivery_papers(delivery.id).await.unwrap(),
            vec![(pid("1"), 0), (pid("2"), 0)]
        );
        let stored = store.delivery_by_id(delivery.id).await.unwrap();
        assert_eq!(stored.message_id, format!("<{a}@x>"));
        assert_eq!(stored.status, DeliveryStatus::Pending);
        assert!(matches!(got[1], BatchReservation::Existing));
        assert_eq!(
            store.delivery_for(b, d2).await.unwrap().unwrap().id,
            b_first.id
        );
        assert!(matches!(got[2], BatchReservation::Nothing));
        assert!(store.delivery_for(c, d2).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_batch_keeps_only_the_papers_not_yet_in_the_ledger() {
        let (store, _dir) = test_store().await;
        let a = subscriber(&store, "a@example.org").await;
        let d1: NaiveDate = "2026-06-12".parse().unwrap();
        let d2: NaiveDate = "2026-06-13".parse().unwrap();
        store
            .reserve_delivery(a, d1, "<old@x>", &[(pid("1"), 0)], 0, Utc::now())
            .await
            .unwrap();
        let got = store
            .reserve_deliveries(d2, &[item(a, &["1", "2"])], &test_hold(), Utc::now())
            .await
            .unwrap();
        let BatchReservation::New { delivery, kept } = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(kept, &[false, true]);
        assert_eq!(
            store.delivery_by_id(delivery.id).await.unwrap().paper_count,
            1
        );
    }

    #[tokio::test]
    async fn a_page_whose_ledger_rows_span_statements_keeps_exactly_the_new_papers() {
        let (store, _dir) = test_store().await;
        let d1: NaiveDate = "2026-06-12".parse().unwrap();
        let d2: NaiveDate = "2026-06-13".parse().unwrap();
        let papers: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
        let papers: Vec<&str> = papers.iter().map(String::as_str).collect();
        let mut subs = Vec::new();
        for i in 0..(LEDGER_ROWS / papers.len() + 10) {
            subs.push(subscriber(&store, &format!("s{i}@example.org")).await);
        }
        // Two subscribers, one in each ledger statement, already got a paper.
        let (early, late) = (subs[3], subs[subs.len() - 2]);
        for (sub, paper) in [(early, "p0"), (late, "p19")] {
            store
                .reserve_delivery(
                    sub,
                    d1,
                    &format!("<old{sub}@x>"),
                    &[(pid(paper), 0)],
                    0,
                    Utc::now(),
                )
                .await
                .unwrap();
        }
        let batch: Vec<NewReservation> = subs.iter().map(|&s| item(s, &papers)).collect();
        let got = store
            .reserve_deliveries(d2, &batch, &test_hold(), Utc::now())
            .await
            .unwrap();
        for (sub, r) in subs.iter().zip(&got) {
            let BatchReservation::New { delivery, kept } = r else {
                panic!("{r:?}")
            };
            let expected: Vec<bool> = papers
                .iter()
                .map(|p| !((*sub == early && *p == "p0") || (*sub == late && *p == "p19")))
                .collect();
            assert_eq!(kept, &expected, "subscriber {sub}");
            let stored = store.delivery_by_id(delivery.id).await.unwrap();
            let count = expected.iter().filter(|k| **k).count() as i64;
            assert_eq!((delivery.paper_count, stored.paper_count), (count, count));
        }
    }

    #[tokio::test]
    async fn the_ledger_is_read_for_a_page_of_subscribers_at_once() {
        let (store, _dir) = test_store().await;
        let a = subscriber(&store, "a@example.org").await;
        let b = subscriber(&store, "b@example.org").await;
        let c = subscriber(&store, "c@example.org").await;
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        store
            .reserve_deliveries(
                d,
                &[item(a, &["1", "2"]), item(c, &["2", "3"])],
                &test_hold(),
                Utc::now(),
            )
            .await
            .unwrap();
        let got = store
            .already_sent_in_range(a, b, &[pid("2"), pid("3"), pid("4")])
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[&a], HashSet::from([pid("2")]));
        let existing = store.deliveries_in_range(d, a, b).await.unwrap();
        assert_eq!(existing.len(), 1, "{existing:?}");
        assert_eq!(existing[&a].subscriber_id, a);
        assert_eq!(existing[&a].status, DeliveryStatus::Pending);
    }

    #[tokio::test]
    async fn batch_claims_win_once_and_batch_marks_record_sent() {
        let (store, _dir) = test_store().await;
        let a = subscriber(&store, "a@example.org").await;
        let b = subscriber(&store, "b@example.org").await;
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        // Reserved by a process that died: both claimants may take them,
        // and the claim's compare-and-set decides.
        let got = store
            .reserve_deliveries(
                d,
                &[item(a, &["1"]), item(b, &["1"])],
                &lapsed_hold(),
                Utc::now(),
            )
            .await
            .unwrap();
        let claims = claims_of(&got);
        let now = Utc::now();
        let lease = now + chrono::Duration::minutes(1);
        assert_eq!(
            store
                .claim_deliveries(&claims, "1:1", lease, now)
                .await
                .unwrap(),
            [true, true]
        );
        assert_eq!(
            store
                .claim_deliveries(&claims, "2:2", lease, now)
                .await
                .unwrap(),
            [false, false]
        );
        let ids: Vec<DeliveryId> = claims.iter().map(|c| c.id).collect();
        store.mark_sent_many(&ids, now).await.unwrap();
        for id in ids {
            let d = store.delivery_by_id(id).await.unwrap();
            assert_eq!(d.status, DeliveryStatus::Sent);
            assert_eq!(d.attempts, 1);
            assert_eq!(
                store.delivery_owner(id).await.unwrap().as_deref(),
                Some("1:1")
            );
        }
    }

    #[tokio::test]
    async fn a_batch_claim_decides_each_row_alone_and_a_batch_deferral_spares_sent_digests() {
        let (store, _dir) = test_store().await;
        let mut batch = Vec::new();
        for email in ["a@example.org", "b@example.org", "c@example.org"] {
            batch.push(item(subscriber(&store, email).await, &[]));
        }
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        // Reserved by a process that died, so "1:1" holds only what it wins.
        let got = store
            .reserve_deliveries(d, &batch, &lapsed_hold(), Utc::now())
            .await
            .unwrap();
        let mut claims = claims_of(&got);
        // b was read before another run's attempt: its claim is stale.
        claims[1].attempts += 1;
        let now = Utc::now();
        let lease = now + chrono::Duration::minutes(1);
        let won = store
            .claim_deliveries(&claims, "1:1", lease, now)
            .await
            .unwrap();
        assert_eq!(won, [true, false, true]);
        let ids: Vec<DeliveryId> = claims.iter().map(|c| c.id).collect();
        store.mark_sent_many(&ids[..1], now).await.unwrap();
        // Only c is still being sent by "1:1".
        let held = store
            .renew_delivery_leases(&ids, "1:1", lease + chrono::Duration::minutes(1))
            .await
            .unwrap();
        assert_eq!(held, 1);
        let retry = now + chrono::Duration::minutes(5);
        let deferred = store
            .defer_many(
                &ids,
                "1:1",
                "the sending budget for example.org is spent",
                retry,
                now,
            )
            .await
            .unwrap();
        assert_eq!(deferred.len(), 2, "{deferred:?}");
        let status = |i: usize| {
            let store = store.clone();
            let id = ids[i];
            async move { store.delivery_by_id(id).await.unwrap() }
        };
        assert_eq!(status(0).await.status, DeliveryStatus::Sent);
        for i in [1, 2] {
            let d = status(i).await;
            assert_eq!(d.status, DeliveryStatus::Deferred);
            assert_eq!(
                d.next_attempt_at.map(|t| t.timestamp()),
                Some(retry.timestamp())
            );
            assert!(d.last_error.unwrap().contains("budget"));
        }
    }

    #[tokio::test]
    async fn a_budget_deferral_leaves_a_digest_another_process_holds_to_it() {
        let (store, _dir) = test_store().await;
        let mut batch = Vec::new();
        for email in ["a@example.org", "b@example.org", "c@example.org"] {
            batch.push(item(subscriber(&store, email).await, &[]));
        }
        let d: NaiveDate = "2026-06-12".parse().unwrap();
        let now = Utc::now();
        let lease = now + chrono::Duration::minutes(1);
        // "2:2" reserved all three under its lease and is sending a; c was
        // reserved by a process that died (its lease passed).
        let other = Hold {
            owner: "2:2".into(),
            until: lease,
        };
        let got = store
            .reserve_deliveries(d, &batch[..2], &other, now)
            .await
            .unwrap();
        let dead = store
            .reserve_deliveries(d, &batch[2..], &lapsed_hold(), now)
            .await
            .unwrap();
        let claims = claims_of(&got);
        let won = store
            .claim_deliveries(&claims[..1], "2:2", lease, now)
            .await
            .unwrap();
        assert_eq!(won, [true]);
        let mut ids: Vec<DeliveryId> = claims.iter().map(|c| c.id).collect();
        ids.extend(claims_of(&dead).iter().map(|c| c.id));

        // "1:1" (the retry job of another daemon, which read all three)
        // finds their domain's budget spent: it defers only the one no
        // live process holds.
        let retry = now + chrono::Duration::seconds(5);
        let deferred = store
            .defer_many(&ids, "1:1", "the budget is spent", retry, now)
            .await
            .unwrap();
        assert_eq!(deferred, [ids[2]]);
        let status = |i: usize| {
            let store = store.clone();
            let id = ids[i];
            async move { store.delivery_by_id(id).await.unwrap().status }
        };
        assert_eq!(status(0).await, DeliveryStatus::Sending);
        assert_eq!(status(1).await, DeliveryStatus::Pending);
        assert_eq!(status(2).await, DeliveryStatus::Deferred);
        // Once its retry time came, nobody else can take the digest "2:2"
        // is sending.
        let later = retry + chrono::Duration::seconds(1);
        let sending = ClaimRequest {
            id: ids[0],
            expected: DeliveryStatus::Sending,
            attempts: 1,
        };
        let won = store
            .claim_deliveries(
                &[sending],
                "3:3",
                later + chrono::Duration::minutes(1),
                later,
            )
            .await
            .unwrap();
        assert_eq!(won, [false]);
        // Its holder defers its own, as a budget spent for it would.
        let own = store
            .defer_many(&ids[..2], "2:2", "the budget is spent", retry, now)
            .await
            .unwrap();
        assert_eq!(own.len(), 2);
    }
}

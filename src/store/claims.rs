//! Who sends a delivery: the claim itself is a compare-and-set on the
//! status and attempt count the claimant read, made a page at a time
//! (`delivery_pages.rs`), so of several runs (in one process or in daemons
//! on several hosts) that saw the same unfinished delivery exactly one
//! hands it to SMTP. The claim names its owner and holds until its lease
//! passes (`lease_until`, renewed while the owner sends); after that
//! another process takes it over.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::AssertSqlSafe;

use super::deliveries::{delivery_from_row, DELIVERY_COLUMNS};
use super::{day, parse_ts, ts, Backend, DbResult, Delivery};
use crate::domain::DeliveryId;

impl Backend {
    /// The digests for `date` left `sending` under a lease that passed at
    /// `now` (their claimant died or lost the database), or reserved and
    /// still `pending` under one: another run may take them over.
    pub async fn lapsed_claims(
        &self,
        date: NaiveDate,
        now: DateTime<Utc>,
    ) -> DbResult<Vec<Delivery>> {
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries
             WHERE digest_date = $1
               AND ((status = 'sending' AND (lease_until IS NULL OR lease_until <= $2))
                    OR (status = 'pending' AND lease_until <= $2))
             ORDER BY id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(day(date))
            .bind(ts(now))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// When the first lease still held at `now` on a digest for `date`
    /// ends: a claim being sent, or a reservation by another process than
    /// `me` not yet claimed; `None` when no digest for the date is held.
    pub async fn next_lease_end(
        &self,
        date: NaiveDate,
        me: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Option<DateTime<Utc>>> {
        let at: Option<String> = sqlx::query_scalar(
            "SELECT MIN(lease_until) FROM deliveries
             WHERE digest_date = $1 AND lease_until > $2
               AND (status = 'sending' OR (status = 'pending' AND claimed_by <> $3))",
        )
        .bind(day(date))
        .bind(ts(now))
        .bind(me)
        .fetch_one(&self.pool)
        .await?;
        at.as_deref().map(parse_ts).transpose()
    }

    /// The process that last claimed delivery `id`, if any.
    pub async fn delivery_owner(&self, id: DeliveryId) -> DbResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT claimed_by FROM deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .flatten(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use crate::domain::{DeliveryId, NewTopic, SubscriberEmail};
    use crate::store::OneDigest as _;
    use crate::store::{
        BatchReservation, ClaimRequest, Delivery, DeliveryStatus, Hold, NewReservation, Store,
    };
    use chrono::{DateTime, NaiveDate, Utc};

    /// Two daemons' identities.
    const A: &str = "host-a:1:aa";
    const B: &str = "host-b:2:bb";

    #[tokio::test]
    async fn of_two_claims_on_what_both_read_exactly_one_wins() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        // Reserved by a process that died before claiming it: both may
        // claim it, and the compare-and-set decides.
        let gone = hold("host-z:9:zz", now - chrono::Duration::minutes(5));
        let d = reserved_under(&store, &["ada@example.org"], &gone, now)
            .await
            .remove(0);
        assert!(store
            .claim_delivery(d.id, d.status, d.attempts, "1:1", now)
            .await
            .unwrap());
        assert!(!store
            .claim_delivery(d.id, d.status, d.attempts, "2:2", now)
            .await
            .unwrap());
        assert_eq!(
            store.delivery_owner(d.id).await.unwrap().as_deref(),
            Some("1:1")
        );
        // A claim whose lease holds is not taken, even with the right
        // attempt count; once it has passed, taking it over needs the
        // current attempt count.
        assert!(!store
            .claim_delivery(d.id, DeliveryStatus::Sending, d.attempts + 1, "3:3", now)
            .await
            .unwrap());
        let later = now + chrono::Duration::minutes(2);
        assert!(store
            .claim_delivery(d.id, DeliveryStatus::Sending, d.attempts + 1, "3:3", later)
            .await
            .unwrap());
        store.mark_sent(d.id, now).await.unwrap();
        assert!(!store
            .claim_delivery(d.id, DeliveryStatus::Sent, d.attempts + 2, "4:4", later)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_renewed_lease_holds_and_a_lapsed_one_is_taken_over_once() {
        let (store, _dir) = test_store().await;
        let t0 = Utc::now();
        let minute = chrono::Duration::minutes(1);
        // Reserved by host-a itself, which then claims it.
        let d = reserved_under(&store, &["bo@example.org"], &hold(A, t0 + minute), t0)
            .await
            .remove(0);
        let claim = ClaimRequest {
            id: d.id,
            expected: d.status,
            attempts: d.attempts,
        };
        let won = store
            .claim_deliveries(&[claim], A, t0 + minute, t0)
            .await
            .unwrap();
        assert_eq!(won, [true]);
        // The owner renews while it sends: at t0 + 90 s the claim still
        // holds, so another daemon does not take it.
        let held = store
            .renew_delivery_leases(&[d.id], A, t0 + minute * 2)
            .await
            .unwrap();
        assert_eq!(held, 1);
        let sending = ClaimRequest {
            id: d.id,
            expected: DeliveryStatus::Sending,
            attempts: 1,
        };
        let t90 = t0 + chrono::Duration::seconds(90);
        let won = store
            .claim_deliveries(&[sending], B, t90 + minute, t90)
            .await
            .unwrap();
        assert_eq!(won, [false]);
        // The owner dies; its lease passes; of two daemons that read the
        // abandoned claim, one takes it over.
        let t3 = t0 + minute * 3;
        let b = store
            .claim_deliveries(&[sending], B, t3 + minute, t3)
            .await
            .unwrap();
        let c = store
            .claim_deliveries(&[sending], "host-c:3:cc", t3 + minute, t3)
            .await
            .unwrap();
        assert_eq!((b, c), (vec![true], vec![false]));
        assert_eq!(
            store.delivery_owner(d.id).await.unwrap().as_deref(),
            Some(B)
        );
        // The old owner, back, no longer holds it: it renews nothing.
        let held = store
            .renew_delivery_leases(&[d.id], A, t3 + minute * 2)
            .await
            .unwrap();
        assert_eq!(held, 0);
        assert_eq!(store.delivery_by_id(d.id).await.unwrap().attempts, 2);
    }

    // Held reservations: a daemon reserves a page's digests under its
    // identity and lease (`Hold`) before it claims them, and the others
    // leave them alone until that lease passes.

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn hold(owner: &str, until: DateTime<Utc>) -> Hold {
        Hold {
            owner: owner.into(),
            until,
        }
    }

    /// `emails` as new active subscribers, their digests for 2026-06-12
    /// reserved (pending) under `hold` at `now`.
    async fn reserved_under(
        store: &Store,
        emails: &[&str],
        hold: &Hold,
        now: DateTime<Utc>,
    ) -> Vec<Delivery> {
        let mut batch = Vec::new();
        for email in emails {
            let topic = NewTopic {
                name: "t".into(),
                query: "x".into(),
            };
            let sub = store
                .upsert_active(&SubscriberEmail::parse(email).unwrap(), &[topic], now)
                .await
                .unwrap()
                .id();
            batch.push(NewReservation {
                subscriber_id: sub,
                message_id: format!("<{email}>"),
                papers: Vec::new(),
                reasons: Vec::new(),
                more_count: 0,
            });
        }
        let got = store
            .reserve_deliveries(day(), &batch, hold, now)
            .await
            .unwrap();
        got.into_iter()
            .map(|r| match r {
                BatchReservation::New { delivery, .. } => *delivery,
                other => panic!("a new reservation: {other:?}"),
            })
            .collect()
    }

    fn day() -> NaiveDate {
        "2026-06-12".parse().unwrap()
    }

    fn ids(ds: &[Delivery]) -> Vec<DeliveryId> {
        ds.iter().map(|d| d.id).collect()
    }

    /// A claim on each of `ds` as read.
    fn claims_on(ds: &[Delivery]) -> Vec<ClaimRequest> {
        ds.iter()
            .map(|d| ClaimRequest {
                id: d.id,
                expected: d.status,
                attempts: d.attempts,
            })
            .collect()
    }

    async fn holder(store: &Store, id: DeliveryId) -> Option<Hold> {
        store.delivery_by_id(id).await.unwrap().held
    }

    /// When the tests begin, and A's digests reserved then: `n` of them,
    /// held by A for a minute (until the returned time).
    async fn held_by_a(store: &Store, n: usize) -> (DateTime<Utc>, DateTime<Utc>, Vec<Delivery>) {
        let t0 = at("2026-06-12T07:00:00Z");
        let until = t0 + chrono::Duration::minutes(1);
        let emails: Vec<String> = (1..=n).map(|i| format!("a{i}@example.org")).collect();
        let emails: Vec<&str> = emails.iter().map(String::as_str).collect();
        let a = reserved_under(store, &emails, &hold(A, until), t0).await;
        (t0, until, a)
    }

    #[tokio::test]
    async fn renewal_extends_exactly_the_renewers_unsent_reservations() {
        let (store, _db) = test_store().await;
        let (t0, until, a) = held_by_a(&store, 3).await;
        let minute = chrono::Duration::minutes(1);
        let b = reserved_under(&store, &["b1@example.org"], &hold(B, until), t0).await;
        // A sent its third digest: a sent digest's lease is not renewed.
        store.mark_sent_many(&[a[2].id], t0).await.unwrap();
        let all: Vec<DeliveryId> = ids(&a).into_iter().chain(ids(&b)).collect();

        let renewed = store
            .renew_delivery_leases(&all, A, t0 + minute * 5)
            .await
            .unwrap();
        assert_eq!(renewed, 2, "A's two pending reservations");
        for d in &a[..2] {
            assert_eq!(holder(&store, d.id).await, Some(hold(A, t0 + minute * 5)));
        }
        assert_eq!(holder(&store, a[2].id).await, Some(hold(A, until)));
        assert_eq!(holder(&store, b[0].id).await, Some(hold(B, until)));

        // B renewing A's reservations changes nothing.
        let renewed = store
            .renew_delivery_leases(&ids(&a), B, t0 + minute * 9)
            .await
            .unwrap();
        assert_eq!(renewed, 0);
        for d in &a[..2] {
            assert_eq!(holder(&store, d.id).await, Some(hold(A, t0 + minute * 5)));
        }
    }

    #[tokio::test]
    async fn a_run_waits_for_reservations_held_by_others_not_for_its_own() {
        let (store, _db) = test_store().await;
        let (t0, until, a) = held_by_a(&store, 2).await;
        let now = t0 + chrono::Duration::seconds(10);
        assert_eq!(store.next_lease_end(day(), A, now).await.unwrap(), None);
        assert_eq!(
            store.next_lease_end(day(), B, now).await.unwrap(),
            Some(until)
        );
        // Once A claims one it is being sent: A's own run waits for it too.
        let claim = ClaimRequest {
            id: a[0].id,
            expected: a[0].status,
            attempts: a[0].attempts,
        };
        let claim_until = until + chrono::Duration::minutes(1);
        let won = store
            .claim_deliveries(&[claim], A, claim_until, now)
            .await
            .unwrap();
        assert_eq!(won, [true]);
        assert_eq!(
            store.next_lease_end(day(), A, now).await.unwrap(),
            Some(claim_until)
        );
        assert_eq!(
            store.next_lease_end(day(), B, now).await.unwrap(),
            Some(until)
        );
        // Past both leases nothing is held.
        let later = claim_until + chrono::Duration::seconds(1);
        assert_eq!(store.next_lease_end(day(), B, later).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_lapsed_reservation_is_taken_over_and_sent_by_another() {
        let (store, _db) = test_store().await;
        let (t0, until, a) = held_by_a(&store, 3).await;
        // A sent one before it died; the other two it only reserved.
        store.mark_sent_many(&[a[2].id], t0).await.unwrap();
        let before = until - chrono::Duration::milliseconds(1);
        assert!(store.lapsed_claims(day(), before).await.unwrap().is_empty());

        let after = until + chrono::Duration::seconds(1);
        let lapsed = store.lapsed_claims(day(), after).await.unwrap();
        assert_eq!(ids(&lapsed), ids(&a[..2]));
        assert!(lapsed
            .iter()
            .all(|d| d.status == DeliveryStatus::Pending && d.held == Some(hold(A, until))));
        let claims = claims_on(&lapsed);
        let lease = after + chrono::Duration::minutes(1);
        let won = store
            .claim_deliveries(&claims, B, lease, after)
            .await
            .unwrap();
        assert_eq!(won, [true, true]);
        store.mark_sent_many(&ids(&lapsed), after).await.unwrap();
        for d in &lapsed {
            let sent = store.delivery_by_id(d.id).await.unwrap();
            assert_eq!(sent.status, DeliveryStatus::Sent);
            assert_eq!(sent.attempts, 1);
            assert_eq!(sent.held, Some(hold(B, lease)));
        }
        assert!(store.lapsed_claims(day(), lease).await.unwrap().is_empty());
        // A, back, holds nothing of it any more.
        let renewed = store
            .renew_delivery_leases(&ids(&a), A, lease)
            .await
            .unwrap();
        assert_eq!(renewed, 0);
    }

    #[tokio::test]
    async fn a_pending_digest_held_by_another_is_claimed_only_once_its_lease_has_passed() {
        let (store, _db) = test_store().await;
        let (t0, until, a) = held_by_a(&store, 2).await;
        let lease = |at: DateTime<Utc>| at + chrono::Duration::minutes(1);
        let claims = claims_on(&a);

        // B read both while A holds them: it claims neither, and they stay
        // pending and A's.
        let now = t0 + chrono::Duration::seconds(10);
        let won = store
            .claim_deliveries(&claims, B, lease(now), now)
            .await
            .unwrap();
        assert_eq!(won, [false, false]);
        for d in &a {
            let read = store.delivery_by_id(d.id).await.unwrap();
            assert_eq!(read.status, DeliveryStatus::Pending);
            assert_eq!(read.attempts, 0);
            assert_eq!(read.held, Some(hold(A, until)));
        }

        // A claims its own.
        let won = store
            .claim_deliveries(&claims[..1], A, lease(now), now)
            .await
            .unwrap();
        assert_eq!(won, [true]);
        assert_eq!(holder(&store, a[0].id).await, Some(hold(A, lease(now))));

        // B takes the other over once A's lease has passed, not before.
        let before = until - chrono::Duration::milliseconds(1);
        let won = store
            .claim_deliveries(&claims[1..], B, lease(before), before)
            .await
            .unwrap();
        assert_eq!(won, [false]);
        let after = until + chrono::Duration::seconds(1);
        let won = store
            .claim_deliveries(&claims[1..], B, lease(after), after)
            .await
            .unwrap();
        assert_eq!(won, [true]);
        let taken = store.delivery_by_id(a[1].id).await.unwrap();
        assert_eq!(taken.status, DeliveryStatus::Sending);
        assert_eq!(taken.attempts, 1);
        assert_eq!(taken.held, Some(hold(B, lease(after))));
        assert_eq!(holder(&store, a[0].id).await, Some(hold(A, lease(now))));
    }

    #[tokio::test]
    async fn a_reservation_is_held_from_others_until_sent_or_lapsed() {
        let (store, _db) = test_store().await;
        let (t0, until, a) = held_by_a(&store, 1).await;
        let now = t0 + chrono::Duration::seconds(10);
        let read = store.delivery_by_id(a[0].id).await.unwrap();
        assert_eq!(read.held, Some(hold(A, until)));
        assert!(read.held_elsewhere(B, now));
        assert!(!read.held_elsewhere(A, now));
        assert!(!read.held_elsewhere(B, until));

        store.mark_sent_many(&[a[0].id], now).await.unwrap();
        let sent = store.delivery_by_id(a[0].id).await.unwrap();
        assert!(!sent.held_elsewhere(B, now));
        assert!(!sent.held_elsewhere(A, now));
    }
}

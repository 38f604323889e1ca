//! Who sends a delivery: the claim itself is a compare-and-set on the
//! status and attempt count the claimant read, made a page at a time
//! (`delivery_pages.rs`), so of several runs that saw the same unfinished
//! delivery exactly one hands it to SMTP; the claimant's name stays on the
//! row for a later run to ask whether its owner is still alive.

use super::{Backend, DbResult};
use crate::domain::DeliveryId;

impl Backend {
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
    use crate::domain::NewTopic;
    use crate::domain::SubscriberEmail;
    use crate::store::OneDigest as _;
    use crate::store::{DeliveryStatus, Reservation};
    use chrono::Utc;

    #[tokio::test]
    async fn of_two_claims_on_what_both_read_exactly_one_wins() {
        let (store, _dir) = test_store().await;
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        let topic = NewTopic {
            name: "t".into(),
            query: "x".into(),
        };
        let sub = match store
            .upsert_active(&email, &[topic], Utc::now())
            .await
            .unwrap()
        {
            crate::store::UpsertOutcome::Created(id) | crate::store::UpsertOutcome::Updated(id) => {
                id
            }
        };
        let day = "2026-06-12".parse().unwrap();
        let Some(Reservation::New(d)) = store
            .reserve_delivery(sub, day, "<m@x>", &[], 0, Utc::now())
            .await
            .unwrap()
        else {
            panic!("a new reservation")
        };
        let now = Utc::now();
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
        // Taking over an abandoned 'sending' needs its current attempt count.
        assert!(store
            .claim_delivery(d.id, DeliveryStatus::Sending, d.attempts + 1, "3:3", now)
            .await
            .unwrap());
        store.mark_sent(d.id, now).await.unwrap();
        assert!(!store
            .claim_delivery(d.id, DeliveryStatus::Sent, d.attempts + 2, "4:4", now)
            .await
            .unwrap());
    }
}

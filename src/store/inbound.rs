//! Reports that arrive after the SMTP conversation (bounces, complaints,
//! unsubscribe requests, read by [`crate::inbound`]): finding the delivery
//! or subscriber they are about, recording each one with what was done, and
//! the counts behind the bounce and complaint rates.
//!
//! A report and its effect (a late hard bounce counted, a suspension, an
//! unsubscription) are written in one transaction.

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::Row as _;

use super::{
    ts, Backend, DailyInbound, Db, DbResult, InboundAction, InboundCounts, InboundEffect,
    InboundTarget, NewInboundReport,
};
use crate::domain::{DeliveryId, SubscriberEmail, SubscriberId};

impl Backend {
    /// The subscriber a delivery went to; `None` when it is gone (pruned
    /// or deleted with its subscriber).
    pub async fn inbound_target_of_delivery(
        &self,
        id: DeliveryId,
    ) -> DbResult<Option<InboundTarget>> {
        let subscriber: Option<SubscriberId> =
            sqlx::query_scalar("SELECT subscriber_id FROM deliveries WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        Ok(subscriber.map(|subscriber_id| InboundTarget {
            subscriber_id,
            delivery_id: Some(id),
        }))
    }

    /// The delivery whose Message-ID is `message_id` (as written, `<…>`).
    pub async fn inbound_target_of_message_id(
        &self,
        message_id: &str,
    ) -> DbResult<Option<InboundTarget>> {
        let row = sqlx::query(
            "SELECT id, subscriber_id FROM deliveries WHERE message_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| InboundTarget {
            delivery_id: Some(r.get(0)),
            subscriber_id: r.get(1),
        }))
    }

    /// The subscriber with this address and their latest digest that left
    /// (sent or failed): a report naming only the address is taken to be
    /// about it. `None` when nobody has the address, or no digest went to
    /// them (then the report cannot be about paperboy's mail).
    pub async fn inbound_target_of_address(
        &self,
        email: &SubscriberEmail,
    ) -> DbResult<Option<InboundTarget>> {
        let row = sqlx::query(
            "SELECT d.id, d.subscriber_id FROM deliveries d
             JOIN subscribers s ON s.id = d.subscriber_id
             WHERE s.email = $1 AND d.status IN ('sent', 'failed')
             ORDER BY d.digest_date DESC, d.id DESC LIMIT 1",
        )
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| InboundTarget {
            delivery_id: Some(r.get(0)),
            subscriber_id: r.get(1),
        }))
    }

    /// The subscriber and their latest digest that left, if any.
    pub async fn inbound_target_of_subscriber(
        &self,
        id: SubscriberId,
    ) -> DbResult<Option<InboundTarget>> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM subscribers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let delivery: Option<DeliveryId> = sqlx::query_scalar(
            "SELECT id FROM deliveries WHERE subscriber_id = $1 AND status IN ('sent', 'failed')
             ORDER BY digest_date DESC, id DESC LIMIT 1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(Some(InboundTarget {
            subscriber_id: id,
            delivery_id: delivery,
        }))
    }

    /// Whether the subscriber exists with this link version (an
    /// unsubscribe token of an older version was revoked).
    pub async fn subscriber_link_is_current(
        &self,
        id: SubscriberId,
        link_version: i64,
    ) -> DbResult<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM subscribers WHERE id = $1 AND link_version = $2")
                .bind(id)
                .bind(link_version)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    /// Records a report and applies `effect` to its subscriber, in one
    /// transaction.
    pub async fn record_inbound(
        &self,
        report: &NewInboundReport<'_>,
        effect: InboundEffect,
        now: DateTime<Utc>,
    ) -> DbResult<InboundAction> {
        let mut tx = self.begin_write().await?;
        let counted = matches!(effect, InboundEffect::CountHardBounce { .. });
        let (subscriber_id, delivery_id) = match report.target {
            Some(t) => (Some(t.subscriber_id), t.delivery_id),
            None => (None, None),
        };
        let row_id: i64 = sqlx::query_scalar(
            "INSERT INTO inbound_reports (received_at, source, kind, subscriber_id, delivery_id,
                 matched_by, counted, action, summary)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'recorded', $8) RETURNING id",
        )
        .bind(ts(now))
        .bind(report.source)
        .bind(report.kind)
        .bind(subscriber_id)
        .bind(delivery_id)
        .bind(report.matched_by)
        .bind(i64::from(counted && delivery_id.is_some()))
        .bind(report.summary)
        .fetch_one(&mut **tx)
        .await?;
        let action = match (subscriber_id, effect) {
            (None, _) => InboundAction::Unmatched,
            (Some(_), InboundEffect::None) => InboundAction::Recorded,
            (Some(id), InboundEffect::Unsubscribe { link_version }) => {
                let done = sqlx::query(
                    "UPDATE subscribers SET status = 'unsubscribed',
                         unsubscribed_at = COALESCE(unsubscribed_at, $1), updated_at = $1
                     WHERE id = $2 AND status <> 'unsubscribed'
                       AND ($3 IS NULL OR link_version = $3)",
                )
                .bind(ts(now))
                .bind(id)
                .bind(link_version)
                .execute(&mut **tx)
                .await?
                .rows_affected();
                if done > 0 {
                    InboundAction::Unsubscribed
                } else {
                    InboundAction::Recorded
                }
            }
            (Some(id), InboundEffect::CountHardBounce { suspend_after }) => {
                if delivery_id.is_none() {
                    InboundAction::Recorded
                } else if suspend_after > 0
                    && last_digests_all_hard_bounced(&mut tx, id, suspend_after).await?
                {
                    let done = sqlx::query(
                        "UPDATE subscribers SET status = 'suspended', updated_at = $1
                         WHERE id = $2 AND status = 'active'",
                    )
                    .bind(ts(now))
                    .bind(id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    if done > 0 {
                        InboundAction::Suspended
                    } else {
                        InboundAction::Counted
                    }
                } else {
                    InboundAction::Counted
                }
            }
        };
        sqlx::query("UPDATE inbound_reports SET action = $1 WHERE id = $2")
            .bind(action.as_str())
            .bind(row_id)
            .execute(&mut **tx)
            .await?;
        tx.commit().await?;
        Ok(action)
    }

    /// Reports per kind received since `since`, and the digests sent since
    /// then.
    pub async fn inbound_counts(&self, since: DateTime<Utc>) -> DbResult<InboundCounts> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT kind, action, COUNT(*) FROM inbound_reports
             WHERE received_at >= $1 GROUP BY kind, action",
        )
        .bind(ts(since))
        .fetch_all(&mut *tx)
        .await?;
        let mut counts = InboundCounts::default();
        for row in rows {
            let n: i64 = row.get(2);
            let action: String = row.get(1);
            match row.get::<String, _>(0).as_str() {
                "hard" => counts.hard += n,
                "soft" => counts.soft += n,
                "complaint" => counts.complaints += n,
                "unsubscribe" => counts.unsubscribe_requests += n,
                _ => {}
            }
            if action == "unmatched" {
                counts.unmatched += n;
            }
        }
        counts.digests_sent = sqlx::query_scalar(
            "SELECT COUNT(*) FROM deliveries WHERE status = 'sent' AND sent_at >= $1",
        )
        .bind(ts(since))
        .fetch_one(&mut *tx)
        .await?;
        Ok(counts)
    }

    /// [`Self::inbound_counts`] per UTC day, for the `days` days ending
    /// with `last_day`, newest first; a day with nothing is all zeros.
    pub async fn inbound_counts_per_day(
        &self,
        last_day: NaiveDate,
        days: u32,
    ) -> DbResult<Vec<DailyInbound>> {
        let days = days.max(1);
        let first_day = last_day - chrono::Days::new(u64::from(days - 1));
        let start = ts(first_day.and_time(NaiveTime::MIN).and_utc());
        let end = ts((last_day + chrono::Days::new(1))
            .and_time(NaiveTime::MIN)
            .and_utc());
        let mut out: Vec<DailyInbound> = (0..days)
            .map(|back| DailyInbound {
                day: last_day - chrono::Days::new(u64::from(back)),
                counts: InboundCounts::default(),
            })
            .collect();
        let slot = |out: &mut Vec<DailyInbound>, day: &str| -> Option<usize> {
            let day = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?;
            out.iter().position(|d| d.day == day)
        };
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(
            "SELECT substr(received_at, 1, 10), kind, action, COUNT(*) FROM inbound_reports
             WHERE received_at >= $1 AND received_at < $2
             GROUP BY substr(received_at, 1, 10), kind, action",
        )
        .bind(&start)
        .bind(&end)
        .fetch_all(&mut *tx)
        .await?;
        for row in rows {
            let Some(i) = slot(&mut out, &row.get::<String, _>(0)) else {
                continue;
            };
            let counts = &mut out[i].counts;
            let n: i64 = row.get(3);
            match row.get::<String, _>(1).as_str() {
                "hard" => counts.hard += n,
                "soft" => counts.soft += n,
                "complaint" => counts.complaints += n,
                "unsubscribe" => counts.unsubscribe_requests += n,
                _ => {}
            }
            if row.get::<String, _>(2) == "unmatched" {
                counts.unmatched += n;
            }
        }
        let sent = sqlx::query(
            "SELECT substr(sent_at, 1, 10), COUNT(*) FROM deliveries
             WHERE status = 'sent' AND sent_at >= $1 AND sent_at < $2
             GROUP BY substr(sent_at, 1, 10)",
        )
        .bind(&start)
        .bind(&end)
        .fetch_all(&mut *tx)
        .await?;
        for row in sent {
            if let Some(i) = slot(&mut out, &row.get::<String, _>(0)) {
                out[i].counts.digests_sent = row.get(1);
            }
        }
        Ok(out)
    }
}

/// Whether each of the subscriber's last `n` digests that left (sent or
/// failed, since they were last activated) drew a hard bounce: a late one
/// that blames the address, or a 5xx reply at sending time.
async fn last_digests_all_hard_bounced(
    tx: &mut sqlx::Transaction<'static, Db>,
    subscriber_id: SubscriberId,
    n: u32,
) -> DbResult<bool> {
    let bounced: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (
             SELECT d.id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
             WHERE d.subscriber_id = $1 AND d.status IN ('sent', 'failed')
               AND (s.bounces_counted_from IS NULL OR d.created_at >= s.bounces_counted_from)
             ORDER BY d.digest_date DESC, d.id DESC LIMIT $2
         ) last
         WHERE EXISTS (SELECT 1 FROM inbound_reports r
                       WHERE r.delivery_id = last.id AND r.counted = 1)
            OR EXISTS (SELECT 1 FROM bounces b
                       WHERE b.delivery_id = last.id AND b.kind = 'hard')",
    )
    .bind(subscriber_id)
    .bind(i64::from(n))
    .fetch_one(&mut **tx)
    .await?;
    Ok(bounced >= i64::from(n))
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    #[tokio::test]
    async fn an_unmatched_report_is_recorded_without_a_subscriber() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let action = store
            .record_inbound(
                &NewInboundReport {
                    source: "mail",
                    kind: "hard",
                    target: None,
                    matched_by: None,
                    summary: "hard bounce (5.1.1, recipient), no delivery key",
                },
                InboundEffect::CountHardBounce { suspend_after: 1 },
                now,
            )
            .await
            .unwrap();
        assert_eq!(action, InboundAction::Unmatched);
        let counts = store
            .inbound_counts(now - chrono::Duration::days(7))
            .await
            .unwrap();
        assert_eq!((counts.hard, counts.unmatched), (1, 1));
    }

    /// Two sent digests on June 11 and one on June 12 (UTC), a complaint
    /// and a hard bounce received on June 12 just before midnight, one
    /// soft bounce just after it: each lands on its own day.
    async fn counts_per_day_fall_on_the_day_they_arrived(store: &crate::store::Store) {
        use crate::domain::{NewTopic, PaperId};
        use crate::store::{OneDigest as _, Reservation};
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 6, d).unwrap();
        let topic = [NewTopic {
            name: "q".into(),
            query: "q".into(),
        }];
        for (i, (digest_day, sent)) in [
            (day(11), "2026-06-11T07:00:00Z"),
            (day(11), "2026-06-11T23:59:59Z"),
            (day(12), "2026-06-12T07:00:00Z"),
        ]
        .into_iter()
        .enumerate()
        {
            let email = SubscriberEmail::parse(&format!("r{i}@example.org")).unwrap();
            let id = store
                .upsert_active(&email, &topic, at(sent))
                .await
                .unwrap()
                .id();
            let papers = [(PaperId::from_stored(format!("p{i}")), 0)];
            let Some(Reservation::New(d)) = store
                .reserve_delivery(id, digest_day, &format!("<m{i}@x>"), &papers, 0, at(sent))
                .await
                .unwrap()
            else {
                panic!("reserved")
            };
            store.mark_sent(d.id, at(sent)).await.unwrap();
        }
        for (kind, when) in [
            ("complaint", "2026-06-12T23:59:59.999Z"),
            ("hard", "2026-06-12T12:00:00Z"),
            ("soft", "2026-06-13T00:00:00Z"),
            ("hard", "2026-06-05T12:00:00Z"),
        ] {
            store
                .record_inbound(
                    &NewInboundReport {
                        source: "mail",
                        kind,
                        target: None,
                        matched_by: None,
                        summary: kind,
                    },
                    InboundEffect::None,
                    at(when),
                )
                .await
                .unwrap();
        }
        let days = store.inbound_counts_per_day(day(13), 7).await.unwrap();
        assert_eq!(
            days.iter().map(|d| d.day).collect::<Vec<_>>(),
            (7..=13).rev().map(day).collect::<Vec<_>>(),
            "seven days, newest first, the empty ones too"
        );
        let c = |d: u32| days.iter().find(|x| x.day == day(d)).unwrap().counts;
        assert_eq!(
            c(13),
            InboundCounts {
                soft: 1,
                unmatched: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            c(12),
            InboundCounts {
                hard: 1,
                complaints: 1,
                unmatched: 2,
                digests_sent: 1,
                ..Default::default()
            }
        );
        assert_eq!(
            c(11),
            InboundCounts {
                digests_sent: 2,
                ..Default::default()
            }
        );
        assert_eq!(
            c(7),
            InboundCounts::default(),
            "June 5 is before the window"
        );
    }

    /// On both backends: this file is compiled into each.
    #[tokio::test]
    async fn counts_per_day_are_counted_by_the_utc_day_of_arrival() {
        let (store, _dir) = test_store().await;
        counts_per_day_fall_on_the_day_they_arrived(&store).await;
    }
}

//! Self-service: subscription requests from the web form, double opt-in,
//! unsubscribing, the choices of the manage page, link revocation and the
//! per-address link-mail rate limit.
//!
//! Every change that a signed link authorises is conditional on the link
//! version in the same `UPDATE`, so a link revoked between the page load and
//! the submit changes nothing.

use chrono::{DateTime, Datelike as _, Duration, NaiveDate, Utc};
use sqlx::Row;

use super::subscribers::{frequency_columns, replace_topics, status_from_db};
use super::{
    day, parse_day, parse_ts, ts, Address, Backend, Choices, ConfirmOutcome, DbError, DbResult,
    DbRow, PendingRequest, RankingSwitches, SubscriptionRequest,
};
use crate::domain::{
    Frequency, NewTopic, Preferences, Subscriber, SubscriberEmail, SubscriberId, SubscriberStatus,
    Topic,
};

impl Backend {
    /// A subscribe form submission. A new address becomes `pending` with
    /// `topics`, `prefs` and the `top_papers` choice ("also send me the top
    /// papers of the day"). For a pending or unsubscribed address nothing
    /// stored changes: the submission is kept as its [`PendingRequest`]
    /// (replacing an earlier one) until the owner confirms it. An active or
    /// suspended address is left unchanged.
    pub async fn request_subscription(
        &self,
        email: &SubscriberEmail,
        topics: &[NewTopic],
        prefs: &Preferences,
        top_papers: bool,
        now: DateTime<Utc>,
    ) -> DbResult<SubscriptionRequest> {
        let mut tx = self.begin_write().await?;
        let existing =
            sqlx::query("SELECT id, status, link_version FROM subscribers WHERE email = $1")
                .bind(Address(email.as_str()))
                .fetch_optional(&mut **tx)
                .await?;
        let (frequency, weekday) = frequency_columns(prefs.frequency);
        let request = match existing {
            None => {
                let id: SubscriberId = sqlx::query_scalar(
                    "INSERT INTO subscribers (email, status, created_at, updated_at, frequency,
                         weekday, delivery_hour, timezone, top_papers)
                     VALUES ($1, 'pending', $2, $2, $3, $4, $5, $6, $7) RETURNING id",
                )
                .bind(Address(email.as_str()))
                .bind(ts(now))
                .bind(frequency)
                .bind(weekday)
                .bind(prefs.delivery_hour.map(i64::from))
                .bind(prefs.timezone.map(|t| t.name().to_string()))
                .bind(i64::from(top_papers))
                .fetch_one(&mut **tx)
                .await?;
                replace_topics(&mut tx, id, topics).await?;
                SubscriptionRequest {
                    subscriber_id: id,
                    link_version: 1,
                    status: SubscriberStatus::Pending,
                    created: true,
                }
            }
            Some(row) => {
                let id: SubscriberId = row.get("id");
                let link_version: i64 = row.get("link_version");
                let status: String = row.get("status");
                let status = match status.as_str() {
                    "active" => SubscriberStatus::Active,
                    "suspended" => SubscriberStatus::Suspended,
                    "pending" | "unsubscribed" => {
                        let pairs: Vec<(&str, &str)> = topics
                            .iter()
                            .map(|t| (t.name.as_str(), t.query.as_str()))
                            .collect();
                        let json = serde_json::to_string(&pairs)
                            .map_err(|e| DbError::Corrupt(format!("topics as JSON: {e}")))?;
                        sqlx::query(
                            "INSERT INTO subscription_requests (subscriber_id, topics, frequency,
                                 weekday, delivery_hour, timezone, created_at, top_papers)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                             ON CONFLICT (subscriber_id) DO UPDATE SET
                                 revision = subscription_requests.revision + 1, topics = excluded.topics,
                                 frequency = excluded.frequency, weekday = excluded.weekday,
                                 delivery_hour = excluded.delivery_hour,
                                 timezone = excluded.timezone, created_at = excluded.created_at,
                                 top_papers = excluded.top_papers",
                        )
                        .bind(id)
                        .bind(json)
                        .bind(frequency)
                        .bind(weekday)
                        .bind(prefs.delivery_hour.map(i64::from))
                        .bind(prefs.timezone.map(|t| t.name().to_string()))
                        .bind(ts(now))
                        .bind(i64::from(top_papers))
                        .execute(&mut **tx)
                        .await?;
                        SubscriberStatus::Pending
                    }
                    other => return Err(DbError::Corrupt(format!("subscribers.status {other:?}"))),
                };
                SubscriptionRequest {
                    subscriber_id: id,
                    link_version,
                    status,
                    created: false,
                }
            }
        };
        tx.commit().await?;
        Ok(request)
    }

    /// The submission waiting for subscriber `id`'s confirmation, if any.
    pub async fn pending_request(&self, id: SubscriberId) -> DbResult<Option<PendingRequest>> {
        let row = sqlx::query(
            "SELECT revision, topics, frequency, weekday, delivery_hour, timezone,
                 NULL AS paused_until, top_papers
             FROM subscription_requests WHERE subscriber_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let json: String = row.get("topics");
            let pairs: Vec<(String, String)> = serde_json::from_str(&json)
                .map_err(|e| DbError::Corrupt(format!("subscription_requests.topics: {e}")))?;
            Ok(PendingRequest {
                revision: row.get("revision"),
                topics: pairs
                    .into_iter()
                    .map(|(name, query)| NewTopic { name, query })
                    .collect(),
                preferences: preferences_from_row(&row)?,
                top_papers: row.get::<i64, _>("top_papers") != 0,
            })
        })
        .transpose()
    }

    /// Claims the right to send subscriber `id` a link mail now: true (and
    /// recorded) unless one was sent less than `interval` ago. One statement,
    /// so two concurrent requests cannot both win.
    pub async fn claim_link_mail(
        &self,
        id: SubscriberId,
        now: DateTime<Utc>,
        interval: Duration,
    ) -> DbResult<bool> {
        let done = sqlx::query(
            "UPDATE subscribers SET last_link_mail_at = $1
             WHERE id = $2 AND (last_link_mail_at IS NULL OR last_link_mail_at <= $3)",
        )
        .bind(ts(now))
        .bind(id)
        .bind(ts(now - interval))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// When subscriber `id` may next be sent a link mail under `interval`
    /// ([`Store::claim_link_mail`]); `now` or earlier when it may be now.
    pub async fn link_mail_allowed_at(
        &self,
        id: SubscriberId,
        interval: Duration,
    ) -> DbResult<Option<DateTime<Utc>>> {
        let last: Option<Option<String>> =
            sqlx::query_scalar("SELECT last_link_mail_at FROM subscribers WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        match last.ok_or(DbError::NotFound)? {
            Some(t) => Ok(Some(super::parse_ts(&t)? + interval)),
            None => Ok(None),
        }
    }

    /// Double opt-in. With a [`PendingRequest`] waiting (an existing
    /// address asked again), it is applied if it is the revision the owner
    /// was shown (`shown`), and the subscriber becomes active with its
    /// topics and preferences; a newer one gives [`ConfirmOutcome::Changed`]
    /// and changes nothing. Without one, a pending subscriber whose link
    /// version is still `link_version` becomes active as stored.
    pub async fn confirm_subscriber(
        &self,
        id: SubscriberId,
        link_version: i64,
        shown: Option<i64>,
        now: DateTime<Utc>,
    ) -> DbResult<ConfirmOutcome> {
        let request = self.pending_request(id).await?;
        let mut tx = self.begin_write().await?;
        let confirmed = match &request {
            Some(r) if Some(r.revision) != shown => {
                return Ok(ConfirmOutcome::Changed);
            }
            Some(r) => {
                let (frequency, weekday) = frequency_columns(r.preferences.frequency);
                // Only the revision read above: a submission that landed
                // since is left waiting for its own confirmation.
                let taken = sqlx::query(
                    "DELETE FROM subscription_requests WHERE subscriber_id = $1 AND revision = $2",
                )
                .bind(id)
                .bind(r.revision)
                .execute(&mut **tx)
                .await?;
                if taken.rows_affected() == 0 {
                    return Ok(ConfirmOutcome::Changed);
                }
                let done = sqlx::query(
                    "UPDATE subscribers SET status = 'active', confirmed_at = $1,
                         unsubscribed_at = NULL, updated_at = $1, frequency = $4, weekday = $5,
                         delivery_hour = $6, timezone = $7, paused_until = NULL, top_papers = $8
                     WHERE id = $2 AND link_version = $3 AND status IN ('pending', 'unsubscribed')",
                )
                .bind(ts(now))
                .bind(id)
                .bind(link_version)
                .bind(frequency)
                .bind(weekday)
                .bind(r.preferences.delivery_hour.map(i64::from))
                .bind(r.preferences.timezone.map(|t| t.name().to_string()))
                .bind(i64::from(r.top_papers))
                .execute(&mut **tx)
                .await?;
                let confirmed = done.rows_affected() == 1;
                if confirmed {
                    replace_topics(&mut tx, id, &r.topics).await?;
                }
                confirmed
            }
            None => {
                let done = sqlx::query(
                    "UPDATE subscribers SET status = 'active', confirmed_at = $1,
                         unsubscribed_at = NULL, updated_at = $1
                     WHERE id = $2 AND link_version = $3 AND status = 'pending'",
                )
                .bind(ts(now))
                .bind(id)
                .bind(link_version)
                .execute(&mut **tx)
                .await?;
                done.rows_affected() == 1
            }
        };
        if confirmed {
            tx.commit().await?;
            return Ok(ConfirmOutcome::Confirmed);
        }
        tx.rollback().await?;
        let s = self.subscriber_by_id(id).await?;
        Ok(
            if s.status == SubscriberStatus::Active && s.link_version == link_version {
                ConfirmOutcome::AlreadyActive
            } else {
                ConfirmOutcome::NotConfirmable
            },
        )
    }

    /// Unsubscribes (idempotently: an unsubscribed subscriber stays as is).
    /// `NotFound` when the subscriber is gone or `link_version` was revoked.
    pub async fn unsubscribe(
        &self,
        id: SubscriberId,
        link_version: i64,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let done = sqlx::query(
            "UPDATE subscribers SET
                 status = CASE WHEN status = 'suspended' THEN status ELSE 'unsubscribed' END,
                 unsubscribed_at = COALESCE(unsubscribed_at, $1),
                 updated_at = CASE WHEN status = 'unsubscribed' THEN updated_at ELSE $1 END
             WHERE id = $2 AND link_version = $3",
        )
        .bind(ts(now))
        .bind(id)
        .bind(link_version)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Subscriber `id` (as [`Backend::subscriber_by_id`] reads them) and
    /// their schedule preferences, in one statement: the settings page's
    /// read.
    pub async fn subscriber_settings(
        &self,
        id: SubscriberId,
    ) -> DbResult<(Subscriber, Preferences)> {
        let rows = sqlx::query(
            "SELECT s.id, s.email, s.status, s.link_version, s.created_at, s.top_papers,
                 s.frequency, s.weekday, s.delivery_hour, s.timezone, s.paused_until,
                 t.position, t.name, t.query
             FROM subscribers s LEFT JOIN topics t ON t.subscriber_id = s.id
             WHERE s.id = $1 AND s.erased_at IS NULL
             ORDER BY t.position",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let first = rows.first().ok_or(DbError::NotFound)?;
        let raw: String = first.get("email");
        let email = SubscriberEmail::from_stored(&raw)
            .map_err(|e| DbError::Corrupt(format!("subscribers.email: {e}")))?;
        let mut subscriber = Subscriber {
            id: first.get("id"),
            email,
            status: status_from_db(first.get("status"))?,
            link_version: first.get("link_version"),
            created_at: parse_ts(first.get("created_at"))?,
            topics: Vec::with_capacity(rows.len()),
            top_papers: first.get::<i64, _>("top_papers") != 0,
        };
        for r in &rows {
            if let Some(position) = r.get::<Option<i64>, _>("position") {
                subscriber.topics.push(Topic {
                    position,
                    name: r.get("name"),
                    query: r.get("query"),
                });
            }
        }
        Ok((subscriber, preferences_from_row(first)?))
    }

    pub async fn preferences(&self, id: SubscriberId) -> DbResult<Preferences> {
        let row = sqlx::query(
            "SELECT frequency, weekday, delivery_hour, timezone, paused_until
             FROM subscribers WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)?;
        preferences_from_row(&row)
    }

    /// Saves topics and preferences if `link_version` is still current;
    /// `NotFound` otherwise.
    pub async fn save_preferences(
        &self,
        id: SubscriberId,
        link_version: i64,
        topics: &[NewTopic],
        prefs: &Preferences,
        now: DateTime<Utc>,
    ) -> DbResult<()> {
        let mut tx = self.begin_write().await?;
        let (frequency, weekday) = match prefs.frequency {
            Frequency::Daily => ("daily", None),
            Frequency::Weekly(d) => ("weekly", Some(d.num_days_from_monday() as i64)),
        };
        let done = sqlx::query(
            "UPDATE subscribers SET frequency = $1, weekday = $2, delivery_hour = $3,
                 timezone = $4, paused_until = $5, updated_at = $6
             WHERE id = $7 AND link_version = $8",
        )
        .bind(frequency)
        .bind(weekday)
        .bind(prefs.delivery_hour.map(i64::from))
        .bind(prefs.timezone.map(|t| t.name().to_string()))
        .bind(prefs.paused_until.map(day))
        .bind(ts(now))
        .bind(id)
        .bind(link_version)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        replace_topics(&mut tx, id, topics).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Revokes every link issued so far: bumps the link version if it is
    /// still `link_version`, and returns the new one.
    pub async fn revoke_links(
        &self,
        id: SubscriberId,
        link_version: i64,
        now: DateTime<Utc>,
    ) -> DbResult<i64> {
        sqlx::query_scalar(
            "UPDATE subscribers SET link_version = link_version + 1, updated_at = $1
             WHERE id = $2 AND link_version = $3 RETURNING link_version",
        )
        .bind(ts(now))
        .bind(id)
        .bind(link_version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(DbError::NotFound)
    }
}

impl Backend {
    /// Of the subscribers with ids in `first..=last`, those not due a digest
    /// on `date`: paused until a later day, or weekly on another weekday.
    pub async fn not_due_on(
        &self,
        date: NaiveDate,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<std::collections::HashSet<SubscriberId>> {
        let weekday = i64::from(date.weekday().num_days_from_monday());
        let ids: Vec<SubscriberId> = sqlx::query_scalar(
            "SELECT id FROM subscribers WHERE id BETWEEN $1 AND $2 AND (
                 (paused_until IS NOT NULL AND paused_until > $3)
                 OR (frequency = 'weekly' AND weekday IS DISTINCT FROM $4))",
        )
        .bind(first)
        .bind(last)
        .bind(day(date))
        .bind(weekday)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().collect())
    }
}

impl Backend {
    /// The preferences of the active subscribers with ids in `first..=last`,
    /// for the scheduler's "who is due now" (see [`crate::digest::due`]).
    pub async fn schedules_between(
        &self,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<std::collections::HashMap<SubscriberId, Preferences>> {
        let rows = sqlx::query(
            "SELECT id, frequency, weekday, delivery_hour, timezone, paused_until
             FROM subscribers WHERE id BETWEEN $1 AND $2 AND status = 'active'",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.get::<SubscriberId, _>("id"), preferences_from_row(row)?)))
            .collect()
    }

    /// The choices of the subscribers with ids in `first..=last`: what
    /// `subscribers export` writes beside their topics.
    pub async fn choices_in_range(
        &self,
        first: SubscriberId,
        last: SubscriberId,
    ) -> DbResult<std::collections::HashMap<SubscriberId, Choices>> {
        let rows = sqlx::query(
            "SELECT id, frequency, weekday, delivery_hour, timezone, paused_until,
                 top_papers, ranking, recommendations
             FROM subscribers WHERE id BETWEEN $1 AND $2",
        )
        .bind(first)
        .bind(last)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let choices = Choices {
                    preferences: preferences_from_row(row)?,
                    top_papers: row.get::<i64, _>("top_papers") != 0,
                    switches: RankingSwitches {
                        ranking: row.get::<i64, _>("ranking") != 0,
                        recommendations: row.get::<i64, _>("recommendations") != 0,
                    },
                };
                Ok((row.get::<SubscriberId, _>("id"), choices))
            })
            .collect()
    }

    /// The preferences of up to `limit` active subscribers with ids above
    /// `after`, by id.
    pub async fn schedules_page(
        &self,
        after: SubscriberId,
        limit: i64,
    ) -> DbResult<Vec<(SubscriberId, Preferences)>> {
        let rows = sqlx::query(
            "SELECT id, frequency, weekday, delivery_hour, timezone, paused_until
             FROM subscribers WHERE id > $1 AND status = 'active' ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.get::<SubscriberId, _>("id"), preferences_from_row(row)?)))
            .collect()
    }

    /// The timezones active subscribers chose (without the operator's,
    /// which those who chose none use).
    pub async fn timezones_in_use(&self) -> DbResult<Vec<chrono_tz::Tz>> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT timezone FROM subscribers
             WHERE status = 'active' AND timezone IS NOT NULL",
        )
        .fetch_all(&self.pool)
        .await?;
        names
            .iter()
            .map(|t| {
                t.parse::<chrono_tz::Tz>()
                    .map_err(|_| DbError::Corrupt(format!("subscribers.timezone {t:?}")))
            })
            .collect()
    }
}

fn preferences_from_row(row: &DbRow) -> DbResult<Preferences> {
    let frequency: String = row.get("frequency");
    let weekday: Option<i64> = row.get("weekday");
    let frequency = match (frequency.as_str(), weekday) {
        ("daily", _) => Frequency::Daily,
        ("weekly", Some(d)) => Frequency::Weekly(weekday_from_index(d)?),
        (f, d) => {
            return Err(DbError::Corrupt(format!(
                "subscribers.frequency {f:?} with weekday {d:?}"
            )))
        }
    };
    let hour: Option<i64> = row.get("delivery_hour");
    let timezone: Option<String> = row.get("timezone");
    let timezone = timezone
        .map(|t| {
            t.parse::<chrono_tz::Tz>()
                .map_err(|_| DbError::Corrupt(format!("subscribers.timezone {t:?}")))
        })
        .transpose()?;
    let paused: Option<String> = row.get("paused_until");
    Ok(Preferences {
        frequency,
        delivery_hour: hour.map(|h| h as u32),
        timezone,
        paused_until: paused.as_deref().map(parse_day).transpose()?,
    })
}

fn weekday_from_index(d: i64) -> DbResult<chrono::Weekday> {
    u8::try_from(d)
        .ok()
        .and_then(|d| chrono::Weekday::try_from(d).ok())
        .ok_or_else(|| DbError::Corrupt(format!("subscribers.weekday {d}")))
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    fn topics(qs: &[&str]) -> Vec<NewTopic> {
        qs.iter()
            .map(|q| NewTopic {
                name: q.to_string(),
                query: q.to_string(),
            })
            .collect()
    }

    #[tokio::test]
    async fn a_request_for_an_active_address_leaves_its_topics_alone() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        store
            .upsert_active(&e, &topics(&["mine"]), Utc::now())
            .await
            .unwrap();
        let r = store
            .request_subscription(
                &e,
                &topics(&["theirs"]),
                &Preferences::default(),
                false,
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, SubscriberStatus::Active);
        let s = store.subscriber_by_email(&e).await.unwrap();
        assert_eq!(s.topics[0].query, "mine");
    }

    #[tokio::test]
    async fn only_one_link_mail_per_interval_is_claimed() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        let now = Utc::now();
        let r = store
            .request_subscription(&e, &topics(&["q"]), &Preferences::default(), false, now)
            .await
            .unwrap();
        let ten = Duration::minutes(10);
        assert!(store
            .claim_link_mail(r.subscriber_id, now, ten)
            .await
            .unwrap());
        let soon = now + Duration::minutes(9);
        assert!(!store
            .claim_link_mail(r.subscriber_id, soon, ten)
            .await
            .unwrap());
        let later = now + Duration::minutes(10);
        assert!(store
            .claim_link_mail(r.subscriber_id, later, ten)
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn a_revoked_link_version_can_neither_confirm_nor_save() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        let now = Utc::now();
        let r = store
            .request_subscription(&e, &topics(&["q"]), &Preferences::default(), false, now)
            .await
            .unwrap();
        let v2 = store.revoke_links(r.subscriber_id, 1, now).await.unwrap();
        assert_eq!(v2, 2);
        assert_eq!(
            store
                .confirm_subscriber(r.subscriber_id, 1, None, now)
                .await
                .unwrap(),
            ConfirmOutcome::NotConfirmable
        );
        assert!(matches!(
            store
                .save_preferences(
                    r.subscriber_id,
                    1,
                    &topics(&["x"]),
                    &Preferences::default(),
                    now
                )
                .await,
            Err(DbError::NotFound)
        ));
        assert_eq!(
            store
                .confirm_subscriber(r.subscriber_id, 2, None, now)
                .await
                .unwrap(),
            ConfirmOutcome::Confirmed
        );
    }

    #[tokio::test]
    async fn preferences_round_trip() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        let now = Utc::now();
        let r = store
            .request_subscription(&e, &topics(&["q"]), &Preferences::default(), false, now)
            .await
            .unwrap();
        assert_eq!(
            store.preferences(r.subscriber_id).await.unwrap(),
            Preferences::default()
        );
        let prefs = Preferences {
            frequency: Frequency::Weekly(chrono::Weekday::Thu),
            delivery_hour: Some(7),
            timezone: Some(chrono_tz::Europe::Berlin),
            paused_until: NaiveDate::from_ymd_opt(2027, 1, 4),
        };
        store
            .save_preferences(r.subscriber_id, 1, &topics(&["a", "b"]), &prefs, now)
            .await
            .unwrap();
        assert_eq!(store.preferences(r.subscriber_id).await.unwrap(), prefs);
    }

    #[tokio::test]
    async fn paused_and_weekly_subscribers_are_due_only_on_their_days() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let mut ids = Vec::new();
        for (i, prefs) in [
            Preferences::default(),
            Preferences {
                frequency: Frequency::Weekly(chrono::Weekday::Thu),
                ..Preferences::default()
            },
            Preferences {
                paused_until: NaiveDate::from_ymd_opt(2026, 11, 28),
                ..Preferences::default()
            },
        ]
        .iter()
        .enumerate()
        {
            let e = SubscriberEmail::parse(&format!("s{i}@example.org")).unwrap();
            let id = store
                .upsert_active(&e, &topics(&["q"]), now)
                .await
                .unwrap()
                .id();
            store
                .save_preferences(id, 1, &topics(&["q"]), prefs, now)
                .await
                .unwrap();
            ids.push(id);
        }
        let not_due = |y, m, d| {
            let store = store.clone();
            let (first, last) = (ids[0], ids[2]);
            async move {
                let mut v: Vec<SubscriberId> = store
                    .not_due_on(NaiveDate::from_ymd_opt(y, m, d).unwrap(), first, last)
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
                v.sort();
                v
            }
        };
        // 2026-11-26 is a Thursday; the pause ends on Saturday the 28th.
        assert_eq!(not_due(2026, 11, 26).await, vec![ids[2]]);
        assert_eq!(not_due(2026, 11, 27).await, vec![ids[1], ids[2]]);
        assert_eq!(not_due(2026, 11, 28).await, vec![ids[1]]);
    }

    #[tokio::test]
    async fn unsubscribing_twice_keeps_the_first_time() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        let t0 = Utc::now();
        let r = store.upsert_active(&e, &topics(&["q"]), t0).await.unwrap();
        store.unsubscribe(r.id(), 1, t0).await.unwrap();
        store
            .unsubscribe(r.id(), 1, t0 + Duration::hours(1))
            .await
            .unwrap();
        let s = store.subscriber_by_email(&e).await.unwrap();
        assert_eq!(s.status, SubscriberStatus::Unsubscribed);
        let at: String =
            sqlx::query_scalar("SELECT unsubscribed_at FROM subscribers WHERE id = $1")
                .bind(r.id())
                .fetch_one(super::super::test_pool(&store))
                .await
                .unwrap();
        assert_eq!(at, ts(t0));
    }
}

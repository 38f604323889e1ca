//! Subscribers and their named topic queries.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{AssertSqlSafe, Row, Transaction};

use super::marks::insert_marks;
use super::ranking::write_profiles;
use super::{
    day, parse_ts, ts, Address, Backend, Choices, Db, DbError, DbResult, ImportBatch,
    ImportProfileBuilder, UpsertOutcome,
};
use crate::domain::{
    Frequency, NewTopic, Subscriber, SubscriberEmail, SubscriberId, SubscriberStatus, Topic,
};

/// Marks written per multi-row statement by an import: 4 parameters
/// each, far under both engines' limit.
const ROWS_PER_STATEMENT: usize = 1000;

/// Reads a stored status.
pub(super) fn status_from_db(name: &str) -> DbResult<SubscriberStatus> {
    SubscriberStatus::from_name(name)
        .ok_or_else(|| DbError::Corrupt(format!("subscribers.status {name:?}")))
}

impl Backend {
    /// An operator's add: creates the subscriber (or re-activates an existing
    /// one) as confirmed, and replaces their topics.
    pub async fn upsert_active(
        &self,
        email: &SubscriberEmail,
        topics: &[NewTopic],
        now: DateTime<Utc>,
    ) -> DbResult<UpsertOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = upsert_active_in(&mut tx, email, topics, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Imports many subscribers in one transaction: all of them or none.
    /// A line's choices, when given, replace the subscriber's.
    /// A subscriber whose line carries marks gets those marks in place of
    /// theirs and the profile `profile` builds from them, as a mark would
    /// store it; marks and profiles are written many rows per statement.
    /// A marked paper that is not stored fails the whole import.
    pub async fn import_active(
        &self,
        batch: &ImportBatch,
        now: DateTime<Utc>,
        profile: &ImportProfileBuilder,
    ) -> DbResult<Vec<UpsertOutcome>> {
        let mut tx = self.begin_write().await?;
        let mut out = Vec::with_capacity(batch.subscribers.len());
        let mut marks = Vec::new();
        let mut profiles = Vec::new();
        for s in &batch.subscribers {
            let outcome = upsert_active_in(&mut tx, &s.email, &s.topics, now).await?;
            if let Some(choices) = &s.choices {
                write_choices(&mut tx, outcome.id(), choices).await?;
            }
            if let Some(imported) = &s.marks {
                let id = outcome.id();
                if matches!(outcome, UpsertOutcome::Updated(_)) {
                    sqlx::query("DELETE FROM paper_marks WHERE subscriber_id = $1")
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                }
                marks.extend(imported.iter().map(|&(paper, mark)| (id, paper, mark)));
                profiles.push((id, profile(imported)));
                if marks.len() >= ROWS_PER_STATEMENT {
                    insert_marks(&mut tx, &marks, &batch.papers, now).await?;
                    write_profiles(&mut tx, &profiles, now).await?;
                    marks.clear();
                    profiles.clear();
                }
            }
            out.push(outcome);
        }
        insert_marks(&mut tx, &marks, &batch.papers, now).await?;
        write_profiles(&mut tx, &profiles, now).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Deletes a subscriber with their topics, deliveries and ledger.
    pub async fn remove_subscriber(&self, email: &SubscriberEmail) -> DbResult<()> {
        let done = sqlx::query("DELETE FROM subscribers WHERE email = $1")
            .bind(Address(email.as_str()))
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    pub async fn subscriber_by_email(&self, email: &SubscriberEmail) -> DbResult<Subscriber> {
        let row = sqlx::query("SELECT id FROM subscribers WHERE email = $1")
            .bind(Address(email.as_str()))
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)?;
        self.subscriber_by_id(row.get("id")).await
    }

    pub async fn subscriber_by_id(&self, id: SubscriberId) -> DbResult<Subscriber> {
        let rows = self.subscribers_where("s.id = $1", id, 1).await?;
        rows.into_iter().next().ok_or(DbError::NotFound)
    }

    /// A page of subscribers in `status`, by ascending id after `after_id`.
    /// Runs stream subscribers this way so memory stays flat at any list size.
    pub async fn subscribers_page(
        &self,
        status: Option<SubscriberStatus>,
        after_id: SubscriberId,
        limit: i64,
    ) -> DbResult<Vec<Subscriber>> {
        match status {
            Some(s) => {
                let cond = format!("s.status = '{}' AND s.id > $1", s.as_str());
                self.subscribers_where(&cond, after_id, limit).await
            }
            None => self.subscribers_where("s.id > $1", after_id, limit).await,
        }
    }

    /// The ids of the page [`Store::subscribers_page`] would read for
    /// active subscribers after `after_id`, without their addresses and
    /// topics: enough to find where a page starts and ends.
    pub async fn active_subscriber_ids_page(
        &self,
        after_id: SubscriberId,
        limit: i64,
    ) -> DbResult<Vec<SubscriberId>> {
        let rows = sqlx::query(
            "SELECT id FROM subscribers
             WHERE status = 'active' AND id > $1 AND erased_at IS NULL ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get("id")).collect())
    }

    pub async fn subscriber_counts(&self) -> DbResult<Vec<(SubscriberStatus, i64)>> {
        let rows = sqlx::query(
            "SELECT status, COUNT(*) AS n FROM subscribers GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((status_from_db(r.get("status"))?, r.get("n"))))
            .collect()
    }

    async fn subscribers_where(
        &self,
        cond: &str,
        bind: SubscriberId,
        limit: i64,
    ) -> DbResult<Vec<Subscriber>> {
        let sql = format!(
            "SELECT s.id, s.email, s.status, s.link_version, s.created_at, s.top_papers
             FROM subscribers s
             WHERE ({cond}) AND s.erased_at IS NULL ORDER BY s.id LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(bind)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        let mut subs = Vec::with_capacity(rows.len());
        for r in &rows {
            let raw: String = r.get("email");
            let email = SubscriberEmail::from_stored(&raw)
                .map_err(|e| DbError::Corrupt(format!("subscribers.email: {e}")))?;
            subs.push(Subscriber {
                id: r.get("id"),
                email,
                status: status_from_db(r.get("status"))?,
                link_version: r.get("link_version"),
                created_at: parse_ts(r.get("created_at"))?,
                topics: Vec::new(),
                top_papers: r.get::<i64, _>("top_papers") != 0,
            });
        }
        if let (Some(first), Some(last)) = (subs.first(), subs.last()) {
            let topic_rows = sqlx::query(
                "SELECT subscriber_id, position, name, query FROM topics
                 WHERE subscriber_id BETWEEN $1 AND $2 ORDER BY subscriber_id, position",
            )
            .bind(first.id)
            .bind(last.id)
            .fetch_all(&self.pool)
            .await?;
            let index: HashMap<SubscriberId, usize> =
                subs.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
            for t in topic_rows {
                if let Some(&i) = index.get(&t.get::<SubscriberId, _>("subscriber_id")) {
                    subs[i].topics.push(Topic {
                        position: t.get("position"),
                        name: t.get("name"),
                        query: t.get("query"),
                    });
                }
            }
        }
        Ok(subs)
    }
}

async fn upsert_active_in(
    tx: &mut Transaction<'_, Db>,
    email: &SubscriberEmail,
    topics: &[NewTopic],
    now: DateTime<Utc>,
) -> DbResult<UpsertOutcome> {
    let existing: Option<SubscriberId> =
        sqlx::query_scalar("SELECT id FROM subscribers WHERE email = $1")
            .bind(Address(email.as_str()))
            .fetch_optional(&mut **tx)
            .await?;
    let outcome = match existing {
        Some(id) => {
            sqlx::query(
                "UPDATE subscribers SET status = 'active', confirmed_at = COALESCE(confirmed_at, $1),
                     unsubscribed_at = NULL, updated_at = $1 WHERE id = $2",
            )
            .bind(ts(now))
            .bind(id)
            .execute(&mut **tx)
            .await?;
            UpsertOutcome::Updated(id)
        }
        None => {
            let id: SubscriberId = sqlx::query_scalar(
                "INSERT INTO subscribers (email, status, created_at, confirmed_at, updated_at)
                 VALUES ($1, 'active', $2, $2, $2) RETURNING id",
            )
            .bind(Address(email.as_str()))
            .bind(ts(now))
            .fetch_one(&mut **tx)
            .await?;
            UpsertOutcome::Created(id)
        }
    };
    replace_topics(tx, outcome.id(), topics).await?;
    Ok(outcome)
}

/// Writes an imported subscriber's `choices` in place of theirs.
pub(super) async fn write_choices(
    tx: &mut Transaction<'_, Db>,
    id: SubscriberId,
    choices: &Choices,
) -> DbResult<()> {
    let prefs = &choices.preferences;
    let (frequency, weekday) = frequency_columns(prefs.frequency);
    sqlx::query(
        "UPDATE subscribers SET frequency = $1, weekday = $2, delivery_hour = $3,
             timezone = $4, paused_until = $5, top_papers = $6, ranking = $7,
             recommendations = $8
         WHERE id = $9",
    )
    .bind(frequency)
    .bind(weekday)
    .bind(prefs.delivery_hour.map(i64::from))
    .bind(prefs.timezone.map(|t| t.name().to_string()))
    .bind(prefs.paused_until.map(day))
    .bind(i64::from(choices.top_papers))
    .bind(i64::from(choices.switches.ranking))
    .bind(i64::from(choices.switches.recommendations))
    .bind(id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The `frequency` and `weekday` columns for `f`.
pub(super) fn frequency_columns(f: Frequency) -> (&'static str, Option<i64>) {
    match f {
        Frequency::Daily => ("daily", None),
        Frequency::Weekly(d) => ("weekly", Some(i64::from(d.num_days_from_monday()))),
    }
}

pub(super) async fn replace_topics(
    tx: &mut Transaction<'_, Db>,
    subscriber_id: SubscriberId,
    topics: &[NewTopic],
) -> DbResult<()> {
    sqlx::query("DELETE FROM topics WHERE subscriber_id = $1")
        .bind(subscriber_id)
        .execute(&mut **tx)
        .await?;
    for (i, t) in topics.iter().enumerate() {
        sqlx::query(
            "INSERT INTO topics (subscriber_id, position, name, query) VALUES ($1, $2, $3, $4)",
        )
        .bind(subscriber_id)
        .bind(i as i64)
        .bind(&t.name)
        .bind(&t.query)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::store::{ImportBatch, ImportedSubscriber, Store};

    fn topic(q: &str) -> NewTopic {
        NewTopic {
            name: q.into(),
            query: q.into(),
        }
    }

    #[tokio::test]
    async fn adding_twice_updates_topics_instead_of_duplicating() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("a@example.org").unwrap();
        let first = store
            .upsert_active(&e, &[topic("diffusion")], Utc::now())
            .await
            .unwrap();
        let second = store
            .upsert_active(
                &SubscriberEmail::parse("A@EXAMPLE.org").unwrap(),
                &[topic("x"), topic("y")],
                Utc::now(),
            )
            .await
            .unwrap();
        assert!(matches!(first, UpsertOutcome::Created(_)));
        assert_eq!(second, UpsertOutcome::Updated(first.id()));
        let s = store.subscriber_by_email(&e).await.unwrap();
        assert_eq!(
            s.topics
                .iter()
                .map(|t| t.query.as_str())
                .collect::<Vec<_>>(),
            ["x", "y"]
        );
    }

    /// An imported line's choices replace the subscriber's, and read back
    /// as written; a line without them leaves them alone.
    #[tokio::test]
    async fn imported_choices_are_stored_and_read_back() {
        let (store, _dir) = test_store().await;
        let chosen = crate::store::Choices {
            preferences: crate::domain::Preferences {
                frequency: crate::domain::Frequency::Weekly(chrono::Weekday::Fri),
                delivery_hour: Some(9),
                timezone: Some(chrono_tz::Europe::Berlin),
                paused_until: chrono::NaiveDate::from_ymd_opt(2020, 1, 1),
            },
            top_papers: true,
            switches: crate::store::RankingSwitches {
                ranking: false,
                recommendations: false,
            },
        };
        let line = |choices| ImportedSubscriber {
            email: SubscriberEmail::parse("eve@example.org").unwrap(),
            topics: vec![topic("q")],
            marks: None,
            choices,
        };
        for choices in [Some(chosen.clone()), None] {
            let batch = ImportBatch {
                subscribers: vec![line(choices)],
                papers: Vec::new(),
            };
            let id = store
                .import_active(&batch, Utc::now(), &|_| None)
                .await
                .unwrap()[0]
                .id();
            assert_eq!(store.choices_in_range(id, id).await.unwrap()[&id], chosen);
        }
    }

    #[tokio::test]
    async fn pages_walk_every_active_subscriber_once() {
        let (store, _dir) = test_store().await;
        let batch = ImportBatch {
            subscribers: (0..25)
                .map(|i| ImportedSubscriber {
                    email: SubscriberEmail::parse(&format!("u{i}@example.org")).unwrap(),
                    topics: vec![topic("q")],
                    marks: None,
                    choices: None,
                })
                .collect(),
            papers: Vec::new(),
        };
        store
            .import_active(&batch, Utc::now(), &|_| None)
            .await
            .unwrap();
        let mut seen = 0;
        let mut after = SubscriberId::default();
        loop {
            let page = store
                .subscribers_page(Some(SubscriberStatus::Active), after, 10)
                .await
                .unwrap();
            let Some(last) = page.last() else { break };
            after = last.id;
            seen += page.len();
            assert!(page.iter().all(|s| s.topics.len() == 1));
        }
        assert_eq!(seen, 25);
    }

    /// The walk's ids page holds exactly the ids of the page it stands for:
    /// active subscribers only (not unsubscribed, not erased), in order.
    async fn an_ids_page_is_the_subscribers_page_without_the_rest(store: Store) {
        let now = Utc::now();
        let mut ids = Vec::new();
        for i in 0..12 {
            let email = SubscriberEmail::parse(&format!("p{i}@example.org")).unwrap();
            let created = store
                .upsert_active(&email, &[topic("q")], now)
                .await
                .unwrap();
            ids.push(created.id());
        }
        let left = store.subscriber_by_id(ids[3]).await.unwrap();
        store
            .unsubscribe(left.id, left.link_version, now)
            .await
            .unwrap();
        store.erase_subscriber(ids[7], None, now).await.unwrap();
        let mut after = SubscriberId::default();
        let mut walked = Vec::new();
        loop {
            let light = store.active_subscriber_ids_page(after, 4).await.unwrap();
            let full = store
                .subscribers_page(Some(SubscriberStatus::Active), after, 4)
                .await
                .unwrap();
            assert_eq!(light, full.iter().map(|s| s.id).collect::<Vec<_>>());
            let Some(&last) = light.last() else { break };
            walked.extend(light);
            after = last;
        }
        let expected: Vec<_> = ids
            .iter()
            .copied()
            .filter(|id| *id != ids[3] && *id != ids[7])
            .collect();
        assert_eq!(walked, expected);
    }

    #[tokio::test]
    async fn on_sqlite_an_ids_page_is_the_subscribers_page_without_the_rest() {
        let (store, _dir) = test_store().await;
        an_ids_page_is_the_subscribers_page_without_the_rest(store).await;
    }

    #[tokio::test]
    async fn on_postgres_an_ids_page_is_the_subscribers_page_without_the_rest() {
        let (store, _db) = crate::store::postgres::test_store().await;
        an_ids_page_is_the_subscribers_page_without_the_rest(store).await;
    }

    #[tokio::test]
    async fn removing_an_unknown_subscriber_is_not_found() {
        let (store, _dir) = test_store().await;
        let e = SubscriberEmail::parse("nobody@example.org").unwrap();
        assert!(matches!(
            store.remove_subscriber(&e).await,
            Err(DbError::NotFound)
        ));
    }
}

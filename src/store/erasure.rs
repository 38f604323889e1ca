//! One person's data: everything stored about a subscriber, read out
//! ([`Store::personal_data`], for `paperboy subscribers export EMAIL` and
//! the manage page's "Download my data") and erased
//! ([`Store::erase_subscriber`], for `paperboy subscribers forget EMAIL`,
//! "Delete everything about me" and the retention job).
//!
//! [`PERSONAL_TABLES`] is the one list of tables that hold rows about a
//! subscriber: a table added to the schema with a `subscriber_id` column is
//! exported and erased by adding one line there.
//!
//! Erasure keeps the subscriber's row as an anonymous tombstone so counts
//! stay true (subscribers by status, digests by status, bounces per day):
//! the address becomes a placeholder that is not an address, the
//! preferences are reset, `erased_at` is set, and every query that reads
//! subscribers as people skips such rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sqlx::AssertSqlSafe;
use sqlx::{Column as _, Row as _, TypeInfo as _, ValueRef as _};

use super::{
    ts, Backend, DbError, DbResult, DbRow, Erasure, OnErase, PersonalData, PERSONAL_TABLES,
};
use crate::domain::{SubscriberEmail, SubscriberId};

/// The placeholder an erased row's address becomes: unique (the column is
/// UNIQUE) and never a valid address (no `@`), so no lookup by address can
/// find it.
fn placeholder(id: SubscriberId) -> String {
    format!("erased-{}", id.get())
}

impl Backend {
    /// The (not erased) subscriber with this address.
    pub async fn subscriber_id_by_email(&self, email: &SubscriberEmail) -> DbResult<SubscriberId> {
        sqlx::query_scalar("SELECT id FROM subscribers WHERE email = $1 AND erased_at IS NULL")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(DbError::NotFound)
    }

    /// Everything stored about subscriber `id`; `NotFound` for an unknown
    /// or erased one.
    pub async fn personal_data(&self, id: SubscriberId) -> DbResult<PersonalData> {
        let mut conn = self.pool.acquire().await?;
        let row = sqlx::query("SELECT * FROM subscribers WHERE id = $1 AND erased_at IS NULL")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(DbError::NotFound)?;
        let subscriber = row_to_json(&row)?;
        let mut tables = BTreeMap::new();
        for t in PERSONAL_TABLES {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT * FROM {} WHERE subscriber_id = $1 ORDER BY {}",
                t.table, t.order_by
            )))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
            let rows = rows.iter().map(row_to_json).collect::<DbResult<Vec<_>>>()?;
            tables.insert(t.table, rows);
        }
        Ok(PersonalData {
            subscriber_id: id,
            subscriber,
            tables,
        })
    }

    /// Erases subscriber `id` (see the module doc), in one transaction;
    /// `NotFound` for an unknown or already erased one, or when
    /// `link_version` (the version of the link that asked, if one did) was
    /// revoked. Every link issued to them stops working and no digest goes
    /// out to them afterwards.
    pub async fn erase_subscriber(
        &self,
        id: SubscriberId,
        link_version: Option<i64>,
        now: DateTime<Utc>,
    ) -> DbResult<Erasure> {
        let mut tx = self.begin_write().await?;
        let placeholder = placeholder(id);
        let done = sqlx::query(
            "UPDATE subscribers SET email = $1, erased_at = $2, updated_at = $2,
                 status = CASE WHEN status IN ('active', 'pending') THEN 'unsubscribed'
                     ELSE status END,
                 unsubscribed_at = COALESCE(unsubscribed_at, $2),
                 link_version = link_version + 1, frequency = 'daily', weekday = NULL,
                 delivery_hour = NULL, timezone = NULL, paused_until = NULL,
                 last_link_mail_at = NULL, top_papers = 0
             WHERE id = $3 AND erased_at IS NULL AND ($4 IS NULL OR link_version = $4)",
        )
        .bind(&placeholder)
        .bind(ts(now))
        .bind(id)
        .bind(link_version)
        .execute(&mut **tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Err(DbError::NotFound);
        }
        let mut erasure = Erasure::default();
        for t in PERSONAL_TABLES {
            match t.on_erase {
                OnErase::Delete => {
                    let n = sqlx::query(AssertSqlSafe(format!(
                        "DELETE FROM {} WHERE subscriber_id = $1",
                        t.table
                    )))
                    .bind(id)
                    .execute(&mut **tx)
                    .await?
                    .rows_affected();
                    erasure.deleted.insert(t.table, n);
                }
                OnErase::KeepForCounts { scrub } => {
                    let mut deleted = 0;
                    if t.table == "deliveries" {
                        // A digest not yet sent must never go out now.
                        deleted = sqlx::query(
                            "DELETE FROM deliveries WHERE subscriber_id = $1
                                 AND status IN ('pending', 'sending', 'deferred')",
                        )
                        .bind(id)
                        .execute(&mut **tx)
                        .await?
                        .rows_affected();
                    }
                    if !scrub.is_empty() {
                        let set: Vec<String> =
                            scrub.iter().map(|c| format!("{c} = NULL")).collect();
                        sqlx::query(AssertSqlSafe(format!(
                            "UPDATE {} SET {} WHERE subscriber_id = $1",
                            t.table,
                            set.join(", ")
                        )))
                        .bind(id)
                        .execute(&mut **tx)
                        .await?;
                    }
                    let kept: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                        "SELECT COUNT(*) FROM {} WHERE subscriber_id = $1",
                        t.table
                    )))
                    .bind(id)
                    .fetch_one(&mut **tx)
                    .await?;
                    if deleted > 0 {
                        erasure.deleted.insert(t.table, deleted);
                    }
                    erasure.kept.insert(t.table, kept as u64);
                }
            }
        }
        tx.commit().await?;
        Ok(erasure)
    }
}

/// A row as a JSON object, each column by its stored type.
fn row_to_json(row: &DbRow) -> DbResult<Map<String, Value>> {
    let mut out = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let raw = row.try_get_raw(i)?;
        let value = if raw.is_null() {
            Value::Null
        } else {
            match raw.type_info().name() {
                // SQLite's storage classes, PostgreSQL's types (the schema
                // uses BIGINT, TEXT and citext).
                "INTEGER" | "BOOLEAN" | "INT8" => Value::from(row.try_get::<i64, _>(i)?),
                "REAL" | "FLOAT8" => Value::from(row.try_get::<f64, _>(i)?),
                "BLOB" | "BYTEA" => {
                    let bytes: Vec<u8> = row.try_get(i)?;
                    Value::from(bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
                }
                _ => Value::from(row.try_get::<String, _>(i)?),
            }
        };
        out.insert(column.name().to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use crate::domain::NewTopic;

    fn topic(q: &str) -> NewTopic {
        NewTopic {
            name: q.into(),
            query: q.into(),
        }
    }

    #[tokio::test]
    async fn every_table_with_a_subscriber_id_is_in_the_personal_tables() {
        let (store, _dir) = test_store().await;
        let tables: Vec<String> = sqlx::query_scalar(if super::super::POSTGRES {
            "SELECT table_name::text FROM information_schema.columns
             WHERE table_schema = 'public' AND column_name = 'subscriber_id'
             ORDER BY table_name"
        } else {
            "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
             WHERE m.type = 'table' AND c.name = 'subscriber_id' ORDER BY m.name"
        })
        .fetch_all(super::super::test_pool(&store))
        .await
        .unwrap();
        let mut listed: Vec<&str> = PERSONAL_TABLES.iter().map(|t| t.table).collect();
        listed.sort();
        assert_eq!(tables, listed);
    }

    #[tokio::test]
    async fn an_erased_subscriber_is_gone_for_every_lookup_and_others_are_untouched() {
        let (store, _dir) = test_store().await;
        let now = Utc::now();
        let ada = SubscriberEmail::parse("ada@example.org").unwrap();
        let bob = SubscriberEmail::parse("bob@example.org").unwrap();
        let id = store
            .upsert_active(&ada, &[topic("diffusion")], now)
            .await
            .unwrap()
            .id();
        store
            .upsert_active(&bob, &[topic("proteins")], now)
            .await
            .unwrap();
        let before = store.personal_data(id).await.unwrap();
        assert_eq!(before.subscriber["email"], "ada@example.org");
        assert_eq!(before.tables["topics"].len(), 1);
        let bob_before = store
            .personal_data(store.subscriber_id_by_email(&bob).await.unwrap())
            .await
            .unwrap();

        let erasure = store.erase_subscriber(id, None, now).await.unwrap();
        assert_eq!(erasure.deleted["topics"], 1);
        assert!(matches!(
            store.subscriber_id_by_email(&ada).await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            store.subscriber_by_id(id).await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            store.personal_data(id).await,
            Err(DbError::NotFound)
        ));
        assert!(matches!(
            store.erase_subscriber(id, None, now).await,
            Err(DbError::NotFound)
        ));
        let bob_id = store.subscriber_id_by_email(&bob).await.unwrap();
        assert_eq!(store.personal_data(bob_id).await.unwrap(), bob_before);
        // The count of unsubscribed people still includes the erased one.
        assert_eq!(
            store.subscriber_counts().await.unwrap(),
            vec![
                (crate::domain::SubscriberStatus::Active, 1),
                (crate::domain::SubscriberStatus::Unsubscribed, 1)
            ]
        );
        // The address can subscribe again, as a new person.
        let again = store.upsert_active(&ada, &[topic("x")], now).await.unwrap();
        assert!(matches!(again, crate::store::UpsertOutcome::Created(_)));
    }
}

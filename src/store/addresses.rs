//! Stored addresses brought to their canonical form (see
//! [`SubscriberEmail`]): a data migration SQL cannot express, since the
//! UTS-46 mapping lives in Rust. Earlier versions stored the domain as
//! typed (lower-cased only), so `c@ｅxample.org` and `c@example.org`, or
//! `t@bücher.example` and `t@xn--bcher-kva.example`, could be two
//! subscribers for one mailbox. Folding rewrites each such row to the
//! canonical form and merges the rows that meet there into one.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Address, AddressFold, Backend, DbResult};
use crate::domain::{SubscriberEmail, SubscriberId};

struct Row_ {
    id: SubscriberId,
    email: String,
    confirmed: bool,
    created_at: String,
}

impl Backend {
    /// Rewrites every stored address that is not in canonical form, and
    /// merges the rows that share one: the oldest confirmed row is kept
    /// (else the oldest), the others are deleted with what hangs off them.
    /// Only rows with a non-ASCII address can differ from their canonical
    /// form (earlier versions lower-cased ASCII domains already), so this is
    /// one indexed-free scan that finds nothing on a folded database.
    pub async fn fold_addresses(&self) -> DbResult<AddressFold> {
        let mut tx = self.begin_write().await?;
        let odd = sqlx::query(
            "SELECT id, email, confirmed_at IS NOT NULL AS confirmed, created_at
             FROM subscribers WHERE length(email) <> octet_length(email)",
        )
        .fetch_all(&mut **tx)
        .await?;
        let mut report = AddressFold::default();
        // Canonical address (as the NOCASE column compares it) -> its rows.
        let mut groups: BTreeMap<String, (String, Vec<Row_>)> = BTreeMap::new();
        for r in odd {
            let raw: String = r.get("email");
            let Ok(canonical) = SubscriberEmail::parse(&raw) else {
                report.refused += 1;
                continue;
            };
            if canonical.as_str() == raw {
                continue;
            }
            let key = canonical.as_str().to_ascii_lowercase();
            groups
                .entry(key)
                .or_insert_with(|| (canonical.as_str().to_string(), Vec::new()))
                .1
                .push(Row_ {
                    id: r.get("id"),
                    email: raw,
                    confirmed: r.get::<bool, _>("confirmed"),
                    created_at: r.get("created_at"),
                });
        }
        for (canonical, mut rows) in groups.into_values() {
            let existing = sqlx::query(
                "SELECT id, email, confirmed_at IS NOT NULL AS confirmed, created_at
                 FROM subscribers WHERE email = $1",
            )
            .bind(Address(&canonical))
            .fetch_optional(&mut **tx)
            .await?;
            if let Some(r) = existing {
                rows.push(Row_ {
                    id: r.get("id"),
                    email: r.get("email"),
                    confirmed: r.get::<bool, _>("confirmed"),
                    created_at: r.get("created_at"),
                });
            }
            // Confirmed first, then the oldest (timestamps sort as text).
            rows.sort_by(|a, b| {
                b.confirmed
                    .cmp(&a.confirmed)
                    .then_with(|| a.created_at.cmp(&b.created_at))
                    .then_with(|| a.id.get().cmp(&b.id.get()))
            });
            let keep = &rows[0];
            let gone: Vec<SubscriberId> = rows[1..].iter().map(|r| r.id).collect();
            for id in &gone {
                sqlx::query("DELETE FROM subscribers WHERE id = $1")
                    .bind(*id)
                    .execute(&mut **tx)
                    .await?;
            }
            if keep.email != canonical {
                sqlx::query("UPDATE subscribers SET email = $1 WHERE id = $2")
                    .bind(Address(&canonical))
                    .bind(keep.id)
                    .execute(&mut **tx)
                    .await?;
                report.rewritten += 1;
            }
            if !gone.is_empty() {
                tracing::warn!(
                    subscriber.id = %keep.id,
                    merged.count = gone.len(),
                    merged.ids = ?gone.iter().map(|id| id.get()).collect::<Vec<_>>(),
                    "look-alike addresses of one mailbox merged into one subscriber"
                );
                report.merged.push((keep.id, gone));
            }
        }
        tx.commit().await?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use crate::store::Store;

    async fn insert(
        store: &Store,
        email: &str,
        status: &str,
        created: &str,
        confirmed: bool,
    ) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO subscribers (email, status, created_at, confirmed_at, updated_at)
             VALUES ($1, $2, $3, CASE WHEN $4 THEN $3 END, $3) RETURNING id",
        )
        .bind(email)
        .bind(status)
        .bind(created)
        .bind(confirmed)
        .fetch_one(super::super::test_pool(store))
        .await
        .unwrap()
    }

    async fn emails(store: &Store) -> Vec<(i64, String)> {
        sqlx::query_as("SELECT id, email FROM subscribers ORDER BY id")
            .fetch_all(super::super::test_pool(store))
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn look_alike_rows_are_merged_into_the_oldest_confirmed_one() {
        let (store, _dir) = test_store().await;
        let pending_old = insert(
            &store,
            "c@\u{ff45}xample.org",
            "pending",
            "2026-01-01T00:00:00Z",
            false,
        )
        .await;
        let active = insert(
            &store,
            "c@example.org",
            "active",
            "2026-02-01T00:00:00Z",
            true,
        )
        .await;
        let active_older = insert(
            &store,
            "c@\u{24d4}xample.org",
            "active",
            "2026-01-15T00:00:00Z",
            true,
        )
        .await;
        let lone = insert(
            &store,
            "t@bücher.example",
            "active",
            "2026-01-01T00:00:00Z",
            true,
        )
        .await;
        let refused = insert(
            &store,
            "me@\u{2488}x.com",
            "pending",
            "2026-01-01T00:00:00Z",
            false,
        )
        .await;
        let other = insert(
            &store,
            "ada@example.org",
            "active",
            "2026-01-01T00:00:00Z",
            true,
        )
        .await;

        let report = store.fold_addresses().await.unwrap();

        assert_eq!(report.rewritten, 2, "{report}");
        assert_eq!(report.refused, 1);
        assert_eq!(report.merged.len(), 1);
        let (kept, mut gone) = report.merged[0].clone();
        gone.sort_by_key(|id| id.get());
        assert_eq!(kept.get(), active_older);
        assert_eq!(
            gone.iter().map(|id| id.get()).collect::<Vec<_>>(),
            vec![pending_old, active]
        );
        assert_eq!(
            emails(&store).await,
            vec![
                (active_older, "c@example.org".to_string()),
                (lone, "t@xn--bcher-kva.example".to_string()),
                (refused, "me@\u{2488}x.com".to_string()),
                (other, "ada@example.org".to_string()),
            ]
        );
        // A folded database has nothing more to fold.
        let again = store.fold_addresses().await.unwrap();
        assert_eq!((again.rewritten, again.merged.len()), (0, 0));
    }
}

//! Stakes on the pages of a digest run: daemons walking the same
//! subscribers page by page plan each page once, each passing over the
//! page another is planning to the next one.

use chrono::{Datelike as _, NaiveDate};

use super::{DbResult, Store};
use crate::domain::SubscriberId;

/// The smallest `[database] max_connections` with which pages are staked.
const STAKE_MIN_CONNECTIONS: u32 = 3;

/// A daemon's stake on one page of a run while it plans and reserves the
/// page's digests. On PostgreSQL it is a transaction-level advisory lock,
/// released when the stake is dropped, or by the server when the holder's
/// connection goes (a killed daemon leaves no stake behind). On SQLite,
/// whose daemons share one host and take turns at one write lock, every
/// stake is granted and holds nothing.
pub struct PageStake {
    _held: Option<sqlx::Transaction<'static, sqlx::Postgres>>,
}

impl Store {
    /// Stakes the page of `date`'s run that starts at subscriber `first`;
    /// `None` if another daemon holds it. Reserving stays safe without a
    /// stake (a digest is reserved once whoever plans it): a stake only
    /// spares the others planning a page again.
    pub async fn stake_page(
        &self,
        date: NaiveDate,
        first: SubscriberId,
    ) -> DbResult<Option<PageStake>> {
        let Store::Postgres(s) = self else {
            return Ok(Some(PageStake { _held: None }));
        };
        // A stake holds a connection while the page is planned and reserved
        // on another, and the sends want one meanwhile: a smaller pool
        // plans without stakes.
        if s.pool().options().get_max_connections() < STAKE_MIN_CONNECTIONS {
            return Ok(Some(PageStake { _held: None }));
        }
        let mut tx = s.pool().begin().await?;
        // The two-key form (a space apart from sqlx's one-key migration
        // lock): the day, and the page's first id. Ids past 2^31 wrap; two
        // pages sharing a key only make one wait for the other's turn.
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1, $2)")
            .bind(date.num_days_from_ce())
            .bind(first.get() as i32)
            .fetch_one(&mut *tx)
            .await?;
        Ok(got.then_some(PageStake { _held: Some(tx) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn a_page_is_staked_by_one_holder_at_a_time(store: Store) {
        let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let first = SubscriberId::new(501);
        let held = store.stake_page(date, first).await.unwrap();
        assert!(held.is_some());
        let again = store.stake_page(date, first).await.unwrap();
        let other_page = store
            .stake_page(date, SubscriberId::new(1001))
            .await
            .unwrap();
        let other_day = store
            .stake_page(date.succ_opt().unwrap(), first)
            .await
            .unwrap();
        assert!(other_page.is_some() && other_day.is_some());
        match store.engine() {
            super::super::Engine::Postgres => {
                assert!(again.is_none(), "a held page is staked twice")
            }
            super::super::Engine::Sqlite => assert!(again.is_some()),
        }
        drop((again, other_page, other_day));
        drop(held);
        // Released with the holder's stake (the rollback runs as the
        // connection goes back to the pool).
        let mut after = None;
        for _ in 0..50 {
            after = store.stake_page(date, first).await.unwrap();
            if after.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(after.is_some(), "a dropped stake still holds its page");
    }

    #[tokio::test]
    async fn on_sqlite_a_page_is_staked_by_one_holder_at_a_time() {
        let (store, _dir) = super::super::sqlite::test_store().await;
        a_page_is_staked_by_one_holder_at_a_time(store).await;
    }

    #[tokio::test]
    async fn on_postgres_a_page_is_staked_by_one_holder_at_a_time() {
        let (store, db) = super::super::postgres::test_store().await;
        a_page_is_staked_by_one_holder_at_a_time(store).await;

        // A pool too small to spare a connection stakes nothing.
        let small = Store::open(&db.url, 2).await.unwrap();
        let date = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let first = SubscriberId::new(501);
        let one = small.stake_page(date, first).await.unwrap();
        let two = small.stake_page(date, first).await.unwrap();
        assert!(one.is_some() && two.is_some());
    }
}

//! The SQLite backend: one file, WAL mode, writers taking turns.
//!
//! The table-family files beside this one (`subscribers.rs`,
//! `deliveries.rs`, ...) are compiled here against [`Db`] = SQLite, and
//! again in [`super::postgres`] against PostgreSQL: one text per statement,
//! written in the SQL both engines accept (`$N` parameters, `ON CONFLICT`,
//! `RETURNING`, text timestamps). What only SQLite has (the file, `VACUUM
//! INTO`, `BEGIN IMMEDIATE`) lives in this file.

// The table-family files are compiled once per backend on purpose (see
// the store's module doc): each `#[path]` module below has a twin in
// `postgres.rs`, against the other driver.
#![allow(clippy::duplicate_mod)]

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions as _, SqlitePool};

#[path = "addresses.rs"]
mod addresses;
#[path = "bounces.rs"]
mod bounces;
#[path = "budgets.rs"]
mod budgets;
#[path = "claims.rs"]
mod claims;
#[path = "deliveries.rs"]
mod deliveries;
#[path = "delivery_pages.rs"]
mod delivery_pages;
#[path = "erasure.rs"]
mod erasure;
#[path = "inbound.rs"]
mod inbound;
#[path = "maintenance.rs"]
mod maintenance;
#[path = "marks.rs"]
mod marks;
#[path = "metrics.rs"]
mod metrics;
#[path = "paper_listing.rs"]
mod paper_listing;
#[path = "papers.rs"]
mod papers;
#[path = "preferences.rs"]
mod preferences;
#[path = "ranking.rs"]
mod ranking;
#[path = "retention.rs"]
mod retention;
#[path = "runs.rs"]
mod runs;
#[path = "slots.rs"]
mod slots;
#[path = "subscribers.rs"]
mod subscribers;
#[path = "ticks.rs"]
mod ticks;
#[path = "top_papers.rs"]
mod top_papers;

pub(crate) use super::records::*;
pub(crate) use super::{day, parse_day, parse_ts, push_list, ts, Address, DbError, DbResult};
use crate::domain::DeliveryId;

/// The driver the shared table-family files are compiled against here.
pub(crate) type Db = sqlx::Sqlite;
/// A row of [`Db`].
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// The store the shared table-family files implement here.
pub(crate) type Backend = SqliteStore;

/// Is this engine PostgreSQL? For the few statements whose text differs.
pub(crate) const POSTGRES: bool = false;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// This process's turn to write (see [`SqliteStore::begin_write`]).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction holding this process's turn to write.
pub(crate) type WriteTx = super::WriteTx<Db>;
/// One write statement outside a transaction, holding the turn to write.
pub(crate) type WriteOne = super::WriteOne<Db>;

/// Pushes `column IN (SELECT value FROM json_each($n))`, `ids` bound as
/// one JSON array: one statement text (prepared once per connection) and
/// one parameter however many ids there are. PostgreSQL's twin binds an
/// array.
pub(crate) fn push_id_in(q: &mut sqlx::QueryBuilder<Db>, column: &str, ids: &[DeliveryId]) {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    q.push(column)
        .push(" IN (SELECT value FROM json_each(")
        .push_bind(serde_json::to_string(&ids).expect("integers serialise"))
        .push("))");
}

/// Pushes a reservation's new deliveries as a `VALUES` list for `INSERT
/// INTO deliveries (subscriber_id, digest_date, status, message_id,
/// paper_count, more_count, created_at, updated_at, claimed_by,
/// lease_until)`. PostgreSQL's twin
/// binds one array per column.
pub(crate) fn push_delivery_rows(
    q: &mut sqlx::QueryBuilder<Db>,
    rows: &[super::NewReservation],
    date: &str,
    now: &str,
    hold: &super::Hold,
) {
    q.push_values(rows, |mut row, item| {
        row.push_bind(item.subscriber_id)
            .push_bind(date.to_string())
            .push("'pending'")
            .push_bind(item.message_id.clone())
            .push_bind(item.papers.len() as i64)
            .push_bind(item.more_count)
            .push_bind(now.to_string())
            .push_bind(now.to_string())
            .push_bind(hold.owner.clone())
            .push_bind(super::ts(hold.until));
    });
}

/// Pushes ledger rows as a `VALUES` list for `INSERT INTO sent_papers
/// (subscriber_id, paper_id, delivery_id, position, topic_position,
/// reason)`. PostgreSQL's twin binds one array per column.
pub(crate) fn push_ledger_rows(q: &mut sqlx::QueryBuilder<Db>, rows: &[delivery_pages::LedgerRow]) {
    q.push_values(rows, |mut row, r| {
        row.push_bind(r.subscriber_id)
            .push_bind(r.paper.as_str().to_string())
            .push_bind(r.delivery_id)
            .push_bind(r.position)
            .push_bind(r.topic)
            .push_bind(r.reason.map(str::to_string));
    });
}

/// Pushes the rows of `claims` as a table `c(id, expected_status,
/// expected_attempts)` for
/// `UPDATE … FROM`: one JSON array of rows, one statement text whatever
/// the count. PostgreSQL's twin unnests three arrays.
pub(crate) fn push_claim_rows(q: &mut sqlx::QueryBuilder<Db>, claims: &[ClaimRequest]) {
    let rows: Vec<(i64, &str, i64)> = claims
        .iter()
        .map(|c| (c.id.get(), c.expected.as_str(), c.attempts))
        .collect();
    q.push(
        "(SELECT json_extract(value, '$[0]') AS id,
             json_extract(value, '$[1]') AS expected_status,
             json_extract(value, '$[2]') AS expected_attempts FROM json_each(",
    )
    .push_bind(serde_json::to_string(&rows).expect("ids and names serialise"))
    .push(")) AS c");
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `url` without
    /// migrating: `sqlite://path/to/file.db`, `sqlite:///absolute/path.db`
    /// or `sqlite::memory:`.
    /// `setting` is what the errors call the URL (`database.url`, or a
    /// command-line option).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        setting: &str,
    ) -> anyhow::Result<SqliteStore> {
        Self::connect_with(url, max_connections, setting, super::SlowStatements::Warn).await
    }

    /// [`SqliteStore::connect`], logging slow statements or not.
    pub(crate) async fn connect_with(
        url: &str,
        max_connections: u32,
        setting: &str,
        slow: super::SlowStatements,
    ) -> anyhow::Result<SqliteStore> {
        let mut options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("{setting} {url:?} is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(30));
        if slow == super::SlowStatements::Expected {
            options = options.disable_statement_logging();
        }
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("creating the database directory {}", parent.display())
                })?;
            }
        }
        // No ping before handing out a connection: a SQLite connection is
        // a file in this process and cannot be lost the way a network one
        // can, and each ping was one more round trip to the connection's
        // thread for every statement.
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .test_before_acquire(false)
            .connect_with(options)
            .await
            .with_context(|| format!("{setting} {url:?}: opening the database"))?;
        Ok(SqliteStore {
            pool,
            writer: Default::default(),
        })
    }

    /// Applies pending schema migrations; refuses a database a newer
    /// paperboy migrated (see [`super::refuse_newer_schema`]).
    pub async fn run_migrations(&self) -> anyhow::Result<()> {
        // No table yet (a new database) reads as nothing applied.
        let applied: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .ok()
                .flatten();
        super::refuse_newer_schema(&MIGRATOR, applied)?;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
        Ok(())
    }

    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A transaction that will write: `BEGIN IMMEDIATE` takes the write lock
    /// up front, waiting out the busy timeout. A plain (deferred) `BEGIN`
    /// that reads first and writes later fails at once with "database is
    /// locked" (SQLITE_BUSY / BUSY_SNAPSHOT) when another process wrote in
    /// between, which the busy timeout cannot help with.
    ///
    /// Writers of this process first take turns on an in-process lock, in
    /// the order they asked: one waiting on SQLite's lock would poll it
    /// with sleeps of up to 100 ms (the busy handler), long after it was
    /// free; a digest run that reserves one page while it claims and marks
    /// another would spend its time asleep. Other processes still meet at
    /// SQLite's lock and its busy timeout.
    pub(crate) async fn begin_write(&self) -> DbResult<WriteTx> {
        let turn = self.writer.clone().lock_owned().await;
        Ok(super::WriteTx::new(
            self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Some(turn),
        ))
    }

    /// A connection for one write statement, after this process's earlier
    /// writers (see [`super::WriteOne`]).
    pub(crate) async fn write_one(&self) -> DbResult<WriteOne> {
        let turn = self.writer.clone().lock_owned().await;
        Ok(super::WriteOne::new(self.pool.acquire().await?, Some(turn)))
    }
}

/// A fresh database file for one test, removed with the returned guard.
#[cfg(test)]
pub(crate) async fn test_store() -> (super::Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (super::Store::open(&url, 4).await.expect("open store"), dir)
}

/// A fresh database file migrated up to `version` only (the schema an
/// older paperboy left), for tests of the migrations after it.
#[cfg(test)]
pub(crate) async fn test_store_at(version: i64) -> (super::Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let store = SqliteStore::connect(&url, 4, "database.url")
        .await
        .expect("open store");
    MIGRATOR
        .run_to(version, &store.pool)
        .await
        .expect("migrating to the older version");
    (super::Store::Sqlite(store), dir)
}

/// The pool under a test's store, for statements the store does not offer.
#[cfg(test)]
pub(crate) fn test_pool(store: &super::Store) -> &sqlx::Pool<Db> {
    match store {
        super::Store::Sqlite(s) => &s.pool,
        _ => panic!("not a SQLite store"),
    }
}

//! The PostgreSQL backend, for an instance that outgrows one file: a
//! server (managed, replicated, backed up with `pg_dump`) that several
//! hosts can share.
//!
//! The table-family files beside this one are compiled here against [`Db`]
//! = PostgreSQL (and in [`super::sqlite`] against SQLite): the same
//! statements, so both backends keep the same guarantees. The schema in
//! `migrations/postgres/` mirrors SQLite's column for column: integers are
//! `BIGINT` (read as `i64`), times and days are the same RFC 3339 /
//! `YYYY-MM-DD` text (so they compare and copy alike), addresses are
//! `citext` (SQLite's `COLLATE NOCASE`). `paper_sightings.seq` stands in
//! for SQLite's implicit `rowid`.

// The table-family files are compiled once per backend on purpose (see
// the store's module doc): each `#[path]` module below has a twin in
// `sqlite.rs`, against the other driver.
#![allow(clippy::duplicate_mod)]

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context as _};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions as _, Connection as _, PgPool};

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
pub(crate) type Db = sqlx::Postgres;
/// A row of [`Db`].
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// The store the shared table-family files implement here.
pub(crate) type Backend = PgStore;

/// Is this engine PostgreSQL? For the few statements whose text differs.
pub(crate) const POSTGRES: bool = true;

/// How long a pooled connection may sit idle before it is checked (pinged)
/// on its way out of the pool.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// A fingerprint of this build's migrations (versions and checksums; FNV-1a),
/// naming the test suites' template database.
pub(crate) fn migrations_fingerprint() -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for m in MIGRATOR.iter() {
        for byte in m.version.to_le_bytes().iter().chain(m.checksum.iter()) {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// `database.url` with its password hidden, for messages.
    shown: String,
    /// What messages call the URL: `database.url`, or a command-line option.
    setting: &'static str,
}

/// A write transaction (writers take no turns on PostgreSQL).
pub(crate) type WriteTx = super::WriteTx<Db>;
/// One write statement outside a transaction.
pub(crate) type WriteOne = super::WriteOne<Db>;

/// Pushes `column = ANY($n::bigint[])`, `ids` bound as one array: one
/// statement text (prepared once per connection) and one parameter however
/// many ids there are, answered by index lookups. SQLite's twin reads a
/// JSON array.
pub(crate) fn push_id_in(q: &mut sqlx::QueryBuilder<Db>, column: &str, ids: &[DeliveryId]) {
    let ids: Vec<i64> = ids.iter().map(|id| id.get()).collect();
    q.push(column)
        .push(" = ANY(")
        .push_bind(ids)
        .push("::bigint[])");
}

/// Pushes a reservation's new deliveries as `SELECT … FROM unnest(…)`
/// for `INSERT INTO deliveries (subscriber_id, digest_date, status,
/// message_id, paper_count, more_count, created_at, updated_at,
/// claimed_by, lease_until)`: one array per column, so one statement text
/// and eight parameters however
/// many rows (a `VALUES` list binds eight per row, and each length is a
/// statement to parse and plan). SQLite's twin pushes `VALUES`.
pub(crate) fn push_delivery_rows(
    q: &mut sqlx::QueryBuilder<Db>,
    rows: &[super::NewReservation],
    date: &str,
    now: &str,
    hold: &super::Hold,
) {
    let subscribers: Vec<i64> = rows.iter().map(|r| r.subscriber_id.get()).collect();
    let message_ids: Vec<&str> = rows.iter().map(|r| r.message_id.as_str()).collect();
    let counts: Vec<i64> = rows.iter().map(|r| r.papers.len() as i64).collect();
    let more: Vec<i64> = rows.iter().map(|r| r.more_count).collect();
    q.push("SELECT s, ")
        .push_bind(date.to_string())
        .push(", 'pending', m, n, more, ")
        .push_bind(now.to_string())
        .push(", ")
        .push_bind(now.to_string())
        .push(", ")
        .push_bind(hold.owner.clone())
        .push(", ")
        .push_bind(super::ts(hold.until))
        .push(" FROM unnest(")
        .push_bind(subscribers)
        .push("::bigint[], ")
        .push_bind(message_ids)
        .push("::text[], ")
        .push_bind(counts)
        .push("::bigint[], ")
        .push_bind(more)
        .push("::bigint[]) AS r(s, m, n, more)");
}

/// Pushes ledger rows as `SELECT * FROM unnest(…)` for `INSERT INTO
/// sent_papers (subscriber_id, paper_id, delivery_id, position,
/// topic_position, reason)`: one array per column (see
/// `push_delivery_rows`). SQLite's twin pushes `VALUES`.
pub(crate) fn push_ledger_rows(q: &mut sqlx::QueryBuilder<Db>, rows: &[delivery_pages::LedgerRow]) {
    let subscribers: Vec<i64> = rows.iter().map(|r| r.subscriber_id.get()).collect();
    let papers: Vec<&str> = rows.iter().map(|r| r.paper.as_str()).collect();
    let deliveries: Vec<i64> = rows.iter().map(|r| r.delivery_id.get()).collect();
    let positions: Vec<i64> = rows.iter().map(|r| r.position).collect();
    let topics: Vec<i64> = rows.iter().map(|r| r.topic).collect();
    let reasons: Vec<Option<&str>> = rows.iter().map(|r| r.reason).collect();
    q.push("SELECT * FROM unnest(")
        .push_bind(subscribers)
        .push("::bigint[], ")
        .push_bind(papers)
        .push("::text[], ")
        .push_bind(deliveries)
        .push("::bigint[], ")
        .push_bind(positions)
        .push("::bigint[], ")
        .push_bind(topics)
        .push("::bigint[], ")
        .push_bind(reasons)
        .push("::text[])");
}

/// Pushes the rows of `claims` as a table `c(id, expected_status,
/// expected_attempts)` for
/// `UPDATE … FROM`: three arrays unnested together, one statement text
/// whatever the count. SQLite's twin reads a JSON array of rows.
pub(crate) fn push_claim_rows(q: &mut sqlx::QueryBuilder<Db>, claims: &[ClaimRequest]) {
    let ids: Vec<i64> = claims.iter().map(|c| c.id.get()).collect();
    let statuses: Vec<String> = claims.iter().map(|c| c.expected.as_str().into()).collect();
    let attempts: Vec<i64> = claims.iter().map(|c| c.attempts).collect();
    q.push("unnest(")
        .push_bind(ids)
        .push("::bigint[], ")
        .push_bind(statuses)
        .push("::text[], ")
        .push_bind(attempts)
        .push("::bigint[]) AS c(id, expected_status, expected_attempts)");
}

impl PgStore {
    /// Connects to the server at `url` without migrating. Every failure
    /// names `database.url` (its password replaced by `***`) and the
    /// server's reason: a wrong URL, a server that does not answer, a
    /// refused login or a missing database.
    /// `setting` is what the errors call the URL (`database.url`, or a
    /// command-line option).
    pub async fn connect(
        url: &str,
        max_connections: u32,
        setting: &'static str,
    ) -> anyhow::Result<PgStore> {
        Self::connect_with(url, max_connections, setting, super::SlowStatements::Warn).await
    }

    /// [`PgStore::connect`], logging slow statements or not.
    pub(crate) async fn connect_with(
        url: &str,
        max_connections: u32,
        setting: &'static str,
        slow: super::SlowStatements,
    ) -> anyhow::Result<PgStore> {
        let shown = super::redact_url(url);
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| {
                anyhow::anyhow!(
                    "{setting} {shown:?} is not a valid PostgreSQL URL: {}",
                    super::redact_in(&e.to_string(), url)
                )
            })?
            .application_name("paperboy");
        if slow == super::SlowStatements::Expected {
            options = options.disable_statement_logging();
        }
        // One connection first: the pool retries until its timeout and then
        // reports only that it timed out; this says why (refused, no such
        // database, authentication failed).
        let probe = sqlx::PgConnection::connect_with(&options)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{setting} {shown:?}: cannot connect: {}",
                    super::redact_in(&e.to_string(), url)
                )
            })?;
        probe.close().await.ok();
        // A connection back in the pool for less than a second is handed
        // out as it is; one idle for longer is checked first (a round trip)
        // and replaced if the server has gone. Checking every one cost a
        // round trip per statement on a busy daemon.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < CHECK_IDLE_AFTER {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "{setting} {shown:?}: cannot connect: {}",
                    super::redact_in(&e.to_string(), url)
                )
            })?;
        Ok(PgStore {
            pool,
            shown,
            setting,
        })
    }

    /// Applies pending schema migrations (sqlx holds an advisory lock
    /// meanwhile, so daemons starting together migrate once); refuses a
    /// database a newer paperboy migrated (see
    /// [`super::refuse_newer_schema`]).
    pub async fn run_migrations(&self) -> anyhow::Result<()> {
        let exists: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations')::text")
                .fetch_one(&self.pool)
                .await
                .context("reading the schema version")?;
        let applied: Option<i64> = if exists.is_some() {
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .context("reading the schema version")?
        } else {
            None
        };
        super::refuse_newer_schema(&MIGRATOR, applied)?;
        MIGRATOR
            .run(&self.pool)
            .await
            .map_err(|e| anyhow::anyhow!("applying database migrations: {e}"))?;
        Ok(())
    }

    /// Connects to an existing database without migrating it, for commands
    /// that must not change what they look at; `setting` is what the
    /// errors call the URL.
    pub async fn open_existing(
        url: &str,
        setting: &'static str,
        slow: super::SlowStatements,
    ) -> anyhow::Result<PgStore> {
        PgStore::connect_with(url, 2, setting, slow).await
    }

    /// `database.url` with its password hidden.
    pub fn shown_url(&self) -> &str {
        &self.shown
    }

    /// What messages call the URL: `database.url`, or a command-line option.
    pub fn setting(&self) -> &'static str {
        self.setting
    }

    /// The pool, for the store's own modules that span both engines.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn ping(&self) -> DbResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A write transaction (`BEGIN`, read committed). Writers of this
    /// process do not take turns, as SQLite's do: like those of other
    /// processes, they meet at the server's row locks, so one daemon's
    /// reservations, claims and `sent` marks are written at once.
    pub(crate) async fn begin_write(&self) -> DbResult<WriteTx> {
        Ok(super::WriteTx::new(self.pool.begin().await?, None))
    }

    /// A connection for one write statement (see [`super::WriteOne`]).
    pub(crate) async fn write_one(&self) -> DbResult<WriteOne> {
        Ok(super::WriteOne::new(self.pool.acquire().await?, None))
    }

    /// A backup of a PostgreSQL database is the server's business.
    pub async fn backup_into(
        &self,
        _dest: &std::path::Path,
    ) -> anyhow::Result<super::BackupReport> {
        bail!("database.url is a PostgreSQL database: back it up with pg_dump (deploy/README.md)")
    }
}

/// A fresh database on the test cluster for one test (see
/// [`super::test_cluster`]); it is left for the cluster's removal.
#[cfg(test)]
pub(crate) async fn test_store() -> (super::Store, super::TestDatabase) {
    let db = super::TestDatabase::create().await;
    let store = super::Store::open(&db.url, 4).await.expect("open store");
    (store, db)
}

/// A fresh database on the test cluster migrated up to `version` only (the
/// schema an older paperboy left), for tests of the migrations after it.
#[cfg(test)]
pub(crate) async fn test_store_at(version: i64) -> (super::Store, super::TestDatabase) {
    let db = super::TestDatabase::create_empty().await;
    let store = PgStore::connect(&db.url, 4, "database.url")
        .await
        .expect("open store");
    MIGRATOR
        .run_to(version, &store.pool)
        .await
        .expect("migrating to the older version");
    (super::Store::Postgres(store), db)
}

/// The pool under a test's store, for statements the store does not offer.
#[cfg(test)]
pub(crate) fn test_pool(store: &super::Store) -> &sqlx::Pool<Db> {
    match store {
        super::Store::Postgres(s) => &s.pool,
        _ => panic!("not a PostgreSQL store"),
    }
}

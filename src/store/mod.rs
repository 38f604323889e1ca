//! The store: the only module that contains SQL.
//!
//! [`Store`] is one boundary over two engines, chosen by `[database] url`:
//! SQLite (`sqlite://…`, the default: one file, WAL mode, busy timeout) or
//! PostgreSQL (`postgres://…`: a server several hosts can share). It is an
//! enum over two concrete stores, [`SqliteStore`] and [`PgStore`], and each
//! public method dispatches once to the backend (see `delegate!`), so
//! callers never see which engine they talk to. Not `sqlx::Any`: each
//! backend keeps its own driver, types and pool.
//!
//! Both backends are built from the same table-family files
//! (`subscribers.rs`, `deliveries.rs`, …): `sqlite.rs` and `postgres.rs`
//! each compile them against their own driver (`Db`), so every statement
//! has one text, in the SQL both engines accept (`$N` parameters,
//! `ON CONFLICT`, `RETURNING`, `IS DISTINCT FROM`), and the unit tests in
//! those files run once per backend. The few statements that must differ
//! branch on the backend's `POSTGRES` constant next to each other. The
//! values the store takes and returns are defined once, in `records.rs`.
//!
//! Migrations are per backend (`migrations/sqlite/`, `migrations/postgres/`),
//! embedded and applied by [`Store::open`] and `paperboy migrate`;
//! `tests` in this file check the two schemas stay equivalent.
//! Idempotency comes from constraints (`UNIQUE`, `ON CONFLICT`), never from
//! read-then-write checks. Callers get domain types back, not rows.

mod copy;
mod page_stakes;
mod postgres;
mod records;
mod sqlite;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};

pub use copy::CopyReport;
pub use page_stakes::PageStake;
pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;

use crate::domain::{
    DeliveryId, FetchedPaper, NewTopic, Paper, PaperId, Preferences, Subscriber, SubscriberEmail,
    SubscriberId, SubscriberStatus,
};
use crate::ranking::Mark;

/// Errors a caller branches on; everything else is `Other` with its cause.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Other(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type DbResult<T> = Result<T, DbError>;

/// The store over the engine `[database] url` names.
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The engines `[database] url` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine of a database URL, by its scheme.
    pub fn of_url(url: &str) -> anyhow::Result<Engine> {
        Self::of_setting(url, "database.url")
    }

    /// [`Engine::of_url`] for a URL given by `setting` (a config key or a
    /// command-line option), which its errors name.
    pub fn of_setting(url: &str, setting: &str) -> anyhow::Result<Engine> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            _ => anyhow::bail!(
                "{setting} {:?} must be a SQLite URL (sqlite://PATH) or a PostgreSQL URL \
                 (postgres://USER@HOST/DATABASE)",
                redact_url(url)
            ),
        }
    }
}

/// Whether a store's statements that run longer than a second are logged
/// as slow (sqlx's warning). A command that reads a whole database in bulk
/// (`db copy`'s one streaming `SELECT` per table, `backup`'s
/// `VACUUM INTO`) expects them to, and is not warned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlowStatements {
    Warn,
    Expected,
}

/// A write transaction, holding this process's turn to write on SQLite (see
/// `begin_write` in each backend). Derefs to the transaction.
pub(crate) struct WriteTx<DB: sqlx::Database> {
    tx: sqlx::Transaction<'static, DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    fn new(
        tx: sqlx::Transaction<'static, DB>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        WriteTx { tx, _turn: turn }
    }

    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// A connection for one write statement outside a transaction, holding
/// this process's turn to write on SQLite (see `write_one` in each backend). A single
/// statement is atomic on both engines (SQLite takes the write lock when a
/// writing statement starts, waiting out the busy timeout as `BEGIN
/// IMMEDIATE` does); leaving out `BEGIN` and `COMMIT` saves two round
/// trips. Derefs to the connection.
pub(crate) struct WriteOne<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<DB: sqlx::Database> WriteOne<DB> {
    fn new(
        conn: sqlx::pool::PoolConnection<DB>,
        turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Self {
        WriteOne { conn, _turn: turn }
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteOne<DB> {
    type Target = sqlx::pool::PoolConnection<DB>;
    fn deref(&self) -> &Self::Target {
        &self.conn
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteOne<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.conn
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = sqlx::Transaction<'static, DB>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Store {
    /// Opens the database at `url` (creating a SQLite file if needed) and
    /// applies pending migrations: `sqlite://path/to/file.db`,
    /// `sqlite:///absolute/path.db`, `sqlite::memory:` or
    /// `postgres://user[:password]@host[:port]/database[?options]`.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let store = Self::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating (for `paperboy migrate` itself).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        Self::connect_as(url, max_connections, "database.url").await
    }

    /// [`Store::connect`] to a URL given by `setting` (a config key or a
    /// command-line option such as `--to`), which its errors name.
    pub async fn connect_as(
        url: &str,
        max_connections: u32,
        setting: &'static str,
    ) -> anyhow::Result<Store> {
        Ok(match Engine::of_setting(url, setting)? {
            Engine::Sqlite => {
                Store::Sqlite(SqliteStore::connect(url, max_connections, setting).await?)
            }
            Engine::Postgres => {
                Store::Postgres(PgStore::connect(url, max_connections, setting).await?)
            }
        })
    }

    /// Opens an existing database without creating or migrating it, for
    /// commands that must not change what they look at.
    pub async fn open_existing(url: &str) -> anyhow::Result<Store> {
        Self::open_existing_as(url, "database.url", SlowStatements::Warn).await
    }

    /// [`Store::open_existing`] for a URL given by `setting` (a config key
    /// or a command-line option such as `--from`), which its errors name: a
    /// SQLite file that does not exist is refused, never created.
    pub async fn open_existing_as(
        url: &str,
        setting: &'static str,
        slow: SlowStatements,
    ) -> anyhow::Result<Store> {
        Ok(match Engine::of_setting(url, setting)? {
            Engine::Sqlite => Store::Sqlite(SqliteStore::open_existing(url, setting, slow).await?),
            Engine::Postgres => Store::Postgres(PgStore::open_existing(url, setting, slow).await?),
        })
    }

    /// The engine behind this store.
    pub fn engine(&self) -> Engine {
        match self {
            Store::Sqlite(_) => Engine::Sqlite,
            Store::Postgres(_) => Engine::Postgres,
        }
    }

    /// Whether this store's writers take turns: on SQLite every write
    /// transaction holds the database's one write lock until it commits,
    /// so a write started and then left unpolled (a claim or reservation
    /// whose future is parked while its caller awaits something else)
    /// keeps every other writer, the digest run's mark writer included,
    /// waiting. Callers that would overlap writes with each other (claim
    /// the next chunk while this one's marks are written, reserve the next
    /// page while this one is sent) do them in turn instead. PostgreSQL
    /// takes concurrent writes to different rows at once.
    pub fn writers_take_turns(&self) -> bool {
        match self {
            Store::Sqlite(_) => true,
            Store::Postgres(_) => false,
        }
    }

    /// Applies pending schema migrations, then brings stored addresses to
    /// their canonical form ([`Store::fold_addresses`]), which SQL alone
    /// cannot compute. Logs and returns what the fold changed. A database
    /// a newer paperboy migrated is refused before anything changes.
    pub async fn migrate(&self) -> anyhow::Result<AddressFold> {
        use anyhow::Context as _;
        match self {
            Store::Sqlite(s) => s.run_migrations().await?,
            Store::Postgres(s) => s
                .run_migrations()
                .await
                .with_context(|| format!("{} {:?}", s.setting(), s.shown_url()))?,
        }
        let fold = self
            .fold_addresses()
            .await
            .context("bringing stored addresses to their canonical form")?;
        if !fold.is_empty() {
            tracing::warn!(
                addresses.rewritten = fold.rewritten,
                addresses.merged = fold.merged.len(),
                addresses.refused = fold.refused,
                "stored addresses folded to their canonical form"
            );
        }
        Ok(fold)
    }

    /// Writes a consistent copy of the whole database to `dest` (SQLite; a
    /// PostgreSQL database is backed up with `pg_dump`).
    pub async fn backup_into(&self, dest: &std::path::Path) -> anyhow::Result<BackupReport> {
        match self {
            Store::Sqlite(s) => s.backup_into(dest).await,
            Store::Postgres(s) => s.backup_into(dest).await,
        }
    }

    /// Checks the database answers (for health checks).
    pub async fn ping(&self) -> DbResult<()> {
        match self {
            Store::Sqlite(s) => s.ping().await,
            Store::Postgres(s) => s.ping().await,
        }
    }

    pub async fn close(&self) {
        match self {
            Store::Sqlite(s) => s.close().await,
            Store::Postgres(s) => s.close().await,
        }
    }

    /// The SQLite pool under this store, for tests that inspect the file.
    ///
    /// # Panics
    /// On a PostgreSQL store.
    #[doc(hidden)]
    pub fn pool(&self) -> &sqlx::SqlitePool {
        match self {
            Store::Sqlite(s) => s.pool(),
            Store::Postgres(_) => {
                panic!("Store::pool is the SQLite pool; this store is PostgreSQL")
            }
        }
    }
}

/// Every query method, dispatched once to the backend that implements it
/// (the table-family files; the documentation is on the methods there).
macro_rules! delegate {
    ($(async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;)*) => {
        impl Store {
            $(
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Sqlite(s) => s.$name($($arg),*).await,
                        Store::Postgres(s) => s.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

delegate! {
    async fn fold_addresses(&self) -> DbResult<AddressFold>;
    async fn bounce_counts(&self, date: NaiveDate) -> DbResult<BounceCounts>;
    async fn hard_bounces(&self, subscriber_id: SubscriberId) -> DbResult<i64>;
    async fn reactivate(&self, email: &SubscriberEmail, now: DateTime<Utc>) -> DbResult<bool>;
    async fn delivery_owner(&self, id: DeliveryId) -> DbResult<Option<String>>;
    async fn lapsed_claims(&self, date: NaiveDate, now: DateTime<Utc>) -> DbResult<Vec<Delivery>>;
    async fn next_lease_end(&self, date: NaiveDate, me: &str, now: DateTime<Utc>) -> DbResult<Option<DateTime<Utc>>>;
    async fn already_sent(&self, subscriber_id: SubscriberId, candidates: &[&PaperId]) -> DbResult<HashSet<PaperId>>;
    async fn delivery_for(&self, subscriber_id: SubscriberId, date: NaiveDate) -> DbResult<Option<Delivery>>;
    async fn delivery_by_id(&self, id: DeliveryId) -> DbResult<Delivery>;
    async fn delivery_papers(&self, delivery_id: DeliveryId) -> DbResult<Vec<(PaperId, i64)>>;
    async fn unfinished_deliveries(&self, since: NaiveDate, now: DateTime<Utc>) -> DbResult<Vec<Delivery>>;
    async fn mark_deferred(&self, id: DeliveryId, code: Option<u16>, reason: &str, retry_at: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<()>;
    async fn mark_failed(&self, id: DeliveryId, code: Option<u16>, reply: &str, streak: Option<u32>, now: DateTime<Utc>) -> DbResult<bool>;
    async fn release_papers(&self, delivery_id: DeliveryId, papers: &[PaperId], more_count: i64, now: DateTime<Utc>) -> DbResult<()>;
    async fn delivery_counts(&self, date: NaiveDate) -> DbResult<Vec<(DeliveryStatus, i64)>>;
    async fn reserve_deliveries(&self, date: NaiveDate, batch: &[NewReservation], hold: &Hold, now: DateTime<Utc>) -> DbResult<Vec<BatchReservation>>;
    async fn claim_deliveries(&self, claims: &[ClaimRequest], owner: &str, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<Vec<bool>>;
    async fn renew_delivery_leases(&self, ids: &[DeliveryId], owner: &str, lease_until: DateTime<Utc>) -> DbResult<u64>;
    async fn already_sent_in_range(&self, first: SubscriberId, last: SubscriberId, papers: &[PaperId]) -> DbResult<HashMap<SubscriberId, HashSet<PaperId>>>;
    async fn deliveries_in_range(&self, date: NaiveDate, first: SubscriberId, last: SubscriberId) -> DbResult<HashMap<SubscriberId, Delivery>>;
    async fn mark_sent_many(&self, ids: &[DeliveryId], now: DateTime<Utc>) -> DbResult<()>;
    async fn defer_many(&self, ids: &[DeliveryId], owner: &str, reason: &str, retry_at: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<Vec<DeliveryId>>;
    async fn subscriber_id_by_email(&self, email: &SubscriberEmail) -> DbResult<SubscriberId>;
    async fn personal_data(&self, id: SubscriberId) -> DbResult<PersonalData>;
    async fn erase_subscriber(&self, id: SubscriberId, link_version: Option<i64>, now: DateTime<Utc>) -> DbResult<Erasure>;
    async fn inbound_target_of_delivery(&self, id: DeliveryId) -> DbResult<Option<InboundTarget>>;
    async fn inbound_target_of_message_id(&self, message_id: &str) -> DbResult<Option<InboundTarget>>;
    async fn inbound_target_of_address(&self, email: &SubscriberEmail) -> DbResult<Option<InboundTarget>>;
    async fn inbound_target_of_subscriber(&self, id: SubscriberId) -> DbResult<Option<InboundTarget>>;
    async fn subscriber_link_is_current(&self, id: SubscriberId, link_version: i64) -> DbResult<bool>;
    async fn record_inbound(&self, report: &NewInboundReport<'_>, effect: InboundEffect, now: DateTime<Utc>) -> DbResult<InboundAction>;
    async fn inbound_counts(&self, since: DateTime<Utc>) -> DbResult<InboundCounts>;
    async fn inbound_counts_per_day(&self, last_day: NaiveDate, days: u32) -> DbResult<Vec<DailyInbound>>;
    async fn mark_paper(&self, id: SubscriberId, link_version: i64, paper: &PaperId, mark: Mark, now: DateTime<Utc>, profile: &ProfileBuilder) -> DbResult<()>;
    async fn unmark_paper(&self, id: SubscriberId, link_version: i64, paper: &PaperId, now: DateTime<Utc>, profile: &ProfileBuilder) -> DbResult<()>;
    async fn marks_of(&self, id: SubscriberId) -> DbResult<Vec<MarkedPaper>>;
    async fn marks_and_switches(&self, id: SubscriberId) -> DbResult<(RankingSwitches, Vec<MarkedPaper>)>;
    async fn ranking_switches(&self, id: SubscriberId) -> DbResult<RankingSwitches>;
    async fn set_ranking_switches(&self, id: SubscriberId, link_version: i64, switches: RankingSwitches) -> DbResult<()>;
    async fn ranking_marks_in_range(&self, first: SubscriberId, last: SubscriberId) -> DbResult<HashMap<SubscriberId, RankingMarks>>;
    async fn marks_in_range(&self, first: SubscriberId, last: SubscriberId) -> DbResult<HashMap<SubscriberId, Vec<(PaperId, Mark)>>>;
    async fn unsubscribed_to_erase(&self, cutoffs: &RetentionCutoffs) -> DbResult<Vec<SubscriberId>>;
    async fn purge_unconfirmed(&self, before: DateTime<Utc>) -> DbResult<(u64, u64)>;
    async fn prune_deliveries(&self, before: NaiveDate) -> DbResult<(u64, u64, u64)>;
    async fn metrics_snapshot(&self, today: NaiveDate) -> DbResult<MetricsSnapshot>;
    async fn listing_generation(&self) -> DbResult<ListingGeneration>;
    async fn latest_announced_day(&self) -> DbResult<Option<NaiveDate>>;
    async fn announced_day_before(&self, d: NaiveDate) -> DbResult<Option<NaiveDate>>;
    async fn announced_day_after(&self, d: NaiveDate) -> DbResult<Option<NaiveDate>>;
    async fn listed_papers(&self, from: NaiveDate, to: NaiveDate) -> DbResult<PaperListing>;
    async fn listing_days(&self, from: NaiveDate, to: NaiveDate) -> DbResult<Vec<(NaiveDate, DayStamp)>>;
    async fn store_fetched(&self, source: &str, papers: &[FetchedPaper], now: DateTime<Utc>) -> DbResult<StoreReport>;
    async fn papers_between(&self, from: NaiveDate, to: NaiveDate) -> DbResult<Vec<Paper>>;
    async fn papers_by_id(&self, ids: &[PaperId]) -> DbResult<Vec<Paper>>;
    async fn store_looked_up(&self, paper: &Paper, now: DateTime<Utc>) -> DbResult<bool>;
    async fn paper_count(&self) -> DbResult<i64>;
    async fn validators(&self) -> DbResult<HashMap<String, (Option<String>, Option<String>)>>;
    async fn save_validator(&self, url: &str, etag: Option<&str>, last_modified: Option<&str>, now: DateTime<Utc>) -> DbResult<()>;
    async fn request_subscription(&self, email: &SubscriberEmail, topics: &[NewTopic], prefs: &Preferences, top_papers: bool, now: DateTime<Utc>) -> DbResult<SubscriptionRequest>;
    async fn pending_request(&self, id: SubscriberId) -> DbResult<Option<PendingRequest>>;
    async fn claim_link_mail(&self, id: SubscriberId, now: DateTime<Utc>, interval: Duration) -> DbResult<bool>;
    async fn link_mail_allowed_at(&self, id: SubscriberId, interval: Duration) -> DbResult<Option<DateTime<Utc>>>;
    async fn confirm_subscriber(&self, id: SubscriberId, link_version: i64, shown: Option<i64>, now: DateTime<Utc>) -> DbResult<ConfirmOutcome>;
    async fn unsubscribe(&self, id: SubscriberId, link_version: i64, now: DateTime<Utc>) -> DbResult<()>;
    async fn preferences(&self, id: SubscriberId) -> DbResult<Preferences>;
    async fn subscriber_settings(&self, id: SubscriberId) -> DbResult<(Subscriber, Preferences)>;
    async fn save_preferences(&self, id: SubscriberId, link_version: i64, topics: &[NewTopic], prefs: &Preferences, now: DateTime<Utc>) -> DbResult<()>;
    async fn revoke_links(&self, id: SubscriberId, link_version: i64, now: DateTime<Utc>) -> DbResult<i64>;
    async fn not_due_on(&self, date: NaiveDate, first: SubscriberId, last: SubscriberId) -> DbResult<std::collections::HashSet<SubscriberId>>;
    async fn choices_in_range(&self, first: SubscriberId, last: SubscriberId) -> DbResult<std::collections::HashMap<SubscriberId, Choices>>;
    async fn schedules_between(&self, first: SubscriberId, last: SubscriberId) -> DbResult<std::collections::HashMap<SubscriberId, Preferences>>;
    async fn schedules_page(&self, after: SubscriberId, limit: i64) -> DbResult<Vec<(SubscriberId, Preferences)>>;
    async fn timezones_in_use(&self) -> DbResult<Vec<chrono_tz::Tz>>;
    async fn start_run(&self, kind: RunKind, date: NaiveDate, now: DateTime<Utc>) -> DbResult<i64>;
    async fn finish_run(&self, id: i64, outcome: &str, summary: &str, now: DateTime<Utc>) -> DbResult<()>;
    async fn has_run(&self, kind: RunKind, date: NaiveDate) -> DbResult<bool>;
    async fn last_run(&self, kind: RunKind) -> DbResult<Option<Run>>;
    async fn upsert_active(&self, email: &SubscriberEmail, topics: &[NewTopic], now: DateTime<Utc>) -> DbResult<UpsertOutcome>;
    async fn import_active(&self, batch: &ImportBatch, now: DateTime<Utc>, profile: &ImportProfileBuilder) -> DbResult<Vec<UpsertOutcome>>;
    async fn remove_subscriber(&self, email: &SubscriberEmail) -> DbResult<()>;
    async fn subscriber_by_email(&self, email: &SubscriberEmail) -> DbResult<Subscriber>;
    async fn subscriber_by_id(&self, id: SubscriberId) -> DbResult<Subscriber>;
    async fn subscribers_page(&self, status: Option<SubscriberStatus>, after_id: SubscriberId, limit: i64) -> DbResult<Vec<Subscriber>>;
    async fn active_subscriber_ids_page(&self, after_id: SubscriberId, limit: i64) -> DbResult<Vec<SubscriberId>>;
    async fn subscriber_counts(&self) -> DbResult<Vec<(SubscriberStatus, i64)>>;
    async fn digest_covered_until(&self) -> DbResult<Option<DateTime<Utc>>>;
    async fn set_digest_covered_until(&self, until: DateTime<Utc>) -> DbResult<()>;
    async fn top_papers(&self, id: SubscriberId) -> DbResult<bool>;
    async fn set_top_papers(&self, id: SubscriberId, link_version: i64, on: bool) -> DbResult<()>;
    async fn take_budget(&self, specs: &[BucketSpec], want: u32, now: DateTime<Utc>) -> DbResult<(u32, std::time::Duration)>;
    async fn take_budgets(&self, wants: &[(&[BucketSpec], u32)], now: DateTime<Utc>) -> DbResult<Vec<(u32, std::time::Duration)>>;
    async fn reserve_pace(&self, spec: &BucketSpec, n: u32, now: DateTime<Utc>) -> DbResult<Vec<std::time::Duration>>;
    async fn count_request(&self, scope: &str, window_start: DateTime<Utc>, max: u32) -> DbResult<bool>;
    async fn take_job_slot(&self, job: &str, slot: DateTime<Utc>, owner: &str, lease_until: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<SlotClaim>;
    async fn renew_job_slot(&self, job: &str, slot: DateTime<Utc>, owner: &str, lease_until: DateTime<Utc>) -> DbResult<bool>;
    async fn finish_job_slot(&self, job: &str, slot: DateTime<Utc>, now: DateTime<Utc>) -> DbResult<()>;
    async fn top_papers_among(&self, ids: &[SubscriberId]) -> DbResult<HashSet<SubscriberId>>;
    async fn delivery_reasons(&self, delivery_id: DeliveryId) -> DbResult<HashMap<PaperId, String>>;
    async fn paper_vectors(&self, ids: &[PaperId]) -> DbResult<HashMap<PaperId, Vec<u8>>>;
    async fn put_paper_vectors(&self, vectors: &[(PaperId, Vec<u8>)]) -> DbResult<()>;
    async fn papers_without_vector(&self, after: &str, limit: i64) -> DbResult<Vec<Paper>>;
    async fn first_days(&self, ids: &[PaperId]) -> DbResult<HashMap<PaperId, NaiveDate>>;
    async fn papers_first_announced(&self, d: NaiveDate) -> DbResult<Vec<Paper>>;
    async fn days_without_df(&self, from: NaiveDate, to: NaiveDate) -> DbResult<Vec<NaiveDate>>;
    async fn replace_df_day(&self, d: NaiveDate, papers: u32, blob: &[u8], now: DateTime<Utc>) -> DbResult<(Option<DfDay>, i64)>;
    async fn df_day_revisions(&self, from: NaiveDate, to: NaiveDate) -> DbResult<Vec<(NaiveDate, i64)>>;
    async fn df_days(&self, days: &[NaiveDate]) -> DbResult<Vec<DfDay>>;
    async fn prune_df_days(&self, before: NaiveDate) -> DbResult<u64>;
    async fn ranking_profiles_in_range(&self, first: SubscriberId, last: SubscriberId, built_since: DateTime<Utc>) -> DbResult<HashMap<SubscriberId, Vec<u8>>>;
    async fn put_ranking_profile(&self, id: SubscriberId, profile: Option<&[u8]>, now: DateTime<Utc>) -> DbResult<()>;
    async fn marked_without_vector(&self, id: SubscriberId) -> DbResult<Vec<PaperId>>;
}

/// Refuses a database whose schema is newer than this build's migrations
/// (`applied` is the highest version the database records): a downgraded
/// binary must not run, or half-migrate, a schema it does not know.
fn refuse_newer_schema(
    migrator: &sqlx::migrate::Migrator,
    applied: Option<i64>,
) -> anyhow::Result<()> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match applied {
        Some(applied) if applied > known => anyhow::bail!(
            "database.url: the database schema is at version {applied}, newer than this \
             paperboy knows (up to {known}); run the paperboy that migrated it, or a newer one"
        ),
        _ => Ok(()),
    }
}

/// `url` with its password (if any) replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(_) => url.to_string(),
        // Unparsable: keep the scheme and host part only after the last '@'.
        Err(_) => match url.rsplit_once('@') {
            Some((_, host)) => {
                let scheme = url.split("://").next().unwrap_or("");
                format!("{scheme}://***@{host}")
            }
            None => url.to_string(),
        },
    }
}

/// `message` with the password of `url` (raw and percent-decoded) replaced
/// by `***`, for errors that may quote what they were given.
pub(crate) fn redact_in(message: &str, url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return message.to_string();
    };
    let Some(password) = parsed.password().filter(|p| !p.is_empty()) else {
        return message.to_string();
    };
    let decoded = url::form_urlencoded::parse(format!("p={password}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    let mut out = message.replace(password, "***");
    if !decoded.is_empty() {
        out = out.replace(&decoded, "***");
    }
    out
}

/// Appends `(item, item, …)` with every item bound: the list of an `IN`.
pub(crate) fn push_list<DB, T>(q: &mut sqlx::QueryBuilder<DB>, items: impl IntoIterator<Item = T>)
where
    DB: sqlx::Database,
    T: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    q.push("(");
    let mut list = q.separated(", ");
    for item in items {
        list.push_bind(item);
    }
    list.push_unseparated(")");
}

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub(crate) fn parse_ts(s: &str) -> DbResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| DbError::Corrupt(format!("bad timestamp {s:?}: {e}")))
}

pub(crate) fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_day(s: &str) -> DbResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|e| DbError::Corrupt(format!("bad date {s:?}: {e}")))
}

/// An address bound as a statement parameter: text on SQLite (where the
/// column's `COLLATE NOCASE` compares), `citext` on PostgreSQL (a `text`
/// parameter would turn `email = $1` into a case-sensitive text
/// comparison). Either way `email = $1` ignores ASCII case, as the unique
/// key does.
pub(crate) struct Address<'a>(pub(crate) &'a str);

impl sqlx::Type<sqlx::Sqlite> for Address<'_> {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <str as sqlx::Type<sqlx::Sqlite>>::type_info()
    }
}

impl sqlx::Encode<'_, sqlx::Sqlite> for Address<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Sqlite as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Sqlite>>::encode_by_ref(&self.0, buf)
    }
}

impl sqlx::Type<sqlx::Postgres> for Address<'_> {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_name("citext")
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for Address<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Postgres as sqlx::Database>::ArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// The typed ids are integer columns (`INTEGER` / `BIGINT`): bound and read
/// as `i64` on either engine.
macro_rules! integer_column {
    ($ty:ty) => {
        impl<DB: sqlx::Database> sqlx::Type<DB> for $ty
        where
            i64: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <i64 as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <i64 as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $ty
        where
            i64: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <i64 as sqlx::Encode<'q, DB>>::encode_by_ref(&self.get(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $ty
        where
            i64: sqlx::Decode<'r, DB>,
        {
            fn decode(
                value: <DB as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                <i64 as sqlx::Decode<'r, DB>>::decode(value).map(<$ty>::new)
            }
        }
    };
}

integer_column!(crate::domain::SubscriberId);
integer_column!(crate::domain::DeliveryId);

/// A fresh SQLite store for the unit tests of the layers above the store
/// (the store's own tests run on both backends).
#[cfg(test)]
pub(crate) async fn test_store() -> (Store, tempfile::TempDir) {
    sqlite::test_store().await
}

/// A fresh PostgreSQL store on the test cluster, for the tests of the
/// layers above the store that must hold on both engines.
#[cfg(test)]
pub(crate) async fn test_postgres_store() -> (Store, TestDatabase) {
    postgres::test_store().await
}

/// One digest at a time through the send protocol's batch path (a batch of
/// one), for the store's tests: the path the digest run takes is the one
/// they exercise.
#[cfg(test)]
pub(crate) trait OneDigest {
    async fn reserve_delivery(
        &self,
        subscriber_id: SubscriberId,
        date: NaiveDate,
        message_id: &str,
        papers: &[(PaperId, i64)],
        more_count: i64,
        now: DateTime<Utc>,
    ) -> DbResult<Option<Reservation>>;
    async fn claim_delivery(
        &self,
        id: DeliveryId,
        expected: DeliveryStatus,
        attempts: i64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool>;
    async fn mark_sending(&self, id: DeliveryId, now: DateTime<Utc>) -> DbResult<()>;
    async fn mark_sent(&self, id: DeliveryId, now: DateTime<Utc>) -> DbResult<()>;
}

/// An active subscriber with address `email` and one topic, for the
/// store's tests.
#[cfg(test)]
pub(crate) async fn test_subscriber(store: &Store, email: &str) -> SubscriberId {
    let e = SubscriberEmail::parse(email).unwrap();
    let t = NewTopic {
        name: "q".into(),
        query: "q".into(),
    };
    store
        .upsert_active(&e, &[t], Utc::now())
        .await
        .unwrap()
        .id()
}

/// The hold the store's tests reserve under: a process of their own, for
/// a minute.
#[cfg(test)]
pub(crate) fn test_hold() -> Hold {
    Hold {
        owner: "test:1:0".into(),
        until: Utc::now() + chrono::Duration::minutes(1),
    }
}

/// A hold whose lease passed an hour ago: digests reserved by a process
/// that died before claiming them, which any process may claim.
#[cfg(test)]
pub(crate) fn lapsed_hold() -> Hold {
    Hold {
        owner: "gone:9:0".into(),
        until: Utc::now() - chrono::Duration::hours(1),
    }
}

#[cfg(test)]
impl OneDigest for Store {
    async fn reserve_delivery(
        &self,
        subscriber_id: SubscriberId,
        date: NaiveDate,
        message_id: &str,
        papers: &[(PaperId, i64)],
        more_count: i64,
        now: DateTime<Utc>,
    ) -> DbResult<Option<Reservation>> {
        let item = NewReservation {
            subscriber_id,
            message_id: message_id.to_string(),
            papers: papers.to_vec(),
            reasons: Vec::new(),
            more_count,
        };
        Ok(
            match self
                .reserve_deliveries(date, &[item], &test_hold(), now)
                .await?
                .pop()
            {
                Some(BatchReservation::New { delivery, .. }) => Some(Reservation::New(*delivery)),
                Some(BatchReservation::Existing) => Some(Reservation::Existing(
                    self.delivery_for(subscriber_id, date)
                        .await?
                        .ok_or(DbError::NotFound)?,
                )),
                Some(BatchReservation::Nothing) | None => None,
            },
        )
    }

    async fn claim_delivery(
        &self,
        id: DeliveryId,
        expected: DeliveryStatus,
        attempts: i64,
        owner: &str,
        now: DateTime<Utc>,
    ) -> DbResult<bool> {
        let claim = ClaimRequest {
            id,
            expected,
            attempts,
        };
        let lease_until = now + Duration::minutes(1);
        Ok(self
            .claim_deliveries(&[claim], owner, lease_until, now)
            .await?[0])
    }

    async fn mark_sending(&self, id: DeliveryId, now: DateTime<Utc>) -> DbResult<()> {
        let d = self.delivery_by_id(id).await?;
        // The process that reserved it (`test_hold`) sends it.
        self.claim_delivery(id, d.status, d.attempts, &test_hold().owner, now)
            .await?;
        Ok(())
    }

    async fn mark_sent(&self, id: DeliveryId, now: DateTime<Utc>) -> DbResult<()> {
        self.mark_sent_many(&[id], now).await
    }
}

/// A database of its own on the throwaway PostgreSQL cluster the test
/// suite starts (`scripts/pg-test`, whose URL `PAPERBOY_TEST_POSTGRES`
/// names): tests run in parallel, each on a fresh database. They are left
/// for the cluster's removal at the end of the run.
#[cfg(test)]
pub(crate) struct TestDatabase {
    pub(crate) url: String,
}

#[cfg(test)]
impl TestDatabase {
    /// A fresh database, already migrated (see [`create_test_database`]).
    ///
    /// # Panics
    /// When `PAPERBOY_TEST_POSTGRES` is not set or the server refuses: the
    /// PostgreSQL tests fail, they are never skipped.
    pub(crate) async fn create() -> TestDatabase {
        let admin = Self::admin();
        let url = create_test_database(&admin, "t")
            .await
            .unwrap_or_else(|e| panic!("creating a test database on {admin}: {e:#}"));
        TestDatabase { url }
    }

    /// A fresh database with no schema at all, for tests that migrate it
    /// step by step.
    pub(crate) async fn create_empty() -> TestDatabase {
        let admin = Self::admin();
        let url = create_empty_test_database(&admin, "e")
            .await
            .unwrap_or_else(|e| panic!("creating an empty test database on {admin}: {e:#}"));
        TestDatabase { url }
    }

    /// The test cluster's URL (`PAPERBOY_TEST_POSTGRES`).
    ///
    /// # Panics
    /// When it is not set.
    fn admin() -> String {
        std::env::var("PAPERBOY_TEST_POSTGRES").unwrap_or_else(|_| {
            panic!(
                "PAPERBOY_TEST_POSTGRES is not set: the PostgreSQL tests need the cluster \
                 `bash scripts/test` starts (by hand: d=$(bash scripts/pg-test start) && \
                 source $d/env)"
            )
        })
    }
}

/// Creates a database named `PREFIX…` (unique) on the PostgreSQL server
/// `admin` connects to, already migrated to this build's schema, and
/// returns its URL: for test suites, which create hundreds.
///
/// Migrating takes most of the time a fresh database costs, so the schema
/// is migrated once per cluster into a template database named after this
/// build's migrations (their versions and checksums), and each database is
/// `CREATE DATABASE … TEMPLATE` of it. Test binaries running at the same
/// time meet at an advisory lock: one builds the template (under another
/// name, renamed when complete, so a half-built one is never copied), the
/// others wait and use it.
#[doc(hidden)]
pub async fn create_test_database(admin: &str, prefix: &str) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use sqlx::Connection as _;
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

    let with_path = |name: &str| -> anyhow::Result<String> {
        let mut url = url::Url::parse(admin).context("the admin URL")?;
        url.set_path(name);
        Ok(url.to_string())
    };
    let template = TEMPLATE
        .get_or_try_init(|| async {
            let name = format!("pbtemplate_{:016x}", postgres::migrations_fingerprint());
            let mut conn = sqlx::PgConnection::connect(admin).await?;
            // One key for every paperboy test template on the cluster.
            sqlx::query("SELECT pg_advisory_lock(7161626570707474)")
                .execute(&mut conn)
                .await?;
            let exists: bool =
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(&name)
                    .fetch_one(&mut conn)
                    .await?;
            if !exists {
                let building = format!("{name}_building");
                for sql in [
                    format!("DROP DATABASE IF EXISTS {building}"),
                    format!("CREATE DATABASE {building}"),
                ] {
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await?;
                }
                let store = Store::open(&with_path(&building)?, 1)
                    .await
                    .context("migrating the template database")?;
                store.close().await;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "ALTER DATABASE {building} RENAME TO {name}"
                )))
                .execute(&mut conn)
                .await?;
            }
            conn.close().await.ok();
            anyhow::Ok(name)
        })
        .await?;
    create_database(admin, prefix, Some(template)).await
}

/// Creates an empty database named `PREFIX…` (unique) on the PostgreSQL
/// server `admin` connects to, with no schema, and returns its URL: for
/// tests of what migrating does.
#[doc(hidden)]
pub async fn create_empty_test_database(admin: &str, prefix: &str) -> anyhow::Result<String> {
    create_database(admin, prefix, None).await
}

/// Creates a database named `PREFIX…` (unique), a copy of `template` if
/// given, and returns its URL.
async fn create_database(
    admin: &str,
    prefix: &str,
    template: Option<&str>,
) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use sqlx::Connection as _;
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "{prefix}{}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Utc::now().timestamp_subsec_nanos()
    );
    let sql = match template {
        Some(template) => format!("CREATE DATABASE {name} TEMPLATE {template}"),
        None => format!("CREATE DATABASE {name}"),
    };
    let mut conn = sqlx::PgConnection::connect(admin).await?;
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .with_context(|| format!("creating the database {name}"))?;
    conn.close().await.ok();
    let mut url = url::Url::parse(admin).context("the admin URL")?;
    url.set_path(&name);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use sqlx::Row as _;

    /// Per table: its columns (name -> (type family, nullable)), its
    /// primary key, its unique keys, its foreign keys (column, parent
    /// table, action on delete) and the names of its triggers.
    #[derive(Debug, Default, PartialEq, Eq)]
    struct Table {
        columns: BTreeMap<String, (String, bool)>,
        primary_key: Vec<String>,
        unique: BTreeSet<Vec<String>>,
        foreign_keys: BTreeSet<(String, String, String)>,
        triggers: BTreeSet<String>,
    }

    fn family(declared: &str) -> String {
        match declared.to_ascii_lowercase().as_str() {
            "integer" | "bigint" => "integer".into(),
            "text" | "citext" | "user-defined" => "text".into(),
            "blob" | "bytea" => "blob".into(),
            other => other.into(),
        }
    }

    async fn sqlite_schema(pool: &sqlx::SqlitePool) -> BTreeMap<String, Table> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type = 'table'
             AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
        )
        .fetch_all(pool)
        .await
        .unwrap();
        let mut schema = BTreeMap::new();
        for name in names {
            let mut table = Table::default();
            let mut pk: Vec<(i64, String)> = Vec::new();
            for c in sqlx::query("SELECT name, type, \"notnull\", pk FROM pragma_table_info($1)")
                .bind(&name)
                .fetch_all(pool)
                .await
                .unwrap()
            {
                let col: String = c.get("name");
                let in_pk: i64 = c.get("pk");
                let not_null = c.get::<i64, _>("notnull") != 0 || in_pk > 0;
                table
                    .columns
                    .insert(col.clone(), (family(c.get("type")), !not_null));
                if in_pk > 0 {
                    pk.push((in_pk, col));
                }
            }
            pk.sort();
            table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
            for index in sqlx::query(
                "SELECT name FROM pragma_index_list($1) WHERE \"unique\" = 1 AND origin = 'u'",
            )
            .bind(&name)
            .fetch_all(pool)
            .await
            .unwrap()
            {
                let cols: Vec<String> =
                    sqlx::query_scalar("SELECT name FROM pragma_index_info($1) ORDER BY seqno")
                        .bind(index.get::<String, _>("name"))
                        .fetch_all(pool)
                        .await
                        .unwrap();
                table.unique.insert(cols);
            }
            for fk in sqlx::query(
                "SELECT \"from\", \"table\", on_delete FROM pragma_foreign_key_list($1)",
            )
            .bind(&name)
            .fetch_all(pool)
            .await
            .unwrap()
            {
                table.foreign_keys.insert((fk.get(0), fk.get(1), fk.get(2)));
            }
            table.triggers = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1",
            )
            .bind(&name)
            .fetch_all(pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
            schema.insert(name, table);
        }
        schema
    }

    async fn postgres_schema(pool: &sqlx::PgPool) -> BTreeMap<String, Table> {
        let mut schema: BTreeMap<String, Table> = BTreeMap::new();
        for c in sqlx::query(
            "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty,
                    is_nullable = 'YES' AS nullable
             FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        {
            schema
                .entry(c.get("t"))
                .or_default()
                .columns
                .insert(c.get("c"), (family(c.get("ty")), c.get("nullable")));
        }
        for k in sqlx::query(
            "SELECT tc.table_name::text AS t, tc.constraint_type::text AS kind,
                    array_agg(k.column_name::text ORDER BY k.ordinal_position) AS cols
             FROM information_schema.table_constraints tc
             JOIN information_schema.key_column_usage k
               ON k.constraint_name = tc.constraint_name AND k.table_schema = tc.table_schema
             WHERE tc.table_schema = 'public' AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE')
               AND tc.table_name <> '_sqlx_migrations'
             GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        {
            let table = schema.entry(k.get("t")).or_default();
            let cols: Vec<String> = k.get("cols");
            if k.get::<String, _>("kind") == "PRIMARY KEY" {
                table.primary_key = cols;
            } else {
                table.unique.insert(cols);
            }
        }
        for fk in sqlx::query(
            "SELECT c.conrelid::regclass::text AS t, a.attname::text AS col,
                    c.confrelid::regclass::text AS parent,
                    CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL'
                        WHEN 'd' THEN 'SET DEFAULT' WHEN 'r' THEN 'RESTRICT'
                        ELSE 'NO ACTION' END AS on_delete
             FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
             WHERE c.contype = 'f' AND n.nspname = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        {
            schema.entry(fk.get("t")).or_default().foreign_keys.insert((
                fk.get("col"),
                fk.get("parent"),
                fk.get("on_delete"),
            ));
        }
        for t in sqlx::query(
            "SELECT t.tgrelid::regclass::text AS t, t.tgname::text AS name
             FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE NOT t.tgisinternal AND n.nspname = 'public'",
        )
        .fetch_all(pool)
        .await
        .unwrap()
        {
            schema
                .entry(t.get("t"))
                .or_default()
                .triggers
                .insert(t.get("name"));
        }
        schema
    }

    #[tokio::test]
    async fn both_backends_migrate_to_the_same_tables_columns_keys_and_triggers() {
        let (sqlite, _dir) = super::sqlite::test_store().await;
        let (pg, _db) = super::postgres::test_store().await;
        let lite = sqlite_schema(super::sqlite::test_pool(&sqlite)).await;
        let mut post = postgres_schema(super::postgres::test_pool(&pg)).await;
        // SQLite's implicit rowid, spelled out on PostgreSQL.
        let seq = post
            .get_mut("paper_sightings")
            .and_then(|t| t.columns.remove("seq"));
        assert_eq!(seq, Some(("integer".to_string(), false)));
        assert_eq!(
            lite.keys().collect::<Vec<_>>(),
            post.keys().collect::<Vec<_>>(),
            "the same tables"
        );
        for (name, table) in &lite {
            assert_eq!(table, &post[name], "table {name}: SQLite vs PostgreSQL");
        }
        assert!(lite.len() >= 11, "{:?}", lite.keys());
        // The ledger's parents are kept by a trigger, not checked per row.
        assert!(lite["sent_papers"].foreign_keys.is_empty());
        assert!(lite["deliveries"]
            .triggers
            .contains("deliveries_delete_ledger"));
    }

    /// Whether a write waits while another write transaction is open on
    /// other rows: the turn-taking [`super::Store::writers_take_turns`]
    /// names.
    async fn a_write_waits_for_an_open_one(store: &super::Store) -> bool {
        let ada = super::test_subscriber(store, "ada@example.org").await;
        let other_write = || async {
            super::test_subscriber(store, "bob@example.org").await;
        };
        let wait = std::time::Duration::from_millis(500);
        // One backend's write transaction on ada's row, open while the
        // other write is tried.
        macro_rules! while_open {
            ($backend:expr) => {{
                let mut open = $backend.begin_write().await.unwrap();
                sqlx::query("UPDATE subscribers SET hard_bounces = 1 WHERE id = $1")
                    .bind(ada)
                    .execute(&mut **open)
                    .await
                    .unwrap();
                let waited = tokio::time::timeout(wait, other_write()).await.is_err();
                open.commit().await.unwrap();
                waited
            }};
        }
        match store {
            super::Store::Sqlite(s) => while_open!(s),
            super::Store::Postgres(s) => while_open!(s),
        }
    }

    #[tokio::test]
    async fn writers_take_turns_on_sqlite_and_write_at_once_on_postgres() {
        let (sqlite, _dir) = super::sqlite::test_store().await;
        assert!(sqlite.writers_take_turns());
        assert!(a_write_waits_for_an_open_one(&sqlite).await);
        let (pg, _db) = super::postgres::test_store().await;
        assert!(!pg.writers_take_turns());
        assert!(!a_write_waits_for_an_open_one(&pg).await);
    }

    #[test]
    fn passwords_never_appear_in_a_shown_url() {
        let url = "postgres://pb:s%23cret@db.example:5432/paperboy";
        let shown = super::redact_url(url);
        assert_eq!(shown, "postgres://pb:***@db.example:5432/paperboy");
        assert_eq!(
            super::redact_in("failed for pb:s#cret and s%23cret", url),
            "failed for pb:*** and ***"
        );
        assert_eq!(
            super::redact_url("sqlite:///var/lib/p.db"),
            "sqlite:///var/lib/p.db"
        );
        let e = super::Engine::of_url("mysql://u:hunter2@h/db").unwrap_err();
        assert!(e.to_string().contains("database.url"), "{e}");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}

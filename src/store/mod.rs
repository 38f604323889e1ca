//! The SQLite store: the only module that contains SQL.
//!
//! One [`Store`] wraps a connection pool opened in WAL mode with a busy
//! timeout, so the daemon and a hand-run CLI command can share the file.
//! Migrations in `migrations/` are embedded and applied by [`Store::open`].
//! Idempotency comes from constraints (`UNIQUE`, `ON CONFLICT`), never from
//! read-then-write checks. Callers get domain types back, not rows.

mod addresses;
mod bounces;
mod claims;
mod deliveries;
mod delivery_pages;
mod erasure;
mod inbound;
mod maintenance;
mod marks;
mod metrics;
mod paper_listing;
mod papers;
mod preferences;
mod retention;
mod runs;
mod subscribers;
mod ticks;
mod top_papers;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use addresses::AddressFold;
pub use bounces::{BounceCounts, BounceKind};
pub use deliveries::{Delivery, DeliveryStatus, Reservation};
pub use delivery_pages::{BatchReservation, ClaimRequest, NewReservation};
pub use erasure::{Erasure, OnErase, PersonalData, PersonalTable, PERSONAL_TABLES};
pub use inbound::{InboundAction, InboundCounts, InboundEffect, InboundTarget, NewInboundReport};
pub use maintenance::BackupReport;
pub use marks::{MarkedPaper, RankingMarks, RankingSwitches};
pub use metrics::MetricsSnapshot;
pub use paper_listing::{ListedPaper, ListingGeneration, PaperListing};
pub use papers::StoreReport;
pub use preferences::{ConfirmOutcome, PendingRequest, SubscriptionRequest};
pub use retention::{RetentionCutoffs, RetentionReport};
pub use runs::{Run, RunKind};
pub use subscribers::UpsertOutcome;

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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// This process's turn to write (see [`Store::begin_write`]).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
}

/// A write transaction that holds this process's turn to write: see
/// [`Store::begin_write`]. Derefs to the transaction.
pub(crate) struct WriteTx {
    tx: sqlx::Transaction<'static, sqlx::Sqlite>,
    _turn: tokio::sync::OwnedMutexGuard<()>,
}

impl WriteTx {
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }

    pub(crate) async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = sqlx::Transaction<'static, sqlx::Sqlite>;
    fn deref(&self) -> &Self::Target {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.tx
    }
}

impl Store {
    /// Opens (creating if needed) the database at `url` and applies pending
    /// migrations. `url` is a sqlx SQLite URL: `sqlite://path/to/file.db`,
    /// `sqlite:///absolute/path.db` or `sqlite::memory:`.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        let store = Self::connect(url, max_connections).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens the database without migrating (for `paperboy migrate` itself).
    pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<Store> {
        use anyhow::Context as _;
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("database.url {url:?} is not a valid SQLite URL"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(30));
        if let Some(parent) = options.get_filename().parent() {
            if !parent.as_os_str().is_empty() && !parent.exists() {
                std::fs::create_dir_all(parent).with_context(|| {
                    format!("creating the database directory {}", parent.display())
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(options)
            .await
            .with_context(|| format!("opening the database {url:?}"))?;
        Ok(Store {
            pool,
            writer: Default::default(),
        })
    }

    /// Applies pending schema migrations, then brings stored addresses to
    /// their canonical form ([`Store::fold_addresses`]), which SQL alone
    /// cannot compute. Logs and returns what the fold changed.
    pub async fn migrate(&self) -> anyhow::Result<AddressFold> {
        use anyhow::Context as _;
        MIGRATOR
            .run(&self.pool)
            .await
            .context("applying database migrations")?;
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

    /// Checks the database answers (for health checks).
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
        Ok(WriteTx {
            tx: self.pool.begin_with("BEGIN IMMEDIATE").await?,
            _turn: turn,
        })
    }
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

#[cfg(test)]
pub(crate) async fn test_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    (Store::open(&url, 4).await.expect("open store"), dir)
}

/// The typed ids are integer columns: bound and read as `i64`.
macro_rules! integer_column {
    ($ty:ty) => {
        impl sqlx::Type<sqlx::Sqlite> for $ty {
            fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
                <i64 as sqlx::Type<sqlx::Sqlite>>::type_info()
            }

            fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
                <i64 as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Sqlite> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<sqlx::sqlite::SqliteArgumentValue<'q>>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <i64 as sqlx::Encode<'q, sqlx::Sqlite>>::encode_by_ref(&self.get(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for $ty {
            fn decode(
                value: sqlx::sqlite::SqliteValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                <i64 as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value).map(<$ty>::new)
            }
        }
    };
}

integer_column!(crate::domain::SubscriberId);
integer_column!(crate::domain::DeliveryId);

//! The database a test's paperboy uses: a SQLite file in the test's
//! directory, or a fresh database on the throwaway PostgreSQL cluster that
//! `scripts/test` starts (`scripts/pg-test`; its URL in
//! `PAPERBOY_TEST_POSTGRES`). Also statements a test runs itself to set a
//! scene (move the papers' day to today), on either engine.

use sqlx::Connection as _;

/// The test cluster's URL.
///
/// # Panics
/// When `PAPERBOY_TEST_POSTGRES` is not set: a test on PostgreSQL fails, it
/// is never skipped.
fn test_cluster() -> String {
    std::env::var("PAPERBOY_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "PAPERBOY_TEST_POSTGRES is not set: the PostgreSQL tests need the cluster \
             `bash scripts/test` starts (by hand: d=$(bash scripts/pg-test start) && source $d/env)"
        )
    })
}

/// Creates a database of its own on the test cluster, already migrated to
/// this build's schema, and returns its URL: a copy of the template
/// database the store's tests build once per cluster (see
/// `paperboy::store::create_test_database`), which is much quicker than
/// migrating each one.
///
/// # Panics
/// When `PAPERBOY_TEST_POSTGRES` is not set or the server refuses.
pub async fn migrated_postgres_database() -> String {
    let admin = test_cluster();
    paperboy::store::create_test_database(&admin, "it")
        .await
        .unwrap_or_else(|e| panic!("creating a test database on {admin}: {e:#}"))
}

/// Creates an empty database of its own on the test cluster (no schema:
/// for tests of what migrating does) and returns its URL.
///
/// # Panics
/// When `PAPERBOY_TEST_POSTGRES` is not set or the server refuses: a test on
/// PostgreSQL fails, it is never skipped.
pub async fn postgres_database() -> String {
    let admin = test_cluster();
    paperboy::store::create_empty_test_database(&admin, "it")
        .await
        .unwrap_or_else(|e| panic!("creating a test database on {admin}: {e:#}"))
}

/// Runs one statement with text parameters (`$1`, `$2`, … on both engines)
/// against the database at `url`; returns the rows it changed.
pub async fn execute(url: &str, sql: &'static str, params: &[&str]) -> u64 {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        let mut q = sqlx::query(sql);
        for p in params {
            q = q.bind(*p);
        }
        q.execute(&mut conn).await.unwrap().rows_affected()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let mut q = sqlx::query(sql);
        for p in params {
            q = q.bind(*p);
        }
        q.execute(&mut conn).await.unwrap().rows_affected()
    }
}

/// The first column of every row `sql` returns, as text.
pub async fn texts(url: &str, sql: &'static str) -> Vec<String> {
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
    }
}

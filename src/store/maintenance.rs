//! Operator maintenance on a SQLite database file (compiled into the
//! SQLite backend only): consistent backups while the daemon runs, and
//! opening a database without creating it.
//!
//! A backup is SQLite's `VACUUM INTO`: one read transaction, so the copy is
//! a consistent snapshot even while the daemon writes (WAL mode lets both
//! proceed). The copy is a plain, compacted database file; restoring is
//! copying it back while the daemon is stopped (deploy/README.md).

use std::path::Path;
use std::str::FromStr;

use anyhow::{bail, Context as _};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::Connection as _;

use super::{Backend, BackupReport};

impl Backend {
    /// Opens an existing database without creating or migrating it, for
    /// commands that must not change what they look at; `setting` is what
    /// the errors call the URL (`database.url`, or an option such as
    /// `--from`).
    pub async fn open_existing(
        url: &str,
        setting: &'static str,
        slow: crate::store::SlowStatements,
    ) -> anyhow::Result<Backend> {
        let options = SqliteConnectOptions::from_str(url)
            .with_context(|| format!("{setting} {url:?} is not a valid SQLite URL"))?;
        let file = options.get_filename().to_path_buf();
        if file.as_os_str() != ":memory:" && !file.exists() {
            bail!(
                "{setting} {url:?}: there is no database at {}",
                file.display()
            );
        }
        let store = Backend::connect_with(url, 2, setting, slow).await?;
        Ok(store)
    }

    /// Writes a consistent copy of the whole database to `dest`, which must
    /// not exist (a backup never overwrites anything). The file is created
    /// readable by its owner only (it holds subscriber addresses), then
    /// filled by `VACUUM INTO` and checked with `PRAGMA integrity_check`.
    pub async fn backup_into(&self, dest: &Path) -> anyhow::Result<BackupReport> {
        use std::os::unix::fs::OpenOptionsExt as _;
        // create_new is the atomic "refuse to overwrite"; VACUUM INTO accepts
        // an existing empty file.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dest)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                    "{} already exists; a backup never overwrites a file (choose a new name)",
                    dest.display()
                ),
                _ => anyhow::anyhow!("cannot create {}: {e}", dest.display()),
            })?;
        let result = self.fill_backup(dest).await;
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    async fn fill_backup(&self, dest: &Path) -> anyhow::Result<BackupReport> {
        let target = dest
            .to_str()
            .with_context(|| format!("{} is not a UTF-8 path", dest.display()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&self.pool)
            .await
            .with_context(|| format!("copying the database into {}", dest.display()))?;
        let options = SqliteConnectOptions::new().filename(dest).read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .with_context(|| format!("opening the backup {}", dest.display()))?;
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .context("checking the backup")?;
        conn.close().await.ok();
        if check != "ok" {
            bail!(
                "the backup {} failed its integrity check: {check}",
                dest.display()
            );
        }
        let bytes = std::fs::metadata(dest)
            .with_context(|| format!("reading {}", dest.display()))?
            .len();
        Ok(BackupReport {
            path: dest.to_path_buf(),
            bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use crate::domain::NewTopic;
    use crate::domain::SubscriberEmail;
    use crate::store::Store;
    use chrono::Utc;

    #[tokio::test]
    async fn a_backup_holds_the_data_and_never_overwrites() {
        let (store, dir) = test_store().await;
        let email = SubscriberEmail::parse("ada@example.org").unwrap();
        let topic = NewTopic {
            name: "t".into(),
            query: "diffusion".into(),
        };
        store
            .upsert_active(&email, &[topic], Utc::now())
            .await
            .unwrap();
        let dest = dir.path().join("copy.db");
        let report = store.backup_into(&dest).await.unwrap();
        assert!(report.bytes > 0);
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "mode {mode:o}");

        let copy = Store::open_existing(&format!("sqlite://{}", dest.display()))
            .await
            .unwrap();
        assert_eq!(
            copy.subscriber_counts().await.unwrap(),
            vec![(crate::domain::SubscriberStatus::Active, 1)]
        );

        let before = std::fs::read(&dest).unwrap();
        let e = store.backup_into(&dest).await.unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), before, "left untouched");
    }

    #[tokio::test]
    async fn opening_a_missing_database_for_maintenance_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.db");
        let e = Store::open_existing(&format!("sqlite://{}", path.display()))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("no database"), "{e}");
        assert!(!path.exists());
    }
}

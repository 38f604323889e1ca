//! Shared integration-test support: real servers on loopback and scratch directories.
//!
//! - [`smtp`]: an SMTP server that records what it accepts and injects faults on demand.
//! - [`mail`]: parse a received message and read its headers, parts and links.
//! - [`http`]: an HTTP server that serves fixture files, scripts responses, logs requests.
//! - [`database`]: a fresh PostgreSQL database on the test cluster; statements on either engine.
//! - [`postfix`]: the private Postfix instance `scripts/test` starts, the real MTA counterpart.
//!
//! Everything here is generic test infrastructure; it must not start or configure paperboy
//! itself (the app-spawning helper lives with the tests that use it).

pub mod database;
pub mod http;
pub mod mail;
pub mod postfix;
pub mod smtp;

use std::net::TcpListener;
use std::path::{Path, PathBuf};

pub use http::{fixture_path, FixtureResponse, FixtureServer, RecordedRequest};
pub use mail::{header, header_all, header_raw, html_links, html_part, links, parse, text_part};
pub use smtp::{Faults, ReceivedMail, SmtpServer};

/// A temporary directory, removed on drop, with conventional places for a SQLite database and
/// a file outbox.
pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    /// Create a fresh, empty directory (with an empty `outbox/` inside).
    ///
    /// # Panics
    /// If the system temp directory is not writable, which leaves nothing to test.
    pub fn new() -> TestDir {
        let dir = match tempfile::Builder::new().prefix("paperboy-it-").tempdir() {
            Ok(dir) => dir,
            Err(e) => panic!("cannot create a temporary directory: {e}"),
        };
        if let Err(e) = std::fs::create_dir(dir.path().join("outbox")) {
            panic!("cannot create {}/outbox: {e}", dir.path().display());
        }
        TestDir { dir }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `DIR/paperboy.sqlite3` (not created; the app creates it).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("paperboy.sqlite3")
    }

    /// `sqlite://DIR/paperboy.sqlite3?mode=rwc`, a URL sqlx opens, creating the file.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.db_path().display())
    }

    /// `DIR/outbox`, an existing empty directory for a file mail transport.
    pub fn outbox(&self) -> PathBuf {
        self.dir.path().join("outbox")
    }

    /// Every file in the outbox, sorted by name.
    pub fn outbox_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.outbox())
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.is_file())
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }
}

impl Default for TestDir {
    fn default() -> Self {
        Self::new()
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for "server down, then up" tests that
/// need to know the port before anything listens on it). Another process may take it meanwhile;
/// tests should bind it promptly.
///
/// # Panics
/// If no ephemeral port can be bound.
pub fn free_port() -> u16 {
    match TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()) {
        Ok(addr) => addr.port(),
        Err(e) => panic!("cannot find a free port on 127.0.0.1: {e}"),
    }
}

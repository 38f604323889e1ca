//! A pool of SMTP connections to the relay ([`super::connection`]), at most
//! `mail.pool_size` at once, each reused for transaction after transaction.
//!
//! A connection goes back to the pool after a delivered message and after a
//! refused one (the transaction ended with `RSET`), never after a broken
//! conversation, nor when its send was abandoned mid-way (a timeout drops
//! the future, and the connection with it). Idle connections are said
//! `QUIT` to when a run ends ([`Pool::quit_idle`]) or when they have sat too
//! long. The pool remembers the SIZE limit the server last announced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use tokio::sync::Semaphore;

use super::connection::{Connection, Opener, SmtpError};

/// A connection idle for longer is closed rather than reused (Postfix's
/// smtpd drops an idle client after 300 s; this stays well inside).
const MAX_IDLE: Duration = Duration::from_secs(60);
/// A connection idle for longer is probed with NOOP before it is reused, so
/// a connection the server has dropped is replaced before the transaction,
/// not found dead halfway through it.
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// How long a QUIT may take before the connection is just closed.
const QUIT_WITHIN: Duration = Duration::from_secs(2);

pub(crate) struct Pool {
    opener: Opener,
    idle: Mutex<Vec<(Connection, Instant)>>,
    slots: Semaphore,
    /// The SIZE limit of the last EHLO reply; 0 when none was announced.
    size_limit: AtomicU64,
}

impl Pool {
    pub(crate) fn new(opener: Opener, size: u32) -> Pool {
        Pool {
            opener,
            idle: Mutex::new(Vec::new()),
            slots: Semaphore::new(size.max(1) as usize),
            size_limit: AtomicU64::new(0),
        }
    }

    /// How connections are opened.
    pub(crate) fn opener(&self) -> &Opener {
        &self.opener
    }

    /// Sends one message over a pooled connection (at most `size` at once).
    pub(crate) async fn send(&self, envelope: &Envelope, message: &[u8]) -> Result<(), SmtpError> {
        let _slot = self.slots.acquire().await;
        let mut conn = match self.reusable().await {
            Some(conn) => conn,
            None => {
                let conn = self.opener.open().await?;
                self.size_limit.store(
                    conn.capabilities().size_limit().unwrap_or(0),
                    Ordering::Relaxed,
                );
                conn
            }
        };
        let result = super::pipeline::send(&mut conn, envelope, message).await;
        if conn.is_usable() {
            self.lock_idle().push((conn, Instant::now()));
        }
        result.map(|_| ())
    }

    /// Makes sure a connection is open (idle in the pool), so that the
    /// server's SIZE limit is known before the first message is built.
    /// A failure is left for the sends to meet and report.
    pub(crate) async fn warm_up(&self) {
        let _slot = self.slots.acquire().await;
        if !self.lock_idle().is_empty() {
            return;
        }
        if let Ok(conn) = self.opener.open().await {
            self.size_limit.store(
                conn.capabilities().size_limit().unwrap_or(0),
                Ordering::Relaxed,
            );
            self.lock_idle().push((conn, Instant::now()));
        }
    }

    /// The message size limit the server announced (SIZE), once a
    /// connection has been opened; `None` before, or when it has none.
    pub(crate) fn size_limit(&self) -> Option<u64> {
        Some(self.size_limit.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// Says QUIT on every idle connection and closes it: the end of a run.
    pub(crate) async fn quit_idle(&self) {
        let idle: Vec<Connection> = self.lock_idle().drain(..).map(|(c, _)| c).collect();
        let quits = idle
            .into_iter()
            .map(|conn| tokio::time::timeout(QUIT_WITHIN, conn.quit()));
        futures::future::join_all(quits).await;
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<(Connection, Instant)>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn reusable(&self) -> Option<Connection> {
        loop {
            let (mut conn, since) = self.lock_idle().pop()?;
            let idle = since.elapsed();
            if idle > MAX_IDLE {
                // Say goodbye without making this send wait for it.
                tokio::spawn(tokio::time::timeout(QUIT_WITHIN, conn.quit()));
                continue;
            }
            if idle > PROBE_AFTER && !conn.is_alive().await {
                continue;
            }
            return Some(conn);
        }
    }
}

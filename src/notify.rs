//! The systemd notification protocol (`sd_notify(3)`), for `Type=notify`
//! units: `READY=1` once the daemon serves, `STOPPING=1` when it begins to
//! shut down, `WATCHDOG=1` at half the unit's `WatchdogSec=`.
//!
//! The protocol is one datagram of `KEY=VALUE` lines sent to the socket
//! named by `$NOTIFY_SOCKET` (a path, or `@name` for an abstract socket).
//! Without that variable every call is a no-op, so the daemon runs the
//! same outside systemd. A failed send is logged and never stops the
//! daemon. This module knows nothing about what "ready" means; `app::serve`
//! decides when to say it.

use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where notifications go; [`Notifier::disabled`] when not under systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from the
    /// process environment.
    pub fn from_env() -> Notifier {
        let var = |k: &str| std::env::var(k).ok();
        Self::from_vars(
            var("NOTIFY_SOCKET").as_deref(),
            var("WATCHDOG_USEC").as_deref(),
            var("WATCHDOG_PID").as_deref(),
        )
    }

    fn from_vars(socket: Option<&str>, usec: Option<&str>, pid: Option<&str>) -> Notifier {
        let target = socket
            .filter(|s| !s.is_empty())
            .and_then(|s| match socket_addr(s) {
                Ok(addr) => match UnixDatagram::unbound() {
                    Ok(sock) => Some((sock, addr)),
                    Err(e) => {
                        tracing::warn!(error = %e, "sd_notify: cannot create a datagram socket");
                        None
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "sd_notify: NOTIFY_SOCKET is unusable");
                    None
                }
            });
        let for_us = pid
            .map(|p| p.trim().parse::<u32>().ok() == Some(std::process::id()))
            .unwrap_or(true);
        let watchdog = usec
            .and_then(|u| u.trim().parse::<u64>().ok())
            .filter(|&u| u > 0 && for_us)
            .map(|u| Duration::from_micros(u) / 2);
        Notifier { target, watchdog }
    }

    /// How often to send `WATCHDOG=1` (half of `WATCHDOG_USEC`), when
    /// systemd asked for a watchdog.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.target.as_ref().and(self.watchdog)
    }

    /// The service is up: migrations applied, listener bound.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    /// The service has begun shutting down.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=stopping");
    }

    /// The service is alive.
    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }

    fn send(&self, message: &str) {
        let Some((sock, addr)) = &self.target else {
            return;
        };
        if let Err(e) = sock.send_to_addr(message.as_bytes(), addr) {
            tracing::warn!(error = %e, "sd_notify: sending a notification failed");
        }
    }

    /// Runs until dropped or aborted: sends `WATCHDOG=1` every
    /// [`Notifier::watchdog_interval`] from a task on the async runtime, so
    /// a stalled runtime stops the pings and systemd restarts the service.
    /// Returns `None` when no watchdog was asked for.
    pub fn spawn_watchdog(self: &std::sync::Arc<Self>) -> Option<tokio::task::JoinHandle<()>> {
        let every = self.watchdog_interval()?;
        let notifier = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                notifier.watchdog();
            }
        }))
    }
}

fn socket_addr(s: &str) -> std::io::Result<SocketAddr> {
    if let Some(name) = s.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt as _;
        SocketAddr::from_abstract_name(name.as_bytes())
    } else if s.starts_with('/') {
        SocketAddr::from_pathname(s)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "NOTIFY_SOCKET must be an absolute path or @abstract-name",
        ))
    }
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound() -> (tempfile::TempDir, UnixDatagram, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (dir, sock, path.display().to_string())
    }

    fn recv(sock: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn messages_arrive_as_one_datagram_each() {
        let (_dir, sock, path) = bound();
        let n = Notifier::from_vars(Some(&path), None, None);
        assert!(n.target.is_some());
        n.ready("serving on 127.0.0.1:1\nsecond line");
        assert_eq!(
            recv(&sock),
            "READY=1\nSTATUS=serving on 127.0.0.1:1 second line"
        );
        n.watchdog();
        assert_eq!(recv(&sock), "WATCHDOG=1");
        n.stopping();
        assert!(recv(&sock).starts_with("STOPPING=1\n"));
    }

    #[test]
    fn an_abstract_socket_name_is_understood() {
        use std::os::linux::net::SocketAddrExt as _;
        let name = format!("paperboy-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Notifier::from_vars(Some(&format!("@{name}")), None, None).ready("up");
        assert!(recv(&sock).starts_with("READY=1"));
    }

    #[test]
    fn the_watchdog_runs_at_half_the_requested_period_and_only_for_this_process() {
        let (_dir, _sock, path) = bound();
        let me = std::process::id().to_string();
        let n = Notifier::from_vars(Some(&path), Some("30000000"), Some(&me));
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        let other = Notifier::from_vars(Some(&path), Some("30000000"), Some("1"));
        assert_eq!(other.watchdog_interval(), None);
        let none = Notifier::from_vars(Some(&path), None, None);
        assert_eq!(none.watchdog_interval(), None);
    }

    #[test]
    fn without_notify_socket_nothing_is_sent_and_nothing_fails() {
        let n = Notifier::from_vars(None, Some("1000000"), None);
        assert!(n.target.is_none());
        assert_eq!(n.watchdog_interval(), None);
        n.ready("x");
        n.stopping();
        let bad = Notifier::from_vars(Some("relative/path"), None, None);
        assert!(bad.target.is_none());
    }
}

//! The private Postfix instance that `scripts/postfix-test` starts (and
//! `scripts/test` exports through `PAPERBOY_POSTFIX_*`): where its listeners
//! are, its CA, what landed in its Maildir and what its log says.
//!
//! Without those variables (a plain `cargo test`) every Postfix test fails
//! with a message saying how to run them: a test that silently passed
//! without its server would prove nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One running instance, read from the environment.
#[derive(Debug, Clone)]
pub struct Postfix {
    /// The plain relay: STARTTLS with a certificate from the private CA for
    /// `localhost` and `127.0.0.1`.
    pub port: u16,
    /// Announces SIZE [`Postfix::small_limit`].
    pub small_port: u16,
    pub small_limit: u64,
    /// Announces SIZE [`Postfix::tiny_limit`], smaller than any digest.
    pub tiny_port: u16,
    pub tiny_limit: u64,
    /// Announces the normal SIZE but refuses a message over the small
    /// limit after its data: a real late `552 5.3.4`.
    pub late552_port: u16,
    /// Offers STARTTLS, but no TLS version rustls speaks.
    pub badtls_port: u16,
    /// Certificate for `mail.elsewhere.example` only.
    pub wrongname_port: u16,
    /// Certificate expired in 2020.
    pub expired_port: u16,
    /// TLS from the first byte (`smtps://`).
    pub smtps_port: u16,
    /// A stock Debian Postfix: STARTTLS with ssl-cert's self-signed
    /// snakeoil certificate.
    pub snakeoil_port: u16,
    /// As the plain relay, logging as `postfix/manners`: for one test that
    /// reads the command counts Postfix logs per connection.
    pub manners_port: u16,
    /// The private CA's certificate (PEM).
    pub ca: PathBuf,
    /// The Maildir every accepted message is delivered to.
    pub maildir: PathBuf,
    pub log: PathBuf,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the Postfix tests deliver through a private Postfix instance \
             that `bash scripts/test` starts. Run `bash scripts/test`, or start one with \
             `dir=$(bash scripts/postfix-test start) && source $dir/env` before `cargo test`."
        )
    })
}

impl Postfix {
    /// The instance `scripts/test` started.
    ///
    /// # Panics
    /// When the `PAPERBOY_POSTFIX_*` variables are not set, saying how to
    /// run the tests.
    pub fn from_env() -> Postfix {
        let port = |name: &str| -> u16 {
            var(name)
                .parse()
                .unwrap_or_else(|e| panic!("{name} is not a port: {e}"))
        };
        Postfix {
            port: port("PAPERBOY_POSTFIX_PORT"),
            small_port: port("PAPERBOY_POSTFIX_SMALL_PORT"),
            small_limit: var("PAPERBOY_POSTFIX_SMALL_LIMIT")
                .parse()
                .expect("PAPERBOY_POSTFIX_SMALL_LIMIT is a number"),
            tiny_port: port("PAPERBOY_POSTFIX_TINY_PORT"),
            tiny_limit: var("PAPERBOY_POSTFIX_TINY_LIMIT")
                .parse()
                .expect("PAPERBOY_POSTFIX_TINY_LIMIT is a number"),
            late552_port: port("PAPERBOY_POSTFIX_LATE552_PORT"),
            badtls_port: port("PAPERBOY_POSTFIX_BADTLS_PORT"),
            wrongname_port: port("PAPERBOY_POSTFIX_WRONGNAME_PORT"),
            expired_port: port("PAPERBOY_POSTFIX_EXPIRED_PORT"),
            smtps_port: port("PAPERBOY_POSTFIX_SMTPS_PORT"),
            snakeoil_port: port("PAPERBOY_POSTFIX_SNAKEOIL_PORT"),
            manners_port: port("PAPERBOY_POSTFIX_MANNERS_PORT"),
            ca: var("PAPERBOY_POSTFIX_CA").into(),
            maildir: var("PAPERBOY_POSTFIX_MAILDIR").into(),
            log: var("PAPERBOY_POSTFIX_LOG").into(),
        }
    }

    /// The messages delivered to `recipient` so far (raw bytes), read from
    /// the Maildir by their `Delivered-To:` header.
    pub fn delivered_to(&self, recipient: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(sub)) else {
                continue;
            };
            for entry in entries.flatten() {
                let Ok(raw) = std::fs::read(entry.path()) else {
                    continue;
                };
                if delivered_to(&raw).is_some_and(|to| to.eq_ignore_ascii_case(recipient)) {
                    out.push(raw);
                }
            }
        }
        out
    }

    /// Waits until `recipient` has `n` messages (delivery after Postfix's
    /// 250 is asynchronous), then a moment more to catch a duplicate;
    /// returns what is there.
    pub fn wait_for(&self, recipient: &str, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.delivered_to(recipient);
            if got.len() >= n || Instant::now() > deadline {
                std::thread::sleep(Duration::from_millis(300));
                return self.delivered_to(recipient);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Postfix's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The log's length now: with [`Postfix::log_since`], what a test's
    /// own run added (an instance started by hand outlives test runs).
    pub fn log_len(&self) -> usize {
        self.log().len()
    }

    /// The log lines written after `offset` (from [`Postfix::log_len`])
    /// that contain `needle`.
    pub fn log_since(&self, offset: usize, needle: &str) -> Vec<String> {
        self.log()
            .get(offset..)
            .unwrap_or("")
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// The log lines containing `needle`.
    pub fn log_mentioning(&self, needle: &str) -> Vec<String> {
        self.log()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    /// The path of the CA certificate, for `tls_ca_file`.
    pub fn ca_path(&self) -> &Path {
        &self.ca
    }
}

/// The `Delivered-To:` header virtual(8) puts first.
fn delivered_to(raw: &[u8]) -> Option<String> {
    let head = &raw[..raw.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.eq_ignore_ascii_case("Delivered-To")
            .then(|| value.trim().to_string())
    })
}

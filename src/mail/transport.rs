//! The transports behind [`Mailer`]: SMTP (pooled, with transient failures
//! retried and classified) and a file outbox. Neither builds message content.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::dkim::DkimSigner;
use super::latency::{SendLatency, SendOutcome};
use super::message::{Composer, OutgoingEmail, PreparedEmail};
use super::pool::{NoDelayPool, PoolError};
use super::settings::{redact_url, MailSettings, TransportKind};
use super::{MailError, SendError};

/// First pause before retrying a transient failure; doubles each attempt.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

/// Where mail goes, chosen by `mail.transport`.
#[derive(Debug, Clone)]
pub enum Mailer {
    Smtp(SmtpMailer),
    File(FileMailer),
}

/// Delivery to an SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    /// Replaced by a fresh one (with an empty pool) after a send times out,
    /// because lettre would return the half-finished connection to its pool.
    transport: Arc<RwLock<AsyncSmtpTransport<Tokio1Executor>>>,
    rebuild: Arc<dyn Fn() -> AsyncSmtpTransport<Tokio1Executor> + Send + Sync>,
    /// Bound on one whole SMTP transaction: lettre's own timeout covers
    /// connecting only, and a server that stops answering mid-DATA must not
    /// hold a run forever.
    send_timeout: Duration,
    composer: Composer,
    /// Connections with Nagle off (see [`super::pool`]); `None` for smtps://.
    nodelay: Option<Arc<NoDelayPool>>,
    /// `host:port`, for error messages; never the credentials.
    server: String,
    retries: u32,
    backoff: Duration,
    /// Per-transaction send time, shared by clones.
    latency: Arc<SendLatency>,
}

impl std::fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// Writes each message to `{outbox_dir}/{message-id}.eml`.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
    composer: Composer,
}

impl Mailer {
    /// Validates the settings and builds the transport. Connects to nothing:
    /// use [`Mailer::check`] for that. The SMTP transport must be built
    /// inside a Tokio runtime (its connection pool runs there).
    pub fn from_settings(settings: &MailSettings) -> Result<Mailer, MailError> {
        settings.validate()?;
        let composer = Composer {
            from: settings.from_mailbox()?,
            list_id: settings.list_id_value()?,
            dkim: settings.dkim.as_ref().map(DkimSigner::load).transpose()?,
        };
        match settings.transport {
            TransportKind::File => Ok(Mailer::File(FileMailer {
                dir: settings.outbox_dir.clone(),
                composer,
            })),
            TransportKind::Smtp => {
                // lettre's pool spawns its reaper task on build, which panics
                // outside a runtime; say so instead.
                if tokio::runtime::Handle::try_current().is_err() {
                    return Err(MailError::Smtp {
                        server: settings
                            .smtp_url
                            .as_deref()
                            .map(redact_url)
                            .unwrap_or_default(),
                        reason: "the SMTP mailer must be created inside the Tokio runtime".into(),
                    });
                }
                SmtpMailer::new(settings, composer).map(Mailer::Smtp)
            }
        }
    }

    /// Sends one message. Transient failures are retried here with backoff;
    /// a `Transient` error means every attempt failed and the caller should
    /// try again later.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        self.send_prepared(&self.prepare(email)?).await
    }

    /// Builds, signs and formats a message without sending it: the CPU part
    /// of a send, which a caller may do on another thread. A message that
    /// cannot be built is a `Permanent` error, as from [`Mailer::send`].
    pub fn prepare(&self, email: &OutgoingEmail) -> Result<PreparedEmail, SendError> {
        let composer = match self {
            Mailer::Smtp(m) => &m.composer,
            Mailer::File(m) => &m.composer,
        };
        composer.prepare(email).map_err(build_error)
    }

    /// Sends a message made by [`Mailer::prepare`], like [`Mailer::send`].
    pub async fn send_prepared(&self, email: &PreparedEmail) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(m) => m.send(email).await,
            Mailer::File(m) => m.send(email).await,
        }
    }

    /// Proves the transport works: SMTP connects, greets (EHLO), negotiates
    /// TLS and authenticates; the file transport creates and writes its outbox.
    pub async fn check(&self) -> Result<(), MailError> {
        match self {
            Mailer::Smtp(m) => m.check().await,
            Mailer::File(m) => m.check().await,
        }
    }

    /// The domain of the `From:` address: the natural right-hand side for
    /// `crate::email::message_id`.
    pub fn sender_domain(&self) -> String {
        let composer = match self {
            Mailer::Smtp(m) => &m.composer,
            Mailer::File(m) => &m.composer,
        };
        composer.from.email.domain().to_string()
    }

    /// Whether a permanent reply blames the recipient's address (see
    /// [`super::blames_recipient`]).
    pub fn blames_recipient(&self, code: Option<u16>, reply: &str) -> bool {
        let composer = match self {
            Mailer::Smtp(m) => &m.composer,
            Mailer::File(m) => &m.composer,
        };
        super::blames_recipient(code, reply, composer.from.email.as_ref())
    }

    /// SMTP send times since this mailer was built; `None` for the file
    /// transport.
    pub fn smtp_latency(&self) -> Option<&SendLatency> {
        match self {
            Mailer::Smtp(m) => Some(&m.latency),
            Mailer::File(_) => None,
        }
    }

    /// The DKIM signer, when `[mail.dkim]` is set.
    pub fn dkim(&self) -> Option<&DkimSigner> {
        match self {
            Mailer::Smtp(m) => m.composer.dkim.as_ref(),
            Mailer::File(m) => m.composer.dkim.as_ref(),
        }
    }

    /// The exact bytes that would be sent, for previews and tests.
    pub fn format(&self, email: &OutgoingEmail) -> Result<Vec<u8>, SendError> {
        let composer = match self {
            Mailer::Smtp(m) => &m.composer,
            Mailer::File(m) => &m.composer,
        };
        composer
            .build(email)
            .map(|m| m.formatted())
            .map_err(build_error)
    }
}

fn build_error(e: lettre::error::Error) -> SendError {
    SendError::Permanent {
        code: None,
        reply: format!("the message could not be built: {e}"),
    }
}

impl SmtpMailer {
    fn new(settings: &MailSettings, composer: Composer) -> Result<SmtpMailer, MailError> {
        let raw = settings.smtp_url.as_deref().unwrap_or_default();
        let bad = |reason: String| MailError::Config {
            key: "mail.smtp_url",
            reason: format!("{} {reason}", redact_url(raw)),
        };
        let url = url::Url::parse(raw).map_err(|e| bad(format!("is not a URL ({e})")))?;
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let tls_param = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let tls_params =
            || TlsParameters::new(host.clone()).map_err(|e| bad(format!("TLS setup failed ({e})")));
        let (tls, default_port) = match (url.scheme(), tls_param.as_deref()) {
            ("smtp", None | Some("opportunistic")) => (Tls::Opportunistic(tls_params()?), 25),
            ("smtp", Some("required")) => (Tls::Required(tls_params()?), 587),
            ("smtp", Some("none")) => (Tls::None, 25),
            ("smtps", None) => (Tls::Wrapper(tls_params()?), 465),
            ("smtps", Some(other)) => {
                return Err(bad(format!(
                    "has tls={other:?}, but smtps:// is always implicit TLS; drop the parameter"
                )))
            }
            ("smtp", Some(other)) => {
                return Err(bad(format!(
                "has tls={other:?}; use tls=required, tls=opportunistic (the default) or tls=none"
            )))
            }
            (scheme, _) => {
                return Err(bad(format!(
                    "has scheme {scheme:?}; use smtp:// or smtps://"
                )))
            }
        };
        let port = url.port().unwrap_or(default_port);

        let user = percent_decode(url.username()).unwrap_or_else(|| url.username().to_string());
        let mut password = url
            .password()
            .map(|p| percent_decode(p).unwrap_or_else(|| p.to_string()));
        if let Some(path) = &settings.smtp_password_file {
            let secret = std::fs::read_to_string(path).map_err(|e| MailError::Config {
                key: "mail.smtp_password_file",
                reason: format!("{} cannot be read ({e})", path.display()),
            })?;
            password = Some(secret.trim_end_matches(['\r', '\n']).to_string());
        }

        let tls_for_pool = tls.clone();
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(settings.timeout_secs)))
            .pool_config(PoolConfig::new().max_size(settings.pool_size));
        let mut credentials = None;
        match (user.is_empty(), password) {
            (false, Some(pw)) => {
                let c = Credentials::new(user, pw);
                builder = builder.credentials(c.clone());
                credentials = Some(c);
            }
            (true, Some(_)) => {
                return Err(MailError::Config {
                    key: "mail.smtp_url",
                    reason:
                        "a password is configured but the URL has no user name (smtp://user@host)"
                            .into(),
                })
            }
            (false, None) => return Err(MailError::Config {
                key: "mail.smtp_url",
                reason:
                    "has a user name but no password (put it in the URL or mail.smtp_password_file)"
                        .into(),
            }),
            (true, None) => {}
        }
        let first = builder.clone().build();
        let nodelay = NoDelayPool::new(
            host.clone(),
            port,
            tls_for_pool,
            credentials,
            Duration::from_secs(settings.timeout_secs),
            settings.pool_size,
        )
        .map(Arc::new);
        Ok(SmtpMailer {
            nodelay,
            transport: Arc::new(RwLock::new(first)),
            rebuild: Arc::new(move || builder.clone().build()),
            send_timeout: Duration::from_secs(settings.timeout_secs.saturating_mul(2).max(1)),
            composer,
            server: format!("{host}:{port}"),
            retries: settings.retries,
            backoff: DEFAULT_BACKOFF,
            latency: Arc::default(),
        })
    }

    fn current(&self) -> AsyncSmtpTransport<Tokio1Executor> {
        self.transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn reset_pool(&self) {
        if let Some(pool) = &self.nodelay {
            pool.clear();
        }
        let fresh = (self.rebuild)();
        *self.transport.write().unwrap_or_else(|e| e.into_inner()) = fresh;
    }

    /// Changes the first retry pause (doubling each attempt).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    async fn send(&self, email: &PreparedEmail) -> Result<(), SendError> {
        let mut attempt = 0u32;
        loop {
            let transport = self.current();
            let sent = async {
                match &self.nodelay {
                    Some(pool) => pool.send(&email.envelope, &email.bytes).await,
                    None => transport
                        .send_raw(&email.envelope, &email.bytes)
                        .await
                        .map(|_| ())
                        .map_err(PoolError::Smtp),
                }
            };
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(self.send_timeout, sent).await;
            let outcome = match &result {
                Ok(Ok(())) => SendOutcome::Ok,
                Ok(Err(PoolError::Smtp(e)))
                    if matches!(classify(e), SendError::Permanent { .. }) =>
                {
                    SendOutcome::Permanent
                }
                _ => SendOutcome::Transient,
            };
            self.latency.record(outcome, started.elapsed());
            let error = match result {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(PoolError::Smtp(e))) => classify(&e),
                Ok(Err(PoolError::Connect(reason))) => SendError::Transient { code: None, reason },
                Err(_) => {
                    self.reset_pool();
                    SendError::Transient {
                        code: None,
                        reason: format!(
                            "{} did not finish the transaction within {} s",
                            self.server,
                            self.send_timeout.as_secs()
                        ),
                    }
                }
            };
            match error {
                SendError::Transient { ref reason, .. } if attempt < self.retries => {
                    let pause = self.backoff.saturating_mul(2u32.saturating_pow(attempt));
                    tracing::warn!(
                        smtp.server = %self.server,
                        attempt = attempt + 1,
                        retry_in_ms = pause.as_millis() as u64,
                        error = %super::loggable_reply(reason),
                        "transient SMTP failure, retrying"
                    );
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                other => return Err(other),
            }
        }
    }

    async fn check(&self) -> Result<(), MailError> {
        let fail = |reason: String| MailError::Smtp {
            server: self.server.clone(),
            reason,
        };
        match self.current().test_connection().await {
            Ok(true) => Ok(()),
            Ok(false) => Err(fail("connected, but the server did not answer NOOP".into())),
            Err(e) => Err(fail(describe_check_failure(&e))),
        }
    }
}

/// Plain percent-decoding of URL userinfo (which `url` leaves encoded).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn source_text(e: &lettre::transport::smtp::Error) -> String {
    std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string())
}

fn reply_code(e: &lettre::transport::smtp::Error) -> Option<u16> {
    e.status().and_then(|c| c.to_string().parse().ok())
}

/// A 5xx reply about the message or recipient is final. Failures of the
/// connection itself (refused, reset, timeouts, TLS), 4xx replies and
/// problems of our own setup (rejected credentials, STARTTLS required but not
/// offered) are transient: they are not the recipient's fault, and treating
/// them as permanent would drop every mail of the run. `check()` at startup
/// is where setup problems surface.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let code = reply_code(e);
    if e.is_permanent() && !matches!(code, Some(530 | 534 | 535 | 538)) {
        return SendError::Permanent {
            code,
            reply: source_text(e),
        };
    }
    SendError::Transient {
        code,
        reason: match code {
            Some(code) => format!("{code} {}", source_text(e)),
            None => e.to_string(),
        },
    }
}

fn describe_check_failure(e: &lettre::transport::smtp::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_tls() {
        "TLS negotiation failed"
    } else if let Some(code) = reply_code(e) {
        return if code == 535 || code == 530 || code == 534 {
            format!("authentication rejected ({code} {})", source_text(e))
        } else {
            format!("the server replied {code} {}", source_text(e))
        };
    } else if e.is_client() {
        "the client refused to continue"
    } else {
        "cannot connect or greet"
    };
    format!("{what}: {e}")
}

impl FileMailer {
    async fn send(&self, email: &PreparedEmail) -> Result<(), SendError> {
        let bytes = &email.bytes;
        let io = |e: std::io::Error| SendError::Transient {
            code: None,
            reason: format!("cannot write to outbox {}: {e}", self.dir.display()),
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let name = file_name(&email.message_id);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        // Write then rename, so a reader of the outbox never sees half a mail
        // and a re-send atomically replaces the earlier file.
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(name))
            .await
            .map_err(io)
    }

    async fn check(&self) -> Result<(), MailError> {
        let fail = |reason: String| MailError::Outbox {
            path: self.dir.clone(),
            reason,
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(|e| fail(format!("cannot be created ({e})")))?;
        let probe = self.dir.join(".paperboy-write-check");
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|e| fail(format!("is not writable ({e})")))?;
        let _ = tokio::fs::remove_file(&probe).await;
        Ok(())
    }

    /// The outbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A safe file name from a Message-ID: `<a.b@c>` → `a.b@c.eml`.
fn file_name(message_id: &str) -> String {
    let stem: String = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._@-+".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let stem = stem.trim_start_matches('.');
    let stem = if stem.is_empty() { "message" } else { stem };
    format!("{stem}.eml")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::message::tests::sample;
    use crate::mail::EmailKind;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    /// A minimal scripted SMTP server on loopback: real sockets and real
    /// protocol, replies chosen per test, transcript recorded.
    #[derive(Clone, Default)]
    struct Server {
        commands: Arc<Mutex<Vec<String>>>,
        messages: Arc<Mutex<Vec<String>>>,
        connections: Arc<Mutex<usize>>,
    }

    async fn smtp_server(rcpt_reply: &'static str, data_reply: &'static str) -> (u16, Server) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Server::default();
        let state = server.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                *state.connections.lock().unwrap() += 1;
                let state = state.clone();
                tokio::spawn(async move {
                    let (read, mut write) = socket.into_split();
                    let mut lines = BufReader::new(read);
                    write.write_all(b"220 test ESMTP ready\r\n").await.ok();
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.trim_end().to_string();
                        state.commands.lock().unwrap().push(cmd.clone());
                        let verb = cmd.split(' ').next().unwrap_or("").to_ascii_uppercase();
                        let reply: &str = match verb.as_str() {
                            "EHLO" => "250-test greets you\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME",
                            "AUTH" => "235 2.7.0 Authentication successful",
                            "MAIL" | "RSET" | "NOOP" => "250 2.0.0 OK",
                            "RCPT" => rcpt_reply,
                            "DATA" => {
                                write.write_all(b"354 go ahead\r\n").await.ok();
                                let mut body = String::new();
                                loop {
                                    line.clear();
                                    if lines.read_line(&mut line).await.unwrap_or(0) == 0 {
                                        return;
                                    }
                                    if line == ".\r\n" {
                                        break;
                                    }
                                    body.push_str(&line);
                                }
                                state.messages.lock().unwrap().push(body);
                                data_reply
                            }
                            "QUIT" => {
                                write.write_all(b"221 bye\r\n").await.ok();
                                return;
                            }
                            _ => "502 5.5.2 not implemented",
                        };
                        write
                            .write_all(format!("{reply}\r\n").as_bytes())
                            .await
                            .ok();
                    }
                });
            }
        });
        (port, server)
    }

    fn smtp_mailer(url: String) -> Mailer {
        let settings = MailSettings {
            from: "Paperboy <papers@example.org>".into(),
            transport: TransportKind::Smtp,
            smtp_url: Some(url),
            retries: 2,
            timeout_secs: 5,
            ..MailSettings::default()
        };
        match Mailer::from_settings(&settings).unwrap() {
            Mailer::Smtp(m) => Mailer::Smtp(m.with_backoff(Duration::from_millis(10))),
            Mailer::File(_) => unreachable!("smtp settings give an smtp mailer"),
        }
    }

    #[tokio::test]
    async fn a_message_is_delivered_over_smtp_with_its_headers() {
        let (port, server) = smtp_server("250 2.1.5 OK", "250 2.0.0 queued").await;
        let mailer = smtp_mailer(format!("smtp://127.0.0.1:{port}"));
        mailer.check().await.unwrap();
        mailer.send(&sample(EmailKind::Digest)).await.unwrap();

        let commands = server.commands.lock().unwrap().clone();
        assert!(
            commands
                .iter()
                .any(|c| c == "MAIL FROM:<papers@example.org>"),
            "{commands:?}"
        );
        assert!(
            commands.iter().any(|c| c == "RCPT TO:<ada@example.org>"),
            "{commands:?}"
        );
        assert!(
            !commands.iter().any(|c| c.starts_with("AUTH")),
            "{commands:?}"
        );
        let messages = server.messages.lock().unwrap().clone();
        assert_eq!(messages.len(), 1);
        let parsed = mail_parser::MessageParser::default()
            .parse(messages[0].as_bytes())
            .unwrap();
        assert_eq!(
            parsed.header_raw("List-Unsubscribe-Post").unwrap().trim(),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(parsed.html_body.len(), 1);
    }

    #[tokio::test]
    async fn credentials_in_the_url_are_sent_with_auth_plain() {
        let (port, server) = smtp_server("250 OK", "250 OK").await;
        let mailer = smtp_mailer(format!("smtp://bob%40x:p%C3%A4ss@127.0.0.1:{port}"));
        mailer.send(&sample(EmailKind::Digest)).await.unwrap();

        let commands = server.commands.lock().unwrap().clone();
        let auth = commands
            .iter()
            .find(|c| c.starts_with("AUTH PLAIN "))
            .unwrap_or_else(|| panic!("no AUTH PLAIN in {commands:?}"));
        use base64::Engine;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim_start_matches("AUTH PLAIN "))
            .unwrap();
        assert_eq!(decoded, "\0bob@x\0päss".as_bytes());
        assert!(!format!("{mailer:?}").contains("p%C3%A4ss"));
    }

    #[tokio::test]
    async fn a_password_file_supplies_the_password() {
        let (port, server) = smtp_server("250 OK", "250 OK").await;
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "from-file\n").unwrap();
        let settings = MailSettings {
            transport: TransportKind::Smtp,
            smtp_url: Some(format!("smtp://carol@127.0.0.1:{port}")),
            smtp_password_file: Some(pw),
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).unwrap();
        mailer.send(&sample(EmailKind::Digest)).await.unwrap();
        let commands = server.commands.lock().unwrap().clone();
        let expected = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode("\0carol\0from-file")
        };
        assert!(
            commands.contains(&format!("AUTH PLAIN {expected}")),
            "{commands:?}"
        );
    }

    #[tokio::test]
    async fn a_550_is_permanent_with_the_servers_reply_and_is_not_retried() {
        let (port, server) =
            smtp_server("550 5.1.1 <ada@example.org>: mailbox unknown", "250 OK").await;
        let mailer = smtp_mailer(format!("smtp://127.0.0.1:{port}"));
        let err = mailer.send(&sample(EmailKind::Digest)).await.unwrap_err();
        match err {
            SendError::Permanent { code, reply } => {
                assert_eq!(code, Some(550));
                assert!(reply.contains("mailbox unknown"), "{reply}");
            }
            other => panic!("expected permanent, got {other:?}"),
        }
        let rcpts = server
            .commands
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("RCPT"))
            .count();
        assert_eq!(rcpts, 1);
    }

    #[tokio::test]
    async fn a_451_is_retried_then_reported_as_transient() {
        let (port, server) = smtp_server("451 4.7.1 slow down, greylisted", "250 OK").await;
        let mailer = smtp_mailer(format!("smtp://127.0.0.1:{port}"));
        let err = mailer.send(&sample(EmailKind::Digest)).await.unwrap_err();
        match err {
            SendError::Transient { reason, code } => {
                assert!(reason.contains("451"), "{reason}");
                assert_eq!(code, Some(451));
            }
            other => panic!("expected transient, got {other:?}"),
        }
        let rcpts = server
            .commands
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.starts_with("RCPT"))
            .count();
        assert_eq!(rcpts, 3, "one attempt plus two retries");
        let latency = mailer.smtp_latency().unwrap().snapshot();
        let counts: Vec<(&str, u64)> = latency.iter().map(|s| (s.outcome, s.count)).collect();
        assert_eq!(counts, [("ok", 0), ("transient", 3), ("permanent", 0)]);
    }

    #[tokio::test]
    async fn rejected_credentials_are_transient_and_check_names_authentication() {
        let listener_port = {
            // A server that rejects every AUTH.
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let p = l.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((socket, _)) = l.accept().await {
                    tokio::spawn(async move {
                        let (read, mut write) = socket.into_split();
                        let mut lines = BufReader::new(read);
                        write.write_all(b"220 ready\r\n").await.ok();
                        let mut line = String::new();
                        while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
                            let reply: &[u8] = if line.starts_with("EHLO") {
                                b"250-hi\r\n250 AUTH PLAIN\r\n"
                            } else if line.starts_with("AUTH") {
                                b"535 5.7.8 bad credentials\r\n"
                            } else {
                                b"250 OK\r\n"
                            };
                            write.write_all(reply).await.ok();
                            line.clear();
                        }
                    });
                }
            });
            p
        };
        let mailer = smtp_mailer(format!("smtp://u:wrong@127.0.0.1:{listener_port}"));
        let err = mailer.send(&sample(EmailKind::Digest)).await.unwrap_err();
        assert!(
            matches!(err, SendError::Transient { ref reason, .. } if reason.contains("535")),
            "{err:?}"
        );
        let err = mailer.check().await.unwrap_err().to_string();
        assert!(err.contains("authentication rejected"), "{err}");
    }

    #[tokio::test]
    async fn required_starttls_that_the_server_lacks_fails_the_check() {
        let (port, server) = smtp_server("250 OK", "250 OK").await;
        let mailer = smtp_mailer(format!("smtp://127.0.0.1:{port}?tls=required"));
        assert!(mailer.check().await.is_err());
        let err = mailer.send(&sample(EmailKind::Digest)).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
        assert!(
            server.messages.lock().unwrap().is_empty(),
            "nothing may be sent in clear"
        );
    }

    #[test]
    fn building_an_smtp_mailer_outside_a_runtime_is_an_error_not_a_panic() {
        let settings = MailSettings {
            transport: TransportKind::Smtp,
            smtp_url: Some("smtp://mail.example.org".into()),
            ..MailSettings::default()
        };
        let err = Mailer::from_settings(&settings).unwrap_err().to_string();
        assert!(err.contains("Tokio runtime"), "{err}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_transient_and_check_says_so() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let mailer = smtp_mailer(format!("smtp://127.0.0.1:{port}"));
        let err = mailer.send(&sample(EmailKind::Digest)).await.unwrap_err();
        assert!(matches!(err, SendError::Transient { .. }), "{err:?}");
        let err = mailer.check().await.unwrap_err().to_string();
        assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
        assert!(err.contains("cannot connect"), "{err}");
    }

    #[tokio::test]
    async fn smtp_url_mistakes_are_reported_by_key() {
        for (url, needle) in [
            ("http://mail.example.org", "scheme"),
            ("smtp://mail.example.org?tls=maybe", "tls="),
            ("not a url", "not a URL"),
            ("smtp://bob@mail.example.org", "no password"),
        ] {
            let settings = MailSettings {
                transport: TransportKind::Smtp,
                smtp_url: Some(url.into()),
                ..MailSettings::default()
            };
            let err = Mailer::from_settings(&settings).unwrap_err().to_string();
            assert!(err.starts_with("mail.smtp_url"), "{url}: {err}");
            assert!(err.contains(needle), "{url}: {err}");
        }
        for ok in [
            "smtp://mail.example.org",
            "smtp://mail.example.org?tls=required",
            "smtps://u:p@mail.example.org",
        ] {
            let settings = MailSettings {
                transport: TransportKind::Smtp,
                smtp_url: Some(ok.into()),
                ..MailSettings::default()
            };
            assert!(Mailer::from_settings(&settings).is_ok(), "{ok}");
        }
    }

    #[tokio::test]
    async fn the_file_transport_writes_one_parseable_eml_per_message_id() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = dir.path().join("nested/outbox");
        let settings = MailSettings {
            outbox_dir: outbox.clone(),
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).unwrap();
        mailer.check().await.unwrap();
        let email = sample(EmailKind::Digest);
        mailer.send(&email).await.unwrap();
        mailer.send(&email).await.unwrap();
        let mut other = sample(EmailKind::Confirmation);
        other.subject = "Confirm".into();
        mailer.send(&other).await.unwrap();

        let mut files: Vec<_> = std::fs::read_dir(&outbox)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        assert_eq!(files.len(), 2, "{files:?}");
        let digest_file = files.iter().find(|f| f.starts_with("digest.")).unwrap();
        assert!(digest_file.ends_with("@example.org.eml"), "{digest_file}");
        let raw = std::fs::read(outbox.join(digest_file)).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            parsed.message_id().unwrap(),
            email.message_id.trim_matches(['<', '>'])
        );
        assert_eq!(parsed.text_body.len(), 1);
    }

    #[tokio::test]
    async fn an_unwritable_outbox_fails_the_check_naming_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        std::fs::write(&blocker, "not a dir").unwrap();
        let settings = MailSettings {
            outbox_dir: blocker.join("outbox"),
            ..MailSettings::default()
        };
        let err = Mailer::from_settings(&settings)
            .unwrap()
            .check()
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("outbox"), "{err}");
        assert!(err.contains(&blocker.display().to_string()), "{err}");
    }

    #[tokio::test]
    async fn a_rendered_digest_arrives_in_the_outbox_with_both_parts_intact() {
        use crate::email::digest::{
            render_digest, DigestView, PaperBlock, PaperView, Span, TopicSection,
        };
        let view = DigestView {
            date_label: "Friday, 12 June 2026".into(),
            short_date: "12 Jun 2026".into(),
            sections: vec![TopicSection {
                name: "Diffusion".into(),
                query: "ti:diffusion".into(),
                papers: vec![PaperBlock::render(&PaperView {
                    title: "Ünïcode & <tags> in a title".into(),
                    url: "https://arxiv.org/abs/2606.01234".into(),
                    excerpt: vec![Span::hit("Diffusion"), Span::plain(" everywhere")],
                    ..PaperView::default()
                })
                .unwrap()],
            }],
            total_count: 1,
            manage_url: "https://example.org/manage/M".into(),
            unsubscribe_url: "https://example.org/unsubscribe/U".into(),
            site_name: "Paperboy".into(),
            base_url: "https://example.org/".into(),
            ..DigestView::default()
        };
        let rendered = render_digest(&view).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mailer = Mailer::from_settings(&MailSettings {
            from: "Paperboy <papers@example.org>".into(),
            outbox_dir: dir.path().to_path_buf(),
            ..MailSettings::default()
        })
        .unwrap();
        assert_eq!(mailer.sender_domain(), "example.org");
        let mut email = sample(EmailKind::Digest);
        email.subject = rendered.subject.clone();
        email.html = rendered.html.clone();
        email.text = rendered.text.clone();
        mailer.send(&email).await.unwrap();

        let entry = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        let raw = std::fs::read(entry.path()).unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(
            parsed.subject().unwrap(),
            "1 new paper on your topics — 12 Jun 2026"
        );
        assert_eq!(
            parsed.body_html(0).unwrap().replace("\r\n", "\n"),
            rendered.html
        );
        assert_eq!(
            parsed.body_text(0).unwrap().replace("\r\n", "\n"),
            rendered.text
        );
    }

    #[test]
    fn message_ids_become_safe_file_names() {
        assert_eq!(
            file_name("<digest.2026-06-12.42.ab@example.org>"),
            "digest.2026-06-12.42.ab@example.org.eml"
        );
        assert_eq!(file_name("<../../etc/passwd>"), "_.._etc_passwd.eml");
        assert_eq!(file_name("<>"), "message.eml");
    }
}

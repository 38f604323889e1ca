//! The transports behind [`Mailer`]: SMTP (pooled connections, transient
//! failures retried, every failure classified) and a file outbox. Neither
//! builds message content: the [`Composer`] does, the same for both.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::connection::{Opener, SmtpError, Stage};
use super::dkim::DkimSigner;
use super::endpoint::TlsLevel;
use super::latency::{SendLatency, SendOutcome};
use super::message::{Composer, OutgoingEmail, PreparedEmail};
use super::pool::Pool;
use super::settings::{MailSettings, TransportKind};
use super::tls::{TlsClient, TlsFailure};
use super::{MailError, SendError};

/// First pause before retrying a transient failure; doubles each attempt.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(2);

/// Where mail goes (`mail.transport`), and who it comes from.
#[derive(Debug, Clone)]
pub struct Mailer {
    composer: Composer,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Smtp(SmtpMailer),
    File(FileMailer),
}

/// Delivery to an SMTP relay.
#[derive(Clone)]
pub struct SmtpMailer {
    pool: Arc<Pool>,
    /// Bound on one whole send (a connection opened if needed, then the
    /// transaction): a server that stops answering mid-DATA must not hold
    /// a run forever. Past it the send is dropped, and its connection.
    send_timeout: Duration,
    /// `host:port`, for messages; never the credentials.
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
}

impl Mailer {
    /// Validates the settings and builds the transport, reading the
    /// password and CA files. Connects to nothing: use [`Mailer::check`]
    /// for that.
    pub fn from_settings(settings: &MailSettings) -> Result<Mailer, MailError> {
        settings.validate()?;
        let composer = Composer {
            from: settings.from_mailbox()?,
            list_id: settings.list_id_value()?,
            dkim: settings.dkim.as_ref().map(DkimSigner::load).transpose()?,
        };
        let backend = match settings.transport {
            TransportKind::File => Backend::File(FileMailer {
                dir: settings.outbox_dir.clone(),
            }),
            TransportKind::Smtp => Backend::Smtp(SmtpMailer::new(settings)?),
        };
        Ok(Mailer { composer, backend })
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
        self.composer.prepare(email, None).map_err(build_error)
    }

    /// [`Mailer::prepare`] with `return_path` as the envelope sender
    /// (`MAIL FROM`): the per-delivery bounce address of `[mail]
    /// return_path`, where later bounces and complaints are sent.
    pub fn prepare_with_return_path(
        &self,
        email: &OutgoingEmail,
        return_path: &str,
    ) -> Result<PreparedEmail, SendError> {
        self.composer
            .prepare(email, Some(return_path))
            .map_err(build_error)
    }

    /// Sends a message made by [`Mailer::prepare`], like [`Mailer::send`].
    pub async fn send_prepared(&self, email: &PreparedEmail) -> Result<(), SendError> {
        match &self.backend {
            Backend::Smtp(m) => m.send(email).await,
            Backend::File(m) => m.send(email).await,
        }
    }

    /// Proves the transport works and says what it found, a line per fact:
    /// SMTP connects, greets, secures the connection at its TLS level (and
    /// says whether the certificate verifies), logs in; the file transport
    /// creates and writes its outbox.
    pub async fn check(&self) -> Result<Vec<String>, MailError> {
        match &self.backend {
            Backend::Smtp(m) => m.check().await,
            Backend::File(m) => m.check().await,
        }
    }

    /// Ends a run: idle SMTP connections are said QUIT to and closed.
    pub async fn close_idle(&self) {
        if let Backend::Smtp(m) = &self.backend {
            m.pool.quit_idle().await;
        }
    }

    /// Opens an SMTP connection ahead of the sends (kept in the pool), so
    /// that [`Mailer::size_limit`] is known before messages are built.
    /// Does nothing for the file transport, or when a connection is open.
    pub async fn warm_up(&self) {
        if let Backend::Smtp(m) = &self.backend {
            let _ = tokio::time::timeout(m.send_timeout, m.pool.warm_up()).await;
        }
    }

    /// The largest message the SMTP server takes, as its SIZE keyword last
    /// said (`None` before the first connection, for a server without a
    /// limit, and for the file transport). A digest layer that shrinks
    /// digests to fit reads it here.
    pub fn size_limit(&self) -> Option<u64> {
        match &self.backend {
            Backend::Smtp(m) => m.pool.size_limit(),
            Backend::File(_) => None,
        }
    }

    /// The domain of the `From:` address: the natural right-hand side for
    /// `crate::email::message_id`.
    pub fn sender_domain(&self) -> String {
        self.composer.from.email.domain().to_string()
    }

    /// Whether a permanent reply blames the recipient's address (see
    /// [`super::blames_recipient`]).
    pub fn blames_recipient(&self, code: Option<u16>, reply: &str) -> bool {
        super::blames_recipient(code, reply, self.composer.from.email.as_ref())
    }

    /// SMTP send times since this mailer was built; `None` for the file
    /// transport.
    pub fn smtp_latency(&self) -> Option<&SendLatency> {
        match &self.backend {
            Backend::Smtp(m) => Some(&m.latency),
            Backend::File(_) => None,
        }
    }

    /// The DKIM signer, when `[mail.dkim]` is set.
    pub fn dkim(&self) -> Option<&DkimSigner> {
        self.composer.dkim.as_ref()
    }

    /// The exact bytes that would be sent, for previews and tests.
    pub fn format(&self, email: &OutgoingEmail) -> Result<Vec<u8>, SendError> {
        self.composer
            .build(email)
            .map(|m| m.formatted())
            .map_err(build_error)
    }

    /// Changes the first retry pause of the SMTP transport (doubling each
    /// attempt).
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        if let Backend::Smtp(m) = &mut self.backend {
            m.backoff = backoff;
        }
        self
    }
}

fn build_error(e: lettre::error::Error) -> SendError {
    SendError::Permanent {
        code: None,
        reply: format!("the message could not be built: {e}"),
    }
}

impl SmtpMailer {
    fn new(settings: &MailSettings) -> Result<SmtpMailer, MailError> {
        let endpoint = settings.smtp_endpoint()?.ok_or(MailError::Config {
            key: "mail.smtp_url",
            reason: "is required when mail.transport = \"smtp\"".into(),
        })?;
        let tls = match endpoint.level {
            TlsLevel::None => None,
            _ => Some(Arc::new(TlsClient::new(
                &endpoint.host,
                settings.tls_ca_file.as_deref(),
            )?)),
        };
        let server = endpoint.server();
        let opener = Opener {
            endpoint,
            helo: settings.helo(),
            tls,
            timeout: Duration::from_secs(settings.timeout_secs),
        };
        Ok(SmtpMailer {
            pool: Arc::new(Pool::new(opener, settings.pool_size)),
            send_timeout: Duration::from_secs(settings.timeout_secs.saturating_mul(2).max(1)),
            server,
            retries: settings.retries,
            backoff: DEFAULT_BACKOFF,
            latency: Arc::default(),
        })
    }

    async fn send(&self, email: &PreparedEmail) -> Result<(), SendError> {
        let mut attempt = 0u32;
        loop {
            let started = std::time::Instant::now();
            let result = tokio::time::timeout(
                self.send_timeout,
                self.pool.send(&email.envelope, &email.bytes),
            )
            .await;
            let error = match result {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(classify(e)),
                Err(_) => Some(SendError::Transient {
                    code: None,
                    reason: format!(
                        "{} did not finish the transaction within {} s",
                        self.server,
                        self.send_timeout.as_secs()
                    ),
                }),
            };
            let outcome = match &error {
                None => SendOutcome::Ok,
                Some(SendError::Transient { .. }) => SendOutcome::Transient,
                Some(_) => SendOutcome::Permanent,
            };
            self.latency.record(outcome, started.elapsed());
            match error {
                None => return Ok(()),
                Some(SendError::Transient { ref reason, .. }) if attempt < self.retries => {
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
                Some(other) => return Err(other),
            }
        }
    }

    async fn check(&self) -> Result<Vec<String>, MailError> {
        let opener = self.pool.opener();
        let endpoint = &opener.endpoint;
        let fail = |reason: String| MailError::Smtp {
            server: self.server.clone(),
            reason,
        };
        let conn = opener
            .open()
            .await
            .map_err(|e| fail(describe_check_failure(&e)))?;
        let mut lines = vec![endpoint.to_string()];
        let caps = conn.capabilities().clone();
        let how = if endpoint.implicit_tls {
            "TLS from the first byte"
        } else {
            "STARTTLS"
        };
        lines.push(match (conn.tls(), conn.fell_back()) {
            (Some(tls), _) => {
                let cert = match &tls.certificate {
                    Ok(()) => "the server's certificate verifies".to_string(),
                    Err(why) => format!(
                        "the server's certificate does not verify: {why}; tls={} encrypts without verifying",
                        endpoint.level
                    ),
                };
                format!("tls: {how}, {} {}; {cert}", tls.version, tls.cipher)
            }
            (None, Some(failure)) => format!(
                "tls: WARNING: the server offers STARTTLS but {failure}; tls=may delivers in cleartext"
            ),
            (None, None) if endpoint.level == TlsLevel::None => {
                "tls: none (cleartext, as tls=none asks)".to_string()
            }
            (None, None) => {
                "tls: WARNING: the server does not offer STARTTLS; tls=may delivers in cleartext"
                    .to_string()
            }
        });
        if let Some(tls) = &opener.tls {
            lines.push(format!("trust: {}", tls.trust()));
        }
        let mut server = vec![format!(
            "EHLO {}",
            opener
                .helo
                .as_deref()
                .unwrap_or("with the connection's address")
        )];
        match caps.size_limit() {
            Some(limit) => server.push(format!("messages up to {limit} bytes (SIZE)")),
            None => server.push("no message size limit announced".to_string()),
        }
        if caps.pipelining {
            server.push("PIPELINING".to_string());
        }
        if endpoint.credentials.is_some() {
            server.push("logged in".to_string());
        }
        lines.push(format!("server: {}", server.join("; ")));
        tokio::time::timeout(Duration::from_secs(2), conn.quit())
            .await
            .ok();
        Ok(lines)
    }
}

/// A refusal of the transaction (MAIL, RCPT, DATA, the message) with a 5xx
/// is final for this message, and so is a message the server cannot take
/// (too large for its SIZE, an extension it lacks). Everything else is
/// transient: a 4xx, a broken connection, a timeout, TLS, and problems of
/// our own setup (5xx to the greeting, EHLO or AUTH; STARTTLS required but
/// not offered). Those are not the recipient's fault, and treating them as
/// permanent would fail every mail of the run; `paperboy check` is where
/// setup problems surface.
fn classify(e: SmtpError) -> SendError {
    match e {
        SmtpError::Rejected { stage, reply }
            if reply.is_permanent()
                && matches!(
                    stage,
                    Stage::Mail | Stage::Rcpt | Stage::Data | Stage::Message
                ) =>
        {
            SendError::Permanent {
                code: Some(reply.code),
                reply: reply.text(),
            }
        }
        SmtpError::Rejected { ref reply, .. } => SendError::Transient {
            code: Some(reply.code),
            reason: e.to_string(),
        },
        SmtpError::TooLarge { size, limit } => SendError::TooLarge { size, limit },
        SmtpError::Unsupported(why) => SendError::Permanent {
            code: None,
            reply: why,
        },
        other => SendError::Transient {
            code: None,
            reason: other.to_string(),
        },
    }
}

fn describe_check_failure(e: &SmtpError) -> String {
    match e {
        SmtpError::Rejected {
            stage: Stage::Auth,
            reply,
        } => format!("authentication rejected ({reply})"),
        SmtpError::Tls {
            failure: TlsFailure::Certificate(_),
            ..
        } => format!(
            "{e}; trust its CA with mail.tls_ca_file, or encrypt without verifying with tls=encrypt or tls=may"
        ),
        other => other.to_string(),
    }
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
        // A per-delivery bounce address is written as the Return-Path a
        // delivering MTA adds, so the outbox shows where bounces would go.
        let with_path;
        let bytes = match &email.return_path {
            Some(path) => {
                with_path = [format!("Return-Path: <{path}>\r\n").as_bytes(), bytes].concat();
                &with_path
            }
            None => bytes,
        };
        // Write then rename, so a reader of the outbox never sees half a mail
        // and a re-send atomically replaces the earlier file.
        tokio::fs::write(&tmp, bytes).await.map_err(io)?;
        tokio::fs::rename(&tmp, self.dir.join(name))
            .await
            .map_err(io)
    }

    async fn check(&self) -> Result<Vec<String>, MailError> {
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
        Ok(vec![format!(
            "file outbox {} (writable)",
            self.dir.display()
        )])
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
        Mailer::from_settings(&settings)
            .unwrap()
            .with_backoff(Duration::from_millis(10))
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
        let mailer = smtp_mailer(format!(
            "smtp://bob%40x:p%C3%A4ss@127.0.0.1:{port}?tls=none"
        ));
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
            smtp_url: Some(format!("smtp://carol@127.0.0.1:{port}?tls=none")),
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
        let mailer = smtp_mailer(format!("smtp://u:wrong@127.0.0.1:{listener_port}?tls=none"));
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
    fn an_smtp_mailer_is_built_without_connecting_or_a_runtime() {
        let settings = MailSettings {
            transport: TransportKind::Smtp,
            smtp_url: Some("smtp://mail.example.org".into()),
            ..MailSettings::default()
        };
        let mailer = Mailer::from_settings(&settings).unwrap();
        assert_eq!(mailer.size_limit(), None);
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
                .unwrap()
                .into()],
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

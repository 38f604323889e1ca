//! One SMTP client connection (RFC 5321), opened as `mail.smtp_url` says:
//! TCP with Nagle off, TLS at the endpoint's security level (STARTTLS, RFC
//! 3207, or TLS from the first byte, RFC 8314), one `EHLO` per session
//! (again after STARTTLS, never twice before it), then AUTH. It keeps what
//! the server offered (PIPELINING, SIZE, 8BITMIME, SMTPUTF8, AUTH) and reads
//! replies whole, multi-line ones included, enhanced status codes kept.
//!
//! It sends the commands it is given and reports each refusal with the
//! command it answered; what a refusal means for a delivery is the
//! transport's call. Nothing here logs an address, a password or a command
//! line (`RCPT TO:<address>`, `AUTH PLAIN secret`).

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::endpoint::{SmtpCredentials, SmtpEndpoint, TlsLevel};
use super::tls::{Negotiated, TlsClient, TlsFailure};

/// A reply longer than this (all lines) is a broken server, not a reply.
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Which step of the conversation a reply or failure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    Greeting,
    Ehlo,
    Starttls,
    Auth,
    Mail,
    Rcpt,
    Data,
    /// The message and its end-of-data line.
    Message,
    Rset,
    Noop,
    Quit,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Stage::Greeting => "greeting",
            Stage::Ehlo => "EHLO",
            Stage::Starttls => "STARTTLS",
            Stage::Auth => "AUTH",
            Stage::Mail => "MAIL FROM",
            Stage::Rcpt => "RCPT TO",
            Stage::Data => "DATA",
            Stage::Message => "end of data",
            Stage::Rset => "RSET",
            Stage::Noop => "NOOP",
            Stage::Quit => "QUIT",
        })
    }
}

/// A server reply: its code and the text of each line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// 5xx.
    pub fn is_permanent(&self) -> bool {
        (500..600).contains(&self.code)
    }

    /// The text after the code, lines joined with spaces:
    /// `5.3.4 Message file too big`.
    pub fn text(&self) -> String {
        self.lines.join(" ")
    }
}

impl fmt::Display for Reply {
    /// `552 5.3.4 Message file too big`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        let text = self.text();
        if !text.is_empty() {
            write!(f, " {text}")?;
        }
        Ok(())
    }
}

/// What went wrong on a connection.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SmtpError {
    /// The TCP connection could not be opened, or no greeting came.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The connection broke (reset, closed) while waiting at `stage`.
    #[error("connection lost at {stage}: {source}")]
    Io { stage: Stage, source: io::Error },
    /// The server answered `stage` with something that is not a reply.
    #[error("malformed reply to {stage}: {what}")]
    Protocol { stage: Stage, what: String },
    /// The server refused `stage`.
    #[error("{stage} refused: {reply}")]
    Rejected { stage: Stage, reply: Reply },
    #[error("tls={level}: {failure}")]
    Tls {
        level: TlsLevel,
        failure: TlsFailure,
    },
    /// The level requires TLS and the server does not offer STARTTLS.
    #[error("tls={0} requires STARTTLS, which the server does not offer")]
    NoStarttls(TlsLevel),
    /// Credentials are configured, the level would allow cleartext (`may`)
    /// and the session is not encrypted: the password is not sent, so
    /// that whoever can break STARTTLS cannot read it.
    #[error("tls={0}: the session is not encrypted (no STARTTLS, or its handshake failed) and the password is never sent in cleartext; use tls=encrypt or stronger, or tls=none to allow cleartext")]
    CleartextAuth(TlsLevel),
    /// Credentials are configured but no mechanism we speak is offered.
    #[error("the server offers no AUTH mechanism paperboy speaks (PLAIN, LOGIN); it offers: {0}")]
    NoAuthMechanism(String),
    /// The message needs an extension the server lacks (SMTPUTF8, 8BITMIME).
    #[error("{0}")]
    Unsupported(String),
    /// The message is larger than the server's SIZE limit: not sent.
    #[error(
        "the message ({size} bytes) is larger than the server's limit of {limit} bytes (SIZE)"
    )]
    TooLarge { size: u64, limit: u64 },
}

/// What the server's EHLO reply offered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Capabilities {
    pub pipelining: bool,
    /// `SIZE n`: `Some(0)` when offered without a fixed limit.
    pub size: Option<u64>,
    pub starttls: bool,
    pub eight_bit_mime: bool,
    pub smtputf8: bool,
    /// AUTH mechanisms, upper case.
    pub auth: Vec<String>,
}

impl Capabilities {
    /// Reads the keyword lines of an EHLO reply (the first line is the
    /// server's greeting, not a keyword).
    pub fn parse(ehlo: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        for line in ehlo.lines.iter().skip(1) {
            let mut words = line.split_whitespace();
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "STARTTLS" => caps.starttls = true,
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtputf8 = true,
                "AUTH" => caps.auth.extend(words.map(|m| m.to_ascii_uppercase())),
                // The pre-RFC 2554 form some servers still add.
                k if k.starts_with("AUTH=") => caps
                    .auth
                    .extend(k["AUTH=".len()..].split(',').map(str::to_string)),
                _ => {}
            }
        }
        let mut seen = std::collections::HashSet::new();
        caps.auth.retain(|m| seen.insert(m.clone()));
        caps
    }

    /// The size limit the server announced, if it set one.
    pub fn size_limit(&self) -> Option<u64> {
        self.size.filter(|&n| n > 0)
    }
}

/// The socket, in clear or wrapped in TLS.
enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// Only while STARTTLS swaps one for the other.
    Gone,
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Gone => Poll::Ready(Ok(())),
        }
    }
}

/// An open SMTP session, greeted (and secured and logged in as configured).
pub(crate) struct Connection {
    stream: Stream,
    /// Bytes read but not yet consumed as reply lines.
    unread: Vec<u8>,
    caps: Capabilities,
    tls: Option<Negotiated>,
    /// A TLS handshake failed at `may` and this connection went on in
    /// cleartext: why.
    fell_back: Option<TlsFailure>,
    /// Set by any I/O or protocol failure: the session's state is unknown,
    /// so the connection must never be reused.
    broken: bool,
}

impl Connection {
    /// What the server offered in its last EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// The TLS session, if the connection is encrypted.
    pub fn tls(&self) -> Option<&Negotiated> {
        self.tls.as_ref()
    }

    /// Why TLS was abandoned for cleartext at `may`, if it was.
    pub fn fell_back(&self) -> Option<&TlsFailure> {
        self.fell_back.as_ref()
    }

    /// Whether the session can carry another transaction.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Marks the session unusable (its state is not known).
    pub fn mark_broken(&mut self) {
        self.broken = true;
    }

    /// Writes `bytes` in one go (a command, a pipelined group, a message).
    pub async fn write(&mut self, bytes: &[u8], stage: Stage) -> Result<(), SmtpError> {
        let result = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        }
        .await;
        result.map_err(|source| {
            self.broken = true;
            SmtpError::Io { stage, source }
        })
    }

    /// Reads one whole reply, positive or not.
    pub async fn read_reply(&mut self, stage: Stage) -> Result<Reply, SmtpError> {
        let mut code = None;
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let line = self.read_line(stage).await?;
            total += line.len();
            if total > MAX_REPLY_BYTES {
                return Err(self.protocol(stage, "a reply of more than 64 KiB"));
            }
            let bytes = line.as_bytes();
            let this: Option<u16> = line.get(..3).and_then(|c| c.parse().ok());
            let Some(this) = this.filter(|c| (200..600).contains(c)) else {
                let shown: String = line.chars().take(40).collect();
                return Err(self.protocol(stage, &format!("{shown:?} has no reply code")));
            };
            if code.is_some_and(|c| c != this) {
                return Err(self.protocol(stage, "a multi-line reply changes its code"));
            }
            code = Some(this);
            lines.push(line.get(4..).unwrap_or("").trim_end().to_string());
            match bytes.get(3) {
                Some(b'-') => continue,
                None | Some(b' ') => break,
                Some(_) => return Err(self.protocol(stage, "no space or hyphen after the code")),
            }
        }
        Ok(Reply {
            code: code.expect("one line read"),
            lines,
        })
    }

    /// Reads a reply and turns a negative one into [`SmtpError::Rejected`].
    pub async fn expect(&mut self, stage: Stage) -> Result<Reply, SmtpError> {
        let reply = self.read_reply(stage).await?;
        if reply.is_positive() {
            Ok(reply)
        } else {
            Err(SmtpError::Rejected { stage, reply })
        }
    }

    /// Sends one command line (CRLF added) and reads its reply.
    pub async fn command(&mut self, line: &str, stage: Stage) -> Result<Reply, SmtpError> {
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.write(&bytes, stage).await?;
        self.expect(stage).await
    }

    /// Ends a failed transaction so the connection can carry the next one
    /// (RFC 5321 §4.1.1.5); a connection that does not take it is broken.
    pub async fn rset(&mut self) -> Result<(), SmtpError> {
        let result = self.command("RSET", Stage::Rset).await.map(|_| ());
        if result.is_err() {
            self.broken = true;
        }
        result
    }

    /// Whether the server still answers (a NOOP), for a connection that
    /// sat idle.
    pub async fn is_alive(&mut self) -> bool {
        self.command("NOOP", Stage::Noop).await.is_ok()
    }

    /// Says goodbye (QUIT) and closes the connection.
    pub async fn quit(mut self) {
        if !self.broken {
            let _ = self.command("QUIT", Stage::Quit).await;
        }
        let _ = self.stream.shutdown().await;
    }

    fn protocol(&mut self, stage: Stage, what: &str) -> SmtpError {
        self.broken = true;
        SmtpError::Protocol {
            stage,
            what: what.to_string(),
        }
    }

    /// One line, without its line end.
    async fn read_line(&mut self, stage: Stage) -> Result<String, SmtpError> {
        let mut searched = 0;
        loop {
            if let Some(at) = memchr::memchr(b'\n', &self.unread[searched..]) {
                let end = searched + at;
                let mut line: Vec<u8> = self.unread.drain(..=end).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            searched = self.unread.len();
            if searched > MAX_REPLY_BYTES {
                return Err(self.protocol(stage, "a reply line of more than 64 KiB"));
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await {
                Ok(0) => {
                    self.broken = true;
                    return Err(SmtpError::Io {
                        stage,
                        source: io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the server closed the connection",
                        ),
                    });
                }
                Ok(n) => self.unread.extend_from_slice(&chunk[..n]),
                Err(source) => {
                    self.broken = true;
                    return Err(SmtpError::Io { stage, source });
                }
            }
        }
    }

    /// EHLO, or HELO for a server that does not know EHLO; records what
    /// the server offers.
    async fn hello(&mut self, name: &str) -> Result<(), SmtpError> {
        match self.command(&format!("EHLO {name}"), Stage::Ehlo).await {
            Ok(reply) => {
                self.caps = Capabilities::parse(&reply);
                Ok(())
            }
            // RFC 5321 §3.2: a server without extensions answers 500/502.
            Err(SmtpError::Rejected { reply, .. }) if matches!(reply.code, 500 | 502) => {
                self.command(&format!("HELO {name}"), Stage::Ehlo).await?;
                self.caps = Capabilities::default();
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// STARTTLS and the handshake on this connection; the caller says EHLO
    /// again.
    async fn starttls(&mut self, tls: &TlsClient, level: TlsLevel) -> Result<(), SmtpError> {
        self.command("STARTTLS", Stage::Starttls).await?;
        // Bytes the server sent after its 220 would be read as if they had
        // come through TLS (the STARTTLS command injection of CVE-2011-0411
        // in reverse): refuse them.
        if !self.unread.is_empty() {
            return Err(self.protocol(Stage::Starttls, "data after the reply to STARTTLS"));
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Gone) else {
            return Err(self.protocol(Stage::Starttls, "STARTTLS on an encrypted connection"));
        };
        self.broken = true;
        let (stream, negotiated) = tls
            .handshake(tcp, level.verifies())
            .await
            .map_err(|failure| SmtpError::Tls { level, failure })?;
        self.broken = false;
        self.stream = Stream::Tls(Box::new(stream));
        self.tls = Some(negotiated);
        Ok(())
    }

    async fn auth(&mut self, credentials: &SmtpCredentials) -> Result<(), SmtpError> {
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        if self.caps.auth.iter().any(|m| m == "PLAIN") {
            let token = format!("\0{}\0{}", credentials.user, credentials.password);
            self.command(
                &format!("AUTH PLAIN {}", b64(token.as_bytes())),
                Stage::Auth,
            )
            .await?;
            return Ok(());
        }
        if self.caps.auth.iter().any(|m| m == "LOGIN") {
            self.command("AUTH LOGIN", Stage::Auth).await?;
            self.command(&b64(credentials.user.as_bytes()), Stage::Auth)
                .await?;
            self.command(&b64(credentials.password.as_bytes()), Stage::Auth)
                .await?;
            return Ok(());
        }
        Err(SmtpError::NoAuthMechanism(if self.caps.auth.is_empty() {
            "none".into()
        } else {
            self.caps.auth.join(" ")
        }))
    }
}

/// Opens connections to one relay: everything a connection needs, shared.
pub(crate) struct Opener {
    pub endpoint: SmtpEndpoint,
    /// The name said in EHLO; `None`: the connection's own address, as an
    /// address literal (RFC 5321 §4.1.4), when no qualified name is known.
    pub helo: Option<String>,
    /// `None` at `tls=none`.
    pub tls: Option<Arc<TlsClient>>,
    /// Bound on connecting, greeting, TLS and AUTH together.
    pub timeout: Duration,
}

impl Opener {
    /// Opens a session ready for a transaction. At `may`, a failed TLS
    /// handshake is followed by a new connection in cleartext, as Postfix
    /// does: the server offered STARTTLS but cannot complete it, and an
    /// opportunistic sender must still deliver.
    pub async fn open(&self) -> Result<Connection, SmtpError> {
        match self.open_once(true).await {
            Err(SmtpError::Tls { failure, .. }) if self.endpoint.level == TlsLevel::May => {
                tracing::warn!(
                    smtp.server = %self.endpoint.server(),
                    error = %failure,
                    "TLS failed; tls=may goes on in cleartext on a new connection"
                );
                let mut conn = self.open_once(false).await?;
                conn.fell_back = Some(failure);
                Ok(conn)
            }
            other => other,
        }
    }

    async fn open_once(&self, try_tls: bool) -> Result<Connection, SmtpError> {
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.open_within(try_tls)).await {
            Ok(result) => result,
            Err(_) => Err(SmtpError::Connect(format!(
                "no greeting, TLS or login within {} s",
                timeout.as_secs()
            ))),
        }
    }

    async fn open_within(&self, try_tls: bool) -> Result<Connection, SmtpError> {
        let endpoint = &self.endpoint;
        let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
            .await
            .map_err(|e| SmtpError::Connect(e.to_string()))?;
        // Nagle off: a message's last packet must not wait for the ACK of
        // the one before: 74 → 165 msgs/s per run at 5,000 subscribers
        // (BENCHMARKS.md, "Nagle's algorithm").
        tcp.set_nodelay(true)
            .map_err(|e| SmtpError::Connect(e.to_string()))?;
        let helo = match &self.helo {
            Some(name) => name.clone(),
            None => match tcp.local_addr().map(|a| a.ip()) {
                Ok(std::net::IpAddr::V4(ip)) => format!("[{ip}]"),
                Ok(std::net::IpAddr::V6(ip)) => format!("[IPv6:{ip}]"),
                Err(e) => return Err(SmtpError::Connect(e.to_string())),
            },
        };
        let mut conn = Connection {
            stream: Stream::Plain(tcp),
            unread: Vec::new(),
            caps: Capabilities::default(),
            tls: None,
            fell_back: None,
            broken: false,
        };
        let level = endpoint.level;
        if endpoint.implicit_tls {
            let tls = self.tls.as_ref().expect("smtps:// always has TLS");
            let Stream::Plain(tcp) = std::mem::replace(&mut conn.stream, Stream::Gone) else {
                unreachable!("a new connection is plain");
            };
            let (stream, negotiated) = tls
                .handshake(tcp, level.verifies())
                .await
                .map_err(|failure| SmtpError::Tls { level, failure })?;
            conn.stream = Stream::Tls(Box::new(stream));
            conn.tls = Some(negotiated);
        }
        conn.expect(Stage::Greeting).await?;
        conn.hello(&helo).await?;
        if !endpoint.implicit_tls {
            if let (Some(tls), true) = (&self.tls, try_tls) {
                if conn.caps.starttls {
                    match conn.starttls(tls, level).await {
                        Ok(()) => conn.hello(&helo).await?,
                        // A refused STARTTLS leaves the session as it
                        // was: `may` goes on in cleartext.
                        Err(SmtpError::Rejected { .. }) if !level.requires_tls() => {}
                        Err(e) => return Err(e),
                    }
                } else if level.requires_tls() {
                    return Err(SmtpError::NoStarttls(level));
                }
            }
        }
        if let Some(credentials) = &endpoint.credentials {
            if conn.tls.is_none() && level != TlsLevel::None {
                return Err(SmtpError::CleartextAuth(level));
            }
            conn.auth(credentials).await?;
        }
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(lines: &[&str]) -> Reply {
        Reply {
            code: 250,
            lines: lines.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn ehlo_keywords_are_read_after_the_greeting_line() {
        let caps = Capabilities::parse(&reply(&[
            "mx.example.org greets you",
            "PIPELINING",
            "SIZE 10240000",
            "STARTTLS",
            "8BITMIME",
            "AUTH PLAIN login",
            "AUTH=PLAIN",
        ]));
        assert!(caps.pipelining && caps.starttls && caps.eight_bit_mime);
        assert!(!caps.smtputf8);
        assert_eq!(caps.size_limit(), Some(10_240_000));
        assert_eq!(caps.auth, ["PLAIN", "LOGIN"]);

        let caps = Capabilities::parse(&reply(&["PIPELINING greets you", "SIZE", "XPIPELINING"]));
        assert!(!caps.pipelining);
        assert_eq!((caps.size, caps.size_limit()), (Some(0), None));
    }

    #[test]
    fn a_reply_reads_as_its_code_and_text() {
        let r = Reply {
            code: 552,
            lines: vec!["5.3.4 Message file too big".into()],
        };
        assert_eq!(r.to_string(), "552 5.3.4 Message file too big");
        assert!(r.is_permanent() && !r.is_positive());
    }

    /// A server that writes `script` after each line it reads, and
    /// records what it read.
    async fn scripted(script: Vec<&'static str>) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
        use tokio::io::AsyncBufReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let (read, mut write) = socket.into_split();
            let mut lines = tokio::io::BufReader::new(read);
            let mut script = script.into_iter();
            write
                .write_all(script.next().unwrap().as_bytes())
                .await
                .unwrap();
            let mut line = String::new();
            while lines.read_line(&mut line).await.unwrap_or(0) > 0 {
                log.lock().unwrap().push(line.trim_end().to_string());
                line.clear();
                match script.next() {
                    Some(answer) => write.write_all(answer.as_bytes()).await.unwrap(),
                    None => return,
                }
            }
        });
        (port, seen)
    }

    fn opener(port: u16, url: &str) -> Opener {
        let endpoint = SmtpEndpoint::parse(&url.replace("PORT", &port.to_string()), None).unwrap();
        Opener {
            tls: None,
            endpoint,
            helo: Some("client.example.org".into()),
            timeout: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn a_multi_line_greeting_and_ehlo_reply_are_read_whole_and_ehlo_is_said_once() {
        let (port, seen) = scripted(vec![
            "220-mx.example.org ESMTP\r\n220 second line\r\n",
            "250-mx.example.org\r\n250-SIZE 1000\r\n250 PIPELINING\r\n",
            "221 bye\r\n",
        ])
        .await;
        let conn = opener(port, "smtp://127.0.0.1:PORT?tls=none")
            .open()
            .await
            .unwrap();
        assert_eq!(conn.capabilities().size_limit(), Some(1000));
        assert!(conn.capabilities().pipelining);
        conn.quit().await;
        assert_eq!(*seen.lock().unwrap(), ["EHLO client.example.org", "QUIT"]);
    }

    #[tokio::test]
    async fn a_server_without_ehlo_is_greeted_with_helo() {
        let (port, seen) = scripted(vec![
            "220 old\r\n",
            "502 5.5.1 command not implemented\r\n",
            "250 old.example.org\r\n",
        ])
        .await;
        let conn = opener(port, "smtp://127.0.0.1:PORT?tls=none")
            .open()
            .await
            .unwrap();
        assert_eq!(*conn.capabilities(), Capabilities::default());
        assert_eq!(
            *seen.lock().unwrap(),
            ["EHLO client.example.org", "HELO client.example.org"]
        );
    }

    #[tokio::test]
    async fn at_may_a_password_is_never_sent_over_a_cleartext_session() {
        let (port, seen) = scripted(vec![
            "220 mx\r\n",
            "250-mx.example.org\r\n250 AUTH PLAIN LOGIN\r\n",
            "235 ok\r\n",
        ])
        .await;
        let err = opener(port, "smtp://bob:secret@127.0.0.1:PORT")
            .open()
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, SmtpError::CleartextAuth(TlsLevel::May)),
            "{err}"
        );
        assert_eq!(*seen.lock().unwrap(), ["EHLO client.example.org"]);

        // tls=none says cleartext is wanted.
        let (port, seen) = scripted(vec![
            "220 mx\r\n",
            "250-mx.example.org\r\n250 AUTH PLAIN LOGIN\r\n",
            "235 ok\r\n",
        ])
        .await;
        opener(port, "smtp://bob:secret@127.0.0.1:PORT?tls=none")
            .open()
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].starts_with("AUTH PLAIN "), "{seen:?}");
    }

    #[tokio::test]
    async fn garbage_instead_of_a_reply_is_a_protocol_error_naming_the_step() {
        let (port, _) = scripted(vec!["220 hi\r\n", "hello there\r\n"]).await;
        let err = opener(port, "smtp://127.0.0.1:PORT?tls=none")
            .open()
            .await
            .err()
            .unwrap();
        assert!(
            matches!(
                err,
                SmtpError::Protocol {
                    stage: Stage::Ehlo,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("no reply code"), "{err}");
    }
}

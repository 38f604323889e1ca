//! A real SMTP server on loopback, written on tokio, for integration tests.
//!
//! It owns the wire protocol (an RFC 5321 subset: greeting, EHLO/HELO, AUTH PLAIN/LOGIN, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT, several messages per connection, many connections at
//! once), the record of what was accepted, and runtime fault injection ([`Faults`]). It must not
//! interpret message content (that is `support::mail`) and must never panic on what a client sends:
//! garbage gets a 5xx reply, overlong lines are cut off, a vanished client just ends its connection.

use std::io;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use futures::FutureExt as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};

/// The name the server gives itself in its greeting and EHLO reply.
const HOSTNAME: &str = "paperboy-test.invalid";
/// RFC 5321 allows 512 octets per command line; clients in the wild exceed it with long
/// parameters, so be generous, but bounded, so a client that never sends LF cannot grow memory.
const MAX_COMMAND_LINE: usize = 4096;
/// Cap on one message; a larger one is read to its end and then refused with 552.
const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;
/// Advertised in EHLO so clients know the cap before sending.
const SIZE_LIMIT_TEXT: &str = "67108864";
/// `wait_for` re-checks at least this often even if no arrival wakes it.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

/// One message the server accepted (answered 250 to the end of its DATA).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Reverse path from `MAIL FROM:<…>`, without angle brackets; empty for the null sender `<>`.
    pub mail_from: String,
    /// Every recipient the server accepted for this message (rejected ones are absent), in order.
    pub rcpt_to: Vec<String>,
    /// The message as sent after DATA, dot-unstuffed, every line ending normalised to CRLF,
    /// without the terminating `.` line.
    pub data: Vec<u8>,
    /// `(user, password)` from a successful AUTH on the connection that carried the message.
    pub auth: Option<(String, String)>,
}

/// A reply the fault injector sends instead of the normal one.
#[derive(Debug, Clone)]
struct Reply {
    code: u16,
    text: String,
}

impl Reply {
    fn new(code: u16, text: &str) -> Self {
        Self {
            code,
            text: text.to_owned(),
        }
    }
}

/// A reply used for the next `remaining` occasions; `usize::MAX` means for ever.
#[derive(Debug, Clone)]
struct CountedReply {
    reply: Reply,
    remaining: usize,
}

impl CountedReply {
    fn take(&mut self) -> Option<Reply> {
        if self.remaining == 0 {
            return None;
        }
        if self.remaining != usize::MAX {
            self.remaining -= 1;
        }
        Some(self.reply.clone())
    }
}

#[derive(Debug, Clone)]
struct RcptRule {
    /// Lower-cased full address, or `@domain` to match a whole domain.
    pattern: String,
    reply: CountedReply,
}

impl RcptRule {
    fn matches(&self, recipient: &str) -> bool {
        let recipient = recipient.to_lowercase();
        if self.pattern.starts_with('@') {
            recipient.ends_with(&self.pattern)
        } else {
            recipient == self.pattern
        }
    }
}

#[derive(Debug, Default)]
struct FaultState {
    rcpt: Vec<RcptRule>,
    mail: Option<CountedReply>,
    data_end: Option<CountedReply>,
    auth: Option<CountedReply>,
    stall_from: Option<usize>,
    drop_during_data: usize,
    /// (messages left, pause): accept and record, then answer only after the pause.
    late_accept: Option<(usize, Duration)>,
    delay: Duration,
    refuse_after: Option<usize>,
    /// Leave PIPELINING out of the EHLO reply.
    no_pipelining: bool,
}

struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
    faults: Mutex<FaultState>,
    connections: AtomicUsize,
    /// Connection tasks that panicked: always a harness bug, which tests assert never happens.
    panicked: AtomicUsize,
    /// Messages accepted since start, including any taken out of `messages` since.
    accepted: AtomicUsize,
    /// Every command line received, in order (AUTH exchanges redacted).
    commands: Mutex<Vec<String>>,
    /// Verbs of the commands that arrived with the next command already
    /// behind them, unanswered: the client pipelined them (RFC 2920).
    pipelined: Mutex<Vec<String>>,
    /// Flips to true once the server stops taking connections ("accept N then go down").
    down: watch::Sender<bool>,
}

/// A test must be able to inspect the server after another test thread panicked while holding
/// a lock, so poisoning is ignored rather than propagated as a second panic.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    fn accepted_count(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn record(&self, mail: ReceivedMail) {
        let count = {
            let mut messages = lock(&self.messages);
            messages.push(mail);
            self.accepted.fetch_add(1, Ordering::SeqCst) + 1
        };
        self.arrived.notify_waiters();
        if self.faults().refuse_after.is_some_and(|n| count >= n) {
            self.down.send_replace(true);
        }
    }
}

/// Runtime fault injection for an [`SmtpServer`]; every setter takes effect for the next command
/// the server reads and returns `&Self` so calls chain. Obtained from [`SmtpServer::faults`].
///
/// Reply texts are sent verbatim after the code, so include an enhanced status code if the client
/// under test cares (`"5.1.1 no such user"`). A 421 reply also closes the connection, as RFC 5321
/// requires.
pub struct Faults {
    shared: Arc<Shared>,
}

impl Faults {
    /// Answer `RCPT TO` for `recipient` (case-insensitive; `@domain` matches the whole domain) with
    /// `code text` every time.
    pub fn rcpt(&self, recipient: &str, code: u16, text: &str) -> &Self {
        self.rcpt_times(recipient, code, text, usize::MAX)
    }

    /// Answer `RCPT TO` for `recipient` with `code text` the next `times` times, then accept it.
    pub fn rcpt_times(&self, recipient: &str, code: u16, text: &str, times: usize) -> &Self {
        self.shared.faults().rcpt.push(RcptRule {
            pattern: recipient.to_lowercase(),
            reply: CountedReply {
                reply: Reply::new(code, text),
                remaining: times,
            },
        });
        self
    }

    /// Answer the next `times` `MAIL FROM` commands with `code text` (e.g. 421, 451, 452).
    pub fn mail(&self, code: u16, text: &str, times: usize) -> &Self {
        self.shared.faults().mail = Some(CountedReply {
            reply: Reply::new(code, text),
            remaining: times,
        });
        self
    }

    /// Answer the final `.` of the next `times` messages with `code text`; they are not recorded.
    pub fn data_end(&self, code: u16, text: &str, times: usize) -> &Self {
        self.shared.faults().data_end = Some(CountedReply {
            reply: Reply::new(code, text),
            remaining: times,
        });
        self
    }

    /// Answer the next `times` AUTH attempts with `code text` (e.g. 535); credentials are not kept.
    pub fn auth(&self, code: u16, text: &str, times: usize) -> &Self {
        self.shared.faults().auth = Some(CountedReply {
            reply: Reply::new(code, text),
            remaining: times,
        });
        self
    }

    /// Never answer the final `.` of the `nth` accepted message (1-based: `1` stalls the first)
    /// or any later one. A stalled message is not recorded; the connection stays open, silent,
    /// until the client gives up or the server stops.
    pub fn stall_from(&self, nth: usize) -> &Self {
        self.shared.faults().stall_from = Some(nth.max(1));
        self
    }

    /// For the next `times` messages, answer DATA with 354, read one line of content, then close
    /// the connection without a reply.
    pub fn drop_during_data(&self, times: usize) -> &Self {
        self.shared.faults().drop_during_data = times;
        self
    }

    /// For the next `times` messages, record the message as accepted but send the 250 for its
    /// final `.` only after `pause`: a server that took the mail while the client, having
    /// timed out, believes it failed (the duplicate risk of RFC 1047).
    pub fn late_accept(&self, times: usize, pause: Duration) -> &Self {
        self.shared.faults().late_accept = Some((times, pause));
        self
    }

    /// Wait `delay` before every reply, the greeting included (for client timeout tests).
    pub fn delay(&self, delay: Duration) -> &Self {
        self.shared.faults().delay = delay;
        self
    }

    /// After `n` messages in total have been accepted, stop listening (new connections are
    /// refused) and answer the next command on every open connection with 421, closing it:
    /// a server that goes down mid-run. The port is released at once, so
    /// `SmtpServer::start_on(port)` brings a fresh server "back up" there.
    pub fn refuse_after(&self, n: usize) -> &Self {
        self.shared.faults().refuse_after = Some(n);
        if self.shared.accepted_count() >= n {
            self.shared.down.send_replace(true);
        }
        self
    }

    /// Leave PIPELINING out of the EHLO reply from now on (a server that does not offer it).
    pub fn without_pipelining(&self) -> &Self {
        self.shared.faults().no_pipelining = true;
        self
    }

    /// Remove every fault; a server that already went down stays down.
    pub fn clear(&self) -> &Self {
        *self.shared.faults() = FaultState::default();
        self
    }
}

/// A running SMTP server bound to `127.0.0.1`. Dropping it (or [`SmtpServer::stop`]) closes the
/// listener and every connection.
pub struct SmtpServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    faults: Faults,
    shutdown: Option<watch::Sender<bool>>,
    task: Option<JoinHandle<()>>,
}

impl SmtpServer {
    /// Start a server on an ephemeral port.
    ///
    /// # Panics
    /// If the loopback interface cannot be bound at all, which leaves nothing to test.
    pub async fn start() -> SmtpServer {
        match Self::start_on(0).await {
            Ok(server) => server,
            Err(e) => panic!("cannot bind an SMTP test server on 127.0.0.1:0: {e}"),
        }
    }

    /// Start a server on `127.0.0.1:port` (`0` picks a free one), e.g. to bring a server back
    /// up where a stopped one was.
    pub async fn start_on(port: u16) -> io::Result<SmtpServer> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let (down, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            messages: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            faults: Mutex::new(FaultState::default()),
            connections: AtomicUsize::new(0),
            panicked: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            commands: Mutex::new(Vec::new()),
            pipelined: Mutex::new(Vec::new()),
            down,
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared), shutdown_rx));
        Ok(SmtpServer {
            addr,
            faults: Faults {
                shared: Arc::clone(&shared),
            },
            shared,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:PORT`, the form paperboy's settings take.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The fault injector; changes apply to the next command read on any connection.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Every message accepted so far, in order of acceptance.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.shared.messages).clone()
    }

    /// Every message accepted so far, removing them from the server's record (for tests that
    /// check what a second run sends). Fault counters such as [`Faults::stall_from`] and
    /// [`Faults::refuse_after`] keep counting every message accepted since start.
    pub fn take_messages(&self) -> Vec<ReceivedMail> {
        std::mem::take(&mut *lock(&self.shared.messages))
    }

    /// Every command line received so far on any connection, in arrival order, as sent (message
    /// content and AUTH exchanges are not included; `AUTH PLAIN <secret>` is logged as
    /// `AUTH PLAIN`). Lets a test see e.g. how often a recipient was retried, or that QUIT was sent.
    pub fn commands(&self) -> Vec<String> {
        lock(&self.shared.commands).clone()
    }

    /// The verbs (upper-case) of every command that arrived while the client had already sent
    /// the next one without waiting for the reply, i.e. pipelined (RFC 2920), in arrival order.
    /// A client that waits for each reply never shows up here.
    pub fn pipelined_commands(&self) -> Vec<String> {
        lock(&self.shared.pipelined).clone()
    }

    /// How many connection handlers panicked (a harness bug; the server keeps serving others).
    pub fn panicked_connections(&self) -> usize {
        self.shared.panicked.load(Ordering::SeqCst)
    }

    /// How many TCP connections the server has accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// Wait until at least `n` messages were accepted or `timeout` passed, then return every
    /// accepted message. It does not fail on timeout: the caller asserts on what it got, which
    /// also lets a test check that nothing *more* arrived.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        // Real time, not tokio's: under a paused clock the deadline must still mean wall time.
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let arrived = self.shared.arrived.notified();
            tokio::pin!(arrived);
            // Registered before the check, so an arrival between the check and the wait wakes us.
            arrived.as_mut().enable();
            {
                let messages = lock(&self.shared.messages);
                if messages.len() >= n {
                    return messages.clone();
                }
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return self.messages();
            }
            let _ = tokio::time::timeout((deadline - now).min(POLL_INTERVAL), arrived).await;
        }
    }

    /// Close the listener and every open connection, and wait until the port is released.
    pub async fn stop(mut self) {
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        // Dropping the sender ends the accept loop, which aborts the connections it owns.
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut down = shared.down.subscribe();
    let mut listener = Some(listener);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            () = went_down(&mut down), if listener.is_some() => listener = None,
            accepted = accept(listener.as_ref()) => match accepted {
                Ok((stream, _)) => {
                    shared.connections.fetch_add(1, Ordering::SeqCst);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                // Out of file descriptors under a stress test: back off instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Resolves once the server is down ("accept N then go down"); never if it cannot go down any
/// more because the server itself is gone.
async fn went_down(down: &mut watch::Receiver<bool>) {
    if down.wait_for(|down| *down).await.is_err() {
        std::future::pending::<()>().await;
    }
}

async fn accept(listener: Option<&TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

enum Line {
    Complete(Vec<u8>),
    TooLong,
    Eof,
}

/// Read one line, without its CR LF (a bare LF is accepted too). A line longer than `max` is
/// consumed to its end and reported as `TooLong` without being kept.
async fn read_line(reader: &mut BufReader<TcpStream>, max: usize) -> io::Result<Line> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let available = reader.fill_buf().await?;
        if available.is_empty() {
            return Ok(Line::Eof);
        }
        let newline = available.iter().position(|&b| b == b'\n');
        let take = newline.map_or(available.len(), |i| i + 1);
        if !too_long {
            if line.len() + take > max + 2 {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(&available[..take]);
            }
        }
        reader.consume(take);
        if newline.is_some() {
            break;
        }
    }
    if too_long {
        return Ok(Line::TooLong);
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Line::Complete(line))
}

#[derive(Default)]
struct Session {
    greeted: bool,
    auth: Option<(String, String)>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

/// What the command loop does after a command.
enum Next {
    Continue,
    Close,
}

struct Connection {
    reader: BufReader<TcpStream>,
    shared: Arc<Shared>,
    session: Session,
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut connection = Connection {
        reader: BufReader::new(stream),
        shared: Arc::clone(&shared),
        session: Session::default(),
    };
    // Counted here rather than when the task is reaped, so a test sees it as soon as it happens.
    // An I/O error just means the client went away; there is nobody left to tell.
    if AssertUnwindSafe(connection.run())
        .catch_unwind()
        .await
        .is_err()
    {
        shared.panicked.fetch_add(1, Ordering::SeqCst);
    }
}

impl Connection {
    async fn reply(&mut self, code: u16, text: &str) -> io::Result<()> {
        self.reply_lines(code, &[text]).await
    }

    async fn reply_lines(&mut self, code: u16, lines: &[&str]) -> io::Result<()> {
        let delay = self.shared.faults().delay;
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut out = String::new();
        for (i, line) in lines.iter().enumerate() {
            let separator = if i + 1 == lines.len() { ' ' } else { '-' };
            out.push_str(&format!("{code}{separator}{line}\r\n"));
        }
        let stream = self.reader.get_mut();
        stream.write_all(out.as_bytes()).await?;
        stream.flush().await
    }

    async fn send(&mut self, reply: Reply) -> io::Result<Next> {
        self.reply(reply.code, &reply.text).await?;
        Ok(if reply.code == 421 {
            Next::Close
        } else {
            Next::Continue
        })
    }

    async fn run(&mut self) -> io::Result<()> {
        self.reply(220, &format!("{HOSTNAME} ESMTP paperboy test server"))
            .await?;
        let mut down = self.shared.down.subscribe();
        loop {
            let line = tokio::select! {
                line = read_line(&mut self.reader, MAX_COMMAND_LINE) => line?,
                () = went_down(&mut down) => {
                    return self.reply(421, "4.3.2 service shutting down").await;
                }
            };
            let line = match line {
                Line::Eof => return Ok(()),
                Line::TooLong => {
                    self.reply(500, "5.5.2 line too long").await?;
                    continue;
                }
                Line::Complete(line) => line,
            };
            if let Next::Close = self.command(&line).await? {
                return Ok(());
            }
        }
    }

    async fn command(&mut self, line: &[u8]) -> io::Result<Next> {
        let line = String::from_utf8_lossy(line);
        let (verb, rest) = match line.split_once(' ') {
            Some((verb, rest)) => (verb, rest.trim()),
            None => (line.trim(), ""),
        };
        let logged = if verb.eq_ignore_ascii_case("AUTH") {
            let mechanism = rest.split_whitespace().next().unwrap_or("");
            format!("{verb} {mechanism}")
        } else {
            line.to_string()
        };
        lock(&self.shared.commands).push(logged);
        // Read, not yet answered, and the next command is already here.
        if !self.reader.buffer().is_empty() {
            lock(&self.shared.pipelined).push(verb.to_ascii_uppercase());
        }
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" if rest.is_empty() => self.reply(501, "5.5.4 EHLO needs a domain").await?,
            "EHLO" => {
                self.session = Session {
                    auth: self.session.auth.take(),
                    greeted: true,
                    ..Session::default()
                };
                let greeting = format!("{HOSTNAME} greets {rest}");
                let size = format!("SIZE {SIZE_LIMIT_TEXT}");
                let mut lines = vec![
                    greeting.as_str(),
                    "PIPELINING",
                    "8BITMIME",
                    "SMTPUTF8",
                    "ENHANCEDSTATUSCODES",
                    &size,
                    "AUTH PLAIN LOGIN",
                ];
                if self.shared.faults().no_pipelining {
                    lines.retain(|l| *l != "PIPELINING");
                }
                self.reply_lines(250, &lines).await?
            }
            "HELO" if rest.is_empty() => self.reply(501, "5.5.4 HELO needs a domain").await?,
            "HELO" => {
                self.session.greeted = true;
                self.session.reset_transaction();
                self.reply(250, HOSTNAME).await?
            }
            "AUTH" => return self.auth(rest).await,
            "MAIL" => return self.mail(rest).await,
            "RCPT" => return self.rcpt(rest).await,
            "DATA" => return self.data().await,
            "RSET" => {
                self.session.reset_transaction();
                self.reply(250, "2.0.0 OK").await?
            }
            "NOOP" => self.reply(250, "2.0.0 OK").await?,
            "VRFY" => self.reply(252, "2.5.2 cannot verify").await?,
            "HELP" => self.reply(214, "2.0.0 see RFC 5321").await?,
            "QUIT" => {
                self.reply(221, "2.0.0 bye").await?;
                return Ok(Next::Close);
            }
            "" => self.reply(500, "5.5.2 empty command").await?,
            _ => self.reply(500, "5.5.1 command not recognised").await?,
        }
        Ok(Next::Continue)
    }

    async fn mail(&mut self, rest: &str) -> io::Result<Next> {
        if !self.session.greeted {
            self.reply(503, "5.5.1 send EHLO or HELO first").await?;
            return Ok(Next::Continue);
        }
        if self.session.mail_from.is_some() {
            self.reply(503, "5.5.1 nested MAIL command").await?;
            return Ok(Next::Continue);
        }
        let Some(path) = strip_prefix_ignore_case(rest, "FROM:").and_then(parse_path) else {
            self.reply(501, "5.5.4 syntax: MAIL FROM:<address>").await?;
            return Ok(Next::Continue);
        };
        let fault = self
            .shared
            .faults()
            .mail
            .as_mut()
            .and_then(CountedReply::take);
        if let Some(reply) = fault {
            return self.send(reply).await;
        }
        self.session.mail_from = Some(path);
        self.reply(250, "2.1.0 OK").await?;
        Ok(Next::Continue)
    }

    async fn rcpt(&mut self, rest: &str) -> io::Result<Next> {
        if self.session.mail_from.is_none() {
            self.reply(503, "5.5.1 need MAIL before RCPT").await?;
            return Ok(Next::Continue);
        }
        let Some(recipient) = strip_prefix_ignore_case(rest, "TO:")
            .and_then(parse_path)
            .filter(|path| !path.is_empty())
        else {
            self.reply(501, "5.5.4 syntax: RCPT TO:<address>").await?;
            return Ok(Next::Continue);
        };
        let fault = self
            .shared
            .faults()
            .rcpt
            .iter_mut()
            .filter(|rule| rule.matches(&recipient))
            .find_map(|rule| rule.reply.take());
        if let Some(reply) = fault {
            return self.send(reply).await;
        }
        self.session.rcpt_to.push(recipient);
        self.reply(250, "2.1.5 OK").await?;
        Ok(Next::Continue)
    }

    async fn data(&mut self) -> io::Result<Next> {
        if self.session.mail_from.is_none() {
            self.reply(503, "5.5.1 need MAIL before DATA").await?;
            return Ok(Next::Continue);
        }
        if self.session.rcpt_to.is_empty() {
            self.reply(554, "5.5.1 no valid recipients").await?;
            return Ok(Next::Continue);
        }
        let drop_now = {
            let mut faults = self.shared.faults();
            let drop_now = faults.drop_during_data > 0;
            if drop_now {
                faults.drop_during_data -= 1;
            }
            drop_now
        };
        self.reply(354, "end data with <CR><LF>.<CR><LF>").await?;
        if drop_now {
            let _ = read_line(&mut self.reader, MAX_MESSAGE_BYTES).await?;
            return Ok(Next::Close);
        }

        let mut data = Vec::new();
        let mut oversize = false;
        loop {
            match read_line(&mut self.reader, MAX_MESSAGE_BYTES).await? {
                Line::Eof => return Ok(Next::Close),
                Line::TooLong => oversize = true,
                Line::Complete(line) if line == b"." => break,
                Line::Complete(line) => {
                    let line = line.strip_prefix(b".").unwrap_or(&line);
                    if data.len() + line.len() + 2 > MAX_MESSAGE_BYTES {
                        oversize = true;
                    }
                    if !oversize {
                        data.extend_from_slice(line);
                        data.extend_from_slice(b"\r\n");
                    }
                }
            }
        }
        let mail = ReceivedMail {
            mail_from: self.session.mail_from.take().unwrap_or_default(),
            rcpt_to: std::mem::take(&mut self.session.rcpt_to),
            data,
            auth: self.session.auth.clone(),
        };
        if oversize {
            self.reply(552, "5.3.4 message too big").await?;
            return Ok(Next::Continue);
        }

        let stall = self
            .shared
            .faults()
            .stall_from
            .is_some_and(|nth| self.shared.accepted_count() + 1 >= nth);
        if stall {
            self.drain_until_closed().await;
            return Ok(Next::Close);
        }
        let fault = self
            .shared
            .faults()
            .data_end
            .as_mut()
            .and_then(CountedReply::take);
        if let Some(reply) = fault {
            return self.send(reply).await;
        }
        let late = {
            let mut faults = self.shared.faults();
            match &mut faults.late_accept {
                Some((left, pause)) if *left > 0 => {
                    *left -= 1;
                    Some(*pause)
                }
                _ => None,
            }
        };
        self.shared.record(mail);
        if let Some(pause) = late {
            tokio::time::sleep(pause).await;
        }
        self.reply(250, "2.0.0 OK queued").await?;
        Ok(Next::Continue)
    }

    /// Keep the connection open and silent, discarding input, until the client hangs up (or the
    /// server stops and aborts this task).
    async fn drain_until_closed(&mut self) {
        loop {
            match self.reader.fill_buf().await {
                Ok([]) | Err(_) => return,
                Ok(buf) => {
                    let n = buf.len();
                    self.reader.consume(n);
                }
            }
        }
    }

    async fn auth(&mut self, rest: &str) -> io::Result<Next> {
        if !self.session.greeted {
            self.reply(503, "5.5.1 send EHLO first").await?;
            return Ok(Next::Continue);
        }
        if self.session.auth.is_some() {
            self.reply(503, "5.5.1 already authenticated").await?;
            return Ok(Next::Continue);
        }
        let (mechanism, initial) = match rest.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim())),
            None => (rest, None),
        };
        let credentials = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(initial) => Some(initial.to_owned()),
                    None => self.challenge("").await?,
                };
                response.and_then(|r| decode_plain(&r))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(initial) => Some(initial.to_owned()),
                    None => self.challenge("VXNlcm5hbWU6").await?,
                };
                let user = user.and_then(|u| decode_text(&u));
                match user {
                    Some(user) => self
                        .challenge("UGFzc3dvcmQ6")
                        .await?
                        .and_then(|p| decode_text(&p))
                        .map(|password| (user, password)),
                    None => None,
                }
            }
            _ => {
                self.reply(504, "5.5.4 unrecognised authentication mechanism")
                    .await?;
                return Ok(Next::Continue);
            }
        };
        let Some(credentials) = credentials else {
            self.reply(501, "5.5.2 malformed or cancelled authentication")
                .await?;
            return Ok(Next::Continue);
        };
        let fault = self
            .shared
            .faults()
            .auth
            .as_mut()
            .and_then(CountedReply::take);
        if let Some(reply) = fault {
            return self.send(reply).await;
        }
        self.session.auth = Some(credentials);
        self.reply(235, "2.7.0 authentication successful").await?;
        Ok(Next::Continue)
    }

    /// Send a 334 challenge and read the client's answer; `None` if the client cancelled (`*`)
    /// or sent something unreadable.
    async fn challenge(&mut self, prompt: &str) -> io::Result<Option<String>> {
        self.reply(334, prompt).await?;
        match read_line(&mut self.reader, MAX_COMMAND_LINE).await? {
            Line::Complete(line) if line != b"*" => Ok(String::from_utf8(line).ok()),
            Line::Eof => Err(io::ErrorKind::UnexpectedEof.into()),
            _ => Ok(None),
        }
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text[prefix.len()..].trim_start())
}

/// The address inside `<…>` (parameters after it are ignored); a bare address is tolerated
/// because some clients omit the brackets.
fn parse_path(text: &str) -> Option<String> {
    let address = match text.strip_prefix('<') {
        Some(inner) => &inner[..inner.find('>')?],
        None => text.split_whitespace().next().unwrap_or(""),
    };
    // A source route (`@relay:user@host`) is obsolete; the mailbox is after the colon.
    let address = match address.strip_prefix('@') {
        Some(_) => address
            .split_once(':')
            .map_or(address, |(_, mailbox)| mailbox),
        None => address,
    };
    if address
        .chars()
        .any(|c| c.is_whitespace() || c == '<' || c == '>')
    {
        return None;
    }
    Some(address.to_owned())
}

fn decode_text(base64_text: &str) -> Option<String> {
    if base64_text == "=" {
        return Some(String::new());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text.trim())
        .ok()?;
    String::from_utf8(bytes).ok()
}

/// SASL PLAIN: `authzid NUL authcid NUL password`, base64-encoded.
fn decode_plain(base64_text: &str) -> Option<(String, String)> {
    let text = decode_text(base64_text)?;
    let mut parts = text.split('\0');
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn plain(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    #[test]
    fn a_bracketed_path_is_read_and_its_parameters_ignored() {
        assert_eq!(
            parse_path("<a@b.c> BODY=8BITMIME SIZE=10").as_deref(),
            Some("a@b.c")
        );
        assert_eq!(parse_path("<>").as_deref(), Some(""));
        assert_eq!(parse_path("a@b.c").as_deref(), Some("a@b.c"));
        assert_eq!(parse_path("<@relay:a@b.c>").as_deref(), Some("a@b.c"));
    }

    #[test]
    fn an_unclosed_or_spaced_path_is_rejected() {
        assert_eq!(parse_path("<a@b.c"), None);
        assert_eq!(parse_path("<a b@c.d>"), None);
    }

    #[test]
    fn the_from_keyword_is_matched_without_regard_to_case_or_trailing_space() {
        assert_eq!(strip_prefix_ignore_case("from: <x>", "FROM:"), Some("<x>"));
        assert_eq!(strip_prefix_ignore_case("FRO", "FROM:"), None);
        // A multi-byte character straddling the prefix length must not panic.
        assert_eq!(strip_prefix_ignore_case("FROMé", "FROM:"), None);
    }

    #[test]
    fn sasl_plain_yields_user_and_password_and_rejects_malformed_input() {
        assert_eq!(
            decode_plain(&plain("\0user\0pass")),
            Some(("user".to_owned(), "pass".to_owned()))
        );
        assert_eq!(decode_plain(&plain("user\0pass")), None);
        assert_eq!(decode_plain(&plain("a\0b\0c\0d")), None);
        assert_eq!(decode_plain("!!!"), None);
    }

    #[test]
    fn a_recipient_rule_matches_an_address_or_a_whole_domain() {
        let rule = |pattern: &str| RcptRule {
            pattern: pattern.to_owned(),
            reply: CountedReply {
                reply: Reply::new(550, "no"),
                remaining: 1,
            },
        };
        assert!(rule("bad@x.org").matches("BAD@x.org"));
        assert!(!rule("bad@x.org").matches("notbad@x.org"));
        assert!(rule("@x.org").matches("anyone@X.org"));
        assert!(!rule("@x.org").matches("anyone@ax.org"));
    }

    #[test]
    fn a_counted_reply_runs_out_and_a_permanent_one_does_not() {
        let mut twice = CountedReply {
            reply: Reply::new(451, "later"),
            remaining: 2,
        };
        assert!(twice.take().is_some() && twice.take().is_some());
        assert!(twice.take().is_none());
        let mut always = CountedReply {
            reply: Reply::new(550, "never"),
            remaining: usize::MAX,
        };
        assert!((0..1000).all(|_| always.take().is_some()));
    }

    proptest! {
        #[test]
        fn sasl_plain_round_trips_any_credentials(
            user in "[^\0]{0,40}",
            password in "[^\0]{0,40}",
        ) {
            let encoded = plain(&format!("authz\0{user}\0{password}"));
            prop_assert_eq!(decode_plain(&encoded), Some((user, password)));
        }

        #[test]
        fn parsing_any_argument_text_never_panics(text in ".{0,80}") {
            let _ = parse_path(&text);
            let _ = strip_prefix_ignore_case(&text, "FROM:");
            let _ = decode_plain(&text);
        }
    }
}

//! SMTP PIPELINING (RFC 2920) on the pooled connections of [`super::pool`]:
//! `MAIL FROM`, every `RCPT TO` and `DATA` leave in one write, then their
//! replies are read back in order and each is checked; the message itself
//! follows only after `DATA`'s 354, as RFC 2920 requires. That saves two
//! round trips per message. A server that does not offer PIPELINING gets
//! one command at a time, each reply checked before the next.
//!
//! The message goes out dot-stuffed (RFC 5321 §4.5.2) in one buffer with
//! its end-of-data line, in one write: lettre's own `message()` stuffs a
//! byte at a time, which was the largest single item of a digest run's
//! profile once the MIME parts were cheap to build. Measured with
//! `examples/smtp_send` (5,000 messages of 45,333 bytes, 4 in flight,
//! medians of 3; BENCHMARKS.md, "SMTP pipelining and the send path
//! alone"): 993 → 1,615 msgs/s to a server without PIPELINING (the
//! one-write message alone), 1,325 → 1,719 msgs/s with it.
//!
//! It must not decide what a failure means (the transport classifies the
//! error it returns: a 550 on `RCPT` stays the recipient's hard bounce) and
//! must never leave a connection in an unknown state: after any failure the
//! connection is closed, never handed back to the pool, and nothing was
//! accepted, so nothing is marked sent.

use lettre::address::Envelope;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Mail, Rcpt};
use lettre::transport::smtp::extension::{Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::{Response, Severity};
use lettre::transport::smtp::Error;

/// Whether an EHLO reply offers PIPELINING (a keyword line after the
/// greeting line).
pub(crate) fn offers_pipelining(ehlo: &Response) -> bool {
    ehlo.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// One transaction: pipelined when `pipelining` (the server offered it),
/// else lettre's own. Returns the reply to the end of the message.
pub(crate) async fn send(
    conn: &mut AsyncSmtpConnection,
    pipelining: bool,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Response, Error> {
    let Some(mail_parameters) = parameters(conn, envelope, email) else {
        // lettre's path, which also reports an envelope or message the
        // server cannot take (SMTPUTF8, 8BITMIME) with its own errors.
        return conn.send(envelope, email).await;
    };
    if !pipelining {
        return one_at_a_time(conn, mail_parameters, envelope, email).await;
    }
    let mut commands = Mail::new(envelope.from().cloned(), mail_parameters).to_string();
    for to in envelope.to() {
        commands.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
    }
    commands.push_str(&Data.to_string());

    // The first reply (MAIL's) comes back from the write itself; then one
    // per recipient and DATA's. The first negative reply is the answer, but
    // every reply is read so none is taken for a later command's. On any
    // error the caller drops the connection: it never goes back to the pool.
    let mut failure = match conn.command(commands).await {
        Ok(_) => None,
        // Not a reply: the write or the read failed, the connection is gone.
        Err(e) if e.status().is_none() => return Err(e),
        Err(e) => Some(e),
    };
    let mut data_open = false;
    for _ in 0..envelope.to().len() + 1 {
        match conn.read_response().await {
            Ok(reply) => data_open = reply.code().severity == Severity::PositiveIntermediate,
            Err(e) if e.status().is_none() => return Err(failure.unwrap_or(e)),
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if let Some(e) = failure {
        if !data_open {
            // Every reply is in: say QUIT politely before closing.
            conn.abort().await;
        }
        // Else DATA was answered 354 regardless and the server waits for a
        // message: closing the connection without the final dot drops it.
        return Err(e);
    }
    message(conn, email).await
}

/// The transaction without PIPELINING: each command waits for its reply,
/// and the first refusal ends it (QUIT, then the connection is dropped).
async fn one_at_a_time(
    conn: &mut AsyncSmtpConnection,
    mail_parameters: Vec<MailParameter>,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Response, Error> {
    let mut commands = vec![Mail::new(envelope.from().cloned(), mail_parameters).to_string()];
    commands.extend(
        envelope
            .to()
            .iter()
            .map(|to| Rcpt::new(to.clone(), vec![]).to_string()),
    );
    commands.push(Data.to_string());
    for command in commands {
        if let Err(e) = conn.command(command).await {
            if e.status().is_some() {
                conn.abort().await;
            }
            return Err(e);
        }
    }
    message(conn, email).await
}

/// Sends the message after DATA's 354 and reads the final reply.
async fn message(conn: &mut AsyncSmtpConnection, email: &[u8]) -> Result<Response, Error> {
    match data_block(email) {
        Some(block) => conn.command(block).await,
        None => conn.message(email).await,
    }
}

/// The message as it goes on the wire after DATA's 354: a `.` opening the
/// message or a line (after CR LF) doubled, then `CRLF.CRLF`, byte for byte
/// what lettre's `message()` sends. `None` for content that is not UTF-8
/// (never built here: lettre's encodings are ASCII), left to lettre.
/// Hand-written for speed: one write instead of lettre's byte-at-a-time
/// stuffing took the send path from 993 to 1,615 msgs/s (module docs).
fn data_block(email: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(email).ok()?;
    let mut out = String::with_capacity(text.len() + text.len() / 256 + 8);
    if text.starts_with('.') {
        out.push('.');
    }
    let mut copied = 0;
    // Lines opening with a dot are rare: found with a vectorised search.
    for crlf in memchr::memmem::find_iter(text.as_bytes(), b"\r\n.") {
        out.push_str(&text[copied..crlf + 2]);
        out.push('.');
        copied = crlf + 2;
    }
    out.push_str(&text[copied..]);
    out.push_str("\r\n.\r\n");
    Some(out)
}

/// MAIL FROM's parameters as lettre would choose them, or `None` when
/// lettre's own path must handle the transaction (a non-ASCII envelope, or
/// 8-bit content the server did not say it takes).
fn parameters(
    conn: &AsyncSmtpConnection,
    envelope: &Envelope,
    email: &[u8],
) -> Option<Vec<MailParameter>> {
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    if !envelope.from().is_none_or(ascii) || !envelope.to().iter().all(ascii) {
        return None;
    }
    if email.is_ascii() {
        return Some(Vec::new());
    }
    conn.server_info()
        .supports_feature(Extension::EightBitMime)
        .then(|| vec![MailParameter::Body(MailBodyParameter::EightBitMime)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use lettre::transport::smtp::response::{Category, Code, Detail};

    fn ehlo(lines: &[&str]) -> Response {
        Response::new(
            Code::new(
                Severity::PositiveCompletion,
                Category::MailSystem,
                Detail::Zero,
            ),
            lines.iter().map(|l| l.to_string()).collect(),
        )
    }

    /// What a server does with the block (RFC 5321 §4.5.2): cut at the
    /// end-of-data line, then drop the first `.` of every line.
    fn unstuff(block: &str) -> String {
        let body = block.strip_suffix("\r\n.\r\n").expect("end-of-data line");
        body.split("\r\n")
            .map(|line| line.strip_prefix('.').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn a_dot_opening_the_message_or_a_line_is_doubled_and_nothing_else_changes() {
        let block = data_block(b".top\r\nmiddle.\r\n.\r\n..two\r\nbare\n.lf\r\n").unwrap();
        assert_eq!(
            block,
            "..top\r\nmiddle.\r\n..\r\n...two\r\nbare\n.lf\r\n\r\n.\r\n"
        );
        assert_eq!(data_block(b"").unwrap(), "\r\n.\r\n");
        assert!(data_block(&[0xff, b'.']).is_none());
    }

    proptest::proptest! {
        #[test]
        fn the_server_reads_back_exactly_the_message(
            lines in proptest::collection::vec("[.a-z \\r]{0,6}", 0..12)
        ) {
            let message = lines.join("\r\n");
            let block = data_block(message.as_bytes()).unwrap();
            proptest::prop_assert!(!block[..block.len() - 5].contains("\r\n.\r\n"));
            proptest::prop_assert_eq!(unstuff(&block), message);
        }
    }

    #[test]
    fn pipelining_is_offered_only_by_its_keyword_line_after_the_greeting() {
        assert!(offers_pipelining(&ehlo(&[
            "mx.example.org greets me",
            "SIZE 1000",
            "PIPELINING",
            "8BITMIME"
        ])));
        assert!(offers_pipelining(&ehlo(&["mx", "pipelining"])));
        assert!(!offers_pipelining(&ehlo(&["mx", "SIZE 1000", "8BITMIME"])));
        assert!(!offers_pipelining(&ehlo(&["PIPELINING greets me"])));
        assert!(!offers_pipelining(&ehlo(&["mx", "XPIPELINING"])));
    }
}

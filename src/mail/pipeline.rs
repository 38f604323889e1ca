//! SMTP PIPELINING (RFC 2920) on the pooled connections of [`super::pool`]:
//! `MAIL FROM`, every `RCPT TO` and `DATA` leave in one write, then their
//! replies are read back in order and each is checked; the message itself
//! follows only after `DATA`'s 354, as RFC 2920 requires. That saves two
//! round trips per message. A server that does not offer PIPELINING gets
//! one command at a time, each reply checked before the next.
//!
//! The message goes out dot-stuffed (RFC 5321 §4.5.2) in one buffer with
//! its end-of-data line, in one write (lettre's `message()` stuffs a byte at a
//! time; measured with `examples/smtp_send`, 5,000 messages of 45,333 bytes,
//! 4 in flight, medians of 3, BENCHMARKS.md "SMTP pipelining and the send
//! path alone": 993 → 1,615 msgs/s without PIPELINING, 1,325 → 1,719 with
//! it). `MAIL FROM` declares its size
//! (RFC 1870) when the server offers SIZE, and a message larger than the
//! server's limit is not sent at all.
//!
//! It must not decide what a failure means (the transport classifies the
//! error it returns: a 550 on `RCPT` stays the recipient's hard bounce) and
//! must never leave a connection in an unknown state: a refused transaction
//! is ended with `RSET` and the connection stays usable; after any other
//! failure the connection is marked broken and never reused. Nothing was
//! accepted, so nothing is marked sent.

use lettre::address::Envelope;

use super::connection::{Capabilities, Connection, Reply, SmtpError, Stage};

/// One transaction on `conn`: pipelined when the server offered it, else
/// one command at a time. Returns the reply to the end of the message.
pub(crate) async fn send(
    conn: &mut Connection,
    envelope: &Envelope,
    email: &[u8],
) -> Result<Reply, SmtpError> {
    let mail = mail_from(conn.capabilities(), envelope, email)?;
    let rcpts: Vec<String> = envelope
        .to()
        .iter()
        .map(|to| format!("RCPT TO:<{to}>\r\n"))
        .collect();
    let failure = if conn.capabilities().pipelining {
        pipelined(conn, &mail, &rcpts).await?
    } else {
        one_at_a_time(conn, &mail, &rcpts).await?
    };
    if let Some(refused) = failure {
        return Err(refused);
    }
    conn.write(&data_block(email), Stage::Message).await?;
    conn.expect(Stage::Message).await
}

/// `MAIL FROM` with its parameters, or why the message cannot go to this
/// server: larger than its SIZE limit, or needing an extension it lacks.
fn mail_from(caps: &Capabilities, envelope: &Envelope, email: &[u8]) -> Result<String, SmtpError> {
    let size = email.len() as u64;
    if let Some(limit) = caps.size_limit() {
        if size > limit {
            return Err(SmtpError::TooLarge { size, limit });
        }
    }
    let from = envelope.from().map(|a| a.to_string()).unwrap_or_default();
    let mut line = format!("MAIL FROM:<{from}>");
    if caps.size.is_some() {
        line.push_str(&format!(" SIZE={size}"));
    }
    if !email.is_ascii() {
        if !caps.eight_bit_mime {
            return Err(SmtpError::Unsupported(
                "the message has 8-bit content and the server does not offer 8BITMIME".into(),
            ));
        }
        line.push_str(" BODY=8BITMIME");
    }
    let ascii = |a: &lettre::Address| AsRef::<str>::as_ref(a).is_ascii();
    if !envelope.from().is_none_or(ascii) || !envelope.to().iter().all(ascii) {
        if !caps.smtputf8 {
            return Err(SmtpError::Unsupported(
                "the address is not ASCII and the server does not offer SMTPUTF8".into(),
            ));
        }
        line.push_str(" SMTPUTF8");
    }
    line.push_str("\r\n");
    Ok(line)
}

/// MAIL, the RCPTs and DATA in one write, then each reply in order. The
/// first refusal is the answer, but every reply is read so none is taken
/// for a later command's. `Ok(Some(refusal))`: the transaction was refused
/// and ended; `Ok(None)`: DATA was accepted and the message may follow.
async fn pipelined(
    conn: &mut Connection,
    mail: &str,
    rcpts: &[String],
) -> Result<Option<SmtpError>, SmtpError> {
    let mut group = String::with_capacity(mail.len() + rcpts.len() * 40 + 6);
    group.push_str(mail);
    for rcpt in rcpts {
        group.push_str(rcpt);
    }
    group.push_str("DATA\r\n");
    conn.write(group.as_bytes(), Stage::Mail).await?;
    let stages = std::iter::once(Stage::Mail)
        .chain(rcpts.iter().map(|_| Stage::Rcpt))
        .chain(std::iter::once(Stage::Data));
    let mut refused = None;
    let mut data_open = false;
    for stage in stages {
        let reply = match conn.read_reply(stage).await {
            Ok(reply) => reply,
            // A server that refuses and hangs up (421) answers no more:
            // its refusal is the answer, and the connection is gone.
            Err(e) => return Err(refused.unwrap_or(e)),
        };
        if stage == Stage::Data {
            data_open = reply.code == 354;
        }
        if !reply.is_positive() && refused.is_none() {
            refused = Some(SmtpError::Rejected { stage, reply });
        }
    }
    match refused {
        None => Ok(None),
        Some(refusal) if data_open => {
            // DATA was answered 354 all the same and the server waits for
            // a message: closing without the final dot is the only way out
            // that delivers nothing.
            conn.mark_broken();
            Ok(Some(refusal))
        }
        Some(refusal) => {
            let _ = conn.rset().await;
            Ok(Some(refusal))
        }
    }
}

/// The transaction without PIPELINING: each command waits for its reply;
/// the first refusal ends it with RSET.
async fn one_at_a_time(
    conn: &mut Connection,
    mail: &str,
    rcpts: &[String],
) -> Result<Option<SmtpError>, SmtpError> {
    let commands = std::iter::once((mail, Stage::Mail))
        .chain(rcpts.iter().map(|r| (r.as_str(), Stage::Rcpt)))
        .chain(std::iter::once(("DATA\r\n", Stage::Data)));
    for (command, stage) in commands {
        conn.write(command.as_bytes(), stage).await?;
        match conn.expect(stage).await {
            Ok(_) => {}
            Err(refusal @ SmtpError::Rejected { .. }) => {
                let _ = conn.rset().await;
                return Ok(Some(refusal));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The message as it goes on the wire after DATA's 354: a `.` opening the
/// message or a line (after CR LF) doubled, then `CRLF.CRLF`. Hand-written
/// for speed: one write instead of a byte at a time (module docs).
fn data_block(email: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(email.len() + email.len() / 256 + 8);
    if email.first() == Some(&b'.') {
        out.push(b'.');
    }
    let mut copied = 0;
    // Lines opening with a dot are rare: found with a vectorised search.
    for crlf in memchr::memmem::find_iter(email, b"\r\n.") {
        out.extend_from_slice(&email[copied..crlf + 2]);
        out.push(b'.');
        copied = crlf + 2;
    }
    out.extend_from_slice(&email[copied..]);
    out.extend_from_slice(b"\r\n.\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a server does with the block (RFC 5321 §4.5.2): cut at the
    /// end-of-data line, then drop the first `.` of every line.
    fn unstuff(block: &[u8]) -> Vec<u8> {
        let block = std::str::from_utf8(block).unwrap();
        let body = block.strip_suffix("\r\n.\r\n").expect("end-of-data line");
        body.split("\r\n")
            .map(|line| line.strip_prefix('.').unwrap_or(line))
            .collect::<Vec<_>>()
            .join("\r\n")
            .into_bytes()
    }

    #[test]
    fn a_dot_opening_the_message_or_a_line_is_doubled_and_nothing_else_changes() {
        let block = data_block(b".top\r\nmiddle.\r\n.\r\n..two\r\nbare\n.lf\r\n");
        assert_eq!(
            block,
            b"..top\r\nmiddle.\r\n..\r\n...two\r\nbare\n.lf\r\n\r\n.\r\n"
        );
        assert_eq!(data_block(b""), b"\r\n.\r\n");
        assert_eq!(
            data_block(&[0xff, b'\r', b'\n', b'.']),
            [0xff, b'\r', b'\n', b'.', b'.', b'\r', b'\n', b'.', b'\r', b'\n']
        );
    }

    proptest::proptest! {
        #[test]
        fn the_server_reads_back_exactly_the_message(
            lines in proptest::collection::vec("[.a-z \\r]{0,6}", 0..12)
        ) {
            let message = lines.join("\r\n");
            let block = data_block(message.as_bytes());
            let inner = &block[..block.len() - 5];
            proptest::prop_assert!(memchr::memmem::find(inner, b"\r\n.\r\n").is_none());
            proptest::prop_assert_eq!(unstuff(&block), message.into_bytes());
        }
    }

    fn envelope(to: &str) -> Envelope {
        Envelope::new(
            Some("papers@example.org".parse().unwrap()),
            vec![to.parse().unwrap()],
        )
        .unwrap()
    }

    #[test]
    fn mail_from_declares_the_size_when_offered_and_refuses_a_message_over_the_limit() {
        let env = envelope("ada@example.org");
        let none = Capabilities::default();
        assert_eq!(
            mail_from(&none, &env, b"hello").unwrap(),
            "MAIL FROM:<papers@example.org>\r\n"
        );
        let unlimited = Capabilities {
            size: Some(0),
            ..Capabilities::default()
        };
        assert_eq!(
            mail_from(&unlimited, &env, b"hello").unwrap(),
            "MAIL FROM:<papers@example.org> SIZE=5\r\n"
        );
        let small = Capabilities {
            size: Some(4),
            ..Capabilities::default()
        };
        match mail_from(&small, &env, b"hello") {
            Err(SmtpError::TooLarge { size: 5, limit: 4 }) => {}
            other => panic!("{other:?}"),
        }
        assert!(mail_from(&small, &env, b"four").is_ok());
    }

    #[test]
    fn eight_bit_content_needs_8bitmime() {
        let env = envelope("ada@example.org");
        let caps = Capabilities::default();
        assert!(matches!(
            mail_from(&caps, &env, "é".as_bytes()),
            Err(SmtpError::Unsupported(_))
        ));
        let caps = Capabilities {
            eight_bit_mime: true,
            ..Capabilities::default()
        };
        assert_eq!(
            mail_from(&caps, &env, "é".as_bytes()).unwrap(),
            "MAIL FROM:<papers@example.org> BODY=8BITMIME\r\n"
        );
    }
}

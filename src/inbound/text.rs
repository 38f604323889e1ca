//! Bounces without a machine-readable report: the text that qmail, Exim,
//! Postfix and sendmail (when not writing a DSN), Exchange, Lotus Domino,
//! Gmail, Yahoo and others write for people. Read by the phrases those
//! templates share, the addresses they list and the codes they quote,
//! never by one provider's exact layout, so that an unseen template with
//! the same ingredients is read too.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::address;
use super::event::FailedRecipient;
use super::status::{
    find_failure_reply_code, find_reply_code, BounceCause, Severity, StatusCode, Words,
};

/// What the caller knows about the message around the text.
pub(crate) struct TextInput<'a> {
    pub subject: &'a str,
    /// The raw `From:` value.
    pub from: &'a str,
    /// The human-readable report, the returned message already cut off.
    pub report: &'a str,
    /// `X-Failed-Recipients` values (Exim, Gmail).
    pub failed_header: &'a [String],
    /// Lower-cased addresses that are the sender's side, never a failed
    /// recipient (the bounce's `To`, the original's `From` …).
    pub excluded: &'a HashSet<String>,
}

/// A bounce read from text.
pub(crate) struct TextBounce {
    pub recipients: Vec<FailedRecipient>,
    pub format: &'static str,
}

/// Upper bound on the report text read: the part that matters comes first.
const MAX_REPORT: usize = 64 * 1024;
/// Upper bound on the recipients read from one report.
const MAX_RECIPIENTS: usize = 50;

/// Reads a text bounce; `None` when the message does not look like one.
pub(crate) fn read(input: &TextInput<'_>) -> Option<TextBounce> {
    let report = &input.report[..floor_boundary(input.report, MAX_REPORT)];
    let lower = report.to_lowercase();
    let subject = input.subject.to_lowercase();
    let signals = Signals::of(input, &lower, &subject);
    if !signals.is_bounce() {
        return None;
    }
    let whole = Whole {
        status: StatusCode::find_failure_in(report),
        smtp_code: find_failure_reply_code(report),
        words: Words::read(report),
        severity: global_severity(&lower, &subject),
    };
    let mut candidates = candidates_in(input, report, false);
    if candidates.is_empty() {
        // A bounce to the very address that failed (a forward loop), or to
        // a postmaster: the addresses usually passed over are all there is.
        candidates = candidates_in(input, report, true);
    }
    // One delivery has one recipient; a report listing thousands is not
    // read to the end (and each costs a look at the whole text).
    candidates.truncate(MAX_RECIPIENTS);
    let mut recipients = Vec::new();
    for (i, (at, addr)) in candidates.iter().enumerate() {
        let end = candidates
            .get(i + 1)
            .map(|(next, _)| *next)
            .unwrap_or(report.len())
            .min(at + 1500)
            .max(*at);
        // From the start of the address's line: "554 <a@b>... refused"
        // puts the code first.
        let look_back = floor_boundary(report, at.saturating_sub(2000));
        let start = report[look_back..*at]
            .rfind('\n')
            .map_or(look_back, |i| look_back + i + 1);
        let block = &report[start..floor_boundary(report, end)];
        recipients.push(recipient(Some(addr), block, &whole));
    }
    if recipients.is_empty() {
        if !signals.is_certain_bounce() {
            return None;
        }
        recipients.push(recipient(None, report, &whole));
    }
    Some(TextBounce {
        recipients,
        format: format_name(&lower),
    })
}

struct Signals {
    /// Sent from `MAILER-DAEMON@` or `postmaster@`: only the machinery
    /// writes from there, and it writes bounces and delay notices.
    daemon_address: bool,
    daemon_sender: bool,
    bounce_subject: bool,
    bounce_phrase: bool,
    failed_header: bool,
}

impl Signals {
    fn of(input: &TextInput<'_>, lower: &str, subject: &str) -> Signals {
        let from = input.from.to_lowercase();
        let from_address = address::first_in(&from).unwrap_or_default();
        let local = from_address.split('@').next().unwrap_or("");
        Signals {
            daemon_address: matches!(
                local,
                "mailer-daemon" | "postmaster" | "mail-daemon" | "mailerdaemon"
            ),
            daemon_sender: [
                "mailer-daemon",
                "mailer daemon",
                "mailer_daemon",
                "mailerdaemon",
                "mail-daemon",
                "maildaemon",
                "postmaster",
                "post_master",
                "mail delivery",
                "mail administrator",
                "system administrator",
                "mdaemon",
                "mailmaster",
                "mail system",
                "mailadmin",
                "bounce",
            ]
            .iter()
            .any(|w| from.contains(w)),
            bounce_subject: BOUNCE_SUBJECT.is_match(subject),
            bounce_phrase: BOUNCE_PHRASES.iter().any(|p| lower.contains(p)),
            failed_header: !input.failed_header.is_empty(),
        }
    }

    fn is_bounce(&self) -> bool {
        self.failed_header
            || self.bounce_phrase
            || self.daemon_address
            || (self.daemon_sender && self.bounce_subject)
    }

    /// Sure enough to report a failure even when no recipient is named (the
    /// bounce address still finds the delivery).
    fn is_certain_bounce(&self) -> bool {
        self.failed_header || (self.bounce_phrase && (self.daemon_sender || self.bounce_subject))
    }
}

static BOUNCE_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?x)
        undeliver | undelivered | not\s+delivered | non[\s-]?delivery | nondeliver
      | delivery\s+(?:status|fail|failure|problem|notification|report|error|delayed|has\s+failed)
      | returned\s+mail | returning\s+message | returning\s+to\s+sender | mail\s+failed | failed\s+mail
      | mail\s+delivery | failure\s+notice | failed\s+delivery
      | could\s+not\s+(?:be\s+)?deliver | couldn't\s+be\s+delivered | unable\s+to\s+deliver
      | delivery\s+failure | mail\s+failure | message\s+(?:not\s+delivered|delayed|rejected|blocked)
      | rejected | bounce | warning:\s+(?:could\s+not|message) | delayed\s+mail | mail\s+system\s+error
      | permanent\s+error | undelivered\s+mail | unzustellbar | nicht\s+zustellbar | non\s+remis
      | non\s+recapitabile | no\s+entregado | 配信 | 不達 | エラー",
    )
    .expect("static regex")
});

/// Sentences bounce templates use; any one marks a bounce.
const BOUNCE_PHRASES: &[&str] = &[
    "could not be delivered",
    "couldn't be delivered",
    "cannot be delivered",
    "can't be delivered",
    "attempting to deliver",
    "could not deliver",
    "couldn't deliver",
    "was not delivered",
    "wasn't delivered",
    "has not been delivered",
    "has not yet been delivered",
    "not able to deliver",
    "wasn't able to deliver",
    "unable to deliver",
    "undeliverable",
    "delivery has failed",
    "delivery failed",
    "delivery to the following recipient",
    "did not reach the following recipient",
    "did not reach some or all",
    "could not be reached",
    "following addresses had permanent fatal errors",
    "following addresses had delivery problems",
    "following address(es) failed",
    "following address failed",
    "following addresses failed",
    "following recipients failed",
    "following recipient(s) could not be reached",
    "permanent fatal errors",
    "this is a permanent error",
    "transcript of session follows",
    "delivery status notification",
    "message delivery has failed",
    "your message has been rejected",
    "message was rejected",
    "message has been rejected",
    "there was an error delivering your mail",
    "i'm afraid i wasn't able to deliver",
    "we were unable to deliver your message",
    "the mail system",
    "mail delivery failed",
    "mail delivery subsystem",
    "mail delivery failure",
    "returned mail",
    "has been delayed",
    "is delayed",
    "delivery attempts will continue",
    "will be retried",
    "will retry",
    "still trying",
    "giving up",
    "i've given up",
    "failed permanently",
    "permanent failure",
    "permanent error",
    "temporary failure",
    "the recipient server did not accept",
    "the email account that you tried to reach",
    "user unknown",
    "no such user",
    "mailbox unavailable",
    "recipient address rejected",
    "smtp error from remote",
    "message could not be sent",
    "not delivered to",
    "could not be forwarded",
    "nicht zugestellt",
    "konnte nicht zugestellt",
    "n'a pas pu être",
    "n'a pas pu etre",
    "impossible de remettre",
    "non è stato possibile",
    "no se pudo entregar",
    "配信できません",
    "送信できません",
    "届きません",
];

/// What the whole text says, when a recipient's own lines say nothing.
fn global_severity(lower: &str, subject: &str) -> Option<Severity> {
    if is_expiry(lower) {
        return Some(Severity::Soft);
    }
    let soft = [
        "has been delayed",
        "delayed",
        "warning message only",
        "this is a warning",
        "not yet been delivered",
        "will be retried",
        "will retry",
        "will continue",
        "still trying",
        "temporary failure",
        "temporarily",
        "try again later",
        "do not need to resend",
    ];
    let hard = [
        "permanent",
        "fatal error",
        "failed permanently",
        "could not be delivered",
        "couldn't be delivered",
        "was not delivered",
        "wasn't delivered",
        "undeliverable",
        "delivery has failed",
        "delivery failed",
        "given up",
        "rejected",
        "does not exist",
        "unknown",
        "did not reach",
        "could not be reached",
    ];
    let says = |words: &[&str], text: &str| words.iter().any(|w| text.contains(w));
    if says(&soft, subject) || (says(&soft, lower) && !lower.contains("permanent")) {
        return Some(Severity::Soft);
    }
    if says(&hard, subject) || says(&hard, lower) {
        return Some(Severity::Hard);
    }
    None
}

/// "Gave up after days in the queue": a soft failure (the address may be
/// fine), whatever the template's word for it.
fn is_expiry(lower: &str) -> bool {
    [
        "retry timeout exceeded",
        "retry time not reached",
        "in the queue too long",
        "been in the queue for too long",
        "too long in queue",
        "message expired",
        "delivery time expired",
        "maximum time",
        "could not be delivered within",
        "has not been delivered for",
        "expired after",
        "have been failing for a long time",
    ]
    .iter()
    .any(|w| lower.contains(w))
}

/// Addresses the report names as recipients, with the offset of their
/// first mention, in order: `X-Failed-Recipients` first. The sender's side
/// (`excluded`) is left out unless `allow_excluded`, and so are the
/// machinery's mailboxes and the contact addresses templates offer.
fn candidates_in(
    input: &TextInput<'_>,
    report: &str,
    allow_excluded: bool,
) -> Vec<(usize, String)> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut out: Vec<(usize, String)> = Vec::new();
    let own = address::first_in(input.from).map(|a| a.to_ascii_lowercase());
    let keep = |a: &str| {
        let lower = a.to_ascii_lowercase();
        own.as_deref() != Some(lower.as_str())
            && (allow_excluded
                || (!input.excluded.contains(&lower) && !address::is_system_mailbox(&lower)))
    };
    let mut headed: Vec<String> = Vec::new();
    for value in input.failed_header {
        for (_, a) in address::all_in(value) {
            if keep(a) && seen.insert(a.to_ascii_lowercase()) {
                headed.push(a.to_string());
            }
        }
    }
    let mut offset = 0;
    let mut weak: Vec<usize> = Vec::new();
    for line in report.split_inclusive('\n') {
        if !is_header_about_others(line) {
            // "Your message\n  To: list@… Subject: …" restates the original
            // To; a failure line names the recipient better when there is one.
            let restated_to = line.trim_start().to_ascii_lowercase().starts_with("to:");
            for (at, a) in address::all_in(line) {
                if is_contact_or_sender(&line[..at], allow_excluded) {
                    continue;
                }
                let a = address::strip_gateway_prefix(a);
                if keep(a) && seen.insert(a.to_ascii_lowercase()) {
                    if restated_to {
                        weak.push(out.len());
                    }
                    out.push((offset + at, a.to_string()));
                }
            }
        }
        offset += line.len();
    }
    if weak.len() < out.len() {
        let mut index = 0;
        out.retain(|_| {
            index += 1;
            !weak.contains(&(index - 1))
        });
    }
    // A header-named recipient that the text never repeats still counts;
    // it gets the whole text as its block.
    for a in headed.into_iter().rev() {
        if let Some(pos) = out.iter().position(|(_, o)| o.eq_ignore_ascii_case(&a)) {
            let found = out.remove(pos);
            out.insert(0, found);
        } else {
            out.insert(0, (0, a));
        }
    }
    out
}

/// Whether the words before an address on its line offer it as a contact
/// ("please contact <support@…>") or name it as the sender ("MAIL
/// FROM:<…>", "sent by"): not a failed recipient.
fn is_contact_or_sender(before: &str, sender_too: bool) -> bool {
    let from = (before.len().saturating_sub(120)..=before.len())
        .find(|&i| before.is_char_boundary(i))
        .unwrap_or(before.len());
    let lower = before[from..].to_lowercase();
    let contact = [
        "contact",
        "send mail to",
        "send an email to",
        "write to",
        "email us",
        "mailto:",
        "questions",
    ]
    .iter()
    .any(|w| lower.contains(w));
    let sender = [
        "mail from:",
        "mail from: ",
        "sent by",
        "message from",
        "envelope-from",
        "sender",
    ]
    .iter()
    .any(|w| {
        lower.trim_end().ends_with(w.trim_end())
            || lower.trim_end().ends_with(&format!("{}<", w.trim_end()))
    });
    contact || (sender_too && sender)
}

/// Lines of quoted headers that name the sender or the message, not a
/// recipient (`From:`, `Message-ID:`, `Received:` …) in the report part.
fn is_header_about_others(line: &str) -> bool {
    let line = line.trim_start_matches(['>', ' ', '\t']);
    let Some((name, _)) = line.split_once(':') else {
        return false;
    };
    let name = name.trim().to_ascii_lowercase();
    matches!(
        name.as_str(),
        "from"
            | "sender"
            | "reply-to"
            | "return-path"
            | "message-id"
            | "in-reply-to"
            | "references"
            | "received"
            | "x-postfix-sender"
            | "reporting-mta"
            | "received-from-mta"
            | "dkim-signature"
            | "authentication-results"
            | "list-unsubscribe"
            | "arc-seal"
            | "arc-message-signature"
            | "x-original-sender"
    ) || name.starts_with("x-ms-")
}

/// What the whole report says, read once for all its recipients.
struct Whole {
    status: Option<StatusCode>,
    smtp_code: Option<u16>,
    words: Words,
    severity: Option<Severity>,
}

fn recipient(addr: Option<&String>, block: &str, whole: &Whole) -> FailedRecipient {
    let block_lower = block.to_lowercase();
    let status = StatusCode::find_failure_in(block).or(whole.status);
    let smtp_code = find_failure_reply_code(block).or(whole.smtp_code);
    let block_words = Words::read(block);
    let words = if block_words.said.is_some() {
        block_words
    } else {
        whole.words
    };
    let cause = BounceCause::decide(status, None, words);
    // The remote server's code decides; without one, a template's "gave up
    // after days" is soft, else what the whole text says.
    let severity = match (status.filter(|s| !s.is_success()), smtp_code) {
        (Some(s), _) if s.is_transient() => Severity::Soft,
        (Some(_), _) => Severity::Hard,
        (None, Some(400..=499)) => Severity::Soft,
        (None, Some(500..=599)) => Severity::Hard,
        _ if is_expiry(&block_lower) => Severity::Soft,
        _ => whole.severity.unwrap_or(Severity::Hard),
    };
    FailedRecipient {
        address: addr.and_then(|a| address::parse(a)),
        severity,
        cause: if is_expiry(&block_lower) && cause == BounceCause::Unknown {
            BounceCause::Network
        } else {
            cause
        },
        status,
        smtp_code,
        diagnostic: diagnostic_line(block).map(|l| address::one_line(&l)),
    }
}

/// A DSN recipient without a `Diagnostic-Code` (OpenSMTPD, some gateways)
/// takes the server's words from the human-readable part, where they are
/// written next to its address; the cause is read again with them.
pub(crate) fn complete_from_text(recipient: &mut FailedRecipient, report: &str) {
    if recipient.diagnostic.is_some() {
        return;
    }
    let Some(address) = recipient
        .address
        .as_ref()
        .map(|a| a.as_str().to_ascii_lowercase())
    else {
        return;
    };
    let report = &report[..floor_boundary(report, MAX_REPORT)];
    let lines: Vec<&str> = report.lines().collect();
    let Some(at) = lines
        .iter()
        .position(|l| l.to_ascii_lowercase().contains(&address))
    else {
        return;
    };
    let words = lines[at..lines.len().min(at + 3)].join(" ");
    let quoted = StatusCode::find_failure_in(&words);
    recipient.smtp_code = recipient
        .smtp_code
        .or_else(|| find_failure_reply_code(&words));
    recipient.cause = BounceCause::of_report(recipient.status, quoted, Some(&words));
    recipient.diagnostic = Some(address::one_line(&words));
}

/// The server's words in a block: the first line quoting a reply code or
/// an enhanced status, else the first non-empty line after the address.
fn diagnostic_line(block: &str) -> Option<String> {
    let lines: Vec<&str> = block
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines
        .iter()
        .find(|l| find_reply_code(l).is_some() || StatusCode::find_in(l).is_some())
        .or_else(|| lines.get(1))
        .map(|l| l.to_string())
}

/// The template's family, for the operator's log.
fn format_name(lower: &str) -> &'static str {
    const FAMILIES: &[(&str, &str)] = &[
        ("qmail-send program", "qmail"),
        ("created automatically by mail delivery software", "exim"),
        ("this is the mail system at host", "postfix"),
        ("transcript of session follows", "sendmail"),
        ("dragonfly mail agent", "dma"),
        ("delivery to the following recipient", "gmail"),
        ("did not reach the following recipient", "exchange"),
        ("delivery has failed to these recipients", "exchange"),
        ("your message couldn't be delivered", "office365"),
        ("sorry, we were unable to deliver your message", "yahoo"),
        ("was not delivered to:", "domino"),
    ];
    FAMILIES
        .iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .map(|(_, name)| *name)
        .unwrap_or("text")
}

fn floor_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(subject: &str, from: &str, report: &str) -> Option<TextBounce> {
        let excluded: HashSet<String> = ["sender@example.org".to_string()].into_iter().collect();
        read(&TextInput {
            subject,
            from,
            report,
            failed_header: &[],
            excluded: &excluded,
        })
    }

    #[test]
    fn a_qmail_bounce_names_the_recipient_and_the_remote_reply() {
        let b = read_text(
            "failure notice",
            "MAILER-DAEMON@mx.example.net",
            "Hi. This is the qmail-send program at mx.example.net.\nI'm afraid I wasn't able to deliver your message to the following addresses.\nThis is a permanent error; I've given up. Sorry it didn't work out.\n\n<gone@example.com>:\nremote host said: 550 5.1.1 unknown user\n",
        )
        .unwrap();
        assert_eq!(b.format, "qmail");
        let r = &b.recipients[0];
        assert_eq!(r.address.as_ref().unwrap().as_str(), "gone@example.com");
        assert_eq!(r.severity, Severity::Hard);
        assert_eq!(r.cause, BounceCause::Recipient);
        assert_eq!(r.smtp_code, Some(550));
    }

    #[test]
    fn a_delay_warning_is_soft_and_the_sender_is_never_a_recipient() {
        let b = read_text(
            "Delivery Status Notification (Delay)",
            "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
            "THIS IS A WARNING MESSAGE ONLY.\nDelivery to the following recipient has been delayed:\n\n     slow@example.net\n\nMessage from sender@example.org will be retried for 2 more day(s)\n",
        )
        .unwrap();
        assert_eq!(b.recipients.len(), 1);
        assert_eq!(b.recipients[0].severity, Severity::Soft);
        assert_eq!(
            b.recipients[0].address.as_ref().unwrap().as_str(),
            "slow@example.net"
        );
    }

    #[test]
    fn an_ordinary_letter_is_not_a_bounce() {
        assert!(read_text(
            "Re: your paper",
            "Ada <ada@example.net>",
            "Thanks, I read it; the figures could be clearer. Write to bob@example.net too.",
        )
        .is_none());
    }

    #[test]
    fn a_sure_bounce_naming_nobody_still_reports_the_failure() {
        let b = read_text(
            "Undeliverable: digest",
            "postmaster@example.net",
            "Delivery has failed to these recipients or groups.\nThe recipient's mailbox is full and can't accept messages now.\n",
        )
        .unwrap();
        assert_eq!(b.recipients.len(), 1);
        assert!(b.recipients[0].address.is_none());
        assert_eq!(b.recipients[0].cause, BounceCause::MailboxFull);
    }
}

//! Status codes in reports: RFC 3463 enhanced codes (`5.1.1`), RFC 5321
//! reply codes (`550`), and what a failure blames, read from either or from
//! the server's words.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

/// An RFC 3463 enhanced status code, `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatusCode {
    /// 2 (success), 4 (persistent transient failure) or 5 (permanent failure).
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl StatusCode {
    /// Parses `5.1.1` (surrounding space and a trailing comment such as
    /// `5.0.0 (permanent failure)` allowed). Classes other than 2, 4 and 5,
    /// and parts longer than three digits, are refused (RFC 3463 §2).
    pub fn parse(text: &str) -> Option<StatusCode> {
        let word = text.split_whitespace().next()?;
        let word =
            word.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '#' | ',' | ';'));
        let mut parts = word.split('.');
        let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        let class = match class {
            "2" => 2,
            "4" => 4,
            "5" => 5,
            _ => return None,
        };
        Some(StatusCode {
            class,
            subject: number(subject)?,
            detail: number(detail)?,
        })
    }

    /// The first enhanced status code written anywhere in `text`, as
    /// servers quote them in replies (`550 5.1.1 <a@b>: unknown`).
    pub fn find_in(text: &str) -> Option<StatusCode> {
        static CODE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?:^|[^0-9.])([245]\.[0-9]{1,3}\.[0-9]{1,3})(?:[^0-9.]|\.(?:[^0-9]|$)|$)")
                .expect("static regex")
        });
        CODE.captures_iter(text)
            .find_map(|c| StatusCode::parse(c.get(1)?.as_str()))
    }

    /// The first failure code (class 4 or 5) written in `text`: a
    /// transcript's `250 2.1.5 Ok` before the refusal is not the answer.
    pub fn find_failure_in(text: &str) -> Option<StatusCode> {
        static CODE: LazyLock<Regex> = LazyLock::new(|| {
            Regex::new(r"(?:^|[^0-9.])([45]\.[0-9]{1,3}\.[0-9]{1,3})(?:[^0-9.]|\.(?:[^0-9]|$)|$)")
                .expect("static regex")
        });
        CODE.captures_iter(text)
            .find_map(|c| StatusCode::parse(c.get(1)?.as_str()))
    }

    pub fn is_permanent(self) -> bool {
        self.class == 5
    }

    pub fn is_transient(self) -> bool {
        self.class == 4
    }

    pub fn is_success(self) -> bool {
        self.class == 2
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// The first RFC 5321 reply code (`550`, `452`) that a server's words
/// start with, or that follows `said:`/`reply:`/`error:` or a `<<<`
/// transcript line: a bare three-digit number elsewhere (a port, a count)
/// is not taken for one.
pub fn find_reply_code(text: &str) -> Option<u16> {
    static REPLY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?im)(?:^\s*(?:<<<\s*|smtp;\s*|\(reason:\s*|remote host said:\s*)?|said:\s*|reply:\s*|error:?\s+|response:?\s*|smtp;\s*|\]:\s*|\)\s*:?\s*|code\s*:?\s*|failed[:;]\s*|host\s+\S+\s+\[[0-9.:a-f]+\]:?\s*)\b([245][0-9]{2})(?:[ \-,;]|$)",
        )
        .expect("static regex")
    });
    REPLY
        .captures_iter(text)
        .filter_map(|c| c.get(1)?.as_str().parse::<u16>().ok())
        .find(|code| matches!(code, 200..=259 | 400..=459 | 500..=559))
}

/// Like [`find_reply_code`], skipping success replies.
pub fn find_failure_reply_code(text: &str) -> Option<u16> {
    text.lines()
        .filter_map(find_reply_code)
        .find(|code| *code >= 400)
}

/// Whether a failure is the recipient's permanent problem or something that
/// may pass: the "hard"/"soft" split of every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Severity {
    /// A permanent failure (5.x.x, 5yz, "permanent error").
    Hard,
    /// A transient failure or a delay (4.x.x, 4yz, "will retry").
    Soft,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Hard => "hard",
            Severity::Soft => "soft",
        }
    }
}

/// What a failed delivery blames, as far as the report tells. Only
/// [`BounceCause::Recipient`] and [`BounceCause::MailboxFull`] are the
/// address's fault (see [`BounceCause::blames_recipient`]): a spam block or
/// a sender-reputation refusal must not count toward suspending everyone a
/// provider blocked in one afternoon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BounceCause {
    /// No such mailbox or domain, or the mailbox is disabled or has moved
    /// (RFC 3463 X.1.1–X.1.6, X.1.10, X.2.1, "user unknown").
    Recipient,
    /// The mailbox is full (X.2.2, "over quota").
    MailboxFull,
    /// Refused as spam, by policy, for the sender's reputation or missing
    /// authentication (X.7.x, X.1.7/X.1.8, "blocked", "blacklisted").
    Policy,
    /// The message itself: size or content (X.3.4, X.6.x).
    Content,
    /// Could not reach the receiving system, or gave up after a delay
    /// (X.4.x, "connection timed out", "expired").
    Network,
    /// The receiving system's own trouble (X.3.x, X.5.x, "system error").
    System,
    /// The report does not say.
    Unknown,
}

impl BounceCause {
    /// Whether a hard bounce with this cause counts toward suspending the
    /// subscriber: the address itself is dead or abandoned. An unknown
    /// cause counts, as a bare `550` does in the synchronous SMTP path.
    pub fn blames_recipient(self) -> bool {
        matches!(
            self,
            BounceCause::Recipient | BounceCause::MailboxFull | BounceCause::Unknown
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BounceCause::Recipient => "recipient",
            BounceCause::MailboxFull => "mailbox full",
            BounceCause::Policy => "policy",
            BounceCause::Content => "content",
            BounceCause::Network => "network",
            BounceCause::System => "system",
            BounceCause::Unknown => "unknown",
        }
    }

    /// The cause an enhanced status code names; `None` for the codes that
    /// say nothing specific (`X.0.0`, `X.1.0`, `X.4.0` …).
    pub fn of_status(status: StatusCode) -> Option<BounceCause> {
        Some(match (status.subject, status.detail) {
            (1, 1..=6) | (1, 10) | (2, 1) => BounceCause::Recipient,
            (1, 7 | 8) => BounceCause::Policy,
            (2, 2) | (2, 3) => BounceCause::MailboxFull,
            (3, 4) | (6, _) => BounceCause::Content,
            (3, _) | (5, _) => BounceCause::System,
            // A permanent "unable to route": no MX, no such domain. Microsoft
            // answers 5.4.1 for recipients its directory does not know.
            (4, 1 | 4) if status.class == 5 => BounceCause::Recipient,
            (4, 0) => return None,
            (4, _) => BounceCause::Network,
            (7, _) => BounceCause::Policy,
            _ => return None,
        })
    }

    /// Whether the code names the address or mailbox itself (X.1.x, X.2.x,
    /// a permanent X.4.1/X.4.4), so that it outranks the server's words.
    fn is_about_address(status: StatusCode) -> bool {
        match (status.subject, status.detail) {
            (1 | 2, 0) => false,
            (1 | 2, _) => true,
            (4, 1 | 4) => status.class == 5,
            _ => false,
        }
    }

    /// The cause of a failure from everything a report says: the reporting
    /// MTA's `status`, the code `quoted` in the server's reply and its
    /// `words`. A refusal of the sender named in words comes first (a spam
    /// block often carries a 5.1.1 or "Recipient address rejected:"); then
    /// a code about the address; then the words; then any code; then the
    /// words that only say "rejected".
    pub fn of_report(
        status: Option<StatusCode>,
        quoted: Option<StatusCode>,
        words: Option<&str>,
    ) -> BounceCause {
        BounceCause::decide(status, quoted, words.map(Words::read).unwrap_or_default())
    }

    /// [`BounceCause::of_report`] with the words already read.
    pub(crate) fn decide(
        status: Option<StatusCode>,
        quoted: Option<StatusCode>,
        words: Words,
    ) -> BounceCause {
        if words.said == Some(BounceCause::Policy) {
            return BounceCause::Policy;
        }
        let about_address = [status, quoted]
            .into_iter()
            .flatten()
            .find(|s| Self::is_about_address(*s))
            .and_then(BounceCause::of_status);
        about_address
            .or(words.said)
            .or_else(|| status.and_then(BounceCause::of_status))
            .or_else(|| quoted.and_then(BounceCause::of_status))
            .or_else(|| words.weak_recipient.then_some(BounceCause::Recipient))
            .unwrap_or(BounceCause::Unknown)
    }

    /// The cause the server's words name, if they name one clearly.
    pub fn of_text(text: &str) -> Option<BounceCause> {
        text_cause(&text.to_lowercase())
    }
}

/// What a server's words say about a failure, read once (a long report
/// is read for every recipient it names otherwise).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Words {
    /// The cause the words name clearly.
    pub said: Option<BounceCause>,
    /// Whether they at least say the address was refused.
    pub weak_recipient: bool,
}

impl Words {
    pub(crate) fn read(text: &str) -> Words {
        let lower = text.to_lowercase();
        Words {
            said: text_cause(&lower),
            weak_recipient: contains_any(&lower, WEAK_RECIPIENT),
        }
    }
}

fn contains_any(lower: &str, words: &[&str]) -> bool {
    words.iter().any(|w| lower.contains(w))
}

/// Refusals of the sender: its IP, domain, authentication, reputation or
/// content. Checked first: such replies often also say "recipient".
const POLICY: &[&str] = &[
    "spam",
    "blacklist",
    "blocklist",
    "block list",
    "black list",
    "denylist",
    "is listed",
    "are listed",
    "listed at",
    "listed on",
    "listed by",
    "spamhaus",
    "spamcop",
    "barracuda",
    "dnsbl",
    " rbl",
    "reputation",
    "dmarc",
    "spf ",
    "spf:",
    "spf check",
    "spf=fail",
    "dkim",
    "authentication",
    "unauthenticated",
    "not authorized",
    "not authorised",
    "policy",
    "policies",
    "banned",
    "sender address rejected",
    "sender rejected",
    "sender denied",
    "sender domain",
    "relay access denied",
    "relaying denied",
    "relay not permitted",
    "not permitted to relay",
    "unable to relay",
    "no relaying",
    "relaying",
    "too many",
    "rate limit",
    "ratelimit",
    "receiving mail at a rate",
    "sending rate",
    "reverse dns",
    "reverse lookup",
    "ptr record",
    "rdns",
    "invalid ip",
    "sending ip",
    "your ip",
    "client host",
    "client ip",
    "virus",
    "malware",
    "phish",
    "suspicious",
    "junk",
    "mail rejected",
    "message rejected",
    "rejected due to content",
    "content rejected",
    "blocked",
    "refused",
    "tls required",
    "does not support tls",
    "tls negotiation",
    "starttls",
    "my name was rejected",
    "encryption required",
    "not accepting mail from",
];

const MAILBOX_FULL: &[&str] = &[
    "mailbox full",
    "mailbox is full",
    "mailbox size limit",
    "quota",
    "over the limit",
    "insufficient storage",
    "insufficient system storage",
    "exceeded storage",
    "mailbox has exceeded",
    "full mailbox",
    "mail box full",
    "mailbox space",
    "out of storage",
    "not enough space",
    "disk full",
];

const RECIPIENT: &[&str] = &[
    "user unknown",
    "unknown user",
    "unknown recipient",
    "recipient unknown",
    "no such user",
    "no such recipient",
    "no such mailbox",
    "no such address",
    "no such account",
    "no mailbox",
    "mailbox not found",
    "mailbox unavailable",
    "mailbox does not exist",
    "mailbox doesn't exist",
    "does not exist",
    "doesn't exist",
    "not exist",
    "invalid recipient",
    "invalid address",
    "invalid mailbox",
    "invalid user",
    "invalid domain",
    "unknown address",
    "not a valid",
    "bad destination",
    "address unknown",
    "addressee unknown",
    "unknown local part",
    "unrouteable address",
    "unroutable address",
    "recipient not found",
    "user not found",
    "address not found",
    "not listed in",
    "no longer",
    "disabled",
    "deactivated",
    "inactive",
    "account has been",
    "account is",
    "account expired",
    "account closed",
    "user doesn't have",
    "user does not have",
    "is not a known user",
    "not a known user",
    "recipient name is not recognized",
    "no valid recipients",
    "host not found",
    "host unknown",
    "unknown host",
    "domain not found",
    "no such domain",
    "name or service not known",
    "nxdomain",
    "mail exchanger",
    "name service error",
    "domain is not reachable",
    "has moved",
    "suspended",
    "couldn't find any host",
    "could not find any host",
    "not our customer",
    "does not accept mail",
    "no mx",
];

const CONTENT: &[&str] = &[
    "too large",
    "too big",
    "size exceeds",
    "exceeds size",
    "message size",
    "size limit",
    "message length exceeds",
    "line limit",
    "line too long",
    "media error",
    "content",
];

const NETWORK: &[&str] = &[
    "timed out",
    "timeout",
    "connection refused",
    "connection reset",
    "network",
    "no route",
    "unreachable",
    "could not connect",
    "couldn't connect",
    "unable to connect",
    "connect to",
    "lost connection",
    "expired",
    "too long",
    "retry timeout",
    "delivery time",
    "been delayed",
    "could not be delivered within",
    "dns",
    "lookup",
    "socket",
];

const SYSTEM: &[&str] = &[
    "system error",
    "internal error",
    "temporary failure",
    "local error",
    "try again later",
    "service unavailable",
    "resources",
    "mailer error",
    "command output",
    "loop",
    "syntax",
    "protocol",
    "not implemented",
    "command parameter",
];

/// Words that only say the address was refused, with no reason: the
/// Postfix `Recipient address rejected:` prefix and its kin.
const WEAK_RECIPIENT: &[&str] = &[
    "recipient address rejected",
    "address rejected",
    "recipient rejected",
    "not found",
    "rejected",
];

fn text_cause(lower: &str) -> Option<BounceCause> {
    [
        (POLICY, BounceCause::Policy),
        (MAILBOX_FULL, BounceCause::MailboxFull),
        (RECIPIENT, BounceCause::Recipient),
        (CONTENT, BounceCause::Content),
        (NETWORK, BounceCause::Network),
        (SYSTEM, BounceCause::System),
    ]
    .into_iter()
    .find(|(words, _)| contains_any(lower, words))
    .map(|(_, cause)| cause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enhanced_codes_parse_with_comments_and_refuse_nonsense() {
        assert_eq!(
            StatusCode::parse("5.1.1"),
            Some(StatusCode {
                class: 5,
                subject: 1,
                detail: 1
            })
        );
        assert_eq!(
            StatusCode::parse(" 4.4.7 (delivery time expired)").map(|s| s.to_string()),
            Some("4.4.7".into())
        );
        assert_eq!(StatusCode::parse("5.0.910").unwrap().detail, 910);
        for bad in [
            "", "5", "5.1", "3.1.1", "5.1.1.1", "5.1.1234", "5..1", "x.1.1", "5.a.1",
        ] {
            assert_eq!(StatusCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_enhanced_code_is_found_inside_a_reply_but_not_inside_an_address_or_version() {
        let found = |t: &str| StatusCode::find_in(t).map(|s| s.to_string());
        assert_eq!(
            found("550 5.1.1 <a@b.example>: user unknown"),
            Some("5.1.1".into())
        );
        assert_eq!(
            found("host said: 452 4.2.2 over quota."),
            Some("4.2.2".into())
        );
        assert_eq!(found("(#5.5.0)"), Some("5.5.0".into()));
        assert_eq!(found("Exim 4.72 at 192.0.2.5.1"), None);
        assert_eq!(found("version 10.5.1.2"), None);
    }

    #[test]
    fn reply_codes_are_taken_where_servers_write_them_and_not_from_ports_or_counts() {
        assert_eq!(
            find_reply_code("host mx.example [192.0.2.1]: 550 5.1.1 unknown"),
            Some(550)
        );
        assert_eq!(
            find_reply_code("remote host said: 452 mailbox full"),
            Some(452)
        );
        assert_eq!(find_reply_code("<<< 554 denied"), Some(554));
        assert_eq!(find_reply_code("smtp; 550 no such user"), Some(550));
        assert_eq!(
            find_reply_code("connect to 192.0.2.1 port 587 failed"),
            None
        );
        assert_eq!(find_reply_code("retried 450 times"), None);
    }

    #[test]
    fn causes_come_from_the_code_when_specific_and_from_the_words_otherwise() {
        let s = |t: &str| StatusCode::parse(t).unwrap();
        assert_eq!(
            BounceCause::of_status(s("5.1.1")),
            Some(BounceCause::Recipient)
        );
        assert_eq!(
            BounceCause::of_status(s("5.2.2")),
            Some(BounceCause::MailboxFull)
        );
        assert_eq!(
            BounceCause::of_status(s("5.7.1")),
            Some(BounceCause::Policy)
        );
        assert_eq!(
            BounceCause::of_status(s("4.4.7")),
            Some(BounceCause::Network)
        );
        assert_eq!(BounceCause::of_status(s("5.0.0")), None);
        assert_eq!(
            BounceCause::of_text("550 Requested action not taken: mailbox unavailable"),
            Some(BounceCause::Recipient)
        );
        assert_eq!(
            BounceCause::of_text("554 rejected: your IP is listed at zen.spamhaus.org"),
            Some(BounceCause::Policy)
        );
        assert_eq!(BounceCause::of_text("all is well"), None);
        assert!(BounceCause::Recipient.blames_recipient());
        assert!(!BounceCause::Policy.blames_recipient());
    }
}

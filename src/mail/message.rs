//! Turning an [`OutgoingEmail`] into an RFC 5322 message: multipart text +
//! HTML, deterministic Message-ID, and the list headers mailbox providers
//! require (RFC 2369 `List-Unsubscribe`, RFC 8058 one-click, RFC 2919
//! `List-Id`, RFC 3834 `Auto-Submitted`). It renders no templates and opens
//! no connections.

use std::time::SystemTime;

use chrono::{DateTime, NaiveDate, Utc};
use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::Message;
use sha2::{Digest, Sha256};

use crate::domain::SubscriberEmail;

/// What kind of mail this is; decides the bulk/list headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    /// The daily/weekly digest: a list mail (`Precedence: bulk`, `List-Id`).
    Digest,
    /// A double opt-in confirmation: transactional, no list headers.
    Confirmation,
}

impl EmailKind {
    fn as_str(self) -> &'static str {
        match self {
            EmailKind::Digest => "digest",
            EmailKind::Confirmation => "confirm",
        }
    }
}

/// One message ready to send. Every text field is already rendered.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub to: SubscriberEmail,
    /// CR and LF are replaced by spaces when the message is built.
    pub subject: String,
    pub html: String,
    pub text: String,
    /// Deterministic id from [`message_id`]: re-sending the same mail keeps
    /// the same id, so the file outbox overwrites and receivers can dedupe.
    pub message_id: String,
    pub date: DateTime<Utc>,
    /// One-click unsubscribe URL; `None` for confirmation mails.
    pub list_unsubscribe: Option<url::Url>,
    pub kind: EmailKind,
}

/// `<digest.2026-06-12.42.HASH@domain>`: the same for one subscriber, kind
/// and day, so a retried send carries the same id. HASH is a short digest of
/// all the parts (a checksum, not a secret).
pub fn message_id(kind: EmailKind, date: NaiveDate, subscriber_id: i64, domain: &str) -> String {
    let domain = domain.trim().trim_start_matches('@');
    let domain = if domain.is_empty() {
        "localhost"
    } else {
        domain
    };
    let digest = Sha256::digest(format!("{}|{date}|{subscriber_id}|{domain}", kind.as_str()));
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "<{}.{}.{subscriber_id}.{hash}@{domain}>",
        kind.as_str(),
        date.format("%Y-%m-%d")
    )
}

/// Header values never carry line breaks: a CR/LF in a subject would let the
/// text after it become a header of its own.
fn single_line(s: &str) -> String {
    s.chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

macro_rules! text_header {
    ($(#[$doc:meta])* $ty:ident, $name:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $ty(pub String);

        impl Header for $ty {
            fn name() -> HeaderName {
                HeaderName::new_from_ascii_str($name)
            }

            fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
                Ok($ty(s.trim().to_string()))
            }

            fn display(&self) -> HeaderValue {
                HeaderValue::new(Self::name(), single_line(&self.0))
            }
        }
    };
}

text_header!(
    /// RFC 2369 `List-Unsubscribe: <https://…/unsubscribe/TOKEN>`.
    ListUnsubscribe,
    "List-Unsubscribe"
);
text_header!(
    /// RFC 8058 `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
    ListUnsubscribePost,
    "List-Unsubscribe-Post"
);
text_header!(
    /// RFC 2919 `List-Id: <digest.example.org>`.
    ListId,
    "List-Id"
);
text_header!(
    /// RFC 3834 `Auto-Submitted: auto-generated`: keeps vacation responders quiet.
    AutoSubmitted,
    "Auto-Submitted"
);
text_header!(
    /// `Precedence: bulk`: the de-facto signal for list mail.
    Precedence,
    "Precedence"
);

/// Sender identity shared by every message of one mailer.
#[derive(Debug, Clone)]
pub(crate) struct Composer {
    pub from: Mailbox,
    pub list_id: String,
    /// Signs every built message when `[mail.dkim]` is set.
    pub dkim: Option<super::DkimSigner>,
}

impl Composer {
    pub fn build(&self, email: &OutgoingEmail) -> Result<Message, lettre::error::Error> {
        let to: lettre::Address = email
            .to
            .to_ascii()
            .parse()
            .map_err(|_| lettre::error::Error::MissingTo)?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(single_line(&email.subject))
            .date(SystemTime::from(email.date))
            .message_id(Some(single_line(&email.message_id)))
            .header(AutoSubmitted("auto-generated".into()));
        if let Some(url) = &email.list_unsubscribe {
            builder = builder
                .header(ListUnsubscribe(format!("<{url}>")))
                .header(ListUnsubscribePost("List-Unsubscribe=One-Click".into()));
        }
        if email.kind == EmailKind::Digest {
            builder = builder
                .header(ListId(self.list_id.clone()))
                .header(Precedence("bulk".into()));
        }
        let mut message = builder.multipart(MultiPart::alternative_plain_html(
            email.text.clone(),
            email.html.clone(),
        ))?;
        if let Some(signer) = &self.dkim {
            signer.sign(&mut message);
        }
        Ok(message)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use chrono::TimeZone;
    use mail_parser::{HeaderValue as PHeader, MessageParser, MimeHeaders};

    pub(crate) fn sample(kind: EmailKind) -> OutgoingEmail {
        OutgoingEmail {
            to: SubscriberEmail::parse("ada@example.org").unwrap(),
            subject: "7 new papers on your topics — 12 Jun 2026\r\nBcc: evil@example.org".into(),
            html: "<p>Hello <b>Ada</b> — ünïcödé</p>".into(),
            text: "Hello Ada — ünïcödé\nhttps://example.org/p/unsubscribe/TOKEN\n".into(),
            message_id: message_id(
                kind,
                NaiveDate::from_ymd_opt(2026, 6, 12).unwrap(),
                42,
                "example.org",
            ),
            date: Utc.with_ymd_and_hms(2026, 6, 12, 6, 30, 0).unwrap(),
            list_unsubscribe: (kind == EmailKind::Digest)
                .then(|| url::Url::parse("https://example.org/p/unsubscribe/AbC-_123").unwrap()),
            kind,
        }
    }

    pub(crate) fn composer() -> Composer {
        Composer {
            from: "Paperboy <papers@example.org>".parse().unwrap(),
            list_id: "<digest.example.org>".into(),
            dkim: None,
        }
    }

    fn header<'a>(msg: &'a mail_parser::Message<'a>, name: &str) -> Option<String> {
        msg.header_raw(name).map(|v| v.trim().to_string())
    }

    #[test]
    fn message_ids_are_deterministic_and_distinct_per_subscriber_kind_and_day() {
        let d = NaiveDate::from_ymd_opt(2026, 6, 12).unwrap();
        let a = message_id(EmailKind::Digest, d, 42, "example.org");
        assert_eq!(a, message_id(EmailKind::Digest, d, 42, "example.org"));
        assert!(a.starts_with("<digest.2026-06-12.42."), "{a}");
        assert!(a.ends_with("@example.org>"), "{a}");
        assert_ne!(a, message_id(EmailKind::Digest, d, 43, "example.org"));
        assert_ne!(a, message_id(EmailKind::Confirmation, d, 42, "example.org"));
        assert_ne!(
            a,
            message_id(EmailKind::Digest, d.succ_opt().unwrap(), 42, "example.org")
        );
    }

    #[test]
    fn a_digest_carries_every_list_header_and_both_parts_text_first() {
        let raw = composer()
            .build(&sample(EmailKind::Digest))
            .unwrap()
            .formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();

        assert_eq!(
            msg.subject().unwrap(),
            "7 new papers on your topics — 12 Jun 2026 Bcc: evil@example.org"
        );
        assert!(msg.header("Bcc").is_none());
        let from = msg.from().unwrap().first().unwrap();
        assert_eq!(from.address().unwrap(), "papers@example.org");
        assert_eq!(from.name().unwrap(), "Paperboy");
        assert_eq!(
            msg.to().unwrap().first().unwrap().address().unwrap(),
            "ada@example.org"
        );
        let expected_id = sample(EmailKind::Digest).message_id;
        assert_eq!(
            msg.message_id().unwrap(),
            expected_id.trim_start_matches('<').trim_end_matches('>')
        );
        assert_eq!(msg.date().unwrap().to_timestamp(), 1_781_245_800);
        assert_eq!(
            header(&msg, "List-Unsubscribe").unwrap(),
            "<https://example.org/p/unsubscribe/AbC-_123>"
        );
        assert_eq!(
            header(&msg, "List-Unsubscribe-Post").unwrap(),
            "List-Unsubscribe=One-Click"
        );
        assert_eq!(header(&msg, "List-Id").unwrap(), "<digest.example.org>");
        assert_eq!(header(&msg, "Auto-Submitted").unwrap(), "auto-generated");
        assert_eq!(header(&msg, "Precedence").unwrap(), "bulk");

        let ct = msg.content_type().unwrap();
        assert_eq!(
            (ct.ctype(), ct.subtype()),
            ("multipart", Some("alternative"))
        );
        assert_eq!(msg.text_body.len(), 1);
        assert_eq!(msg.html_body.len(), 1);
        assert!(
            msg.text_body[0] < msg.html_body[0],
            "text part must come first"
        );
        assert_eq!(
            msg.body_text(0).unwrap().replace("\r\n", "\n"),
            sample(EmailKind::Digest).text
        );
        assert!(msg.body_html(0).unwrap().contains("<b>Ada</b> — ünïcödé"));
        assert!(!matches!(msg.header("Precedence"), Some(PHeader::Empty)));
    }

    #[test]
    fn a_long_unsubscribe_url_survives_header_folding_intact() {
        let url = format!(
            "https://papers.example.org/some/deep/prefix/unsubscribe/{}",
            "AbCdEfGh-_".repeat(8)
        );
        let mut email = sample(EmailKind::Digest);
        email.list_unsubscribe = Some(url::Url::parse(&url).unwrap());
        let raw = composer().build(&email).unwrap().formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();
        let value: String = header(&msg, "List-Unsubscribe")
            .unwrap()
            .split_whitespace()
            .collect();
        assert_eq!(value, format!("<{url}>"));
        let text = String::from_utf8_lossy(&raw);
        let line = text
            .split("\r\n")
            .find(|l| l.starts_with("List-Unsubscribe:"))
            .unwrap();
        assert_eq!(
            line,
            format!("List-Unsubscribe: <{url}>"),
            "folded or MIME-encoded"
        );
    }

    #[test]
    fn a_confirmation_mail_has_no_list_headers() {
        let raw = composer()
            .build(&sample(EmailKind::Confirmation))
            .unwrap()
            .formatted();
        let msg = MessageParser::default().parse(&raw).unwrap();
        for absent in [
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "List-Id",
            "Precedence",
        ] {
            assert!(header(&msg, absent).is_none(), "{absent} should be absent");
        }
        assert_eq!(header(&msg, "Auto-Submitted").unwrap(), "auto-generated");
        assert!(msg
            .message_id()
            .unwrap()
            .starts_with("confirm.2026-06-12.42."));
    }
}

//! One raw RFC 5322 message in, one [`Report`] out: ARF complaint, RFC 3464
//! DSN, text bounce, RFC 3834 auto-reply, unsubscribe request, or unknown.
//! MIME is mail-parser's; this module decides what the parts mean and finds
//! the keys of the delivery.

use std::collections::HashSet;

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};

use super::address;
use super::arf;
use super::autoreply;
use super::dsn;
use super::event::{Bounce, Complaint, DeliveryKeys, Event, FeedbackType, Report, Unrecognised};
use super::keys::{Context, KeyFinder};
use super::text::{self, TextInput};
use super::webhook::ses;

/// Messages are read up to this size; a bounce's report comes first, and a
/// returned attachment past it changes nothing.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Headers of the bounce itself that carry the address it was sent to.
const DELIVERY_HEADERS: &[&str] = &[
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "x-rcpt-to",
    "original-recipient",
    "to",
    "cc",
];

/// Classifies one message. Never panics and never fails: whatever cannot be
/// read is [`Event::Unknown`] with the reason.
pub fn classify(raw: &[u8], ctx: &Context<'_>) -> Report {
    let raw = &raw[..raw.len().min(MAX_MESSAGE_BYTES)];
    let raw = strip_mbox_from_line(raw);
    let Some(message) = MessageParser::default().parse(raw) else {
        return Report::new(
            Event::Unknown(Unrecognised::NotAMessage),
            DeliveryKeys::default(),
        );
    };
    if message.headers().is_empty() {
        return Report::new(
            Event::Unknown(Unrecognised::NotAMessage),
            DeliveryKeys::default(),
        );
    }
    Classifier::new(&message, ctx, 0).run()
}

/// A leading `From sender date` line (mbox, procmail, fetchmail) is not a
/// header; without this the first real header would be read as its
/// continuation.
fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match memchr::memchr(b'\n', raw) {
            Some(end) => &raw[end + 1..],
            None => &[],
        }
    } else {
        raw
    }
}

struct Classifier<'m, 'c> {
    message: &'m Message<'m>,
    ctx: &'c Context<'c>,
    /// How many messages deep: a relay may quote a whole bounce in its own.
    depth: u8,
    headers: Vec<(String, String)>,
    keys: DeliveryKeys,
    excluded: HashSet<String>,
}

/// The parts of a report that mean something.
#[derive(Default)]
struct Parts {
    dsn: Vec<String>,
    arf: Option<String>,
    /// Headers of the returned original (`message/rfc822`,
    /// `text/rfc822-headers`, or quoted in the text).
    returned: Vec<(String, String)>,
    /// The human-readable text, the returned message cut off.
    report: String,
    /// The text before the cut, when a returned message was cut off.
    full_text: Option<String>,
    /// The returned message whole: a `message/rfc822` part, or the text
    /// after a separator. Sometimes a bounce itself, forwarded by a relay.
    quoted: Option<String>,
    report_type: Option<String>,
}

impl<'m, 'c> Classifier<'m, 'c> {
    fn new(message: &'m Message<'m>, ctx: &'c Context<'c>, depth: u8) -> Self {
        let headers = message
            .headers_raw()
            .map(|(name, value)| (name.to_string(), unfold(value)))
            .collect();
        Classifier {
            message,
            ctx,
            depth,
            headers,
            keys: DeliveryKeys::default(),
            excluded: HashSet::new(),
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn run(mut self) -> Report {
        // Where the message was delivered: a bounce or unsubscribe token.
        let mut delivered_to: Vec<String> = self
            .ctx
            .envelope_recipient
            .map(str::to_string)
            .into_iter()
            .collect();
        for name in DELIVERY_HEADERS {
            delivered_to.extend(self.headers_named(name).map(str::to_string));
        }
        for value in &delivered_to {
            self.finder().add_token(value, &mut self.keys);
        }
        for name in ["to", "delivered-to", "envelope-to"] {
            for value in self
                .headers_named(name)
                .map(str::to_string)
                .collect::<Vec<_>>()
            {
                self.exclude(&value);
            }
        }
        if self.keys.subscriber.is_some() && self.keys.delivery.is_none() {
            // Sent to `unsubscribe+TOKEN@`: whatever it says, the
            // subscriber asked to leave (RFC 2369 mailto: form).
            return self.report(Event::UnsubscribeRequest);
        }

        let parts = self.parts();
        self.read_returned(&parts.returned);

        if parts.arf.is_some() || parts.report_type.as_deref() == Some("feedback-report") {
            return self.read_arf(parts.arf.as_deref().unwrap_or(""));
        }

        let text = parts.full_text.as_deref().unwrap_or(&parts.report);
        let lower_text = text.to_ascii_lowercase();
        let dsn_in_text = parts.dsn.is_empty()
            && lower_text.contains("final-recipient:")
            && (lower_text.contains("\nstatus:") || lower_text.contains("\naction:"));
        let dsn_bodies = if dsn_in_text {
            // DSN fields written into the text (broken MIME, or an MTA that
            // never learnt multipart/report).
            vec![text.to_string()]
        } else {
            parts.dsn.clone()
        };
        if !dsn_bodies.is_empty() {
            let reading = dsn::read(&dsn_bodies);
            for a in &reading.addresses {
                if let Some(e) = address::parse(a) {
                    self.keys.add_recipient(&e);
                }
            }
            if !reading.failed.is_empty() {
                let mut failed = reading.failed;
                for recipient in &mut failed {
                    text::complete_from_text(recipient, &parts.report);
                }
                let bounce = Bounce::from_recipients(failed, "rfc3464").expect("not empty");
                return self.bounce(bounce);
            }
            if reading.succeeded > 0 && !dsn_in_text {
                return self.report(Event::Delivered);
            }
        }

        if parts.dsn.is_empty() {
            if let Some(inner) = parts.quoted.as_deref().and_then(|q| self.quoted_report(q)) {
                return inner;
            }
            if let Some(report) = self.ses_by_mail(&parts.report) {
                return report;
            }
        }

        let subject = self.message.subject().unwrap_or_default().to_string();
        let from = self.header("from").unwrap_or_default().to_string();
        let failed_header: Vec<String> = self
            .headers_named("x-failed-recipients")
            .map(str::to_string)
            .collect();
        let input = TextInput {
            subject: &subject,
            from: &from,
            report: &parts.report,
            failed_header: &failed_header,
            excluded: &self.excluded,
        };
        if let Some(found) = text::read(&input) {
            let bounce =
                Bounce::from_recipients(found.recipients, found.format).expect("never empty");
            return self.bounce(bounce);
        }

        if self.is_unsubscribe_mail(&subject) {
            if let Some(sender) = address::first_in(&from).and_then(|a| address::parse(&a)) {
                self.keys.add_recipient(&sender);
            }
            return self.report(Event::UnsubscribeRequest);
        }
        let auto = autoreply::Headers {
            all: &self.headers,
            subject: &subject,
        };
        if autoreply::is_auto_reply(&auto) {
            return self.report(Event::AutoReply);
        }
        self.report(Event::Unknown(Unrecognised::NotABounce))
    }

    /// A delivery status report quoted whole inside this message (a relay
    /// that wraps the bounce it received in one of its own): its reading,
    /// with this message's keys added.
    fn quoted_report(&self, quoted: &str) -> Option<Report> {
        if self.depth >= 2 {
            return None;
        }
        let raw = strip_mbox_from_line(quoted.trim_start().as_bytes());
        let inner = MessageParser::default().parse(raw)?;
        let is_report = inner
            .content_type()
            .and_then(|ct| attribute(ct, "report-type"))
            .is_some_and(|t| t.eq_ignore_ascii_case("delivery-status"));
        if !is_report {
            return None;
        }
        let mut report = Classifier::new(&inner, self.ctx, self.depth + 1).run();
        if !matches!(report.event, Event::Bounce(_) | Event::Delivered) {
            return None;
        }
        let keys = &mut report.keys;
        keys.delivery = keys.delivery.or(self.keys.delivery);
        keys.subscriber = keys.subscriber.or(self.keys.subscriber);
        for id in &self.keys.message_ids {
            keys.add_message_id(id);
        }
        Some(report)
    }

    /// An Amazon SES notification that SNS delivered to an email
    /// subscription: the notification JSON (or the SNS envelope around it)
    /// is the body, followed by SNS's footer.
    fn ses_by_mail(&self, text: &str) -> Option<Report> {
        let body = text.trim_start();
        if !body.starts_with('{')
            || !(body.contains("\"notificationType\"") || body.contains("eventType"))
        {
            return None;
        }
        let first_json = |text: &str| {
            serde_json::Deserializer::from_str(text)
                .into_iter::<serde_json::Value>()
                .next()
                .and_then(Result::ok)
        };
        // A relay may have folded the long JSON line (RFC 5322's 998
        // octets): unfold and try again.
        let value = first_json(body).or_else(|| {
            first_json(
                &body
                    .replace("\r\n ", "")
                    .replace("\n ", "")
                    .replace("\n\t", ""),
            )
        })?;
        let notification = match value.get("Message").and_then(|m| m.as_str()) {
            Some(inner) => inner.to_string(),
            None => value.to_string(),
        };
        let mut report = ses::read_notification(&notification, self.ctx).ok()?;
        if let Event::Bounce(b) = &mut report.event {
            b.format = "ses";
        }
        Some(report)
    }

    /// Mail clients' own `mailto:` unsubscribe messages sent to an address
    /// without our token (Apple Mail's `X-Apple-Unsubscribe`, a bare
    /// "unsubscribe" subject). Only the sender's address keys it, which
    /// anyone can write: the caller must not act on it without a signed key.
    fn is_unsubscribe_mail(&self, subject: &str) -> bool {
        self.header("x-apple-unsubscribe")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || subject.trim().eq_ignore_ascii_case("unsubscribe")
    }

    fn report(self, event: Event) -> Report {
        Report::new(event, self.keys)
    }

    fn bounce(mut self, bounce: Bounce) -> Report {
        for r in &bounce.recipients {
            if let Some(a) = &r.address {
                self.keys.add_recipient(a);
            }
        }
        // The failed recipients first: a DSN's Original-Recipient may have
        // been added above them.
        let failed: Vec<_> = bounce
            .recipients
            .iter()
            .filter_map(|r| r.address.clone())
            .collect();
        self.keys
            .recipients
            .sort_by_key(|a| failed.iter().position(|f| f == a).unwrap_or(usize::MAX));
        self.report(Event::Bounce(bounce))
    }

    fn read_arf(mut self, body: &str) -> Report {
        let reading = arf::read(body);
        if let Some(from) = &reading.original_mail_from {
            self.finder().add_token(from, &mut self.keys);
        }
        for a in &reading.recipients {
            if let Some(e) = address::parse(a) {
                self.keys.add_recipient(&e);
            }
        }
        let feedback_type = reading.feedback_type.unwrap_or(FeedbackType::Abuse);
        let event = if feedback_type == FeedbackType::OptOut {
            Event::UnsubscribeRequest
        } else if feedback_type.is_complaint() {
            Event::Complaint(Complaint {
                feedback_type,
                user_agent: reading.user_agent,
            })
        } else {
            Event::Unknown(Unrecognised::NotAComplaint)
        };
        self.report(event)
    }

    /// Splits the message into the parts that matter.
    fn parts(&self) -> Parts {
        let mut parts = Parts {
            report_type: self
                .message
                .content_type()
                .filter(|ct| ct.ctype().eq_ignore_ascii_case("multipart"))
                .and_then(|ct| attribute(ct, "report-type"))
                .map(|t| t.to_ascii_lowercase()),
            ..Parts::default()
        };
        let mut html = String::new();
        for (index, part) in self.message.parts.iter().enumerate() {
            let (ctype, subtype) = match part.content_type() {
                Some(ct) => (
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or("").to_ascii_lowercase(),
                ),
                None if index == 0 || matches!(part.body, PartType::Text(_)) => {
                    ("text".into(), "plain".into())
                }
                None => (String::new(), String::new()),
            };
            match (ctype.as_str(), subtype.as_str()) {
                ("message", "delivery-status" | "global-delivery-status") => {
                    parts
                        .dsn
                        .push(String::from_utf8_lossy(part.contents()).into_owned());
                }
                ("message", "feedback-report") => {
                    parts.arf.get_or_insert_with(|| {
                        String::from_utf8_lossy(part.contents()).into_owned()
                    });
                }
                ("message", "rfc822" | "global" | "partial")
                | ("text", "rfc822-headers" | "global-headers")
                    if parts.returned.is_empty() =>
                {
                    if let Some(original) = part.message() {
                        parts.quoted.get_or_insert_with(|| {
                            String::from_utf8_lossy(original.raw_message()).into_owned()
                        });
                    }
                    parts.returned = match part.message() {
                        Some(original) => original
                            .headers_raw()
                            .map(|(n, v)| (n.to_string(), unfold(v)))
                            .collect(),
                        None => header_block(&String::from_utf8_lossy(part.contents())),
                    };
                }
                ("text", "plain" | "") => {
                    if let PartType::Text(text) = &part.body {
                        push_text(&mut parts.report, text);
                    } else if let Some(text) = part.text_contents() {
                        push_text(&mut parts.report, text);
                    }
                }
                ("text", "html") => {
                    if let PartType::Html(h) | PartType::Text(h) = &part.body {
                        push_text(&mut html, &mail_parser::decoders::html::html_to_text(h));
                    }
                }
                _ => {}
            }
        }
        if parts.report.trim().is_empty() {
            parts.report = html;
        }
        if parts.report.trim().is_empty() && parts.dsn.is_empty() && parts.arf.is_none() {
            // Broken MIME (a boundary parameter on an unfolded line, an
            // unknown charset): read the body as it is written.
            let root = self.message.root_part();
            let raw = self.message.raw_message.as_ref();
            let start = (root.offset_body as usize).min(raw.len());
            let end = (root.offset_end as usize)
                .clamp(start, raw.len())
                .min(start + 256 * 1024);
            parts.report = String::from_utf8_lossy(&raw[start..end]).into_owned();
        }
        // A returned message quoted in the text: cut it off, keep its headers.
        if let Some(at) = returned_message_start(&parts.report) {
            let quoted = header_block(&parts.report[at..]);
            if parts.returned.is_empty() {
                parts.returned = quoted;
            }
            parts
                .quoted
                .get_or_insert_with(|| parts.report[at..].to_string());
            parts.full_text = Some(parts.report.clone());
            parts.report.truncate(at);
        }
        parts
    }

    /// Keys and exclusions from the returned original's headers.
    fn read_returned(&mut self, returned: &[(String, String)]) {
        let finder = self.finder();
        for (name, value) in returned {
            finder.returned_header(name, value, &mut self.keys);
            if matches!(
                name.to_ascii_lowercase().as_str(),
                "from" | "sender" | "reply-to" | "return-path" | "errors-to"
            ) {
                self.exclude(value);
            }
        }
    }

    fn exclude(&mut self, value: &str) {
        for (_, a) in address::all_in(value) {
            self.excluded.insert(a.to_ascii_lowercase());
        }
    }

    fn finder(&self) -> KeyFinder<'c> {
        self.ctx.finder()
    }
}

fn attribute<'a>(ct: &'a mail_parser::ContentType<'_>, name: &str) -> Option<&'a str> {
    ct.attributes()?
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| a.value.as_ref())
}

fn push_text(out: &mut String, text: &str) {
    if out.len() < 256 * 1024 {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(text);
    }
}

/// Joins folded header lines.
fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Header fields at the start of `text` (blank lines before them skipped),
/// up to the first blank line.
fn header_block(text: &str) -> Vec<(String, String)> {
    let trimmed = text.trim_start_matches(['\r', '\n', ' ']);
    let end = trimmed
        .find("\n\n")
        .or_else(|| trimmed.find("\r\n\r\n"))
        .unwrap_or(trimmed.len())
        .min(64 * 1024);
    let end = (0..=end)
        .rev()
        .find(|&i| trimmed.is_char_boundary(i))
        .unwrap_or(0);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in trimmed[..end].lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            if !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic()) {
                out.push((name.to_string(), value.trim().to_string()));
            }
        }
    }
    out
}

/// Where a returned message quoted inside the text starts: after a
/// separator line that says so ("--- Below this line is a copy of the
/// message.", "----- Original message -----" …), or at a run of header lines
/// that starts a message.
fn returned_message_start(report: &str) -> Option<usize> {
    const SEPARATORS: &[&str] = &[
        "below this line is a copy of the message",
        "this is a copy of the message",
        "original message",
        "copy of the original message",
        "returned message",
        "undelivered message",
        "unsent message",
        "message headers follow",
        "headers of the original message",
        "header of the original message",
        "original message headers",
        "the original message was",
        "original mail",
        "text of the message",
        "message text follows",
        "your message reads",
        "returned mail follows",
        "rfc822 headers",
    ];
    let mut offset = 0;
    let lines: Vec<&str> = report.split_inclusive('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let lower = line.trim().to_lowercase();
        let separator_like = lower.starts_with(['-', '=', '*', '_'])
            || lower.ends_with(':')
            || lower.ends_with("follow.")
            || lower.ends_with("follows.")
            || lower.ends_with("follows");
        if separator_like
            && SEPARATORS.iter().any(|s| lower.contains(s))
            && !lower.contains("was received at")
        {
            return Some(offset + line.len());
        }
        // Three header lines in a row, starting with one a message starts
        // with: the original pasted without a separator.
        if i > 0 && starts_message(line) && lines[i..].iter().take(3).all(|l| is_header_line(l)) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

fn starts_message(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    [
        "return-path:",
        "received:",
        "dkim-signature:",
        "message-id:",
        "x-received:",
    ]
    .iter()
    .any(|h| lower.starts_with(h))
}

fn is_header_line(line: &str) -> bool {
    if line.starts_with([' ', '\t']) {
        return true;
    }
    match line.split_once(':') {
        Some((name, _)) => {
            !name.is_empty()
                && name.len() < 40
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests;

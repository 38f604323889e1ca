//! Reading what the SMTP test server received: parse a [`ReceivedMail`] with `mail-parser` and
//! pull out the parts tests assert on (a header, the text part, the HTML part, its links).
//!
//! It owns no protocol and no server state; it must not normalise content in ways that would hide
//! a bug in the mail paperboy builds (no trimming of bodies, no case folding of values).

use std::sync::LazyLock;

use mail_parser::{HeaderValue, Message, MessageParser};
use regex::Regex;

use super::smtp::ReceivedMail;

/// Parse a received message.
///
/// # Panics
/// If the bytes are not a parseable message at all: for a test that is a failed assertion,
/// reported with the start of the raw data.
pub fn parse(mail: &ReceivedMail) -> Message<'_> {
    match MessageParser::default().parse(&mail.data) {
        Some(message) => message,
        None => panic!(
            "received mail is not a parseable message; it starts with {:?}",
            String::from_utf8_lossy(&mail.data[..mail.data.len().min(200)])
        ),
    }
}

/// The value of the first header called `name` (case-insensitive), decoded: RFC 2047 encoded
/// words are decoded for unstructured headers such as Subject; structured ones (From, To,
/// List-Unsubscribe …) are given as sent, unfolded and trimmed.
pub fn header(message: &Message<'_>, name: &str) -> Option<String> {
    let value = message.header(name)?;
    match value {
        HeaderValue::Text(text) => Some(text.to_string()),
        HeaderValue::TextList(list) => Some(list.join(", ")),
        _ => header_raw(message, name),
    }
}

/// The value of the first header called `name` exactly as sent, unfolded and trimmed.
pub fn header_raw(message: &Message<'_>, name: &str) -> Option<String> {
    message.header_raw(name).map(unfold)
}

/// Every value of headers called `name`, as sent, unfolded and trimmed, in order.
pub fn header_all(message: &Message<'_>, name: &str) -> Vec<String> {
    message
        .headers_raw()
        .filter(|(header, _)| header.eq_ignore_ascii_case(name))
        .map(|(_, value)| unfold(value))
        .collect()
}

fn unfold(value: &str) -> String {
    value
        .replace("\r\n", "")
        .replace('\n', "")
        .trim()
        .to_owned()
}

/// The first `text/plain` body, decoded from its transfer encoding and charset.
pub fn text_part(message: &Message<'_>) -> Option<String> {
    message
        .text_bodies()
        .find(|part| part.is_text() && !part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_owned)
}

/// The first `text/html` body, decoded from its transfer encoding and charset.
pub fn html_part(message: &Message<'_>) -> Option<String> {
    message
        .html_bodies()
        .find(|part| part.is_text_html())
        .and_then(|part| part.text_contents())
        .map(str::to_owned)
}

static HREF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+))"#)
        .expect("the href pattern is a valid regex")
});

/// Every `href` of an `<a>` element in `html`, entity-decoded, in document order.
pub fn links(html: &str) -> Vec<String> {
    HREF.captures_iter(html)
        .filter_map(|captures| captures.get(1).or(captures.get(2)).or(captures.get(3)))
        .map(|href| html_escape::decode_html_entities(href.as_str()).into_owned())
        .collect()
}

/// Every link in the message's HTML part (empty when there is no HTML part).
pub fn html_links(message: &Message<'_>) -> Vec<String> {
    html_part(message)
        .map(|html| links(&html))
        .unwrap_or_default()
}

impl ReceivedMail {
    /// Parse this message; see [`parse`].
    pub fn parsed(&self) -> Message<'_> {
        parse(self)
    }
}

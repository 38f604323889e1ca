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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_read_from_every_quoting_style_and_entity_decoded() {
        let html = r#"<a href="https://a.test/?x=1&amp;y=2">a</a>
            <A class=k HREF='https://b.test/'>b</A> <a href=https://c.test/p>c</a>
            <link href="https://style.test/x.css"> <area href="https://no.test/">"#;
        assert_eq!(
            links(html),
            vec![
                "https://a.test/?x=1&y=2",
                "https://b.test/",
                "https://c.test/p"
            ]
        );
    }

    #[test]
    fn folded_header_values_are_unfolded_and_trimmed() {
        assert_eq!(unfold(" one\r\n two\r\n"), "one two");
    }

    #[test]
    fn headers_text_and_html_parts_are_read_from_a_multipart_message() {
        let raw = "Subject: =?utf-8?q?caf=C3=A9?=\r\nTo: a@b.c\r\nTo: d@e.f\r\n\
            Content-Type: multipart/alternative; boundary=XX\r\n\r\n\
            --XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain body\r\n\
            --XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<a href=\"u\">x</a>\r\n--XX--\r\n";
        let mail = ReceivedMail {
            mail_from: String::new(),
            rcpt_to: Vec::new(),
            data: raw.as_bytes().to_vec(),
            auth: None,
        };
        let message = parse(&mail);
        assert_eq!(header(&message, "subject").as_deref(), Some("café"));
        assert_eq!(
            header_raw(&message, "Subject").as_deref(),
            Some("=?utf-8?q?caf=C3=A9?=")
        );
        assert_eq!(header_all(&message, "to"), vec!["a@b.c", "d@e.f"]);
        assert_eq!(text_part(&message).as_deref(), Some("plain body"));
        assert_eq!(html_links(&message), vec!["u"]);
        assert_eq!(header(&message, "x-missing"), None);
    }
}

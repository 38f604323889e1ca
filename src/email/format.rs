//! What rendering every mail shares: the helpers templates call, the
//! plain-text tidying and word wrap, and HTML made pure ASCII with short
//! lines so the mail layer sends it as 7bit. It knows nothing of what a
//! particular mail says.

use super::href::safe_href;

/// A rendered email: its subject and both parts, ready to become an
/// [`crate::mail::OutgoingEmail`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// Text part line width: comfortable in every client, below RFC 5322's 78.
pub(super) const TEXT_WIDTH: usize = 72;

/// Methods every mail template calls.
pub(super) trait ViewHelpers {
    /// Word-wraps to [`TEXT_WIDTH`], every line indented by `indent` spaces.
    /// Long words (URLs) are never broken.
    fn wrap(&self, text: impl std::fmt::Display, indent: usize) -> String {
        wrap_text(&text.to_string(), TEXT_WIDTH, indent)
    }

    fn plural<'s>(
        &self,
        n: impl std::borrow::Borrow<usize>,
        one: &'s str,
        many: &'s str,
    ) -> &'s str {
        if *n.borrow() == 1 {
            one
        } else {
            many
        }
    }

    /// The URL if it is a web link, else `#` (see [`super::href`]): paper
    /// URLs come from outside, and escaping alone does not stop a
    /// `javascript:` href.
    fn href(&self, url: impl AsRef<str>) -> String {
        safe_href(url.as_ref())
    }
}

/// Longest line [`ascii_html`] leaves when it can break it: well under the
/// 998 octets of RFC 5322, with room for a client that re-wraps.
const HTML_LINE_OCTETS: usize = 500;

/// Rendered HTML made pure ASCII with short lines, so the mail layer sends
/// it as 7bit with no encoding pass: every non-ASCII character becomes a
/// numeric character reference (`é` becomes `&#233;`, shown as the same
/// character), and a line longer than [`HTML_LINE_OCTETS`] is broken at a
/// space outside a tag, where a newline renders as the space did (the
/// templates have no `<pre>`). A line without such a space stays long; the
/// mail layer then falls back to quoted-printable.
pub(super) fn ascii_html(html: String) -> String {
    if html.is_ascii() && html.lines().all(|l| l.len() <= HTML_LINE_OCTETS) {
        return html;
    }
    let mut out = String::with_capacity(html.len() + html.len() / 16);
    let mut in_tag = false;
    for piece in html.split_inclusive('\n') {
        if piece.is_ascii() && piece.len() <= HTML_LINE_OCTETS {
            // Most lines: copied as they are, only the tag state tracked.
            if let Some(at) = piece.rfind(['<', '>']) {
                in_tag = piece.as_bytes()[at] == b'<';
            }
            out.push_str(piece);
            continue;
        }
        let mut line_start = out.len();
        let mut last_space: Option<usize> = None;
        for c in piece.chars() {
            match c {
                '<' => in_tag = true,
                '>' => in_tag = false,
                ' ' if !in_tag => last_space = Some(out.len()),
                _ => {}
            }
            if c.is_ascii() {
                out.push(c);
            } else {
                use std::fmt::Write as _;
                let _ = write!(out, "&#{};", u32::from(c));
            }
            if out.len() - line_start > HTML_LINE_OCTETS {
                if let Some(at) = last_space.take() {
                    out.replace_range(at..at + 1, "\n");
                    line_start = at + 1;
                }
            }
        }
    }
    out
}

/// The signature separator (RFC 3676 4.3): mail clients recognise it,
/// space included, and grey out or strip what follows in replies.
const SIGNATURE_SEPARATOR: &str = "-- ";

/// Collapses the blank-line runs template control flow leaves behind and
/// trailing spaces (except the signature separator's), and ends with
/// exactly one newline.
pub(super) fn tidy_text(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut blank_run = 0;
    for line in raw.lines() {
        let line = if line == SIGNATURE_SEPARATOR {
            line
        } else {
            line.trim_end()
        };
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}

/// Greedy word wrap; words longer than the line (URLs) get a line of their own.
/// Written straight into one string: it runs for every paragraph of every
/// digest's text part.
pub(super) fn wrap_text(text: &str, width: usize, indent: usize) -> String {
    let room = width.saturating_sub(indent).max(20);
    let mut out = String::with_capacity(text.len() + text.len() / 16 + indent);
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = if word.is_ascii() {
            word.len()
        } else {
            word.chars().count()
        };
        if line_len > 0 && line_len + 1 + len > room {
            out.push('\n');
            line_len = 0;
        }
        if line_len == 0 {
            out.extend(std::iter::repeat_n(' ', indent));
        } else {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn non_ascii_in_html_becomes_character_references_and_nothing_else_changes() {
        assert_eq!(
            ascii_html("<p title=\"caf\u{e9}\">Zo\u{eb} \u{1f680} &#38; x</p>\n".into()),
            "<p title=\"caf&#233;\">Zo&#235; &#128640; &#38; x</p>\n"
        );
        let plain = "<p>short ASCII</p>\n".to_string();
        assert_eq!(ascii_html(plain.clone()), plain);
    }

    #[test]
    fn a_long_html_line_is_broken_only_at_spaces_outside_tags() {
        let long = format!(
            "<div><a href=\"https://a.example/x\" style=\"color: red; font-size: 12px\">{}</a> {}</div>\n",
            "word ".repeat(150),
            "\u{e9}t\u{e9} ".repeat(100)
        );
        let out = ascii_html(long.clone());
        assert!(out.is_ascii());
        assert!(out.lines().count() > 2, "{out}");
        for line in out.lines() {
            assert!(line.len() <= HTML_LINE_OCTETS, "{} octets", line.len());
        }
        // Every break replaced a space, and no tag was split.
        assert_eq!(
            html_escape::decode_html_entities(&out.replacen('\n', " ", out.lines().count() - 1)),
            long
        );
        for tag in out.split('<').skip(1) {
            let inside = tag.split('>').next().unwrap();
            assert!(!inside.contains('\n'), "broken tag <{inside}>");
        }
    }

    #[test]
    fn an_html_line_without_a_space_outside_tags_stays_whole() {
        let unbreakable = format!("<p>{}</p>", "x".repeat(2 * HTML_LINE_OCTETS));
        assert_eq!(ascii_html(unbreakable.clone()), unbreakable);
    }

    proptest! {
        #[test]
        fn wrapped_text_keeps_every_word_in_order(words in proptest::collection::vec("[a-z]{1,90}", 0..40), indent in 0usize..6) {
            let text = words.join(" ");
            let wrapped = wrap_text(&text, TEXT_WIDTH, indent);
            let rejoined: Vec<&str> = wrapped.split_whitespace().collect();
            prop_assert_eq!(rejoined, words.iter().map(String::as_str).collect::<Vec<_>>());
            for line in wrapped.lines() {
                prop_assert!(line.chars().count() <= TEXT_WIDTH || !line.trim().contains(' '));
            }
        }
    }
}

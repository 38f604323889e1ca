//! Email addresses as reports write them: inside angle brackets, after a
//! `rfc822;` type, in the middle of a server's reply. Finds them in text and
//! turns them into [`SubscriberEmail`]s; nothing here decides which address
//! failed.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::SubscriberEmail;

static ADDRESS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+",
    )
    .expect("static regex")
});

/// Every address-shaped string in `text` with its byte offset, in order.
pub(crate) fn all_in(text: &str) -> impl Iterator<Item = (usize, &str)> {
    ADDRESS.find_iter(text).filter_map(|m| {
        let s = m
            .as_str()
            .trim_start_matches(['\'', '`', '=', '/', '{', '|']);
        // Part of a URL is not an address: look back to the start of the
        // word the match sits in.
        let floor = (m.start().saturating_sub(300)..=m.start())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(m.start());
        let before = &text[floor..m.start()];
        let word_start = floor
            + before
                .rfind(|c: char| {
                    c.is_whitespace() || matches!(c, '<' | '(' | '"' | ',' | ';' | '[' | '>')
                })
                .map_or(0, |i| i + 1);
        if text[word_start..m.end()].contains("://") {
            return None;
        }
        (s.contains('@') && s.len() <= 254).then_some((m.end() - s.len(), s))
    })
}

/// The first address in `text`.
pub(crate) fn first_in(text: &str) -> Option<String> {
    all_in(text).next().map(|(_, a)| a.to_string())
}

/// Exchange and X.400 gateways write `SMTP=user@example.org` or
/// `rfc822=user@…`; the prefix is not part of the address.
pub(crate) fn strip_gateway_prefix(address: &str) -> &str {
    match address.split_once('=') {
        Some((prefix, rest))
            if rest.contains('@')
                && ["smtp", "rfc822", "internet", "x400"]
                    .iter()
                    .any(|p| prefix.eq_ignore_ascii_case(p)) =>
        {
            rest
        }
        _ => address,
    }
}

/// `address` as a subscriber address, if it could be one.
pub(crate) fn parse(address: &str) -> Option<SubscriberEmail> {
    SubscriberEmail::parse(address.trim_matches(|c: char| c == '<' || c == '>' || c == '.')).ok()
}

/// Local parts of the machinery, never a subscriber who bounced.
pub(crate) fn is_system_mailbox(address: &str) -> bool {
    let local = address
        .rsplit_once('@')
        .map(|(l, _)| l)
        .unwrap_or(address)
        .to_ascii_lowercase();
    matches!(
        local.as_str(),
        "postmaster"
            | "mailer-daemon"
            | "mailerdaemon"
            | "mail-daemon"
            | "maildaemon"
            | "mdaemon"
            | "abuse"
            | "root"
            | "noreply"
            | "no-reply"
            | "donotreply"
            | "do-not-reply"
            | "bounce"
            | "bounces"
            | "mailer"
            | "daemon"
            | "nobody"
            | "devnull"
    ) || local.starts_with("mailer-daemon")
        || local.starts_with("postmaster")
}

/// A server's words on one line, at most 500 characters.
pub(crate) fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match joined.char_indices().nth(500) {
        Some((cut, _)) => joined[..cut].to_string(),
        None => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_found_in_brackets_replies_and_typed_fields_but_not_in_urls() {
        let found: Vec<&str> = all_in(
            "rfc822; <Ada@Example.org>: 550 user unknown (see https://help.example/a@b.example) \
             and bob.smith+x@mail.example.co.uk.",
        )
        .map(|(_, a)| a)
        .collect();
        assert_eq!(
            found,
            vec!["Ada@Example.org", "bob.smith+x@mail.example.co.uk"]
        );
        assert_eq!(first_in("nothing here"), None);
    }

    #[test]
    fn found_addresses_become_subscriber_addresses_with_the_domain_lower_cased() {
        assert_eq!(
            parse("<Ada@EXAMPLE.org>").unwrap().as_str(),
            "Ada@example.org"
        );
        assert!(parse("not an address").is_none());
        assert!(is_system_mailbox("MAILER-DAEMON@mx.example"));
        assert!(is_system_mailbox("postmaster"));
        assert!(!is_system_mailbox("ada@example.org"));
    }

    #[test]
    fn one_line_collapses_white_space_and_caps_the_length() {
        assert_eq!(one_line("550  user\n   unknown"), "550 user unknown");
        assert_eq!(one_line(&"é".repeat(800)).chars().count(), 500);
    }
}

//! A subscriber's email address, parsed strictly once at the edge into its
//! one canonical form.

use std::fmt;
use std::str::FromStr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// An address that is safe to put in an SMTP envelope and a `To:` header,
/// in its canonical form: the local part as typed, the domain through the
/// UTS-46 mapping (case folding, width and compatibility forms) and in its
/// ASCII (punycode) form. `c@ｅxample.org`, `c@EXAMPLE.org` and
/// `c@example.org` are one address; so are `t@bücher.example` and
/// `t@xn--bcher-kva.example`. Storage, uniqueness, every limit and the
/// envelope use this form, so a look-alike spelling cannot make a second
/// subscriber for the same mailbox.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SubscriberEmail(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EmailError {
    #[error("the email address is empty")]
    Empty,
    #[error("the email address is longer than 254 characters")]
    TooLong,
    #[error("the email address contains a control character or whitespace")]
    ControlCharacter,
    #[error("the email address has no '@'")]
    MissingAt,
    #[error("the part before '@' is longer than 64 characters")]
    LocalPartTooLong,
    #[error("the email address has non-ASCII characters before '@', which many mail servers cannot deliver to")]
    NonAsciiLocalPart,
    #[error("the email address has a dot at the start or end of the part before '@', or two dots in a row")]
    MisplacedDot,
    /// The domain breaks a rule of internet domains (IDNA 2008 / UTS-46
    /// strict); the reason names the label or character at fault.
    #[error("the domain {domain:?} {reason}")]
    BadDomain { domain: String, reason: String },
    #[error("{0:?} is not a valid email address")]
    Invalid(String),
}

impl SubscriberEmail {
    pub fn parse(input: &str) -> Result<Self, EmailError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(EmailError::Empty);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(EmailError::ControlCharacter);
        }
        if s.chars().count() > 254 {
            return Err(EmailError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(EmailError::MissingAt)?;
        if local.is_empty() {
            return Err(EmailError::Invalid(s.to_string()));
        }
        if local.len() > 64 {
            return Err(EmailError::LocalPartTooLong);
        }
        // RFC 5321 dot-atom only: a quoted local part is legal but nobody
        // subscribes with one, and a non-ASCII one needs SMTPUTF8 at every
        // hop, which the relay cannot promise.
        if !local.is_ascii() {
            return Err(EmailError::NonAsciiLocalPart);
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err(EmailError::MisplacedDot);
        }
        if !local.bytes().all(is_atext_or_dot) {
            return Err(EmailError::Invalid(s.to_string()));
        }
        let ascii = canonical_domain(domain).map_err(|reason| EmailError::BadDomain {
            domain: domain.to_string(),
            reason,
        })?;
        let canonical = format!("{local}@{ascii}");
        if canonical.len() > 254 {
            return Err(EmailError::TooLong);
        }
        lettre::Address::from_str(&canonical).map_err(|_| EmailError::Invalid(s.to_string()))?;
        Ok(SubscriberEmail(canonical))
    }

    /// An address read back from the store. Addresses are stored in their
    /// canonical form, but a row may predate a stricter rule (a non-ASCII
    /// local part, a domain IDNA 2008 refuses), so only what could break a
    /// header is checked again: one such row must not stop a digest run for
    /// everyone else.
    pub fn from_stored(raw: &str) -> Result<Self, EmailError> {
        Self::parse(raw).or_else(|e| match e {
            EmailError::NonAsciiLocalPart
            | EmailError::MisplacedDot
            | EmailError::Invalid(_)
            | EmailError::BadDomain { .. }
                if raw.contains('@')
                    && !raw.chars().any(|c| c.is_control() || c.is_whitespace()) =>
            {
                Ok(SubscriberEmail(raw.to_string()))
            }
            e => Err(e),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }

    /// The address for the SMTP envelope and headers. Parsed addresses are
    /// ASCII already; a row stored under looser rules with a Unicode domain
    /// is converted as well as it can be.
    pub fn to_ascii(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        if domain.is_ascii() {
            return self.0.clone();
        }
        match idna::domain_to_ascii(domain) {
            Ok(ascii) => format!("{local}@{ascii}"),
            Err(_) => self.0.clone(),
        }
    }
}

/// RFC 5322 `atext`, plus the dot of a dot-atom.
fn is_atext_or_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b)
}

/// The canonical ASCII form of `domain` under UTS-46 with every strict
/// flag (UseSTD3ASCIIRules, CheckHyphens, CheckBidi, CheckJoiners,
/// VerifyDnsLength, nontransitional processing as IDNA 2008 wants), plus
/// what a mail domain needs beyond that: two labels at least, and a
/// top-level domain of letters (or an A-label). The error says what is
/// wrong, naming the label or character.
fn canonical_domain(domain: &str) -> Result<String, String> {
    if domain.is_empty() {
        return Err("is empty".into());
    }
    if domain.starts_with('[') {
        return Err("is an address literal; use a domain name".into());
    }
    let strict = Uts46::new().to_ascii(
        domain.as_bytes(),
        AsciiDenyList::STD3,
        Hyphens::Check,
        DnsLength::Verify,
    );
    let ascii = match strict {
        Ok(ascii) => ascii.into_owned(),
        Err(_) => return Err(explain_refusal(domain)),
    };
    let labels: Vec<&str> = ascii.split('.').collect();
    if labels.len() < 2 {
        return Err("has a single label; an internet domain has at least two (example.org)".into());
    }
    let tld = labels[labels.len() - 1];
    let tld_ok = tld.bytes().all(|b| b.is_ascii_alphabetic()) || tld.starts_with("xn--");
    if !tld_ok {
        return Err(format!(
            "ends in the top-level domain {tld:?}, which may hold only letters"
        ));
    }
    Ok(ascii)
}

/// Why strict UTS-46 processing refused `domain`, label by label: the
/// first rule broken, in words a subscriber can act on.
fn explain_refusal(domain: &str) -> String {
    // The mapped form, with nothing refused: what the labels became.
    let lenient = Uts46::new().to_ascii(
        domain.as_bytes(),
        AsciiDenyList::EMPTY,
        Hyphens::Allow,
        DnsLength::Ignore,
    );
    if let Ok(mapped) = &lenient {
        if mapped.len() > 253 {
            return format!(
                "is {} octets long once converted to ASCII; the limit is 253",
                mapped.len()
            );
        }
        let labels: Vec<&str> = mapped.split('.').collect();
        for (i, label) in labels.iter().enumerate() {
            if label.is_empty() {
                if i + 1 == labels.len() {
                    return "ends with a dot".into();
                }
                return "has an empty label: two dots in a row, or a character such as '⒈' that stands for a digit and a dot".into();
            }
            if label.len() > 63 {
                return format!(
                    "has a label of {} octets once converted to ASCII ({label}); the limit is 63",
                    label.len()
                );
            }
        }
    }
    for label in domain.split(['.', '。', '．', '｡']) {
        if label.is_empty() {
            return "has an empty label (two dots in a row, or a dot at either end)".into();
        }
        let lower = label.to_ascii_lowercase();
        if lower.starts_with("xn--") {
            let decoded = Uts46::new().to_ascii(
                lower.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Check,
                DnsLength::Ignore,
            );
            if decoded.is_err() {
                return format!(
                    "has the label {label:?}, which starts with xn-- but is not a valid punycode (IDNA) label"
                );
            }
            continue;
        }
        if label.starts_with('-') || label.ends_with('-') {
            return format!("has the label {label:?}, which starts or ends with a hyphen");
        }
        if label.get(2..4) == Some("--") {
            return format!(
                "has the label {label:?} with '--' in the third and fourth places, which is reserved for xn-- labels"
            );
        }
        if let Some(c) = label
            .chars()
            .find(|&c| !(c.is_alphanumeric() || c == '-' || is_combining(c)))
        {
            return format!(
                "contains {c:?} (U+{:04X}), which is not allowed in a domain name",
                u32::from(c)
            );
        }
        // The first character IDNA 2008 disallows, judged alone (a
        // combining mark after a plain letter, where it may stand).
        for c in label.chars().filter(|c| !c.is_ascii()) {
            let probe = if is_combining(c) {
                format!("a{c}")
            } else {
                c.to_string()
            };
            let alone = Uts46::new().to_ascii(
                probe.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::Check,
                DnsLength::Ignore,
            );
            if alone.is_err() {
                return format!(
                    "contains {c:?} (U+{:04X}), which IDNA 2008 does not allow in a domain name",
                    u32::from(c)
                );
            }
        }
    }
    "mixes right-to-left and left-to-right labels (or digits) in a way IDNA 2008 does not allow"
        .into()
}

/// A combining mark: valid inside a label after a base letter.
fn is_combining(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Addresses are personal data: `Debug` never prints one in full, so a stray
/// `{:?}` in a log line does not leak it.
impl fmt::Debug for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SubscriberEmail(***@{})", self.domain())
    }
}

impl FromStr for SubscriberEmail {
    type Err = EmailError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_parse_and_the_domain_is_lowercased() {
        let e = SubscriberEmail::parse("  Ada.Lovelace+papers@Example.ORG ").unwrap();
        assert_eq!(e.as_str(), "Ada.Lovelace+papers@example.org");
        assert_eq!(e.domain(), "example.org");
    }

    #[test]
    fn header_injection_and_junk_are_refused() {
        for bad in [
            "",
            "a@b.org\r\nBcc: victim@example.org",
            "a b@example.org",
            "no-at-sign.example.org",
            "@example.org",
            "user@localhost",
            "user@-bad.example.org",
            "user@example..org",
            "user@[127.0.0.1]",
            "user@1.2.3.4",
            "a\"b@example.org",
        ] {
            assert!(SubscriberEmail::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn overlong_parts_are_refused() {
        let local = "a".repeat(65);
        assert_eq!(
            SubscriberEmail::parse(&format!("{local}@example.org")),
            Err(EmailError::LocalPartTooLong)
        );
        let domain = format!("{}.org", "a".repeat(250));
        assert_eq!(
            SubscriberEmail::parse(&format!("a@{domain}")),
            Err(EmailError::TooLong)
        );
    }

    #[test]
    fn internationalised_domains_are_stored_as_punycode() {
        let e = SubscriberEmail::parse("jose@Bücher.example").unwrap();
        assert_eq!(e.as_str(), "jose@xn--bcher-kva.example");
        assert_eq!(e.to_ascii(), "jose@xn--bcher-kva.example");
        let plain = SubscriberEmail::parse("ada@example.org").unwrap();
        assert_eq!(plain.to_ascii(), "ada@example.org");
    }

    #[test]
    fn look_alike_spellings_of_a_domain_are_one_address() {
        let canonical = SubscriberEmail::parse("c@example.org").unwrap();
        for look_alike in [
            "c@\u{ff45}xample.org",
            "c@e\u{ff58}ample.org",
            "c@\u{1d41e}xample.org",
            "c@\u{24d4}xample.org",
            "c@EXAMPLE.ORG",
            "c@example\u{3002}org",
        ] {
            assert_eq!(
                SubscriberEmail::parse(look_alike).unwrap(),
                canonical,
                "{look_alike:?}"
            );
        }
        assert_eq!(
            SubscriberEmail::parse("t22@xn--bcher-kva.example").unwrap(),
            SubscriberEmail::parse("t22@bücher.example").unwrap()
        );
        // The local part is kept as typed.
        assert_eq!(
            SubscriberEmail::parse("Ada@Example.org").unwrap().as_str(),
            "Ada@example.org"
        );
    }

    #[test]
    fn domains_strict_idna_refuses_are_refused_with_the_reason() {
        let long_label = format!("me@{}.com", "ü".repeat(60));
        let long_domain = format!("me@{}.com", ["bücher"; 25].join("."));
        for (bad, says) in [
            ("me@\u{2488}wouldbeinvalid.com", "U+2488"),
            ("me@xn--0.tld", "punycode"),
            ("me@1.xn--4dbc.com", "right-to-left"),
            ("me@yy--0.tld", "third and fourth"),
            ("me@bad.tld-", "hyphen"),
            ("me@bad.tld-2", "top-level domain"),
            ("me@bad.t2d", "top-level domain"),
            ("me@exa_mple.org", "'_'"),
            ("me@-bad.org", "hyphen"),
            (long_label.as_str(), "limit is 63"),
            (long_domain.as_str(), "253"),
        ] {
            match SubscriberEmail::parse(bad) {
                Err(e @ EmailError::BadDomain { .. }) => {
                    assert!(e.to_string().contains(says), "{bad:?}: {e}")
                }
                other => panic!("{bad:?} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_address_stored_under_looser_rules_still_reads_back() {
        let e = SubscriberEmail::from_stored("josé@example.org").unwrap();
        assert_eq!(e.as_str(), "josé@example.org");
        assert!(SubscriberEmail::from_stored("a@b.org\r\nBcc: x@y.org").is_err());
    }

    #[test]
    fn only_ascii_dot_atom_local_parts_are_accepted() {
        assert_eq!(
            SubscriberEmail::parse("josé@example.org"),
            Err(EmailError::NonAsciiLocalPart)
        );
        for bad in [".a@example.org", "a.@example.org", "a..b@example.org"] {
            assert_eq!(SubscriberEmail::parse(bad), Err(EmailError::MisplacedDot));
        }
        assert!(SubscriberEmail::parse("\"a\"@example.org").is_err());
        assert!(SubscriberEmail::parse("a.b!#$%&'*+-/=?^_`{|}~@example.org").is_ok());
    }

    #[test]
    fn debug_does_not_print_the_local_part() {
        let e = SubscriberEmail::parse("secret.person@example.org").unwrap();
        assert!(!format!("{e:?}").contains("secret"));
    }
}

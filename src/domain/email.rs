//! A subscriber's email address, parsed strictly once at the edge.

use std::fmt;
use std::str::FromStr;

/// An address that is safe to put in an SMTP envelope and a `To:` header.
///
/// The domain is lower-cased (domains are case-insensitive); the local part
/// is kept as typed. Internationalised domains are kept in their Unicode form
/// here and converted by the mail layer.
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
    #[error("the domain {0:?} is not a valid internet domain")]
    BadDomain(String),
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
        let domain = domain.to_lowercase();
        if !valid_domain(&domain) {
            return Err(EmailError::BadDomain(domain));
        }
        let normalised = format!("{local}@{domain}");
        lettre::Address::from_str(&normalised).map_err(|_| EmailError::Invalid(s.to_string()))?;
        Ok(SubscriberEmail(normalised))
    }

    /// An address read back from the store. It was parsed when stored,
    /// perhaps under looser rules of an earlier version (a non-ASCII local
    /// part), so only what could break a header is checked again: one such
    /// row must not stop a digest run for everyone else.
    pub fn from_stored(raw: &str) -> Result<Self, EmailError> {
        Self::parse(raw).or_else(|e| match e {
            EmailError::NonAsciiLocalPart | EmailError::MisplacedDot | EmailError::Invalid(_)
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

    /// The address for the SMTP envelope and headers: an internationalised
    /// domain in its ASCII (punycode) form, so relays without SMTPUTF8
    /// accept it. The local part is ASCII already.
    pub fn to_ascii(&self) -> String {
        let (local, domain) = self.0.rsplit_once('@').unwrap_or(("", &self.0));
        if domain.is_ascii() {
            return self.0.clone();
        }
        match url::Host::parse(domain) {
            Ok(url::Host::Domain(ascii)) => format!("{local}@{ascii}"),
            _ => self.0.clone(),
        }
    }
}

/// RFC 5322 `atext`, plus the dot of a dot-atom.
fn is_atext_or_dot(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b)
}

/// A domain of at least two labels, each 1..=63 characters of letters
/// (any script), digits and inner hyphens. Address literals (`[1.2.3.4]`)
/// and single-label hosts are refused: nobody subscribes from them.
fn valid_domain(domain: &str) -> bool {
    if domain.len() > 253 || !domain.contains('.') {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.chars().count() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    }) && domain
        .rsplit('.')
        .next()
        .is_some_and(|tld| !tld.chars().all(|c| c.is_ascii_digit()))
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
    fn internationalised_domains_are_accepted_and_sent_as_punycode() {
        let e = SubscriberEmail::parse("jose@Bücher.example").unwrap();
        assert_eq!(e.as_str(), "jose@bücher.example");
        assert_eq!(e.to_ascii(), "jose@xn--bcher-kva.example");
        let plain = SubscriberEmail::parse("ada@example.org").unwrap();
        assert_eq!(plain.to_ascii(), "ada@example.org");
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

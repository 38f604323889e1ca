//! Per-delivery bounce addresses (VERP) and the `mailto:` unsubscribe
//! address: short signed tokens that fit in an address's local part.
//!
//! `bounces+{token}@example.org` as the Return-Path of a digest names the
//! delivery: a bounce sent there maps back to it without trusting anything
//! the bounce says. `unsubscribe+{token}@example.org` in `List-Unsubscribe`
//! names the subscriber (and their link version, so revoking links revokes
//! it too).
//!
//! A token is lower-case base32 (RFC 4648 alphabet, no padding) because MTAs
//! may change the case of a local part; it reads back whatever the case.
//! Layout: one byte of format version and purpose, the signing key's tag,
//! the ids as LEB128 varints, then the first 10 bytes of an HMAC-SHA256
//! under the link-signing keys ([`LinkSigner::compact_mac`]). 80 bits is
//! plenty here: each guess costs the attacker a mail, and the worst a forged
//! bounce can do is count one bounce against one subscriber. A delivery id
//! of 1 gives a 21-character token; the longest possible is 36 (bounce) or
//! 52 (unsubscribe) characters.
//!
//! Tokens carry no expiry: a bounce or complaint can arrive weeks later,
//! and deliveries pruned by retention simply no longer match.

use std::fmt;

use data_encoding::BASE32_NOPAD;

use crate::domain::SubscriberId;
use crate::links::LinkSigner;

const FORMAT_VERSION: u8 = 1;
const MAC_LEN: usize = 10;
/// Keeps these MACs apart from every other use of the link-signing keys.
const MAC_CONTEXT: &[u8] = b"paperboy address token";
/// Shortest and longest token, in characters.
const MIN_TOKEN_CHARS: usize = 21;
const MAX_TOKEN_CHARS: usize = 52;
/// RFC 5321 §4.5.3.1.1.
const MAX_LOCAL_PART: usize = 64;

/// What an address token is for. A token of one purpose never verifies as
/// the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressPurpose {
    /// The Return-Path of one delivery.
    Bounce,
    /// The `mailto:` address of `List-Unsubscribe`.
    Unsubscribe,
}

impl AddressPurpose {
    fn tag(self) -> u8 {
        match self {
            AddressPurpose::Bounce => 1,
            AddressPurpose::Unsubscribe => 2,
        }
    }
}

/// A subscriber as a signed link names them: id and link version (compare
/// the version with the subscriber's current one; lower means revoked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubscriberRef {
    pub subscriber_id: SubscriberId,
    pub link_version: i64,
}

/// What a valid address token asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenClaims {
    Bounce { delivery_id: i64 },
    Unsubscribe(SubscriberRef),
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the address token is malformed")]
    Malformed,
    #[error("the address token's signature is not valid")]
    BadSignature,
}

/// The token of `delivery_id`'s bounce address.
pub fn bounce_token(signer: &LinkSigner, delivery_id: i64) -> String {
    sign(signer, AddressPurpose::Bounce, &[delivery_id])
}

/// The token of a subscriber's `mailto:` unsubscribe address.
pub fn unsubscribe_token(signer: &LinkSigner, subscriber: SubscriberRef) -> String {
    sign(
        signer,
        AddressPurpose::Unsubscribe,
        &[subscriber.subscriber_id.get(), subscriber.link_version],
    )
}

fn sign(signer: &LinkSigner, purpose: AddressPurpose, ids: &[i64]) -> String {
    let mut body = vec![FORMAT_VERSION << 4 | purpose.tag()];
    for &id in ids {
        put_varint(&mut body, zigzag(id));
    }
    let (key_tag, mac) = signer.compact_mac(MAC_CONTEXT, &body);
    let mut bytes = Vec::with_capacity(body.len() + 1 + MAC_LEN);
    bytes.push(body[0]);
    bytes.push(key_tag);
    bytes.extend_from_slice(&body[1..]);
    bytes.extend_from_slice(&mac[..MAC_LEN]);
    BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
}

/// Verifies a token in any letter case. Never panics.
pub fn verify_token(signer: &LinkSigner, token: &str) -> Result<TokenClaims, TokenError> {
    if !(MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&token.len()) {
        return Err(TokenError::Malformed);
    }
    let bytes = BASE32_NOPAD
        .decode(token.to_ascii_uppercase().as_bytes())
        .map_err(|_| TokenError::Malformed)?;
    if bytes.len() < 2 + 1 + MAC_LEN || bytes[0] >> 4 != FORMAT_VERSION {
        return Err(TokenError::Malformed);
    }
    let (head, mac) = bytes.split_at(bytes.len() - MAC_LEN);
    let (first, key_tag, ids) = (head[0], head[1], &head[2..]);
    let mut body = Vec::with_capacity(head.len() - 1);
    body.push(first);
    body.extend_from_slice(ids);
    if !signer.verify_compact_mac(key_tag, MAC_CONTEXT, &body, mac) {
        return Err(TokenError::BadSignature);
    }
    let mut rest = ids;
    let mut next = || {
        read_varint(&mut rest)
            .map(unzigzag)
            .ok_or(TokenError::Malformed)
    };
    let claims = match first & 0x0f {
        1 => TokenClaims::Bounce {
            delivery_id: next()?,
        },
        2 => TokenClaims::Unsubscribe(SubscriberRef {
            subscriber_id: SubscriberId::new(next()?),
            link_version: next()?,
        }),
        _ => return Err(TokenError::Malformed),
    };
    if !rest.is_empty() {
        return Err(TokenError::Malformed);
    }
    Ok(claims)
}

/// The first valid token in `text` (an address, a header value, a
/// `mailto:` URL …), whatever the surrounding delimiters, rewrites such as
/// SRS, or letter case. The signature is the authority, so every run of
/// base32 letters of a token's length is tried.
pub fn find_token(signer: &LinkSigner, text: &str) -> Option<TokenClaims> {
    // Headers are short; a cap keeps a hostile megabyte of letters cheap.
    let text = &text[..floor_char_boundary(text, 16 * 1024)];
    text.split(|c: char| !is_base32_char(c))
        .filter(|run| (MIN_TOKEN_CHARS..=MAX_TOKEN_CHARS).contains(&run.len()))
        .take(64)
        .find_map(|run| verify_token(signer, run).ok())
}

fn is_base32_char(c: char) -> bool {
    c.is_ascii_alphabetic() || ('2'..='7').contains(&c)
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    if s.len() <= max {
        return s.len();
    }
    (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0)
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads one canonical LEB128 value (no redundant trailing zero groups, so
/// every value has exactly one encoding and one token).
fn read_varint(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        let part = u64::from(byte & 0x7f);
        if i == 9 && part > 1 {
            return None;
        }
        value |= part << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

/// An address with a `{token}` placeholder in its local part, such as
/// `bounces+{token}@example.org` (`[mail] return_path`).
#[derive(Clone, PartialEq, Eq)]
pub struct AddressTemplate {
    before: String,
    after: String,
    domain: String,
}

/// Why an address template was refused; the message names the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("{0:?} must contain {{token}} exactly once, before the '@'")]
    Placeholder(String),
    #[error("{0:?} has no '@domain'")]
    NoDomain(String),
    #[error(
        "{0:?}: the part before '@' may only use letters, digits and . + - = _ around {{token}}"
    )]
    LocalPart(String),
    #[error("{0:?}: {{token}} must be set off by a delimiter such as '+' or '-' (it is read back from the address)")]
    Delimiter(String),
    #[error("{template:?}: with the longest token the part before '@' is {len} characters, more than {MAX_LOCAL_PART}")]
    TooLong { template: String, len: usize },
    #[error("{0:?}: the domain is not a valid domain name")]
    Domain(String),
}

impl AddressTemplate {
    /// Parses a template for addresses of `purpose` (which fixes the
    /// longest token, and so the longest local part).
    pub fn parse(
        template: &str,
        purpose: AddressPurpose,
    ) -> Result<AddressTemplate, TemplateError> {
        let t = template.trim();
        let owned = || t.to_string();
        let (local, domain) = t
            .rsplit_once('@')
            .ok_or_else(|| TemplateError::NoDomain(owned()))?;
        if t.matches("{token}").count() != 1 || !local.contains("{token}") {
            return Err(TemplateError::Placeholder(owned()));
        }
        let (before, after) = local.split_once("{token}").expect("checked above");
        let allowed = |s: &str| {
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-' | b'=' | b'_'))
        };
        if !allowed(before) || !allowed(after) {
            return Err(TemplateError::LocalPart(owned()));
        }
        let delimited =
            |c: Option<char>| c.is_none_or(|c| !is_base32_char(c) && !c.is_ascii_digit());
        if !delimited(before.chars().next_back()) || !delimited(after.chars().next()) {
            return Err(TemplateError::Delimiter(owned()));
        }
        let longest = match purpose {
            AddressPurpose::Bounce => 36,
            AddressPurpose::Unsubscribe => MAX_TOKEN_CHARS,
        };
        let len = before.len() + longest + after.len();
        if len > MAX_LOCAL_PART {
            return Err(TemplateError::TooLong {
                template: owned(),
                len,
            });
        }
        let domain = domain.trim().to_ascii_lowercase();
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
            return Err(TemplateError::Domain(owned()));
        }
        Ok(AddressTemplate {
            before: before.to_string(),
            after: after.to_string(),
            domain,
        })
    }

    /// The address for `token`.
    pub fn address(&self, token: &str) -> String {
        format!("{}{token}{}@{}", self.before, self.after, self.domain)
    }

    /// The bounce address of `delivery_id`.
    pub fn bounce_address(&self, signer: &LinkSigner, delivery_id: i64) -> String {
        self.address(&bounce_token(signer, delivery_id))
    }

    /// The `mailto:` unsubscribe address of `subscriber`.
    pub fn unsubscribe_address(&self, signer: &LinkSigner, subscriber: SubscriberRef) -> String {
        self.address(&unsubscribe_token(signer, subscriber))
    }
}

/// `[mail] return_path` with the keys that sign it: the envelope sender of
/// each delivery.
#[derive(Clone)]
pub struct ReturnPath {
    template: AddressTemplate,
    signer: LinkSigner,
}

impl ReturnPath {
    pub fn new(template: AddressTemplate, signer: LinkSigner) -> ReturnPath {
        ReturnPath { template, signer }
    }

    /// The bounce address of `delivery_id`.
    pub fn for_delivery(&self, delivery_id: i64) -> String {
        self.template.bounce_address(&self.signer, delivery_id)
    }
}

impl fmt::Debug for ReturnPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReturnPath").field(&self.template).finish()
    }
}

impl fmt::Debug for AddressTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AddressTemplate({}{{token}}{}@{})",
            self.before, self.after, self.domain
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::links::SigningKeys;
    use proptest::prelude::*;

    fn signer_with(secrets: &[&[u8]]) -> LinkSigner {
        LinkSigner::new(SigningKeys::from_secrets(secrets.iter().map(|s| s.to_vec())).unwrap())
    }

    fn signer() -> LinkSigner {
        signer_with(&[&[7u8; 32]])
    }

    #[test]
    fn a_bounce_token_round_trips_and_is_short_lower_case_base32() {
        let s = signer();
        let token = bounce_token(&s, 1);
        assert_eq!(token.len(), 21, "{token}");
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(
            verify_token(&s, &token),
            Ok(TokenClaims::Bounce { delivery_id: 1 })
        );
        let big = bounce_token(&s, 123_456_789);
        assert!(big.len() <= 28, "{big}");
    }

    #[test]
    fn a_token_verifies_whatever_its_letter_case() {
        let s = signer();
        let token = bounce_token(&s, 42);
        assert_eq!(
            verify_token(&s, &token.to_ascii_uppercase()),
            Ok(TokenClaims::Bounce { delivery_id: 42 })
        );
    }

    #[test]
    fn an_unsubscribe_token_names_the_subscriber_and_link_version_and_is_not_a_bounce_token() {
        let s = signer();
        let who = SubscriberRef {
            subscriber_id: SubscriberId::new(9),
            link_version: 3,
        };
        let token = unsubscribe_token(&s, who);
        assert_eq!(verify_token(&s, &token), Ok(TokenClaims::Unsubscribe(who)));
        assert_ne!(token, bounce_token(&s, 9));
    }

    #[test]
    fn every_changed_character_is_refused() {
        let s = signer();
        let token = bounce_token(&s, 77);
        for i in 0..token.len() {
            let mut chars: Vec<char> = token.chars().collect();
            chars[i] = if chars[i] == 'a' { 'b' } else { 'a' };
            let tampered: String = chars.into_iter().collect();
            assert!(verify_token(&s, &tampered).is_err(), "position {i}");
        }
    }

    #[test]
    fn another_key_refuses_and_a_rotated_key_set_still_verifies() {
        let old = signer_with(&[&[1u8; 32]]);
        let token = bounce_token(&old, 5);
        assert_eq!(
            verify_token(&signer_with(&[&[2u8; 32]]), &token),
            Err(TokenError::BadSignature)
        );
        let rotated = signer_with(&[&[2u8; 32], &[1u8; 32]]);
        assert_eq!(
            verify_token(&rotated, &token),
            Ok(TokenClaims::Bounce { delivery_id: 5 })
        );
    }

    #[test]
    fn a_link_token_mac_is_not_an_address_token_mac() {
        // The same key signs both; neither verifies as the other.
        let s = signer();
        let (tag, mac) = s.compact_mac(MAC_CONTEXT, &[0x11, 2]);
        assert!(s.verify_compact_mac(tag, MAC_CONTEXT, &[0x11, 2], &mac[..10]));
        assert!(!s.verify_compact_mac(tag, b"another context", &[0x11, 2], &mac[..10]));
        assert!(!s.verify_compact_mac(tag, MAC_CONTEXT, &[0x11, 2], &mac[..4]));
    }

    #[test]
    fn tokens_are_found_in_addresses_rewritten_by_mtas() {
        let s = signer();
        let token = bounce_token(&s, 314);
        let want = Some(TokenClaims::Bounce { delivery_id: 314 });
        for text in [
            format!("bounces+{token}@example.org"),
            format!("<BOUNCES+{}@EXAMPLE.ORG>", token.to_ascii_uppercase()),
            format!("\"Bounces\" <bounces-{token}@example.org>, other@example.net"),
            format!("SRS0=HHH=TT=example.org=bounces+{token}@forwarder.example"),
            format!("rfc822; bounces+{token}@example.org"),
            format!("for <bounces+{token}@example.org>; Mon, 1 Jan 2026"),
        ] {
            assert_eq!(find_token(&s, &text), want, "{text}");
        }
        assert_eq!(find_token(&s, "bounces@example.org"), None);
        assert_eq!(find_token(&s, &"a".repeat(100_000)), None);
    }

    #[test]
    fn templates_build_addresses_whose_token_reads_back() {
        let s = signer();
        let t =
            AddressTemplate::parse("bounces+{token}@Example.org", AddressPurpose::Bounce).unwrap();
        let address = t.bounce_address(&s, 8);
        assert!(
            address.starts_with("bounces+") && address.ends_with("@example.org"),
            "{address}"
        );
        assert_eq!(
            find_token(&s, &address),
            Some(TokenClaims::Bounce { delivery_id: 8 })
        );
        let u = AddressTemplate::parse(
            "unsubscribe+{token}@example.org",
            AddressPurpose::Unsubscribe,
        )
        .unwrap();
        let who = SubscriberRef {
            subscriber_id: SubscriberId::new(i64::MAX),
            link_version: i64::MIN,
        };
        let address = u.unsubscribe_address(&s, who);
        assert!(address.split('@').next().unwrap().len() <= 64, "{address}");
        assert_eq!(
            find_token(&s, &address),
            Some(TokenClaims::Unsubscribe(who))
        );
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        let parse = |t: &str| AddressTemplate::parse(t, AddressPurpose::Bounce).unwrap_err();
        assert!(matches!(
            parse("bounces@example.org"),
            TemplateError::Placeholder(_)
        ));
        assert!(matches!(
            parse("b+{token}+{token}@example.org"),
            TemplateError::Placeholder(_)
        ));
        assert!(matches!(
            parse("bounces+{token}"),
            TemplateError::NoDomain(_)
        ));
        assert!(matches!(
            parse("bounces{token}@example.org"),
            TemplateError::Delimiter(_)
        ));
        assert!(matches!(
            parse("b o+{token}@example.org"),
            TemplateError::LocalPart(_)
        ));
        assert!(matches!(
            parse("bounces+{token}@exa mple.org"),
            TemplateError::Domain(_)
        ));
        let err = parse(&format!("{}+{{token}}@example.org", "b".repeat(40)));
        assert!(
            matches!(err, TemplateError::TooLong { len: 77, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("64"));
        assert!(AddressTemplate::parse(
            "unsubscribe+{token}@example.org",
            AddressPurpose::Unsubscribe
        )
        .is_ok());
    }

    proptest! {
        #[test]
        fn every_id_round_trips(id in any::<i64>(), v in any::<i64>()) {
            let s = signer();
            prop_assert_eq!(verify_token(&s, &bounce_token(&s, id)), Ok(TokenClaims::Bounce { delivery_id: id }));
            let who = SubscriberRef { subscriber_id: SubscriberId::new(id), link_version: v };
            let token = unsubscribe_token(&s, who);
            prop_assert!(token.len() <= MAX_TOKEN_CHARS);
            prop_assert_eq!(verify_token(&s, &token), Ok(TokenClaims::Unsubscribe(who)));
        }

        #[test]
        fn no_random_text_verifies_and_nothing_panics(text in "\\PC{0,80}") {
            let s = signer();
            prop_assert!(verify_token(&s, &text).is_err());
            prop_assert_eq!(find_token(&s, &text), None);
        }

        #[test]
        fn no_random_well_formed_token_verifies(bytes in proptest::collection::vec(any::<u8>(), 13..32)) {
            let s = signer();
            let token = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            prop_assert!(verify_token(&s, &token).is_err());
        }
    }
}

//! Signed, expiring, purpose-bound links: the whole account model.
//!
//! A token carries a subscriber id, the subscriber's link version and an
//! expiry, bound to one [`Purpose`] and authenticated with HMAC-SHA256 under a
//! key from the operator's key file. This module owns the token format, key
//! loading/generation and building the public URLs. It must not read the
//! clock (time is always an argument) nor touch the store: revocation is the
//! caller comparing [`LinkClaims::link_version`] with the subscriber's current
//! version.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::domain::SubscriberId;

type HmacSha256 = Hmac<Sha256>;

/// Token layout version; bumped if the byte layout ever changes.
const FORMAT_VERSION: u8 = 1;
/// version + key tag + purpose + subscriber id + link version + expiry.
const PAYLOAD_LEN: usize = 1 + 1 + 1 + 8 + 8 + 8;
/// HMAC-SHA256 truncated to 128 bits (RFC 2104 §5 allows ≥ half the output):
/// still far beyond guessing, and it keeps URLs short enough for mail clients.
const MAC_LEN: usize = 16;
const TOKEN_LEN: usize = PAYLOAD_LEN + MAC_LEN;
/// Shortest key accepted from a key file.
pub const MIN_KEY_BYTES: usize = 32;

/// What a link is allowed to do. A token signed for one purpose never
/// verifies for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Double opt-in confirmation of a new subscription.
    Confirm,
    /// Opening the subscriber's settings page.
    Manage,
    /// One-click unsubscribe (RFC 8058) and the footer link.
    Unsubscribe,
    /// Reading one of the subscriber's digests as a web page ("view in
    /// browser"); the digest's date follows the token in the path.
    ViewDigest,
    /// The subscriber's personal Atom feed of their topics.
    Feed,
    /// "More like this" / "Less like this" on one paper of a digest: the
    /// token is bound to the paper's id (see [`LinkSigner::sign_bound`]).
    Feedback,
}

impl Purpose {
    fn tag(self) -> u8 {
        match self {
            Purpose::Confirm => 1,
            Purpose::Manage => 2,
            Purpose::Unsubscribe => 3,
            Purpose::ViewDigest => 4,
            Purpose::Feed => 5,
            Purpose::Feedback => 6,
        }
    }

    fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            1 => Some(Purpose::Confirm),
            2 => Some(Purpose::Manage),
            3 => Some(Purpose::Unsubscribe),
            4 => Some(Purpose::ViewDigest),
            5 => Some(Purpose::Feed),
            6 => Some(Purpose::Feedback),
            _ => None,
        }
    }

    /// The URL path segment for this purpose (`confirm`, `manage`, `unsubscribe`).
    pub fn path_segment(self) -> &'static str {
        match self {
            Purpose::Confirm => "confirm",
            Purpose::Manage => "manage",
            Purpose::Unsubscribe => "unsubscribe",
            Purpose::ViewDigest => "digest",
            Purpose::Feed => "feed",
            Purpose::Feedback => "feedback",
        }
    }

    /// Default lifetime: confirm 48 h, manage 30 days, feedback on a
    /// digest's paper 1 year, unsubscribe, a digest's page and the personal
    /// feed 10 years (a link in an old mail, or in a feed reader, must keep
    /// working; revoking all links ends them).
    pub fn default_lifetime(self) -> Duration {
        match self {
            Purpose::Confirm => Duration::hours(48),
            Purpose::Manage => Duration::days(30),
            Purpose::Feedback => Duration::days(365),
            Purpose::Unsubscribe | Purpose::ViewDigest | Purpose::Feed => Duration::days(3653),
        }
    }

    /// `now` plus [`Purpose::default_lifetime`].
    pub fn default_expiry(self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + self.default_lifetime()
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path_segment())
    }
}

/// Problems loading or creating the key file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("signing key file {path}: not found")]
    Missing { path: PathBuf },
    #[error("signing key file {path}: cannot be read: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signing key file {path}: contains no key (only blank lines or comments)")]
    Empty { path: PathBuf },
    #[error("signing key file {path}, line {line}: key is {len} bytes, at least {MIN_KEY_BYTES} are required")]
    TooShort {
        path: PathBuf,
        line: usize,
        len: usize,
    },
    #[error("signing key file {path}, line {line}: not a hex or base64 key")]
    NotEncoded { path: PathBuf, line: usize },
    #[error("signing key file {path}: already exists, refusing to overwrite it")]
    AlreadyExists { path: PathBuf },
    #[error("signing key file {path}: cannot be written: {source}")]
    Unwritable {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One or more HMAC keys; the first signs, all verify (key rotation: put the
/// new key first, keep the old one below it until its links have expired).
#[derive(Clone)]
pub struct SigningKeys {
    keys: Vec<Key>,
}

#[derive(Clone)]
struct Key {
    /// Short public tag stored in the token so verification tries the right
    /// key first; tags may collide, so every key with the tag is tried.
    tag: u8,
    secret: Vec<u8>,
}

impl Key {
    fn new(secret: Vec<u8>) -> Self {
        let tag = Sha256::digest(&secret)[0];
        Key { tag, secret }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.secret).expect("HMAC accepts keys of any length")
    }
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeys")
            .field("keys", &self.keys.len())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

impl SigningKeys {
    /// Loads a key file: one key per line, hex or base64, at least 32 bytes;
    /// blank lines and `#` comments are ignored.
    pub fn load(path: impl AsRef<Path>) -> Result<SigningKeys, KeyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                KeyError::Missing {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let mut keys = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let secret = decode_key(line).ok_or_else(|| KeyError::NotEncoded {
                path: path.to_path_buf(),
                line: index + 1,
            })?;
            if secret.len() < MIN_KEY_BYTES {
                return Err(KeyError::TooShort {
                    path: path.to_path_buf(),
                    line: index + 1,
                    len: secret.len(),
                });
            }
            keys.push(Key::new(secret));
        }
        if keys.is_empty() {
            return Err(KeyError::Empty {
                path: path.to_path_buf(),
            });
        }
        Ok(SigningKeys { keys })
    }

    /// Writes a fresh random 32-byte key (hex) to a new file with mode 0600.
    /// Refuses to overwrite an existing file: that would invalidate every
    /// link already sent.
    pub fn generate_file(path: impl AsRef<Path>) -> Result<(), KeyError> {
        use rand::TryRng;
        let path = path.as_ref();
        let mut secret = [0u8; 32];
        rand::rngs::SysRng
            .try_fill_bytes(&mut secret)
            .expect("the operating system's random number generator failed");
        let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();

        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                KeyError::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                KeyError::Unwritable {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let body = format!(
            "# paperboy link-signing keys: the first line signs, every line verifies.\n\
             # To rotate, add a new key at the top and remove the old one once its links expire.\n\
             {hex}\n"
        );
        file.write_all(body.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|source| KeyError::Unwritable {
                path: path.to_path_buf(),
                source,
            })
    }

    /// Builds keys from raw secrets (the first signs). Secrets shorter than
    /// [`MIN_KEY_BYTES`] are skipped; `None` if none remain.
    pub fn from_secrets<I: IntoIterator<Item = Vec<u8>>>(secrets: I) -> Option<SigningKeys> {
        let keys: Vec<Key> = secrets
            .into_iter()
            .filter(|s| s.len() >= MIN_KEY_BYTES)
            .map(Key::new)
            .collect();
        (!keys.is_empty()).then_some(SigningKeys { keys })
    }

    /// Number of keys loaded (signing key plus verification-only keys).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a `SigningKeys` holds at least one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Hex is tried first: a hex string is also valid base64 and would otherwise
/// decode to different (and shorter-looking) bytes.
fn decode_key(line: &str) -> Option<Vec<u8>> {
    if line.len().is_multiple_of(2) && line.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..line.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[i..i + 2], 16).ok())
            .collect();
    }
    [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(line).ok())
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed or incomplete")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link was issued for a different action")]
    WrongPurpose,
    #[error("the link has expired")]
    Expired,
}

/// What a valid token asserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClaims {
    pub subscriber_id: SubscriberId,
    /// Compare with the subscriber's current link version: a lower one means
    /// the link was revoked.
    pub link_version: i64,
    /// Second precision.
    pub expires_at: DateTime<Utc>,
}

/// Signs and verifies link tokens.
#[derive(Debug, Clone)]
pub struct LinkSigner {
    keys: SigningKeys,
}

impl LinkSigner {
    pub fn new(keys: SigningKeys) -> Self {
        LinkSigner { keys }
    }

    /// A base64url (unpadded) token for `purpose`. `expires_at` is kept to
    /// the second.
    pub fn sign(
        &self,
        purpose: Purpose,
        subscriber_id: SubscriberId,
        link_version: i64,
        expires_at: DateTime<Utc>,
    ) -> String {
        self.sign_bound(purpose, subscriber_id, link_version, expires_at, &[])
    }

    /// [`LinkSigner::sign`] with the MAC also covering `subject` (a paper's
    /// id, for [`Purpose::Feedback`]): the token verifies only with the same
    /// subject ([`LinkSigner::verify_bound`]), which travels beside it in
    /// the URL. An empty subject gives exactly [`LinkSigner::sign`]'s token.
    pub fn sign_bound(
        &self,
        purpose: Purpose,
        subscriber_id: SubscriberId,
        link_version: i64,
        expires_at: DateTime<Utc>,
        subject: &[u8],
    ) -> String {
        let key = &self.keys.keys[0];
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(FORMAT_VERSION);
        bytes.push(key.tag);
        bytes.push(purpose.tag());
        bytes.extend_from_slice(&subscriber_id.get().to_be_bytes());
        bytes.extend_from_slice(&link_version.to_be_bytes());
        bytes.extend_from_slice(&expires_at.timestamp().to_be_bytes());
        let mut mac = key.mac();
        mac.update(&bytes);
        mac.update(subject);
        let tag = mac.finalize().into_bytes();
        bytes.extend_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Checks signature, then purpose, then expiry (a link is valid strictly
    /// before `expires_at`). Never panics on any input.
    pub fn verify(
        &self,
        token: &str,
        expected: Purpose,
        now: DateTime<Utc>,
    ) -> Result<LinkClaims, LinkError> {
        self.verify_bound(token, expected, now, &[])
    }

    /// [`LinkSigner::verify`] of a token from [`LinkSigner::sign_bound`]:
    /// a different `subject` is a bad signature. The payload is fixed
    /// length, so payload and subject never split two ways.
    pub fn verify_bound(
        &self,
        token: &str,
        expected: Purpose,
        now: DateTime<Utc>,
        subject: &[u8],
    ) -> Result<LinkClaims, LinkError> {
        // Base64 of TOKEN_LEN bytes is a fixed length; checking it first
        // keeps huge inputs from being decoded at all.
        if token.len() != (TOKEN_LEN * 4).div_ceil(3) {
            return Err(LinkError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| LinkError::Malformed)?;
        if bytes.len() != TOKEN_LEN || bytes[0] != FORMAT_VERSION {
            return Err(LinkError::Malformed);
        }
        let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
        let authentic = self
            .keys
            .keys
            .iter()
            .filter(|k| k.tag == payload[1])
            .any(|k| {
                let mut mac = k.mac();
                mac.update(payload);
                mac.update(subject);
                mac.verify_truncated_left(tag).is_ok()
            });
        if !authentic {
            return Err(LinkError::BadSignature);
        }
        if Purpose::from_tag(payload[2]) != Some(expected) {
            return Err(LinkError::WrongPurpose);
        }
        let field = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&payload[at..at + 8]);
            i64::from_be_bytes(b)
        };
        let expires_at = DateTime::from_timestamp(field(19), 0).ok_or(LinkError::Malformed)?;
        if now >= expires_at {
            return Err(LinkError::Expired);
        }
        Ok(LinkClaims {
            subscriber_id: SubscriberId::new(field(3)),
            link_version: field(11),
            expires_at,
        })
    }

    /// The signing key's tag and its HMAC-SHA256 over `context` and
    /// `payload`, for compact tokens of another layout (a delivery's bounce
    /// address). `context` names that layout and purpose; it is
    /// length-prefixed in the MAC input, so no context/payload split and no
    /// link token can produce the same input.
    pub fn compact_mac(&self, context: &[u8], payload: &[u8]) -> (u8, [u8; 32]) {
        let key = &self.keys.keys[0];
        let mac = compact_hmac(key, context, payload).finalize().into_bytes();
        (key.tag, mac.into())
    }

    /// Whether `mac` (a left truncation of at least 8 bytes) is the
    /// [`LinkSigner::compact_mac`] of `context` and `payload` under a key
    /// with `key_tag`. Constant-time in the MAC comparison.
    pub fn verify_compact_mac(
        &self,
        key_tag: u8,
        context: &[u8],
        payload: &[u8],
        mac: &[u8],
    ) -> bool {
        if mac.len() < 8 || mac.len() > 32 {
            return false;
        }
        self.keys.keys.iter().filter(|k| k.tag == key_tag).any(|k| {
            compact_hmac(k, context, payload)
                .verify_truncated_left(mac)
                .is_ok()
        })
    }

    /// Signs a token and builds its public URL (see [`link_url`]).
    pub fn url(
        &self,
        base_url: &url::Url,
        purpose: Purpose,
        subscriber_id: SubscriberId,
        link_version: i64,
        expires_at: DateTime<Utc>,
    ) -> url::Url {
        let token = self.sign(purpose, subscriber_id, link_version, expires_at);
        link_url(base_url, purpose, &token)
    }
}

/// A link token's MAC input starts with [`FORMAT_VERSION`] (1); this one
/// starts with 0xff, so the two never share an input.
fn compact_hmac(key: &Key, context: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut mac = key.mac();
    mac.update(&[0xff, u8::try_from(context.len()).unwrap_or(u8::MAX)]);
    mac.update(&context[..context.len().min(255)]);
    mac.update(payload);
    mac
}

/// `{base}/confirm/{token}`, `{base}/manage/{token}` or
/// `{base}/unsubscribe/{token}`, keeping any path prefix of `base_url`
/// (`https://example.org/papers` and `https://example.org/papers/` both give
/// `/papers/unsubscribe/...`). Query and fragment of the base are dropped.
pub fn link_url(base_url: &url::Url, purpose: Purpose, token: &str) -> url::Url {
    let mut url = base_url.clone();
    url.set_query(None);
    url.set_fragment(None);
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .push(purpose.path_segment())
            .push(token);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn signer_with(secrets: &[&[u8]]) -> LinkSigner {
        LinkSigner::new(SigningKeys::from_secrets(secrets.iter().map(|s| s.to_vec())).unwrap())
    }

    fn signer() -> LinkSigner {
        signer_with(&[&[7u8; 32]])
    }

    fn t(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_780_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn a_signed_token_round_trips_its_claims() {
        let s = signer();
        let token = s.sign(Purpose::Manage, SubscriberId::new(42), 3, t(3600));
        let claims = s.verify(&token, Purpose::Manage, t(0)).unwrap();
        assert_eq!(
            claims,
            LinkClaims {
                subscriber_id: SubscriberId::new(42),
                link_version: 3,
                expires_at: t(3600)
            }
        );
        assert!(token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn negative_and_extreme_ids_round_trip() {
        let s = signer();
        for (id, v) in [(i64::MIN, i64::MAX), (-1, 0), (i64::MAX, -5)] {
            let token = s.sign(Purpose::Confirm, SubscriberId::new(id), v, t(10));
            let c = s.verify(&token, Purpose::Confirm, t(0)).unwrap();
            assert_eq!((c.subscriber_id.get(), c.link_version), (id, v));
        }
    }

    #[test]
    fn changing_any_byte_of_the_token_is_rejected() {
        let s = signer();
        let token = s.sign(Purpose::Unsubscribe, SubscriberId::new(42), 1, t(100));
        let mut bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        for i in 0..bytes.len() {
            bytes[i] ^= 0x01;
            let tampered = URL_SAFE_NO_PAD.encode(&bytes);
            let err = s.verify(&tampered, Purpose::Unsubscribe, t(0)).unwrap_err();
            if i == 0 {
                // The format version byte is checked before the MAC.
                assert_eq!(err, LinkError::Malformed, "byte {i}");
            } else {
                assert_eq!(err, LinkError::BadSignature, "byte {i}");
            }
            bytes[i] ^= 0x01;
        }
    }

    #[test]
    fn a_truncated_or_extended_token_is_malformed() {
        let s = signer();
        let token = s.sign(Purpose::Manage, SubscriberId::new(1), 1, t(100));
        for cut in [0, 1, token.len() / 2, token.len() - 1] {
            assert_eq!(
                s.verify(&token[..cut], Purpose::Manage, t(0)),
                Err(LinkError::Malformed)
            );
        }
        assert_eq!(
            s.verify(&format!("{token}A"), Purpose::Manage, t(0)),
            Err(LinkError::Malformed)
        );
        let not_base64 = "!".repeat(token.len());
        assert_eq!(
            s.verify(&not_base64, Purpose::Manage, t(0)),
            Err(LinkError::Malformed)
        );
    }

    #[test]
    fn a_feedback_token_verifies_only_for_its_own_paper() {
        let s = signer();
        let token = s.sign_bound(
            Purpose::Feedback,
            SubscriberId::new(9),
            2,
            t(60),
            b"2406.12345",
        );
        let claims = s
            .verify_bound(&token, Purpose::Feedback, t(0), b"2406.12345")
            .unwrap();
        assert_eq!(claims.subscriber_id, SubscriberId::new(9));
        assert_eq!(
            s.verify_bound(&token, Purpose::Feedback, t(0), b"2406.12346"),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify(&token, Purpose::Feedback, t(0)),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify_bound(&token, Purpose::Feedback, t(60), b"2406.12345"),
            Err(LinkError::Expired)
        );
        let plain = s.sign(Purpose::Manage, SubscriberId::new(9), 2, t(60));
        assert_eq!(
            plain,
            s.sign_bound(Purpose::Manage, SubscriberId::new(9), 2, t(60), b"")
        );
    }

    #[test]
    fn an_unsubscribe_token_cannot_manage_or_confirm() {
        let s = signer();
        let token = s.sign(Purpose::Unsubscribe, SubscriberId::new(9), 1, t(100));
        assert_eq!(
            s.verify(&token, Purpose::Manage, t(0)),
            Err(LinkError::WrongPurpose)
        );
        assert_eq!(
            s.verify(&token, Purpose::Confirm, t(0)),
            Err(LinkError::WrongPurpose)
        );
    }

    #[test]
    fn a_link_is_valid_until_the_second_before_it_expires() {
        let s = signer();
        let token = s.sign(Purpose::Confirm, SubscriberId::new(1), 1, t(100));
        assert!(s.verify(&token, Purpose::Confirm, t(99)).is_ok());
        assert_eq!(
            s.verify(&token, Purpose::Confirm, t(100)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            s.verify(&token, Purpose::Confirm, t(10_000)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn default_lifetimes_match_each_purpose() {
        assert_eq!(Purpose::Confirm.default_lifetime(), Duration::hours(48));
        assert_eq!(Purpose::Manage.default_lifetime(), Duration::days(30));
        assert!(Purpose::Unsubscribe.default_lifetime() >= Duration::days(3650));
        assert_eq!(Purpose::Confirm.default_expiry(t(0)), t(48 * 3600));
    }

    #[test]
    fn after_rotation_the_new_key_signs_and_the_old_key_still_verifies() {
        let old = signer_with(&[&[1u8; 32]]);
        let rotated = signer_with(&[&[2u8; 32], &[1u8; 32]]);
        let old_token = old.sign(Purpose::Manage, SubscriberId::new(5), 1, t(100));
        assert!(rotated.verify(&old_token, Purpose::Manage, t(0)).is_ok());

        let new_token = rotated.sign(Purpose::Manage, SubscriberId::new(5), 1, t(100));
        assert_ne!(new_token, old_token);
        assert_eq!(
            old.verify(&new_token, Purpose::Manage, t(0)),
            Err(LinkError::BadSignature)
        );
        let only_new = signer_with(&[&[2u8; 32]]);
        assert!(only_new.verify(&new_token, Purpose::Manage, t(0)).is_ok());
        assert_eq!(
            only_new.verify(&old_token, Purpose::Manage, t(0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn link_urls_keep_the_base_path_prefix() {
        let token = "TOKEN";
        for base in ["https://example.org/papers/", "https://example.org/papers"] {
            let base = url::Url::parse(base).unwrap();
            assert_eq!(
                link_url(&base, Purpose::Unsubscribe, token).as_str(),
                "https://example.org/papers/unsubscribe/TOKEN"
            );
        }
        let root = url::Url::parse("https://example.org").unwrap();
        assert_eq!(
            link_url(&root, Purpose::Confirm, token).as_str(),
            "https://example.org/confirm/TOKEN"
        );
        assert_eq!(
            link_url(&root, Purpose::Manage, token).as_str(),
            "https://example.org/manage/TOKEN"
        );
    }

    #[test]
    fn the_signer_builds_a_url_whose_token_verifies() {
        let s = signer();
        let base = url::Url::parse("https://example.org/p/").unwrap();
        let url = s.url(&base, Purpose::Unsubscribe, SubscriberId::new(3), 2, t(50));
        let token = url.path_segments().unwrap().next_back().unwrap();
        assert!(url.path().starts_with("/p/unsubscribe/"));
        assert_eq!(
            s.verify(token, Purpose::Unsubscribe, t(0))
                .unwrap()
                .subscriber_id,
            SubscriberId::new(3)
        );
    }

    #[test]
    fn key_files_accept_hex_and_base64_with_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let hex = "ab".repeat(32);
        let b64 = STANDARD.encode([9u8; 40]);
        std::fs::write(&path, format!("# comment\n\n  {hex}  \n{b64}\n")).unwrap();
        let keys = SigningKeys::load(&path).unwrap();
        assert_eq!(keys.len(), 2);
        // The first key signs.
        let expected = signer_with(&[&[0xab; 32]]);
        let s = LinkSigner::new(keys);
        let token = s.sign(Purpose::Manage, SubscriberId::new(1), 1, t(10));
        assert!(expected.verify(&token, Purpose::Manage, t(0)).is_ok());
    }

    #[test]
    fn key_file_errors_name_the_file_and_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");

        let err = SigningKeys::load(&path).unwrap_err();
        assert!(matches!(err, KeyError::Missing { .. }));
        assert!(err.to_string().contains(&path.display().to_string()));

        std::fs::write(&path, "# only a comment\n\n").unwrap();
        assert!(matches!(
            SigningKeys::load(&path),
            Err(KeyError::Empty { .. })
        ));

        std::fs::write(&path, "abcd\n").unwrap();
        let err = SigningKeys::load(&path).unwrap_err();
        assert!(matches!(
            err,
            KeyError::TooShort {
                line: 1,
                len: 2,
                ..
            }
        ));
        assert!(err.to_string().contains("at least 32"));

        std::fs::write(&path, "# c\nnot a key at all!\n").unwrap();
        assert!(matches!(
            SigningKeys::load(&path),
            Err(KeyError::NotEncoded { line: 2, .. })
        ));

        std::fs::write(&path, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            SigningKeys::load(&path),
            Err(KeyError::Unreadable { .. })
        ));
    }

    #[test]
    fn generated_key_files_are_private_loadable_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        SigningKeys::generate_file(&path).unwrap();
        let keys = SigningKeys::load(&path).unwrap();
        assert_eq!(keys.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let before = std::fs::read(&path).unwrap();
        assert!(matches!(
            SigningKeys::generate_file(&path),
            Err(KeyError::AlreadyExists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), before);

        let other = dir.path().join("other");
        SigningKeys::generate_file(&other).unwrap();
        assert_ne!(std::fs::read(&other).unwrap(), before);
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let keys = SigningKeys::from_secrets([vec![0x5a; 32]]).unwrap();
        let shown = format!("{:?} {:?}", keys, LinkSigner::new(keys.clone()));
        assert!(!shown.contains("90"), "{shown}"); // 0x5a as decimal bytes
        assert!(!shown.to_lowercase().contains("5a5a"), "{shown}");
    }

    proptest! {
        #[test]
        fn no_random_string_verifies_and_verify_never_panics(token in ".{0,120}") {
            let s = signer();
            prop_assert!(s.verify(&token, Purpose::Manage, t(0)).is_err());
        }

        #[test]
        fn no_random_well_formed_token_verifies(bytes in proptest::collection::vec(any::<u8>(), TOKEN_LEN)) {
            let s = signer();
            let token = URL_SAFE_NO_PAD.encode(&bytes);
            prop_assert!(s.verify(&token, Purpose::Manage, t(0)).is_err());
        }

        #[test]
        fn every_signed_token_verifies_for_its_own_purpose_only(id in any::<i64>(), v in any::<i64>(), secs in 1i64..10_000_000) {
            let s = signer();
            let token = s.sign(Purpose::Confirm, SubscriberId::new(id), v, t(secs));
            let c = s.verify(&token, Purpose::Confirm, t(0)).unwrap();
            prop_assert_eq!((c.subscriber_id.get(), c.link_version), (id, v));
            prop_assert_eq!(s.verify(&token, Purpose::Unsubscribe, t(0)), Err(LinkError::WrongPurpose));
        }
    }
}

//! DKIM signing (RFC 6376) of outgoing mail, with the key from
//! `[mail.dkim] key_file` (usually a systemd credential).
//!
//! It owns loading and checking the private key (RSA in PKCS#1 or PKCS#8
//! PEM, Ed25519 in PKCS#8 PEM), the list of signed headers, the DNS TXT
//! record an operator publishes, and the signature itself (relaxed/relaxed,
//! SHA-256), computed over the formatted message: lettre's signer sees only
//! the top-level headers it built, not the multipart `Content-Type`, and
//! cannot sign a header as absent a second time (over-signing). It never
//! logs or displays key material; errors name the file, not its content.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use ed25519_dalek::Signer as _;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::Message;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::MailError;

/// The headers the signature covers (its `h=` tag), in that order.
/// `List-Unsubscribe` and `List-Unsubscribe-Post` must be signed for
/// mailbox providers to honour one-click unsubscribe (RFC 8058 §4);
/// `Content-Type` and `MIME-Version` decide how the body is read, and
/// `List-Id` is what filters sort on. A header a message lacks (a
/// confirmation mail has no list headers) is signed as absent, so adding
/// one breaks the signature. `From` is listed twice (over-signed, RFC 6376
/// §8.15): the second names a `From` the message does not have, so a
/// second `From` added on the way, which some clients would show, breaks
/// the signature too.
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
    "MIME-Version",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
];

/// Object identifier of Ed25519 keys (RFC 8410).
const ED25519_OID: &str = "1.3.101.112";

/// `[mail.dkim]`: when present, every message is signed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct DkimSettings {
    /// The selector: the key is published at `{selector}._domainkey.{domain}`.
    pub selector: String,
    /// The signing domain (`d=`), normally the domain of `mail.from`.
    pub domain: String,
    /// PEM private key; may be `${CREDENTIALS_DIRECTORY}/dkim.key`.
    pub key_file: PathBuf,
}

impl DkimSettings {
    /// Checks the selector and domain; the key is checked by [`DkimSigner::load`].
    pub fn validate(&self) -> Result<(), MailError> {
        for (key, value) in [
            ("mail.dkim.selector", &self.selector),
            ("mail.dkim.domain", &self.domain),
        ] {
            let ok = !value.is_empty()
                && value.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
                });
            if !ok {
                return Err(MailError::Config {
                    key,
                    reason: format!("{value:?} must be a DNS name like mail2026 or example.org"),
                });
            }
        }
        Ok(())
    }
}

/// A private key, as parsed from the key file.
enum SigningKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

impl SigningKey {
    /// The `a=` tag's value.
    fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Rsa(_) => "rsa-sha256",
            SigningKey::Ed25519(_) => "ed25519-sha256",
        }
    }

    /// Signs the SHA-256 `digest` of the signed headers: RSASSA-PKCS1-v1_5
    /// (RFC 6376 §3.3.1), or Ed25519 over the digest (RFC 8463).
    fn sign(&self, digest: &[u8; 32]) -> Vec<u8> {
        match self {
            SigningKey::Rsa(key) => {
                // The DER DigestInfo prefix of a SHA-256 digest (RFC 8017
                // §9.2, note 1), so the padding needs no digest type.
                const SHA256_PREFIX: [u8; 19] = [
                    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04,
                    0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
                ];
                let mut info = SHA256_PREFIX.to_vec();
                info.extend_from_slice(digest);
                key.sign(rsa::Pkcs1v15Sign::new_unprefixed(), &info)
                    .expect("a key checked at load signs a 51-byte DigestInfo")
            }
            SigningKey::Ed25519(key) => key.sign(digest).to_bytes().to_vec(),
        }
    }
}

/// A loaded key, ready to sign; cheap to clone.
#[derive(Clone)]
pub struct DkimSigner {
    key: Arc<SigningKey>,
    selector: String,
    domain: String,
    /// `v=DKIM1; k=…; p=…`: the TXT record that verifies this key.
    record: String,
}

impl fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DkimSigner")
            .field("selector", &self.selector)
            .field("domain", &self.domain)
            .finish_non_exhaustive()
    }
}

impl DkimSigner {
    /// Reads and parses the key file. Fails naming `mail.dkim.key_file` and
    /// the path when the file is missing, unreadable or not a usable key.
    pub fn load(settings: &DkimSettings) -> Result<DkimSigner, MailError> {
        settings.validate()?;
        let path = &settings.key_file;
        let pem = std::fs::read_to_string(path)
            .map_err(|e| key_error(path, format!("cannot be read ({e})")))?;
        let (key, record) = parse_key(&pem).map_err(|reason| key_error(path, reason))?;
        Ok(DkimSigner {
            key: Arc::new(key),
            selector: settings.selector.clone(),
            domain: settings.domain.clone(),
            record,
        })
    }

    /// Adds the `DKIM-Signature` header to a finished message, signing it
    /// as it will be formatted.
    pub fn sign(&self, message: &mut Message) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let value = self.signature(&message.formatted(), now);
        message
            .headers_mut()
            .insert_raw(HeaderValue::dangerous_new_pre_encoded(
                HeaderName::new_from_ascii_str("DKIM-Signature"),
                value.split_whitespace().collect::<Vec<_>>().join(" "),
                value,
            ));
    }

    /// The `DKIM-Signature` header's value (folded, without the name) for
    /// a formatted message (CRLF line ends), signed at `timestamp` (`t=`).
    /// Relaxed/relaxed canonicalization survives the re-folding and
    /// whitespace changes relays make; simple would break on the first.
    fn signature(&self, message: &[u8], timestamp: u64) -> String {
        let (headers, body) = split_message(message);
        let body_hash = Sha256::digest(relaxed_body(body));
        let b64 = base64::engine::general_purpose::STANDARD;
        // Tags before b=, folded so no line passes 78 characters: a space
        // between tags, a bare fold between the names of h=.
        let mut tokens: Vec<(String, bool)> = vec![
            ("v=1;".into(), true),
            (format!("a={};", self.key.algorithm()), true),
            ("c=relaxed/relaxed;".into(), true),
            (format!("d={};", self.domain), true),
            (format!("s={};", self.selector), true),
            (format!("t={timestamp};"), true),
        ];
        for (i, name) in SIGNED_HEADERS.iter().enumerate() {
            let name = name.to_ascii_lowercase();
            tokens.push(match i {
                0 => (format!("h={name}:"), true),
                _ if i + 1 == SIGNED_HEADERS.len() => (format!("{name};"), false),
                _ => (format!("{name}:"), false),
            });
        }
        tokens.push((format!("bh={};", b64.encode(body_hash)), true));
        tokens.push(("b=".into(), true));
        let mut unsigned = String::new();
        let mut line = "DKIM-Signature: ".len();
        for (token, spaced) in tokens {
            if line > 0 && line + 1 + token.len() > 76 {
                unsigned.push_str("\r\n\t");
                line = 1;
            } else if spaced && !unsigned.is_empty() {
                unsigned.push(' ');
                line += 1;
            }
            line += token.len();
            unsigned.push_str(&token);
        }
        let mut hasher = Sha256::new();
        for field in select_headers(&headers, &SIGNED_HEADERS) {
            hasher.update(relaxed_header(field).as_bytes());
            hasher.update(b"\r\n");
        }
        // The signature's own header, b= empty and no CRLF (RFC 6376 §3.7).
        hasher.update(relaxed_header(format!("DKIM-Signature: {unsigned}")).as_bytes());
        let digest: [u8; 32] = hasher.finalize().into();
        let signature = b64.encode(self.key.sign(&digest));
        // Folded like the tags; verifiers ignore whitespace inside b=.
        let mut folded = unsigned;
        for chunk in signature.as_bytes().chunks(64) {
            folded.push_str("\r\n\t");
            folded.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        }
        folded
    }

    /// The DNS name to publish the record under: `{selector}._domainkey.{domain}`.
    pub fn dns_name(&self) -> String {
        format!("{}._domainkey.{}", self.selector, self.domain)
    }

    /// The TXT record's value: `v=DKIM1; k=rsa; p=BASE64` (or `k=ed25519`).
    pub fn dns_record(&self) -> &str {
        &self.record
    }
}

fn key_error(path: &Path, reason: String) -> MailError {
    MailError::Config {
        key: "mail.dkim.key_file",
        reason: format!("{} {reason}", path.display()),
    }
}

/// The header fields of a formatted message, each with its continuation
/// lines, and its body (after the empty line).
fn split_message(message: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    let (head, body) = match memchr::memmem::find(message, b"\r\n\r\n") {
        Some(at) => (&message[..at + 2], &message[at + 4..]),
        None => (message, &message[message.len()..]),
    };
    let mut fields: Vec<&[u8]> = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < head.len() {
        let end = memchr::memmem::find(&head[at..], b"\r\n").map_or(head.len(), |e| at + e);
        let next = (end + 2).min(head.len());
        // A field ends where the next line does not start with whitespace.
        if next >= head.len() || !matches!(head[next], b' ' | b'\t') {
            fields.push(&head[start..end]);
            start = next;
        }
        at = next;
    }
    (fields, body)
}

/// The fields named in `h=`, in that order: each name takes the next
/// instance from the bottom of the header (RFC 6376 §5.4.2); a name with
/// no instance left (absent, or over-signed) contributes nothing.
fn select_headers<'a>(fields: &[&'a [u8]], names: &[&str]) -> Vec<&'a [u8]> {
    let name_of = |f: &[u8]| {
        let colon = f.iter().position(|&c| c == b':').unwrap_or(f.len());
        f[..colon].trim_ascii_end().to_ascii_lowercase()
    };
    let mut used: std::collections::HashMap<String, usize> = Default::default();
    let mut out = Vec::new();
    for name in names {
        let name = name.to_ascii_lowercase();
        let skip = used.entry(name.clone()).or_default();
        if let Some(field) = fields
            .iter()
            .rev()
            .filter(|f| name_of(f) == name.as_bytes())
            .nth(*skip)
        {
            out.push(*field);
        }
        *skip += 1;
    }
    out
}

/// Relaxed header canonicalization (RFC 6376 §3.4.2) of one field, without
/// its CRLF: the name in lower case, the value unfolded, whitespace runs
/// made one space, none around the colon or at the end.
fn relaxed_header(field: impl AsRef<[u8]>) -> String {
    let field = field.as_ref();
    let colon = field.iter().position(|&c| c == b':').unwrap_or(field.len());
    let name = String::from_utf8_lossy(field[..colon].trim_ascii_end()).to_ascii_lowercase();
    let mut value = Vec::with_capacity(field.len() - colon);
    let mut space = false;
    for &c in field.get(colon + 1..).unwrap_or_default() {
        match c {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => space = true,
            _ => {
                if space && !value.is_empty() {
                    value.push(b' ');
                }
                space = false;
                value.push(c);
            }
        }
    }
    format!("{name}:{}", String::from_utf8_lossy(&value))
}

/// Relaxed body canonicalization (RFC 6376 §3.4.4): whitespace runs made
/// one space, none at line ends, no empty lines at the end.
fn relaxed_body(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut blank_lines = 0;
    for line in body.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut canon = Vec::with_capacity(line.len());
        let mut space = false;
        for &c in line {
            if c == b' ' || c == b'\t' {
                space = true;
            } else {
                if space {
                    canon.push(b' ');
                }
                space = false;
                canon.push(c);
            }
        }
        if canon.is_empty() {
            blank_lines += 1;
            continue;
        }
        for _ in 0..blank_lines {
            out.extend_from_slice(b"\r\n");
        }
        blank_lines = 0;
        out.extend_from_slice(&canon);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Parses a PEM private key into a signing key and the matching TXT record.
fn parse_key(pem: &str) -> Result<(SigningKey, String), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (label, der) = rsa::pkcs8::der::pem::decode_vec(pem.trim().as_bytes())
        .map_err(|e| format!("is not a PEM private key ({e})"))?;
    match label {
        "RSA PRIVATE KEY" => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            let key = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("is not a PKCS#1 RSA private key ({e})"))?;
            rsa_key(key)
        }
        "PRIVATE KEY" => {
            let info = rsa::pkcs8::PrivateKeyInfo::try_from(der.as_slice())
                .map_err(|e| format!("is not a PKCS#8 private key ({e})"))?;
            if info.algorithm.oid.to_string() == ED25519_OID {
                // The PKCS#8 payload is an OCTET STRING holding the 32-byte seed.
                let seed: [u8; 32] = match info.private_key {
                    [0x04, 0x20, rest @ ..] if rest.len() == 32 => {
                        rest.try_into().map_err(|_| "has a malformed Ed25519 key")?
                    }
                    _ => return Err("has a malformed Ed25519 key".into()),
                };
                let key = ed25519_dalek::SigningKey::from_bytes(&seed);
                let public = key.verifying_key().to_bytes();
                Ok((
                    SigningKey::Ed25519(Box::new(key)),
                    format!("v=DKIM1; k=ed25519; p={}", b64.encode(public)),
                ))
            } else {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&der)
                    .map_err(|e| format!("is neither an RSA nor an Ed25519 private key ({e})"))?;
                rsa_key(key)
            }
        }
        other => Err(format!(
            "holds a {other:?} PEM block; expected \"PRIVATE KEY\" (PKCS#8, RSA or Ed25519) \
             or \"RSA PRIVATE KEY\" (PKCS#1)"
        )),
    }
}

fn rsa_key(key: rsa::RsaPrivateKey) -> Result<(SigningKey, String), String> {
    use rsa::traits::PublicKeyParts as _;
    let bits = key.size() * 8;
    if bits < 1024 {
        return Err(format!(
            "holds a {bits}-bit RSA key; receivers ignore keys under 1024 bits (use 2048)"
        ));
    }
    let public = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| format!("has an RSA key whose public half cannot be encoded ({e})"))?;
    key.validate()
        .map_err(|e| format!("is not a usable RSA key ({e})"))?;
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(public.as_bytes())
    );
    Ok((SigningKey::Rsa(Box::new(key)), record))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Ed25519 key from RFC 8410 §10.3.
    const ED25519_PEM: &str = "-----BEGIN PRIVATE KEY-----\n\
        MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
        -----END PRIVATE KEY-----\n";

    fn settings(dir: &Path, pem: &str) -> DkimSettings {
        let key_file = dir.join("dkim.key");
        std::fs::write(&key_file, pem).unwrap();
        DkimSettings {
            selector: "pb2026".into(),
            domain: "papers.example.org".into(),
            key_file,
        }
    }

    #[test]
    fn canonicalization_is_the_relaxed_one_of_rfc_6376_example_3_4_5() {
        let (fields, body) =
            split_message(b"A: X\r\nB : Y\t\r\n\tZ  \r\n\r\n C \r\nD \t E\r\n\r\n\r\n");
        let canon: Vec<String> = fields.iter().map(relaxed_header).collect();
        assert_eq!(canon, ["a:X", "b:Y Z"]);
        assert_eq!(relaxed_body(body), b" C\r\nD E\r\n");
        assert_eq!(relaxed_body(b""), b"");
        assert_eq!(relaxed_body(b"x\r\n \r\ny"), b"x\r\n\r\ny\r\n");
    }

    #[test]
    fn signed_headers_are_taken_from_the_bottom_and_an_over_signed_one_adds_nothing() {
        let one = [&b"From: a@x"[..], b"To: b@y", b"Subject: s"];
        assert_eq!(
            select_headers(&one, &["from", "from", "subject", "list-id"]),
            [&b"From: a@x"[..], b"Subject: s"]
        );
        // A From added above the signed one takes the second slot.
        let two = [&b"From: evil@z"[..], b"From: a@x", b"To: b@y"];
        assert_eq!(
            select_headers(&two, &["from", "from"]),
            [&b"From: a@x"[..], b"From: evil@z"]
        );
    }

    #[test]
    fn a_signature_covers_the_multipart_content_type_and_changes_with_a_second_from() {
        let dir = tempfile::tempdir().unwrap();
        let signer = DkimSigner::load(&settings(dir.path(), ED25519_PEM)).unwrap();
        let message = b"From: a@x\r\nTo: b@y\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary=\"q\"\r\n\r\n--q--\r\n";
        let sig = signer.signature(message, 1_700_000_000);
        let unfolded: String = sig.split_whitespace().collect();
        assert!(unfolded.contains("h=from:from:to:subject:date:message-id:content-type:mime-version:list-id:list-unsubscribe:list-unsubscribe-post;"), "{sig}");
        assert!(unfolded.starts_with("v=1;a=ed25519-sha256;c=relaxed/relaxed;d=papers.example.org;s=pb2026;t=1700000000;"), "{sig}");
        let header = format!("DKIM-Signature: {sig}");
        for line in header.split("\r\n") {
            assert!(line.len() <= 78, "{line:?}");
        }
        let b = |s: &str| {
            s.split_whitespace()
                .collect::<String>()
                .rsplit_once("b=")
                .unwrap()
                .1
                .to_string()
        };
        let mut second_from = b"From: evil@z\r\n".to_vec();
        second_from.extend_from_slice(message);
        let other_type = String::from_utf8_lossy(message).replace("alternative", "mixed");
        for altered in [second_from, other_type.into_bytes()] {
            assert_ne!(b(&signer.signature(&altered, 1_700_000_000)), b(&sig));
        }
        assert_eq!(b(&signer.signature(message, 1_700_000_000)), b(&sig));
    }

    #[test]
    fn an_ed25519_pkcs8_key_loads_and_publishes_its_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let signer = DkimSigner::load(&settings(dir.path(), ED25519_PEM)).unwrap();
        assert_eq!(signer.dns_name(), "pb2026._domainkey.papers.example.org");
        // The public key RFC 8410 gives for this private key.
        let public = base64::engine::general_purpose::STANDARD
            .decode("Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=")
            .unwrap();
        assert_eq!(
            signer.dns_record(),
            format!(
                "v=DKIM1; k=ed25519; p={}",
                base64::engine::general_purpose::STANDARD.encode(public)
            )
        );
        assert!(!format!("{signer:?}").contains("MC4CAQ"));
    }

    #[test]
    fn a_missing_or_garbage_key_file_fails_naming_the_setting_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), "not a key\n");
        let err = DkimSigner::load(&s).unwrap_err().to_string();
        assert!(err.starts_with("mail.dkim.key_file"), "{err}");
        assert!(err.contains(&s.key_file.display().to_string()), "{err}");
        assert!(err.contains("not a PEM private key"), "{err}");

        s.key_file = dir.path().join("absent.key");
        let err = DkimSigner::load(&s).unwrap_err().to_string();
        assert!(err.contains("absent.key cannot be read"), "{err}");

        let cert = "-----BEGIN CERTIFICATE-----\nMC4CAQAw\n-----END CERTIFICATE-----\n";
        let s = settings(dir.path(), cert);
        let err = DkimSigner::load(&s).unwrap_err().to_string();
        assert!(err.contains("\"CERTIFICATE\""), "{err}");
    }

    #[test]
    fn a_selector_or_domain_that_is_not_a_dns_name_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = settings(dir.path(), ED25519_PEM);
        s.selector = "a b".into();
        let err = DkimSigner::load(&s).unwrap_err().to_string();
        assert!(err.starts_with("mail.dkim.selector"), "{err}");
        s.selector = "ok".into();
        s.domain = "example..org".into();
        let err = DkimSigner::load(&s).unwrap_err().to_string();
        assert!(err.starts_with("mail.dkim.domain"), "{err}");
    }
}

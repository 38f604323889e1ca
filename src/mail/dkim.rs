//! DKIM signing (RFC 6376) of outgoing mail, with the key from
//! `[mail.dkim] key_file` (usually a systemd credential).
//!
//! It owns loading and checking the private key (RSA in PKCS#1 or PKCS#8
//! PEM, Ed25519 in PKCS#8 PEM), the list of signed headers, and the DNS TXT
//! record an operator publishes. Signing itself is lettre's. It never logs
//! or displays key material; errors name the file, not its content.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use lettre::message::dkim::{
    DkimCanonicalization, DkimCanonicalizationType, DkimConfig, DkimSigningAlgorithm,
    DkimSigningKey,
};
use lettre::message::header::HeaderName;
use lettre::Message;
use rsa::pkcs1::EncodeRsaPrivateKey as _;
use rsa::pkcs8::{DecodePrivateKey as _, EncodePublicKey as _};
use serde::Deserialize;

use super::MailError;

/// The headers the signature covers (its `h=` tag). `List-Unsubscribe` and
/// `List-Unsubscribe-Post` must be signed for mailbox providers to honour
/// one-click unsubscribe (RFC 8058 §4); a header a message lacks (a
/// confirmation mail has no list headers) is signed as absent.
pub const SIGNED_HEADERS: [&str; 7] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
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

/// A loaded key, ready to sign; cheap to clone.
#[derive(Clone)]
pub struct DkimSigner {
    config: Arc<DkimConfig>,
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
        let headers = SIGNED_HEADERS
            .iter()
            .map(|h| HeaderName::new_from_ascii_str(h))
            .collect();
        let config = DkimConfig::new(
            settings.selector.clone(),
            settings.domain.clone(),
            key,
            headers,
            // Relaxed/relaxed survives the re-folding and whitespace changes
            // relays make; simple/simple would break on the first of them.
            DkimCanonicalization {
                header: DkimCanonicalizationType::Relaxed,
                body: DkimCanonicalizationType::Relaxed,
            },
        );
        Ok(DkimSigner {
            config: Arc::new(config),
            selector: settings.selector.clone(),
            domain: settings.domain.clone(),
            record,
        })
    }

    /// Adds the `DKIM-Signature` header to a finished message.
    pub fn sign(&self, message: &mut Message) {
        lettre::message::dkim_sign(message, &self.config);
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

/// Parses a PEM private key into lettre's key and the matching TXT record.
fn parse_key(pem: &str) -> Result<(DkimSigningKey, String), String> {
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
                let public = ed25519_dalek::SigningKey::from_bytes(&seed)
                    .verifying_key()
                    .to_bytes();
                let key = DkimSigningKey::new(&b64.encode(seed), DkimSigningAlgorithm::Ed25519)
                    .map_err(|e| format!("is not a usable Ed25519 key ({e})"))?;
                Ok((key, format!("v=DKIM1; k=ed25519; p={}", b64.encode(public))))
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

fn rsa_key(key: rsa::RsaPrivateKey) -> Result<(DkimSigningKey, String), String> {
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
    let pkcs1 = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(|e| format!("has an RSA key that cannot be re-encoded ({e})"))?;
    let signing = DkimSigningKey::new(&pkcs1, DkimSigningAlgorithm::Rsa)
        .map_err(|e| format!("is not a usable RSA key ({e})"))?;
    let record = format!(
        "v=DKIM1; k=rsa; p={}",
        base64::engine::general_purpose::STANDARD.encode(public.as_bytes())
    );
    Ok((signing, record))
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

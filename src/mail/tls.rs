//! TLS for SMTP connections: which certificate authorities are trusted (the
//! system store plus `mail.tls_ca_file`), the handshake at a security level,
//! and why a server's certificate does not verify, in words an operator can
//! act on (unknown issuer, expired, wrong name).
//!
//! Every level checks the handshake's signatures; only `verify` and
//! `secure` refuse a certificate that does not chain to a trusted CA or
//! does not name the host. At `may` and `encrypt` the certificate is still
//! checked after the handshake, so that `paperboy check` and the logs can
//! say whether it would verify. This module speaks no SMTP and decides
//! nothing about delivery.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::client::TlsStream;

use super::MailError;

/// Why a server's certificate does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertProblem {
    /// Not signed by a trusted CA: self-signed, a private CA that is not in
    /// `mail.tls_ca_file`, or an incomplete chain.
    UnknownIssuer,
    /// Past its end of validity (the date, when rustls gives it).
    Expired(Option<String>),
    /// Not valid yet.
    NotYetValid,
    /// Issued for other names than the host of `mail.smtp_url`.
    WrongName { host: String, names: Vec<String> },
    /// Anything else rustls refuses (bad signature, revoked, wrong purpose).
    Other(String),
}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::UnknownIssuer => f.write_str(
                "unknown issuer (not signed by a CA in the system store or mail.tls_ca_file)",
            ),
            CertProblem::Expired(Some(when)) => write!(f, "expired ({when})"),
            CertProblem::Expired(None) => f.write_str("expired"),
            CertProblem::NotYetValid => f.write_str("not valid yet"),
            CertProblem::WrongName { host, names } if names.is_empty() => {
                write!(f, "wrong name (not issued for {host})")
            }
            CertProblem::WrongName { host, names } => write!(
                f,
                "wrong name (issued for {}, not for {host})",
                names.join(", ")
            ),
            CertProblem::Other(why) => f.write_str(why),
        }
    }
}

impl CertProblem {
    fn of(error: &rustls::Error, host: &str) -> CertProblem {
        let rustls::Error::InvalidCertificate(e) = error else {
            return CertProblem::Other(error.to_string());
        };
        let date = |t: &UnixTime| {
            chrono::DateTime::from_timestamp(t.as_secs() as i64, 0)
                .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        };
        match e {
            CertificateError::UnknownIssuer => CertProblem::UnknownIssuer,
            CertificateError::Expired => CertProblem::Expired(None),
            CertificateError::ExpiredContext { not_after, .. } => {
                CertProblem::Expired(date(not_after).map(|d| format!("not valid after {d}")))
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                CertProblem::NotYetValid
            }
            CertificateError::NotValidForName => CertProblem::WrongName {
                host: host.to_string(),
                names: Vec::new(),
            },
            CertificateError::NotValidForNameContext { presented, .. } => CertProblem::WrongName {
                host: host.to_string(),
                names: presented.clone(),
            },
            other => CertProblem::Other(format!("{other:?}")),
        }
    }
}

/// A TLS handshake that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsFailure {
    /// The certificate was refused (only at `verify` and `secure`).
    #[error("the server's certificate does not verify: {0}")]
    Certificate(CertProblem),
    /// The handshake itself failed (no common version or cipher, a reset,
    /// a server that is not speaking TLS).
    #[error("the TLS handshake failed: {0}")]
    Handshake(String),
}

/// What a finished handshake gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `TLSv1.3`, `TLSv1.2`.
    pub version: String,
    pub cipher: String,
    /// Whether the certificate verifies against the trusted CAs and names
    /// the host (checked at every level; enforced at `verify`/`secure`).
    pub certificate: Result<(), CertProblem>,
}

/// The trusted CAs and the two client configurations built on them, for
/// one relay host. Cheap to share.
pub(crate) struct TlsClient {
    host: String,
    server_name: ServerName<'static>,
    /// Checks a chain and the host name; `None` when no CA at all is
    /// trusted (then every certificate has an unknown issuer).
    webpki: Option<Arc<WebPkiServerVerifier>>,
    verifying: Arc<ClientConfig>,
    unverified: Arc<ClientConfig>,
    /// How many CAs came from the system store and from the CA file.
    system_roots: usize,
    file_roots: usize,
}

/// The system's CA certificates (read once per process: the store does not
/// change under a running daemon, and reading it takes milliseconds).
fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "skipping part of the system certificate store");
        }
        found.certs
    })
}

/// Reads a PEM bundle of CA certificates (`mail.tls_ca_file`).
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, MailError> {
    let bad = |reason: String| MailError::Config {
        key: "mail.tls_ca_file",
        reason: format!("{} {reason}", path.display()),
    };
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot be read ({e})")))?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("is not a PEM certificate bundle ({e})")))?;
    if certs.is_empty() {
        return Err(bad(
            "holds no certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)".into(),
        ));
    }
    Ok(certs)
}

impl TlsClient {
    /// Trusts the system store and the certificates of `ca_file`, for
    /// connections to `host`.
    pub(crate) fn new(host: &str, ca_file: Option<&Path>) -> Result<TlsClient, MailError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        let (system_roots, _) = roots.add_parsable_certificates(system_roots().iter().cloned());
        let mut file_roots = 0;
        if let Some(path) = ca_file {
            for (i, cert) in read_ca_file(path)?.into_iter().enumerate() {
                roots.add(cert).map_err(|e| MailError::Config {
                    key: "mail.tls_ca_file",
                    reason: format!(
                        "{}: certificate {} cannot be a trust anchor ({e})",
                        path.display(),
                        i + 1
                    ),
                })?;
                file_roots += 1;
            }
        }
        let webpki = if roots.is_empty() {
            None
        } else {
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| MailError::Config {
                        key: "mail.tls_ca_file",
                        reason: format!("the trusted certificates cannot be used ({e})"),
                    })?;
            Some(verifier)
        };
        let server_name =
            ServerName::try_from(host.to_string()).map_err(|_| MailError::Config {
                key: "mail.smtp_url",
                reason: format!("{host:?} is neither a DNS name nor an IP address"),
            })?;
        let config = |verifier: Arc<dyn ServerCertVerifier>| -> Result<_, MailError> {
            let config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| MailError::Config {
                    key: "mail.smtp_url",
                    reason: format!("TLS setup failed ({e})"),
                })?
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth();
            Ok(Arc::new(config))
        };
        Ok(TlsClient {
            host: host.to_string(),
            verifying: config(Arc::new(Verifier {
                chain: Chain::Checked(webpki.clone()),
                provider: provider.clone(),
            }))?,
            unverified: config(Arc::new(Verifier {
                chain: Chain::Accepted,
                provider: provider.clone(),
            }))?,
            webpki,
            server_name,
            system_roots,
            file_roots,
        })
    }

    /// Which CAs are trusted, for `paperboy check`.
    pub(crate) fn trust(&self) -> String {
        format!(
            "{} CA certificates from the system store, {} from mail.tls_ca_file",
            self.system_roots, self.file_roots
        )
    }

    /// Runs the client handshake on `stream`. With `verify`, a certificate
    /// that does not verify ends it ([`TlsFailure::Certificate`]); without,
    /// it is only checked and reported in [`Negotiated::certificate`].
    pub(crate) async fn handshake<S>(
        &self,
        stream: S,
        verify: bool,
    ) -> Result<(TlsStream<S>, Negotiated), TlsFailure>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let config = if verify {
            self.verifying.clone()
        } else {
            self.unverified.clone()
        };
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector
            .connect(self.server_name.clone(), stream)
            .await
            .map_err(|e| {
                let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
                match inner {
                    Some(rustls::Error::InvalidCertificate(_)) => TlsFailure::Certificate(
                        CertProblem::of(inner.expect("matched"), &self.host),
                    ),
                    Some(other) => TlsFailure::Handshake(other.to_string()),
                    None => TlsFailure::Handshake(e.to_string()),
                }
            })?;
        let (_, session) = tls.get_ref();
        let certificate = if verify {
            Ok(())
        } else {
            self.check(session.peer_certificates().unwrap_or_default())
        };
        let negotiated = Negotiated {
            version: session
                .protocol_version()
                .map(|v| match v {
                    rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_string(),
                    rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_string(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default(),
            cipher: session
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()))
                .unwrap_or_default(),
            certificate,
        };
        Ok((tls, negotiated))
    }

    /// Whether a presented chain verifies for the host, as `verify` would
    /// decide.
    fn check(&self, chain: &[CertificateDer<'_>]) -> Result<(), CertProblem> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err(CertProblem::Other("the server sent no certificate".into()));
        };
        let Some(webpki) = &self.webpki else {
            return Err(CertProblem::UnknownIssuer);
        };
        webpki
            .verify_server_cert(leaf, intermediates, &self.server_name, &[], UnixTime::now())
            .map(|_| ())
            .map_err(|e| CertProblem::of(&e, &self.host))
    }
}

/// What the verifier does with the presented chain.
#[derive(Debug)]
enum Chain {
    /// `verify` and `secure`: the chain and the name, through rustls's
    /// WebPKI verifier; with no trusted CA at all, an unknown issuer.
    Checked(Option<Arc<WebPkiServerVerifier>>),
    /// `may` and `encrypt`: any certificate is accepted, but the handshake
    /// must still be signed by its key, so the session is encrypted to
    /// whoever holds that certificate.
    Accepted,
}

/// The certificate verifier of every level: the chain as [`Chain`] says,
/// the handshake signatures always by the provider's algorithms.
#[derive(Debug)]
struct Verifier {
    chain: Chain,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.chain {
            Chain::Checked(Some(v)) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            Chain::Checked(None) => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
            Chain::Accepted => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_problems_read_as_an_operator_would_say_them() {
        let host = "mx.example.org";
        let of = |e: CertificateError| CertProblem::of(&rustls::Error::InvalidCertificate(e), host);
        assert_eq!(
            of(CertificateError::UnknownIssuer).to_string(),
            "unknown issuer (not signed by a CA in the system store or mail.tls_ca_file)"
        );
        let expired = of(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_800_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        });
        assert_eq!(
            expired.to_string(),
            "expired (not valid after 2023-11-14 22:13 UTC)"
        );
        let wrong = of(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("mx.example.org").unwrap(),
            presented: vec!["DnsName(\"other.example.net\")".into()],
        });
        assert!(
            wrong.to_string().starts_with("wrong name (issued for "),
            "{wrong}"
        );
        assert!(
            wrong.to_string().ends_with("not for mx.example.org)"),
            "{wrong}"
        );
    }

    #[test]
    fn a_ca_file_without_certificates_or_unreadable_is_refused_by_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        for path in [empty, dir.path().join("missing.pem")] {
            let err = TlsClient::new("mx.example.org", Some(&path))
                .err()
                .expect("refused")
                .to_string();
            assert!(err.starts_with("mail.tls_ca_file"), "{err}");
            assert!(err.contains(&path.display().to_string()), "{err}");
        }
    }
}

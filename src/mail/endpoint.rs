//! `mail.smtp_url`, parsed once at startup: where the relay is, how the
//! connection is secured and who to log in as. The security level is named
//! as Postfix names it (`smtp_tls_security_level`), so an operator who knows
//! their MTA knows what each means. It connects to nothing and reads no file
//! but `mail.smtp_password_file`; a wrong URL fails at startup with an error
//! naming the key. The password never reaches `Debug` or `Display`.

use std::fmt;
use std::path::Path;

use super::MailError;

/// How the SMTP connection is secured: Postfix's `smtp_tls_security_level`
/// values, chosen with `?tls=LEVEL` on `mail.smtp_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    /// Cleartext, never STARTTLS.
    None,
    /// Opportunistic: STARTTLS when the server offers it, the certificate
    /// not verified (a self-signed or private-CA certificate still gets an
    /// encrypted session). A server that offers no STARTTLS, refuses it, or
    /// fails the handshake gets the message in cleartext, as Postfix does.
    May,
    /// TLS or nothing, the certificate not verified.
    Encrypt,
    /// TLS or nothing; the certificate must chain to a trusted CA (the
    /// system store or `mail.tls_ca_file`) and name the host of the URL.
    Verify,
    /// As `Verify`: with a relay host given by name (no MX lookup) Postfix's
    /// `secure` checks the same name.
    Secure,
}

impl TlsLevel {
    /// The name used in `?tls=` and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            TlsLevel::None => "none",
            TlsLevel::May => "may",
            TlsLevel::Encrypt => "encrypt",
            TlsLevel::Verify => "verify",
            TlsLevel::Secure => "secure",
        }
    }

    /// Whether a connection without TLS is refused.
    pub fn requires_tls(self) -> bool {
        matches!(
            self,
            TlsLevel::Encrypt | TlsLevel::Verify | TlsLevel::Secure
        )
    }

    /// Whether the server's certificate must verify for the connection to
    /// go on.
    pub fn verifies(self) -> bool {
        matches!(self, TlsLevel::Verify | TlsLevel::Secure)
    }

    /// Parses a `tls=` value. `required` and `opportunistic` are the names
    /// of earlier releases, kept so their configurations still start:
    /// `required` was STARTTLS with a verified certificate (`verify`), and
    /// `opportunistic` is read as `may`.
    fn parse(value: &str) -> Option<TlsLevel> {
        Some(match value {
            "none" => TlsLevel::None,
            "may" | "opportunistic" => TlsLevel::May,
            "encrypt" => TlsLevel::Encrypt,
            "verify" | "required" => TlsLevel::Verify,
            "secure" => TlsLevel::Secure,
            _ => return None,
        })
    }
}

impl fmt::Display for TlsLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user name and password for SMTP AUTH.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    pub user: String,
    pub password: String,
}

impl fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("user", &self.user)
            .field("password", &"***")
            .finish()
    }
}

/// The relay paperboy hands its mail to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpEndpoint {
    /// Host name or IP address (without brackets), also the name the
    /// certificate must carry at `verify`.
    pub host: String,
    pub port: u16,
    /// `smtps://`: TLS from the first byte (RFC 8314), no STARTTLS.
    pub implicit_tls: bool,
    pub level: TlsLevel,
    pub credentials: Option<SmtpCredentials>,
}

impl fmt::Display for SmtpEndpoint {
    /// `smtp://host:port (tls=may)`: never the credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.implicit_tls { "smtps" } else { "smtp" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        write!(f, "{scheme}://{host}:{} (tls={})", self.port, self.level)
    }
}

impl SmtpEndpoint {
    /// `host:port`, for error messages.
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Parses `smtp://[user:password@]host[:port][?tls=LEVEL]` or
    /// `smtps://…`; a password in `password_file` replaces one in the URL.
    /// Ports default to 25 (`smtp://`) and 465 (`smtps://`); the old
    /// `tls=required` keeps its old default port, 587.
    pub fn parse(raw: &str, password_file: Option<&Path>) -> Result<SmtpEndpoint, MailError> {
        let password = match password_file {
            Some(path) => {
                let secret = std::fs::read_to_string(path).map_err(|e| MailError::Config {
                    key: "mail.smtp_password_file",
                    reason: format!("{} cannot be read ({e})", path.display()),
                })?;
                Some(secret.trim_end_matches(['\r', '\n']).to_string())
            }
            None => None,
        };
        Self::parse_with(raw, password)
    }

    /// Checks the URL without reading the password file (whose systemd
    /// credential may only exist in the daemon's environment).
    pub fn check_url(raw: &str, password_file_set: bool) -> Result<(), MailError> {
        Self::parse_with(raw, password_file_set.then(String::new)).map(|_| ())
    }

    fn parse_with(raw: &str, file_password: Option<String>) -> Result<SmtpEndpoint, MailError> {
        let bad = |reason: String| MailError::Config {
            key: "mail.smtp_url",
            reason: format!("{} {reason}", redact_url(raw)),
        };
        let url = url::Url::parse(raw).map_err(|e| bad(format!("is not a URL ({e})")))?;
        let implicit_tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            scheme => {
                return Err(bad(format!(
                    "has scheme {scheme:?}; use smtp:// or smtps://"
                )))
            }
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("has no host".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        if rustls::pki_types::ServerName::try_from(host.as_str()).is_err() {
            return Err(bad(format!(
                "has host {host:?}, which is neither a DNS name nor an IP address"
            )));
        }
        let mut tls = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "tls" if tls.is_none() => tls = Some(value.into_owned()),
                "tls" => return Err(bad("has tls= twice".into())),
                other => {
                    return Err(bad(format!(
                        "has an unknown parameter {other:?}; the only one is tls=LEVEL"
                    )))
                }
            }
        }
        let level = match tls.as_deref() {
            None if implicit_tls => TlsLevel::Verify,
            None => TlsLevel::May,
            Some(value) => TlsLevel::parse(value).ok_or_else(|| {
                bad(format!(
                    "has tls={value:?}; use none, may (the default for smtp://), encrypt, verify or secure"
                ))
            })?,
        };
        if implicit_tls && !level.requires_tls() {
            // Postfix's rule for wrapper mode, for the same reason: the
            // connection is TLS or nothing.
            return Err(bad(format!(
                "has tls={level}, but smtps:// is TLS from the first byte: use encrypt, verify (the default) or secure"
            )));
        }
        let default_port = match (implicit_tls, tls.as_deref()) {
            (true, _) => 465,
            (false, Some("required")) => 587,
            (false, _) => 25,
        };
        let port = url.port().unwrap_or(default_port);

        let user = percent_decode(url.username()).unwrap_or_else(|| url.username().to_string());
        let mut password = url
            .password()
            .map(|p| percent_decode(p).unwrap_or_else(|| p.to_string()));
        if file_password.is_some() {
            password = file_password;
        }
        let credentials = match (user.is_empty(), password) {
            (false, Some(password)) => Some(SmtpCredentials { user, password }),
            (true, Some(_)) => {
                return Err(MailError::Config {
                    key: "mail.smtp_url",
                    reason:
                        "a password is configured but the URL has no user name (smtp://user@host)"
                            .into(),
                })
            }
            (false, None) => return Err(MailError::Config {
                key: "mail.smtp_url",
                reason:
                    "has a user name but no password (put it in the URL or mail.smtp_password_file)"
                        .into(),
            }),
            (true, None) => None,
        };
        Ok(SmtpEndpoint {
            host,
            port,
            implicit_tls,
            level,
            credentials,
        })
    }
}

/// The URL with any password replaced; unparsable URLs are hidden whole
/// because we cannot tell where a password would be.
pub(crate) fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => "<unparsable url>".to_string(),
    }
}

/// Plain percent-decoding of URL userinfo (which `url` leaves encoded).
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<SmtpEndpoint, String> {
        SmtpEndpoint::parse(raw, None).map_err(|e| e.to_string())
    }

    #[test]
    fn each_scheme_and_level_gives_its_port_and_level() {
        for (url, implicit, level, port) in [
            ("smtp://mx.example.org", false, TlsLevel::May, 25),
            ("smtp://mx.example.org?tls=none", false, TlsLevel::None, 25),
            ("smtp://mx.example.org?tls=may", false, TlsLevel::May, 25),
            (
                "smtp://mx.example.org?tls=opportunistic",
                false,
                TlsLevel::May,
                25,
            ),
            (
                "smtp://mx.example.org:2525?tls=encrypt",
                false,
                TlsLevel::Encrypt,
                2525,
            ),
            (
                "smtp://mx.example.org?tls=verify",
                false,
                TlsLevel::Verify,
                25,
            ),
            (
                "smtp://mx.example.org?tls=secure",
                false,
                TlsLevel::Secure,
                25,
            ),
            (
                "smtp://mx.example.org?tls=required",
                false,
                TlsLevel::Verify,
                587,
            ),
            ("smtps://mx.example.org", true, TlsLevel::Verify, 465),
            (
                "smtps://mx.example.org?tls=encrypt",
                true,
                TlsLevel::Encrypt,
                465,
            ),
            ("smtp://[::1]:2525", false, TlsLevel::May, 2525),
        ] {
            let e = parse(url).unwrap();
            assert_eq!(
                (e.implicit_tls, e.level, e.port),
                (implicit, level, port),
                "{url}"
            );
        }
        let e = parse("smtp://[::1]:2525").unwrap();
        assert_eq!(e.host, "::1");
        assert_eq!(e.server(), "[::1]:2525");
        assert_eq!(e.to_string(), "smtp://[::1]:2525 (tls=may)");
    }

    #[test]
    fn mistakes_name_the_key_and_what_is_wrong() {
        for (url, needle) in [
            ("http://mail.example.org", "scheme"),
            ("smtp://mail.example.org?tls=maybe", "tls=\"maybe\""),
            ("smtp://mail.example.org?tls=may&tls=none", "twice"),
            ("smtp://mail.example.org?starttls=yes", "unknown parameter"),
            (
                "smtps://mail.example.org?tls=may",
                "TLS from the first byte",
            ),
            (
                "smtps://mail.example.org?tls=none",
                "TLS from the first byte",
            ),
            ("not a url", "not a URL"),
            ("smtp://bob@mail.example.org", "no password"),
            ("smtp://:pw@mail.example.org", "no user name"),
        ] {
            let err = parse(url).unwrap_err();
            assert!(err.starts_with("mail.smtp_url"), "{url}: {err}");
            assert!(err.contains(needle), "{url}: {err}");
        }
    }

    #[test]
    fn credentials_are_decoded_and_never_shown() {
        let e = parse("smtp://bob%40x:p%C3%A4ss@mx.example.org").unwrap();
        let c = e.credentials.clone().unwrap();
        assert_eq!((c.user.as_str(), c.password.as_str()), ("bob@x", "päss"));
        assert!(!format!("{e:?}").contains("päss"));
        assert!(!e.to_string().contains("bob"));

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "from-file\n").unwrap();
        let e = SmtpEndpoint::parse("smtp://carol@mx.example.org", Some(&file)).unwrap();
        assert_eq!(e.credentials.unwrap().password, "from-file");
        let err = SmtpEndpoint::parse("smtp://carol@mx.example.org", Some(&dir.path().join("no")))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("mail.smtp_password_file"), "{err}");
    }
}

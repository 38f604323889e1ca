//! The `[mail]` settings section: what it holds, its defaults and how each
//! value is checked. It owns no connection and sends nothing; secrets never
//! appear in its `Debug` output.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::dkim::DkimSettings;
use super::endpoint::{redact_url, SmtpEndpoint};
use super::MailError;

/// How mail leaves the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    /// Deliver to an SMTP relay given by `smtp_url`.
    Smtp,
    /// Write one `.eml` per message into `outbox_dir` (development, dry runs).
    #[default]
    File,
}

/// `[mail]`: sender identity and transport.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailSettings {
    /// `From:` mailbox, e.g. `"Paperboy <papers@example.org>"`.
    pub from: String,
    pub transport: TransportKind,
    /// `smtp://[user:password@]host[:port][?tls=LEVEL]` or
    /// `smtps://host` (TLS from the first byte); LEVEL is Postfix's
    /// `none`, `may` (the default), `encrypt`, `verify` or `secure` (see
    /// [`super::SmtpEndpoint`]).
    pub smtp_url: Option<String>,
    /// File holding the SMTP password, so it need not sit in the URL.
    pub smtp_password_file: Option<PathBuf>,
    /// PEM bundle of CA certificates trusted besides the system store
    /// (a private CA that signed the relay's certificate).
    pub tls_ca_file: Option<PathBuf>,
    /// The name said in EHLO; by default the machine's fully qualified
    /// name, else the domain of `from`, else an address literal.
    pub helo_name: Option<String>,
    /// Where the file transport writes `.eml` files.
    pub outbox_dir: PathBuf,
    pub timeout_secs: u64,
    /// Maximum simultaneous SMTP connections.
    pub pool_size: u32,
    /// Extra attempts for transient SMTP failures, with exponential backoff.
    pub retries: u32,
    /// `List-Id` value; defaults to `<digest.{from domain}>`.
    pub list_id: Option<String>,
    /// `[mail.dkim]`: sign every message when set.
    pub dkim: Option<DkimSettings>,
    /// Hard bounces (5xx to RCPT or DATA) in a row after which a subscriber
    /// is suspended; 0 never suspends.
    pub suspend_after_hard_bounces: u32,
    /// The envelope sender of every digest, with a `{token}` that names the
    /// delivery, e.g. `"bounces+{token}@example.org"` (VERP): later bounces
    /// and complaints come back to it and map to their digest without
    /// trusting what they say. Unset: the `From:` address.
    pub return_path: Option<String>,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: "Paperboy <paperboy@localhost>".to_string(),
            transport: TransportKind::File,
            smtp_url: None,
            smtp_password_file: None,
            tls_ca_file: None,
            helo_name: None,
            outbox_dir: PathBuf::from("outbox"),
            timeout_secs: 30,
            pool_size: 4,
            retries: 3,
            list_id: None,
            dkim: None,
            suspend_after_hard_bounces: 3,
            return_path: None,
        }
    }
}

impl fmt::Debug for MailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailSettings")
            .field("from", &self.from)
            .field("transport", &self.transport)
            .field("smtp_url", &self.smtp_url.as_deref().map(redact_url))
            .field("smtp_password_file", &self.smtp_password_file)
            .field("tls_ca_file", &self.tls_ca_file)
            .field("helo_name", &self.helo_name)
            .field("outbox_dir", &self.outbox_dir)
            .field("timeout_secs", &self.timeout_secs)
            .field("pool_size", &self.pool_size)
            .field("retries", &self.retries)
            .field("list_id", &self.list_id)
            .field("dkim", &self.dkim)
            .field(
                "suspend_after_hard_bounces",
                &self.suspend_after_hard_bounces,
            )
            .field("return_path", &self.return_path)
            .finish()
    }
}

impl MailSettings {
    /// The parsed `From:` mailbox.
    pub fn from_mailbox(&self) -> Result<Mailbox, MailError> {
        Mailbox::from_str(self.from.trim()).map_err(|e| MailError::Config {
            key: "mail.from",
            reason: format!("{:?} is not a valid mailbox ({e})", self.from),
        })
    }

    /// The `List-Id` header value, angle brackets included.
    pub fn list_id_value(&self) -> Result<String, MailError> {
        match &self.list_id {
            Some(raw) => {
                let id = raw.trim();
                let bare = id.trim_start_matches('<').trim_end_matches('>');
                if bare.is_empty()
                    || !bare
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c))
                {
                    return Err(MailError::Config {
                        key: "mail.list_id",
                        reason: format!("{raw:?} must look like a domain, e.g. digest.example.org"),
                    });
                }
                Ok(format!("<{bare}>"))
            }
            None => {
                let from = self.from_mailbox()?;
                Ok(format!("<digest.{}>", from.email.domain()))
            }
        }
    }

    /// Checks every value that does not need the network.
    pub fn validate(&self) -> Result<(), MailError> {
        self.from_mailbox()?;
        self.list_id_value()?;
        if self.timeout_secs == 0 {
            return Err(MailError::Config {
                key: "mail.timeout_secs",
                reason: "must be at least 1".into(),
            });
        }
        if self.pool_size == 0 {
            return Err(MailError::Config {
                key: "mail.pool_size",
                reason: "must be at least 1".into(),
            });
        }
        if let Some(dkim) = &self.dkim {
            dkim.validate()?;
        }
        if let Some(name) = &self.helo_name {
            if !is_fqdn(name) && !is_address_literal(name) {
                return Err(MailError::Config {
                    key: "mail.helo_name",
                    reason: format!(
                        "{name:?} is neither a fully qualified domain name (mail.example.org) nor an address literal ([192.0.2.1])"
                    ),
                });
            }
        }
        if self.transport == TransportKind::Smtp {
            let Some(url) = &self.smtp_url else {
                return Err(MailError::Config {
                    key: "mail.smtp_url",
                    reason: "is required when mail.transport = \"smtp\"".into(),
                });
            };
            SmtpEndpoint::check_url(url, self.smtp_password_file.is_some())?;
        }
        Ok(())
    }

    /// The parsed `smtp_url`, its password read from `smtp_password_file`
    /// when set; `None` without a URL.
    pub fn smtp_endpoint(&self) -> Result<Option<SmtpEndpoint>, MailError> {
        self.smtp_url
            .as_deref()
            .map(|url| SmtpEndpoint::parse(url, self.smtp_password_file.as_deref()))
            .transpose()
    }

    /// The name to say in EHLO: `helo_name`, else the machine's fully
    /// qualified name, else the domain of `from` if it is one; `None` when
    /// none is (then each connection says its own address, `[192.0.2.1]`).
    /// Never a bare host name: MTAs with `reject_non_fqdn_helo_hostname`
    /// refuse those.
    pub fn helo(&self) -> Option<String> {
        if let Some(name) = &self.helo_name {
            return Some(name.trim().to_string());
        }
        if let Some(fqdn) = system_fqdn() {
            return Some(fqdn);
        }
        let from = self.from_mailbox().ok()?;
        let domain = from.email.domain();
        is_fqdn(domain).then(|| domain.to_ascii_lowercase())
    }
}

/// Whether `name` is a fully qualified host name: dotted labels of
/// letters, digits and hyphens, the last not all digits, not localhost.
pub(crate) fn is_fqdn(name: &str) -> bool {
    let name = name.trim_end_matches('.');
    let labels: Vec<&str> = name.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    labels.len() >= 2
        && name.len() <= 253
        && labels.iter().all(label_ok)
        && !labels
            .last()
            .is_some_and(|l| l.chars().all(|c| c.is_ascii_digit()))
        && !matches!(
            labels.last().map(|l| l.to_ascii_lowercase()).as_deref(),
            Some("localhost" | "localdomain")
        )
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3).
fn is_address_literal(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) else {
        return false;
    };
    match inner.strip_prefix("IPv6:") {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => inner.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

/// The machine's fully qualified name: its host name when that is
/// qualified, else the canonical name `/etc/hosts` gives it (the first name
/// on its line), as `hostname -f` would find it there. Read once.
fn system_fqdn() -> Option<String> {
    static FQDN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FQDN.get_or_init(|| {
        let host = hostname::get().ok()?.into_string().ok()?;
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        fqdn_of(&host, &hosts)
    })
    .clone()
}

fn fqdn_of(host: &str, hosts: &str) -> Option<String> {
    if is_fqdn(host) {
        return Some(host.to_ascii_lowercase());
    }
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let names: Vec<&str> = line.split_whitespace().skip(1).collect();
        if names.iter().any(|n| n.eq_ignore_ascii_case(host)) {
            if let Some(canonical) = names.iter().find(|n| is_fqdn(n)) {
                return Some(canonical.to_ascii_lowercase());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Root {
        mail: MailSettings,
    }

    fn parse(toml_text: &str) -> Result<MailSettings, String> {
        let cfg = config::Config::builder()
            .add_source(config::File::from_str(toml_text, config::FileFormat::Toml))
            .build()
            .map_err(|e| e.to_string())?;
        cfg.try_deserialize::<Root>()
            .map(|r| r.mail)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_empty_section_takes_every_default() {
        let s = parse("[mail]\n").unwrap();
        assert_eq!(s.transport, TransportKind::File);
        assert_eq!(s.outbox_dir, PathBuf::from("outbox"));
        assert_eq!((s.timeout_secs, s.pool_size, s.retries), (30, 4, 3));
        assert_eq!(
            s.from_mailbox().unwrap().email.to_string(),
            "paperboy@localhost"
        );
        assert_eq!(s.list_id_value().unwrap(), "<digest.localhost>");
        s.validate().unwrap();
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = parse("[mail]\nsmtp_host = \"x\"\n").unwrap_err();
        assert!(err.contains("smtp_host"), "{err}");
    }

    #[test]
    fn a_bad_from_names_mail_from() {
        let s = parse("[mail]\nfrom = \"not an address\"\n").unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("mail.from"), "{err}");
    }

    #[test]
    fn the_list_id_derives_from_the_from_domain_or_is_taken_as_given() {
        let s = parse("[mail]\nfrom = \"Papers <news@example.org>\"\n").unwrap();
        assert_eq!(s.list_id_value().unwrap(), "<digest.example.org>");
        let s = parse("[mail]\nlist_id = \"papers.example.net\"\n").unwrap();
        assert_eq!(s.list_id_value().unwrap(), "<papers.example.net>");
        let s = parse("[mail]\nlist_id = \"bad\\r\\nBcc: x\"\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mail.list_id"));
    }

    #[test]
    fn smtp_transport_requires_a_url_and_debug_hides_its_password() {
        let s = parse("[mail]\ntransport = \"smtp\"\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mail.smtp_url"));

        let s = parse(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://bob:hunter2@mail.example.org:587\"\n",
        )
        .unwrap();
        s.validate().unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("bob"), "{shown}");
    }

    #[test]
    fn a_bad_smtp_url_is_refused_at_load_naming_the_key() {
        let s =
            parse("[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://mx.example.org?tls=maybe\"\n")
                .unwrap();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.starts_with("mail.smtp_url"), "{err}");
        // The password file is only named here, read when connecting.
        let s = parse(
            "[mail]\ntransport = \"smtp\"\nsmtp_url = \"smtp://bob@mx.example.org\"\nsmtp_password_file = \"/nonexistent\"\n",
        )
        .unwrap();
        s.validate().unwrap();
    }

    #[test]
    fn the_helo_name_is_a_fully_qualified_name_never_a_bare_host() {
        for good in [
            "mail.example.org",
            "a-b.example.org.",
            "[192.0.2.1]",
            "[IPv6:2001:db8::1]",
        ] {
            let s = parse(&format!("[mail]\nhelo_name = \"{good}\"\n")).unwrap();
            s.validate().unwrap();
            assert_eq!(s.helo().as_deref(), Some(good));
        }
        for bad in [
            "vm",
            "localhost",
            "-x.example.org",
            "mail.example.123",
            "[300.1.1.1]",
            "a b.example.org",
        ] {
            let s = parse(&format!("[mail]\nhelo_name = \"{bad}\"\n")).unwrap();
            let err = s.validate().unwrap_err().to_string();
            assert!(err.starts_with("mail.helo_name"), "{bad}: {err}");
        }
        let hosts = "127.0.0.1 localhost\n127.0.1.1 vm.lab.example.org vm # the box\n";
        assert_eq!(fqdn_of("vm", hosts).as_deref(), Some("vm.lab.example.org"));
        assert_eq!(
            fqdn_of("box.example.org", "").as_deref(),
            Some("box.example.org")
        );
        assert_eq!(fqdn_of("vm", "127.0.0.1 localhost vm\n"), None);
    }

    #[test]
    fn without_a_qualified_machine_name_the_helo_falls_back_to_the_from_domain() {
        let s = parse("[mail]\nfrom = \"P <papers@Papers.Example.org>\"\n").unwrap();
        let helo = s.helo().unwrap();
        assert!(
            helo == "papers.example.org" || system_fqdn().as_deref() == Some(helo.as_str()),
            "{helo}"
        );
        let s = parse("[mail]\nfrom = \"P <papers@localhost>\"\n").unwrap();
        assert_eq!(s.helo(), system_fqdn());
    }

    #[test]
    fn zero_pool_or_timeout_is_refused_by_name() {
        let s = parse("[mail]\npool_size = 0\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mail.pool_size"));
        let s = parse("[mail]\ntimeout_secs = 0\n").unwrap();
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mail.timeout_secs"));
    }
}

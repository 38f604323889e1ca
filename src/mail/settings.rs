//! The `[mail]` settings section: what it holds, its defaults and how each
//! value is checked. It owns no connection and sends nothing; secrets never
//! appear in its `Debug` output.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use lettre::message::Mailbox;
use serde::Deserialize;

use super::dkim::DkimSettings;
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
    /// `smtp://[user:password@]host[:port]` (STARTTLS when offered),
    /// `smtp://host?tls=required` (STARTTLS mandatory) or `smtps://host`
    /// (implicit TLS).
    pub smtp_url: Option<String>,
    /// File holding the SMTP password, so it need not sit in the URL.
    pub smtp_password_file: Option<PathBuf>,
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
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            from: "Paperboy <paperboy@localhost>".to_string(),
            transport: TransportKind::File,
            smtp_url: None,
            smtp_password_file: None,
            outbox_dir: PathBuf::from("outbox"),
            timeout_secs: 30,
            pool_size: 4,
            retries: 3,
            list_id: None,
            dkim: None,
            suspend_after_hard_bounces: 3,
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
            .finish()
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
        if self.transport == TransportKind::Smtp && self.smtp_url.is_none() {
            return Err(MailError::Config {
                key: "mail.smtp_url",
                reason: "is required when mail.transport = \"smtp\"".into(),
            });
        }
        Ok(())
    }
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

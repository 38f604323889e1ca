//! The `[bounces]` settings section: where late bounces and complaints come
//! in (a Maildir the daemon polls, provider webhooks), and where messages
//! that cannot be read are kept. Plain data and its checks; secrets are
//! files, read by the web layer at startup, never in `Debug` output.

use std::path::PathBuf;

use serde::Deserialize;

/// `[bounces]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BouncesSettings {
    /// A Maildir (with `new/`, `cur/`, `tmp/`) the daemon reads bounces
    /// from, for operators whose MTA delivers them to a mailbox; off when
    /// unset.
    pub maildir: Option<PathBuf>,
    /// Seconds between two looks at `maildir/new`.
    pub maildir_poll_secs: u64,
    /// Where `paperboy bounces ingest` keeps a message it could not read or
    /// match (one `.eml` file each), so nothing piped to it is lost.
    pub quarantine_dir: PathBuf,
    /// `[bounces.webhooks.*]`: provider event webhooks at
    /// `POST /webhooks/{provider}`; each is off unless configured.
    pub webhooks: WebhookSettings,
}

impl Default for BouncesSettings {
    fn default() -> Self {
        BouncesSettings {
            maildir: None,
            maildir_poll_secs: 60,
            quarantine_dir: PathBuf::from("bounces-quarantine"),
            webhooks: WebhookSettings::default(),
        }
    }
}

/// `[bounces.webhooks]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookSettings {
    pub ses: Option<SesWebhook>,
    pub postmark: Option<PostmarkWebhook>,
    pub sendgrid: Option<SendgridWebhook>,
    pub mailgun: Option<MailgunWebhook>,
}

/// `[bounces.webhooks.ses]`: Amazon SES notifications through SNS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SesWebhook {
    /// The SNS topic ARNs whose messages are accepted.
    pub topic_arns: Vec<String>,
}

/// `[bounces.webhooks.postmark]`: HTTP Basic credentials (the user and
/// password in the webhook URL Postmark is given), or a custom header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostmarkWebhook {
    /// Basic-auth user name (with `password_file`).
    pub username: Option<String>,
    /// A custom header Postmark sends (with `secret_file` as its value),
    /// instead of Basic auth.
    pub header: Option<String>,
    /// The Basic-auth password, or the header's value, in a file.
    pub secret_file: PathBuf,
}

/// `[bounces.webhooks.sendgrid]`: the signed event webhook.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendgridWebhook {
    /// The verification key SendGrid shows (base64 of the public key, or
    /// a PEM block). Public: it may sit in the config.
    pub public_key: String,
}

/// `[bounces.webhooks.mailgun]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailgunWebhook {
    /// File holding the account's HTTP webhook signing key.
    pub signing_key_file: PathBuf,
}

impl BouncesSettings {
    /// Checks what serde cannot, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.maildir_poll_secs == 0 {
            return Err("bounces.maildir_poll_secs must be at least 1".into());
        }
        if self.quarantine_dir.as_os_str().is_empty() {
            return Err("bounces.quarantine_dir must not be empty".into());
        }
        if let Some(ses) = &self.webhooks.ses {
            if ses.topic_arns.is_empty() || ses.topic_arns.iter().any(|a| !a.starts_with("arn:")) {
                return Err(
                    "bounces.webhooks.ses.topic_arns must list the SNS topic ARNs (arn:aws:sns:…)"
                        .into(),
                );
            }
        }
        if let Some(pm) = &self.webhooks.postmark {
            if pm.username.is_some() == pm.header.is_some() {
                return Err(
                    "bounces.webhooks.postmark: set either username (Basic auth) or header".into(),
                );
            }
            if let Some(h) = &pm.header {
                if http::HeaderName::from_bytes(h.trim().as_bytes()).is_err() {
                    return Err(format!(
                        "bounces.webhooks.postmark.header = {h:?} is not a header name"
                    ));
                }
            }
        }
        if let Some(sg) = &self.webhooks.sendgrid {
            super::webhook::sendgrid::SendgridKey::parse(&sg.public_key)
                .map_err(|e| format!("bounces.webhooks.sendgrid.public_key: {e}"))?;
        }
        Ok(())
    }
}

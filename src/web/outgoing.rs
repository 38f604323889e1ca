//! The mails the pages send: the double opt-in confirmation, and a fresh
//! manage link for an address that is already confirmed. Only the address
//! and the topic queries from the form ever go into them. Sent on a spawned
//! task, so the page answers the same, at the same speed, whatever happens.

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::domain::{SubscriberEmail, SubscriberId};
use crate::email::digest::{render_confirm, ConfirmView, RenderedEmail};
use crate::links::{link_url, Purpose};
use crate::mail::{EmailKind, OutgoingEmail};

/// At most one link mail per address in this interval.
pub fn link_mail_interval() -> chrono::Duration {
    chrono::Duration::minutes(10)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMail {
    Confirm,
    Manage,
}

#[derive(Template)]
#[template(path = "email/manage_link.html")]
struct ManageLinkHtml<'a> {
    site_name: &'a str,
    manage_url: &'a str,
}

#[derive(Template)]
#[template(path = "email/manage_link.txt")]
struct ManageLinkText<'a> {
    site_name: &'a str,
    manage_url: &'a str,
}

/// Renders and sends one link mail in the background; failures are logged
/// (with the subscriber id, never the address).
pub fn spawn_link_mail(
    web: Arc<AppState>,
    kind: LinkMail,
    subscriber_id: SubscriberId,
    link_version: i64,
    to: SubscriberEmail,
    topics: Vec<String>,
    now: DateTime<Utc>,
) {
    tokio::spawn(async move {
        let email = match build(&web, kind, subscriber_id, link_version, to, topics, now) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(subscriber.id = %subscriber_id, error = %e, "rendering a link mail failed");
                return;
            }
        };
        match web.mailer.send(&email).await {
            Ok(()) => {
                tracing::info!(subscriber.id = %subscriber_id, mail.kind = ?kind, "link mail sent")
            }
            Err(e) => {
                tracing::warn!(subscriber.id = %subscriber_id, mail.kind = ?kind, error = %e, "link mail not sent")
            }
        }
    });
}

fn build(
    web: &AppState,
    kind: LinkMail,
    subscriber_id: SubscriberId,
    link_version: i64,
    to: SubscriberEmail,
    topics: Vec<String>,
    now: DateTime<Utc>,
) -> Result<OutgoingEmail, askama::Error> {
    let site_name = web.config.site_name.clone();
    let purpose = match kind {
        LinkMail::Confirm => Purpose::Confirm,
        LinkMail::Manage => Purpose::Manage,
    };
    let token = web.signer.sign(
        purpose,
        subscriber_id,
        link_version,
        purpose.default_expiry(now),
    );
    let url = link_url(&web.config.base_url, purpose, &token).to_string();
    let rendered = match kind {
        LinkMail::Confirm => render_confirm(&ConfirmView {
            confirm_url: url,
            topics,
            site_name,
        })?,
        LinkMail::Manage => RenderedEmail {
            subject: format!("Your {site_name} settings link"),
            html: ManageLinkHtml {
                site_name: &site_name,
                manage_url: &url,
            }
            .render()?,
            text: ManageLinkText {
                site_name: &site_name,
                manage_url: &url,
            }
            .render()?,
        },
    };
    Ok(OutgoingEmail {
        to,
        subject: rendered.subject,
        html: rendered.html,
        text: rendered.text,
        message_id: link_message_id(kind, subscriber_id, now, &web.mailer.sender_domain()),
        date: now,
        list_unsubscribe: None,
        kind: EmailKind::Confirmation,
    })
}

/// `<confirm.202611261805.42.HASH@domain>`: fixed by the kind, the
/// subscriber and the minute the send was claimed (at most one claim per
/// address per ten minutes), so a retried send keeps its id and two
/// different mails never share one.
fn link_message_id(
    kind: LinkMail,
    subscriber_id: SubscriberId,
    at: DateTime<Utc>,
    domain: &str,
) -> String {
    let kind = match kind {
        LinkMail::Confirm => "confirm",
        LinkMail::Manage => "manage-link",
    };
    let minute = at.format("%Y%m%d%H%M");
    let digest = Sha256::digest(format!("{kind}|{minute}|{subscriber_id}|{domain}"));
    let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
    format!("<{kind}.{minute}.{subscriber_id}.{hash}@{domain}>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_message_ids_are_stable_per_claim_and_differ_by_kind() {
        let t = DateTime::parse_from_rfc3339("2026-11-26T18:05:30Z")
            .unwrap()
            .with_timezone(&Utc);
        let a = link_message_id(LinkMail::Confirm, SubscriberId::new(42), t, "example.org");
        assert_eq!(
            a,
            link_message_id(LinkMail::Confirm, SubscriberId::new(42), t, "example.org")
        );
        assert!(a.starts_with("<confirm.202611261805.42."));
        assert!(a.ends_with("@example.org>"));
        assert_ne!(
            a,
            link_message_id(LinkMail::Manage, SubscriberId::new(42), t, "example.org")
        );
    }
}

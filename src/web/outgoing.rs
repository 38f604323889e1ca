//! Sending the link mails of the pages (built by
//! [`crate::email::link_mail`]) on a spawned task, so the page answers the
//! same, at the same speed, whatever happens to the mail.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::AppState;
use crate::email::LinkMailRequest;

/// At most one link mail per address in this interval.
pub fn link_mail_interval() -> chrono::Duration {
    chrono::Duration::minutes(10)
}

/// Renders and sends one link mail in the background; failures are logged
/// (with the subscriber id, never the address).
pub fn spawn_link_mail(web: Arc<AppState>, request: LinkMailRequest, now: DateTime<Utc>) {
    tokio::spawn(async move {
        let (id, kind) = (request.subscriber_id, request.kind);
        let email = match web.link_mails.build(request, now) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(subscriber.id = %id, error = %e, "rendering a link mail failed");
                return;
            }
        };
        match web.mailer.send(&email).await {
            Ok(()) => {
                tracing::info!(subscriber.id = %id, mail.kind = ?kind, "link mail sent")
            }
            Err(e) => {
                tracing::warn!(subscriber.id = %id, mail.kind = ?kind, error = %e, "link mail not sent")
            }
        }
    });
}

//! Sending the link mails of the pages (built by
//! [`crate::email::link_mail`]) on a spawned task, so the page answers the
//! same, at the same speed, whatever happens to the mail.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::AppState;
use crate::domain::{SubscriberId, SubscriberStatus};
use crate::email::{LinkMail, LinkMailRequest, WelcomeSchedule};

/// At most one link mail per address in this interval.
pub fn link_mail_interval() -> chrono::Duration {
    chrono::Duration::minutes(10)
}

/// Renders and sends one link mail in the background; failures are logged
/// (with the subscriber id, never the address).
pub fn spawn_link_mail(web: Arc<AppState>, request: LinkMailRequest, now: DateTime<Utc>) {
    tokio::spawn(send_link_mail(web, request, now));
}

/// Mails subscriber `id` a manage link at `at`, when the per-address limit
/// allows it again: for "revoke all old links" asked for while a link mail
/// went out recently. The revocation itself took effect at once; this only
/// delivers the new link. If another link mail went out in the meantime
/// (it carried the current link version, being later than the revocation),
/// or the subscriber is no longer active, nothing is sent. The link version
/// is read when sending, so the newest revocation wins. A restart forgets
/// the wait; the subscribe form sends an active address a manage link.
pub fn spawn_manage_link_mail_at(web: Arc<AppState>, id: SubscriberId, at: DateTime<Utc>) {
    tokio::spawn(async move {
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        let now = Utc::now();
        match web
            .store
            .claim_link_mail(id, now, link_mail_interval())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(subscriber.id = %id, "waiting link mail skipped: another went out since");
                return;
            }
            Err(e) => {
                tracing::warn!(subscriber.id = %id, error = %e, "waiting link mail not sent");
                return;
            }
        }
        let subscriber = match web.store.subscriber_by_id(id).await {
            Ok(s) if s.status == SubscriberStatus::Active => s,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(subscriber.id = %id, error = %e, "waiting link mail not sent");
                return;
            }
        };
        let request = LinkMailRequest {
            kind: LinkMail::Manage,
            subscriber_id: id,
            link_version: subscriber.link_version,
            to: subscriber.email,
            topics: Vec::new(),
        };
        send_link_mail(web, request, now).await;
    });
}

/// Renders and sends one link mail; failures are logged.
pub(super) async fn send_link_mail(
    web: Arc<AppState>,
    request: LinkMailRequest,
    now: DateTime<Utc>,
) {
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
}

/// Sends subscriber `id` the welcome mail of a subscription confirmed at
/// `now`, in the background: read after the confirmation, so it names the
/// topics and schedule just confirmed. The confirm page calls it only for
/// the request that confirmed (never for a repeated confirm). Failures are
/// logged with the subscriber id.
pub fn spawn_welcome_mail(web: Arc<AppState>, id: SubscriberId, now: DateTime<Utc>) {
    tokio::spawn(async move {
        let loaded = async {
            let subscriber = web.store.subscriber_by_id(id).await?;
            let prefs = web.store.preferences(id).await?;
            anyhow::Ok((subscriber, prefs))
        };
        let (subscriber, prefs) = match loaded.await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(subscriber.id = %id, error = %e, "welcome mail not sent");
                return;
            }
        };
        let defaults = WelcomeSchedule {
            default_hour: web.config.default_hour,
            default_timezone: web.config.timezone,
        };
        let email = match web.link_mails.welcome(&subscriber, &prefs, defaults, now) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(subscriber.id = %id, error = %e, "rendering the welcome mail failed");
                return;
            }
        };
        match web.mailer.send(&email).await {
            Ok(()) => tracing::info!(subscriber.id = %id, "welcome mail sent"),
            Err(e) => tracing::warn!(subscriber.id = %id, error = %e, "welcome mail not sent"),
        }
    });
}

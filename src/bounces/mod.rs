//! Acting on bounces, complaints and unsubscribe requests that arrive after
//! the SMTP conversation: a message piped to `paperboy bounces ingest`, one
//! the daemon finds in `[bounces] maildir` ([`maildir`]), or a provider
//! webhook's events. [`crate::inbound`] reads them; this module finds the
//! delivery they are about and records them with their effect:
//!
//! - a hard bounce that blames the address counts toward
//!   `[mail] suspend_after_hard_bounces` (suspended when each of the
//!   subscriber's last that many digests drew one);
//! - a complaint unsubscribes at once, recorded with its kind;
//! - an unsubscribe request carrying a valid token unsubscribes;
//! - a soft bounce is counted for the rates only; an auto-reply or a
//!   success notice is recorded and ignored.
//!
//! A verified key (the bounce address's token, an unsubscribe token) is
//! the only one used when present: the addresses and Message-IDs a message
//! quotes are trusted only when it carries no token at all.
//!
//! What cannot be read or matched is kept whole ([`Quarantine`]), so an MTA
//! never has to retry it and nothing is lost.

pub mod maildir;
mod quarantine;

use chrono::{DateTime, Utc};

pub use quarantine::Quarantine;

use crate::inbound::{self, Context, DeliveryKey, Event, EventKind, Report};
use crate::links::LinkSigner;
use crate::store::{
    DbResult, InboundAction, InboundEffect, InboundTarget, NewInboundReport, Store,
};

/// What handling one report did, for the CLI's line and the log.
#[derive(Debug, Clone)]
pub struct Handled {
    pub kind: EventKind,
    pub action: InboundAction,
    /// The report's log-safe summary (kind, status, cause, key kind).
    pub summary: String,
}

impl Handled {
    /// Whether the raw message should be kept for the operator: it was not
    /// recognised, or it was a bounce or complaint that matched nobody.
    pub fn worth_keeping(&self) -> bool {
        self.kind == EventKind::Unknown
            || (self.action == InboundAction::Unmatched
                && !matches!(self.kind, EventKind::AutoReply | EventKind::Delivered))
    }

    /// One line for standard error or the log.
    pub fn line(&self) -> String {
        format!("{}: {}", self.action.as_str(), self.summary)
    }
}

/// Finds and records reports; shared by the CLI, the Maildir job and the
/// webhook routes.
#[derive(Clone)]
pub struct Intake {
    store: Store,
    signer: LinkSigner,
    suspend_after: u32,
}

impl Intake {
    /// `suspend_after` is `[mail] suspend_after_hard_bounces` (0: never).
    pub fn new(store: Store, signer: LinkSigner, suspend_after: u32) -> Intake {
        Intake {
            store,
            signer,
            suspend_after,
        }
    }

    /// The context the readers need, for webhook callers.
    pub fn context(&self, now: DateTime<Utc>) -> Context<'_> {
        Context {
            signer: Some(&self.signer),
            envelope_recipient: None,
            now,
        }
    }

    /// Classifies one raw message and records it. `envelope_recipient` is
    /// the address the MTA delivered it to, when it says (the surest place
    /// of the bounce address's token).
    pub async fn message(
        &self,
        raw: &[u8],
        envelope_recipient: Option<&str>,
        now: DateTime<Utc>,
    ) -> DbResult<Handled> {
        let ctx = Context {
            signer: Some(&self.signer),
            envelope_recipient,
            now,
        };
        let report = inbound::classify(raw, &ctx);
        self.report(&report, "mail", now).await
    }

    /// Records one classified report from `source` (`mail` or a webhook
    /// provider) and applies its effect.
    pub async fn report(
        &self,
        report: &Report,
        source: &str,
        now: DateTime<Utc>,
    ) -> DbResult<Handled> {
        let kind = report.event.kind();
        let found = self.find(report).await?;
        let matched_by = found.map(|f| f.key);
        let effect = match (&report.event, found) {
            (_, None) => InboundEffect::None,
            (Event::Bounce(b), Some(_)) if b.blames_recipient() => InboundEffect::CountHardBounce {
                suspend_after: self.suspend_after,
            },
            (Event::Complaint(_), Some(_)) => InboundEffect::Unsubscribe { link_version: None },
            // Only a signed key proves who asks to leave.
            (Event::UnsubscribeRequest, Some(found)) if found.verified => {
                InboundEffect::Unsubscribe {
                    link_version: report.keys.subscriber.map(|s| s.link_version),
                }
            }
            _ => InboundEffect::None,
        };
        let summary = report.summary();
        let action = self
            .store
            .record_inbound(
                &NewInboundReport {
                    source,
                    kind: kind_name(kind),
                    target: found.map(|f| f.target),
                    matched_by,
                    summary: &summary,
                },
                effect,
                now,
            )
            .await?;
        tracing::info!(
            inbound.source = source,
            inbound.kind = kind.as_str(),
            inbound.action = action.as_str(),
            subscriber.id = found.map(|f| f.target.subscriber_id.get()),
            "{summary}"
        );
        Ok(Handled {
            kind,
            action,
            summary,
        })
    }

    /// The delivery or subscriber the report is about, and the kind of key
    /// that found it. Signed keys first; when the report carries one, the
    /// unsigned ones (Message-ID, addresses) are not consulted.
    async fn find(&self, report: &Report) -> DbResult<Option<Found>> {
        let keys = &report.keys;
        let verified = keys.delivery.is_some() || keys.subscriber.is_some();
        for key in keys.all() {
            if verified && !key.is_verified() {
                break;
            }
            let target = match key {
                DeliveryKey::Delivery(id) => {
                    self.store
                        .inbound_target_of_delivery(crate::domain::DeliveryId::new(id))
                        .await?
                }
                DeliveryKey::Subscriber(who) => {
                    if self
                        .store
                        .subscriber_link_is_current(who.subscriber_id, who.link_version)
                        .await?
                    {
                        self.store
                            .inbound_target_of_subscriber(who.subscriber_id)
                            .await?
                    } else {
                        None
                    }
                }
                DeliveryKey::MessageId(id) => self.store.inbound_target_of_message_id(id).await?,
                DeliveryKey::Recipient(address) => {
                    self.store.inbound_target_of_address(address).await?
                }
            };
            if let Some(target) = target {
                return Ok(Some(Found {
                    target,
                    key: key.kind_name(),
                    verified: key.is_verified(),
                }));
            }
        }
        Ok(None)
    }
}

/// Who a report is about, and what found them.
#[derive(Debug, Clone, Copy)]
struct Found {
    target: InboundTarget,
    /// The kind of key ([`DeliveryKey::kind_name`]).
    key: &'static str,
    /// Whether that key was signed by us.
    verified: bool,
}

/// The stored name of a report kind.
fn kind_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::HardBounce => "hard",
        EventKind::SoftBounce => "soft",
        EventKind::Complaint => "complaint",
        EventKind::AutoReply => "auto-reply",
        EventKind::UnsubscribeRequest => "unsubscribe",
        EventKind::Delivered => "delivered",
        EventKind::Unknown => "unknown",
    }
}

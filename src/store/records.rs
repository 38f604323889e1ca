//! The values the store takes and hands back, shared by both backends
//! (each backend module compiles the same queries against its own driver,
//! see [`super`]): grouped by the table family whose queries use them.

use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};

use super::{DbError, DbResult};
use crate::domain::{
    DeliveryId, NewTopic, Paper, PaperId, Preferences, SubscriberId, SubscriberStatus,
};

// What `deliveries` takes and returns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    Pending,
    Sending,
    Deferred,
    Sent,
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sending => "sending",
            Self::Deferred => "deferred",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> DbResult<Self> {
        Ok(match s {
            "pending" => Self::Pending,
            "sending" => Self::Sending,
            "deferred" => Self::Deferred,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            other => return Err(DbError::Corrupt(format!("deliveries.status {other:?}"))),
        })
    }

    /// Whether the digest still has to go out.
    pub fn is_unfinished(self) -> bool {
        matches!(self, Self::Pending | Self::Sending | Self::Deferred)
    }
}

#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: DeliveryId,
    pub subscriber_id: SubscriberId,
    pub digest_date: NaiveDate,
    pub status: DeliveryStatus,
    pub message_id: String,
    pub paper_count: i64,
    pub more_count: i64,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub smtp_code: Option<i64>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When the digest was reserved; the retry horizon counts from here.
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// The result of reserving a (subscriber, date) digest.
#[derive(Debug, Clone)]
pub enum Reservation {
    /// Newly reserved with the given papers in the ledger.
    New(Delivery),
    /// A digest for this subscriber and date already exists (sent, or left
    /// unfinished by an earlier run).
    Existing(Delivery),
}

// What `delivery_pages` takes and returns.

/// One digest to reserve: the arguments of [`Store::reserve_delivery`].
#[derive(Debug, Clone)]
pub struct NewReservation {
    pub subscriber_id: SubscriberId,
    pub message_id: String,
    /// The papers in mail order, each with its topic position.
    pub papers: Vec<(PaperId, i64)>,
    pub more_count: i64,
}

/// What reserving one digest of a batch did.
#[derive(Debug, Clone)]
pub enum BatchReservation {
    /// Reserved; `kept[i]` says whether `papers[i]` is in this digest's
    /// ledger (false: another run put it in the subscriber's ledger first).
    New { delivery: Delivery, kept: Vec<bool> },
    /// A digest for this subscriber and date already exists; read it with
    /// [`Store::delivery_for`].
    Existing,
    /// Every paper was already in the ledger: nothing reserved.
    Nothing,
}

/// A claim to make: the delivery and the status and attempt count read.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRequest {
    pub id: DeliveryId,
    pub expected: DeliveryStatus,
    pub attempts: i64,
}

// What `subscribers` takes and returns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpsertOutcome {
    Created(SubscriberId),
    Updated(SubscriberId),
}

impl UpsertOutcome {
    pub fn id(self) -> SubscriberId {
        match self {
            Self::Created(id) | Self::Updated(id) => id,
        }
    }
}

// What `addresses` takes and returns.

/// What [`Store::fold_addresses`] changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AddressFold {
    /// Rows whose address was rewritten to its canonical form.
    pub rewritten: usize,
    /// Each group of rows that were one mailbox: the row kept and the rows
    /// deleted (with their topics and history) in its favour.
    pub merged: Vec<(SubscriberId, Vec<SubscriberId>)>,
    /// Rows left as stored because today's rules refuse the address; they
    /// read back as they are and can be removed by the operator.
    pub refused: usize,
}

impl AddressFold {
    pub fn is_empty(&self) -> bool {
        self.rewritten == 0 && self.merged.is_empty() && self.refused == 0
    }
}

impl std::fmt::Display for AddressFold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} address(es) rewritten to their canonical form, {} refused by the address rules and left as stored",
            self.rewritten, self.refused
        )?;
        for (kept, gone) in &self.merged {
            let gone: Vec<String> = gone.iter().map(|id| id.to_string()).collect();
            write!(
                f,
                "; subscriber {kept} kept, look-alike subscriber(s) {} merged into it",
                gone.join(", ")
            )?;
        }
        Ok(())
    }
}

// What `bounces` takes and returns.

/// A 4xx reply is a soft bounce, a 5xx reply a hard one; anything else
/// (no reply at all: refused connection, timeout) is not a bounce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BounceKind {
    Soft,
    Hard,
}

impl BounceKind {
    pub fn of(code: Option<u16>) -> Option<BounceKind> {
        match code? {
            400..=499 => Some(BounceKind::Soft),
            500..=599 => Some(BounceKind::Hard),
            _ => None,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BounceKind::Soft => "soft",
            BounceKind::Hard => "hard",
        }
    }
}

/// Bounces counted on one day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BounceCounts {
    pub hard: i64,
    pub soft: i64,
}

// What `maintenance` takes and returns.

/// What a finished backup wrote.
#[derive(Debug, Clone)]
pub struct BackupReport {
    pub path: PathBuf,
    pub bytes: u64,
}

// What `metrics` takes and returns.

/// One scrape's worth of counts.
#[derive(Debug, Clone, Default)]
pub struct MetricsSnapshot {
    /// Paper sightings per source (a paper seen by a source on a day).
    pub papers_by_source: Vec<(String, i64)>,
    /// Distinct papers stored.
    pub papers: i64,
    /// All deliveries ever, per status.
    pub deliveries_by_status: Vec<(String, i64)>,
    /// Subscribers per status.
    pub subscribers_by_status: Vec<(String, i64)>,
    /// Unsubscribes recorded on `today`.
    pub unsubscribes_today: i64,
    /// Bounces recorded on `today` (4xx soft, 5xx hard).
    pub bounces_today: super::BounceCounts,
    /// Per run kind: (kind, finished_at, outcome) of the last run.
    pub last_runs: Vec<(String, Option<DateTime<Utc>>, Option<String>)>,
}

// What `paper_listing` takes and returns.

/// The papers of a range of days in page order, and what the pages show
/// besides each paper: `about[i]` is about `papers[i]` (kept apart so the
/// papers can be matched as the slice the matcher takes).
#[derive(Debug, Clone, Default)]
pub struct PaperListing {
    pub papers: Vec<Paper>,
    pub about: Vec<ListedPaper>,
}

/// Where and when a listed paper was announced.
#[derive(Debug, Clone)]
pub struct ListedPaper {
    /// The first day in the range it was announced on.
    pub day: NaiveDate,
    /// Every source (by its configured name) that listed it in the range.
    pub sources: Vec<String>,
    /// When the stored paper last changed (a new version, new upvotes).
    pub updated_at: DateTime<Utc>,
}

/// Changes whenever a sighting is added or a stored paper changes: what a
/// cache of listings compares to know it is current. (Removing old papers
/// does not change it; a cached listing may show them until the next
/// fetch.)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListingGeneration {
    pub(crate) last_sighting: Option<i64>,
    pub(crate) last_update: Option<String>,
}

// What `papers` takes and returns.

/// What storing one source's fetch changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StoreReport {
    pub new_papers: usize,
    pub updated_papers: usize,
    pub new_sightings: usize,
}

// What `preferences` takes and returns.

/// What a subscribe request found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionRequest {
    pub subscriber_id: SubscriberId,
    pub link_version: i64,
    /// The status after the request: `Pending` when a confirmation is due,
    /// `Active` when the address was already confirmed (its topics are left
    /// alone: the form is not authenticated), `Suspended` when nothing may
    /// be sent.
    pub status: SubscriberStatus,
    /// Whether this request created the address's row (a new address):
    /// only then may choices outside the pending request be stored on it.
    pub created: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmOutcome {
    Confirmed,
    AlreadyActive,
    /// Unsubscribed, suspended, or the link version moved on.
    NotConfirmable,
    /// The subscribe form was submitted again since the confirm page was
    /// shown: nothing changed; show the page again.
    Changed,
}

/// Preferences the subscribe form submitted for an existing address,
/// waiting for the owner's confirmation ([`Store::confirm_subscriber`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// Counts up with each submission: the confirm page carries the one it
    /// showed, so the owner confirms what they saw and nothing later.
    pub revision: i64,
    pub topics: Vec<NewTopic>,
    pub preferences: Preferences,
}

// What `runs` takes and returns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Fetch,
    Digest,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Digest => "digest",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Run {
    pub id: i64,
    pub kind: String,
    pub target_date: NaiveDate,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `ok`, `partial` or `failed`; `None` while running (or if it crashed).
    pub outcome: Option<String>,
    pub summary: Option<String>,
}

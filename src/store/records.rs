//! The values the store takes and hands back, shared by both backends
//! (each backend module compiles the same queries against its own driver,
//! see [`super`]): grouped by the table family whose queries use them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::{DbError, DbResult};
use crate::domain::{
    DeliveryId, NewTopic, Paper, PaperId, Preferences, SubscriberEmail, SubscriberId,
    SubscriberStatus,
};
use crate::ranking::Mark;

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
    /// The process that reserved or claimed it last, and until when.
    pub held: Option<Hold>,
}

/// A process's hold on a delivery: its identity and the lease's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub owner: String,
    pub until: DateTime<Utc>,
}

impl Delivery {
    /// Whether another process than `me` holds the delivery at `now` (it
    /// reserved or claimed it, and its lease has not passed): that process
    /// sends it, and a run that meets it leaves it alone.
    pub fn held_elsewhere(&self, me: &str, now: DateTime<Utc>) -> bool {
        matches!(
            self.status,
            DeliveryStatus::Pending | DeliveryStatus::Sending
        ) && self
            .held
            .as_ref()
            .is_some_and(|h| h.owner != me && h.until > now)
    }
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
    /// Why a paper is there ("like ‘TITLE’, which you marked"), by its
    /// index in `papers`; missing entries have none.
    pub reasons: Vec<Option<String>>,
    pub more_count: i64,
}

/// What reserving one digest of a batch did.
#[derive(Debug, Clone)]
pub enum BatchReservation {
    /// Reserved; `kept[i]` says whether `papers[i]` is in this digest's
    /// ledger (false: another run put it in the subscriber's ledger first).
    New {
        delivery: Box<Delivery>,
        kept: Vec<bool>,
    },
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

/// A sending budget kept in the database (see `budgets.rs`): `capacity`
/// messages per `period`, under `scope`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub scope: String,
    pub capacity: u32,
    pub period: std::time::Duration,
}

/// What taking a scheduled job's slot found (see `slots.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotClaim {
    /// This process runs the slot.
    Taken,
    /// Another process runs it, under a lease that has not passed.
    Held,
    /// It ran.
    Finished,
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
    /// Late bounces and complaints of the last days, and the digests sent
    /// in them (set by the caller from [`Store::inbound_counts`]).
    pub late: super::InboundCounts,
    /// The same per UTC day, newest first (set by the caller from
    /// [`Store::inbound_counts_per_day`]).
    pub late_days: Vec<DailyInbound>,
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
    /// Its first sighting in the range, in the order sightings were
    /// stored: what orders papers with equal upvotes.
    pub seq: i64,
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

/// What one day's listing was read at: changes when a sighting on the
/// day is added or removed or a paper announced on it changes, so a
/// cached day is reused until then.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DayStamp {
    pub(crate) sightings: i64,
    pub(crate) last_sighting: Option<i64>,
    pub(crate) last_update: Option<String>,
}

// What `papers` takes and returns.

/// What storing one source's fetch changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoreReport {
    pub new_papers: usize,
    pub updated_papers: usize,
    pub new_sightings: usize,
    /// The papers stored new or changed: their features may have changed.
    pub changed: Vec<PaperId>,
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
    /// "Also send me the top papers of the day", ticked.
    pub top_papers: bool,
}

// What `runs` takes and returns.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Fetch,
    Digest,
    /// The daily retention job ([`crate::jobs::retention`]).
    Retention,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "fetch",
            Self::Digest => "digest",
            Self::Retention => "retention",
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

// What `marks` takes and returns.

/// One of a subscriber's marks, as the settings page lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct MarkedPaper {
    pub paper_id: PaperId,
    pub title: String,
    pub url: String,
    pub mark: Mark,
    pub marked_at: DateTime<Utc>,
}

/// A subscriber's switches: rank their digests by their marks, and add
/// the "Recommended for you" section. Both on unless they turned them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RankingSwitches {
    pub ranking: bool,
    pub recommendations: bool,
}

impl Default for RankingSwitches {
    fn default() -> Self {
        RankingSwitches {
            ranking: true,
            recommendations: true,
        }
    }
}

/// What a digest run needs of one subscriber with ranking on and at least
/// one mark.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingMarks {
    pub marks: Vec<(PaperId, Mark)>,
    pub recommendations: bool,
}

// What `inbound` takes and returns.

/// Who a report is about, as found in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InboundTarget {
    pub subscriber_id: SubscriberId,
    /// The digest the report is about, when known.
    pub delivery_id: Option<DeliveryId>,
}

/// What recording a report should do to its subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundEffect {
    /// Record only.
    None,
    /// A hard bounce that blames the address: suspend the subscriber when
    /// each of their last `suspend_after` digests drew one (0: never).
    CountHardBounce { suspend_after: u32 },
    /// Unsubscribe at once (a complaint, or an unsubscribe request whose
    /// token names this link version, when given).
    Unsubscribe { link_version: Option<i64> },
}

/// One report to record.
#[derive(Debug, Clone)]
pub struct NewInboundReport<'a> {
    /// `mail`, or the webhook provider's name.
    pub source: &'a str,
    /// `hard`, `soft`, `complaint`, `auto-reply`, `unsubscribe`,
    /// `delivered` or `unknown`.
    pub kind: &'a str,
    pub target: Option<InboundTarget>,
    /// How the target was found (a [`crate::inbound::DeliveryKey`] kind name).
    pub matched_by: Option<&'a str>,
    /// One log-safe line (never an address or a token).
    pub summary: &'a str,
}

/// What recording a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundAction {
    /// The subscriber was suspended by this hard bounce.
    Suspended,
    /// The subscriber was unsubscribed by this report.
    Unsubscribed,
    /// A hard bounce counted toward suspension.
    Counted,
    /// Recorded; the subscriber was already unsubscribed or suspended, or
    /// the report asks for nothing.
    Recorded,
    /// No delivery or subscriber matched: recorded without one.
    Unmatched,
}

impl InboundAction {
    pub fn as_str(self) -> &'static str {
        match self {
            InboundAction::Suspended => "suspended",
            InboundAction::Unsubscribed => "unsubscribed",
            InboundAction::Counted => "counted",
            InboundAction::Recorded => "recorded",
            InboundAction::Unmatched => "unmatched",
        }
    }
}

/// Reports per kind over a period, and the digests sent in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InboundCounts {
    pub hard: i64,
    pub soft: i64,
    pub complaints: i64,
    pub unsubscribe_requests: i64,
    pub unmatched: i64,
    /// Digests marked sent in the period: the denominator of the rates.
    pub digests_sent: i64,
}

/// The reports received on one UTC day and the digests sent that day: the
/// daily rates mailbox providers judge a sender by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyInbound {
    pub day: NaiveDate,
    pub counts: InboundCounts,
}

// What `erasure` takes and returns.

/// Every table holding rows about a subscriber, besides `subscribers`
/// itself, in the order they are erased (rows that reference others
/// first). A new such table is one more line here.
pub const PERSONAL_TABLES: &[PersonalTable] = &[
    PersonalTable {
        table: "topics",
        order_by: "position",
        on_erase: OnErase::Delete,
    },
    PersonalTable {
        table: "subscription_requests",
        order_by: "revision",
        on_erase: OnErase::Delete,
    },
    // The ledger: which papers went to the person (their interests).
    // "More like this" / "Less like this" marks.
    PersonalTable {
        table: "paper_marks",
        order_by: "paper_id",
        on_erase: OnErase::Delete,
    },
    // The profile learned from those marks (a blob, exported as hex).
    PersonalTable {
        table: "ranking_profiles",
        order_by: "subscriber_id",
        on_erase: OnErase::Delete,
    },
    PersonalTable {
        table: "sent_papers",
        order_by: "delivery_id, position",
        on_erase: OnErase::Delete,
    },
    PersonalTable {
        table: "bounces",
        order_by: "id",
        on_erase: OnErase::KeepForCounts { scrub: &[] },
    },
    // Late reports keep only a log-safe summary (no address, no token).
    PersonalTable {
        table: "inbound_reports",
        order_by: "id",
        on_erase: OnErase::KeepForCounts { scrub: &[] },
    },
    // A failed delivery's last_error is the mail server's reply, which
    // often quotes the address.
    PersonalTable {
        table: "deliveries",
        order_by: "digest_date, id",
        on_erase: OnErase::KeepForCounts {
            scrub: &["last_error"],
        },
    },
];

/// What erasure does with a table's rows about the person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnErase {
    /// Deleted.
    Delete,
    /// Kept for counts (no address, no text the person or their mail server
    /// wrote): these columns are set to NULL, and rows of digests not yet
    /// sent are deleted so nothing goes out.
    KeepForCounts { scrub: &'static [&'static str] },
}

/// A table with rows about one subscriber, keyed by `subscriber_id`.
#[derive(Debug, Clone, Copy)]
pub struct PersonalTable {
    /// The table's name, also the key of its rows in the export.
    pub table: &'static str,
    /// Its rows' order in the export.
    pub order_by: &'static str,
    pub on_erase: OnErase,
}

/// Everything stored about one person.
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalData {
    pub subscriber_id: SubscriberId,
    /// The subscriber's own row, every column.
    pub subscriber: Map<String, Value>,
    /// Each [`PERSONAL_TABLES`] table's rows about them, by table name.
    pub tables: BTreeMap<&'static str, Vec<Map<String, Value>>>,
}

impl PersonalData {
    /// One JSON document: `{"subscriber": {...}, "topics": [...], ...}`.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("subscriber".into(), Value::Object(self.subscriber.clone()));
        for (table, rows) in &self.tables {
            out.insert(
                (*table).into(),
                Value::Array(rows.iter().cloned().map(Value::Object).collect()),
            );
        }
        Value::Object(out)
    }
}

/// What an erasure removed, and what it kept without the address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erasure {
    /// Rows deleted, by table.
    pub deleted: BTreeMap<&'static str, u64>,
    /// Rows kept for counts (scrubbed), by table.
    pub kept: BTreeMap<&'static str, u64>,
}

impl Erasure {
    pub fn deleted_rows(&self) -> u64 {
        self.deleted.values().sum()
    }
}

impl std::fmt::Display for Erasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |m: &BTreeMap<&'static str, u64>| {
            m.iter()
                .map(|(t, n)| format!("{n} {t}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "erased the address and preferences; deleted {}",
            list(&self.deleted)
        )?;
        if self.kept.values().any(|&n| n > 0) {
            write!(
                f,
                "; kept without the address, for counts: {}",
                list(&self.kept)
            )?;
        }
        Ok(())
    }
}

// What `retention` takes and returns.

/// The instants and day before which the sweeps remove data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionCutoffs {
    /// Unsubscribed before this: erased.
    pub unsubscribed_before: DateTime<Utc>,
    /// Never confirmed, and last asked for before this: deleted.
    pub unconfirmed_before: DateTime<Utc>,
    /// Digests dated before this day: deleted with their ledger rows and
    /// bounces.
    pub deliveries_before: NaiveDate,
    /// Document frequencies of days before this: deleted (outside the
    /// window ranking sums).
    pub df_days_before: NaiveDate,
}

/// What one retention run removed, as counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Unsubscribed people whose address and data were erased.
    pub erased: u64,
    /// Addresses that never confirmed, deleted.
    pub unconfirmed: u64,
    /// Subscription requests never confirmed, deleted.
    pub requests: u64,
    /// Delivery records deleted.
    pub deliveries: u64,
    /// Ledger rows (papers sent) deleted with them.
    pub ledger: u64,
    /// Bounce records deleted with them.
    pub bounces: u64,
    /// Days of document frequencies deleted, older than ranking's window.
    pub df_days: u64,
}

impl std::fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "erased {} unsubscribed; deleted {} unconfirmed addresses and {} unconfirmed requests; pruned {} deliveries ({} ledger rows, {} bounces) and {} days of document frequencies",
            self.erased, self.unconfirmed, self.requests, self.deliveries, self.ledger, self.bounces, self.df_days
        )
    }
}

// What `ranking` (the store's) takes and returns.

/// One day's stored document frequencies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DfDay {
    pub day: NaiveDate,
    /// Goes up each time the day is rewritten.
    pub revision: i64,
    /// `crate::ranking::DayDf::encode`'s blob.
    pub blob: Vec<u8>,
}

/// A subscriber's mark as a profile is built from it: the paper, the mark
/// and the paper's stored vector blob (`None`: it has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkVector {
    pub paper: PaperId,
    pub mark: Mark,
    pub vector: Option<Vec<u8>>,
}

/// Builds a subscriber's profile blob from all their marks (in paper id
/// order); `None` when they have none it can use. Called inside the
/// transaction that records or removes a mark, so the stored profile
/// always follows the marks.
pub type ProfileBuilder = dyn Fn(&[MarkVector]) -> Option<Vec<u8>> + Send + Sync;

/// One subscriber of `subscribers import`: their address and topics, and
/// (when the line carries marks) the marks that replace theirs, as indexes
/// into the import's [`ImportBatch::papers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedSubscriber {
    pub email: SubscriberEmail,
    pub topics: Vec<NewTopic>,
    pub marks: Option<Vec<(u32, Mark)>>,
    /// When given, their choices replace the subscriber's.
    pub choices: Option<Choices>,
}

/// What a subscriber chose beside their topics: when they get digests,
/// the top papers section, and the ranking switches. The default is what
/// a new subscriber gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Choices {
    pub preferences: Preferences,
    pub top_papers: bool,
    pub switches: RankingSwitches,
}

/// A whole import: its subscribers and the distinct papers their marks
/// name (each paper once, so a million readers' marks share the ids).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportBatch {
    pub subscribers: Vec<ImportedSubscriber>,
    pub papers: Vec<PaperId>,
}

/// Builds the profile blob of one imported subscriber's marks (indexes
/// into [`ImportBatch::papers`], in the import's order); `None` when none
/// of their papers has a vector it can use. Called as the import writes
/// each subscriber, so the profiles never all sit in memory at once.
pub type ImportProfileBuilder = dyn Fn(&[(u32, Mark)]) -> Option<Vec<u8>> + Send + Sync;

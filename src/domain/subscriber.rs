//! A subscriber: their address, where they are in the double opt-in
//! lifecycle, and their named topic queries.

use chrono::{DateTime, Utc};

use super::{SubscriberEmail, SubscriberId};

/// Where a subscriber is in their lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberStatus {
    /// Signed up, not yet confirmed (double opt-in).
    Pending,
    Active,
    Unsubscribed,
    /// Stopped by the system (e.g. repeated hard bounces).
    Suspended,
}

impl SubscriberStatus {
    /// Every status.
    pub const ALL: [SubscriberStatus; 4] = [
        Self::Active,
        Self::Pending,
        Self::Suspended,
        Self::Unsubscribed,
    ];

    /// The status's name, as stored and shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Unsubscribed => "unsubscribed",
            Self::Suspended => "suspended",
        }
    }

    /// The status named `name` (see [`SubscriberStatus::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A topic as stored: its query text was validated by the filter language
/// before it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// Its place among the subscriber's topics (digests list them in this
    /// order).
    pub position: i64,
    pub name: String,
    pub query: String,
}

/// A topic to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub query: String,
}

/// A subscriber with their topics, in order.
#[derive(Debug, Clone)]
pub struct Subscriber {
    pub id: SubscriberId,
    pub email: SubscriberEmail,
    pub status: SubscriberStatus,
    /// Bumped by "revoke all old links": only links signed at the current
    /// version are honoured.
    pub link_version: i64,
    pub created_at: DateTime<Utc>,
    pub topics: Vec<Topic>,
    /// Asked for the top papers of the day after their topics. A subscriber
    /// with no topics gets them anyway: see [`Subscriber::wants_top_papers`].
    pub top_papers: bool,
}

/// The topic position the top papers of the day are listed (and recorded
/// in the ledger) under: before every real topic's, which start at 0.
pub const TOP_PAPERS_POSITION: i64 = -1;

/// The topic position the "Recommended for you" papers (from the
/// subscriber's "more like this" marks) are listed and recorded under.
pub const RECOMMENDED_POSITION: i64 = -2;

impl Subscriber {
    /// Whether their digest has the top papers section: they asked for it,
    /// or they have no topics (the trending digest).
    pub fn wants_top_papers(&self) -> bool {
        self.top_papers || self.topics.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_reads_back_from_its_name_and_nothing_else_does() {
        for s in SubscriberStatus::ALL {
            assert_eq!(SubscriberStatus::from_name(s.as_str()), Some(s));
        }
        assert_eq!(SubscriberStatus::from_name("Active"), None);
        assert_eq!(SubscriberStatus::from_name(""), None);
    }
}

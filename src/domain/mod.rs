//! Domain types, parsed once at the edge ("parse, don't validate").
//!
//! Everything downstream of an entry point (form, CLI argument, API payload,
//! config value) takes these types rather than raw strings. This module holds
//! no I/O.

mod arxiv_id;
mod cron;
mod email;
mod ids;
pub mod invisible;
mod ip_range;
mod paper;
mod preferences;
mod subscriber;

pub use arxiv_id::{ArxivId, ArxivIdError};
pub use cron::Cron;
pub use email::{EmailError, SubscriberEmail};
pub use ids::{DeliveryId, SubscriberId};
pub use ip_range::IpRange;
pub use paper::{
    normalise_inline, normalise_paragraphs, AnnounceType, FetchedPaper, Paper, PaperId,
    PaperIdError,
};
pub use preferences::{Frequency, Preferences};
pub use subscriber::{
    NewTopic, Subscriber, SubscriberStatus, Topic, RECOMMENDED_POSITION, TOP_PAPERS_POSITION,
};

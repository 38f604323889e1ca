//! What a subscriber chose about *when* they get digests: how often, at
//! which local hour, in which timezone, and whether to pause.

use chrono::NaiveDate;

/// How often a subscriber gets a digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    Daily,
    /// Once a week on this weekday.
    Weekly(chrono::Weekday),
}

/// A subscriber's delivery choices (from the subscribe form or the manage
/// page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preferences {
    pub frequency: Frequency,
    /// Local hour 0..=23 in `timezone`; `None`: the operator's default hour.
    pub delivery_hour: Option<u32>,
    /// `None`: the operator's timezone.
    pub timezone: Option<chrono_tz::Tz>,
    /// No digest on days before this one.
    pub paused_until: Option<NaiveDate>,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            frequency: Frequency::Daily,
            delivery_hour: None,
            timezone: None,
            paused_until: None,
        }
    }
}

//! Which days a source is expected to announce papers, so an empty answer
//! on such a day is reported to the operator instead of passing as a quiet
//! day. It owns only the calendar; it must not fetch or log.
//!
//! - Hugging Face Daily Papers lists papers on weekdays; its weekend days
//!   come back empty (`[]`), like its own daily email, which skips weekends.
//! - arXiv announces Monday to Friday, except on its published holidays
//!   (<https://info.arxiv.org/help/availability.html>): 1 January,
//!   19 June, 4 July, US Thanksgiving (the fourth Thursday of November) and
//!   24, 25 and 31 December. The list changes a little from year to year;
//!   a day missing from it only costs a spurious warning.
//! - bioRxiv and medRxiv post every day, fewer at weekends: expected on
//!   weekdays only, so a quiet Sunday raises no warning.
//! - A generic feed has no known schedule: never expected.

use chrono::{Datelike, NaiveDate, Weekday};

use super::SourceKind;

/// Whether `kind` normally announces papers dated `date`.
pub fn expects_announcement(kind: SourceKind, date: NaiveDate) -> bool {
    match kind {
        SourceKind::HfDailyPapers | SourceKind::Biorxiv => {
            !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        }
        SourceKind::ArxivRss | SourceKind::ArxivApi => {
            !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_arxiv_holiday(date)
        }
        SourceKind::Feed => false,
    }
}

fn is_arxiv_holiday(date: NaiveDate) -> bool {
    let fixed = matches!(
        (date.month(), date.day()),
        (1, 1) | (6, 19) | (7, 4) | (12, 24) | (12, 25) | (12, 31)
    );
    let thanksgiving =
        date.month() == 11 && date.weekday() == Weekday::Thu && (22..=28).contains(&date.day());
    fixed || thanksgiving
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn arxiv_is_expected_on_ordinary_weekdays_only() {
        assert!(expects_announcement(SourceKind::ArxivRss, d("2026-06-12")));
        assert!(expects_announcement(SourceKind::ArxivApi, d("2026-06-15")));
        assert!(!expects_announcement(SourceKind::ArxivRss, d("2026-06-13")));
        assert!(!expects_announcement(SourceKind::ArxivApi, d("2026-06-14")));
    }

    #[test]
    fn arxiv_holidays_are_not_expected_to_announce() {
        for day in [
            "2026-01-01",
            "2026-06-19",
            "2026-07-04",
            "2026-12-24",
            "2026-12-25",
            "2026-12-31",
        ] {
            assert!(is_arxiv_holiday(d(day)), "{day}");
        }
        assert!(
            !expects_announcement(SourceKind::ArxivRss, d("2026-11-26")),
            "Thanksgiving 2026"
        );
        assert!(
            expects_announcement(SourceKind::ArxivRss, d("2026-11-19")),
            "a week before"
        );
        assert!(
            expects_announcement(SourceKind::ArxivRss, d("2026-11-27")),
            "the day after"
        );
    }

    #[test]
    fn hugging_face_is_expected_on_weekdays_and_a_feed_never() {
        assert!(expects_announcement(
            SourceKind::HfDailyPapers,
            d("2026-06-12")
        ));
        assert!(!expects_announcement(
            SourceKind::HfDailyPapers,
            d("2026-06-13")
        ));
        assert!(!expects_announcement(SourceKind::Feed, d("2026-06-12")));
    }
}

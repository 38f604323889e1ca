//! Who is due which digest at an instant. Pure: no I/O and no clock; the
//! instants are arguments, so the rules are unit- and property-tested here.
//!
//! # The digest date
//! A subscriber's digest date is their **local** date: the calendar day in
//! their timezone (the operator's `[schedule] timezone` when they chose
//! none). The digest for date `D` becomes due at their *delivery instant*
//! on `D`: `D` at their delivery hour (the operator's
//! `[schedule] default_hour` when they chose none), local time.
//!
//! So at one instant two subscribers can be on different dates: at
//! 2026-06-12T18:00Z a subscriber in UTC-10 (`Pacific/Honolulu`) is at
//! 08:00 on 06-12 and one in UTC+13 (`Pacific/Tongatapu`) at 07:00 on
//! 06-13. With hour 7, the first got the digest for **06-12** at 17:00Z and
//! the second gets the one for **06-13** at 18:00Z. A digest for `D`
//! carries the papers announced up to `D` (back `lookback_days`, or a week
//! for weekly subscribers) that the subscriber was never sent: papers are
//! stored under their announcement day, and the per-subscriber ledger
//! keeps a paper out of every later digest, whatever the dates.
//!
//! # Ticks
//! The daemon ticks (hourly by default). A tick at instant `T` that
//! follows a tick at `P` sends the digests whose delivery instant lies in
//! `(P, T]`: each instant falls in exactly one window, so each digest is
//! planned once, and one missed while the daemon was down (or across its
//! local midnight) is sent late by the next tick instead of skipped. Only
//! the subscriber's local date at `T` and the day before are considered, so
//! a long outage catches up at most one missed day. The first tick ever
//! (`P` unknown) sends the local date at `T` when its instant has passed.
//! A subscriber who confirms, or moves their hour, to a time already past
//! today starts with tomorrow's digest (`paperboy digest --date D` sends
//! `D`'s at once to everyone due on `D`, whatever their hour; the
//! reservation per subscriber and date keeps the two paths from sending
//! one digest twice).
//!
//! # DST
//! A local hour that does not exist on a DST day (America/New_York,
//! 02:00 on the spring-forward Sunday) becomes the first instant after the
//! gap (03:00); an hour that happens twice (01:00 on the fall-back Sunday)
//! is its first occurrence. Every date has exactly one delivery instant,
//! so every date has exactly one digest.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike as _, Duration, LocalResult, NaiveDate, TimeZone as _, Utc};
use chrono_tz::Tz;

use crate::domain::{Frequency, Preferences};

/// The operator's defaults for subscribers who chose no hour or timezone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defaults {
    pub timezone: Tz,
    /// Local hour 0..=23.
    pub hour: u32,
}

impl Defaults {
    pub fn of(schedule: &crate::settings::ScheduleSettings) -> Self {
        Defaults {
            timezone: schedule.timezone,
            hour: schedule.default_hour,
        }
    }
}

/// How a digest run selects subscribers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum When {
    /// `paperboy digest --date D`: everyone due on `D`, whatever their hour.
    #[default]
    Manual,
    /// A scheduler tick at `now`, following one at `since` (`None`: the
    /// first tick ever): those whose delivery instant is in `(since, now]`.
    Tick {
        since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    },
}

/// `date` at `hour` local time in `tz`, as an instant: the first instant
/// after the gap when that hour does not exist, the first occurrence when
/// it happens twice.
pub fn delivery_instant(date: NaiveDate, hour: u32, tz: Tz) -> DateTime<Utc> {
    let hour = hour.min(23);
    let mut local = date.and_hms_opt(hour, 0, 0).expect("hour is at most 23");
    // Gaps are at most a few hours in any real zone; the bound only keeps a
    // corrupt tz database from looping forever.
    for _ in 0..(4 * 24) {
        match tz.from_local_datetime(&local) {
            LocalResult::Single(t) => return t.with_timezone(&Utc),
            LocalResult::Ambiguous(first, _) => return first.with_timezone(&Utc),
            LocalResult::None => local += Duration::minutes(15),
        }
    }
    Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0).expect("hour is at most 23"))
}

/// Whether a subscriber gets a digest dated `date` at all: not paused
/// through it, and for a weekly subscriber, `date` is their weekday.
pub fn due_on_date(prefs: &Preferences, date: NaiveDate) -> bool {
    if prefs.paused_until.is_some_and(|until| until > date) {
        return false;
    }
    match prefs.frequency {
        Frequency::Daily => true,
        Frequency::Weekly(day) => date.weekday() == day,
    }
}

fn zone(prefs: &Preferences, defaults: Defaults) -> Tz {
    prefs.timezone.unwrap_or(defaults.timezone)
}

fn hour(prefs: &Preferences, defaults: Defaults) -> u32 {
    prefs.delivery_hour.unwrap_or(defaults.hour)
}

/// Whether the digest dated `date` goes to this subscriber in a run
/// selecting by `when` (see the module doc).
pub fn is_due(prefs: &Preferences, defaults: Defaults, date: NaiveDate, when: When) -> bool {
    if !due_on_date(prefs, date) {
        return false;
    }
    let When::Tick { since, now } = when else {
        return true;
    };
    let tz = zone(prefs, defaults);
    let local_today = now.with_timezone(&tz).date_naive();
    let at = delivery_instant(date, hour(prefs, defaults), tz);
    if at > now {
        return false;
    }
    match since {
        None => date == local_today,
        Some(since) => at > since && (date == local_today || Some(date) == local_today.pred_opt()),
    }
}

/// The dates [`is_due`] can accept for a tick at `now` for subscribers in
/// `zones`: each zone's local date and the day before, ascending.
pub fn candidate_dates(zones: impl IntoIterator<Item = Tz>, now: DateTime<Utc>) -> Vec<NaiveDate> {
    let mut dates = BTreeSet::new();
    for tz in zones {
        let today = now.with_timezone(&tz).date_naive();
        dates.insert(today);
        if let Some(before) = today.pred_opt() {
            dates.insert(before);
        }
    }
    dates.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    const UTC7: Defaults = Defaults {
        timezone: Tz::UTC,
        hour: 7,
    };

    fn prefs(hour: Option<u32>, tz: Option<Tz>) -> Preferences {
        Preferences {
            delivery_hour: hour,
            timezone: tz,
            ..Preferences::default()
        }
    }

    fn tick(since: &str, now: &str) -> When {
        When::Tick {
            since: Some(at(since)),
            now: at(now),
        }
    }

    #[test]
    fn a_subscriber_is_due_in_the_tick_whose_window_holds_their_hour() {
        let p = prefs(Some(9), Some(chrono_tz::Europe::Berlin)); // 09:00 CEST = 07:00Z
        let day = d("2026-06-12");
        assert!(!is_due(
            &p,
            UTC7,
            day,
            tick("2026-06-12T05:00:00Z", "2026-06-12T06:00:00Z")
        ));
        assert!(is_due(
            &p,
            UTC7,
            day,
            tick("2026-06-12T06:00:00Z", "2026-06-12T07:00:00Z")
        ));
        assert!(!is_due(
            &p,
            UTC7,
            day,
            tick("2026-06-12T07:00:00Z", "2026-06-12T08:00:00Z")
        ));
    }

    #[test]
    fn no_hour_or_timezone_means_the_operators_defaults() {
        let defaults = Defaults {
            timezone: chrono_tz::Asia::Tokyo,
            hour: 8,
        };
        // 08:00 in Tokyo is 23:00Z the day before.
        let w = tick("2026-06-11T22:30:00Z", "2026-06-11T23:00:00Z");
        assert!(is_due(&prefs(None, None), defaults, d("2026-06-12"), w));
        assert!(!is_due(&prefs(Some(9), None), defaults, d("2026-06-12"), w));
    }

    #[test]
    fn subscribers_far_west_and_far_east_are_on_different_digest_dates() {
        let honolulu = prefs(Some(7), Some(chrono_tz::Pacific::Honolulu)); // UTC-10
        let tonga = prefs(Some(7), Some(chrono_tz::Pacific::Tongatapu)); // UTC+13
        assert_eq!(
            delivery_instant(d("2026-06-12"), 7, chrono_tz::Pacific::Honolulu),
            at("2026-06-12T17:00:00Z")
        );
        assert_eq!(
            delivery_instant(d("2026-06-13"), 7, chrono_tz::Pacific::Tongatapu),
            at("2026-06-12T18:00:00Z")
        );
        let w = tick("2026-06-12T17:30:00Z", "2026-06-12T18:00:00Z");
        assert!(is_due(&tonga, UTC7, d("2026-06-13"), w));
        assert!(!is_due(&tonga, UTC7, d("2026-06-12"), w));
        assert!(
            !is_due(&honolulu, UTC7, d("2026-06-12"), w),
            "was due at 17:00Z"
        );
        assert_eq!(
            candidate_dates(
                [chrono_tz::Pacific::Honolulu, chrono_tz::Pacific::Tongatapu],
                at("2026-06-12T18:00:00Z")
            ),
            vec![d("2026-06-11"), d("2026-06-12"), d("2026-06-13")]
        );
    }

    #[test]
    fn a_spring_forward_hour_that_does_not_exist_is_the_first_instant_after_the_gap() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00Z).
        assert_eq!(
            delivery_instant(d("2026-03-08"), 2, ny),
            at("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            delivery_instant(d("2026-03-08"), 3, ny),
            at("2026-03-08T07:00:00Z")
        );
        assert_eq!(
            delivery_instant(d("2026-03-07"), 2, ny),
            at("2026-03-07T07:00:00Z")
        );
        assert_eq!(
            delivery_instant(d("2026-03-09"), 2, ny),
            at("2026-03-09T06:00:00Z")
        );
        let p = prefs(Some(2), Some(ny));
        let hourly = hourly_ticks(at("2026-03-07T00:00:00Z"), 72);
        assert_eq!(
            dates_sent(&p, &hourly),
            vec![d("2026-03-07"), d("2026-03-08"), d("2026-03-09")]
        );
    }

    #[test]
    fn a_fall_back_hour_that_happens_twice_gives_one_digest_at_its_first_occurrence() {
        let ny = chrono_tz::America::New_York;
        // 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:00 happens twice.
        assert_eq!(
            delivery_instant(d("2026-11-01"), 1, ny),
            at("2026-11-01T05:00:00Z")
        );
        let p = prefs(Some(1), Some(ny));
        let hourly = hourly_ticks(at("2026-10-31T00:00:00Z"), 72);
        assert_eq!(
            dates_sent(&p, &hourly),
            vec![d("2026-10-31"), d("2026-11-01"), d("2026-11-02")]
        );
    }

    #[test]
    fn a_digest_missed_while_down_is_sent_by_the_next_tick_even_after_midnight() {
        let p = prefs(Some(23), None);
        // Last tick at 22:00, down until 01:30 the next day.
        let w = tick("2026-06-12T22:00:00Z", "2026-06-13T01:30:00Z");
        assert!(is_due(&p, UTC7, d("2026-06-12"), w));
        assert!(!is_due(&p, UTC7, d("2026-06-13"), w));
        // Down for days: only the day before is caught up.
        let w = tick("2026-06-09T22:00:00Z", "2026-06-13T01:30:00Z");
        assert!(is_due(&p, UTC7, d("2026-06-12"), w));
        assert!(!is_due(&p, UTC7, d("2026-06-11"), w));
    }

    #[test]
    fn the_first_tick_ever_sends_today_once_its_hour_has_passed() {
        let p = prefs(Some(7), None);
        let first = |now| When::Tick {
            since: None,
            now: at(now),
        };
        assert!(!is_due(
            &p,
            UTC7,
            d("2026-06-12"),
            first("2026-06-12T06:00:00Z")
        ));
        assert!(is_due(
            &p,
            UTC7,
            d("2026-06-12"),
            first("2026-06-12T10:00:00Z")
        ));
        assert!(!is_due(
            &p,
            UTC7,
            d("2026-06-11"),
            first("2026-06-12T10:00:00Z")
        ));
    }

    #[test]
    fn a_manual_run_ignores_the_hour_but_not_pauses_or_weekdays() {
        let mut p = prefs(Some(23), None);
        assert!(is_due(&p, UTC7, d("2026-06-12"), When::Manual));
        p.frequency = Frequency::Weekly(chrono::Weekday::Mon);
        assert!(!is_due(&p, UTC7, d("2026-06-12"), When::Manual), "a Friday");
        assert!(is_due(&p, UTC7, d("2026-06-15"), When::Manual));
        p.paused_until = Some(d("2026-06-16"));
        assert!(!is_due(&p, UTC7, d("2026-06-15"), When::Manual));
        assert!(!is_due(
            &p,
            UTC7,
            d("2026-06-15"),
            tick("2026-06-15T22:00:00Z", "2026-06-15T23:00:00Z")
        ));
    }

    fn hourly_ticks(start: DateTime<Utc>, n: i64) -> Vec<DateTime<Utc>> {
        (0..=n).map(|i| start + Duration::hours(i)).collect()
    }

    /// Every date sent by consecutive ticks at `ticks` (the first one only
    /// marks the start), in order, with repeats kept.
    fn dates_sent(p: &Preferences, ticks: &[DateTime<Utc>]) -> Vec<NaiveDate> {
        let mut out = Vec::new();
        for w in ticks.windows(2) {
            let zones = [zone(p, UTC7)];
            for date in candidate_dates(zones, w[1]) {
                if is_due(
                    p,
                    UTC7,
                    date,
                    When::Tick {
                        since: Some(w[0]),
                        now: w[1],
                    },
                ) {
                    out.push(date);
                }
            }
        }
        out
    }

    const ZONES: [Tz; 8] = [
        Tz::UTC,
        chrono_tz::America::New_York,
        chrono_tz::Europe::Berlin,
        chrono_tz::Pacific::Honolulu,
        chrono_tz::Pacific::Tongatapu,
        chrono_tz::Asia::Kolkata,
        chrono_tz::Australia::Lord_Howe,
        chrono_tz::America::St_Johns,
    ];

    proptest! {
        /// Whatever the zone, hour and (irregular) tick times, consecutive
        /// ticks send each date between the first and last tick exactly
        /// once, in order, as long as no gap between ticks exceeds a day.
        #[test]
        fn consecutive_ticks_send_every_date_exactly_once(
            zone_i in 0..ZONES.len(),
            hour in 0u32..24,
            start in 1_767_225_600i64..1_798_761_600, // 2026
            gaps in proptest::collection::vec(1i64..=24 * 60, 1..120),
        ) {
            let tz = ZONES[zone_i];
            let p = prefs(Some(hour), Some(tz));
            let mut ticks = vec![DateTime::from_timestamp(start, 0).unwrap()];
            for g in gaps {
                let last = *ticks.last().unwrap();
                ticks.push(last + Duration::minutes(g));
            }
            let sent = dates_sent(&p, &ticks);
            let (first, last) = (ticks[0], *ticks.last().unwrap());
            let mut expected = Vec::new();
            let mut day = first.with_timezone(&tz).date_naive() - Duration::days(1);
            while day <= last.with_timezone(&tz).date_naive() {
                let instant = delivery_instant(day, hour, tz);
                if instant > first && instant <= last {
                    expected.push(day);
                }
                day += Duration::days(1);
            }
            prop_assert_eq!(sent, expected);
        }

        /// The delivery instant is in the right local date, at or after the
        /// chosen hour, and increases with the date.
        #[test]
        fn delivery_instants_are_on_their_date_and_increase(
            zone_i in 0..ZONES.len(),
            hour in 0u32..24,
            days in 0i64..3000,
        ) {
            let tz = ZONES[zone_i];
            let date = d("2024-01-01") + Duration::days(days);
            let t = delivery_instant(date, hour, tz);
            let local = t.with_timezone(&tz).naive_local();
            prop_assert!(local >= date.and_hms_opt(hour, 0, 0).unwrap());
            prop_assert!(local.date() == date || hour == 23);
            prop_assert!(delivery_instant(date + Duration::days(1), hour, tz) > t);
        }
    }
}

//! A cron schedule from the configuration, parsed once when the settings
//! are loaded; the scheduler and the catch-up at start read the same value.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

/// A cron expression with optional seconds (`0 30 1 * * *` or `30 1 * * *`),
/// as written and as parsed.
#[derive(Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Cron {
    expr: String,
    parsed: croner::Cron,
}

impl Cron {
    /// Parses `expr`, saying what is wrong with it.
    pub fn parse(expr: &str) -> Result<Cron, String> {
        croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Optional)
            .build()
            .parse(expr)
            .map(|parsed| Cron {
                expr: expr.to_string(),
                parsed,
            })
            .map_err(|e| format!("{expr:?} is not a valid cron expression: {e}"))
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.expr
    }

    /// The latest time at or before `now` that this schedules, read in
    /// `tz`, looking back at most two days; `None` when nothing was due in
    /// that time.
    pub fn last_at_or_before(&self, tz: Tz, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = now.with_timezone(&tz);
        let mut at = now - Duration::days(2);
        let mut last = None;
        // A bound, for schedules that fire every second.
        for _ in 0..200_000 {
            match self.parsed.find_next_occurrence(&at, false) {
                Ok(next) if next <= now => {
                    last = Some(next.with_timezone(&Utc));
                    at = next;
                }
                _ => break,
            }
        }
        last
    }
}

impl TryFrom<String> for Cron {
    type Error = String;

    fn try_from(expr: String) -> Result<Self, String> {
        Cron::parse(&expr)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.expr)
    }
}

impl PartialEq for Cron {
    fn eq(&self, other: &Self) -> bool {
        self.expr == other.expr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn seconds_are_optional_and_a_bad_expression_is_named() {
        assert_eq!(
            Cron::parse("0 30 1 * * *").unwrap().as_str(),
            "0 30 1 * * *"
        );
        assert!(Cron::parse("30 1 * * *").is_ok());
        let e = Cron::parse("every day").unwrap_err();
        assert!(e.contains("\"every day\"") && e.contains("cron"), "{e}");
    }

    #[test]
    fn the_last_time_due_is_at_or_before_now_and_read_in_the_timezone() {
        let daily_7 = Cron::parse("0 0 7 * * *").unwrap();
        assert_eq!(
            daily_7.last_at_or_before(Tz::UTC, at("2026-06-12T07:00:00Z")),
            Some(at("2026-06-12T07:00:00Z"))
        );
        assert_eq!(
            daily_7.last_at_or_before(Tz::UTC, at("2026-06-12T06:59:59Z")),
            Some(at("2026-06-11T07:00:00Z"))
        );
        let tokyo: Tz = "Asia/Tokyo".parse().unwrap();
        assert_eq!(
            daily_7.last_at_or_before(tokyo, at("2026-06-11T23:00:00Z")),
            Some(at("2026-06-11T22:00:00Z"))
        );
        // Mondays only; 2026-06-12 is a Friday: nothing in two days.
        let mondays = Cron::parse("0 0 7 * * MON").unwrap();
        assert_eq!(
            mondays.last_at_or_before(Tz::UTC, at("2026-06-12T09:00:00Z")),
            None
        );
    }
}

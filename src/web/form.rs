//! The fields the subscribe and manage forms share, each parsed into its
//! domain type or a message for the person filling the form in.

use axum::extract::rejection::FormRejection;
use axum::http::StatusCode;
use chrono::Weekday;

use super::error::WebError;
use crate::digest::likes::LikeLookup;
use crate::domain::{Frequency, NewTopic};
use crate::matching::Query;

/// Most topics one subscriber may have.
pub const MAX_TOPICS: usize = 20;

/// Each weekday's form value, its label and its day.
pub(super) const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "Monday", Weekday::Mon),
    ("tue", "Tuesday", Weekday::Tue),
    ("wed", "Wednesday", Weekday::Wed),
    ("thu", "Thursday", Weekday::Thu),
    ("fri", "Friday", Weekday::Fri),
    ("sat", "Saturday", Weekday::Sat),
    ("sun", "Sunday", Weekday::Sun),
];

/// One option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One query per non-blank line, each parsed by the filter language; every
/// mistake is reported with its line. No topics at all is a choice too:
/// the trending digest, the day's most upvoted papers.
pub fn parse_topics(text: &str) -> Result<Vec<NewTopic>, Vec<String>> {
    let mut topics = Vec::new();
    let mut errors = Vec::new();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.len() > MAX_TOPICS {
        return Err(vec![format!(
            "At most {MAX_TOPICS} topics, one per line; there are {}.",
            lines.len()
        )]);
    }
    for (n, line) in lines {
        match Query::parse(line) {
            Ok(_) => topics.push(NewTopic {
                name: line.to_string(),
                query: line.to_string(),
            }),
            Err(e) => errors.push(format!("Line {n} ({line}): {e}")),
        }
    }
    if errors.is_empty() {
        Ok(topics)
    } else {
        Err(errors)
    }
}

/// The mistakes `parse_topics` cannot see: a `like:` naming a paper that
/// is neither stored nor known to arXiv, with its line and column.
pub async fn check_likes(likes: &LikeLookup, text: &str) -> Vec<String> {
    let mut errors = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Err(e) = likes.check(line, chrono::Utc::now()).await {
            errors.push(format!("Line {} ({line}): {e}", n + 1));
        }
    }
    errors
}

/// A form axum could not read (too large, wrong content type), as a 4xx
/// page.
pub fn form_rejection(r: FormRejection) -> WebError {
    let status = r.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "The form is too large.".to_string()
    } else {
        "The form could not be read; please submit it from the page.".to_string()
    };
    WebError::BadRequest(status, message)
}

pub(super) fn parse_frequency(frequency: &str, weekday: &str) -> Result<Frequency, String> {
    match frequency {
        "daily" => Ok(Frequency::Daily),
        "weekly" => WEEKDAYS
            .iter()
            .find(|w| w.0 == weekday)
            .map(|w| Frequency::Weekly(w.2))
            .ok_or_else(|| "Choose the weekday for a weekly digest.".to_string()),
        _ => Err("Choose daily or weekly.".into()),
    }
}

pub(super) fn parse_hour(hour: &str) -> Result<Option<u32>, String> {
    let hour = hour.trim();
    if hour.is_empty() {
        return Ok(None);
    }
    match hour.parse::<u32>() {
        Ok(h) if h < 24 => Ok(Some(h)),
        _ => Err("The delivery hour is a whole hour from 0 to 23.".into()),
    }
}

pub(super) fn parse_timezone(tz: &str) -> Result<Option<chrono_tz::Tz>, String> {
    let tz = tz.trim();
    if tz.is_empty() {
        return Ok(None);
    }
    tz.parse::<chrono_tz::Tz>().map(Some).map_err(|_| {
        format!("Unknown timezone {tz:?}: use a name like Europe/Berlin or America/New_York.")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_one_query_per_line_and_mistakes_name_their_line() {
        let ok = parse_topics("diffusion\n\n  cat:cs.LG  \r\n").unwrap();
        assert_eq!(
            ok.iter().map(|t| t.query.as_str()).collect::<Vec<_>>(),
            ["diffusion", "cat:cs.LG"]
        );
        let err = parse_topics("diffusion\n(llm AND").unwrap_err();
        assert_eq!(err.len(), 1);
        assert!(err[0].starts_with("Line 2 ((llm AND): "), "{err:?}");
        assert!(parse_topics(" \n ").unwrap().is_empty());
        let many = "x\n".repeat(MAX_TOPICS + 1);
        assert!(parse_topics(&many).unwrap_err()[0].contains("At most"));
    }

    #[test]
    fn schedule_fields_are_parsed_strictly() {
        assert_eq!(parse_frequency("daily", ""), Ok(Frequency::Daily));
        assert_eq!(
            parse_frequency("weekly", "thu"),
            Ok(Frequency::Weekly(Weekday::Thu))
        );
        assert!(parse_frequency("weekly", "").is_err());
        assert!(parse_frequency("hourly", "").is_err());
        assert_eq!(parse_hour(""), Ok(None));
        assert_eq!(parse_hour("23"), Ok(Some(23)));
        assert!(parse_hour("24").is_err());
        assert!(parse_hour("-1").is_err());
        assert_eq!(
            parse_timezone("Europe/Berlin"),
            Ok(Some(chrono_tz::Europe::Berlin))
        );
        assert!(parse_timezone("Mars/Olympus").is_err());
    }
}

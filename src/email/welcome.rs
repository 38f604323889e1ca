//! The welcome mail, sent once when a subscription is confirmed: what will
//! arrive (their topics, or the day's top papers), when (their frequency,
//! hour and timezone) and where to change it (a signed manage link).
//! Transactional: no list headers, like the confirmation. Its templates
//! are `templates/email/welcome.*`.
//!
//! It must not query the store or send anything: the confirm page hands it
//! the confirmed subscriber and their preferences.

use askama::Template;
use chrono::{DateTime, Utc};

use super::format::{ascii_html, tidy_text, RenderedEmail, ViewHelpers};
use super::link_mail::LinkMails;
use super::message_id::Occasion;
use crate::domain::{normalise_inline, Frequency, Preferences, Subscriber};
use crate::links::{link_url, Purpose};
use crate::mail::OutgoingEmail;

/// The operator's defaults, for a subscriber who chose no hour or timezone.
#[derive(Debug, Clone, Copy)]
pub struct WelcomeSchedule {
    pub default_hour: u32,
    pub default_timezone: chrono_tz::Tz,
}

/// Everything the welcome mail shows.
#[derive(Debug, Clone, Default)]
pub struct WelcomeView {
    pub site_name: String,
    /// e.g. `"Your digest arrives every day at 07:00, Europe/Berlin time."`
    pub when_sentence: String,
    /// The topic queries; empty: the day's top papers.
    pub topics: Vec<String>,
    /// Topics and, after them, the day's top papers.
    pub top_papers: bool,
    pub manage_url: String,
}

#[derive(Template)]
#[template(path = "email/welcome.html")]
struct WelcomeHtml<'a> {
    v: &'a WelcomeView,
}

#[derive(Template)]
#[template(path = "email/welcome.txt")]
struct WelcomeText<'a> {
    v: &'a WelcomeView,
}

impl ViewHelpers for WelcomeHtml<'_> {}
impl ViewHelpers for WelcomeText<'_> {}

/// Renders the welcome mail.
pub fn render_welcome(view: &WelcomeView) -> Result<RenderedEmail, askama::Error> {
    Ok(RenderedEmail {
        subject: normalise_inline(&format!("Welcome to {}", view.site_name)),
        html: ascii_html(WelcomeHtml { v: view }.render()?),
        text: tidy_text(&WelcomeText { v: view }.render()?),
    })
}

/// `"Your digest arrives every Monday at 07:00, UTC time."`
fn when_sentence(prefs: &Preferences, defaults: WelcomeSchedule) -> String {
    let hour = prefs.delivery_hour.unwrap_or(defaults.default_hour);
    let tz = prefs.timezone.unwrap_or(defaults.default_timezone);
    let days = match prefs.frequency {
        Frequency::Daily => "every day".to_string(),
        Frequency::Weekly(day) => {
            let name = match day {
                chrono::Weekday::Mon => "Monday",
                chrono::Weekday::Tue => "Tuesday",
                chrono::Weekday::Wed => "Wednesday",
                chrono::Weekday::Thu => "Thursday",
                chrono::Weekday::Fri => "Friday",
                chrono::Weekday::Sat => "Saturday",
                chrono::Weekday::Sun => "Sunday",
            };
            format!("every {name}")
        }
    };
    format!(
        "Your digest arrives {days} at {hour:02}:00, {} time, when there are new papers for you.",
        tz.name()
    )
}

impl LinkMails {
    /// The welcome mail of `subscriber`, confirmed at `now`, with a manage
    /// link signed at their current link version.
    pub fn welcome(
        &self,
        subscriber: &Subscriber,
        prefs: &Preferences,
        defaults: WelcomeSchedule,
        now: DateTime<Utc>,
    ) -> Result<OutgoingEmail, askama::Error> {
        let purpose = Purpose::Manage;
        let token = self.signer.sign(
            purpose,
            subscriber.id,
            subscriber.link_version,
            purpose.default_expiry(now),
        );
        let view = WelcomeView {
            site_name: self.site_name.clone(),
            when_sentence: when_sentence(prefs, defaults),
            topics: subscriber.topics.iter().map(|t| t.query.clone()).collect(),
            top_papers: subscriber.top_papers,
            manage_url: link_url(&self.base_url, purpose, &token).to_string(),
        };
        let rendered = render_welcome(&view)?;
        Ok(self.transactional(
            subscriber.email.clone(),
            rendered,
            Occasion::Welcome(now),
            subscriber.id,
            now,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(topics: &[&str], top_papers: bool) -> WelcomeView {
        WelcomeView {
            site_name: "Paperboy".into(),
            when_sentence: when_sentence(
                &Preferences {
                    frequency: Frequency::Weekly(chrono::Weekday::Thu),
                    delivery_hour: Some(6),
                    timezone: Some(chrono_tz::Europe::Berlin),
                    paused_until: None,
                },
                WelcomeSchedule {
                    default_hour: 7,
                    default_timezone: chrono_tz::UTC,
                },
            ),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            top_papers,
            manage_url: "https://example.org/manage/TOK".into(),
        }
    }

    #[test]
    fn the_welcome_says_what_arrives_when_and_where_to_change_it() {
        let r = render_welcome(&view(&["ti:diffusion", "<b>x</b>"], true)).unwrap();
        assert_eq!(r.subject, "Welcome to Paperboy");
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for part in [words(&r.text), words(&r.html)] {
            assert!(
                part.contains("every Thursday at 06:00, Europe/Berlin time"),
                "{part}"
            );
            assert!(part.contains("ti:diffusion"), "{part}");
            assert!(part.contains("After them come the day's top papers"));
            assert!(part.contains("https://example.org/manage/TOK"));
        }
        assert!(r.html.contains("&#60;b&#62;x&#60;/b&#62;"), "{}", r.html);
        assert!(r.text.contains(" - <b>x</b>\n"), "{}", r.text);
    }

    #[test]
    fn without_topics_the_welcome_promises_the_days_top_papers_at_the_default_hour() {
        let mut v = view(&[], false);
        v.when_sentence = when_sentence(
            &Preferences::default(),
            WelcomeSchedule {
                default_hour: 7,
                default_timezone: chrono_tz::UTC,
            },
        );
        let r = render_welcome(&v).unwrap();
        let text = r.text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(text.contains("every day at 07:00, UTC time"), "{text}");
        assert!(text.contains("the day's top papers, most upvoted first"));
        assert!(!text.contains("match your topics"));
    }
}

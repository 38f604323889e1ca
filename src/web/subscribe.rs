//! `GET /`: the subscribe form. `POST /subscribe`: parse strictly, then
//! answer the same page whether or not the address is known, and send at
//! most one link mail per address per ten minutes (a confirmation, or a
//! fresh manage link for a confirmed address).
//!
//! The form also takes the frequency (daily, or weekly on a weekday) and
//! optionally a delivery hour and timezone; they are stored with the
//! request (a new, pending or unsubscribed address) and, like the topics,
//! never change a confirmed subscriber's settings.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::error::{page, WebError};
use super::limits::ClientIp;
use super::manage::{parse_frequency, parse_hour, parse_timezone, Choice, WEEKDAYS};
use super::outgoing::{link_mail_interval, spawn_link_mail, LinkMail};
use super::Web;
use crate::domain::SubscriberEmail;
use crate::domain::{Frequency, NewTopic, Preferences, SubscriberStatus};
use crate::matching::Query;

/// Most topics one subscriber may have.
pub const MAX_TOPICS: usize = 20;

#[derive(Template)]
#[template(path = "web/subscribe.html")]
pub struct SubscribePage {
    pub base: String,
    pub site_name: String,
    pub email: String,
    pub topics: String,
    pub email_error: Option<String>,
    pub topic_errors: Vec<String>,
    pub daily: bool,
    pub weekdays: Vec<Choice>,
    pub hours: Vec<Choice>,
    pub default_hour: u32,
    pub timezone: String,
    pub frequency_error: Option<String>,
    pub hour_error: Option<String>,
    pub timezone_error: Option<String>,
}

impl SubscribePage {
    /// The form as `form` filled it in, with no errors.
    fn new(web: &Web, form: &SubscribeForm) -> Self {
        let weekly_day = if form.frequency == "weekly" {
            form.weekday.as_str()
        } else {
            "mon"
        };
        SubscribePage {
            base: web.base_path(),
            site_name: web.app.settings.digest.site_name.clone(),
            email: form.email.clone(),
            topics: form.topics.clone(),
            email_error: None,
            topic_errors: Vec::new(),
            daily: form.frequency != "weekly",
            weekdays: WEEKDAYS
                .iter()
                .map(|(v, l, _)| Choice {
                    value: v.to_string(),
                    label: l.to_string(),
                    selected: *v == weekly_day,
                })
                .collect(),
            hours: (0..24)
                .map(|h| Choice {
                    value: h.to_string(),
                    label: format!("{h:02}:00"),
                    selected: form.hour == h.to_string(),
                })
                .collect(),
            default_hour: web.app.settings.schedule.default_hour,
            timezone: form.timezone.clone(),
            frequency_error: None,
            hour_error: None,
            timezone_error: None,
        }
    }
}

#[derive(Template)]
#[template(path = "web/message.html")]
pub struct MessagePage {
    pub base: String,
    pub title: String,
    pub paragraphs: Vec<String>,
    pub manage_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SubscribeForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    topics: String,
    /// `daily` (also when absent) or `weekly`.
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    weekday: String,
    /// Empty: the operator's default hour.
    #[serde(default)]
    hour: String,
    /// Empty: the operator's timezone.
    #[serde(default)]
    timezone: String,
    /// The honeypot: hidden from people, filled in by bots.
    #[serde(default)]
    website: String,
}

pub async fn form(State(web): State<Arc<Web>>) -> Result<Response, WebError> {
    page(
        StatusCode::OK,
        &SubscribePage::new(&web, &SubscribeForm::default()),
    )
}

/// The schedule fields of the form, each parsed or with its error.
fn parse_schedule(form: &SubscribeForm) -> SubscribeSchedule {
    let frequency = if form.frequency.is_empty() {
        Ok(Frequency::Daily)
    } else {
        parse_frequency(&form.frequency, &form.weekday)
    };
    SubscribeSchedule {
        frequency,
        hour: parse_hour(&form.hour),
        timezone: parse_timezone(&form.timezone),
    }
}

struct SubscribeSchedule {
    frequency: Result<Frequency, String>,
    hour: Result<Option<u32>, String>,
    timezone: Result<Option<chrono_tz::Tz>, String>,
}

impl SubscribeSchedule {
    fn preferences(&self) -> Option<Preferences> {
        Some(Preferences {
            frequency: *self.frequency.as_ref().ok()?,
            delivery_hour: *self.hour.as_ref().ok()?,
            timezone: *self.timezone.as_ref().ok()?,
            paused_until: None,
        })
    }
}

pub async fn submit(
    State(web): State<Arc<Web>>,
    ClientIp(ip): ClientIp,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Result<Response, WebError> {
    if !web.ip_limiter.allow(ip, Instant::now()) {
        return Err(WebError::RateLimited);
    }
    let Form(form) = form.map_err(form_rejection)?;
    let email = SubscriberEmail::parse(&form.email);
    let topics = parse_topics(&form.topics);
    let schedule = parse_schedule(&form);
    let (email, topics, prefs) = match (email, topics, schedule.preferences()) {
        (Ok(e), Ok(t), Some(p)) => (e, t, p),
        (email, topics, _) => {
            return page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &SubscribePage {
                    email_error: email.err().map(|e| capitalise(&e.to_string())),
                    topic_errors: topics.err().unwrap_or_default(),
                    frequency_error: schedule.frequency.err(),
                    hour_error: schedule.hour.err(),
                    timezone_error: schedule.timezone.err(),
                    ..SubscribePage::new(&web, &form)
                },
            )
        }
    };
    if form.website.is_empty() {
        let now = Utc::now();
        let request = web
            .app
            .store
            .request_subscription(&email, &topics, now)
            .await?;
        if request.status == SubscriberStatus::Pending {
            web.app
                .store
                .set_pending_preferences(request.subscriber_id, &prefs, now)
                .await?;
        }
        let kind = match request.status {
            SubscriberStatus::Pending => Some(LinkMail::Confirm),
            SubscriberStatus::Active => Some(LinkMail::Manage),
            SubscriberStatus::Unsubscribed | SubscriberStatus::Suspended => None,
        };
        if let Some(kind) = kind {
            let id = request.subscriber_id;
            if web
                .app
                .store
                .claim_link_mail(id, now, link_mail_interval())
                .await?
            {
                let queries = topics.iter().map(|t| t.query.clone()).collect();
                spawn_link_mail(
                    web.clone(),
                    kind,
                    id,
                    request.link_version,
                    email,
                    queries,
                    now,
                );
            } else {
                tracing::info!(
                    subscriber.id = %id,
                    "link mail skipped: one was sent recently"
                );
            }
        }
    } else {
        tracing::info!("subscribe request dropped: honeypot field filled in");
    }
    page(
        StatusCode::OK,
        &MessagePage {
            base: web.base_path(),
            title: "Check your inbox".into(),
            paragraphs: vec![
                "We have sent an email to the address you entered. Open the link in it to confirm your subscription (or, if you are already subscribed, to change your settings).".into(),
                "Nothing arrived? Look in your spam folder. You can ask again in ten minutes.".into(),
            ],
            manage_url: None,
        },
    )
}

/// One query per non-blank line, each parsed by the filter language; every
/// mistake is reported with its line.
pub fn parse_topics(text: &str) -> Result<Vec<NewTopic>, Vec<String>> {
    let mut topics = Vec::new();
    let mut errors = Vec::new();
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(vec!["Enter at least one topic.".into()]);
    }
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

pub fn form_rejection(r: FormRejection) -> WebError {
    let status = r.status();
    let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "The form is too large.".to_string()
    } else {
        "The form could not be read; please submit it from the page.".to_string()
    };
    WebError::BadRequest(status, message)
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
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
        assert!(parse_topics(" \n ").is_err());
        let many = "x\n".repeat(MAX_TOPICS + 1);
        assert!(parse_topics(&many).unwrap_err()[0].contains("At most"));
    }
}

//! `GET /`: the subscribe form. `POST /subscribe`: parse strictly, then
//! answer the same page whether or not the address is known, and send at
//! most one link mail per address per ten minutes (a confirmation, or a
//! fresh manage link for a confirmed address).
//!
//! Topics are optional: an address alone subscribes to the trending
//! digest (the day's most upvoted papers); with topics, a box adds the top
//! papers after them.
//!
//! The form also takes the frequency (daily, or weekly on a weekday) and
//! optionally a delivery hour and timezone. A new address is stored pending
//! with them; for a pending or unsubscribed address they (and the top
//! papers box) wait beside it until its owner confirms them (the form is
//! not authenticated), and they never change a confirmed subscriber's
//! settings. The store and the mail work happen after the answer, on a
//! worker, so every address gets the same page in the same time.

use std::sync::Arc;
use std::time::Instant;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{page, WebError};
use super::form::{
    check_likes, form_rejection, parse_frequency, parse_hour, parse_timezone, parse_topics, Choice,
    WEEKDAYS,
};
use super::limits::ClientIp;
use super::message::MessagePage;
use super::outgoing::{link_mail_interval, send_link_mail};
use super::AppState;
use crate::domain::{Frequency, NewTopic, Preferences, SubscriberEmail, SubscriberStatus};
use crate::email::{LinkMail, LinkMailRequest};

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
    /// "Also send me the top papers of the day", ticked.
    pub top_papers: bool,
}

impl SubscribePage {
    /// The form as `form` filled it in, with no errors.
    fn new(web: &AppState, form: &SubscribeForm) -> Self {
        let weekly_day = if form.frequency == "weekly" {
            form.weekday.as_str()
        } else {
            "mon"
        };
        SubscribePage {
            base: web.base_path(),
            site_name: web.config.site_name.clone(),
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
            default_hour: web.config.default_hour,
            timezone: form.timezone.clone(),
            frequency_error: None,
            hour_error: None,
            timezone_error: None,
            top_papers: form.top_papers == "on",
        }
    }
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
    /// `on`: also the top papers of the day, after the topics.
    #[serde(default)]
    top_papers: String,
    /// The honeypot: hidden from people, filled in by bots.
    #[serde(default)]
    website: String,
}

/// The form, empty or pre-filled from the query string: `topics` (a
/// search from the papers page), `frequency` and `weekday`. Anything else
/// is ignored; nothing is checked until the form is sent.
pub async fn form(
    State(web): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let mut form = SubscribeForm::default();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let slot = match &*key {
            "topics" => &mut form.topics,
            "frequency" => &mut form.frequency,
            "weekday" => &mut form.weekday,
            _ => continue,
        };
        if slot.is_empty() {
            *slot = value.chars().take(PREFILL_MAX_CHARS).collect();
        }
    }
    page(StatusCode::OK, &SubscribePage::new(&web, &form))
}

/// Most characters of a pre-filled field taken from a link.
const PREFILL_MAX_CHARS: usize = 4096;

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
    State(web): State<Arc<AppState>>,
    ClientIp(ip): ClientIp,
    form: Result<Form<SubscribeForm>, FormRejection>,
) -> Result<Response, WebError> {
    if !web.ip_limiter.allow(ip, Instant::now()) {
        return Err(WebError::RateLimited);
    }
    let Form(form) = form.map_err(form_rejection)?;
    let email = SubscriberEmail::parse(&form.email);
    let topics = match parse_topics(&form.topics) {
        Ok(t) => {
            let errors = check_likes(&web.likes, &form.topics).await;
            if errors.is_empty() {
                Ok(t)
            } else {
                Err(errors)
            }
        }
        Err(e) => Err(e),
    };
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
        let queued = queue_submission(
            &web,
            Submission {
                email,
                topics,
                prefs,
                top_papers: form.top_papers == "on",
                ip,
            },
        );
        if !queued {
            // Never "check your inbox" for a request nobody will handle.
            return Err(WebError::Busy);
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

/// A checked subscribe request, stored and mailed off the request.
pub(super) struct Submission {
    email: SubscriberEmail,
    topics: Vec<NewTopic>,
    prefs: Preferences,
    top_papers: bool,
    /// The client it came from, counted again in the database (see
    /// [`handle_submission`]).
    ip: std::net::IpAddr,
}

/// Submissions waiting for the worker; past this the form answers 503
/// with Retry-After (the same for every address) and takes nothing.
const SUBMISSION_QUEUE: usize = 1024;

/// Submissions handled at once: the store serialises its writes anyway, so
/// this mostly overlaps the link mails' SMTP conversations.
const SUBMISSION_WORKERS: usize = 8;

/// The subscribe form's submissions, handled off the request by a worker
/// (started with the first submission) in the order they came. The answer
/// never waits for the store or the mailer: a new, pending or confirmed
/// address costs the request the same work (parsing, the per-client limit,
/// this hand-over), so its timing says nothing about the address.
#[derive(Clone, Default)]
pub struct Submissions {
    inner: Arc<SubmissionsInner>,
}

#[derive(Default)]
struct SubmissionsInner {
    queue: std::sync::OnceLock<tokio::sync::mpsc::Sender<Submission>>,
    /// Queued or being handled.
    in_flight: std::sync::atomic::AtomicUsize,
    idle: tokio::sync::Notify,
}

impl Submissions {
    /// Waits until every submission handed over so far is handled and its
    /// link mail sent (or failed). A stopping daemon waits for this, so a
    /// form that said "check your inbox" gets its mail.
    pub async fn settled(&self) {
        use std::sync::atomic::Ordering;
        loop {
            let idle = self.inner.idle.notified();
            if self.inner.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Hands `submission` to the worker; false when the queue is full.
    fn push(&self, web: &Arc<AppState>, submission: Submission) -> bool {
        use std::sync::atomic::Ordering;
        let queue = self.inner.queue.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::channel(SUBMISSION_QUEUE);
            tokio::spawn(submission_worker(Arc::downgrade(web), rx));
            tx
        });
        self.inner.in_flight.fetch_add(1, Ordering::SeqCst);
        if queue.try_send(submission).is_err() {
            self.done();
            tracing::warn!("subscribe request refused (503): too many waiting");
            return false;
        }
        true
    }

    /// Submissions queued or being handled, and their link mails not yet
    /// sent.
    pub fn pending(&self) -> usize {
        self.inner
            .in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sends a submission's link mail on a task of its own (the worker goes
    /// on with the next submission), counted in flight until it is sent.
    fn send_mail(&self, web: Arc<AppState>, request: LinkMailRequest, now: DateTime<Utc>) {
        self.inner
            .in_flight
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let in_flight = InFlight(self.clone());
        tokio::spawn(async move {
            let _in_flight = in_flight;
            send_link_mail(web, request, now).await;
        });
    }

    fn done(&self) {
        use std::sync::atomic::Ordering;
        if self.inner.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

/// One unit of [`Submissions`]' in-flight count, given back when dropped
/// (also when the task holding it panics).
struct InFlight(Submissions);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.done();
    }
}

fn queue_submission(web: &Arc<AppState>, submission: Submission) -> bool {
    web.submissions.push(web, submission)
}

/// Handles the submissions until the pages' state is dropped, up to
/// [`SUBMISSION_WORKERS`] at once, started in the order they came.
async fn submission_worker(
    web: std::sync::Weak<AppState>,
    mut queue: tokio::sync::mpsc::Receiver<Submission>,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(SUBMISSION_WORKERS));
    while let Some(submission) = queue.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let Some(web) = web.upgrade() else { break };
        tokio::spawn(async move {
            // Its own task: a panic ends that submission, not the worker.
            match tokio::spawn(handle_submission(web.clone(), submission)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "handling a subscribe request failed"),
                Err(e) => tracing::error!(error = %e, "handling a subscribe request panicked"),
            }
            web.submissions.done();
            drop(permit);
        });
    }
}

/// Stores the submission (a new address pending; for an existing pending
/// or unsubscribed one, held until its owner confirms) and sends at most
/// one link mail per address per ten minutes: a confirmation, or a settings
/// link for a confirmed address.
///
/// The request's answer counted its client in this daemon's memory; here,
/// off the request, it is counted again in the database, where every
/// daemon sharing it counts, so that several daemons behind one load
/// balancer allow a client no more than one of them would. Over that limit
/// the submission is dropped (its answer said the same as for any other).
async fn handle_submission(web: Arc<AppState>, s: Submission) -> Result<(), WebError> {
    let now = Utc::now();
    if !web.ip_limiter.allow_shared(&web.store, s.ip, now).await {
        tracing::info!("subscribe request dropped: its client is over the per-client limit counted across daemons");
        return Ok(());
    }
    let request = web
        .store
        .request_subscription(&s.email, &s.topics, &s.prefs, s.top_papers, now)
        .await?;
    let kind = match request.status {
        SubscriberStatus::Pending => LinkMail::Confirm,
        SubscriberStatus::Active => LinkMail::Manage,
        SubscriberStatus::Unsubscribed | SubscriberStatus::Suspended => return Ok(()),
    };
    let id = request.subscriber_id;
    if !web
        .store
        .claim_link_mail(id, now, link_mail_interval())
        .await?
    {
        tracing::info!(subscriber.id = %id, "link mail skipped: one was sent recently");
        return Ok(());
    }
    let request = LinkMailRequest {
        kind,
        subscriber_id: id,
        link_version: request.link_version,
        to: s.email,
        // A confirmed address's settings page offers the searched topics
        // for adding; a confirmation carries nothing from the form.
        topics: if kind == LinkMail::Manage {
            s.topics.iter().map(|t| t.query.clone()).collect()
        } else {
            Vec::new()
        },
    };
    web.submissions.send_mail(web.clone(), request, now);
    Ok(())
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>() + ".",
        None => String::new(),
    }
}

//! `GET /manage/{token}`: the subscriber's settings with a preview of what
//! their topics would have matched in the last week. `POST` with `action`
//! `preview` (re-renders the preview for the submitted topics, saves
//! nothing), `save`, or `new_link` (revokes every older link and mails a
//! fresh one). The page also links to the subscriber's data
//! ([`super::my_data`]: download it, delete it).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

use super::error::{page, LinkFailure, WebError};
use super::feedback::{marks_card, MarksCard};
use super::form::{
    check_likes, form_rejection, parse_frequency, parse_hour, parse_timezone, parse_topics, Choice,
    MAX_TOPICS, WEEKDAYS,
};
use super::listing::MATCHER_MAX_ATOMS;
use super::message::MessagePage;
use super::outgoing::{link_mail_interval, spawn_link_mail, spawn_manage_link_mail_at};
use super::token::LinkPath;
use super::AppState;
use crate::digest::frequencies::Frequencies;
use crate::digest::likes::{self, LikeLookup};
use crate::digest::ranked::{KeptWindow, RankedWindow};
use crate::domain::{Frequency, NewTopic, Paper, Preferences, Subscriber, SubscriberStatus};
use crate::email::{safe_href, LinkMail, LinkMailRequest};
use crate::links::{link_url, LinkClaims, Purpose};
use crate::matching::{highlight, Field, Matcher, Query, MAX_QUERY_CHARS};
use crate::store::{DbError, ListingGeneration, Store};

/// Days of papers the preview searches, today included.
pub const PREVIEW_DAYS: i64 = 7;
/// Papers listed in the preview (all are counted).
const PREVIEW_LIST: usize = 25;

pub struct TitleSpan {
    pub text: String,
    pub hit: bool,
}

pub struct PreviewPaper {
    pub url: String,
    pub title: Vec<TitleSpan>,
    pub terms: String,
}

pub struct PreviewView {
    pub count: usize,
    pub days: i64,
    pub papers: Vec<PreviewPaper>,
}

#[derive(Template)]
#[template(path = "web/manage.html")]
struct ManagePage {
    base: String,
    site_name: String,
    notice: Option<String>,
    status_note: Option<String>,
    topics: String,
    topic_errors: Vec<String>,
    daily: bool,
    weekdays: Vec<Choice>,
    hours: Vec<Choice>,
    frequency_error: Option<String>,
    hour_error: Option<String>,
    timezone: String,
    timezone_error: Option<String>,
    paused_until: String,
    pause_error: Option<String>,
    preview: Option<PreviewView>,
    unsubscribe_action: String,
    /// The personal Atom feed of the subscriber's topics.
    feed_url: String,
    top_papers: bool,
    /// "Download my data" and "Delete everything about me".
    data_url: String,
    delete_action: String,
    /// The papers they marked and their ranking switches.
    marks: MarksCard,
}

#[derive(Debug, Default, Deserialize)]
pub struct ManageForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    topics: String,
    #[serde(default)]
    frequency: String,
    #[serde(default)]
    weekday: String,
    #[serde(default)]
    hour: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    paused_until: String,
    /// `on`: the top papers of the day after the topics.
    #[serde(default)]
    top_papers: String,
}

/// The form's fields, each parsed or with its error.
struct Parsed {
    topics: Result<Vec<NewTopic>, Vec<String>>,
    frequency: Result<Frequency, String>,
    hour: Result<Option<u32>, String>,
    timezone: Result<Option<chrono_tz::Tz>, String>,
    paused_until: Result<Option<NaiveDate>, String>,
}

impl Parsed {
    /// Every field parsed, topics' `like:` papers looked up too.
    async fn from_form(web: &AppState, f: &ManageForm, today: NaiveDate) -> Parsed {
        let topics = match parse_topics(&f.topics) {
            Ok(t) => {
                let errors = check_likes(&web.likes, &f.topics).await;
                if errors.is_empty() {
                    Ok(t)
                } else {
                    Err(errors)
                }
            }
            Err(e) => Err(e),
        };
        Parsed {
            topics,
            frequency: parse_frequency(&f.frequency, &f.weekday),
            hour: parse_hour(&f.hour),
            timezone: parse_timezone(&f.timezone),
            paused_until: parse_pause(&f.paused_until, today),
        }
    }

    fn preferences(&self) -> Option<(Vec<NewTopic>, Preferences)> {
        Some((
            self.topics.clone().ok()?,
            Preferences {
                frequency: *self.frequency.as_ref().ok()?,
                delivery_hour: *self.hour.as_ref().ok()?,
                timezone: *self.timezone.as_ref().ok()?,
                paused_until: *self.paused_until.as_ref().ok()?,
            },
        ))
    }
}

/// The settings page. `?add=QUERY` (repeatable; a search from the papers
/// page, carried by a manage link mailed from the subscribe form) adds the
/// query to the topics box, saved only when the subscriber presses Save.
pub async fn show(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, prefs, claims) =
        super::token::verify_settings(&web, &token, Purpose::Manage, now).await?;
    let mut topics: Vec<NewTopic> = subscriber
        .topics
        .iter()
        .map(|t| NewTopic {
            name: t.name.clone(),
            query: t.query.clone(),
        })
        .collect();
    let mut form = form_of(&subscriber, &prefs, subscriber.top_papers);
    let mut added = Vec::new();
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        let query = value.trim();
        if key != "add" || query.is_empty() || query.chars().count() > MAX_QUERY_CHARS {
            continue;
        }
        if topics.iter().any(|t| t.query == query) || topics.len() >= MAX_TOPICS {
            continue;
        }
        if Query::parse(query).is_ok() {
            topics.push(NewTopic {
                name: query.to_string(),
                query: query.to_string(),
            });
            added.push(query.to_string());
        }
    }
    let notice = (!added.is_empty()).then(|| {
        for q in &added {
            if !form.topics.is_empty() {
                form.topics.push('\n');
            }
            form.topics.push_str(q);
        }
        format!(
            "Added to your topics below: {}. Press Save to keep {}.",
            added.join(", "),
            if added.len() == 1 { "it" } else { "them" }
        )
    });
    let preview = preview(&web, &topics, web.today(now)).await?;
    let mut view = view(
        &web,
        &subscriber,
        &claims,
        &form,
        notice,
        Some(preview),
        None,
        now,
    );
    view.marks = marks_card(&web, &subscriber, &token).await?;
    page(StatusCode::OK, &view)
}

pub async fn submit(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
    form: Result<Form<ManageForm>, FormRejection>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(&web, &token, Purpose::Manage, now).await?;
    let Form(form) = form.map_err(form_rejection)?;
    let today = web.today(now);
    match form.action.as_str() {
        "preview" => {
            let parsed = Parsed::from_form(&web, &form, today).await;
            let preview = match &parsed.topics {
                Ok(t) => Some(preview(&web, t, today).await?),
                Err(_) => None,
            };
            let notice = "Preview only: nothing is saved until you press Save.".to_string();
            let mut view = view(
                &web,
                &subscriber,
                &claims,
                &form,
                Some(notice),
                preview,
                Some(&parsed),
                now,
            );
            view.marks = marks_card(&web, &subscriber, &token).await?;
            page(StatusCode::OK, &view)
        }
        "save" => {
            let parsed = Parsed::from_form(&web, &form, today).await;
            let Some((topics, prefs)) = parsed.preferences() else {
                let mut view = view(
                    &web,
                    &subscriber,
                    &claims,
                    &form,
                    None,
                    None,
                    Some(&parsed),
                    now,
                );
                view.marks = marks_card(&web, &subscriber, &token).await?;
                return page(StatusCode::UNPROCESSABLE_ENTITY, &view);
            };
            match web
                .store
                .save_preferences(subscriber.id, claims.link_version, &topics, &prefs, now)
                .await
            {
                Ok(()) => {}
                Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
                Err(e) => return Err(e.into()),
            }
            match web
                .store
                .set_top_papers(subscriber.id, claims.link_version, form.top_papers == "on")
                .await
            {
                Ok(()) => {}
                Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
                Err(e) => return Err(e.into()),
            }
            tracing::info!(subscriber.id = %subscriber.id, "preferences saved");
            let preview = preview(&web, &topics, today).await?;
            let mut view = view(
                &web,
                &subscriber,
                &claims,
                &form,
                Some("Saved.".into()),
                Some(preview),
                None,
                now,
            );
            view.marks = marks_card(&web, &subscriber, &token).await?;
            page(StatusCode::OK, &view)
        }
        "new_link" => new_link(web, subscriber, claims, now).await,
        _ => Err(WebError::BadRequest(
            StatusCode::BAD_REQUEST,
            "Unknown action; please use the buttons on the page.".into(),
        )),
    }
}

/// Revokes every link issued so far, at once, and mails a manage link at
/// the new version. Only the mail waits for the per-address limit: if a
/// link mail went out less than ten minutes ago, the new link is mailed
/// when the limit allows, and the page says when. (Refusing the revocation
/// instead would let anyone who can trigger a link mail through the public
/// form keep a leaked link alive.)
async fn new_link(
    web: Arc<AppState>,
    subscriber: Subscriber,
    claims: LinkClaims,
    now: DateTime<Utc>,
) -> Result<Response, WebError> {
    let store = &web.store;
    let version = match store
        .revoke_links(subscriber.id, claims.link_version, now)
        .await
    {
        Ok(v) => v,
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(subscriber.id = %subscriber.id, "links revoked");
    let mail_now = store
        .claim_link_mail(subscriber.id, now, link_mail_interval())
        .await?;
    let when = if mail_now {
        let request = LinkMailRequest {
            kind: LinkMail::Manage,
            subscriber_id: subscriber.id,
            link_version: version,
            to: subscriber.email,
            topics: Vec::new(),
        };
        spawn_link_mail(web.clone(), request, now);
        "We have emailed you a new link to your settings.".to_string()
    } else {
        let at = store
            .link_mail_allowed_at(subscriber.id, link_mail_interval())
            .await?
            .unwrap_or(now)
            .max(now);
        spawn_manage_link_mail_at(web.clone(), subscriber.id, at);
        format!(
            "A link was emailed to this address less than ten minutes ago, and we send at most one every ten minutes: your new link will be emailed at {} UTC.",
            at.format("%H:%M")
        )
    };
    page(
        StatusCode::OK,
        &MessagePage {
            base: web.base_path(),
            title: "A new link is on its way".into(),
            paragraphs: vec![
                "Every older link (in earlier emails, and this page's) no longer works.".into(),
                when,
            ],
            manage_url: None,
        },
    )
}

/// The papers of the last [`PREVIEW_DAYS`] days that any of `topics`
/// matches, newest first, titles highlighted.
async fn preview(
    web: &AppState,
    topics: &[NewTopic],
    today: NaiveDate,
) -> Result<PreviewView, WebError> {
    let from = today - Duration::days(PREVIEW_DAYS - 1);
    let days = web.previews.days(&web.store, from, today).await?;
    Ok(days
        .preview(&web.store, &web.frequencies, &web.likes, topics, today)
        .await?)
}

/// The preview's days of papers with their search index, kept while the
/// store's papers stay the same ([`ListingGeneration`]: no new sighting,
/// no changed paper). Every settings page opened on a day previews the
/// same days, so they are read and indexed once, not once per page; a
/// page costs the one lookup that checks nothing changed.
#[derive(Default)]
pub struct PreviewCache {
    held: Mutex<Option<Arc<PreviewDays>>>,
}

struct PreviewDays {
    from: NaiveDate,
    to: NaiveDate,
    generation: ListingGeneration,
    papers: Vec<Paper>,
    /// What `like:` terms are compared against: the stored vectors under
    /// the document frequencies a digest run of `to` weighs by, read on
    /// first use and again when these move.
    ranked: KeptWindow,
    /// Grows with the terms compiled; rebuilt past
    /// [`MATCHER_MAX_ATOMS`], so visitors' topics cannot grow it without
    /// limit, and when the window its `like:` terms were told about is
    /// not the current one.
    matcher: Mutex<(Matcher, Option<Arc<RankedWindow>>)>,
}

impl PreviewCache {
    async fn days(
        &self,
        store: &Store,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Arc<PreviewDays>, DbError> {
        let generation = store.listing_generation().await?;
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(days) =
            held.filter(|d| d.from == from && d.to == to && d.generation == generation)
        {
            return Ok(days);
        }
        let papers = store.papers_between(from, to).await?;
        let days = Arc::new(PreviewDays {
            from,
            to,
            generation,
            matcher: Mutex::new((Matcher::new(&papers), None)),
            ranked: KeptWindow::default(),
            papers,
        });
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = Some(days.clone());
        Ok(days)
    }
}

impl PreviewDays {
    /// What `topics` match in these days: counted, and the newest listed.
    /// The papers their `like:` terms name are found first (outside the
    /// matcher's lock: finding one may ask arXiv).
    async fn preview(
        &self,
        store: &Store,
        frequencies: &Frequencies,
        likes: &LikeLookup,
        topics: &[NewTopic],
        today: NaiveDate,
    ) -> Result<PreviewView, DbError> {
        let ranked = if topics.iter().any(|t| likes::mentions_like(&t.query)) {
            Some(
                self.ranked
                    .get(store, frequencies, &self.papers, today)
                    .await?,
            )
        } else {
            None
        };
        let unknown = {
            let mut held = self.matcher.lock().unwrap_or_else(|e| e.into_inner());
            let stale = match (&ranked, &held.1) {
                (Some(now), Some(told)) => !Arc::ptr_eq(now, told),
                _ => false,
            };
            if stale || held.0.atom_count() > MATCHER_MAX_ATOMS {
                *held = (Matcher::new(&self.papers), None);
            }
            likes::unknown_likes(topics.iter().map(|t| t.query.as_str()), &held.0)
        };
        let found = likes::resolve(likes, unknown, Utc::now()).await;
        let mut held = self.matcher.lock().unwrap_or_else(|e| e.into_inner());
        if let (false, Some(ranked)) = (found.is_empty(), ranked) {
            likes::apply(&mut held.0, found, &ranked);
            held.1 = Some(ranked);
        }
        let matcher = &mut held.0;
        let compiled: Vec<_> = topics
            .iter()
            .filter_map(|t| Query::parse(&t.query).ok())
            .map(|q| matcher.compile(&q))
            .collect();
        let mut hits = BTreeSet::new();
        for c in &compiled {
            hits.extend(matcher.matches(c).iter());
        }
        let listed = hits
            .iter()
            .rev()
            .take(PREVIEW_LIST)
            .map(|&i| {
                let terms: Vec<_> = compiled
                    .iter()
                    .filter(|c| matcher.matches(c).contains(i))
                    .flat_map(|c| matcher.explain(c, i))
                    .collect();
                let mut labels: Vec<String> = terms.iter().map(|t| t.label.to_string()).collect();
                labels.dedup();
                let p = &self.papers[i];
                PreviewPaper {
                    url: safe_href(&p.url),
                    title: highlight(&p.title, &terms, Field::Title)
                        .into_iter()
                        .map(|s| TitleSpan {
                            text: s.text,
                            hit: s.hit,
                        })
                        .collect(),
                    terms: labels.join(", "),
                }
            })
            .collect();
        Ok(PreviewView {
            count: hits.len(),
            days: PREVIEW_DAYS,
            papers: listed,
        })
    }
}

/// The stored settings as the form would submit them.
fn form_of(s: &Subscriber, prefs: &Preferences, top_papers: bool) -> ManageForm {
    let (frequency, weekday) = match prefs.frequency {
        Frequency::Daily => ("daily", String::new()),
        Frequency::Weekly(d) => (
            "weekly",
            WEEKDAYS
                .iter()
                .find(|w| w.2 == d)
                .map(|w| w.0.to_string())
                .unwrap_or_default(),
        ),
    };
    ManageForm {
        action: String::new(),
        topics: s
            .topics
            .iter()
            .map(|t| t.query.as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        frequency: frequency.into(),
        weekday,
        hour: prefs
            .delivery_hour
            .map(|h| h.to_string())
            .unwrap_or_default(),
        timezone: prefs
            .timezone
            .map(|t| t.name().to_string())
            .unwrap_or_default(),
        paused_until: prefs
            .paused_until
            .map(|d| d.format("%Y-%m-%d").to_string())
            .unwrap_or_default(),
        top_papers: if top_papers {
            "on".into()
        } else {
            String::new()
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn view(
    web: &AppState,
    subscriber: &Subscriber,
    claims: &LinkClaims,
    form: &ManageForm,
    notice: Option<String>,
    preview: Option<PreviewView>,
    parsed: Option<&Parsed>,
    now: DateTime<Utc>,
) -> ManagePage {
    let unsubscribe = super::token::sign(
        web,
        Purpose::Unsubscribe,
        subscriber.id,
        claims.link_version,
        now,
    );
    let manage = super::token::sign(
        web,
        Purpose::Manage,
        subscriber.id,
        claims.link_version,
        now,
    );
    let status_note = match subscriber.status {
        SubscriberStatus::Active => None,
        SubscriberStatus::Pending => Some(
            "Your subscription is not confirmed yet: use the link in the confirmation email."
                .into(),
        ),
        SubscriberStatus::Unsubscribed => Some(
            "You are unsubscribed: no digests are sent. To subscribe again, use the subscribe page."
                .into(),
        ),
        SubscriberStatus::Suspended => {
            Some("Delivery to your address is suspended after repeated failures.".into())
        }
    };
    let weekly_day = if form.frequency == "weekly" {
        form.weekday.as_str()
    } else {
        "mon"
    };
    let default_hour = Choice {
        value: String::new(),
        label: format!("Default ({:02}:00)", web.config.default_hour),
        selected: form.hour.is_empty(),
    };
    ManagePage {
        base: web.base_path(),
        site_name: web.config.site_name.clone(),
        notice,
        status_note,
        topics: form.topics.clone(),
        topic_errors: parsed
            .and_then(|p| p.topics.as_ref().err().cloned())
            .unwrap_or_default(),
        daily: form.frequency != "weekly",
        weekdays: WEEKDAYS
            .iter()
            .map(|(v, l, _)| Choice {
                value: v.to_string(),
                label: l.to_string(),
                selected: *v == weekly_day,
            })
            .collect(),
        hours: std::iter::once(default_hour)
            .chain((0..24).map(|h| Choice {
                value: h.to_string(),
                label: format!("{h:02}:00"),
                selected: form.hour == h.to_string(),
            }))
            .collect(),
        frequency_error: parsed.and_then(|p| p.frequency.as_ref().err().cloned()),
        hour_error: parsed.and_then(|p| p.hour.as_ref().err().cloned()),
        timezone: form.timezone.clone(),
        timezone_error: parsed.and_then(|p| p.timezone.as_ref().err().cloned()),
        paused_until: form.paused_until.clone(),
        pause_error: parsed.and_then(|p| p.paused_until.as_ref().err().cloned()),
        preview,
        unsubscribe_action: format!("{}/unsubscribe/{unsubscribe}", web.base_path()),
        feed_url: link_url(
            &web.config.base_url,
            Purpose::Feed,
            &super::token::sign(web, Purpose::Feed, subscriber.id, claims.link_version, now),
        )
        .to_string(),
        top_papers: form.top_papers == "on",
        data_url: format!("{}/manage/{manage}/data", web.base_path()),
        delete_action: format!("{}/manage/{manage}/delete", web.base_path()),
        marks: MarksCard::default(),
    }
}

fn parse_pause(date: &str, today: NaiveDate) -> Result<Option<NaiveDate>, String> {
    let date = date.trim();
    if date.is_empty() {
        return Ok(None);
    }
    match NaiveDate::parse_from_str(date, "%Y-%m-%d") {
        Ok(d) if d > today => Ok(Some(d)),
        Ok(_) => Err("Choose a date after today to pause until (or leave it empty).".into()),
        Err(_) => Err("Write the date as YYYY-MM-DD.".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_like_topic_previews_what_a_digest_run_of_today_finds() {
        use crate::digest::ranked::testing::{disagreeing_day, LIKED};
        let (store, _dir) = crate::store::test_store().await;
        let (today, expected) = disagreeing_day(&store).await;
        let likes = LikeLookup::new(store.clone(), None);
        let frequencies = Frequencies::new();
        let topics = [NewTopic {
            name: "like".into(),
            query: format!("like:{LIKED}"),
        }];
        let days = PreviewCache::default()
            .days(&store, today, today)
            .await
            .unwrap();
        let view = days
            .preview(&store, &frequencies, &likes, &topics, today)
            .await
            .unwrap();
        let titles: BTreeSet<String> = view
            .papers
            .iter()
            .map(|p| p.title.iter().map(|s| s.text.as_str()).collect())
            .collect();
        let expected_titles: BTreeSet<String> = store
            .papers_by_id(
                &expected
                    .iter()
                    .map(|id| crate::domain::PaperId::from_stored(id.clone()))
                    .collect::<Vec<_>>(),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.title)
            .collect();
        assert_eq!(titles, expected_titles);
    }

    #[test]
    fn a_pause_is_a_date_after_today() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(parse_pause("", today), Ok(None));
        assert_eq!(
            parse_pause("2026-12-01", today),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 1))
        );
        assert!(parse_pause("2026-11-26", today).is_err());
        assert!(parse_pause("1/12/2026", today).is_err());
    }
}

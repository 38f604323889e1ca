//! "More like this" / "Less like this": `GET /feedback/{token}/{more|less}
//! ?paper=ID` shows the paper and one button and records nothing (mail
//! scanners open every link); `POST` to the same address records the mark,
//! idempotently (the other mark replaces it). The token is bound to the
//! paper's id, so a changed id is an invalid link.
//!
//! Also the settings page's card of marked papers: `POST
//! /manage/{token}/marks` removes a mark or saves the ranking switches.
//! Marks are personal data: logged as counts and ids of subscribers only,
//! never which paper.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::error::{page, LinkFailure, WebError};
use super::form::form_rejection;
use super::AppState;
use crate::digest::ranked::record_mark;
use crate::domain::{normalise_inline, PaperId, Subscriber};
use crate::email::{safe_href, shorten_authors, AUTHORS_SHOWN};
use crate::links::{LinkClaims, Purpose};
use crate::ranking::Mark;
use crate::store::{DbError, RankingSwitches};

#[derive(Debug, Default, Deserialize)]
pub struct FeedbackQuery {
    #[serde(default)]
    paper: String,
}

#[derive(Template)]
#[template(path = "web/feedback.html")]
struct FeedbackPage {
    base: String,
    heading: String,
    title: String,
    paper_url: String,
    authors: String,
    effect: String,
    button: String,
    /// After the POST: what was recorded (and no button).
    notice: Option<String>,
    ranking_off: bool,
    manage_url: String,
}

fn parse_mark(mark: &str) -> Result<Mark, WebError> {
    match mark {
        "more" => Ok(Mark::More),
        "less" => Ok(Mark::Less),
        _ => Err(WebError::NotFound),
    }
}

/// A feedback link checked: its subscriber (current link version), the
/// mark and the paper it is bound to.
struct Opened {
    subscriber: Subscriber,
    claims: LinkClaims,
    mark: Mark,
    paper: crate::domain::Paper,
}

/// Checks a feedback link: the mark's name, the paper parameter, the token
/// (signature, purpose, expiry, bound to that paper, not revoked) and that
/// the paper is still stored (a 404 page saying so when it is not).
async fn open(
    web: &AppState,
    token: &str,
    mark: &str,
    query: &FeedbackQuery,
    now: DateTime<Utc>,
) -> Result<Opened, WebError> {
    let mark = parse_mark(mark)?;
    let id = query.paper.trim();
    if id.is_empty() {
        return Err(WebError::Link(LinkFailure::Invalid));
    }
    let (subscriber, claims) =
        super::token::verify_bound(web, token, Purpose::Feedback, now, id.as_bytes()).await?;
    let paper = web
        .store
        .papers_by_id(&[PaperId::from_stored(id.to_string())])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| {
            WebError::BadRequest(
                StatusCode::NOT_FOUND,
                "This paper is no longer stored here, so it cannot be marked. Nothing was recorded."
                    .into(),
            )
        })?;
    Ok(Opened {
        subscriber,
        claims,
        mark,
        paper,
    })
}

fn view(
    web: &AppState,
    opened: &Opened,
    ranking_on: bool,
    notice: Option<String>,
    now: DateTime<Utc>,
) -> FeedbackPage {
    let Opened {
        subscriber: sub,
        claims,
        mark,
        paper,
    } = opened;
    let (heading, effect, button) = match mark {
        Mark::More => (
            "More papers like this one?",
            "Papers like this will rank higher in your digests, and papers like it that your topics did not match may be recommended to you.",
            "More like this",
        ),
        Mark::Less => (
            "Fewer papers like this one?",
            "This paper will not be sent to you again, and papers very like it will rank lower in your digests.",
            "Less like this",
        ),
    };
    let manage = super::token::sign(web, Purpose::Manage, sub.id, claims.link_version, now);
    FeedbackPage {
        base: web.base_path(),
        heading: heading.into(),
        title: normalise_inline(&paper.title),
        paper_url: safe_href(&paper.url),
        authors: shorten_authors(&paper.authors, AUTHORS_SHOWN),
        effect: effect.into(),
        button: button.into(),
        notice,
        ranking_off: !ranking_on,
        manage_url: format!("{}/manage/{manage}", web.base_path()),
    }
}

/// The one-button page; records nothing.
pub async fn show(
    State(web): State<Arc<AppState>>,
    Path((token, mark)): Path<(String, String)>,
    Query(query): Query<FeedbackQuery>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let opened = open(&web, &token, &mark, &query, now).await?;
    answer(&web, &opened, None, now).await
}

/// Records the mark (an upsert: the same mark again changes nothing, the
/// other one replaces it).
pub async fn record(
    State(web): State<Arc<AppState>>,
    Path((token, mark)): Path<(String, String)>,
    Query(query): Query<FeedbackQuery>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let opened = open(&web, &token, &mark, &query, now).await?;
    let Opened {
        subscriber,
        claims,
        mark,
        paper,
    } = &opened;
    match record_mark(
        &web.store,
        &web.frequencies,
        subscriber.id,
        claims.link_version,
        &paper.id,
        Some(*mark),
        web.today(now),
    )
    .await
    {
        Ok(()) => {}
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(subscriber.id = %subscriber.id, "paper marked");
    let notice = match mark {
        Mark::More => "Noted: papers like this will rank higher in your digests.",
        Mark::Less => "Noted: this paper will not come back, and papers like it will rank lower.",
    };
    answer(&web, &opened, Some(notice.into()), now).await
}

/// The feedback page for an opened link, with the subscriber's ranking
/// switch as stored now; `notice` after a mark was recorded.
async fn answer(
    web: &AppState,
    opened: &Opened,
    notice: Option<String>,
    now: DateTime<Utc>,
) -> Result<Response, WebError> {
    let switches = web.store.ranking_switches(opened.subscriber.id).await?;
    page(
        StatusCode::OK,
        &view(web, opened, switches.ranking, notice, now),
    )
}

/// One marked paper on the settings page.
pub struct MarkRow {
    pub paper_id: String,
    pub title: String,
    pub url: String,
    pub more: bool,
}

/// The settings page's card of marked papers and ranking switches.
#[derive(Default)]
pub struct MarksCard {
    pub marks: Vec<MarkRow>,
    pub ranking: bool,
    pub recommendations: bool,
    /// Where its forms post.
    pub action: String,
}

/// The card for subscriber `sub`, whose manage token is `token`.
pub async fn marks_card(
    web: &AppState,
    sub: &Subscriber,
    token: &str,
) -> Result<MarksCard, WebError> {
    let (switches, marks) = web.store.marks_and_switches(sub.id).await?;
    Ok(MarksCard {
        marks: marks
            .into_iter()
            .map(|m| MarkRow {
                paper_id: m.paper_id.to_string(),
                title: normalise_inline(&m.title),
                url: safe_href(&m.url),
                more: m.mark == Mark::More,
            })
            .collect(),
        ranking: switches.ranking,
        recommendations: switches.recommendations,
        action: format!("{}/manage/{token}/marks", web.base_path()),
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct MarksForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    paper: String,
    #[serde(default)]
    ranking: String,
    #[serde(default)]
    recommendations: String,
}

/// `action=remove` with `paper`, or `action=switches` with the
/// `ranking` and `recommendations` checkboxes; back to the settings page.
pub async fn manage_marks(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
    form: Result<Form<MarksForm>, FormRejection>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (sub, claims) = super::token::verify(&web, &token, Purpose::Manage, now).await?;
    let Form(form) = form.map_err(form_rejection)?;
    let done = match form.action.as_str() {
        "remove" => {
            let paper = PaperId::from_stored(form.paper.trim().to_string());
            record_mark(
                &web.store,
                &web.frequencies,
                sub.id,
                claims.link_version,
                &paper,
                None,
                web.today(now),
            )
            .await
        }
        "switches" => {
            web.store
                .set_ranking_switches(
                    sub.id,
                    claims.link_version,
                    RankingSwitches {
                        ranking: form.ranking == "on",
                        recommendations: form.recommendations == "on",
                    },
                )
                .await
        }
        _ => {
            return Err(WebError::BadRequest(
                StatusCode::BAD_REQUEST,
                "Unknown action; please use the buttons on the page.".into(),
            ))
        }
    };
    match done {
        Ok(()) => {}
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(subscriber.id = %sub.id, "ranking settings changed");
    Ok(Redirect::to(&format!("{}/manage/{token}#marks", web.base_path())).into_response())
}

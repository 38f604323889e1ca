//! `GET /confirm/{token}` shows the topics that confirming will subscribe
//! to and a button (mail scanners follow links); only `POST` confirms.
//! When the address asked again through the public form, what it asked is
//! shown and applied only by this `POST`, and only the revision shown.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use serde::Deserialize;

use super::error::{page, LinkFailure, WebError};
use super::message::MessagePage;
use super::token::LinkPath;
use super::AppState;
use crate::domain::{NewTopic, Subscriber};
use crate::links::{link_url, Purpose};
use crate::store::ConfirmOutcome;

#[derive(Template)]
#[template(path = "web/confirm.html")]
struct ConfirmPage {
    base: String,
    site_name: String,
    topics: Vec<String>,
    /// The revision of the waiting request shown, posted back.
    revision: Option<i64>,
    /// Set when the request changed between showing and confirming.
    notice: Option<String>,
    /// The top papers of the day after the topics.
    top_papers: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    revision: String,
}

/// The page for `subscriber`: the waiting request's topics if there is
/// one, else the stored ones.
async fn confirm_page(
    web: &AppState,
    subscriber: Subscriber,
    notice: Option<String>,
) -> Result<ConfirmPage, WebError> {
    let request = web.store.pending_request(subscriber.id).await?;
    let top_papers = match &request {
        Some(r) => r.top_papers,
        None => subscriber.top_papers,
    };
    let (topics, revision) = match request {
        Some(r) => (r.topics, Some(r.revision)),
        None => (
            subscriber
                .topics
                .into_iter()
                .map(|t| NewTopic {
                    name: t.name,
                    query: t.query,
                })
                .collect(),
            None,
        ),
    };
    Ok(ConfirmPage {
        base: web.base_path(),
        site_name: web.config.site_name.clone(),
        topics: topics.into_iter().map(|t| t.query).collect(),
        revision,
        notice,
        top_papers,
    })
}

pub async fn show(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
) -> Result<Response, WebError> {
    let (subscriber, _) = super::token::verify(&web, &token, Purpose::Confirm, Utc::now()).await?;
    page(StatusCode::OK, &confirm_page(&web, subscriber, None).await?)
}

pub async fn confirm(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
    form: Result<Form<ConfirmForm>, FormRejection>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(&web, &token, Purpose::Confirm, now).await?;
    let shown = form
        .ok()
        .and_then(|Form(f)| f.revision.trim().parse::<i64>().ok());
    let outcome = web
        .store
        .confirm_subscriber(subscriber.id, claims.link_version, shown, now)
        .await?;
    if outcome == ConfirmOutcome::Changed {
        let notice =
            "These topics were asked for after the page was shown; check them and confirm again.";
        return page(
            StatusCode::CONFLICT,
            &confirm_page(&web, subscriber, Some(notice.into())).await?,
        );
    }
    let title = match outcome {
        ConfirmOutcome::Confirmed => {
            tracing::info!(subscriber.id = %subscriber.id, "subscription confirmed");
            "You are subscribed"
        }
        ConfirmOutcome::AlreadyActive => "You were already subscribed",
        ConfirmOutcome::NotConfirmable | ConfirmOutcome::Changed => {
            return Err(WebError::Link(LinkFailure::Revoked))
        }
    };
    let manage = super::token::sign(
        &web,
        Purpose::Manage,
        subscriber.id,
        claims.link_version,
        now,
    );
    page(
        StatusCode::OK,
        &MessagePage {
            base: web.base_path(),
            title: title.into(),
            paragraphs: vec![
                "Your first digest arrives with the next papers that match your topics.".into(),
                "Every digest has a link to your settings, where you can change topics, choose daily or weekly, pause or unsubscribe.".into(),
            ],
            manage_url: Some(
                link_url(&web.config.base_url, Purpose::Manage, &manage).to_string(),
            ),
        },
    )
}

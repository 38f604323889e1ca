//! `GET /confirm/{token}` shows a button (mail scanners follow links);
//! only `POST` confirms.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::error::{page, LinkFailure, WebError};
use super::message::MessagePage;
use super::AppState;
use crate::links::{link_url, Purpose};
use crate::store::ConfirmOutcome;

#[derive(Template)]
#[template(path = "web/confirm.html")]
struct ConfirmPage {
    base: String,
    site_name: String,
    topics: Vec<String>,
}

pub async fn show(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (subscriber, _) = super::token::verify(&web, &token, Purpose::Confirm, Utc::now()).await?;
    page(
        StatusCode::OK,
        &ConfirmPage {
            base: web.base_path(),
            site_name: web.config.site_name.clone(),
            topics: subscriber.topics.into_iter().map(|t| t.query).collect(),
        },
    )
}

pub async fn confirm(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(&web, &token, Purpose::Confirm, now).await?;
    let outcome = web
        .store
        .confirm_subscriber(subscriber.id, claims.link_version, now)
        .await?;
    let title = match outcome {
        ConfirmOutcome::Confirmed => {
            tracing::info!(subscriber.id = %subscriber.id, "subscription confirmed");
            "You are subscribed"
        }
        ConfirmOutcome::AlreadyActive => "You were already subscribed",
        ConfirmOutcome::NotConfirmable => return Err(WebError::Link(LinkFailure::Revoked)),
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

//! `GET /unsubscribe/{token}` shows a one-button page; `POST` unsubscribes,
//! idempotently. The POST is also RFC 8058's one-click target: a mail
//! client sends the body `List-Unsubscribe=One-Click` with no cookie, so the
//! signed token in the URL is all the authority needed, and the body is not
//! read.

use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;

use super::error::{page, LinkFailure, WebError};
use super::message::MessagePage;
use super::token::LinkPath;
use super::AppState;
use crate::links::Purpose;
use crate::store::DbError;

#[derive(Template)]
#[template(path = "web/unsubscribe.html")]
struct UnsubscribePage {
    base: String,
    site_name: String,
}

pub async fn show(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
) -> Result<Response, WebError> {
    super::token::verify(&web, &token, Purpose::Unsubscribe, Utc::now()).await?;
    page(
        StatusCode::OK,
        &UnsubscribePage {
            base: web.base_path(),
            site_name: web.config.site_name.clone(),
        },
    )
}

pub async fn unsubscribe(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) =
        super::token::verify(&web, &token, Purpose::Unsubscribe, now).await?;
    match web
        .store
        .unsubscribe(subscriber.id, claims.link_version, now)
        .await
    {
        Ok(()) => {}
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(subscriber.id = %subscriber.id, "unsubscribed");
    page(
        StatusCode::OK,
        &MessagePage {
            base: web.base_path(),
            title: "You are unsubscribed".into(),
            paragraphs: vec![
                "You will get no more digests. Changed your mind? Subscribe again from the front page.".into(),
            ],
            manage_url: None,
        },
    )
}

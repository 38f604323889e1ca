//! The subscriber's own data, behind their manage link:
//! `GET /manage/{token}/data` downloads everything stored about them as
//! JSON (an attachment), and `/manage/{token}/delete` erases it. Deleting
//! takes two steps: `GET` (or a `POST` without `confirm`) shows what will be
//! deleted with a confirming button; only a `POST` with `confirm=delete`
//! erases. Afterwards every link they were sent shows the link-error page
//! and no mail goes to them.

use std::sync::Arc;

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse as _, Response};
use chrono::Utc;
use serde::Deserialize;

use super::error::{page, LinkFailure, WebError};
use super::form::form_rejection;
use super::message::MessagePage;
use super::AppState;
use crate::links::Purpose;
use crate::store::DbError;

/// The value of `confirm` that deletes.
const CONFIRM: &str = "delete";

#[derive(Template)]
#[template(path = "web/forget.html")]
struct ForgetPage {
    base: String,
    site_name: String,
    topics: usize,
    papers: usize,
    requests: usize,
    deliveries: usize,
    data_url: String,
    manage_url: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct ForgetForm {
    #[serde(default)]
    confirm: String,
}

/// `GET /manage/{token}/data`: everything stored about the subscriber.
pub async fn download(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let (subscriber, _) = super::token::verify(&web, &token, Purpose::Manage, Utc::now()).await?;
    let data = match web.store.personal_data(subscriber.id).await {
        Ok(d) => d,
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    };
    let json =
        serde_json::to_string_pretty(&data.to_json()).map_err(|e| WebError::Internal(e.into()))?;
    tracing::info!(subscriber.id = %subscriber.id, "personal data downloaded");
    let filename = format!(
        "{}-my-data.json",
        web.config
            .site_name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>()
    );
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                "application/json; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        json,
    )
        .into_response())
}

/// `GET /manage/{token}/delete`: the confirmation step; changes nothing.
pub async fn confirm_page(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    show_confirmation(&web, &token).await
}

/// `POST /manage/{token}/delete`: erases with `confirm=delete`, else shows
/// the confirmation step.
pub async fn delete(
    State(web): State<Arc<AppState>>,
    Path(token): Path<String>,
    form: Result<Form<ForgetForm>, FormRejection>,
) -> Result<Response, WebError> {
    let Form(form) = form.map_err(form_rejection)?;
    if form.confirm != CONFIRM {
        return show_confirmation(&web, &token).await;
    }
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(&web, &token, Purpose::Manage, now).await?;
    let erasure = match web
        .store
        .erase_subscriber(subscriber.id, Some(claims.link_version), now)
        .await
    {
        Ok(e) => e,
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        subscriber.id = %subscriber.id,
        rows.deleted = erasure.deleted_rows(),
        "subscriber erased at their request"
    );
    page(
        StatusCode::OK,
        &MessagePage {
            base: web.base_path(),
            title: "Everything about you is deleted".into(),
            paragraphs: vec![
                "Your address, your topics and settings, and the record of which papers we sent you are erased. No more email will be sent to you, and the links in earlier emails no longer work.".into(),
                "What stays is anonymous: how many digests went out on which days, with no address attached.".into(),
            ],
            manage_url: None,
        },
    )
}

async fn show_confirmation(web: &AppState, token: &str) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(web, token, Purpose::Manage, now).await?;
    let data = match web.store.personal_data(subscriber.id).await {
        Ok(d) => d,
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    };
    let rows = |table: &str| data.tables.get(table).map_or(0, Vec::len);
    let manage = super::token::sign(
        web,
        Purpose::Manage,
        subscriber.id,
        claims.link_version,
        now,
    );
    let manage_url = format!("{}/manage/{manage}", web.base_path());
    page(
        StatusCode::OK,
        &ForgetPage {
            base: web.base_path(),
            site_name: web.config.site_name.clone(),
            topics: rows("topics"),
            papers: rows("sent_papers"),
            requests: rows("subscription_requests"),
            deliveries: rows("deliveries"),
            data_url: format!("{manage_url}/data"),
            manage_url,
        },
    )
}

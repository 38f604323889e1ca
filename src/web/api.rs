//! `GET /api/papers`: the list of `/papers` as JSON, for scripts. Same
//! parameters (`date`, `week`, `days`, `q`, `page`), same order, same
//! matching. The fields are documented in docs/PAGES.md and stable: new
//! fields may be added, none renamed or removed. A bad parameter or query
//! is a 400 whose `error` names the parameter (and, for a query, the
//! column).

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{NaiveTime, Utc};
use serde::Serialize;

use super::conditional::respond;
use super::error::WebError;
use super::feed::rfc3339;
use super::listing::{Entry, Params, Selection, PAGE_SIZE};
use super::AppState;
use crate::email::web_link;

#[derive(Debug, Serialize)]
pub struct ApiList {
    /// First and last day listed, `YYYY-MM-DD`.
    pub from: String,
    pub to: String,
    /// The search, `null` without one.
    pub q: Option<String>,
    pub page: usize,
    pub pages: usize,
    pub page_size: usize,
    /// Papers listed (or matched) across all pages.
    pub total: usize,
    pub papers: Vec<ApiPaper>,
}

#[derive(Debug, Serialize)]
pub struct ApiPaper {
    /// The canonical id: a versionless arXiv id, or `feed:…`.
    pub id: String,
    pub title: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub upvotes: Option<i64>,
    #[serde(rename = "abstract")]
    pub abstract_text: String,
    /// The first listed day it was announced on.
    pub day: String,
    /// When the stored paper last changed (RFC 3339).
    pub updated: String,
    pub url: Option<String>,
    pub pdf_url: Option<String>,
    pub code_url: Option<String>,
    pub project_url: Option<String>,
    pub hf_url: Option<String>,
    /// In a search, the terms that matched it (`ti:diffusion`); else empty.
    pub matched: Vec<String>,
}

#[derive(Debug, Serialize)]
struct ApiError {
    error: ApiErrorBody,
}

#[derive(Debug, Serialize)]
struct ApiErrorBody {
    parameter: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
}

fn bad(parameter: &'static str, message: String, column: Option<usize>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(ApiError {
            error: ApiErrorBody {
                parameter,
                message,
                column,
            },
        }),
    )
        .into_response()
}

pub async fn papers(
    State(web): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let params = match Params::parse(raw.as_deref()) {
        Ok(p) => p,
        Err(e) => return Ok(bad(e.parameter, e.message, None)),
    };
    let query = match params.stored_query(&web.stored_likes, Utc::now()).await {
        Ok(q) => q,
        Err(e) => return Ok(bad("q", e.to_string(), Some(e.column))),
    };
    let sel = Selection::load(
        &web.store,
        &web.ranges,
        &web.stored_likes,
        params.span,
        query.as_slice(),
        web.today(Utc::now()),
    )
    .await?;
    let entries = sel.page(params.page);
    let updated = entries
        .iter()
        .map(|e| e.about.updated_at)
        .max()
        .unwrap_or_else(|| sel.to.and_time(NaiveTime::MIN).and_utc());
    let list = ApiList {
        from: sel.from.to_string(),
        to: sel.to.to_string(),
        q: (!params.q.is_empty()).then(|| params.q.clone()),
        page: params.page,
        pages: sel.pages(),
        page_size: PAGE_SIZE,
        total: sel.hits.len(),
        papers: entries.iter().map(|e| paper(&web, e)).collect(),
    };
    let body = serde_json::to_string(&list).map_err(|e| WebError::Internal(e.into()))?;
    Ok(respond(&headers, "application/json", body, updated))
}

fn paper(web: &AppState, e: &Entry<'_>) -> ApiPaper {
    let p = e.paper;
    ApiPaper {
        id: p.id.to_string(),
        title: p.title.clone(),
        authors: p.authors.clone(),
        categories: p.categories.clone(),
        upvotes: p.upvotes,
        abstract_text: p.abstract_text.clone(),
        day: e.about.day.to_string(),
        updated: rfc3339(e.about.updated_at),
        url: web_link(&p.url),
        pdf_url: p.pdf_url.as_deref().and_then(web_link),
        code_url: p.github_repo.as_deref().and_then(web_link),
        project_url: p.project_page.as_deref().and_then(web_link),
        hf_url: web.hf_page(p, &e.about.sources),
        matched: e.matched.iter().map(|m| m.label.to_string()).collect(),
    }
}

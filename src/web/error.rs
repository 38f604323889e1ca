//! Every failure of a subscriber page becomes a response here, and only
//! here: link problems get a clear page with a way to a new link, bad forms
//! a 4xx naming the problem, anything else an opaque 500 logged once with
//! its cause chain.
//!
//! An error becomes its response without the app's state, so the page links
//! to `/`; [`with_base_path`], layered over every route, renders it again
//! with the path prefix of `[web] base_url` (a site behind a reverse proxy at
//! `https://example.org/papers/` links to `/papers/`).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::links::LinkError;
use crate::store::DbError;

/// Why a signed link was not honoured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFailure {
    /// Truncated, tampered with, or not a link of ours.
    Invalid,
    /// A link for another action (an unsubscribe link opened as manage).
    WrongPurpose,
    Expired,
    /// Revoked by "revoke all old links", or the subscriber is gone.
    Revoked,
}

impl From<LinkError> for LinkFailure {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Malformed | LinkError::BadSignature => LinkFailure::Invalid,
            LinkError::WrongPurpose => LinkFailure::WrongPurpose,
            LinkError::Expired => LinkFailure::Expired,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("link refused: {0:?}")]
    Link(LinkFailure),
    /// The request itself was unusable (too large, wrong content type).
    #[error("bad request: {1}")]
    BadRequest(StatusCode, String),
    #[error("too many requests")]
    RateLimited,
    /// Work waiting for the server is at its bound: nothing was taken.
    #[error("too busy")]
    Busy,
    #[error("no such page")]
    NotFound,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<DbError> for WebError {
    fn from(e: DbError) -> Self {
        WebError::Internal(e.into())
    }
}

impl From<askama::Error> for WebError {
    fn from(e: askama::Error) -> Self {
        WebError::Internal(e.into())
    }
}

#[derive(Template)]
#[template(path = "web/error.html")]
struct ErrorPage {
    base: String,
    title: &'static str,
    message: String,
    /// Offer the subscribe page as the way to a fresh link.
    new_link: bool,
}

/// What an error page says, kept on its response for [`with_base_path`].
#[derive(Debug, Clone)]
struct ErrorParts {
    title: &'static str,
    message: String,
    new_link: bool,
}

impl ErrorParts {
    fn render(self, status: StatusCode, base: &str) -> Response {
        let title = self.title;
        let page = ErrorPage {
            base: base.trim_end_matches('/').to_string(),
            title,
            message: self.message.clone(),
            new_link: self.new_link,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, title).into_response(),
        };
        response.extensions_mut().insert(self);
        response
    }
}

/// Renders an error page again with `base` (the path prefix of
/// `[web] base_url`, without its trailing slash) in its links; other
/// responses pass unchanged.
pub async fn with_base_path(
    axum::extract::State(base): axum::extract::State<std::sync::Arc<str>>,
    response: Response,
) -> Response {
    match response.extensions().get::<ErrorParts>() {
        Some(parts) if !base.is_empty() => parts.clone().render(response.status(), &base),
        _ => response,
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message, new_link) = match &self {
            WebError::Link(f) => {
                let (status, title, message) = match f {
                    LinkFailure::Invalid => (
                        StatusCode::BAD_REQUEST,
                        "This link is not valid",
                        "The link is incomplete or was changed. Copy the whole address from the email, or ask for a new link.",
                    ),
                    LinkFailure::WrongPurpose => (
                        StatusCode::BAD_REQUEST,
                        "This link is for something else",
                        "This link cannot be used for this page. Use the matching link from your email, or ask for a new link.",
                    ),
                    LinkFailure::Expired => (
                        StatusCode::GONE,
                        "This link has expired",
                        "Links expire for your safety. Ask for a new one below.",
                    ),
                    LinkFailure::Revoked => (
                        StatusCode::GONE,
                        "This link is no longer valid",
                        "It was replaced by a newer link. Use the newest email, or ask for a new link.",
                    ),
                };
                (status, title, message.to_string(), true)
            }
            WebError::BadRequest(status, message) => (
                *status,
                "The request was not accepted",
                message.clone(),
                false,
            ),
            WebError::RateLimited => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                "Please wait a few minutes and try again.".to_string(),
                false,
            ),
            WebError::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Too busy right now",
                "Your request was not taken. Please try again in a minute.".to_string(),
                false,
            ),
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is nothing at this address.".to_string(),
                false,
            ),
            WebError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "subscriber page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The page could not be shown. Please try again later.".to_string(),
                    false,
                )
            }
        };
        let mut response = ErrorParts {
            title,
            message,
            new_link,
        }
        .render(status, "");
        if matches!(self, WebError::Busy) {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("60"),
            );
        }
        response
    }
}

/// A rendered page with `status`.
pub fn page(status: StatusCode, template: &impl Template) -> Result<Response, WebError> {
    Ok((status, Html(template.render()?)).into_response())
}

pub async fn not_found() -> WebError {
    WebError::NotFound
}

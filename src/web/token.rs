//! Turning a token from a URL into the subscriber it speaks for: signature,
//! purpose and expiry by [`crate::links`], then revocation against the
//! subscriber's current link version.

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::error::{LinkFailure, WebError};
use super::AppState;
use crate::domain::{Preferences, Subscriber, SubscriberId};
use crate::links::{LinkClaims, Purpose};
use crate::store::DbError;

pub async fn verify(
    web: &AppState,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(Subscriber, LinkClaims), WebError> {
    verify_bound(web, token, purpose, now, &[]).await
}

/// [`verify`] for a token bound to `subject` (a feedback link's paper id).
pub async fn verify_bound(
    web: &AppState,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
    subject: &[u8],
) -> Result<(Subscriber, LinkClaims), WebError> {
    let claims = web
        .signer
        .verify_bound(token, purpose, now, subject)
        .map_err(|e| WebError::Link(e.into()))?;
    let read = web.store.subscriber_by_id(claims.subscriber_id).await;
    let subscriber = current(read, &claims, |s| s)?;
    Ok((subscriber, claims))
}

/// [`verify`] that also reads the subscriber's schedule preferences, in
/// the same statement (the settings page).
pub async fn verify_settings(
    web: &AppState,
    token: &str,
    purpose: Purpose,
    now: DateTime<Utc>,
) -> Result<(Subscriber, Preferences, LinkClaims), WebError> {
    let claims = web
        .signer
        .verify_bound(token, purpose, now, &[])
        .map_err(|e| WebError::Link(e.into()))?;
    let read = web.store.subscriber_settings(claims.subscriber_id).await;
    let (subscriber, prefs) = current(read, &claims, |(s, _)| s)?;
    Ok((subscriber, prefs, claims))
}

/// What was read for a link's subscriber, unless they are gone or the link
/// was revoked since it was signed.
fn current<T>(
    read: Result<T, DbError>,
    claims: &LinkClaims,
    subscriber: impl Fn(&T) -> &Subscriber,
) -> Result<T, WebError> {
    let found = match read {
        Ok(found) => found,
        Err(DbError::NotFound) => return Err(WebError::Link(LinkFailure::Revoked)),
        Err(e) => return Err(e.into()),
    };
    if subscriber(&found).link_version != claims.link_version {
        return Err(WebError::Link(LinkFailure::Revoked));
    }
    Ok(found)
}

/// A fresh token for `purpose` at the subscriber's current link version.
pub fn sign(
    web: &AppState,
    purpose: Purpose,
    id: SubscriberId,
    link_version: i64,
    now: DateTime<Utc>,
) -> String {
    web.signer
        .sign(purpose, id, link_version, purpose.default_expiry(now))
}

/// The path parameters of a signed-link page (`/manage/{token}`,
/// `/digest/{token}/{date}`, …). A path that cannot be decoded (`%FF`, a
/// broken percent escape) is a broken link like any other: the link-error
/// page, not axum's plain-text rejection.
pub struct LinkPath<T>(pub T);

impl<T, S> FromRequestParts<S> for LinkPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(LinkPath(value)),
            Err(_) => Err(WebError::Link(LinkFailure::Invalid)),
        }
    }
}

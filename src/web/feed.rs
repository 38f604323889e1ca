//! `GET /papers.atom`: the papers page as an Atom 1.0 feed, with the same
//! parameters (`date`, `week`, `days`, `q`, `page`). Entry ids are the
//! papers' canonical ids, stable across days, versions and sources; a feed
//! reader's conditional GET gets a 304 while nothing changed.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, NaiveTime, Utc};

use super::conditional::respond;
use super::error::WebError;
use super::listing::{week_param, Entry, Params, Selection, Span};
use super::papers::bad_param;
use super::token::LinkPath;
use super::AppState;
use crate::domain::PaperId;
use crate::email::{matched_labels, web_link};
use crate::links::Purpose;
use crate::matching::Query;

pub struct AtomEntry {
    pub id: String,
    pub title: String,
    pub url: String,
    pub updated: String,
    pub authors: Vec<String>,
    pub categories: Vec<String>,
    pub summary: String,
}

#[derive(Template)]
#[template(path = "web/papers_feed.xml")]
pub struct AtomFeed {
    pub id: String,
    pub title: String,
    pub updated: String,
    pub self_url: String,
    pub page_url: String,
    pub site_name: String,
    pub entries: Vec<AtomEntry>,
}

pub async fn atom(
    State(web): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref()).map_err(bad_param)?;
    let query = params
        .stored_query(&web.stored_likes, Utc::now())
        .await
        .map_err(|e| {
            WebError::BadRequest(
                StatusCode::BAD_REQUEST,
                format!("The q parameter is not a valid query: {e}."),
            )
        })?;
    let today = web.today(Utc::now());
    let sel = Selection::load(
        &web.store,
        &web.ranges,
        &web.stored_likes,
        params.span,
        query.as_slice(),
        today,
    )
    .await?;
    let entries = sel.page(params.page);
    let updated = entries
        .iter()
        .map(|e| e.about.updated_at)
        .max()
        .unwrap_or_else(|| sel.to.and_time(NaiveTime::MIN).and_utc());
    let feed = AtomFeed {
        id: web.public_url("papers.atom", &params.query_string(sel.span, None)),
        title: feed_title(&web.config.site_name, &params, sel.span),
        updated: rfc3339(updated),
        self_url: web.public_url("papers.atom", &params.query_string(sel.span, None)),
        page_url: web.public_url("papers", &params.query_string(sel.span, None)),
        site_name: web.config.site_name.clone(),
        entries: entries.iter().map(|e| entry(&web, e)).collect(),
    };
    Ok(respond(
        &headers,
        "application/atom+xml; charset=utf-8",
        feed.render()?,
        updated,
    ))
}

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Days the personal feed covers.
pub const PERSONAL_FEED_DAYS: u32 = 30;
/// Most entries in the personal feed.
pub const PERSONAL_FEED_ENTRIES: usize = 100;

/// `GET /feed/{token}`: a subscriber's personal feed, the papers of the
/// last [`PERSONAL_FEED_DAYS`] days any of their topics matches (each
/// explained), for people who prefer a feed reader to mail. The link is
/// on their settings page and is revoked with their other links.
pub async fn personal(
    State(web): State<Arc<AppState>>,
    LinkPath(token): LinkPath<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, claims) = super::token::verify(&web, &token, Purpose::Feed, now).await?;
    let queries: Vec<Query> = subscriber
        .topics
        .iter()
        .filter_map(|t| Query::parse(&t.query).ok())
        .collect();
    let sel = Selection::load(
        &web.store,
        &web.ranges,
        &web.stored_likes,
        Span::Days(PERSONAL_FEED_DAYS),
        &queries,
        web.today(now),
    )
    .await?;
    let entries = if queries.is_empty() {
        Vec::new()
    } else {
        sel.first(PERSONAL_FEED_ENTRIES)
    };
    let updated = entries
        .iter()
        .map(|e| e.about.updated_at)
        .max()
        .unwrap_or_else(|| sel.to.and_time(NaiveTime::MIN).and_utc());
    let url = web.public_url(&format!("feed/{token}"), "");
    let feed = AtomFeed {
        id: format!(
            "{}feed:{}:{}",
            tag_prefix(&web),
            subscriber.id,
            claims.link_version
        ),
        title: format!("{}: your topics", web.config.site_name),
        updated: rfc3339(updated),
        self_url: url,
        page_url: web.public_url("papers", ""),
        site_name: web.config.site_name.clone(),
        entries: entries.iter().map(|e| entry(&web, e)).collect(),
    };
    Ok(respond(
        &headers,
        "application/atom+xml; charset=utf-8",
        feed.render()?,
        updated,
    ))
}

fn feed_title(site: &str, params: &Params, span: Span) -> String {
    let days = match span {
        Span::Latest => "the latest papers".to_string(),
        Span::Day(d) => format!("papers of {}", d.format("%-d %B %Y")),
        Span::Week(m) => format!("papers of the week {}", week_param(m)),
        Span::Days(n) => format!("papers of the last {n} days"),
    };
    if params.q.is_empty() {
        format!("{site}: {days}")
    } else {
        format!("{site}: {days} matching {}", params.q)
    }
}

/// The start of every tag URI (RFC 4151) the feeds mint: the site's host.
fn tag_prefix(web: &AppState) -> String {
    let host = web.config.base_url.host_str().unwrap_or("localhost");
    format!("tag:{host},2026:")
}

/// A paper's entry id: a tag URI on the site's host holding the paper's
/// canonical id, the same whichever day, version or source.
pub fn entry_id(web: &AppState, id: &PaperId) -> String {
    let id: String = url::form_urlencoded::byte_serialize(id.as_str().as_bytes()).collect();
    format!("{}paper:{id}", tag_prefix(web))
}

fn entry(web: &AppState, e: &Entry<'_>) -> AtomEntry {
    let p = e.paper;
    let mut summary = p.abstract_text.clone();
    if !e.matched.is_empty() {
        summary = format!("Matched: {}\n\n{summary}", matched_labels(&e.matched));
    }
    AtomEntry {
        id: entry_id(web, &p.id),
        title: xml_text(&p.title),
        url: web_link(&p.url).unwrap_or_else(|| web.public_url("papers", "")),
        updated: rfc3339(e.about.updated_at),
        authors: p
            .authors
            .iter()
            .map(|a| xml_text(a))
            .filter(|a| !a.trim().is_empty())
            .collect(),
        categories: p.categories.iter().map(|c| xml_text(c)).collect(),
        summary: xml_text(&summary),
    }
}

/// `s` without the characters XML 1.0 does not allow in a document (C0
/// controls other than tab and line breaks, U+FFFE, U+FFFF): escaping
/// cannot make them legal, and one of them makes the whole feed unreadable.
pub fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || !(c < ' ' || c == '\u{fffe}' || c == '\u{ffff}')
        })
        .collect()
}

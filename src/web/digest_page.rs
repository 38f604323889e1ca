//! `GET /digest/{token}/{date}`: one of a subscriber's digests as a web
//! page ("view in browser", linked from every digest), so nothing is lost
//! when a mail client clips a long digest: the papers it carried, under
//! their topics and explained, then the papers its cap left out (those
//! the "N more papers" line counts), as far as they were not mailed since.
//!
//! The token is the subscriber's, for this purpose only, and is revoked
//! with their other links; the date picks one of their digests.

use std::collections::HashSet;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{Duration, Utc};

use super::error::{page, WebError};
use super::listing::{parse_date, Entry, Selection, Span};
use super::papers::{bad_param, card, PaperCard};
use super::token::LinkPath;
use super::AppState;
use crate::domain::{Frequency, Paper, PaperId, RECOMMENDED_POSITION, TOP_PAPERS_POSITION};
use crate::email::{top_papers_heading, RECOMMENDED_SECTION};
use crate::links::Purpose;
use crate::matching::{MatchedTerm, Matcher, Query};
use crate::store::ListedPaper;

/// Most left-out papers listed.
const MORE_LISTED: usize = 200;

pub struct DigestSection {
    pub name: String,
    pub query: String,
    pub papers: Vec<PaperCard>,
}

#[derive(Template)]
#[template(path = "web/digest.html")]
struct DigestPage {
    base: String,
    site_name: String,
    date_label: String,
    sections: Vec<DigestSection>,
    more_count: usize,
    more: Vec<PaperCard>,
}

pub async fn show(
    State(web): State<Arc<AppState>>,
    LinkPath((token, date)): LinkPath<(String, String)>,
) -> Result<Response, WebError> {
    let now = Utc::now();
    let (subscriber, _) = super::token::verify(&web, &token, Purpose::ViewDigest, now).await?;
    let date = parse_date(&date).map_err(bad_param)?;
    let Some(delivery) = web.store.delivery_for(subscriber.id, date).await? else {
        return Err(WebError::NotFound);
    };
    let listed = web.store.delivery_papers(delivery.id).await?;
    let ids: Vec<PaperId> = listed.iter().map(|(id, _)| id.clone()).collect();
    let papers = web.store.papers_by_id(&ids).await?;
    let position_of = |id: &PaperId| {
        listed
            .iter()
            .find(|(l, _)| l == id)
            .map(|(_, p)| *p)
            .unwrap_or(-1)
    };
    let about = ListedPaper {
        day: date,
        sources: Vec::new(),
        updated_at: now,
        seq: 0,
    };
    let card_of = |index: usize, paper: &Paper, matched: Vec<MatchedTerm>| {
        card(
            &web,
            &Entry {
                paper,
                about: &about,
                matched,
                index,
            },
            false,
        )
    };
    // Each paper explained by the topic it was listed under, as mailed.
    let mut matcher = Matcher::new(&papers);
    let mut sections = Vec::new();
    let mut shown = HashSet::new();
    for topic in &subscriber.topics {
        let compiled = Query::parse(&topic.query).ok().map(|q| matcher.compile(&q));
        let cards: Vec<PaperCard> = papers
            .iter()
            .enumerate()
            .filter(|(_, p)| position_of(&p.id) == topic.position)
            .map(|(i, p)| {
                shown.insert(i);
                let matched = compiled
                    .as_ref()
                    .map(|c| matcher.explain(c, i))
                    .unwrap_or_default();
                card_of(i, p, matched)
            })
            .collect();
        if !cards.is_empty() {
            sections.push(DigestSection {
                name: topic.name.clone(),
                query: topic.query.clone(),
                papers: cards,
            });
        }
    }
    let prefs = web.store.preferences(subscriber.id).await?;
    let weekly = matches!(prefs.frequency, Frequency::Weekly(_));
    // After the topics: the recommendations, then the top papers.
    for (position, name) in [
        (RECOMMENDED_POSITION, RECOMMENDED_SECTION),
        (TOP_PAPERS_POSITION, top_papers_heading(weekly)),
    ] {
        let cards: Vec<PaperCard> = papers
            .iter()
            .enumerate()
            .filter(|(_, p)| position_of(&p.id) == position)
            .map(|(i, p)| {
                shown.insert(i);
                card_of(i, p, Vec::new())
            })
            .collect();
        if !cards.is_empty() {
            sections.push(DigestSection {
                name: name.into(),
                query: String::new(),
                papers: cards,
            });
        }
    }
    let others: Vec<PaperCard> = papers
        .iter()
        .enumerate()
        .filter(|(i, _)| !shown.contains(i))
        .map(|(i, p)| card_of(i, p, Vec::new()))
        .collect();
    if !others.is_empty() {
        sections.push(DigestSection {
            name: "Other".into(),
            query: String::new(),
            papers: others,
        });
    }

    // What the cap left out: the topics' matches over the digest's days,
    // less what this digest or any other carried.
    let mut more = Vec::new();
    let more_count = delivery.more_count.max(0) as usize;
    if more_count > 0 {
        let days = match prefs.frequency {
            Frequency::Weekly(_) => 6,
            Frequency::Daily => i64::from(web.config.lookback_days),
        };
        let queries: Vec<Query> = subscriber
            .topics
            .iter()
            .filter_map(|t| Query::parse(&t.query).ok())
            .collect();
        let sel = Selection::load_days(
            &web.store,
            &web.ranges,
            &web.likes,
            Span::Day(date),
            date - Duration::days(days),
            date,
            &queries,
        )
        .await?;
        let candidates: Vec<&PaperId> = sel.hits.iter().map(|&i| &sel.papers()[i].id).collect();
        let sent = web.store.already_sent(subscriber.id, &candidates).await?;
        more = sel
            .first(sel.hits.len())
            .into_iter()
            .filter(|e| !sent.contains(&e.paper.id))
            .take(MORE_LISTED)
            .map(|e| card(&web, &e, true))
            .collect();
    }
    page(
        StatusCode::OK,
        &DigestPage {
            base: web.base_path(),
            site_name: web.config.site_name.clone(),
            date_label: date.format("%A, %-d %B %Y").to_string(),
            sections,
            more_count,
            more,
        },
    )
}

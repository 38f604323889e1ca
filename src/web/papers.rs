//! `GET /papers`: the papers paperboy collected, a day (the latest by
//! default), a week or the last N days at a time, most upvoted first;
//! `?q=` searches them in the topic language, marking and explaining the
//! matches as a digest does, with a button to subscribe to the search.
//!
//! A bad parameter is a 400 page naming it; a query with a mistake is the
//! page again with the parser's message (and its column) next to the box,
//! also a 400. Nothing here writes to the store.

use std::sync::Arc;

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::{Duration, NaiveDate, Utc};

use super::error::WebError;
use super::form::Choice;
use super::listing::{
    monday_of, week_param, Entry, ParamError, Params, Selection, Span, PAGE_SIZE,
};
use super::AppState;
use crate::email::{matched_labels, paper_view, Span as TextSpan};

/// How long a browser or proxy may reuse a papers page.
pub const PAGES_MAX_AGE_SECS: u32 = 300;

/// One paper as the page shows it.
pub struct PaperCard {
    pub title: String,
    /// The abstract page; empty when the source gave no web link.
    pub url: String,
    pub authors: String,
    pub categories: String,
    /// "12 upvotes", for papers with a count.
    pub upvotes: Option<String>,
    pub excerpt: Vec<TextSpan>,
    /// Why it matched, as the digest says it; empty when browsing.
    pub matched: String,
    /// (label, URL) of the abstract, PDF, code, project and Hugging Face pages.
    pub links: Vec<(&'static str, String)>,
    /// The day it was announced on, in a view of several days.
    pub day: Option<String>,
}

/// A link of the page's navigation.
pub struct NavLink {
    pub label: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "web/papers.html")]
pub struct PapersPage {
    pub base: String,
    pub site_name: String,
    pub heading: String,
    pub q: String,
    pub query_error: Option<String>,
    pub ranges: Vec<Choice>,
    pub hidden_date: Option<String>,
    pub hidden_week: Option<String>,
    pub nav: Vec<NavLink>,
    /// "12 papers match …", or how many papers the days have.
    pub summary: String,
    pub searching: bool,
    pub papers: Vec<PaperCard>,
    pub first_number: usize,
    pub prev_page: Option<String>,
    pub next_page: Option<String>,
    pub page_label: String,
    pub atom_href: String,
    pub json_href: String,
}

pub async fn show(
    State(web): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, WebError> {
    let params = Params::parse(raw.as_deref()).map_err(bad_param)?;
    let today = web.today(Utc::now());
    let query = match params.stored_query(&web.stored_likes, Utc::now()).await {
        Ok(q) => q,
        Err(e) => {
            let span = match params.span {
                Span::Latest => Span::Day(web.store.latest_announced_day().await?.unwrap_or(today)),
                s => s,
            };
            let page = PapersPage {
                query_error: Some(format!("{e}.")),
                summary: "Nothing was searched: correct the query above.".into(),
                ..frame(&web, &params, span)
            };
            return render(StatusCode::BAD_REQUEST, &page);
        }
    };
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
    let multi_day = sel.from != sel.to;
    let cards = entries.iter().map(|e| card(&web, e, multi_day)).collect();
    let mut page = frame(&web, &params, sel.span);
    page.summary = summary(&sel, &params);
    page.first_number = (params.page - 1) * PAGE_SIZE + 1;
    page.papers = cards;
    if sel.span == Span::Day(sel.from) {
        let before = web.store.announced_day_before(sel.from).await?;
        let after = web.store.announced_day_after(sel.from).await?;
        page.nav = day_nav(&web, &params, sel.from, before, after);
    }
    let pages = sel.pages();
    page.page_label = format!("Page {} of {pages}", params.page);
    if params.page > 1 {
        page.prev_page = Some(href(
            &web,
            "/papers",
            &params,
            sel.span,
            Some(params.page.min(pages + 1) - 1),
        ));
    }
    if params.page < pages {
        page.next_page = Some(href(
            &web,
            "/papers",
            &params,
            sel.span,
            Some(params.page + 1),
        ));
    }
    render(StatusCode::OK, &page)
}

/// A [`ParamError`] as the 400 page naming the parameter.
pub fn bad_param(e: ParamError) -> WebError {
    WebError::BadRequest(StatusCode::BAD_REQUEST, e.message)
}

fn render(status: StatusCode, page: &PapersPage) -> Result<Response, WebError> {
    let mut response = (status, Html(page.render()?)).into_response();
    if status == StatusCode::OK {
        response.headers_mut().insert(
            header::CACHE_CONTROL,
            HeaderValue::from_str(&format!("public, max-age={PAGES_MAX_AGE_SECS}"))
                .expect("ASCII header value"),
        );
    }
    Ok(response)
}

/// The page around the papers: heading, search box, links to the feeds.
fn frame(web: &AppState, params: &Params, span: Span) -> PapersPage {
    let (heading, hidden_date, hidden_week) = match span {
        Span::Latest => ("The latest papers".to_string(), None, None),
        Span::Day(d) => (
            format!("Papers of {}", d.format("%A, %-d %B %Y")),
            Some(d.to_string()),
            None,
        ),
        Span::Week(monday) => (
            format!(
                "Papers of the week {} ({} to {})",
                week_param(monday),
                monday.format("%-d %B"),
                (monday + Duration::days(6)).format("%-d %B %Y")
            ),
            None,
            Some(week_param(monday)),
        ),
        Span::Days(n) => (
            format!(
                "Papers of the last {n} {}",
                if n == 1 { "day" } else { "days" }
            ),
            None,
            None,
        ),
    };
    let shown = match span {
        Span::Day(_) | Span::Latest => "This day",
        Span::Week(_) => "This week",
        Span::Days(_) => "The days shown",
    };
    let chosen = match span {
        Span::Days(n) => n.to_string(),
        _ => String::new(),
    };
    let mut ranges = vec![Choice {
        value: String::new(),
        label: shown.to_string(),
        selected: chosen.is_empty(),
    }];
    for n in [7u32, 30, 90] {
        if chosen != n.to_string() {
            ranges.push(Choice {
                value: n.to_string(),
                label: format!("The last {n} days"),
                selected: false,
            });
        }
    }
    if !chosen.is_empty() {
        ranges[0].label = format!("The last {chosen} days");
        ranges[0].value = chosen;
    }
    PapersPage {
        base: web.base_path(),
        site_name: web.config.site_name.clone(),
        heading,
        q: params.q.clone(),
        query_error: None,
        ranges,
        hidden_date,
        hidden_week,
        nav: Vec::new(),
        summary: String::new(),
        searching: !params.q.is_empty(),
        papers: Vec::new(),
        first_number: 1,
        prev_page: None,
        next_page: None,
        page_label: String::new(),
        atom_href: href(web, "/papers.atom", params, span, None),
        json_href: href(web, "/api/papers", params, span, None),
    }
}

/// "3 papers match …" or "42 papers", and what the page shows of them.
fn summary(sel: &Selection, params: &Params) -> String {
    let n = sel.hits.len();
    let noun = if n == 1 { "paper" } else { "papers" };
    let mut s = if params.q.is_empty() {
        if n == 0 {
            "No papers were announced on these days.".to_string()
        } else {
            format!("{n} {noun}, most upvoted first.")
        }
    } else {
        let verb = if n == 1 { "matches" } else { "match" };
        format!("{n} {noun} {verb} {}.", params.q)
    };
    let pages = sel.pages();
    if params.page > pages {
        s.push_str(&format!(
            " There is no page {}: the last is page {pages}.",
            params.page
        ));
    }
    s
}

/// The link to this page with the same parameters, for another `path`
/// (the feeds) or another page number (`None`: the first).
fn href(web: &AppState, path: &str, params: &Params, span: Span, page: Option<usize>) -> String {
    let query = params.query_string(span, Some(page.unwrap_or(1)));
    let base = web.base_path();
    if query.is_empty() {
        format!("{base}{path}")
    } else {
        format!("{base}{path}?{query}")
    }
}

/// Previous and next day with announcements, and the day's week.
fn day_nav(
    web: &AppState,
    params: &Params,
    d: NaiveDate,
    before: Option<NaiveDate>,
    after: Option<NaiveDate>,
) -> Vec<NavLink> {
    let mut nav = Vec::new();
    if let Some(b) = before {
        nav.push(NavLink {
            label: format!("← {}", b.format("%a %-d %b")),
            href: href(web, "/papers", params, Span::Day(b), None),
        });
    }
    nav.push(NavLink {
        label: format!("Week {}", week_param(d)),
        href: href(web, "/papers", params, Span::Week(monday_of(d)), None),
    });
    if let Some(a) = after {
        nav.push(NavLink {
            label: format!("{} →", a.format("%a %-d %b")),
            href: href(web, "/papers", params, Span::Day(a), None),
        });
    }
    nav
}

/// A listed paper as the page shows it: the digest's view of it (excerpt
/// and "Matched:" from the same code), plus its links.
pub fn card(web: &AppState, e: &Entry<'_>, show_day: bool) -> PaperCard {
    let v = paper_view(e.paper, &e.matched);
    let mut links: Vec<(&'static str, String)> = Vec::new();
    if !v.url.is_empty() {
        links.push(("Abstract", v.url.clone()));
    }
    if let Some(u) = &v.pdf_url {
        links.push(("PDF", u.clone()));
    }
    if let Some(u) = &v.code_url {
        links.push(("Code", u.clone()));
    }
    if let Some(u) = &v.project_url {
        links.push(("Project page", u.clone()));
    }
    if let Some(u) = web.hf_page(e.paper, &e.about.sources) {
        links.push(("Hugging Face", u));
    }
    PaperCard {
        title: v.title,
        url: v.url,
        authors: v.authors,
        categories: v.categories,
        upvotes: v
            .upvotes
            .map(|n| format!("{n} {}", if n == 1 { "upvote" } else { "upvotes" })),
        excerpt: v.excerpt,
        matched: matched_labels(&e.matched),
        links,
        day: show_day.then(|| e.about.day.format("%a %-d %b %Y").to_string()),
    }
}

//! Every mail paperboy sends, from view models to finished messages: the
//! digest ([`digest`] renders it, [`digest_mail`] builds its view from a
//! subscriber's planned papers) and the link mails of the subscriber pages
//! ([`link_mail`]), their Message-IDs ([`message_id`]), the one rule for
//! links ([`href`]) and what all of them share ([`format`]). Templates are
//! in `templates/email/`.
//!
//! It must not query the store, choose papers or send anything: callers
//! hand it what to say, and hand what it builds to [`crate::mail`].

pub mod digest;
pub(crate) mod digest_mail;
pub(crate) mod format;
pub(crate) mod href;
pub(crate) mod link_mail;
pub(crate) mod message_id;

pub use digest::{
    shorten_authors, top_papers_heading, FeedbackLinks, PaperView, Span, TOP_PAPERS_SECTION,
};
pub use digest_mail::{
    digest_page_url, feedback_links, matched_labels, paper_view, DigestContent, DigestPaper,
    DigestRenderer, AUTHORS_SHOWN, EXCERPT_CHARS, RECOMMENDED_SECTION,
};
pub use format::RenderedEmail;
pub use href::{safe_href, web_link};
pub use link_mail::{LinkMail, LinkMailRequest, LinkMails};
pub use message_id::{message_id, Occasion};

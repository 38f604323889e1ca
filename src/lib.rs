//! paperboy: daily email digests of new research papers, per subscriber topic.
//!
//! Data flows one way: **sources → store → matching → digest → mail**,
//! driven by the scheduler (`paperboy serve`) or the CLI (one-shot commands).
//!
//! - [`domain`]: parsed types shared by every layer (papers, ids, addresses).
//! - [`digest`]: the daily digest; [`digest::render`] turns view models into email text and HTML.
//! - [`mail`]: `[mail]` settings, message headers and SMTP/file transports (lettre).
//! - [`links`]: signed, expiring, purpose-bound confirm/manage/unsubscribe links.
pub mod digest;
pub mod domain;
pub mod links;
pub mod mail;

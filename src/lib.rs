//! paperboy: daily email digests of new research papers, per subscriber topic.
//!
//! Data flows one way: **sources → store → matching → digest → mail**,
//! driven by the scheduler (`paperboy serve`) or the CLI (one-shot commands).
//!
//! - [`domain`]: parsed types shared by every layer (papers, ids, addresses).
//! - [`settings`]: typed configuration from TOML and the environment;
//!   [`credentials`]: secret files from systemd's `$CREDENTIALS_DIRECTORY`.
//! - [`sources`]: one module per paper source kind; HTTP with retries.
//! - [`store`]: SQLite through sqlx; the only module with SQL.
//! - [`matching`]: the topic filter language and the compiled matcher.
//! - [`ranking`]: paper vectors and subscriber profiles learned from
//!   "more/less like this" marks (pure; not wired in yet).
//! - [`digest`]: planning, rendering and sending a day's digests.
//! - [`links`]: signed, expiring, purpose-bound links.
//! - [`inbound`]: bounces, complaints and auto-replies that arrive after the
//!   SMTP conversation, by mail or provider webhook (pure; nothing uses it yet).
//! - [`mail`]: the only module that uses lettre.
//! - [`fetch`]: a fetch run, sources into the store.
//! - [`web`]: the HTTP listener; [`status`]: the operator's `paperboy status`.
//! - [`scheduler`]: cron jobs of the daemon ([`catchup`]: runs missed while stopped); [`notify`]: systemd readiness and watchdog.
//! - [`logging`]: tracing to stderr, with syslog priorities under the journal.
//! - [`app`]: wiring; [`cli`]: the command line; [`demo`]: the offline tour.

pub mod app;
pub mod catchup;
pub mod cli;
pub mod credentials;
pub mod demo;
pub mod digest;
pub mod domain;
pub mod fetch;
pub mod inbound;
pub mod links;
pub mod logging;
pub mod mail;
pub mod matching;
pub mod notify;
pub mod ranking;
pub mod scheduler;
pub mod settings;
pub mod sources;
pub mod status;
pub mod store;
pub mod web;

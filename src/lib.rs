//! paperboy: daily email digests of new research papers, per subscriber topic.
//!
//! Data flows one way: **sources → store → matching → digest → email →
//! mail**, driven by the daemon's jobs (`paperboy serve`) or the CLI
//! (one-shot commands). Imports follow the same direction: a module uses
//! its own layer and the ones below it, never one above, and no two files
//! import each other (`scripts/deps` checks both). Bottom to top:
//!
//! 1. [`domain`]: parsed types every layer shares (papers and their ids,
//!    subscriber addresses, subscribers, topics, preferences, typed ids, a
//!    parsed cron line). [`logging`]: tracing to stderr, with syslog
//!    priorities under the journal; [`credentials`]: secret files from
//!    systemd's `$CREDENTIALS_DIRECTORY`; [`notify`]: systemd readiness and
//!    watchdog.
//! 2. [`sources`]: one module per paper source kind, HTTP with retries;
//!    [`store`]: SQLite through sqlx, the only module with SQL;
//!    [`matching`]: the topic filter language and the compiled matcher;
//!    [`ranking`]: paper vectors and subscriber profiles learned from
//!    "more/less like this" marks (pure, not wired in yet);
//!    [`inbound`]: reading bounces, complaints and auto-replies that
//!    arrive after the SMTP conversation, by mail or provider webhook
//!    (pure); [`links`]: signed, expiring, purpose-bound links; [`email`]: every
//!    mail paperboy sends (view models, templates, Message-IDs, safe links);
//!    [`mail`]: the transport, the only module that uses lettre.
//! 3. [`settings`]: typed configuration from TOML and the environment,
//!    parsed into the types above and validated once.
//! 4. [`digest`]: a day's digests, planned, reserved, rendered and sent
//!    with their retry policy, given a store, a mailer, a link signer and
//!    its own config ([`digest::DigestRun`]); [`status`]: the operator's
//!    `paperboy status`; [`bounces`]: acting on what [`inbound`] read
//!    (suspend, unsubscribe, record) and the bounce Maildir.
//! 5. [`web`]: the subscriber pages, `/healthz` and `/metrics`, given a
//!    [`web::AppState`]; [`jobs`]: fetch, the digest tick, retry and
//!    catch-up, and the scheduler that runs them on their cron lines.
//! 6. [`app`]: builds the parts from the settings, hands each the narrow
//!    state it uses, and serves the daemon.
//! 7. [`cli`]: the command line; [`demo`]: the offline tour.

#![forbid(unsafe_code)]

pub mod app;
pub mod bounces;
pub mod cli;
pub(crate) mod credentials;
pub(crate) mod demo;
pub mod digest;
pub mod domain;
pub mod email;
pub mod inbound;
pub mod jobs;
pub mod links;
pub mod logging;
pub mod mail;
pub mod matching;
pub(crate) mod notify;
pub mod ranking;
pub mod settings;
pub mod sources;
pub(crate) mod status;
pub mod store;
pub mod web;

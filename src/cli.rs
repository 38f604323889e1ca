//! The command line: the interface operators script against. Each command
//! parses its arguments into domain types and calls into the modules; no
//! business logic lives here.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context as _};
use chrono::{Duration, NaiveDate, Utc};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::digest::ranked::ImportVectors;
use crate::digest::DigestOptions;
use crate::domain::SubscriberEmail;
use crate::domain::{
    invisible, Frequency, NewTopic, PaperId, Preferences, SubscriberId, SubscriberStatus,
};
use crate::jobs::digest::digest_job;
use crate::matching::Query;
use crate::ranking::Mark;
use crate::settings::Settings;
use crate::store::{
    Choices, DbError, ImportBatch, ImportedSubscriber, RankingSwitches, UpsertOutcome,
};

#[derive(Debug, Parser)]
#[command(
    name = "paperboy",
    version,
    about = "Daily email digests of new research papers, per subscriber topic"
)]
pub struct Cli {
    /// Configuration file (default: /etc/paperboy/paperboy.toml if it exists, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: scheduled fetch and digest jobs plus the web listener.
    Serve,
    /// Fetch papers from the configured sources into the database.
    Fetch {
        /// Day to fetch (default: yesterday and today, in the schedule's timezone).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Fetch only the source with this name.
        #[arg(long, value_name = "NAME")]
        source: Option<String>,
    },
    /// Send the digest for a day to every subscriber with matching papers.
    Digest {
        /// Digest day (default: today, in the schedule's timezone).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Print who would get which papers; send and write nothing (ranking
        /// data it lacks is computed in memory, not stored).
        #[arg(long)]
        dry_run: bool,
    },
    /// Render one subscriber's digest without sending it.
    Preview {
        #[arg(long, value_name = "ADDR")]
        email: SubscriberEmail,
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
        /// Write the HTML part here (default: print the text part).
        #[arg(long, value_name = "FILE.html")]
        out: Option<PathBuf>,
    },
    /// Manage subscribers.
    Subscribers {
        #[command(subcommand)]
        command: SubscribersCommand,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the configuration, the database, the signing key and the mail transport.
    Check,
    /// Write a consistent copy of the database to FILE (safe while the daemon runs; never overwrites).
    Backup {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Print the last fetch and digest runs, subscriber counts and today's deliveries; fails when the last run failed.
    Status {
        /// Digest day whose deliveries to count (default: today, in the schedule's timezone).
        #[arg(long, value_name = "YYYY-MM-DD")]
        date: Option<NaiveDate>,
    },
    /// Bounces and complaints that arrive by mail after sending.
    Bounces {
        #[command(subcommand)]
        command: BouncesCommand,
    },
    /// The database as a whole.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Try paperboy out: bundled sample papers, one subscriber, a digest in an outbox.
    Demo {
        /// Directory for the demo's database, key and outbox.
        #[arg(long, default_value = "paperboy-demo")]
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// Copy every table of the database into another, empty one, in one
    /// consistent snapshot (SQLite to PostgreSQL or back): how an instance
    /// moves. Migrates the target first; refuses one that holds rows.
    Copy {
        /// The target: `postgres://USER[:PASSWORD]@HOST/DATABASE` or `sqlite://PATH`.
        #[arg(long, value_name = "URL")]
        to: String,
        /// The source (default: `[database] url`).
        #[arg(long, value_name = "URL")]
        from: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscribersCommand {
    /// Add (or update) a confirmed subscriber with their topics (none:
    /// the trending digest).
    Add {
        email: SubscriberEmail,
        /// A topic query in the filter language; repeat for several topics.
        /// None: the trending digest (the day's top papers by upvotes).
        #[arg(long = "topic", value_name = "QUERY")]
        topics: Vec<TopicArg>,
    },
    /// List subscribers.
    List,
    /// Delete a subscriber with their topics and delivery history.
    Remove { email: SubscriberEmail },
    /// Re-activate a subscriber suspended after repeated hard bounces.
    Reactivate { email: SubscriberEmail },
    /// Import subscribers from JSON lines (`-` for standard input): all or nothing.
    Import { file: PathBuf },
    /// Export active subscribers as JSON lines; with EMAIL, print everything
    /// stored about that person as one JSON document.
    Export { email: Option<SubscriberEmail> },
    /// Erase everything stored about a person: address, topics,
    /// preferences, requests and ledger (anonymous delivery and bounce
    /// counts stay); their links stop working and nothing more is sent.
    Forget { email: SubscriberEmail },
}

#[derive(Debug, Subcommand)]
pub enum BouncesCommand {
    /// Read one message on standard input (an MTA's pipe transport, a
    /// .forward or procmail rule), record it and act on it: a hard bounce
    /// counts toward suspension, a complaint unsubscribes. Exits 0 when the
    /// message was handled or kept (one that cannot be read or matched is
    /// kept in `[bounces] quarantine_dir`), 75 (EX_TEMPFAIL) when it should
    /// be retried later (the database busy or unreachable).
    Ingest {
        /// The envelope recipient, as the MTA gives it (Postfix pipe:
        /// `${original_recipient}`): the surest place of the bounce
        /// address's token.
        #[arg(long, value_name = "ADDR", env = "ORIGINAL_RECIPIENT")]
        recipient: Option<String>,
    },
    /// Handle every message now in `[bounces] maildir`'s new/ once (the
    /// daemon does this every `maildir_poll_secs`).
    Poll,
}

/// A command that ends with a specific exit status (`sysexits.h` values for
/// an MTA's pipe), after saying why on standard error.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    pub code: u8,
    pub message: String,
}

impl Exit {
    /// `EX_TEMPFAIL`: the MTA keeps the message and tries again later.
    pub const TEMPFAIL: u8 = 75;

    fn tempfail(e: impl std::fmt::Display) -> Exit {
        Exit {
            code: Exit::TEMPFAIL,
            message: format!("{e:#}; try again later (exit 75, EX_TEMPFAIL)"),
        }
    }
}

/// One line of `subscribers import` / `export`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriberLine {
    email: String,
    topics: Vec<TopicLine>,
    /// Papers marked "More like this" (paper ids); with `less`, replaces
    /// the subscriber's marks when either is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    more: Option<Vec<String>>,
    /// Papers marked "Less like this".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    less: Option<Vec<String>>,
    /// When given, replaces the subscriber's choices (a field left out
    /// takes its default); `export` writes it unless all are defaults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    preferences: Option<PreferencesLine>,
}

/// A subscriber's choices on an import / export line.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreferencesLine {
    /// `daily` or `weekly`.
    #[serde(default = "daily")]
    frequency: String,
    /// A weekly digest's day: `mon` … `sun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    weekday: Option<String>,
    /// Local hour, 0 to 23 (none: the operator's default hour).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delivery_hour: Option<i64>,
    /// An IANA timezone (none: the operator's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timezone: Option<String>,
    /// YYYY-MM-DD: no digest before this day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    paused_until: Option<String>,
    #[serde(default)]
    top_papers: bool,
    #[serde(default = "on")]
    ranking: bool,
    #[serde(default = "on")]
    recommendations: bool,
}

fn daily() -> String {
    "daily".into()
}

fn on() -> bool {
    true
}

impl PreferencesLine {
    /// The line of `c`; `None` when every choice is the default.
    fn of(c: Choices) -> Option<PreferencesLine> {
        if c == Choices::default() {
            return None;
        }
        let p = c.preferences;
        let (frequency, weekday) = match p.frequency {
            Frequency::Daily => (daily(), None),
            Frequency::Weekly(d) => ("weekly".into(), Some(d.to_string().to_lowercase())),
        };
        Some(PreferencesLine {
            frequency,
            weekday,
            delivery_hour: p.delivery_hour.map(i64::from),
            timezone: p.timezone.map(|t| t.name().to_string()),
            paused_until: p.paused_until.map(|d| d.to_string()),
            top_papers: c.top_papers,
            ranking: c.switches.ranking,
            recommendations: c.switches.recommendations,
        })
    }

    /// The choices this line gives; an error names the field.
    fn parse(self) -> anyhow::Result<Choices> {
        let frequency = match (self.frequency.as_str(), self.weekday.as_deref()) {
            ("daily", None) => Frequency::Daily,
            ("weekly", Some(d)) => Frequency::Weekly(d.parse().map_err(|_| {
                anyhow::anyhow!("preferences.weekday: {d:?} is not a weekday (mon … sun)")
            })?),
            ("weekly", None) => bail!("preferences.weekday: a weekly digest needs its day"),
            ("daily", Some(_)) => bail!("preferences.weekday: only a weekly digest has one"),
            (f, _) => bail!("preferences.frequency: {f:?} is neither \"daily\" nor \"weekly\""),
        };
        let delivery_hour = self
            .delivery_hour
            .map(|h| {
                u32::try_from(h).ok().filter(|h| *h <= 23).ok_or_else(|| {
                    anyhow::anyhow!("preferences.delivery_hour: {h} is not an hour (0 to 23)")
                })
            })
            .transpose()?;
        let timezone = self
            .timezone
            .map(|t| {
                t.parse::<chrono_tz::Tz>()
                    .map_err(|_| anyhow::anyhow!("preferences.timezone: {t:?} is not a timezone"))
            })
            .transpose()?;
        let paused_until = self
            .paused_until
            .map(|d| {
                d.parse::<NaiveDate>().map_err(|_| {
                    anyhow::anyhow!("preferences.paused_until: {d:?} is not a date (YYYY-MM-DD)")
                })
            })
            .transpose()?;
        Ok(Choices {
            preferences: Preferences {
                frequency,
                delivery_hour,
                timezone,
                paused_until,
            },
            top_papers: self.top_papers,
            switches: RankingSwitches {
                ranking: self.ranking,
                recommendations: self.recommendations,
            },
        })
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum TopicLine {
    Query(String),
    Named { name: String, query: String },
}

/// `paperboy status` found the last run degraded: it exits with
/// [`Degraded::EXIT_CODE`], distinct from a failure's 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Degraded(String);

impl Degraded {
    pub const EXIT_CODE: u8 = 2;
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Demo { dir } = &cli.command {
        return crate::demo::run(dir).await;
    }
    if let Command::Bounces {
        command: BouncesCommand::Ingest { recipient },
    } = &cli.command
    {
        return ingest(cli.config.as_deref(), recipient.as_deref()).await;
    }
    let settings = Settings::load(cli.config.as_deref())?;
    match cli.command {
        Command::Migrate => {
            let store = crate::store::Store::connect(&settings.database.connect_url()?, 1).await?;
            let fold = store.migrate().await?;
            if !fold.is_empty() {
                println!("{fold}");
            }
            println!("database is up to date");
            // Ranking data for papers stored before it was kept.
            let now = Utc::now();
            let today = settings.schedule.today(now);
            let (recount, vectors) = crate::digest::frequencies::Frequencies::new()
                .backfill(&store, today, now)
                .await
                .context("computing the ranking data of stored papers")?;
            println!("{}", backfilled(recount, vectors));
            Ok(())
        }
        Command::Check => check(settings).await,
        Command::Db {
            command: DbCommand::Copy { to, from },
        } => copy_database(&settings, &to, from.as_deref()).await,
        Command::Backup { file } => {
            // VACUUM INTO reads the whole database in one statement.
            let store = crate::store::Store::open_existing_as(
                &settings.database.connect_url()?,
                "database.url",
                crate::store::SlowStatements::Expected,
            )
            .await?;
            let report = store.backup_into(&file).await;
            store.close().await;
            let report = report?;
            println!(
                "backup written to {} ({} bytes, integrity ok)",
                report.path.display(),
                report.bytes
            );
            Ok(())
        }
        Command::Status { date } => {
            let store =
                crate::store::Store::open_existing(&settings.database.connect_url()?).await?;
            let today = date.unwrap_or_else(|| settings.schedule.today(Utc::now()));
            let report = crate::status::StatusReport::gather(&store, today).await;
            store.close().await;
            let mut report = report.context("reading the status from the database")?;
            report.smtp_latency = crate::status::scrape_latency(settings.metrics.listen).await;
            println!("{report}");
            let failed = report.failed_runs();
            if !failed.is_empty() {
                bail!("the last {} run failed", failed.join(" and "));
            }
            let degraded = report.degraded_runs();
            if !degraded.is_empty() {
                return Err(Degraded(format!(
                    "the last {} run deferred or failed digests",
                    degraded.join(" and ")
                ))
                .into());
            }
            Ok(())
        }
        command => {
            let app = App::build(settings).await?;
            run_with_app(Arc::new(app), command).await
        }
    }
}

async fn run_with_app(app: Arc<App>, command: Command) -> anyhow::Result<()> {
    let today = app.today(Utc::now());
    match command {
        Command::Serve => {
            let listener = tokio::net::TcpListener::bind(app.settings.web.listen)
                .await
                .with_context(|| format!("web.listen: binding {}", app.settings.web.listen))?;
            crate::app::serve(app, listener, shutdown_signal()).await
        }
        Command::Fetch { date, source } => {
            let dates = match date {
                Some(d) => vec![d],
                None => vec![today - Duration::days(1), today],
            };
            let summaries = app.fetch_job().run(&dates, source.as_deref()).await?;
            let mut failed = 0;
            for (date, summary) in dates.iter().zip(&summaries) {
                for s in &summary.sources {
                    match &s.error {
                        None if s.silent => println!(
                            "{date} {}: WARNING: no papers, on a day it normally announces",
                            s.source
                        ),
                        None => println!(
                            "{date} {}: {} papers ({} new, {} updated){}{}",
                            s.source,
                            s.fetched,
                            s.new_papers,
                            s.updated_papers,
                            if s.not_modified { ", not modified" } else { "" },
                            s.item_problems()
                                .map(|p| format!("; {}", invisible::escape_invisible(&p)))
                                .unwrap_or_default()
                        ),
                        Some(e) => {
                            failed += 1;
                            println!(
                                "{date} {}: FAILED: {}",
                                s.source,
                                invisible::escape_invisible(&e.to_string())
                            )
                        }
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} source fetch(es) failed");
            }
            Ok(())
        }
        Command::Digest { date, dry_run } => {
            let date = date.unwrap_or(today);
            // A database upgraded from before ranking data was kept ranks
            // as the daemon would (which computes it once at start); a dry
            // run computes what it needs in memory and stores nothing.
            if !dry_run {
                app.frequencies
                    .backfill(&app.store, date, Utc::now())
                    .await
                    .context("computing the ranking data of stored papers")?;
            }
            let progress = progress_bar();
            let report = digest_job(
                &app.digest_run(),
                date,
                DigestOptions {
                    dry_run,
                    ..Default::default()
                },
                &progress,
            )
            .await?;
            if dry_run {
                for plan in &report.plans {
                    println!(
                        "{}: {} papers{}",
                        invisible::escape_invisible(plan.email.as_str()),
                        plan.papers.len(),
                        more(plan.more)
                    );
                    for paper in &plan.papers {
                        println!(
                            "  {}  {}",
                            paper.id,
                            invisible::escape_invisible(&paper.title)
                        );
                    }
                }
                println!(
                    "dry run for {date}: {} of {} subscribers would get a digest ({} papers in the window); nothing sent",
                    report.plans.len(),
                    report.subscribers,
                    report.papers
                );
            } else {
                println!(
                    "digest {date}: {} sent, {} deferred, {} failed, {} already done ({} subscribers, {} papers)",
                    report.sent, report.deferred, report.failed, report.already_done, report.subscribers, report.papers
                );
                if report.throttled > 0 {
                    println!(
                        "{} of the deferred digests wait for their recipient domain's sending budget \
                         ([[digest.domain_limits]]); a later run sends them",
                        report.throttled
                    );
                }
                // Holding digests for a domain's budget is the limits at
                // work, not a failure; anything else deferred or failed is.
                let retried = report.deferred - report.throttled;
                if report.failed > 0 || retried > 0 {
                    bail!(
                        "{} digests failed and {} were deferred for retry",
                        report.failed,
                        retried
                    );
                }
            }
            Ok(())
        }
        Command::Preview { email, date, out } => {
            let date = date.unwrap_or(today);
            let sub = app
                .store
                .subscriber_by_email(&email)
                .await
                .map_err(|e| match e {
                    DbError::NotFound => anyhow::anyhow!("no subscriber with that address"),
                    e => e.into(),
                })?;
            let Some(rendered) = app.digest_run().preview(sub, date, Utc::now()).await? else {
                println!("no papers for this subscriber on {date}: no digest would be sent");
                return Ok(());
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, &rendered.html)
                        .with_context(|| format!("writing {}", path.display()))?;
                    println!("{} — written to {}", rendered.subject, path.display());
                }
                None => println!("Subject: {}\n\n{}", rendered.subject, rendered.text),
            }
            Ok(())
        }
        Command::Subscribers { command } => subscribers(&app, command).await,
        Command::Bounces {
            command: BouncesCommand::Ingest { .. },
        } => unreachable!("handled before the app is built"),
        Command::Bounces {
            command: BouncesCommand::Poll,
        } => {
            let Some(maildir) = app.settings.bounces.maildir.clone() else {
                bail!("bounces.maildir is not set: there is no Maildir to read");
            };
            let pass = crate::bounces::maildir::poll_once(&app.intake(), &maildir).await?;
            println!(
                "{} message(s) handled, {} flagged for the operator, {} left for later",
                pass.handled, pass.flagged, pass.left
            );
            Ok(())
        }
        Command::Migrate
        | Command::Check
        | Command::Backup { .. }
        | Command::Status { .. }
        | Command::Db { .. }
        | Command::Demo { .. } => {
            unreachable!("handled before the app is built")
        }
    }
}

/// `paperboy db copy`: the source (`--from`, else `[database] url`) into
/// the empty database at `to`, migrated first; prints each table's rows.
async fn copy_database(settings: &Settings, to: &str, from: Option<&str>) -> anyhow::Result<()> {
    use crate::store::{redact_url, SlowStatements, Store};
    let (source, shown_source) = match from {
        Some(url) => (
            Store::open_existing_as(url, "--from", SlowStatements::Expected).await?,
            redact_url(url),
        ),
        None => (
            Store::open_existing_as(
                &settings.database.connect_url()?,
                "database.url",
                SlowStatements::Expected,
            )
            .await?,
            redact_url(&settings.database.url),
        ),
    };
    let target = Store::connect_as(to, 2, "--to").await?;
    let result = async {
        target
            .migrate()
            .await
            .with_context(|| format!("--to {:?}: migrating the target", redact_url(to)))?;
        source.copy_into(&target).await
    }
    .await;
    source.close().await;
    target.close().await;
    let report =
        result.with_context(|| format!("copying {shown_source:?} to {:?}", redact_url(to)))?;
    println!(
        "copied {shown_source} to {} in one snapshot:",
        redact_url(to)
    );
    print!("{report}");
    let rows: u64 = report.tables.iter().map(|(_, n)| n).sum();
    println!("{rows} rows in {} tables", report.tables.len());
    Ok(())
}

/// `paperboy bounces ingest`: one message on standard input. Everything
/// that could be transient (settings, database, keys, the quarantine
/// directory) exits 75 so the MTA keeps the message and retries.
async fn ingest(config: Option<&std::path::Path>, recipient: Option<&str>) -> anyhow::Result<()> {
    use std::io::Read as _;
    let now = Utc::now();
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut raw)
        .map_err(|e| Exit::tempfail(format!("reading the message on standard input: {e}")))?;
    let settings = Settings::load(config).map_err(Exit::tempfail)?;
    // An existing database only: a wrong path must not record the report
    // in a new, empty one.
    let store = crate::store::Store::open_existing(&settings.database.url)
        .await
        .map_err(Exit::tempfail)?;
    store.migrate().await.map_err(Exit::tempfail)?;
    let keys = crate::links::SigningKeys::load(&settings.security.signing_key_file)
        .context("security.signing_key_file")
        .map_err(Exit::tempfail)?;
    let intake = crate::bounces::Intake::new(
        store.clone(),
        crate::links::LinkSigner::new(keys),
        settings.mail.suspend_after_hard_bounces,
    );
    let handled = intake.message(&raw, recipient, now).await;
    store.close().await;
    let handled = handled
        .context("recording the message")
        .map_err(Exit::tempfail)?;
    if handled.worth_keeping() {
        let quarantine = crate::bounces::Quarantine::new(&settings.bounces.quarantine_dir);
        let path = quarantine.keep(&raw, now).map_err(|e| {
            Exit::tempfail(format!(
                "keeping the message in bounces.quarantine_dir {}: {e}",
                quarantine.dir().display()
            ))
        })?;
        eprintln!(
            "paperboy: {} ({} bytes); kept in {}",
            handled.line(),
            raw.len(),
            path.display()
        );
    } else {
        println!("{}", handled.line());
    }
    Ok(())
}

/// What a backfill of ranking data did, for `paperboy migrate`.
fn backfilled(recount: crate::digest::frequencies::Recount, vectors: usize) -> String {
    if recount.days == 0 && vectors == 0 {
        return "ranking data is up to date".to_string();
    }
    format!(
        "ranking data computed: {} days of document frequencies counted (their {} papers' vectors stored), {} other paper vectors stored",
        recount.days, recount.papers, vectors
    )
}

fn more(n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" (+{n} more)")
    }
}

/// A `--topic` as written and parsed: the text is kept so an error found
/// after parsing (a `like:` paper nobody knows) points at its column.
#[derive(Debug, Clone)]
pub struct TopicArg {
    text: String,
    query: Query,
}

impl std::str::FromStr for TopicArg {
    type Err = crate::matching::QueryError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(TopicArg {
            text: s.to_string(),
            query: Query::parse(s)?,
        })
    }
}

async fn subscribers(app: &App, command: SubscribersCommand) -> anyhow::Result<()> {
    let now = Utc::now();
    match command {
        SubscribersCommand::Add { email, topics } => {
            for t in &topics {
                if let Err(e) = app.likes.check(&t.text, now).await {
                    bail!("invalid value '{}' for '--topic <QUERY>': {e}", t.text);
                }
            }
            let topics: Vec<NewTopic> = topics
                .iter()
                .map(|t| NewTopic {
                    name: t.query.to_string(),
                    query: t.query.to_string(),
                })
                .collect();
            match app.store.upsert_active(&email, &topics, now).await? {
                UpsertOutcome::Created(id) => {
                    println!("added subscriber {id} with {} topics", topics.len())
                }
                UpsertOutcome::Updated(id) => {
                    println!("updated subscriber {id}: now {} topics", topics.len())
                }
            }
            Ok(())
        }
        SubscribersCommand::List => {
            let mut after = SubscriberId::default();
            let mut out = std::io::stdout().lock();
            loop {
                let page = app.store.subscribers_page(None, after, 1000).await?;
                let Some(last) = page.last() else { break };
                after = last.id;
                for s in &page {
                    // Stored text is escaped: a carriage return or a bidi
                    // override in a topic stored by an older version must
                    // not overwrite or reorder what the operator reads.
                    let topics: Vec<&str> = s.topics.iter().map(|t| t.query.as_str()).collect();
                    writeln!(
                        out,
                        "{}\t{}\t{}\t{}",
                        s.id,
                        s.status.as_str(),
                        invisible::escape_invisible(s.email.as_str()),
                        invisible::escape_invisible(&topics.join(" | "))
                    )?;
                }
            }
            Ok(())
        }
        SubscribersCommand::Reactivate { email } => {
            if app.store.reactivate(&email, now).await? {
                println!("reactivated");
                Ok(())
            } else {
                bail!("no suspended subscriber with that address")
            }
        }
        SubscribersCommand::Remove { email } => match app.store.remove_subscriber(&email).await {
            Ok(()) => {
                println!("removed");
                Ok(())
            }
            Err(DbError::NotFound) => bail!("no subscriber with that address"),
            Err(e) => Err(e.into()),
        },
        SubscribersCommand::Import { file } => {
            let (batch, first_lines) = read_import(&file)?;
            let vectors = if batch.papers.is_empty() {
                None
            } else {
                let today = app.today(now);
                match ImportVectors::load(&app.store, &app.frequencies, &batch.papers, today)
                    .await?
                {
                    Ok(v) => Some(v),
                    Err(unknown) => {
                        let lines: Vec<String> = unknown
                            .iter()
                            .take(20)
                            .map(|&i| {
                                format!(
                                    "line {}: paper {} is not stored (fetch its day first)",
                                    first_lines[i], batch.papers[i]
                                )
                            })
                            .collect();
                        bail!(
                            "nothing imported; {} marked paper(s) of {} unknown:\n  {}",
                            unknown.len(),
                            file.display(),
                            lines.join("\n  ")
                        );
                    }
                }
            };
            let profile = move |marks: &[(u32, Mark)]| vectors.as_ref()?.profile(marks);
            let outcomes = app.store.import_active(&batch, now, &profile).await?;
            let created = outcomes
                .iter()
                .filter(|o| matches!(o, UpsertOutcome::Created(_)))
                .count();
            println!(
                "imported {} subscribers ({created} new, {} updated)",
                outcomes.len(),
                outcomes.len() - created
            );
            Ok(())
        }
        SubscribersCommand::Export { email: Some(email) } => {
            let id = known(&app.store, &email).await?;
            let data = app.store.personal_data(id).await?;
            // One line: invisible characters in stored text are escaped,
            // which is only safe outside pretty-printing's own newlines.
            let json = serde_json::to_string(&data.to_json())?;
            println!("{}", invisible::escape_invisible_json(&json));
            Ok(())
        }
        SubscribersCommand::Forget { email } => {
            let id = known(&app.store, &email).await?;
            let erasure = app.store.erase_subscriber(id, None, now).await?;
            tracing::info!(subscriber.id = %id, rows.deleted = erasure.deleted_rows(), "subscriber erased on the operator's request");
            println!(
                "forgot {}: {erasure}",
                invisible::escape_invisible(email.as_str())
            );
            Ok(())
        }
        SubscribersCommand::Export { email: None } => {
            let mut after = SubscriberId::default();
            let mut out = std::io::stdout().lock();
            loop {
                let page = app
                    .store
                    .subscribers_page(Some(SubscriberStatus::Active), after, 1000)
                    .await?;
                let (Some(first), Some(last)) = (page.first(), page.last()) else {
                    break;
                };
                let mut marks = app.store.marks_in_range(first.id, last.id).await?;
                let mut choices = app.store.choices_in_range(first.id, last.id).await?;
                after = last.id;
                for s in page {
                    let (more, less) = exported_marks(marks.remove(&s.id).unwrap_or_default());
                    let line = SubscriberLine {
                        more,
                        less,
                        preferences: choices.remove(&s.id).and_then(PreferencesLine::of),
                        email: s.email.to_string(),
                        topics: s
                            .topics
                            .into_iter()
                            .map(|t| {
                                if t.name == t.query {
                                    TopicLine::Query(t.query)
                                } else {
                                    TopicLine::Named {
                                        name: t.name,
                                        query: t.query,
                                    }
                                }
                            })
                            .collect(),
                    };
                    let json = serde_json::to_string(&line)?;
                    writeln!(out, "{}", invisible::escape_invisible_json(&json))?;
                }
            }
            Ok(())
        }
    }
}

/// A subscriber's marks (in paper id order) as an export line's `more`
/// and `less` lists; an empty list is left out.
fn exported_marks(marks: Vec<(PaperId, Mark)>) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let (more, less): (Vec<_>, Vec<_>) = marks.into_iter().partition(|(_, m)| *m == Mark::More);
    let ids = |marks: Vec<(PaperId, Mark)>| {
        (!marks.is_empty()).then(|| {
            marks
                .into_iter()
                .map(|(p, _)| p.as_str().to_string())
                .collect()
        })
    };
    (ids(more), ids(less))
}

/// The subscriber with `email`, or an error naming the address.
async fn known(
    store: &crate::store::Store,
    email: &SubscriberEmail,
) -> anyhow::Result<SubscriberId> {
    match store.subscriber_id_by_email(email).await {
        Ok(id) => Ok(id),
        Err(DbError::NotFound) => bail!(
            "no subscriber with the address {} (nothing is stored about it)",
            invisible::escape_invisible(email.as_str())
        ),
        Err(e) => Err(e.into()),
    }
}

/// Reads and validates a whole import file; any bad line fails the import
/// (naming every bad line) before anything is written. With the batch, the
/// line on which each of its marked papers first appears.
fn read_import(file: &std::path::Path) -> anyhow::Result<(ImportBatch, Vec<usize>)> {
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let mut batch = ImportBatch::default();
    let mut first_lines = Vec::new();
    let mut paper_index: HashMap<PaperId, u32> = HashMap::new();
    let mut errors = Vec::new();
    let mut seen = HashMap::new();
    for (n, line) in reader.lines().enumerate() {
        let n = n + 1;
        let line = line.with_context(|| format!("reading line {n} of {}", file.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match parse_import_line(&line) {
            Ok((email, topics, marks, choices)) => {
                if let Some(first) = seen.insert(email.as_str().to_lowercase(), n) {
                    errors.push(format!("line {n}: the address is already on line {first}"));
                    continue;
                }
                let marks = marks.map(|marks| {
                    let mut indexed: Vec<(u32, Mark)> = marks
                        .into_iter()
                        .map(|(paper, mark)| {
                            let next = batch.papers.len() as u32;
                            let i = *paper_index.entry(paper.clone()).or_insert_with(|| {
                                batch.papers.push(paper);
                                first_lines.push(n);
                                next
                            });
                            (i, mark)
                        })
                        .collect();
                    // In paper id order, as a mark rebuilds a profile.
                    indexed.sort_by(|a, b| {
                        batch.papers[a.0 as usize].cmp(&batch.papers[b.0 as usize])
                    });
                    indexed
                });
                batch.subscribers.push(ImportedSubscriber {
                    email,
                    topics,
                    marks,
                    choices,
                });
            }
            Err(e) => errors.push(format!("line {n}: {e}")),
        }
        if errors.len() >= 20 {
            errors.push("(stopping after 20 errors)".into());
            break;
        }
    }
    if !errors.is_empty() {
        bail!(
            "nothing imported; fix these lines of {}:\n  {}",
            file.display(),
            errors.join("\n  ")
        );
    }
    Ok((batch, first_lines))
}

/// One parsed import line: address, topics, when it has `more` or
/// `less` its marks (each paper once), and its choices when given.
type ImportLine = (
    SubscriberEmail,
    Vec<NewTopic>,
    Option<Vec<(PaperId, Mark)>>,
    Option<Choices>,
);

fn parse_import_line(line: &str) -> anyhow::Result<ImportLine> {
    let parsed: SubscriberLine = serde_json::from_str(line).context(
        "not a JSON object like {\"email\": \"...\", \"topics\": [\"...\"], \"more\": [\"<paper id>\"], \"less\": []}",
    )?;
    let email = SubscriberEmail::parse(&parsed.email)?;
    if parsed.topics.is_empty() {
        bail!("no topics");
    }
    let marks = if parsed.more.is_none() && parsed.less.is_none() {
        None
    } else {
        let mut marks: Vec<(PaperId, Mark)> = Vec::new();
        let lists = [
            (parsed.more, Mark::More, "more"),
            (parsed.less, Mark::Less, "less"),
        ];
        for (ids, mark, field) in lists {
            for raw in ids.unwrap_or_default() {
                let id = PaperId::parse(&raw).map_err(|e| anyhow::anyhow!("{field}: {e}"))?;
                match marks.iter().find(|(p, _)| *p == id) {
                    Some((_, m)) if *m != mark => {
                        bail!("paper {id} is in both \"more\" and \"less\"")
                    }
                    Some(_) => {}
                    None => marks.push((id, mark)),
                }
            }
        }
        Some(marks)
    };
    let mut topics = Vec::new();
    for (i, t) in parsed.topics.into_iter().enumerate() {
        let (name, query) = match t {
            TopicLine::Query(q) => (None, q),
            TopicLine::Named { name, query } => (Some(name), query),
        };
        let q = Query::parse(&query).map_err(|e| anyhow::anyhow!("topic {}: {e}", i + 1))?;
        if let Some((col, c)) = name
            .as_deref()
            .and_then(|n| invisible::find_invisible(n, &[]))
        {
            bail!(
                "topic {}: its name has {} at column {col}, which is not allowed (no control character, bidi control or zero-width character may be in a topic)",
                i + 1,
                invisible::describe(c)
            );
        }
        let canonical = q.to_string();
        topics.push(NewTopic {
            name: name
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| canonical.clone()),
            query: canonical,
        });
    }
    let choices = parsed.preferences.map(PreferencesLine::parse).transpose()?;
    Ok((email, topics, marks, choices))
}

async fn check(settings: Settings) -> anyhow::Result<()> {
    println!("configuration: ok ({} sources)", settings.sources.len());
    let mut problems = 0;
    match App::build(settings).await {
        Ok(app) => {
            println!("database: ok");
            println!("signing key: ok");
            if let Some(dkim) = app.mailer.dkim() {
                println!(
                    "dkim key: ok (publish TXT {} \"{}\")",
                    dkim.dns_name(),
                    dkim.dns_record()
                );
            }
            match app.mailer.check().await {
                Ok(found) => {
                    println!("mail transport: ok");
                    for line in found {
                        println!("  {line}");
                    }
                }
                Err(e) => {
                    problems += 1;
                    println!("mail transport: FAILED: {e:#}");
                }
            }
        }
        Err(e) => {
            problems += 1;
            println!("startup: FAILED: {e:#}");
        }
    }
    if problems > 0 {
        bail!("{problems} check(s) failed");
    }
    Ok(())
}

fn progress_bar() -> ProgressBar {
    if std::io::stdout().is_terminal() {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{spinner} {pos}/{len} subscribers [{elapsed_precise}] {wide_bar}",
        ) {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("paperboy").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn arguments_become_domain_types_at_the_command_line() {
        let cli = parse(&[
            "--config",
            "p.toml",
            "subscribers",
            "add",
            "Ada@Example.org",
            "--topic",
            "diffusion AND ti:protein*",
            "--topic",
            "cat:cs.LG",
        ])
        .unwrap();
        assert_eq!(cli.config, Some(PathBuf::from("p.toml")));
        let Command::Subscribers {
            command: SubscribersCommand::Add { email, topics },
        } = cli.command
        else {
            panic!("expected subscribers add");
        };
        assert_eq!(email.as_str(), "Ada@example.org");
        assert_eq!(topics.len(), 2);

        let cli = parse(&["digest", "--date", "2026-06-12", "--dry-run"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Digest { date: Some(d), dry_run: true } if d == NaiveDate::from_ymd_opt(2026, 6, 12).unwrap()
        ));
    }

    #[test]
    fn a_bad_address_query_or_date_is_refused_naming_the_argument() {
        let err = parse(&["subscribers", "add", "not-an-address", "--topic", "x"]).unwrap_err();
        assert!(err.to_string().contains("<EMAIL>"), "{err}");
        let err = parse(&[
            "subscribers",
            "add",
            "a@example.org",
            "--topic",
            "(unclosed",
        ])
        .unwrap_err();
        assert!(err.to_string().contains("--topic"), "{err}");
        // No --topic is a trending subscriber, not a mistake.
        assert!(parse(&["subscribers", "add", "a@example.org"]).is_ok());
        let err = parse(&["digest", "--date", "2026-02-30"]).unwrap_err();
        assert!(err.to_string().contains("--date"), "{err}");
    }
}

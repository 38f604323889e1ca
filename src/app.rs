//! Wiring: [`App::build`] turns validated settings into the running parts
//! (store, mailer, link signer, sources) and hands each part of the program
//! the narrow state it uses ([`App::digest_run`], [`App::fetch_job`],
//! [`App::jobs`], [`App::web_state`]); [`serve`] runs the daemon — the web
//! listener and the scheduler — until `shutdown` resolves.
//!
//! Nothing below this module (but the CLI) may import it. Tests start
//! exactly this, on port 0 with their own shutdown signal.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::net::TcpListener;

use crate::digest::likes::LikeLookup;
use crate::digest::{DigestConfig, DigestRun, Frequencies};
use crate::jobs::{FetchJob, Jobs};
use crate::links::{LinkSigner, SigningKeys};
use crate::mail::Mailer;
use crate::settings::Settings;
use crate::sources::arxiv_api::ArxivLookup;
use crate::sources::http::{Http, HttpOptions};
use crate::sources::Source;
use crate::store::Store;
use crate::web::metrics::MetricsState;
use crate::web::{AppState, WebConfig};

/// The running parts, built once from the settings.
pub struct App {
    pub settings: Settings,
    pub store: Store,
    pub mailer: Mailer,
    pub signer: LinkSigner,
    pub sources: Vec<Source>,
    /// The subscribe form's submissions, handled after the answer
    /// ([`crate::web::Submissions::settled`] waits for them).
    pub submissions: crate::web::Submissions,
    /// Finds the papers `like:` topics name (store, then arXiv).
    pub likes: LikeLookup,
    /// Ranking's document frequencies of the last year, kept in memory
    /// once for the fetch, the digest run and the pages.
    pub frequencies: Frequencies,
}

impl App {
    /// Opens the database (applying migrations), loads the signing keys,
    /// builds the mailer and the sources. Fails naming what is wrong.
    pub async fn build(settings: Settings) -> anyhow::Result<App> {
        settings.require_credentials()?;
        let store = Store::open(
            &settings.database.connect_url()?,
            settings.database.max_connections,
        )
        .await?;
        let key_file = &settings.security.signing_key_file;
        if !key_file.exists() && settings.security.generate_missing_key {
            SigningKeys::generate_file(key_file).with_context(|| {
                format!("security.signing_key_file: creating {}", key_file.display())
            })?;
            tracing::info!(key_file = %key_file.display(), "generated a new link-signing key");
        }
        let keys = SigningKeys::load(key_file).context("security.signing_key_file")?;
        let mailer = Mailer::from_settings(&settings.mail).context("mail")?;
        let http = Http::new(HttpOptions {
            user_agent: user_agent(&settings),
            ..HttpOptions::default()
        })
        .context("building the HTTP client")?;
        let sources = settings
            .sources
            .iter()
            .map(|c| Source::new(c, &http).map_err(anyhow::Error::from))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let lookup_url = settings.digest.arxiv_lookup_url.trim();
        let arxiv = if lookup_url.is_empty() {
            None
        } else {
            let url = url::Url::parse(lookup_url).context("digest.arxiv_lookup_url")?;
            Some(ArxivLookup::new(&http, url))
        };
        let likes = LikeLookup::new(store.clone(), arxiv);
        Ok(App {
            likes,
            frequencies: Frequencies::new(),
            settings,
            store,
            mailer,
            signer: LinkSigner::new(keys),
            sources,
            submissions: crate::web::Submissions::default(),
        })
    }

    /// "Today" in the schedule's timezone.
    pub fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        self.settings.schedule.today(now)
    }

    /// What planning, sending and retrying digests uses.
    pub fn digest_run(&self) -> DigestRun {
        DigestRun::new(
            self.store.clone(),
            self.mailer.clone(),
            self.signer.clone(),
            DigestConfig::from_settings(&self.settings),
        )
        .with_likes(self.likes.clone())
        .with_frequencies(self.frequencies.clone())
    }

    /// What fetching uses.
    pub fn fetch_job(&self) -> FetchJob {
        FetchJob::new(self.store.clone(), self.sources.clone())
            .with_frequencies(self.frequencies.clone())
    }

    /// The daemon's jobs and their schedule.
    pub fn jobs(&self) -> Jobs {
        Jobs {
            fetch: self.fetch_job(),
            digest: self.digest_run(),
            schedule: self.settings.schedule.clone(),
            data: self.settings.data,
        }
    }

    /// What the subscriber pages use.
    pub fn web_state(&self) -> AppState {
        AppState::new(
            self.store.clone(),
            self.signer.clone(),
            self.mailer.clone(),
            WebConfig::from_settings(&self.settings),
            self.submissions.clone(),
        )
        .with_likes(self.likes.clone())
        .with_frequencies(self.frequencies.clone())
    }

    /// What records and acts on late bounces and complaints.
    pub fn intake(&self) -> crate::bounces::Intake {
        crate::bounces::Intake::new(
            self.store.clone(),
            self.signer.clone(),
            self.settings.mail.suspend_after_hard_bounces,
        )
    }

    /// What `/metrics` reads.
    pub fn metrics_state(&self) -> MetricsState {
        MetricsState {
            store: self.store.clone(),
            mailer: self.mailer.clone(),
            timezone: self.settings.schedule.timezone,
        }
    }
}

fn user_agent(settings: &Settings) -> String {
    format!(
        "paperboy/{} (+{}; self-hosted paper digest)",
        env!("CARGO_PKG_VERSION"),
        settings.web.base_url.as_str().trim_end_matches('/')
    )
}

/// How long a stopping daemon waits for the subscribe form's submissions
/// still queued (each answered "check your inbox") to be handled and
/// their mails sent. Within systemd's stop timeout (`TimeoutStopSec=90s`
/// in deploy/paperboy.service) with the listener's own drain.
const SUBMISSIONS_DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits (at most [`SUBMISSIONS_DRAIN`]) for the submissions taken before
/// the listener closed; says how many were left when it gives up.
async fn drain_submissions(submissions: &crate::web::Submissions) {
    let pending = submissions.pending();
    if pending == 0 {
        return;
    }
    tracing::info!(
        submissions.pending = pending,
        "handling the subscribe requests taken before stopping"
    );
    if tokio::time::timeout(SUBMISSIONS_DRAIN, submissions.settled())
        .await
        .is_err()
    {
        tracing::warn!(
            submissions.lost = submissions.pending(),
            "stopping with subscribe requests not handled: their confirmation mails were not sent"
        );
    }
}

/// Runs the daemon: the web listener on `listener` and the scheduler, until
/// `shutdown` resolves; then stops taking new work, lets the running job
/// finish and closes the database.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let notifier = Arc::new(crate::notify::Notifier::from_env());
    let metrics_listener = match app.settings.metrics.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("metrics.listen: binding {addr}"))?,
        ),
        None => None,
    };
    let token = tokio_util::sync::CancellationToken::new();
    // Ranking data for papers stored before it was kept, once, beside the
    // first requests (a digest run computes what it needs meanwhile).
    let backfill = {
        let (store, frequencies) = (app.store.clone(), app.frequencies.clone());
        let today = app.today(chrono::Utc::now());
        tokio::spawn(async move {
            if let Err(e) = frequencies
                .backfill(&store, today, chrono::Utc::now())
                .await
            {
                tracing::error!(error = %e, "computing the ranking data of stored papers failed");
            }
        })
    };
    let scheduler = crate::jobs::scheduler::start(Arc::new(app.jobs()), token.clone()).await?;
    let maildir = app.settings.bounces.maildir.clone().map(|dir| {
        let every = std::time::Duration::from_secs(app.settings.bounces.maildir_poll_secs);
        tokio::spawn(crate::jobs::bounces::run(
            app.intake(),
            dir,
            every,
            token.clone(),
        ))
    });
    let webhooks = crate::web::WebhookState::load(&app.settings.bounces, app.intake())?;
    // Held until the subscribe submissions are drained below: their worker
    // stops once the pages' state is gone.
    let web_state = Arc::new(app.web_state());
    let router = crate::web::router(web_state.clone(), Arc::new(webhooks));
    let web_token = token.clone();
    let listener_addr = listener.local_addr()?;
    tracing::info!(listen = %listener_addr, "paperboy is serving");
    let limits = crate::web::server::ConnectionLimits {
        header_read_timeout: std::time::Duration::from_secs(
            app.settings.web.header_read_timeout_secs,
        ),
        max_header_bytes: app.settings.web.max_header_bytes,
        max_connections: app.settings.web.max_connections,
    };
    let server = crate::web::server::serve(listener, router, limits, web_token);
    let watcher = {
        let token = token.clone();
        let notifier = notifier.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested");
            notifier.stopping();
            token.cancel();
        })
    };
    let metrics = metrics_listener.map(|listener| {
        let token = token.clone();
        let router = crate::web::metrics::router(Arc::new(app.metrics_state()));
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(metrics.listen = %addr, "serving metrics");
        }
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move { token.cancelled().await })
                .await
        })
    });
    // Migrations ran in App::build and the listeners are bound: ready.
    notifier.ready(&format!("serving on {}", listener_addr));
    let watchdog = notifier.spawn_watchdog();
    server.await;
    token.cancel();
    drain_submissions(&app.submissions).await;
    drop(web_state);
    scheduler.stop().await;
    if let Some(m) = maildir {
        let _ = m.await;
    }
    watcher.abort();
    backfill.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    if let Some(m) = metrics {
        if let Ok(Err(e)) = m.await {
            tracing::warn!(error = %e, "metrics listener");
        }
    }
    app.store.close().await;
    tracing::info!("paperboy stopped");
    Ok(())
}

//! What the subscriber pages share: the store, the link signer, the mailer
//! for link mails, the page settings and the per-IP limiter. Handlers get
//! exactly this, never the rest of the daemon.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

use super::limits::{IpLimiter, SUBSCRIBES_PER_IP};
use super::listing::RangeCache;
use crate::digest::likes::LikeLookup;
use crate::digest::Frequencies;
use crate::domain::{IpRange, Paper};
use crate::email::LinkMails;
use crate::links::LinkSigner;
use crate::mail::Mailer;
use crate::settings::Settings;
use crate::sources::SourceKind;
use crate::store::Store;

/// The pages' settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `[web] base_url`: every link on a page or in a mail is built from it.
    pub base_url: url::Url,
    /// `[digest] site_name`, shown on every page.
    pub site_name: String,
    /// `[schedule] timezone`: "today" for the pages, and the timezone of
    /// subscribers who chose none.
    pub timezone: Tz,
    /// `[schedule] default_hour`, offered as the default delivery hour.
    pub default_hour: u32,
    /// `[web] trusted_proxies`.
    pub trusted_proxies: Vec<IpRange>,
    /// `[web] request_timeout_secs`: reading a body and answering.
    pub request_timeout: std::time::Duration,
    /// The names of the Hugging Face sources: a paper one of them listed
    /// links to its Hugging Face page.
    pub hf_sources: Vec<String>,
    /// `[digest] lookback_days`: the days a daily digest covered, for
    /// listing what it left out.
    pub lookback_days: u32,
    /// `[web] ipv6_client_prefix`: how the subscribe limit counts IPv6
    /// clients.
    pub ipv6_client_prefix: u8,
    /// `[web] max_tracked_clients`.
    pub max_tracked_clients: usize,
}

impl WebConfig {
    pub fn from_settings(settings: &Settings) -> WebConfig {
        WebConfig {
            base_url: settings.web.base_url.clone(),
            site_name: settings.digest.site_name.clone(),
            timezone: settings.schedule.timezone,
            default_hour: settings.schedule.default_hour,
            trusted_proxies: settings.web.trusted_proxies.clone(),
            request_timeout: std::time::Duration::from_secs(settings.web.request_timeout_secs),
            hf_sources: settings
                .sources
                .iter()
                .filter(|s| s.kind == SourceKind::HfDailyPapers)
                .map(|s| s.name.clone())
                .collect(),
            lookback_days: settings.digest.lookback_days,
            ipv6_client_prefix: settings.web.ipv6_client_prefix,
            max_tracked_clients: settings.web.max_tracked_clients,
        }
    }
}

/// The state every subscriber page handler is given.
pub struct AppState {
    pub(super) store: Store,
    pub(super) signer: LinkSigner,
    /// Sends the confirmation and manage-link mails.
    pub(super) mailer: Mailer,
    /// Builds them.
    pub(super) link_mails: LinkMails,
    pub(super) config: WebConfig,
    pub(super) ip_limiter: IpLimiter,
    /// The papers pages' listings, read once per range of days.
    pub(super) ranges: RangeCache,
    /// The settings page's preview days, read once while papers are unchanged.
    pub(super) previews: super::manage::PreviewCache,
    /// The subscribe form's submissions, handled off the request.
    pub(super) submissions: super::subscribe::Submissions,
    /// Finds the papers `like:` topics name: for the forms that save a
    /// topic (the subscribe form, behind its per-client limit, and the
    /// settings page), which may ask arXiv for a paper not stored.
    pub(super) likes: LikeLookup,
    /// Finds them among the stored papers only: for the pages anyone may
    /// read without limit (`/papers`, its feed and API), so a visitor
    /// cannot make the daemon queue requests to arXiv (delaying its own
    /// fetch, which keeps the same spacing) or store papers by the
    /// thousand.
    pub(super) stored_likes: LikeLookup,
    /// Ranking's document frequencies, which a mark's stored profile is
    /// built under.
    pub(super) frequencies: Frequencies,
}

impl AppState {
    /// The same state, finding `like:` papers with `likes` (which may ask
    /// arXiv for a paper not stored).
    pub fn with_likes(mut self, likes: LikeLookup) -> Self {
        self.likes = likes;
        self
    }

    /// The same state, building profiles and comparing `like:` papers
    /// under the process's shared document frequencies.
    pub fn with_frequencies(mut self, frequencies: Frequencies) -> Self {
        self.ranges = RangeCache::new(frequencies.clone(), self.config.timezone);
        self.frequencies = frequencies;
        self
    }

    pub fn new(
        store: Store,
        signer: LinkSigner,
        mailer: Mailer,
        config: WebConfig,
        submissions: super::subscribe::Submissions,
    ) -> AppState {
        let link_mails = LinkMails::new(
            signer.clone(),
            config.base_url.clone(),
            config.site_name.clone(),
            mailer.sender_domain(),
        );
        let ip_limiter = IpLimiter::new(
            SUBSCRIBES_PER_IP,
            std::time::Duration::from_secs(600),
            config.ipv6_client_prefix,
            config.max_tracked_clients,
        );
        let timezone = config.timezone;
        AppState {
            likes: LikeLookup::new(store.clone(), None),
            stored_likes: LikeLookup::new(store.clone(), None),
            frequencies: Frequencies::new(),
            store,
            signer,
            mailer,
            link_mails,
            config,
            ip_limiter,
            ranges: RangeCache::new(Frequencies::new(), timezone),
            previews: Default::default(),
            submissions,
        }
    }

    /// The path prefix of `[web] base_url` (`""` or `/papers`), for links
    /// between pages.
    pub(super) fn base_path(&self) -> String {
        base_path(&self.config.base_url)
    }

    /// The paper's Hugging Face page, when one of `sources` (the sources
    /// that listed it) is a Hugging Face source.
    pub(super) fn hf_page(&self, paper: &Paper, sources: &[String]) -> Option<String> {
        let id = paper.id.arxiv_id()?;
        sources
            .iter()
            .any(|s| self.config.hf_sources.contains(s))
            .then(|| format!("https://huggingface.co/papers/{}", id.as_str()))
    }

    /// The public URL of `path` (relative to `[web] base_url`) with
    /// `query` (already encoded; empty for none).
    pub(super) fn public_url(&self, path: &str, query: &str) -> String {
        let mut url = self
            .config
            .base_url
            .join(path)
            .unwrap_or_else(|_| self.config.base_url.clone());
        url.set_query((!query.is_empty()).then_some(query));
        url.to_string()
    }

    /// "Today" in the operator's timezone.
    pub(super) fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.config.timezone).date_naive()
    }
}

/// The path of `base_url` without its trailing slash.
pub(super) fn base_path(base_url: &url::Url) -> String {
    base_url.path().trim_end_matches('/').to_string()
}

//! Typed settings, loaded with the `config` crate from a TOML file and
//! `PAPERBOY__SECTION__KEY` environment overrides, then validated once.
//!
//! A wrong value fails at startup with the key's name. Secrets are never in
//! this struct's `Debug` output (mail passwords are redacted by
//! [`crate::mail::MailSettings`]; signing keys live in a file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::domain::{Cron, IpRange};
use crate::inbound::settings::BouncesSettings;
use crate::inbound::verp::{AddressPurpose, AddressTemplate};
use crate::mail::MailSettings;
use crate::sources::SourceConfig;

/// Where the operator's configuration lives when `--config` is not given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/paperboy/paperboy.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub web: WebSettings,
    #[serde(default)]
    pub mail: MailSettings,
    #[serde(default)]
    pub security: SecuritySettings,
    #[serde(default)]
    pub schedule: ScheduleSettings,
    #[serde(default)]
    pub digest: DigestSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub bounces: BouncesSettings,
    #[serde(default)]
    pub data: DataSettings,
    #[serde(default = "default_sources")]
    pub sources: Vec<SourceConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Address of the separate Prometheus `/metrics` listener; off when unset.
    pub listen: Option<SocketAddr>,
}

/// How long personal data is kept (see the retention job,
/// [`crate::jobs::retention`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataSettings {
    /// Days after unsubscribing (or being suspended and unsubscribing) when
    /// a person's address, topics, preferences and ledger are erased; only
    /// anonymous counts stay.
    pub forget_unsubscribed_after_days: u32,
    /// Days delivery records, their bounces and the ledger of papers sent
    /// are kept, counted back from today by digest date.
    pub keep_deliveries_days: u32,
    /// Days after which an address that never confirmed is deleted, and a
    /// subscription request that was never confirmed is dropped.
    pub forget_unconfirmed_after_days: u32,
}

impl Default for DataSettings {
    fn default() -> Self {
        DataSettings {
            forget_unsubscribed_after_days: 30,
            keep_deliveries_days: 400,
            forget_unconfirmed_after_days: 7,
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// The engine and where: `sqlite:///var/lib/paperboy/paperboy.db`
    /// (the default engine) or `postgres://USER@HOST[:PORT]/DATABASE`.
    pub url: String,
    /// PostgreSQL: a file holding the password (or a systemd credential,
    /// `${CREDENTIALS_DIRECTORY}/NAME`), so the URL need not carry it.
    pub password_file: Option<PathBuf>,
    /// Connections in the pool: the most this process holds at once.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: "sqlite://paperboy.db".into(),
            password_file: None,
            max_connections: 8,
        }
    }
}

/// The URL with its password hidden: settings are logged and printed.
impl std::fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &crate::store::redact_url(&self.url))
            .field("password_file", &self.password_file)
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

impl DatabaseSettings {
    /// The URL to connect with: `url`, with the password read from
    /// `password_file` when one is set. Never print it (see
    /// [`crate::store::redact_url`]).
    pub fn connect_url(&self) -> anyhow::Result<String> {
        let Some(file) = &self.password_file else {
            return Ok(self.url.clone());
        };
        let password = std::fs::read_to_string(file).with_context(|| {
            format!("database.password_file {}: cannot read it", file.display())
        })?;
        let password = password.trim_end_matches(['\r', '\n']);
        let mut url = url::Url::parse(&self.url).map_err(|e| {
            anyhow::anyhow!(
                "database.url {:?} is not a valid URL: {e}",
                crate::store::redact_url(&self.url)
            )
        })?;
        url.set_password(Some(password)).map_err(|()| {
            anyhow::anyhow!(
                "database.url {:?} has no user and host to give database.password_file's password to",
                crate::store::redact_url(&self.url)
            )
        })?;
        Ok(url.to_string())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    pub listen: SocketAddr,
    /// The public URL every link in a mail is built from.
    pub base_url: url::Url,
    /// Reverse proxies whose `X-Forwarded-For` is believed (IPs or CIDR
    /// blocks).
    pub trusted_proxies: Vec<IpRange>,
    /// Seconds a client has to send a request's headers, counted from when
    /// the connection is ready for them: also how long an idle keep-alive
    /// connection is kept.
    pub header_read_timeout_secs: u64,
    /// Seconds to read a request's body and answer it.
    pub request_timeout_secs: u64,
    /// Largest request head (request line and headers) in bytes; larger
    /// gets 431.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// The per-client subscribe limit counts an IPv6 client by this many
    /// leading bits of its address (64: a whole /64, which one host can
    /// rotate through); IPv4 clients by their whole address.
    pub ipv6_client_prefix: u8,
    /// Clients the per-client subscribe limit tracks at once; past it the
    /// one tracked longest is forgotten.
    pub max_tracked_clients: usize,
}

impl Default for WebSettings {
    fn default() -> Self {
        WebSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            base_url: url::Url::parse("http://127.0.0.1:8080/").expect("valid default URL"),
            trusted_proxies: Vec::new(),
            header_read_timeout_secs: 10,
            request_timeout_secs: 15,
            max_header_bytes: 16 * 1024,
            max_connections: 512,
            ipv6_client_prefix: 64,
            max_tracked_clients: 100_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecuritySettings {
    /// File of HMAC keys for signed links, one per line, newest first.
    pub signing_key_file: PathBuf,
    /// Create the key file with a fresh key when it does not exist.
    pub generate_missing_key: bool,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            signing_key_file: PathBuf::from("signing.key"),
            generate_missing_key: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleSettings {
    /// Cron expression (seconds optional) for the daily fetch.
    pub fetch: Cron,
    /// Cron expression (seconds optional) for the digest tick: each tick sends
    /// the digests whose subscribers' local delivery hour came since the
    /// previous one (see [`crate::digest::due`]); hourly by default.
    pub digest: Cron,
    /// Cron expression for retrying deferred deliveries.
    pub retry: Cron,
    /// Cron expression for the daily retention job ([`DataSettings`]); it
    /// runs at most once per day (in `timezone`), and at start when that
    /// day's run has not happened yet.
    pub retention: Cron,
    /// The timezone the cron expressions and "today" are read in, and the
    /// delivery timezone of subscribers who chose none.
    pub timezone: Tz,
    /// At start, run a fetch or digest whose time passed while the daemon
    /// was stopped (see [`crate::catchup`]).
    pub catch_up: bool,
    /// Local delivery hour (0..=23, in `timezone`) of subscribers who chose
    /// none.
    pub default_hour: u32,
}

impl ScheduleSettings {
    /// "Today" at `now`: the date in [`ScheduleSettings::timezone`].
    pub fn today(&self, now: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
        now.with_timezone(&self.timezone).date_naive()
    }
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        ScheduleSettings {
            fetch: Cron::parse("0 30 1 * * *").expect("valid default"),
            digest: Cron::parse("0 0 * * * *").expect("valid default"),
            retry: Cron::parse("0 */15 * * * *").expect("valid default"),
            retention: Cron::parse("0 45 3 * * *").expect("valid default"),
            timezone: Tz::UTC,
            catch_up: true,
            default_hour: 7,
        }
    }
}

/// Bounds of `[digest] max_html_bytes`: room for the digest's frame and
/// footer with a paper or two, and a size no mail client wants.
const MIN_HTML_BYTES: usize = 10_000;
const MAX_HTML_BYTES: usize = 10_000_000;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DigestSettings {
    /// Most papers in one digest; the rest are counted.
    pub max_papers: usize,
    /// Most bytes of a digest's HTML part. Gmail shows only the first
    /// ~102 KB of a message's HTML and hides the rest, footer with the
    /// unsubscribe link included, behind "[Message clipped]"; papers that
    /// would pass this budget are counted in the "N more" line instead.
    pub max_html_bytes: usize,
    /// Papers in the top papers section (the trending digest of a
    /// subscriber with no topics, or the section after the topics of one
    /// who asked for it): the most upvoted of the digest's days.
    pub trending_count: usize,
    /// Most papers in the "Recommended for you" section of a subscriber
    /// who marked papers "more like this": the day's papers their topics
    /// did not match that are most like the ones they marked. 0: none.
    pub recommendations: usize,
    /// The arXiv API endpoint a `like:ID` topic's paper is looked up at when
    /// it is not stored (once per paper, arXiv's politeness rules); empty:
    /// `like:` finds stored papers only, paperboy asks no one.
    pub arxiv_lookup_url: String,
    /// Send a digest even when nothing matched.
    pub send_empty: bool,
    /// A digest for day D covers papers announced on D and the days before
    /// it, back this many days (each paper is still sent only once).
    pub lookback_days: u32,
    /// Name shown in mails and pages.
    pub site_name: String,
    /// Concurrent SMTP sends during a run.
    pub concurrency: usize,
    /// How long a transiently failing digest is retried before it is
    /// recorded as failed.
    pub retry_horizon_hours: u32,
    /// Most digests handed to SMTP per second across the run; 0: no limit.
    pub max_per_second: u32,
    /// Per-recipient-domain budgets; over budget, digests are deferred.
    pub domain_limits: Vec<DomainLimit>,
    /// Seconds a claim (a digest being sent, a scheduled job's slot) holds
    /// without renewal. The claimant renews it every third of this while
    /// it works; a daemon that dies leaves its claims to another daemon
    /// after at most this long.
    pub lease_seconds: u32,
}

impl Default for DigestSettings {
    fn default() -> Self {
        DigestSettings {
            max_papers: 50,
            max_html_bytes: 90_000,
            trending_count: 10,
            recommendations: 5,
            arxiv_lookup_url: crate::sources::DEFAULT_ARXIV_API_URL.to_string(),
            send_empty: false,
            lookback_days: 1,
            site_name: "paperboy".into(),
            concurrency: 4,
            retry_horizon_hours: 24,
            max_per_second: 0,
            domain_limits: Vec::new(),
            lease_seconds: 60,
        }
    }
}

/// One `[[digest.domain_limits]]` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DomainLimit {
    /// The recipient domain, e.g. `gmail.com` (case-insensitive, exact).
    pub domain: String,
    /// Most messages to the domain in any minute; unlimited when unset.
    pub per_minute: Option<u32>,
    /// Most messages to the domain in any hour; unlimited when unset.
    pub per_hour: Option<u32>,
}

impl DomainLimit {
    /// Checks one entry, naming the bad key.
    pub fn validate(&self) -> Result<(), String> {
        let d = self.domain.trim();
        if d.is_empty() || d.contains('@') || d.contains(char::is_whitespace) {
            return Err(format!(
                "digest.domain_limits: domain = {:?} must be a bare domain like \"gmail.com\"",
                self.domain
            ));
        }
        if self.per_minute == Some(0) || self.per_hour == Some(0) {
            return Err(format!(
                "digest.domain_limits for {d}: per_minute and per_hour must be at least 1 (leave one out for no limit)"
            ));
        }
        if self.per_minute.is_none() && self.per_hour.is_none() {
            return Err(format!(
                "digest.domain_limits for {d}: set per_minute, per_hour or both"
            ));
        }
        Ok(())
    }
}

fn default_sources() -> Vec<SourceConfig> {
    let toml = r#"
        [[sources]]
        name = "hf"
        kind = "hf_daily_papers"
    "#;
    #[derive(Deserialize)]
    struct Wrapper {
        sources: Vec<SourceConfig>,
    }
    config::Config::builder()
        .add_source(config::File::from_str(toml, config::FileFormat::Toml))
        .build()
        .and_then(|c| c.try_deserialize::<Wrapper>())
        .map(|w| w.sources)
        .expect("built-in default sources are valid")
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database: DatabaseSettings::default(),
            web: WebSettings::default(),
            mail: MailSettings::default(),
            security: SecuritySettings::default(),
            schedule: ScheduleSettings::default(),
            digest: DigestSettings::default(),
            metrics: MetricsSettings::default(),
            bounces: BouncesSettings::default(),
            data: DataSettings::default(),
            sources: default_sources(),
        }
    }
}

impl Settings {
    /// Loads settings: the file given with `--config` (which must exist),
    /// else [`DEFAULT_CONFIG_PATH`] when it exists, else built-in defaults;
    /// then `PAPERBOY__SECTION__KEY` environment variables on top.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Settings> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(explicit, Path::new(DEFAULT_CONFIG_PATH), env)
    }

    /// [`Settings::load`] with the default path and environment passed in.
    pub fn load_from(
        explicit: Option<&Path>,
        default_path: &Path,
        env: Vec<(String, String)>,
    ) -> anyhow::Result<Settings> {
        let mut builder = config::Config::builder();
        let file = match explicit {
            Some(p) => {
                if !p.exists() {
                    bail!("config file {} does not exist", p.display());
                }
                Some(p)
            }
            None => default_path.exists().then_some(default_path),
        };
        if let Some(p) = file {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("reading config file {}", p.display()))?;
            builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
        }
        let credentials_dir = env
            .iter()
            .find(|(k, _)| k == "CREDENTIALS_DIRECTORY")
            .map(|(_, v)| v.clone());
        let env_map: std::collections::HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PAPERBOY__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("PAPERBOY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                // The one list of plain values: comma-separated in the
                // environment (`PAPERBOY__WEB__TRUSTED_PROXIES=127.0.0.1,::1`).
                .list_separator(",")
                .with_list_parse_key("web.trusted_proxies")
                .source(Some(env_map)),
        );
        let where_ = file
            .map(|p| format!(" in {}", p.display()))
            .unwrap_or_default();
        let mut settings: Settings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| anyhow::anyhow!("invalid configuration{where_}: {e}"))?;
        settings
            .resolve_credentials(credentials_dir.as_deref())
            .map_err(|e| anyhow::anyhow!("invalid configuration{where_}: {e}"))?;
        settings
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid configuration{where_}: {e}"))?;
        Ok(settings)
    }

    /// Resolves `${CREDENTIALS_DIRECTORY}/NAME` in the secret-file settings
    /// (see [`crate::credentials`]); [`Settings::require_credentials`] checks
    /// they resolved before a command reads them.
    fn resolve_credentials(&mut self, dir: Option<&str>) -> anyhow::Result<()> {
        use crate::credentials::resolve;
        self.security.signing_key_file = resolve(
            "security.signing_key_file",
            &self.security.signing_key_file,
            dir,
        )?;
        if let Some(p) = &self.mail.smtp_password_file {
            self.mail.smtp_password_file = Some(resolve("mail.smtp_password_file", p, dir)?);
        }
        if let Some(dkim) = &mut self.mail.dkim {
            dkim.key_file = resolve("mail.dkim.key_file", &dkim.key_file, dir)?;
        }
        if let Some(p) = &self.database.password_file {
            self.database.password_file = Some(resolve("database.password_file", p, dir)?);
        }
        if let Some(pm) = &mut self.bounces.webhooks.postmark {
            pm.secret_file = resolve(
                "bounces.webhooks.postmark.secret_file",
                &pm.secret_file,
                dir,
            )?;
        }
        if let Some(mg) = &mut self.bounces.webhooks.mailgun {
            mg.signing_key_file = resolve(
                "bounces.webhooks.mailgun.signing_key_file",
                &mg.signing_key_file,
                dir,
            )?;
        }
        Ok(())
    }

    /// Fails, naming the key, when a secret-file setting names a systemd
    /// credential but this process has no credentials directory.
    pub fn require_credentials(&self) -> anyhow::Result<()> {
        use crate::credentials::require_resolved;
        require_resolved("security.signing_key_file", &self.security.signing_key_file)?;
        if let Some(p) = &self.mail.smtp_password_file {
            require_resolved("mail.smtp_password_file", p)?;
        }
        if let Some(dkim) = &self.mail.dkim {
            require_resolved("mail.dkim.key_file", &dkim.key_file)?;
        }
        if let Some(p) = &self.database.password_file {
            require_resolved("database.password_file", p)?;
        }
        Ok(())
    }

    /// Checks what serde cannot: ranges, cross-field rules.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.schedule.default_hour > 23 {
            bail!(
                "schedule.default_hour = {} must be between 0 and 23",
                self.schedule.default_hour
            );
        }
        let engine = crate::store::Engine::of_url(&self.database.url)?;
        if self.database.password_file.is_some() && engine != crate::store::Engine::Postgres {
            bail!("database.password_file is for a PostgreSQL database.url (postgres://…)");
        }
        if self.database.max_connections == 0 {
            bail!("database.max_connections must be at least 1");
        }
        if self.web.header_read_timeout_secs == 0 || self.web.request_timeout_secs == 0 {
            bail!("web.header_read_timeout_secs and web.request_timeout_secs must be at least 1");
        }
        if !(1024..=1024 * 1024).contains(&self.web.max_header_bytes) {
            bail!(
                "web.max_header_bytes = {} must be between 1024 and 1048576",
                self.web.max_header_bytes
            );
        }
        if self.web.max_connections == 0 {
            bail!("web.max_connections must be at least 1");
        }
        if !(16..=128).contains(&self.web.ipv6_client_prefix) {
            bail!(
                "web.ipv6_client_prefix = {} must be between 16 and 128",
                self.web.ipv6_client_prefix
            );
        }
        if self.web.max_tracked_clients == 0 {
            bail!("web.max_tracked_clients must be at least 1");
        }
        if !matches!(self.web.base_url.scheme(), "http" | "https")
            || self.web.base_url.host().is_none()
        {
            bail!(
                "web.base_url = {:?} must be an http(s) URL with a host",
                self.web.base_url.as_str()
            );
        }
        if self.digest.lease_seconds < 2 {
            bail!(
                "digest.lease_seconds = {} must be at least 2 (a claim is renewed every third of it)",
                self.digest.lease_seconds
            );
        }
        if self.digest.max_papers == 0 || self.digest.max_papers > 1000 {
            bail!(
                "digest.max_papers = {} must be between 1 and 1000",
                self.digest.max_papers
            );
        }
        if !(MIN_HTML_BYTES..=MAX_HTML_BYTES).contains(&self.digest.max_html_bytes) {
            bail!(
                "digest.max_html_bytes = {} must be between {MIN_HTML_BYTES} and {MAX_HTML_BYTES} \
                 (Gmail clips an HTML part past ~102 KB; the default 90000 stays under it)",
                self.digest.max_html_bytes
            );
        }
        if self.digest.trending_count == 0 || self.digest.trending_count > 100 {
            bail!(
                "digest.trending_count = {} must be between 1 and 100",
                self.digest.trending_count
            );
        }
        if self.digest.recommendations > 100 {
            bail!(
                "digest.recommendations = {} must be at most 100",
                self.digest.recommendations
            );
        }
        let lookup = self.digest.arxiv_lookup_url.trim();
        if !lookup.is_empty()
            && !url::Url::parse(lookup).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
        {
            bail!(
                "digest.arxiv_lookup_url = {lookup:?} must be an http(s) URL (or empty: no lookups)"
            );
        }
        if self.digest.lookback_days > 31 {
            bail!(
                "digest.lookback_days = {} must be at most 31",
                self.digest.lookback_days
            );
        }
        // The ledger keeps a paper from being mailed twice: it must outlive
        // every day a digest (daily or weekly) can still reach back to.
        let min_keep = (self.digest.lookback_days + 2).max(14);
        if self.data.keep_deliveries_days < min_keep {
            bail!(
                "data.keep_deliveries_days = {} must be at least {min_keep}, so the record of what was sent outlives the days a digest covers",
                self.data.keep_deliveries_days
            );
        }
        // A confirmation link is valid for two days.
        if self.data.forget_unconfirmed_after_days < 2 {
            bail!(
                "data.forget_unconfirmed_after_days = {} must be at least 2 (confirmation links stay valid for 2 days)",
                self.data.forget_unconfirmed_after_days
            );
        }
        if self.digest.concurrency == 0 || self.digest.concurrency > 64 {
            bail!(
                "digest.concurrency = {} must be between 1 and 64",
                self.digest.concurrency
            );
        }
        for limit in &self.digest.domain_limits {
            limit.validate().map_err(|e| anyhow::anyhow!(e))?;
        }
        SourceConfig::validate_all(&self.sources).map_err(|e| anyhow::anyhow!("sources: {e}"))?;
        self.mail.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
        self.return_path()?;
        self.bounces.validate().map_err(|e| anyhow::anyhow!(e))?;
        Ok(())
    }

    /// `[mail] return_path` parsed: the per-delivery bounce address.
    pub fn return_path(&self) -> anyhow::Result<Option<AddressTemplate>> {
        self.mail
            .return_path
            .as_deref()
            .map(|t| AddressTemplate::parse(t, AddressPurpose::Bounce))
            .transpose()
            .map_err(|e| anyhow::anyhow!("mail.return_path: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(toml: &str, env: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("paperboy.toml");
        std::fs::write(&path, toml).unwrap();
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::load_from(Some(&path), Path::new("/nonexistent"), env)
    }

    #[test]
    fn the_documented_example_loads_as_written() {
        let s = load_str(include_str!("../config/paperboy.example.toml"), &[]).unwrap();
        assert_eq!(s.web.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.sources.len(), 2);
    }

    #[test]
    fn sending_limits_load_with_dotted_domains_intact() {
        let s = load_str(
            "[digest]\nmax_per_second = 50\n[[digest.domain_limits]]\ndomain = \"gmail.com\"\nper_minute = 300\n",
            &[],
        )
        .unwrap();
        assert_eq!(s.digest.max_per_second, 50);
        assert_eq!(s.digest.domain_limits.len(), 1);
        assert_eq!(s.digest.domain_limits[0].domain, "gmail.com");
        assert_eq!(s.digest.domain_limits[0].per_minute, Some(300));
        assert_eq!(s.digest.domain_limits[0].per_hour, None);
    }

    #[test]
    fn environment_overrides_a_nested_key() {
        let s = load_str(
            "[digest]\nmax_papers = 10\n",
            &[("PAPERBOY__DIGEST__MAX_PAPERS", "7")],
        )
        .unwrap();
        assert_eq!(s.digest.max_papers, 7);
    }

    #[test]
    fn trusted_proxies_are_a_comma_separated_list_in_the_environment() {
        let s = load_str(
            "[web]\ntrusted_proxies = [\"10.0.0.1\"]\n",
            &[(
                "PAPERBOY__WEB__TRUSTED_PROXIES",
                "127.0.0.1, ::1,10.0.0.0/8",
            )],
        )
        .unwrap();
        assert_eq!(s.web.trusted_proxies.len(), 3);
        // Other string settings are not split at commas.
        let s = load_str(
            "",
            &[
                ("PAPERBOY__WEB__TRUSTED_PROXIES", "::1"),
                (
                    "PAPERBOY__MAIL__FROM",
                    "\"Paperboy, the bot\" <bot@example.org>",
                ),
            ],
        )
        .unwrap();
        assert_eq!(s.web.trusted_proxies.len(), 1);
        assert_eq!(s.mail.from, "\"Paperboy, the bot\" <bot@example.org>");
        let e = load_str("", &[("PAPERBOY__WEB__TRUSTED_PROXIES", "127.0.0.1,nope")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("nope") && e.contains("not an IP address"), "{e}");
    }

    #[test]
    fn no_file_means_built_in_defaults() {
        let s = Settings::load_from(None, Path::new("/nonexistent/paperboy.toml"), vec![]).unwrap();
        assert_eq!(s.digest.max_papers, 50);
        assert!(!s.digest.send_empty);
        assert_eq!(s.sources.len(), 1);
    }

    #[test]
    fn a_missing_explicit_file_is_an_error_naming_it() {
        let e = Settings::load_from(Some(Path::new("/nope/x.toml")), Path::new("/nope"), vec![])
            .unwrap_err();
        assert!(e.to_string().contains("/nope/x.toml"), "{e}");
    }

    #[test]
    fn secret_files_can_be_named_as_systemd_credentials() {
        let toml = "[security]\nsigning_key_file = \"${CREDENTIALS_DIRECTORY}/signing.key\"\n\
                    [mail]\nsmtp_password_file = \"${CREDENTIALS_DIRECTORY}/smtp-password\"\n";
        let s = load_str(
            toml,
            &[("CREDENTIALS_DIRECTORY", "/run/credentials/p.service")],
        )
        .unwrap();
        assert_eq!(
            s.security.signing_key_file,
            Path::new("/run/credentials/p.service/signing.key")
        );
        assert_eq!(
            s.mail.smtp_password_file.as_deref(),
            Some(Path::new("/run/credentials/p.service/smtp-password"))
        );
        let unresolved = load_str(toml, &[]).unwrap();
        let e = crate::credentials::require_resolved(
            "security.signing_key_file",
            &unresolved.security.signing_key_file,
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("security.signing_key_file"),
            "{e:#}"
        );
        let e = load_str(
            "[security]\nsigning_key_file = \"${CREDENTIALS_DIRECTORY}/../x\"\n",
            &[("CREDENTIALS_DIRECTORY", "/run/c")],
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("security.signing_key_file"),
            "{e:#}"
        );
    }

    #[test]
    fn a_postgres_password_comes_from_its_file_and_never_shows() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pw");
        std::fs::write(&file, "s3cr@t/pw\n").unwrap();
        let toml = format!(
            "[database]\nurl = \"postgres://pb@db.example/paperboy\"\npassword_file = \"{}\"\n",
            file.display()
        );
        let s = load_str(&toml, &[]).unwrap();
        let url = s.database.connect_url().unwrap();
        assert_eq!(url, "postgres://pb:s3cr%40t%2Fpw@db.example/paperboy");
        let shown = format!("{:?}", s.database);
        assert!(!shown.contains("s3cr"), "{shown}");
        let s = load_str(
            "",
            &[(
                "PAPERBOY__DATABASE__URL",
                "postgres://pb:hunter2@db.example/paperboy",
            )],
        )
        .unwrap();
        assert_eq!(s.database.url, "postgres://pb:hunter2@db.example/paperboy");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn bad_values_fail_naming_the_key() {
        let cases = [
            ("[schedule]\nfetch = \"every day\"\n", "schedule.fetch"),
            ("[digest]\nmax_papers = \"lots\"\n", "max_papers"),
            ("[digest]\nmax_papers = 0\n", "digest.max_papers"),
            ("[digest]\ntrending_count = 0\n", "digest.trending_count"),
            (
                "[digest]\nrecommendations = 101\n",
                "digest.recommendations",
            ),
            ("[digest]\nmax_html_bytes = 500\n", "digest.max_html_bytes"),
            ("[web]\nlisten = \"nowhere\"\n", "listen"),
            ("[schedule]\ntimezone = \"Mars/Olympus\"\n", "timezone"),
            ("[database]\nurl = \"mysql://x\"\n", "database.url"),
            (
                "[database]\npassword_file = \"/run/pw\"\n",
                "database.password_file",
            ),
            ("[digest]\nmax_paper = 3\n", "max_paper"),
            ("[schedule]\ndefault_hour = 24\n", "schedule.default_hour"),
            (
                "[web]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
                "10.0.0.0/33",
            ),
        ];
        for (toml, key) in cases {
            let e = load_str(toml, &[]).unwrap_err();
            assert!(format!("{e:#}").contains(key), "{toml:?}: {e:#}");
        }
    }
}

//! What a digest run takes from the settings, read once when it is built.

use super::due::Defaults;
use super::retry::RetryPolicy;
use crate::inbound::verp::AddressTemplate;
use crate::settings::{DomainLimit, Settings};

/// A digest run's settings.
#[derive(Debug, Clone)]
pub struct DigestConfig {
    /// `[digest] max_papers`: most papers in one digest.
    pub max_papers: usize,
    /// `[digest] max_html_bytes`: most bytes of a digest's HTML part.
    pub max_html_bytes: usize,
    /// `[digest] trending_count`: papers in the top papers section.
    pub trending_count: usize,
    /// `[digest] recommendations`: most papers in the "Recommended for
    /// you" section (0: no such section).
    pub recommendations: usize,
    /// `[digest] send_empty`: send a digest even when nothing matched.
    pub send_empty: bool,
    /// `[digest] lookback_days`: days before the digest's date it covers.
    pub lookback_days: u32,
    /// `[digest] site_name`, shown in the mails.
    pub site_name: String,
    /// `[web] base_url`: where the links in a digest point.
    pub base_url: url::Url,
    /// `[digest] concurrency`: messages in flight at once.
    pub concurrency: usize,
    /// `[digest] max_per_second`: most messages handed to SMTP per second
    /// (0: no limit).
    pub max_per_second: u32,
    /// `[[digest.domain_limits]]`.
    pub domain_limits: Vec<DomainLimit>,
    /// How long a transiently failing digest is retried, and how often.
    pub retry: RetryPolicy,
    /// `[mail] suspend_after_hard_bounces` (0: never).
    pub suspend_after_hard_bounces: u32,
    /// The operator's timezone and hour, for subscribers who chose none.
    pub defaults: Defaults,
    /// `[mail] return_path`: each digest's envelope sender names its
    /// delivery.
    pub return_path: Option<AddressTemplate>,
    /// `[digest] lease_seconds`: how long a claim holds unrenewed.
    pub lease: std::time::Duration,
}

impl DigestConfig {
    pub fn from_settings(settings: &Settings) -> DigestConfig {
        let digest = &settings.digest;
        DigestConfig {
            max_papers: digest.max_papers,
            max_html_bytes: digest.max_html_bytes,
            trending_count: digest.trending_count,
            recommendations: digest.recommendations,
            send_empty: digest.send_empty,
            lookback_days: digest.lookback_days,
            site_name: digest.site_name.clone(),
            base_url: settings.web.base_url.clone(),
            concurrency: digest.concurrency,
            max_per_second: digest.max_per_second,
            domain_limits: digest.domain_limits.clone(),
            retry: RetryPolicy::new(chrono::Duration::hours(i64::from(
                digest.retry_horizon_hours,
            ))),
            suspend_after_hard_bounces: settings.mail.suspend_after_hard_bounces,
            defaults: Defaults::of(&settings.schedule),
            // Checked when the settings were loaded.
            return_path: settings.return_path().ok().flatten(),
            lease: std::time::Duration::from_secs(u64::from(digest.lease_seconds.max(1))),
        }
    }
}

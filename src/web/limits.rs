//! Per-client-IP rate limit on subscribe requests (in memory: it only has to
//! slow a burst down; the per-address limit on mails is in the store and
//! survives restarts), and the client-IP extractor.
//!
//! The client IP is the connection's peer, unless the peer is one of
//! `[web] trusted_proxies`: then it is the right-most `X-Forwarded-For`
//! address that is not a trusted proxy (each proxy appends the address it
//! saw, so everything left of the last untrusted hop may be forged by the
//! client and is never used).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use crate::domain::IpRange;

/// Subscribe requests one IP may make per window.
pub const SUBSCRIBES_PER_IP: u32 = 20;
/// Tracked IPs beyond which expired windows are swept.
const SWEEP_AT: usize = 10_000;

/// A fixed-window counter per IP.
pub struct IpLimiter {
    max: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl IpLimiter {
    pub fn new(max: u32, window: Duration) -> Self {
        IpLimiter {
            max,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request from `ip` at `now`; false when over the limit.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            let window = self.window;
            seen.retain(|_, (start, _)| now.duration_since(*start) < window);
        }
        let entry = seen.entry(ip).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.max
    }
}

/// The client's address: `peer` itself unless it is a trusted proxy; then
/// the right-most address of `forwarded_for` (the `X-Forwarded-For` header
/// lines, in order) that is not a trusted proxy. A malformed entry stops
/// the walk at the hop that reported it.
pub fn client_ip(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpRange]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|r| r.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded_for.iter().flat_map(|line| line.split(','));
    for hop in hops.collect::<Vec<_>>().into_iter().rev() {
        let hop = hop.trim();
        let Some(ip) = hop
            .parse::<IpAddr>()
            .ok()
            .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        else {
            return client;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            return client;
        }
    }
    client
}

/// The client's address (see [`client_ip`]); unspecified when the router
/// runs without connect info, as in unit tests.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<Arc<AppState>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        web: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let trusted = &web.config.trusted_proxies;
        if trusted.is_empty() {
            return Ok(ClientIp(peer));
        }
        let lines: Vec<&str> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Ok(ClientIp(client_ip(peer, &lines, trusted)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn ranges(list: &[&str]) -> Vec<IpRange> {
        list.iter()
            .map(|s| IpRange::try_from(s.to_string()).unwrap())
            .collect()
    }

    #[test]
    fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let trusted = ranges(&["10.0.0.0/8"]);
        let client = ip("203.0.113.9");
        assert_eq!(client_ip(client, &["198.51.100.1"], &trusted), client);
        assert_eq!(client_ip(client, &["198.51.100.1"], &[]), client);
    }

    #[test]
    fn the_right_most_untrusted_forwarded_address_is_the_client() {
        let trusted = ranges(&["10.0.0.0/8", "192.0.2.0/24"]);
        let proxy = ip("10.0.0.2");
        // The client forged the left-most entries; our proxies appended the rest.
        assert_eq!(
            client_ip(proxy, &["1.1.1.1, 203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(proxy, &["6.6.6.6", "203.0.113.9, 192.0.2.5"], &trusted),
            ip("203.0.113.9"),
            "several header lines, and a chain of trusted proxies"
        );
        // A forged trusted address on the left cannot hide the real client.
        assert_eq!(
            client_ip(proxy, &["10.9.9.9, 203.0.113.9"], &trusted),
            ip("203.0.113.9")
        );
        // No header: the proxy itself. Garbage: the hop that reported it.
        assert_eq!(client_ip(proxy, &[], &trusted), proxy);
        assert_eq!(
            client_ip(proxy, &["203.0.113.9, not-an-ip"], &trusted),
            proxy
        );
        assert_eq!(
            client_ip(proxy, &["not-an-ip, 192.0.2.5"], &trusted),
            ip("192.0.2.5")
        );
        // Every hop trusted: the left-most.
        assert_eq!(
            client_ip(proxy, &["192.0.2.1, 192.0.2.5"], &trusted),
            ip("192.0.2.1")
        );
    }

    #[test]
    fn an_ip_over_its_limit_is_refused_until_the_window_passes() {
        let limiter = IpLimiter::new(2, Duration::from_secs(600));
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let t0 = Instant::now();
        assert!(limiter.allow(a, t0));
        assert!(limiter.allow(a, t0));
        assert!(!limiter.allow(a, t0 + Duration::from_secs(1)));
        assert!(limiter.allow(b, t0 + Duration::from_secs(1)));
        assert!(limiter.allow(a, t0 + Duration::from_secs(600)));
    }
}

//! Per-client-IP rate limit on subscribe requests, and the client-IP
//! extractor. The limit is counted in memory when the request comes (a
//! burst is turned away with 429 without touching the database), then in
//! the database per fixed window by the worker that handles the request
//! (off the request, so the answer never waits for the store), so that it
//! holds across several daemons behind one load balancer; the per-address
//! limit on mails is in the store too.
//!
//! The client IP is the connection's peer, unless the peer is one of
//! `[web] trusted_proxies`: then it is the right-most `X-Forwarded-For`
//! address that is not a trusted proxy (each proxy appends the address it
//! saw, so everything left of the last untrusted hop may be forged by the
//! client and is never used).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use crate::domain::IpRange;

/// Subscribe requests one client may make per window.
pub const SUBSCRIBES_PER_IP: u32 = 20;

/// A fixed-window counter per client: an IPv4 address, or an IPv6 address
/// cut to its first `ipv6_prefix` bits (a host with a /64 can use any of
/// its 2^64 addresses, so counting them one by one would not limit it).
///
/// At most `max_clients` are tracked. Windows are kept in the order they
/// started, so forgetting expired ones takes the oldest off the front, and
/// at the bound the oldest window is forgotten: each request does a
/// constant amount of work on average, never a scan of the map under the
/// lock.
pub struct IpLimiter {
    max: u32,
    window: Duration,
    ipv6_prefix: u8,
    max_clients: usize,
    state: Mutex<Windows>,
}

#[derive(Default)]
struct Windows {
    /// Client → (window start, requests in it).
    counts: HashMap<IpAddr, (Instant, u32)>,
    /// (window start, client), oldest first; an entry whose start no
    /// longer matches `counts` is a window that was since replaced.
    started: VecDeque<(Instant, IpAddr)>,
}

impl IpLimiter {
    pub fn new(max: u32, window: Duration, ipv6_prefix: u8, max_clients: usize) -> Self {
        IpLimiter {
            max,
            window,
            ipv6_prefix: ipv6_prefix.min(128),
            max_clients: max_clients.max(1),
            state: Mutex::new(Windows::default()),
        }
    }

    /// The key `ip` is counted under.
    pub fn client_key(&self, ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V4(v4) => IpAddr::V4(v4),
            IpAddr::V6(v6) => {
                let bits = u32::from(self.ipv6_prefix);
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        }
    }

    /// Counts one request from `ip` at `now`; false when over the limit.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> bool {
        let key = self.client_key(ip);
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let Windows { counts, started } = &mut *w;
        // Forget windows that are over, oldest first, and the oldest ones
        // beyond the bound.
        while let Some(&(start, client)) = started.front() {
            let over = now.saturating_duration_since(start) >= self.window;
            if !over && counts.len() < self.max_clients {
                break;
            }
            if !over && counts.contains_key(&key) {
                break;
            }
            started.pop_front();
            if counts.get(&client).is_some_and(|(s, _)| *s == start) {
                counts.remove(&client);
            }
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if entry.1 == 0 {
            started.push_back((now, key));
        } else if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
            started.push_back((now, key));
        }
        entry.1 += 1;
        entry.1 <= self.max
    }

    /// Counts one request from `ip` at `now` in the database, where every
    /// daemon sharing it counts: false when the client is over the limit
    /// in the current fixed window. A database error lets the request
    /// through (the in-memory count still applies) and is logged.
    pub async fn allow_shared(
        &self,
        store: &crate::store::Store,
        ip: IpAddr,
        now: chrono::DateTime<chrono::Utc>,
    ) -> bool {
        let window = i64::try_from(self.window.as_secs()).unwrap_or(600).max(1);
        let start = now.timestamp() - now.timestamp().rem_euclid(window);
        let Some(start) = chrono::DateTime::from_timestamp(start, 0) else {
            return true;
        };
        let scope = format!("subscribe:{}", self.client_key(ip));
        match store.count_request(&scope, start, self.max).await {
            Ok(allowed) => allowed,
            Err(e) => {
                tracing::warn!(error = format!("{e:#}"), "counting a subscribe request");
                true
            }
        }
    }

    /// Clients tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        let w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        w.counts.len()
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
        let limiter = IpLimiter::new(2, Duration::from_secs(600), 64, 1000);
        let a = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let b = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let t0 = Instant::now();
        assert!(limiter.allow(a, t0));
        assert!(limiter.allow(a, t0));
        assert!(!limiter.allow(a, t0 + Duration::from_secs(1)));
        assert!(limiter.allow(b, t0 + Duration::from_secs(1)));
        assert!(limiter.allow(a, t0 + Duration::from_secs(600)));
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_prefix() {
        let limiter = IpLimiter::new(3, Duration::from_secs(600), 64, 1000);
        let t0 = Instant::now();
        for i in 0..3u16 {
            let rotated = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, i, 0, 0, i + 1));
            assert!(limiter.allow(rotated, t0));
        }
        assert!(!limiter.allow(ip("2001:db8:0:7:ffff::9"), t0));
        assert!(limiter.allow(ip("2001:db8:0:8::1"), t0), "the next /64");
        let exact = IpLimiter::new(1, Duration::from_secs(600), 128, 1000);
        assert!(exact.allow(ip("2001:db8::1"), t0));
        assert!(exact.allow(ip("2001:db8::2"), t0));
        assert_eq!(exact.client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
        let wide = IpLimiter::new(1, Duration::from_secs(600), 48, 1000);
        assert_eq!(wide.client_key(ip("2001:db8:1:2:3::4")), ip("2001:db8:1::"));
    }

    #[test]
    fn the_map_is_bounded_and_expired_windows_are_forgotten_oldest_first() {
        let limiter = IpLimiter::new(1, Duration::from_secs(600), 64, 100);
        let t0 = Instant::now();
        for i in 0..1000u32 {
            let a = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            assert!(limiter.allow(a, t0 + Duration::from_millis(u64::from(i))));
            assert!(limiter.tracked() <= 100);
        }
        // The newest are still counted, the oldest forgotten.
        let newest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 999));
        assert!(!limiter.allow(newest, t0 + Duration::from_secs(2)));
        let oldest = IpAddr::V4(Ipv4Addr::from(0x0a00_0000));
        assert!(limiter.allow(oldest, t0 + Duration::from_secs(2)));
        // After the window, a new request finds the expired ones gone.
        let later = t0 + Duration::from_secs(700);
        assert!(limiter.allow(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), later));
        assert_eq!(limiter.tracked(), 1);
    }
}

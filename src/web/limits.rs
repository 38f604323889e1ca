//! Per-client-IP rate limit on subscribe requests (in memory: it only has to
//! slow a burst down; the per-address limit on mails is in the store and
//! survives restarts), and the client-IP extractor.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

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

/// The peer address of the connection (unspecified when the router runs
/// without connect info, as in unit tests).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

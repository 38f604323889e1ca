//! An IP address or CIDR block, as the operator lists trusted reverse
//! proxies (`[web] trusted_proxies`), parsed when the settings are loaded.

use std::net::IpAddr;

use serde::Deserialize;

/// An IP address or CIDR block, as listed in `[web] trusted_proxies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct IpRange {
    net: IpAddr,
    prefix: u8,
}

impl TryFrom<String> for IpRange {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let bad = || format!("{s:?} is not an IP address or CIDR block (like 10.0.0.0/8 or ::1)");
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(IpRange { net, prefix })
    }
}

impl IpRange {
    /// Whether `ip` is in this block (IPv4-mapped IPv6 addresses count as
    /// their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |a: IpAddr| -> (u128, u32) {
            match a.to_canonical() {
                IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
                IpAddr::V6(v6) => (u128::from(v6), 128),
            }
        };
        let (net, width) = bits(self.net);
        let (ip, ip_width) = bits(ip);
        if width != ip_width {
            return false;
        }
        let shift = width - u32::from(self.prefix);
        shift >= width || (net >> shift) == (ip >> shift)
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
    fn ranges_parse_addresses_and_cidr_blocks_and_refuse_the_rest() {
        let r = ranges(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]);
        assert!(r[0].contains(ip("10.200.3.4")));
        assert!(!r[0].contains(ip("11.0.0.1")));
        assert!(r[0].contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
        assert!(r[1].contains(ip("192.0.2.7")));
        assert!(!r[1].contains(ip("192.0.2.8")));
        assert!(r[2].contains(ip("2001:db8:1::5")));
        assert!(!r[2].contains(ip("2001:db9::5")));
        assert!(r[3].contains(ip("::1")));
        assert!(!r[3].contains(ip("127.0.0.1")));
        assert!(ranges(&["0.0.0.0/0"])[0].contains(ip("203.0.113.1")));
        for bad in [
            "10.0.0.0/33",
            "proxy.example.org",
            "10.0.0/8",
            "::1/129",
            "",
        ] {
            let e = IpRange::try_from(bad.to_string()).unwrap_err();
            assert!(e.contains("not an IP address"), "{bad}: {e}");
        }
    }
}

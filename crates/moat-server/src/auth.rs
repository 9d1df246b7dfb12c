//! A brake on guessing tokens: an address that failed to authenticate too often within a
//! window is refused (429, with `Retry-After`) without its token being looked at, until the
//! window has passed. Every failure is logged (the address and what it tried, never the
//! token) and counted.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::collections::HashMap;

/// The most addresses whose failures are remembered; past it, those whose window has
/// passed are forgotten, and if none has, the oldest.
const MAX_TRACKED: usize = 65_536;

/// Failed authentications per address, within a window.
pub struct Failures {
    limit: u32,
    window: Duration,
    by_source: Mutex<HashMap<IpAddr, Strikes>>,
}

#[derive(Debug, Clone, Copy)]
struct Strikes {
    count: u32,
    since: Instant,
}

impl Failures {
    /// At most `limit` failures per `window` from one address; a `limit` of 0 never
    /// refuses.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            by_source: Mutex::new(HashMap::new()),
        }
    }

    /// Whole seconds until `ip` may try again, if it has failed `limit` times within the
    /// window.
    pub fn locked(&self, ip: IpAddr) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let strikes = by_source.get(&source(ip))?;
        let left = self.window.checked_sub(strikes.since.elapsed())?;
        (strikes.count >= self.limit).then(|| left.as_secs_f64().ceil().max(1.0) as u64)
    }

    /// Counts a failure of `ip` to authenticate for `what` (a route or a form).
    pub fn failed(&self, ip: IpAddr, what: &str) {
        tracing::warn!(%ip, what, "authentication failed");
        if self.limit == 0 {
            return;
        }
        let mut by_source = self.by_source.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if by_source.len() >= MAX_TRACKED {
            by_source.retain(|_, s| now.duration_since(s.since) < self.window);
            if by_source.len() >= MAX_TRACKED
                && let Some(oldest) = by_source.iter().min_by_key(|(_, s)| s.since).map(|e| *e.0)
            {
                by_source.remove(&oldest);
            }
        }
        let strikes = by_source.entry(source(ip)).or_insert(Strikes {
            count: 0,
            since: now,
        });
        if now.duration_since(strikes.since) >= self.window {
            *strikes = Strikes {
                count: 0,
                since: now,
            };
        }
        strikes.count = strikes.count.saturating_add(1);
    }
}

/// Where failures are counted: one IPv4 address, or one IPv6 /64 (a host is given a whole
/// /64 to choose its addresses from).
fn source(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_until_the_window_passes() {
        let failures = Failures::new(3, Duration::from_millis(200));
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 0..2 {
            failures.failed(ip, "test");
        }
        assert_eq!(failures.locked(ip), None);
        failures.failed(ip, "test");
        assert_eq!(failures.locked(ip), Some(1));
        assert_eq!(failures.locked(other), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(failures.locked(ip), None);
    }

    #[test]
    fn an_ipv6_host_is_one_source_across_its_slash_64() {
        let failures = Failures::new(2, Duration::from_secs(60));
        failures.failed("2001:db8:1:2::1".parse().unwrap(), "test");
        failures.failed("2001:db8:1:2:ffff::9".parse().unwrap(), "test");
        assert!(
            failures
                .locked("2001:db8:1:2::77".parse().unwrap())
                .is_some()
        );
        assert!(
            failures
                .locked("2001:db8:1:3::1".parse().unwrap())
                .is_none()
        );
        let never = Failures::new(0, Duration::from_secs(60));
        never.failed("192.0.2.1".parse().unwrap(), "test");
        assert!(never.locked("192.0.2.1".parse().unwrap()).is_none());
    }
}

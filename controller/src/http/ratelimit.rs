//! The rate limits of the API. `/v1/verify` is limited as upstream applies it: a generic
//! cell rate algorithm (GCRA) per client — `--rate-limit` requests per second sustained,
//! and `--rate-limit-burst` more at once. `/v1/rotate`, which upstream does not limit, is
//! charged per item re-sealed (one RSA decryption each: a 2,700-item request is seconds
//! of CPU), [`ROTATE_ITEMS_PER_SECOND`] sustained. A refused request gets 429
//! `limit exceeded` with `Retry-After`, as upstream's `throttled` answers.
//!
//! The client is the connection's address. Upstream uses the `X-Forwarded-For` header
//! from anyone, so a new value per request is a new allowance; here the header counts only
//! from a `--trusted-proxy` (the API server, when kubeseal comes through its service
//! proxy), and then only its last address: the one the proxy appended itself, which the
//! client behind it cannot choose.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

/// `--rate-limit` and `--rate-limit-burst` (upstream's names and defaults), and who may
/// say who the client is.
#[derive(Clone, Debug, clap::Args)]
pub struct RateLimitFlags {
    /// Sustained requests per second allowed on `/v1/verify`, per client.
    #[arg(long = "rate-limit", default_value_t = 2)]
    pub per_second: u32,
    /// Requests per client allowed above the sustained rate at once on `/v1/verify`.
    #[arg(long = "rate-limit-burst", default_value_t = 2)]
    pub burst: u32,
    /// Addresses whose `X-Forwarded-For` names the client (the API server's, for requests
    /// through its service proxy). From anyone else the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "IP", value_delimiter = ',')]
    pub trusted_proxies: Vec<IpAddr>,
}

/// Items re-sealed per second per client on `/v1/rotate`, sustained.
pub const ROTATE_ITEMS_PER_SECOND: u32 = 200;
/// Items per client re-sealed at once above the sustained rate on `/v1/rotate`.
pub const ROTATE_ITEMS_BURST: u32 = 1_000;

/// Clients remembered at most; beyond that the least recently seen are forgotten (upstream
/// keeps 65,536 in an LRU).
const MAX_CLIENTS: usize = 65_536;

/// The client a request is counted against: the connection's address, or the last
/// `X-Forwarded-For` address when the connection comes from a trusted proxy.
pub fn client(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    let peer = peer.to_canonical();
    if trusted.contains(&peer) {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .rfind(|v| !v.is_empty());
        if let Some(forwarded) = forwarded {
            return forwarded.to_owned();
        }
    }
    peer.to_string()
}

/// Per-client GCRA state: the theoretical arrival time of the next request.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    clients: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// A limiter of `per_second` sustained and `burst` more at once; a zero rate allows
    /// one per second.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let interval = Duration::from_secs(1) / per_second.max(1);
        Self {
            interval,
            tolerance: interval * burst,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a request of `client` costing `cost` units at `now`: `Ok(())` if allowed,
    /// else how long to wait. A request is allowed while the client's debt is within the
    /// burst, and then adds its whole cost, so one larger than the burst passes only
    /// from a full allowance and makes its client wait for all of it.
    pub fn check(&self, client: &str, now: Instant, cost: u32) -> Result<(), Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let arrival = clients.get(client).copied().unwrap_or(now).max(now);
        let allowed_at = arrival.checked_sub(self.tolerance).unwrap_or(now);
        if now < allowed_at {
            return Err(allowed_at - now);
        }
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(client) {
            // Forget whoever is already back under the limit (their state is "now").
            clients.retain(|_, tat| *tat > now);
            if clients.len() >= MAX_CLIENTS {
                clients.clear();
            }
        }
        clients.insert(client.to_owned(), arrival + self.interval * cost.max(1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_the_sustained_rate_per_client() {
        let limiter = RateLimiter::new(2, 2);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0, 1).is_ok(), "burst + 1 at once");
        }
        let wait = limiter.check("a", t0, 1).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(
            limiter.check("b", t0, 1).is_ok(),
            "clients are counted apart"
        );
        assert!(limiter.check("a", t0 + wait, 1).is_ok());
        assert!(limiter.check("a", t0 + wait, 1).is_err());
        assert!(limiter.check("a", t0 + Duration::from_secs(10), 1).is_ok());
    }

    #[test]
    fn a_costly_request_is_paid_for_before_the_next() {
        let limiter = RateLimiter::new(ROTATE_ITEMS_PER_SECOND, ROTATE_ITEMS_BURST);
        let t0 = Instant::now();
        // The probe's request: 2,700 items in one body. It passes, then its client waits
        // until it is paid down to the burst (8.5 s).
        assert!(limiter.check("a", t0, 2_700).is_ok());
        let wait = limiter.check("a", t0, 1).unwrap_err();
        assert_eq!(wait, Duration::from_millis(8_500));
        assert!(limiter.check("a", t0 + wait, 1).is_ok());
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy_and_only_its_last_hop() {
        let proxy: IpAddr = "10.96.0.1".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.9".parse().unwrap());
        assert_eq!(client(other, &headers, &[proxy]), "192.0.2.7");
        assert_eq!(client(proxy, &headers, &[proxy]), "198.51.100.9");
        assert_eq!(client(proxy, &HeaderMap::new(), &[proxy]), "10.96.0.1");
        let mapped: IpAddr = "::ffff:10.96.0.1".parse().unwrap();
        assert_eq!(client(mapped, &headers, &[proxy]), "198.51.100.9");
    }
}

//! The rate limit on `/v1/verify`, as upstream applies it: a generic cell rate algorithm
//! (GCRA) per client, where the client is the `X-Forwarded-For` header (set by the API
//! server's service proxy) — `--rate-limit` requests per second sustained, and
//! `--rate-limit-burst` more at once. A refused request gets 429 `limit exceeded` with
//! `Retry-After`, as upstream's `throttled` answers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// `--rate-limit` and `--rate-limit-burst`, upstream's names and defaults.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct RateLimitFlags {
    /// Sustained requests per second allowed on `/v1/verify`, per client.
    #[arg(long = "rate-limit", default_value_t = 2)]
    pub per_second: u32,
    /// Requests per client allowed above the sustained rate at once on `/v1/verify`.
    #[arg(long = "rate-limit-burst", default_value_t = 2)]
    pub burst: u32,
}

/// Clients remembered at most; beyond that the least recently seen are forgotten (upstream
/// keeps 65,536 in an LRU).
const MAX_CLIENTS: usize = 65_536;

/// Per-client GCRA state: the theoretical arrival time of the next request.
pub struct RateLimiter {
    interval: Duration,
    tolerance: Duration,
    clients: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    /// A limiter for `flags`; a zero rate allows one request per client per second.
    pub fn new(flags: RateLimitFlags) -> Self {
        let interval = Duration::from_secs(1) / flags.per_second.max(1);
        Self {
            interval,
            tolerance: interval * (flags.burst + 1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request of `client` at `now`: `Ok(())` if allowed, else how long to wait.
    pub fn check(&self, client: &str, now: Instant) -> Result<(), Duration> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        let arrival = clients.get(client).copied().unwrap_or(now).max(now);
        let next = arrival + self.interval;
        let allowed_at = next.checked_sub(self.tolerance).unwrap_or(now);
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
        clients.insert(client.to_owned(), next);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_the_sustained_rate_per_client() {
        let limiter = RateLimiter::new(RateLimitFlags {
            per_second: 2,
            burst: 2,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("a", t0).is_ok(), "burst + 1 at once");
        }
        let wait = limiter.check("a", t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        assert!(limiter.check("b", t0).is_ok(), "clients are counted apart");
        assert!(limiter.check("a", t0 + wait).is_ok());
        assert!(limiter.check("a", t0 + wait).is_err());
        assert!(limiter.check("a", t0 + Duration::from_secs(10)).is_ok());
    }
}

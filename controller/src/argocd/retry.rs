//! Argo CD's retry of a failed sync: `syncPolicy.retry` for an automated sync (the Sync's
//! backoff), `operation.retry` for a requested one ([`Retries`]: the operation is kept
//! and run again after each wait until it succeeds or its retries are spent, as Argo CD's
//! application controller retries an operation).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lockstep_api::argocd::{Operation, RetryStrategy};
use lockstep_api::{Backoff, ObjectKey};

use super::convert::lock;

/// `retry` (found at `path`, for messages) as Argo CD reads it: `limit` 0 (the default)
/// retries never and a negative one always; `backoff.duration` 5s, `factor` 2 and
/// `maxDuration` 3m by default, durations in seconds or Go's notation.
///
/// # Errors
/// The refusal naming a field that does not read.
pub fn backoff(retry: &RetryStrategy, path: &str) -> Result<Backoff, String> {
    let backoff = retry.backoff.as_ref();
    let duration = |field: &str, text: Option<&String>, default: u64| match text {
        None => Ok(Duration::from_secs(default)),
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) => Ok(Duration::from_secs(seconds)),
            Err(_) => lockstep_api::parse_duration(text)
                .map_err(|err| format!("{path}.backoff.{field} {text:?} does not read: {err}")),
        },
    };
    let factor = backoff.and_then(|b| b.factor).unwrap_or(2);
    Ok(Backoff {
        limit: match retry.limit.unwrap_or(0) {
            limit if limit < 0 => None,
            limit => Some(u32::try_from(limit).unwrap_or(u32::MAX)),
        },
        duration: duration("duration", backoff.and_then(|b| b.duration.as_ref()), 5)?,
        factor: u32::try_from(factor)
            .map_err(|_| format!("{path}.backoff.factor {factor} must be 0 or more"))?,
        max_duration: duration(
            "maxDuration",
            backoff.and_then(|b| b.max_duration.as_ref()),
            180,
        )?,
    })
}

/// The requested syncs that failed and wait to be run again, by Application.
#[derive(Default)]
pub struct Retries(Mutex<HashMap<ObjectKey, Pending>>);

/// A failed requested sync: the operation, how many retries it had, when the next is due.
struct Pending {
    operation: Operation,
    retries: u32,
    due: Instant,
}

impl Retries {
    /// How long the requested `operation` of Application `key` still waits for its next
    /// run; `None` when it is due or does not wait (a new operation forgets the old one's
    /// retries).
    pub fn wait(&self, key: &ObjectKey, operation: &Operation) -> Option<Duration> {
        let mut pending = lock(&self.0);
        let left = match pending.get(key) {
            Some(p) if &p.operation == operation => p.due.saturating_duration_since(Instant::now()),
            Some(_) => {
                pending.remove(key);
                return None;
            }
            None => return None,
        };
        (!left.is_zero()).then_some(left)
    }

    /// The wait before the requested `operation` of Application `key`, which just failed,
    /// runs again, the retry counted; `None` once `backoff` has no retry left (the
    /// operation is then done and forgotten).
    pub fn failed(
        &self,
        key: &ObjectKey,
        operation: &Operation,
        backoff: Option<&Backoff>,
    ) -> Option<Duration> {
        let mut pending = lock(&self.0);
        let retries = pending
            .get(key)
            .filter(|p| &p.operation == operation)
            .map_or(0, |p| p.retries);
        let Some(wait) = backoff.and_then(|b| b.delay(retries)) else {
            pending.remove(key);
            return None;
        };
        let next = Pending {
            operation: operation.clone(),
            retries: retries + 1,
            due: Instant::now() + wait,
        };
        pending.insert(key.clone(), next);
        Some(wait)
    }

    /// Forgets the retries of Application `key`: its operation is done, or it is gone.
    pub fn forget(&self, key: &ObjectKey) {
        lock(&self.0).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strategy(retry: serde_json::Value) -> RetryStrategy {
        serde_json::from_value(retry).unwrap()
    }

    /// Read as Argo CD reads it: its defaults (no retry, 5s, factor 2, 3m), seconds or Go
    /// durations, a negative limit unlimited; a duration that does not read is named by
    /// its path.
    #[test]
    fn retry_reads_as_argo_cd_reads_it() {
        let default = backoff(&strategy(json!({})), "operation.retry").unwrap();
        assert_eq!(default.limit, Some(0));
        assert_eq!(default.duration, Duration::from_secs(5));
        assert_eq!(default.factor, 2);
        assert_eq!(default.max_duration, Duration::from_secs(180));
        let given =
            json!({"limit": -1, "backoff": {"duration": "7", "factor": 3, "maxDuration": "1m"}});
        let given = backoff(&strategy(given), "operation.retry").unwrap();
        assert_eq!(given.limit, None);
        assert_eq!(given.duration, Duration::from_secs(7));
        assert_eq!(given.max_duration, Duration::from_secs(60));
        let soon = strategy(json!({"backoff": {"duration": "soon"}}));
        let refused = backoff(&soon, "operation.retry").unwrap_err();
        assert!(
            refused.starts_with("operation.retry.backoff.duration \"soon\""),
            "{refused}"
        );
    }

    /// A failed operation waits its backoff, counted per operation: each failure one retry
    /// more, none once the limit is spent, and another operation starts again from none.
    #[test]
    fn a_failed_operation_waits_its_backoff() {
        let retries = Retries::default();
        let key = ObjectKey::new("argocd", "web");
        let operation: Operation = serde_json::from_value(json!({"sync": {}})).unwrap();
        let limited = backoff(
            &strategy(json!({"limit": 2, "backoff": {"duration": "10", "factor": 3}})),
            "operation.retry",
        )
        .unwrap();
        assert_eq!(retries.wait(&key, &operation), None, "never failed");
        let first = retries.failed(&key, &operation, Some(&limited));
        assert_eq!(first, Some(Duration::from_secs(10)));
        let left = retries.wait(&key, &operation).unwrap();
        assert!(left > Duration::from_secs(9), "{left:?}");
        let second = retries.failed(&key, &operation, Some(&limited));
        assert_eq!(second, Some(Duration::from_secs(30)));
        assert_eq!(retries.failed(&key, &operation, Some(&limited)), None);
        assert_eq!(retries.wait(&key, &operation), None, "spent, forgotten");
        assert_eq!(retries.failed(&key, &operation, None), None, "no retry");

        retries.failed(&key, &operation, Some(&limited));
        let other: Operation = serde_json::from_value(json!({"sync": {"prune": true}})).unwrap();
        assert_eq!(retries.wait(&key, &other), None, "another operation");
        assert_eq!(retries.wait(&key, &operation), None, "forgotten");
        let first = retries.failed(&key, &other, Some(&limited));
        assert_eq!(first, Some(Duration::from_secs(10)), "counted from none");
    }
}

//! The durations of a Sync's and a GitSource's spec, parsed once per generation: the
//! spec changes only with a new `metadata.generation`, so every other reconcile (each
//! interval, each wake-up) reuses what was parsed. A field that does not parse is an
//! error of that object alone, reported in its status; it never fails the watch that
//! lists the others (as a `Duration` field in the CRD type would).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use lockstep_api::{DurationError, GitSourceSpec, ObjectKey, SyncSpec, parse_duration};

/// A spec field that is not a duration.
#[derive(Clone, Debug, thiserror::Error)]
#[error("spec.{field}: {error}")]
pub struct FieldError {
    /// The field's name in the spec (`interval`, `retryInterval`, `timeout`).
    field: &'static str,
    /// What is wrong with its text.
    error: DurationError,
}

/// A Sync's durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncIntervals {
    /// `interval`: how often the Sync is reconciled.
    pub interval: Duration,
    /// `retryInterval` (else `interval`): how soon a failed attempt is retried.
    pub retry: Duration,
    /// `timeout` (else Flux's default, see [`default_timeout`]).
    pub timeout: Duration,
}

impl SyncIntervals {
    /// Parses the durations of `spec`.
    ///
    /// # Errors
    /// [`FieldError`] naming the first field that does not parse.
    pub fn parse(spec: &SyncSpec) -> Result<Self, FieldError> {
        let interval = field("interval", &spec.interval)?;
        let retry = optional("retryInterval", spec.retry_interval.as_deref())?;
        let timeout = optional("timeout", spec.timeout.as_deref())?;
        Ok(Self {
            interval,
            retry: retry.unwrap_or(interval),
            timeout: timeout.unwrap_or_else(|| default_timeout(interval)),
        })
    }
}

/// A GitSource's durations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceIntervals {
    /// `interval`: how often the source is polled.
    pub interval: Duration,
    /// `timeout` of one Git operation, when set (else the fetcher's default).
    pub timeout: Option<Duration>,
}

impl SourceIntervals {
    /// Parses the durations of `spec`.
    ///
    /// # Errors
    /// [`FieldError`] naming the first field that does not parse.
    pub fn parse(spec: &GitSourceSpec) -> Result<Self, FieldError> {
        Ok(Self {
            interval: field("interval", &spec.interval)?,
            timeout: optional("timeout", spec.timeout.as_deref())?,
        })
    }
}

/// Flux's default timeout of a Sync: the interval less 30 s, at least 30 s.
fn default_timeout(interval: Duration) -> Duration {
    interval
        .saturating_sub(Duration::from_secs(30))
        .max(Duration::from_secs(30))
}

fn field(field: &'static str, text: &str) -> Result<Duration, FieldError> {
    parse_duration(text).map_err(|error| FieldError { field, error })
}

fn optional(name: &'static str, text: Option<&str>) -> Result<Option<Duration>, FieldError> {
    text.map(|text| field(name, text)).transpose()
}

/// What was parsed from each object's spec, with the generation it was parsed at.
pub struct PerGeneration<T> {
    parsed: Mutex<HashMap<ObjectKey, (Option<i64>, T)>>,
}

impl<T> Default for PerGeneration<T> {
    fn default() -> Self {
        Self {
            parsed: Mutex::default(),
        }
    }
}

impl<T: Clone> PerGeneration<T> {
    /// What `parse` gives for `key` at `generation`: parsed once, then remembered until
    /// the generation changes.
    pub fn get(&self, key: &ObjectKey, generation: Option<i64>, parse: impl FnOnce() -> T) -> T {
        let mut parsed = self.parsed.lock().unwrap_or_else(|e| e.into_inner());
        match parsed.get(key) {
            Some((at, value)) if *at == generation => value.clone(),
            _ => {
                let value = parse();
                parsed.insert(key.clone(), (generation, value.clone()));
                value
            }
        }
    }

    /// Forgets `key` (its object is gone).
    pub fn forget(&self, key: &ObjectKey) {
        self.parsed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync_spec(fields: serde_json::Value) -> SyncSpec {
        let mut spec = serde_json::json!({"sourceRef": {"name": "source"}, "interval": "5m"});
        spec.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        serde_json::from_value(spec).unwrap()
    }

    #[test]
    fn defaults_follow_flux() {
        let parsed = SyncIntervals::parse(&sync_spec(serde_json::json!({}))).unwrap();
        assert_eq!(parsed.retry, Duration::from_secs(300));
        assert_eq!(parsed.timeout, Duration::from_secs(270));
        let short = SyncIntervals::parse(&sync_spec(serde_json::json!({"interval": "40s"})));
        assert_eq!(short.unwrap().timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_bad_field_is_named() {
        let spec = sync_spec(serde_json::json!({"retryInterval": "soon"}));
        let err = SyncIntervals::parse(&spec).unwrap_err().to_string();
        assert!(
            err.starts_with("spec.retryInterval: invalid duration \"soon\""),
            "{err}"
        );
        let spec = sync_spec(serde_json::json!({"timeout": "5"}));
        let err = SyncIntervals::parse(&spec).unwrap_err().to_string();
        assert!(err.starts_with("spec.timeout: "), "{err}");
    }

    #[test]
    fn parsed_once_per_generation() {
        let cache = PerGeneration::default();
        let key = ObjectKey::new("ns", "app");
        let calls = std::cell::Cell::new(0);
        let get = |generation| {
            cache.get(&key, Some(generation), || {
                calls.set(calls.get() + 1);
                generation * 10
            })
        };
        assert_eq!(get(1), 10);
        assert_eq!(get(1), 10);
        assert_eq!(get(2), 20);
        assert_eq!(calls.get(), 2);
        cache.forget(&key);
        assert_eq!(cache.get(&key, Some(2), || 0), 0);
    }
}

//! The refreshes that changed nothing. [`lockstep_eso::status::next`] leaves their time out
//! of the status, so that 1,000 unchanged ExternalSecrets write nothing an interval; the
//! controller remembers it here, and the next refresh is due an interval after it rather
//! than after the status's older `refreshTime`. After a restart nothing is remembered: each
//! ExternalSecret whose last change is older than its interval is read once, at start.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::Timestamp;
use lockstep_api::{ExternalSecret, ObjectKey};
use lockstep_eso::status::refresh_interval;

/// The last unwritten refresh of each ExternalSecret, by uid.
#[derive(Default)]
pub(super) struct Refreshes(Mutex<HashMap<ObjectKey, Refresh>>);

struct Refresh {
    uid: String,
    at: Timestamp,
    /// Two intervals on: the ExternalSecret is gone, or its next refresh was written.
    stale: Timestamp,
}

impl Refreshes {
    /// When `es` was last refreshed without a write, if this is still the same object.
    pub(super) fn of(&self, es: &ExternalSecret) -> Option<Timestamp> {
        let refreshes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let refresh = refreshes.get(&ObjectKey::of(es))?;
        (es.metadata.uid.as_ref() == Some(&refresh.uid)).then_some(refresh.at)
    }

    /// Notes a refresh of `es` at `at` that wrote nothing, and forgets those gone stale
    /// (the ExternalSecrets deleted since: nothing else tells this map).
    pub(super) fn remember(&self, es: &ExternalSecret, at: Timestamp) {
        let Some(uid) = es.metadata.uid.clone() else {
            return;
        };
        let twice = refresh_interval(es).saturating_mul(2);
        let stale = jiff::SignedDuration::try_from(twice)
            .ok()
            .and_then(|span| at.checked_add(span).ok())
            .unwrap_or(Timestamp::MAX);
        let mut refreshes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        refreshes.retain(|_, refresh| refresh.stale > at);
        refreshes.insert(ObjectKey::of(es), Refresh { uid, at, stale });
    }

    /// Forgets `es`'s unwritten refresh: a later one was written to its status.
    pub(super) fn forget(&self, es: &ExternalSecret) {
        let mut refreshes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        refreshes.remove(&ObjectKey::of(es));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn es(name: &str, uid: &str, interval: &str) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "namespace": "apps", "uid": uid},
            "spec": {"refreshInterval": interval},
        }))
        .unwrap()
    }

    #[test]
    fn a_refresh_is_remembered_for_its_object_until_stale() {
        let refreshes = Refreshes::default();
        let t0: Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let db = es("db", "uid-1", "1m");
        refreshes.remember(&db, t0);
        assert_eq!(refreshes.of(&db), Some(t0));
        // The same name, another object: not its refresh.
        assert_eq!(refreshes.of(&es("db", "uid-2", "1m")), None);

        // Two intervals on, a refresh of another object drops the first.
        let later = t0 + jiff::SignedDuration::from_secs(121);
        refreshes.remember(&es("api", "uid-3", "1m"), later);
        assert_eq!(refreshes.of(&db), None);

        refreshes.forget(&es("api", "uid-3", "1m"));
        assert_eq!(refreshes.of(&es("api", "uid-3", "1m")), None);
    }
}

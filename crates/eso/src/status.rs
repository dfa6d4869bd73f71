//! An ExternalSecret's status as ESO v0.16.2 writes it, and when it reads its values again
//! (`shouldRefresh`, `getRequeueResult`).

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::ObjectMeta;
use lockstep_api::external_secrets::{
    ExternalSecret, ExternalSecretCondition, ExternalSecretStatus, RefreshPolicy,
};
use lockstep_api::parse_duration;

use crate::go;

/// The `Ready` condition's reasons.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The Secret holds the values (or was kept, with `deletionPolicy: Retain`).
    SecretSynced,
    /// Reading or writing failed; the Secret was left as it was.
    SecretSyncedError,
    /// `creationPolicy: Merge` and there is no Secret to merge into.
    SecretMissing,
    /// Every remote value is gone and `deletionPolicy: Delete` removed the Secret.
    SecretDeleted,
}

impl Reason {
    /// The reason as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretSynced => "SecretSynced",
            Self::SecretSyncedError => "SecretSyncedError",
            Self::SecretMissing => "SecretMissing",
            Self::SecretDeleted => "SecretDeleted",
        }
    }
}

/// ESO's messages: whole for the reasons that carry no detail; for `SecretSyncedError` the
/// class of failure, which Lockstep's message starts with (`<class>: <detail>`) where ESO
/// puts the detail in an event only.
pub mod message {
    /// `SecretSynced`.
    pub const SYNCED: &str = "secret synced";
    /// `SecretSynced` when the remote values are gone and the Secret is kept.
    pub const SYNCED_RETAIN: &str = "secret retained due to DeletionPolicy=Retain";
    /// `SecretMissing`.
    pub const MISSING: &str = "secret will not be created due to CreationPolicy=Merge";
    /// `SecretDeleted`.
    pub const DELETED: &str = "secret deleted due to DeletionPolicy=Delete";
    /// The store, a login or a value could not be read.
    pub const GET_DATA_FAILED: &str = "could not get secret data from provider";
    /// The Secret could not be deleted (`deletionPolicy: Delete`).
    pub const DELETE_FAILED: &str = "could not delete secret";
    /// The Secret could not be made or written: a template that fails, a write the API
    /// server refuses.
    pub const UPDATE_FAILED: &str = "could not update secret";
    /// The Secret is immutable and its data would change.
    pub const UPDATE_IMMUTABLE: &str = "could not update secret, target is immutable";
    /// Another controller controls the Secret (`creationPolicy: Owner`).
    pub const BECOME_OWNER_FAILED: &str = "failed to take ownership of target secret";
    /// Another ExternalSecret controls the Secret.
    pub const IS_OWNED: &str = "target is owned by another ExternalSecret";
}

/// ESO's `syncedResourceVersion`: `<generation>-<hash of labels and annotations>`.
pub fn synced_resource_version(meta: &ObjectMeta) -> String {
    let empty = BTreeMap::new();
    format!(
        "{}-{}",
        meta.generation.unwrap_or_default(),
        go::hash_meta(
            meta.annotations.as_ref().unwrap_or(&empty),
            meta.labels.as_ref().unwrap_or(&empty)
        )
    )
}

/// The refresh interval: `spec.refreshInterval`, default one hour; zero means once.
pub fn refresh_interval(es: &ExternalSecret) -> Duration {
    es.spec
        .refresh_interval
        .as_deref()
        .and_then(|text| parse_duration(text).ok())
        .unwrap_or(Duration::from_secs(3600))
}

/// When the values were last read: the status's `refreshTime`, or `unwritten`, a later
/// refresh that changed nothing and so wrote nothing ([`next`]), when the caller
/// remembers one.
fn refreshed_at(es: &ExternalSecret, unwritten: Option<Timestamp>) -> Option<Timestamp> {
    let written = es.status.as_ref()?.refresh_time.as_deref()?.parse().ok()?;
    Some(unwritten.map_or(written, |at: Timestamp| at.max(written)))
}

/// ESO's `shouldRefresh`: whether the values must be read again now; `unwritten` as in
/// [`requeue_after`].
pub fn should_refresh(es: &ExternalSecret, unwritten: Option<Timestamp>, now: Timestamp) -> bool {
    let status = es.status.as_ref();
    let synced = status
        .and_then(|s| s.synced_resource_version.as_deref())
        .unwrap_or("");
    let refreshed = refreshed_at(es, unwritten);
    let never = synced.is_empty() || refreshed.is_none();
    match es.spec.refresh_policy.unwrap_or_default() {
        RefreshPolicy::CreatedOnce => never,
        RefreshPolicy::OnChange => never || synced != synced_resource_version(&es.metadata),
        RefreshPolicy::Periodic => {
            let interval = refresh_interval(es);
            if interval.is_zero() && !synced.is_empty() {
                return false;
            }
            if synced != synced_resource_version(&es.metadata) {
                return true;
            }
            match refreshed {
                None => true,
                Some(at) if at > now => true,
                Some(at) => at + interval < now,
            }
        }
    }
}

/// ESO's `getRequeueResult`: when to look again, or `None` for never (interval `0`).
/// `unwritten` is the last refresh that changed nothing, when the caller remembers one:
/// [`next`] leaves `refreshTime` as it was for it.
pub fn requeue_after(
    es: &ExternalSecret,
    unwritten: Option<Timestamp>,
    now: Timestamp,
) -> Option<Duration> {
    let interval = refresh_interval(es);
    if interval.is_zero() {
        return None;
    }
    let Some(at) = refreshed_at(es, unwritten) else {
        return Some(interval);
    };
    let since = now.duration_since(at);
    let since = Duration::try_from(since).unwrap_or_default();
    Some(interval.saturating_sub(since).max(Duration::from_secs(1)))
}

/// How one reconcile ended, for the status.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Whether the values are in the Secret (`Ready=True`).
    pub ready: bool,
    /// Why, as the `Ready` condition's reason.
    pub reason: Reason,
    /// The `Ready` condition's message: names objects and fields, never a value.
    pub message: String,
    /// The target Secret's name, for `status.binding`.
    pub binding: Option<String>,
    /// Whether the target Secret was created, updated or deleted.
    pub wrote: bool,
}

impl Outcome {
    /// A success that wrote nothing (yet: see [`Outcome::wrote`]).
    pub fn done(reason: Reason, message: &str, binding: Option<String>) -> Self {
        Self {
            ready: true,
            reason,
            message: message.into(),
            binding,
            wrote: false,
        }
    }

    /// A failure: the Secret was left as it was.
    pub fn failed(message: String) -> Self {
        Self {
            ready: false,
            reason: Reason::SecretSyncedError,
            message,
            binding: None,
            wrote: false,
        }
    }

    /// This outcome, having written the target Secret.
    #[must_use]
    pub fn wrote(self) -> Self {
        Self {
            wrote: true,
            ..self
        }
    }
}

/// The status after an outcome: the `Ready` condition (its transition time kept when the
/// status did not change), and for a success the synced version and the refresh time.
///
/// A refresh that wrote no Secret and changes nothing else in the status leaves
/// `refreshTime` as it was, so the status is unchanged and nothing is written: ESO writes
/// every refresh's time, 1,000 status writes an interval for 1,000 unchanged
/// ExternalSecrets. ESO documents the field as the time the values were fetched and the
/// Secret updated, which this keeps; the caller remembers the unwritten refresh for
/// [`should_refresh`] and [`requeue_after`].
pub fn next(es: &ExternalSecret, outcome: &Outcome, now: Timestamp) -> ExternalSecretStatus {
    let Outcome {
        ready,
        reason,
        ref message,
        ref binding,
        wrote,
    } = *outcome;
    let message = message.as_str();
    let mut status = es.status.clone().unwrap_or_default();
    // metav1.Time is written to the second.
    let now_text = Timestamp::from_second(now.as_second())
        .unwrap_or(now)
        .to_string();
    let status_text = if ready { "True" } else { "False" };
    let previous = status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .cloned();
    let unchanged = previous.as_ref().is_some_and(|p| {
        p.status == status_text
            && p.reason.as_deref() == Some(reason.as_str())
            && p.message.as_deref() == Some(message)
    });
    if !unchanged {
        let transition = match &previous {
            Some(p) if p.status == status_text => p.last_transition_time.clone(),
            _ => Some(now_text.clone()),
        };
        status.conditions.retain(|c| c.type_ != "Ready");
        status.conditions.push(ExternalSecretCondition {
            type_: "Ready".into(),
            status: status_text.into(),
            reason: Some(reason.as_str().into()),
            message: Some(message.into()),
            last_transition_time: transition,
        });
    }
    if let Some(name) = binding {
        status.binding = Some(lockstep_api::external_secrets::SecretBinding { name: name.clone() });
    }
    if ready {
        status.synced_resource_version = Some(synced_resource_version(&es.metadata));
        if wrote || es.status.as_ref() != Some(&status) {
            status.refresh_time = Some(now_text);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn es(spec: serde_json::Value, status: serde_json::Value) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "db", "generation": 3, "labels": {"a": "b"}},
            "spec": spec, "status": status,
        }))
        .unwrap()
    }

    #[test]
    fn refresh_follows_interval_and_policy() {
        let now: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let meta_version = synced_resource_version(&es(json!({}), json!({})).metadata);
        assert!(meta_version.starts_with("3-"));
        let synced = |at: &str| json!({"refreshTime": at, "syncedResourceVersion": meta_version});

        // Never synced: refresh.
        assert!(should_refresh(&es(json!({}), json!({})), None, now));
        // Synced 10 min ago, 1h interval: not yet; requeue in 50 min.
        let recent = es(
            json!({"refreshInterval": "1h"}),
            synced("2026-12-04T11:50:00Z"),
        );
        assert!(!should_refresh(&recent, None, now));
        assert_eq!(
            requeue_after(&recent, None, now),
            Some(Duration::from_secs(3000))
        );
        // Past the interval: refresh.
        let old = es(
            json!({"refreshInterval": "5m"}),
            synced("2026-12-04T11:50:00Z"),
        );
        assert!(should_refresh(&old, None, now));
        // `0`: once, never again, no requeue.
        let once = es(
            json!({"refreshInterval": "0"}),
            synced("2026-12-04T10:00:00Z"),
        );
        assert!(!should_refresh(&once, None, now));
        assert_eq!(requeue_after(&once, None, now), None);
        // The object changed (another generation): refresh, whatever the interval.
        let changed = es(
            json!({"refreshInterval": "1h"}),
            json!({"refreshTime": "2026-12-04T11:59:00Z", "syncedResourceVersion": "2-x"}),
        );
        assert!(should_refresh(&changed, None, now));
        // CreatedOnce: not even then.
        let created_once = es(
            json!({"refreshPolicy": "CreatedOnce"}),
            json!({"refreshTime": "2026-12-04T11:59:00Z", "syncedResourceVersion": "2-x"}),
        );
        assert!(!should_refresh(&created_once, None, now));
    }

    #[test]
    fn transition_time_is_kept_while_the_status_holds() {
        let t1: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let t2: Timestamp = "2026-12-04T13:00:00Z".parse().unwrap();
        let mut object = es(json!({}), json!({}));
        let synced = Outcome::done(Reason::SecretSynced, message::SYNCED, Some("db".into()));
        let first = next(&object, &synced.wrote(), t1);
        assert_eq!(
            first.conditions[0].last_transition_time.as_deref(),
            Some("2026-12-04T12:00:00Z")
        );
        assert_eq!(first.binding.as_ref().unwrap().name, "db");
        object.status = Some(first);
        let updated = Outcome::done(Reason::SecretSynced, message::SYNCED, None).wrote();
        let second = next(&object, &updated, t2);
        assert_eq!(
            second.conditions[0].last_transition_time.as_deref(),
            Some("2026-12-04T12:00:00Z")
        );
        assert_eq!(second.refresh_time.as_deref(), Some("2026-12-04T13:00:00Z"));
        object.status = Some(second);
        let failed = next(&object, &Outcome::failed("x".into()), t2);
        assert_eq!(failed.conditions.len(), 1);
        assert_eq!(
            failed.conditions[0].last_transition_time.as_deref(),
            Some("2026-12-04T13:00:00Z")
        );
        // A failure leaves the last refresh time as it was.
        assert_eq!(failed.refresh_time.as_deref(), Some("2026-12-04T13:00:00Z"));
    }

    #[test]
    fn a_refresh_that_changes_nothing_writes_nothing_and_is_remembered() {
        let t1: Timestamp = "2026-12-04T12:00:00Z".parse().unwrap();
        let t2: Timestamp = "2026-12-04T12:05:00Z".parse().unwrap();
        let t3: Timestamp = "2026-12-04T12:09:00Z".parse().unwrap();
        let mut object = es(json!({"refreshInterval": "5m"}), json!({}));
        let synced = || Outcome::done(Reason::SecretSynced, message::SYNCED, Some("db".into()));
        object.status = Some(next(&object, &synced().wrote(), t1));

        // Five minutes on, the values read again are those in the Secret: the status is
        // the same, `refreshTime` included.
        let unchanged = next(&object, &synced(), t2);
        assert_eq!(object.status.as_ref(), Some(&unchanged));
        // Remembered, that refresh counts: not due at 12:09, due at 12:10.
        assert!(should_refresh(&object, None, t3));
        assert!(!should_refresh(&object, Some(t2), t3));
        assert_eq!(
            requeue_after(&object, Some(t2), t3),
            Some(Duration::from_secs(60))
        );
        // A remembered refresh older than the status's counts for nothing.
        assert!(should_refresh(
            &object,
            Some(t1 - jiff::SignedDuration::from_secs(60)),
            t3
        ));

        // A change in the Secret is written with its time.
        assert_eq!(
            next(&object, &synced().wrote(), t2).refresh_time.as_deref(),
            Some("2026-12-04T12:05:00Z")
        );
        // So is any other change to the status: here a force-sync's new annotation.
        object
            .metadata
            .annotations
            .get_or_insert_default()
            .insert("force-sync".into(), "1".into());
        let forced = next(&object, &synced(), t2);
        assert_eq!(forced.refresh_time.as_deref(), Some("2026-12-04T12:05:00Z"));
        assert_ne!(
            forced.synced_resource_version,
            object.status.as_ref().unwrap().synced_resource_version
        );
    }
}

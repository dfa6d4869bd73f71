//! A Kustomization's `status.history`, kept as kustomize-controller keeps it: a snapshot
//! per distinct build and outcome, newest first, at most five. A reconcile that ends the
//! way the newest snapshot of its build did counts into it (`totalReconciliations`,
//! `lastReconciled`, `lastReconciledDuration`); any other outcome is a snapshot of its own.
//!
//! Only the outcomes Flux records count: the build applied and its objects healthy
//! (`ReconciliationSucceeded`), or it failed to apply, to prune or to become healthy; a
//! reconcile that never built (a source not ready, a dependency waiting, a build or
//! decryption error) leaves the history as it was.
//!
//! Two differences from Flux, both chosen:
//! - The digest is of the rendered objects *before* decryption, with every value
//!   substituted from a Secret scrubbed ([`digest`]), where Flux digests its build output
//!   with the secrets decrypted: a status never holds a function of a secret value. The
//!   same Git content and variables give the same digest, as in Flux; but after a switch
//!   from Flux (or back) the first reconcile starts a snapshot of its own.
//! - A reconcile that changes nothing else in the status counts into the newest snapshot
//!   in memory only; the counters reach the cluster with the next status write, so an
//!   idle Kustomization costs no API write per interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use lockstep_api::flux::{Kustomization, Snapshot};
use lockstep_api::{ObjectKey, SyncStatus, format_duration};
use lockstep_engine::redact::Redactor;
use lockstep_engine::render::Manifest;
use sha2::{Digest, Sha256};

use crate::sync::conditions::{self, READY, Reason, WireReason};

/// How many snapshots a history keeps (Flux's `HistoryMaxSize`).
const MAX_SNAPSHOTS: usize = 5;

/// The reasons a snapshot records: how a reconcile that built ended.
const OUTCOMES: [Reason; 5] = [
    Reason::ReconciliationSucceeded,
    Reason::ReconciliationFailed,
    Reason::OwnershipConflict,
    Reason::PruneFailed,
    Reason::HealthCheckFailed,
];

/// Every Kustomization's history.
#[derive(Default)]
pub struct Histories {
    tracked: Mutex<HashMap<ObjectKey, Tracked>>,
}

#[derive(Default)]
struct Tracked {
    /// The snapshots now, newest first.
    current: Vec<Snapshot>,
    /// The snapshots as last written.
    written: Vec<Snapshot>,
    /// The last build's digest and when its reconcile began: the attempt the next outcome
    /// belongs to (a rollout polled later still is).
    build: Option<(String, Instant)>,
}

impl Histories {
    /// Takes in what Kustomization `ks` says of its history the first time it is seen
    /// (Flux's, or this controller's before a restart).
    pub fn see(&self, ks: &Kustomization) {
        let history = || {
            ks.status
                .as_ref()
                .map(|s| s.history.clone())
                .unwrap_or_default()
        };
        lock(&self.tracked)
            .entry(ObjectKey::of(ks))
            .or_insert_with(|| Tracked {
                current: history(),
                written: history(),
                build: None,
            });
    }

    /// Notes that Kustomization `key` has just built what `digest` sums.
    pub fn built(&self, key: &ObjectKey, digest: String) {
        let mut tracked = lock(&self.tracked);
        tracked.entry(key.clone()).or_default().build = Some((digest, Instant::now()));
    }

    /// The history of Kustomization `key` as last written and as it is to be written with
    /// `status`, the outcome of a reconcile (`changed`: whether anything else of the
    /// status changes). The two are equal when the outcome only counts into the newest
    /// snapshot and nothing else changes: then nothing needs writing.
    pub fn record(
        &self,
        key: &ObjectKey,
        status: &SyncStatus,
        changed: bool,
    ) -> (Vec<Snapshot>, Vec<Snapshot>) {
        let mut tracked = lock(&self.tracked);
        let Some(tracked) = tracked.get_mut(key) else {
            return (Vec::new(), Vec::new());
        };
        let outcome = outcome(status);
        let new = match (outcome, &tracked.build) {
            (Some(reason), Some((digest, began))) => {
                let revision = status.last_attempted_revision.clone().unwrap_or_default();
                let metadata = BTreeMap::from([("revision".to_owned(), revision)]);
                let took = format_duration(began.elapsed());
                upsert(&mut tracked.current, digest, reason, took, metadata)
            }
            _ => false,
        };
        let before = tracked.written.clone();
        if new || changed {
            tracked.written.clone_from(&tracked.current);
        }
        (before, tracked.written.clone())
    }

    /// Forgets a deleted Kustomization.
    pub fn forget(&self, key: &ObjectKey) {
        lock(&self.tracked).remove(key);
    }
}

/// The digest of a build for its snapshots: of `manifests` as rendered, before
/// decryption, with every value `substituted` holds (the values substituted from Secrets)
/// scrubbed.
pub fn digest(manifests: &[Manifest], substituted: &Redactor) -> String {
    let mut sum = Sha256::new();
    for manifest in manifests {
        if substituted.is_empty() {
            sum.update(manifest.object.to_string());
        } else {
            let mut object = manifest.object.clone();
            substituted.scrub_value(&mut object);
            sum.update(object.to_string());
        }
        sum.update(b"\n---\n");
    }
    format!("sha256:{}", hex::encode(sum.finalize()))
}

/// The reason a snapshot records for `status`, if it is the outcome of a reconcile that
/// built: its Ready condition, settled (not progressing), with one of [`OUTCOMES`].
fn outcome(status: &SyncStatus) -> Option<&'static str> {
    let ready = status.conditions.iter().find(|c| c.type_ == READY)?;
    let reason = OUTCOMES
        .into_iter()
        .find(|r| r.as_str() == ready.reason)?
        .as_str();
    let settled = !conditions::is_true(&status.conditions, conditions::RECONCILING);
    settled.then_some(reason)
}

/// Counts an outcome into `history`: into the snapshot of the same digest and reason (moved
/// to the front), else into a new one at the front, the oldest beyond
/// [`MAX_SNAPSHOTS`] dropped. Whether the newest snapshot is another one now.
fn upsert(
    history: &mut Vec<Snapshot>,
    digest: &str,
    reason: &str,
    took: String,
    metadata: BTreeMap<String, String>,
) -> bool {
    let now = conditions::now();
    let found = history
        .iter()
        .position(|s| s.digest == digest && s.last_reconciled_status == reason);
    let moved = found != Some(0);
    let snapshot = match found {
        Some(at) => {
            let mut snapshot = history.remove(at);
            snapshot.last_reconciled = now;
            snapshot.last_reconciled_duration = took;
            snapshot.total_reconciliations += 1;
            snapshot.metadata = metadata;
            snapshot
        }
        None => Snapshot {
            digest: digest.to_owned(),
            first_reconciled: now.clone(),
            last_reconciled: now,
            last_reconciled_duration: took,
            last_reconciled_status: reason.to_owned(),
            total_reconciliations: 1,
            metadata,
        },
    };
    history.insert(0, snapshot);
    history.truncate(MAX_SNAPSHOTS);
    moved
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(reason: Reason, ready: bool, revision: &str) -> SyncStatus {
        let mut status = SyncStatus {
            last_attempted_revision: Some(revision.into()),
            ..SyncStatus::default()
        };
        conditions::set(
            &mut status.conditions,
            READY,
            ready,
            reason,
            String::new(),
            None,
        );
        status
    }

    /// The same build ending the same way counts into its snapshot without a write of its
    /// own; a new build, or another outcome, is a new snapshot at the front; five at most.
    #[test]
    fn outcomes_fold_into_snapshots_as_flux_keeps_them() {
        let histories = Histories::default();
        let key = ObjectKey::new("apps", "web");
        let flux = Snapshot {
            digest: "sha256:flux".into(),
            last_reconciled_status: "ReconciliationSucceeded".into(),
            total_reconciliations: 7,
            ..Snapshot::default()
        };
        let mut ks = Kustomization::new("web", Default::default());
        ks.metadata.namespace = Some("apps".into());
        ks.status = Some(lockstep_api::flux::KustomizationStatus {
            history: vec![flux.clone()],
            ..Default::default()
        });
        histories.see(&ks);
        let ok = status(Reason::ReconciliationSucceeded, true, "main@sha1:1");

        // No build yet (a rollout polled after a restart): nothing recorded.
        assert_eq!(
            histories.record(&key, &ok, false).1,
            std::slice::from_ref(&flux)
        );

        histories.built(&key, "sha256:one".into());
        let (before, after) = histories.record(&key, &ok, false);
        assert_eq!(before, std::slice::from_ref(&flux));
        assert_eq!(after.len(), 2);
        assert_eq!(
            (after[0].digest.as_str(), after[0].total_reconciliations),
            ("sha256:one", 1)
        );
        assert_eq!(after[0].metadata["revision"], "main@sha1:1");
        assert_eq!(after[1], flux, "Flux's snapshot kept as it was");

        // Again, nothing else changing: counted in memory, nothing to write.
        let (before, again) = histories.record(&key, &ok, false);
        assert_eq!(before, again);
        assert_eq!(again[0].total_reconciliations, 1);
        // With the next write the count goes along.
        let (_, written) = histories.record(&key, &ok, true);
        assert_eq!(written[0].total_reconciliations, 3);

        // Progressing, or a reason no build ends with: not an outcome.
        let mut rolling = ok.clone();
        conditions::set(
            &mut rolling.conditions,
            conditions::RECONCILING,
            true,
            Reason::Progressing,
            String::new(),
            None,
        );
        let waiting = status(Reason::DependencyNotReady, false, "main@sha1:1");
        for status in [rolling, waiting] {
            assert_eq!(histories.record(&key, &status, true).1, written);
        }

        // A failure of the same build is a snapshot of its own; then five builds at most.
        let failed = status(Reason::HealthCheckFailed, false, "main@sha1:1");
        let (_, after) = histories.record(&key, &failed, false);
        assert_eq!(after.len(), 3);
        assert_eq!(after[0].last_reconciled_status, "HealthCheckFailed");
        for n in 2..=6 {
            histories.built(&key, format!("sha256:{n}"));
            histories.record(&key, &ok, false);
        }
        let (_, after) = histories.record(&key, &ok, false);
        let digests: Vec<_> = after.iter().map(|s| s.digest.as_str()).collect();
        assert_eq!(
            digests,
            ["sha256:6", "sha256:5", "sha256:4", "sha256:3", "sha256:2"]
        );
        // Succeeding at an earlier build again moves its snapshot to the front.
        histories.built(&key, "sha256:4".into());
        let (_, after) = histories.record(&key, &ok, false);
        assert_eq!(after[0].digest, "sha256:4");
        assert_eq!(after[0].total_reconciliations, 2);
        assert_eq!(after.len(), 5);
    }

    /// The digest is of the objects as rendered, blind to values substituted from Secrets.
    #[test]
    fn the_digest_never_depends_on_a_secret_value() {
        let manifest = |host: &str| Manifest {
            object: serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                                       "metadata": {"name": "web"}, "data": {"host": host}}),
            file: "web.yaml".into(),
            document: 0,
            holds_secrets: false,
        };
        let plain = Redactor::new();
        let one = digest(&[manifest("db-one.internal")], &plain);
        assert!(one.starts_with("sha256:") && one.len() == 7 + 64, "{one}");
        assert_eq!(one, digest(&[manifest("db-one.internal")], &plain));
        assert_ne!(one, digest(&[manifest("db-two.internal")], &plain));
        let (mut a, mut b) = (Redactor::new(), Redactor::new());
        a.add(b"db-one.internal");
        b.add(b"db-two.internal");
        assert_eq!(
            digest(&[manifest("db-one.internal")], &a),
            digest(&[manifest("db-two.internal")], &b)
        );
    }
}

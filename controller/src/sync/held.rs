//! The first look of a rollout, written at the next one.
//!
//! An apply that writes objects records `applying revision …` before its first write and
//! looks at health once right after it. What was written a moment ago is seldom current
//! yet — kube-controller-manager has not observed a new Deployment — and mostly is at the
//! next look, a second later. So that first verdict is held: the status goes on saying the
//! revision is being applied, and the next look writes the verdict once, with the health
//! it finds then and one event for the change set, instead of a `Progressing` status and
//! event first and a `Ready` one a second later. A Sync with thousands of Kustomizations
//! in a backlog saves a status write and an event per object set.
//!
//! Held in memory only: after a restart the status still says the revision was being
//! applied, so the next reconcile applies it again (writing nothing new) and records it.

use std::collections::HashMap;
use std::sync::Mutex;

use lockstep_api::{ConditionStatus, ObjectKey, Sync};

use super::conditions::{self, READY};
use super::record::{Health, Verdict};

/// Each Sync's held verdict, with the spec generation it was made for; once taken, a
/// mark that the next verdict is the look that finishes it, recorded whatever it finds.
#[derive(Default)]
pub struct Held(Mutex<HashMap<ObjectKey, Entry>>);

enum Entry {
    Holding(Option<i64>, Box<Verdict>),
    Taken,
}

impl Held {
    /// Holds `verdict` instead of recording it, when it is the first look after an apply
    /// that wrote objects, they are still rolling out, and `sync`'s status says the
    /// revision is being applied (only that record leaves `Ready` unknown). Otherwise —
    /// the look that finishes a held verdict among them — hands it back to be recorded.
    pub(super) fn hold(&self, sync: &Sync, verdict: Verdict) -> Option<Verdict> {
        let key = ObjectKey::of(sync);
        let mut held = self.lock();
        if matches!(held.remove(&key), Some(Entry::Taken)) {
            return Some(verdict);
        }
        let first_look = matches!(
            verdict,
            Verdict::Applied {
                wrote: true,
                health: Health::Progressing(_),
                ..
            }
        );
        let applying = sync
            .status
            .as_ref()
            .and_then(|status| conditions::get(&status.conditions, READY))
            .is_some_and(|ready| ready.status == ConditionStatus::Unknown);
        if !(first_look && applying) {
            return Some(verdict);
        }
        held.insert(
            key,
            Entry::Holding(sync.metadata.generation, Box::new(verdict)),
        );
        None
    }

    /// The verdict held for `sync`, taken, and whether it was made for the spec `sync`
    /// has now.
    pub(super) fn take(&self, sync: &Sync) -> Option<(Verdict, bool)> {
        let key = ObjectKey::of(sync);
        let mut held = self.lock();
        let Some(Entry::Holding(generation, verdict)) = held.remove(&key) else {
            return None;
        };
        held.insert(key, Entry::Taken);
        Some((*verdict, generation == sync.metadata.generation))
    }

    /// Forgets what is held for `sync` (the Sync deleted).
    pub fn forget(&self, sync: &ObjectKey) {
        self.lock().remove(sync);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use lockstep_api::{Condition, SyncStatus};

    use super::*;

    fn sync(ready: &str) -> Sync {
        let mut sync: Sync = serde_json::from_value(serde_json::json!({
            "apiVersion": "lockstep.dev/v1alpha1", "kind": "Sync",
            "metadata": {"name": "web", "namespace": "apps", "generation": 2},
            "spec": {"sourceRef": {"name": "repo"}, "path": "deploy", "interval": "1m"},
        }))
        .unwrap();
        let ready = Condition {
            type_: READY.into(),
            status: serde_json::from_value(ready.into()).unwrap(),
            ..Condition::default()
        };
        sync.status = Some(SyncStatus {
            conditions: vec![ready],
            ..SyncStatus::default()
        });
        sync
    }

    fn applied(wrote: bool, health: Health) -> Verdict {
        Verdict::Applied {
            revision: "main@sha1:1".into(),
            summary: "created 1".into(),
            wrote,
            inventory: Vec::new(),
            health,
            drift: super::super::drift::Report::Unknown,
            about: None,
            secrets: None,
            took: None,
        }
    }

    fn progressing() -> Health {
        Health::Progressing("Deployment/apps/web".into())
    }

    #[test]
    fn only_the_first_look_of_an_announced_apply_is_held_and_its_finishing_look_is_not() {
        let held = Held::default();
        let applying = sync("Unknown");
        // Nothing written, healthy already, or a status that does not say it is applying:
        // recorded now.
        assert!(
            held.hold(&applying, applied(false, progressing()))
                .is_some()
        );
        assert!(
            held.hold(&applying, applied(true, Health::Healthy))
                .is_some()
        );
        assert!(
            held.hold(&sync("True"), applied(true, progressing()))
                .is_some()
        );
        assert!(held.take(&applying).is_none());

        assert!(held.hold(&applying, applied(true, progressing())).is_none());
        let (_, current) = held.take(&applying).unwrap();
        assert!(current);
        // The look that took it is recorded even when it is still progressing; after
        // that, a new apply's first look is held again.
        assert!(held.hold(&applying, applied(true, progressing())).is_some());
        assert!(held.hold(&applying, applied(true, progressing())).is_none());

        let mut changed = applying;
        changed.metadata.generation = Some(3);
        let (_, current) = held.take(&changed).unwrap();
        assert!(!current);
    }
}

//! Drift: where the cluster no longer matches the revision a Sync applied. Found by the
//! engine's dry-run of the apply ([`Preview::drift`]), the same comparison that decides
//! whether an object is written; reported as objects and field paths, never values.
//!
//! - Without `selfHeal` every interval's dry-run reports drift: the `Drifted` condition
//!   (True while anything differs, removed once Git and the cluster agree again), a
//!   `DriftDetected` warning event when what drifted changes, `DriftResolved` when it is
//!   gone, and the `lockstep_drifted_objects` gauge.
//! - With `selfHeal` the apply reverts it: a `DriftCorrected` event names what was
//!   reverted.

use std::fmt;

use kube::runtime::events::EventType;
use lockstep_api::SyncStatus;
use lockstep_engine::apply::{Action, Preview};
use lockstep_engine::inventory::id;

use super::conditions::{self, DRIFTED, Reason};

/// How many drifted objects a message names; the rest are counted.
const NAMED: usize = 10;

/// One object that differs from its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drifted {
    /// `group/Kind/namespace/name`.
    object: String,
    /// What differs.
    change: Change,
}

/// How an object differs from its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Change {
    /// It was deleted.
    Missing,
    /// These fields differ (paths).
    Fields(Vec<String>),
}

/// Every object that differs from its revision, in apply order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drift(Vec<Drifted>);

impl Drift {
    /// What the dry-run of a revision already applied would change: each object it would
    /// create again or configure.
    pub fn of(previews: &[Preview]) -> Self {
        Self(
            previews
                .iter()
                .filter(|p| p.checked)
                .filter_map(|p| {
                    let change = match p.action {
                        Action::Created => Change::Missing,
                        Action::Configured => Change::Fields(p.drift.clone()),
                        Action::Unchanged | Action::Replaced => return None,
                    };
                    Some(Drifted {
                        object: id(&p.object),
                        change,
                    })
                })
                .collect(),
        )
    }

    /// How many objects differ.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// `Kind/ns/name (spec.replicas, data.password); Kind/ns/gone (deleted)`, the first
/// [`NAMED`] objects and a count of the rest.
impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, drifted) in self.0.iter().take(NAMED).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match &drifted.change {
                Change::Missing => write!(f, "{} (deleted)", drifted.object)?,
                Change::Fields(paths) => write!(f, "{} ({})", drifted.object, paths.join(", "))?,
            }
        }
        if self.0.len() > NAMED {
            write!(f, "; and {} more", self.0.len() - NAMED)?;
        }
        Ok(())
    }
}

/// What a reconcile learned about drift.
pub enum Report {
    /// Nothing was compared (a rollout watched, manual mode left alone).
    Unknown,
    /// Compared without writing (no `selfHeal`): this drifted, if anything.
    Found(Drift),
    /// The revision was applied: this was reverted (`selfHeal`), if anything; the cluster
    /// now matches it.
    Reverted(Drift),
}

/// An event about drift: its type, reason and note.
pub type Event = (EventType, Reason, String);

/// Writes `report` into `status` (the `Drifted` condition and the drifted objects) at
/// `revision`; returns how many objects drifted (for the gauge), unless nothing was
/// compared, and the event it calls for.
pub fn write(
    status: &mut SyncStatus,
    report: &Report,
    revision: &str,
    generation: Option<i64>,
) -> (Option<usize>, Option<Event>) {
    status.drifted = match report {
        Report::Unknown => return (None, None),
        Report::Found(drift) => drift.0.iter().map(|d| d.object.clone()).collect(),
        Report::Reverted(_) => Vec::new(),
    };
    let conditions = &mut status.conditions;
    let previous = conditions::get(conditions, DRIFTED).map(|c| c.message.clone());
    match report {
        Report::Unknown => (None, None),
        Report::Found(drift) if drift.len() > 0 => {
            let message = format!(
                "{} object(s) differ from revision {revision}: {drift}",
                drift.len()
            );
            let reason = Reason::DriftDetected;
            conditions::set(
                conditions,
                DRIFTED,
                true,
                reason,
                message.clone(),
                generation,
            );
            let event = (previous.as_ref() != Some(&message)).then_some((
                EventType::Warning,
                reason,
                message,
            ));
            (Some(drift.len()), event)
        }
        Report::Reverted(drift) if drift.len() > 0 => {
            conditions::remove(conditions, DRIFTED);
            let note = format!("reverted to revision {revision}: {drift}");
            (
                Some(0),
                Some((EventType::Normal, Reason::DriftCorrected, note)),
            )
        }
        // Nothing drifted, or an apply (a new revision, a requested reconcile) overwrote it.
        Report::Found(_) | Report::Reverted(_) => {
            conditions::remove(conditions, DRIFTED);
            let note = format!("the cluster matches revision {revision} again");
            let event = previous.map(|_| (EventType::Normal, Reason::DriftResolved, note));
            (Some(0), event)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drift() -> Drift {
        Drift(vec![
            Drifted {
                object: "Secret/ns/creds".into(),
                change: Change::Fields(vec!["data.password".into()]),
            },
            Drifted {
                object: "ConfigMap/ns/gone".into(),
                change: Change::Missing,
            },
        ])
    }

    #[test]
    fn drift_is_reported_once_then_resolved() {
        let mut s = SyncStatus::default();
        let found = Report::Found(drift());
        let (count, event) = write(&mut s, &found, "main@sha1:1", Some(1));
        assert_eq!(count, Some(2));
        let (type_, reason, note) = event.unwrap();
        assert_eq!((type_, reason), (EventType::Warning, Reason::DriftDetected));
        assert_eq!(
            note,
            "2 object(s) differ from revision main@sha1:1: \
             Secret/ns/creds (data.password); ConfigMap/ns/gone (deleted)"
        );
        assert!(conditions::is_true(&s.conditions, DRIFTED));
        assert_eq!(s.drifted, ["Secret/ns/creds", "ConfigMap/ns/gone"]);
        // The same drift again: no second event.
        assert!(write(&mut s, &found, "main@sha1:1", Some(1)).1.is_none());
        let (count, event) = write(&mut s, &Report::Found(Drift::default()), "r", Some(1));
        assert_eq!(count, Some(0));
        assert_eq!(event.unwrap().1, Reason::DriftResolved);
        assert!(conditions::get(&s.conditions, DRIFTED).is_none());
        let (_, event) = write(&mut s, &Report::Found(Drift::default()), "r", Some(1));
        assert!(event.is_none(), "nothing to resolve");
        assert_eq!(write(&mut s, &Report::Unknown, "r", None), (None, None));
    }

    #[test]
    fn a_revert_names_what_it_reverted() {
        let mut s = SyncStatus::default();
        let (count, event) = write(&mut s, &Report::Reverted(drift()), "r", None);
        assert_eq!(count, Some(0));
        let (type_, reason, note) = event.unwrap();
        assert_eq!((type_, reason), (EventType::Normal, Reason::DriftCorrected));
        assert!(note.contains("Secret/ns/creds (data.password)"), "{note}");
        let reverted = Report::Reverted(Drift::default());
        assert!(write(&mut s, &reverted, "r", None).1.is_none());
        // An apply of a new revision overwrites reported drift: resolved, and said once.
        write(&mut s, &Report::Found(drift()), "r", None);
        let (count, event) = write(&mut s, &reverted, "r2", None);
        assert_eq!(count, Some(0));
        assert_eq!(event.unwrap().1, Reason::DriftResolved);
        assert!(conditions::get(&s.conditions, DRIFTED).is_none());
    }
}

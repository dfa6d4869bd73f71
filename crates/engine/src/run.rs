//! One reconcile of rendered objects: apply, then prune, with the inventory kept honest
//! whatever fails. The controller's `Sync` loop and `lockstep apply` both call this, so
//! the two cannot disagree on what a reconcile does.
//!
//! - [`run`] applies and, when asked and only after a complete apply, prunes. On an apply
//!   error the objects already written stay in the inventory (they are ours now) and
//!   nothing is pruned.
//! - [`plan`] decides the same actions with reads and server-side dry-runs only: the plan
//!   that manual mode reports before anything is written.

use kube::Client;
use lockstep_api::{InventoryEntry, Plan, PlanChange};
use tracing::instrument;

use crate::apply::{Action, ApplyError, ApplyOptions, ChangeSet, apply_into};
use crate::inventory::{self, id};
use crate::prune::{PruneError, PruneOutcome, prune};
use crate::render::{Manifest, Owner};

/// What one reconcile should do besides applying.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The Sync the objects belong to; prune deletes only objects labelled for it.
    pub owner: Owner,
    /// The inventory of the last reconcile: what prune compares against.
    pub previous: Vec<InventoryEntry>,
    /// Delete objects that left the source.
    pub prune: bool,
    /// How to apply.
    pub apply: ApplyOptions,
}

/// What a successful reconcile did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Every object applied, in apply order, with what was done to it.
    pub changes: ChangeSet,
    /// What prune deleted, skipped or failed to delete (empty when prune is off).
    pub pruned: PruneOutcome,
    /// The new inventory: the applied objects, plus objects prune failed to delete (so
    /// the next reconcile tries again).
    pub inventory: Vec<InventoryEntry>,
}

impl Outcome {
    /// A one-line summary for events and logs: `created 2, configured 1, pruned 3`.
    pub fn summary(&self) -> String {
        summarize(
            self.changes.changes.iter().map(|c| c.action),
            self.pruned.deleted.len(),
        )
    }
}

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// An object could not be applied; later objects were not tried, nothing was pruned.
    #[error("{source}")]
    Apply {
        /// The cause, naming the object.
        source: ApplyError,
        /// The inventory to record: the previous one plus every object written before the
        /// failure.
        inventory: Vec<InventoryEntry>,
    },
    /// Pruning was refused (an empty source never deletes everything).
    #[error("{source}")]
    Prune {
        /// The cause.
        source: PruneError,
        /// The inventory to record: the previous one plus what was applied.
        inventory: Vec<InventoryEntry>,
    },
}

impl RunError {
    /// The inventory to record after this failure.
    pub fn inventory(&self) -> &[InventoryEntry] {
        match self {
            Self::Apply { inventory, .. } | Self::Prune { inventory, .. } => inventory,
        }
    }
}

/// Applies `manifests`, then prunes what left the source.
///
/// # Errors
/// [`RunError`] carrying the inventory to record.
#[instrument(skip_all, fields(owner = %options.owner.name, objects = manifests.len()))]
pub async fn run(
    client: &Client,
    manifests: &[Manifest],
    options: &RunOptions,
) -> Result<Outcome, RunError> {
    let mut changes = ChangeSet::default();
    if let Err(source) = apply_into(client, manifests, &options.apply, &mut changes).await {
        return Err(RunError::Apply {
            source,
            inventory: union(&options.previous, &inventory::from_change_set(&changes)),
        });
    }
    let applied = inventory::from_change_set(&changes);
    let pruned = if options.prune {
        prune(client, &options.previous, &changes, &options.owner)
            .await
            .map_err(|source| RunError::Prune {
                source,
                inventory: union(&options.previous, &applied),
            })?
    } else {
        PruneOutcome::default()
    };
    let survivors: Vec<InventoryEntry> = pruned.survivors.iter().map(|(e, _)| e.clone()).collect();
    // As Flux does, objects that left the source drop out of the inventory even when prune
    // is off: they are orphaned, not deleted later by surprise.
    Ok(Outcome {
        inventory: union(&applied, &survivors),
        changes,
        pruned,
    })
}

/// What [`run`] would do for `revision`, decided without writing anything.
///
/// # Errors
/// [`ApplyError`] when a read or dry-run fails (for example an immutable field without
/// force).
pub async fn plan(
    client: &Client,
    manifests: &[Manifest],
    options: &RunOptions,
    revision: &str,
) -> Result<Plan, ApplyError> {
    let apply = ApplyOptions {
        dry_run: true,
        ..options.apply.clone()
    };
    let mut changes = ChangeSet::default();
    apply_into(client, manifests, &apply, &mut changes).await?;
    let mut planned: Vec<PlanChange> = changes
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .map(|c| PlanChange {
            object: id(&c.object),
            action: c.action.to_string(),
        })
        .collect();
    if options.prune {
        let current = inventory::from_change_set(&changes);
        planned.extend(
            inventory::stale(&options.previous, &current)
                .iter()
                .map(|e| PlanChange {
                    object: id(e),
                    action: "pruned".to_owned(),
                }),
        );
    }
    Ok(Plan {
        revision: revision.to_owned(),
        changes: planned,
    })
}

/// `first`, then the entries of `second` not already in it.
fn union(first: &[InventoryEntry], second: &[InventoryEntry]) -> Vec<InventoryEntry> {
    let mut out = first.to_vec();
    let mut seen: std::collections::HashSet<String> = first.iter().map(id).collect();
    out.extend(second.iter().filter(|e| seen.insert(id(e))).cloned());
    out
}

fn summarize(actions: impl Iterator<Item = Action>, pruned: usize) -> String {
    let mut counts = [0usize; 4];
    for action in actions {
        counts[match action {
            Action::Created => 0,
            Action::Configured => 1,
            Action::Replaced => 2,
            Action::Unchanged => 3,
        }] += 1;
    }
    let parts: Vec<String> = ["created", "configured", "replaced", "unchanged"]
        .iter()
        .zip(counts)
        .chain(std::iter::once((&"pruned", pruned)))
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
    if parts.is_empty() {
        "no objects".to_owned()
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str) -> InventoryEntry {
        InventoryEntry {
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "ns".into(),
            name: name.into(),
            ..InventoryEntry::default()
        }
    }

    #[test]
    fn union_keeps_order_and_drops_duplicates() {
        let merged = union(&[entry("a"), entry("b")], &[entry("b"), entry("c")]);
        let names: Vec<&str> = merged.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
    }

    #[test]
    fn summary_counts_each_action() {
        let actions = [
            Action::Created,
            Action::Created,
            Action::Unchanged,
            Action::Configured,
        ];
        assert_eq!(
            summarize(actions.into_iter(), 3),
            "created 2, configured 1, unchanged 1, pruned 3"
        );
        assert_eq!(summarize(std::iter::empty(), 0), "no objects");
    }
}

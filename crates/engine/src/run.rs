//! One reconcile of rendered objects: check everything, record intent, apply, then prune,
//! with the inventory kept honest whatever fails. The controller's `Sync` loop and
//! `lockstep apply` both call this, so the two cannot disagree on what a reconcile does.
//!
//! - [`prepare`] checks every object before anything is written ([`crate::apply::preflight`]):
//!   a revision with an unknown kind, a missing namespace, a rejected object or an object
//!   another owner holds writes nothing.
//! - [`Prepared::intent`] is the inventory to record *before* the first write: the previous
//!   one plus every object this apply may write. A process killed mid-apply has then
//!   recorded every object it wrote, so a later revision still prunes them.
//! - [`Prepared::run`] applies and, when asked and only after a complete apply, prunes. On
//!   an apply error the objects already written stay in the inventory (they are ours now)
//!   and nothing is pruned.
//! - [`Prepared::plan`] is what manual mode reports before anything is written.

use std::time::Duration;

use kube::Client;
use lockstep_api::{InventoryEntry, Plan, PlanAction, PlanChange};
use tracing::instrument;

use crate::apply::{Action, ApplyError, ApplyOptions, ChangeSet, Preflight, Preview, preflight};
use crate::health::{self, WaitError};
use crate::inventory::{self, id, union};
use crate::prune::{PruneError, PruneOutcome, prune};
use crate::render::{Manifest, Owner};

/// How often [`RunOptions::prune_last`] looks at the applied objects' health.
const HEALTH_POLL: Duration = Duration::from_secs(1);

/// What one reconcile should do besides applying.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The owner the objects belong to; prune deletes only objects labelled for it.
    pub owner: Owner,
    /// The recorded inventory: what prune compares against.
    pub previous: Vec<InventoryEntry>,
    /// Delete objects that left the source.
    pub prune: bool,
    /// Prune even when the source renders nothing (Argo CD's `allowEmpty`); otherwise an
    /// empty source never deletes everything ([`PruneError::EmptySource`]).
    pub allow_empty: bool,
    /// Prune only once every applied object is healthy (Argo CD's `PruneLast=true`,
    /// pruning as a last sync wave); otherwise prune follows the apply at once.
    pub prune_last: bool,
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

/// Why a reconcile failed after its checks passed.
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
    /// [`RunOptions::prune_last`]: an applied object was not healthy, so nothing was pruned.
    #[error(
        "nothing pruned: pruning waits for every applied object to be healthy (PruneLast): {source}"
    )]
    NotHealthy {
        /// The object that failed, or those not healthy in time.
        source: WaitError,
        /// The inventory to record: the previous one plus what was applied.
        inventory: Vec<InventoryEntry>,
    },
}

impl RunError {
    /// The inventory to record after this failure.
    pub fn inventory(&self) -> &[InventoryEntry] {
        match self {
            Self::Apply { inventory, .. }
            | Self::Prune { inventory, .. }
            | Self::NotHealthy { inventory, .. } => inventory,
        }
    }
}

/// A reconcile checked and ready to write.
pub struct Prepared<'a> {
    client: Client,
    preflight: Preflight<'a>,
    options: &'a RunOptions,
}

/// Checks `manifests` for a reconcile; writes nothing.
///
/// # Errors
/// The [`ApplyError`] of the preflight: nothing was written.
#[instrument(skip_all, fields(owner = %options.owner.name, objects = manifests.len()))]
pub async fn prepare<'a>(
    client: &Client,
    manifests: &'a [Manifest],
    options: &'a RunOptions,
) -> Result<Prepared<'a>, ApplyError> {
    Ok(Prepared {
        client: client.clone(),
        preflight: preflight(client, manifests, &options.apply).await?,
        options,
    })
}

impl Prepared<'_> {
    /// The inventory to record before [`Self::run`]: the previous one plus every object
    /// this apply may write.
    pub fn intent(&self) -> Vec<InventoryEntry> {
        union(&self.options.previous, &self.preflight.entries())
    }

    /// The objects this apply writes or finds unchanged, each in its namespace (none for a
    /// cluster-scoped one).
    pub fn objects(&self) -> Vec<InventoryEntry> {
        self.preflight.entries()
    }

    /// Whether [`Self::run`] writes anything (prune aside).
    pub fn writes(&self) -> bool {
        self.preflight.writes()
    }

    /// Every object with what the apply will do to it.
    pub fn previews(&self) -> Vec<Preview> {
        self.preflight.previews()
    }

    /// What [`Self::run`] would do at `revision`: objects created, configured, replaced
    /// and pruned.
    pub fn plan(&self, revision: &str) -> Plan {
        let mut changes: Vec<PlanChange> = self
            .previews()
            .into_iter()
            .filter_map(|p| {
                Some(PlanChange {
                    object: id(&p.object),
                    action: planned(p.action)?,
                })
            })
            .collect();
        if self.options.prune {
            let current = self.preflight.entries();
            changes.extend(
                inventory::stale(&self.options.previous, &current)
                    .iter()
                    .map(|e| PlanChange {
                        object: id(e),
                        action: PlanAction::Pruned,
                    }),
            );
        }
        Plan {
            revision: revision.to_owned(),
            changes,
        }
    }

    /// Applies, then prunes what left the source.
    ///
    /// # Errors
    /// [`RunError`] carrying the inventory to record.
    #[instrument(skip_all, fields(owner = %self.options.owner.name))]
    pub async fn run(self) -> Result<Outcome, RunError> {
        let options = self.options;
        let mut changes = ChangeSet::default();
        if let Err(source) = self.preflight.apply(&mut changes).await {
            return Err(RunError::Apply {
                source,
                inventory: union(&options.previous, &inventory::from_change_set(&changes)),
            });
        }
        let applied = inventory::from_change_set(&changes);
        if options.prune_last
            && options.prune
            && !inventory::stale(&options.previous, &applied).is_empty()
        {
            let timeout = options.apply.wait_timeout;
            // `PruneLast` is Argo CD's, which has no CEL health rules.
            let rules = health::Rules::default();
            let waited = health::wait(&self.client, &applied, &rules, timeout, HEALTH_POLL);
            if let Err(source) = waited.await {
                return Err(RunError::NotHealthy {
                    source,
                    inventory: union(&options.previous, &applied),
                });
            }
        }
        let pruned = if options.prune {
            prune(
                &self.client,
                &options.previous,
                &changes,
                &options.owner,
                &options.apply.protect,
                options.allow_empty,
            )
            .await
            .map_err(|source| RunError::Prune {
                source,
                inventory: union(&options.previous, &applied),
            })?
        } else {
            PruneOutcome::default()
        };
        let survivors: Vec<InventoryEntry> =
            pruned.survivors.iter().map(|(e, _)| e.clone()).collect();
        // As Flux does, objects that left the source drop out of the inventory even when
        // prune is off: they are orphaned, not deleted later by surprise.
        Ok(Outcome {
            inventory: union(&applied, &survivors),
            changes,
            pruned,
        })
    }
}

/// The plan's word for `action`; `None` for an object the revision leaves unchanged.
fn planned(action: Action) -> Option<PlanAction> {
    match action {
        Action::Created => Some(PlanAction::Created),
        Action::Configured => Some(PlanAction::Configured),
        Action::Replaced => Some(PlanAction::Replaced),
        Action::Unchanged => None,
    }
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

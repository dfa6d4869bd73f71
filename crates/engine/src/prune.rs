//! Pruning: deleting the objects that left the source.
//!
//! Candidates are only the entries of the previous inventory that are not in the current
//! one — never a label sweep. They are deleted in the reverse of apply order, and only
//! when the live object still carries our ownership labels (another `Sync` may have taken
//! it over), is not [`Protect`]ed, and does not say `lockstep.dev/prune: disabled` (as
//! annotation or label; `kustomize.toolkit.fluxcd.io/prune` for a Flux owner). [`delete_all`] deletes a whole inventory the same way, for a
//! deleted `Sync`.
//! Pruning needs the change set of a completed apply: there is none after a failed render
//! or apply, and an empty one is refused, so a broken or empty source never deletes
//! everything. A missing object, or a kind no longer served, counts as already gone.
//! Objects whose delete failed are returned as survivors to keep in the inventory.

use std::time::Duration;

use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, PropagationPolicy};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use tracing::{debug, instrument};

use lockstep_api::InventoryEntry;

use crate::apply::api_code;
use crate::apply::{ChangeSet, Protect, apply_order};
use crate::inventory::{self, id};
use crate::render::Owner;

/// Why an object was not deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// The live object no longer carries our ownership labels.
    NotOwned,
    /// The live object says `lockstep.dev/prune: disabled` (its owner's word for it), or
    /// `helm.sh/resource-policy: keep`, which Helm, Flux and Argo CD all honour.
    Disabled,
    /// Its owner is deleted, and the object stays with it: Argo CD's `Delete=false`, or a
    /// CustomResourceDefinition of an Application ([`crate::ownership::Mark::keeps_crds`]).
    KeptOnDelete,
    /// The object is protected (the controller's namespace, a sealing key).
    Protected,
}

/// What a prune did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PruneOutcome {
    /// Objects deleted (or found already gone), in deletion order.
    pub deleted: Vec<InventoryEntry>,
    /// Objects left alone, and why.
    pub skipped: Vec<(InventoryEntry, SkipReason)>,
    /// Objects whose delete failed, with the API server's answer; keep them in the
    /// inventory so the next reconcile tries again.
    pub survivors: Vec<(InventoryEntry, String)>,
}

/// Why pruning was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PruneError {
    /// The current apply set is empty: refusing to delete everything that was applied.
    #[error(
        "refusing to prune {stale} object(s): the current source renders no objects (an empty source never deletes everything)"
    )]
    EmptySource {
        /// How many objects would have been deleted.
        stale: usize,
    },
}

/// Deletes the objects of `previous` that are not in `current`, owned by `owner`.
///
/// # Errors
/// [`PruneError::EmptySource`] when `current` is empty and `previous` is not, unless
/// `allow_empty`. Failed
/// deletes are not errors: they come back in [`PruneOutcome::survivors`].
#[instrument(skip_all, fields(previous = previous.len(), current = current.changes.len()))]
pub async fn prune(
    client: &Client,
    previous: &[InventoryEntry],
    current: &ChangeSet,
    owner: &Owner,
    protect: &Protect,
    allow_empty: bool,
) -> Result<PruneOutcome, PruneError> {
    let current = inventory::from_change_set(current);
    let stale = inventory::stale(previous, &current);
    if current.is_empty() && !stale.is_empty() && !allow_empty {
        return Err(PruneError::EmptySource { stale: stale.len() });
    }
    Ok(delete_each(client, stale, owner, protect, &[], None).await)
}

/// Deletes every object of `inventory` that `owner` still owns, in the reverse of apply
/// order, with the same checks as [`prune`]: what a deleted `Sync` with `prune: true`
/// leaves behind is nothing of its own.
///
/// `keep_by_default` is the owner's own `Delete=false` (an Application's sync option): its
/// objects stay unless one says `Delete=true` itself.
pub async fn delete_all(
    client: &Client,
    inventory: Vec<InventoryEntry>,
    owner: &Owner,
    protect: &Protect,
    keep_by_default: bool,
) -> PruneOutcome {
    let deletion = Some(keep_by_default);
    delete_each(client, inventory, owner, protect, &[], deletion).await
}

/// [`delete_all`], where an object `released` names counts as `owner`'s without its
/// labels: a hook object Helm created for the same release, named by the release's Helm
/// record, which Helm itself deletes before the hook runs again (`before-hook-creation`).
pub async fn delete_all_released(
    client: &Client,
    inventory: Vec<InventoryEntry>,
    owner: &Owner,
    protect: &Protect,
    released: &[InventoryEntry],
) -> PruneOutcome {
    delete_each(client, inventory, owner, protect, released, None).await
}

/// Deletes `inventory` in reverse apply order; `deletion` is set when the owner itself is
/// deleted, with its `keep_by_default` ([`delete_all`]).
#[instrument(skip_all, fields(objects = inventory.len()))]
async fn delete_each(
    client: &Client,
    mut inventory: Vec<InventoryEntry>,
    owner: &Owner,
    protect: &Protect,
    released: &[InventoryEntry],
    deletion: Option<bool>,
) -> PruneOutcome {
    let released: std::collections::HashSet<String> = released.iter().map(inventory::key).collect();
    inventory.sort_by_cached_key(|e| apply_order(&e.group, &e.kind, &e.namespace, &e.name));
    inventory.reverse();

    let mut outcome = PruneOutcome::default();
    for entry in inventory {
        let Some(api) = api_of(client, &entry).await else {
            debug!(object = %id(&entry), "kind no longer served; counted as gone");
            outcome.deleted.push(entry);
            continue;
        };
        let live = match api.get_opt(&entry.name).await {
            Ok(Some(live)) => live,
            Ok(None) => {
                outcome.deleted.push(entry);
                continue;
            }
            Err(err) => {
                outcome.survivors.push((entry, api_code(&err)));
                continue;
            }
        };
        let owned = released.contains(&inventory::key(&entry));
        let reason = skip_reason(&live, &entry, owner, owned, protect).or_else(|| {
            let kept = deletion.is_some_and(|keep| kept_on_delete(&live, &entry, owner, keep));
            kept.then_some(SkipReason::KeptOnDelete)
        });
        if let Some(reason) = reason {
            debug!(object = %id(&entry), ?reason, "not pruned");
            outcome.skipped.push((entry, reason));
            continue;
        }
        let params = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match api.delete(&entry.name, &params).await {
            Ok(_) => outcome.deleted.push(entry),
            Err(kube::Error::Api(status)) if status.code == 404 => outcome.deleted.push(entry),
            Err(err) => outcome.survivors.push((entry, api_code(&err))),
        }
    }
    outcome
}

/// Waits until every object of `deleted` is gone (a finalizer of its own can hold it),
/// looking every two seconds, for at most `timeout`; returns those still there.
pub async fn wait_gone(
    client: &Client,
    deleted: &[InventoryEntry],
    timeout: Duration,
) -> Vec<InventoryEntry> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut left = deleted.to_vec();
    loop {
        let mut still = Vec::new();
        for entry in left {
            let Some(api) = api_of(client, &entry).await else {
                continue;
            };
            // A failed read counts as still there: it is looked at again.
            if !matches!(api.get_opt(&entry.name).await, Ok(None)) {
                still.push(entry);
            }
        }
        if still.is_empty() || tokio::time::Instant::now() >= deadline {
            return still;
        }
        left = still;
        tokio::time::sleep(Duration::from_secs(2).min(timeout)).await;
    }
}

/// The API of `entry`'s kind, or `None` when the kind is no longer served.
async fn api_of(client: &Client, entry: &InventoryEntry) -> Option<Api<DynamicObject>> {
    let gvk = GroupVersionKind::gvk(&entry.group, &entry.version, &entry.kind);
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
    Some(if caps.scope == Scope::Namespaced {
        Api::namespaced_with(client.clone(), &entry.namespace, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    })
}

/// Whether `live` stays when its owner is deleted: a CustomResourceDefinition of an owner
/// that keeps them, or its own `Delete=false` (else `keep_by_default`, the owner's).
/// `Delete=confirm` keeps it too: Argo CD waits for someone to approve that deletion, which
/// Lockstep has no way to ask for.
fn kept_on_delete(
    live: &DynamicObject,
    entry: &InventoryEntry,
    owner: &Owner,
    keep_by_default: bool,
) -> bool {
    let mark = owner.mark;
    if mark.keeps_crds
        && entry.group == "apiextensions.k8s.io"
        && entry.kind == "CustomResourceDefinition"
    {
        return true;
    }
    let Some(option) = mark.delete_option else {
        return false;
    };
    let annotation = live.metadata.annotations.as_ref();
    let own = annotation
        .and_then(|a| a.get(mark.prune_annotation))
        .into_iter()
        .flat_map(|v| v.split(','))
        .find_map(|v| v.trim().strip_prefix(option)?.strip_prefix('='));
    own.map_or(keep_by_default, |value| {
        value.eq_ignore_ascii_case("false") || value.eq_ignore_ascii_case("confirm")
    })
}

fn skip_reason(
    live: &DynamicObject,
    entry: &InventoryEntry,
    owner: &Owner,
    released: bool,
    protect: &Protect,
) -> Option<SkipReason> {
    let meta = &live.metadata;
    let label = |key: &str| meta.labels.as_ref().and_then(|l| l.get(key));
    let namespace = owner.mark.namespace_label;
    let labelled = label(owner.mark.name_label) == Some(&owner.name)
        && namespace.is_none_or(|key| label(key) == Some(&owner.namespace));
    if !labelled && !released {
        return Some(SkipReason::NotOwned);
    }
    let labels = meta.labels.as_ref();
    if protect
        .live(&entry.kind, &entry.namespace, &entry.name, labels)
        .is_some()
    {
        return Some(SkipReason::Protected);
    }
    let disabled = [meta.annotations.as_ref(), meta.labels.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|m| m.get(owner.mark.prune_annotation))
        .flat_map(|v| v.split(','))
        .any(|v| v.trim().eq_ignore_ascii_case(owner.mark.prune_disabled));
    let kept = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("helm.sh/resource-policy"))
        .is_some_and(|v| v.trim() == "keep");
    (disabled || kept).then_some(SkipReason::Disabled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(sync_options: Option<&str>) -> DynamicObject {
        let annotations =
            sync_options.map(|v| serde_json::json!({"argocd.argoproj.io/sync-options": v}));
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "data", "annotations": annotations},
        }))
        .unwrap()
    }

    fn entry(group: &str, kind: &str) -> InventoryEntry {
        InventoryEntry {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: String::new(),
            name: "data".into(),
        }
    }

    /// An Application's object stays with its own `Delete=false` (or `confirm`), else with
    /// the Application's, unless it says `Delete=true`; its CRDs always stay. Other owners
    /// read neither.
    #[test]
    fn what_stays_when_an_owner_is_deleted() {
        let app = Owner::argocd("web", "argocd");
        let cm = entry("", "ConfigMap");
        let kept = |options, default| kept_on_delete(&live(options), &cm, &app, default);
        assert!(!kept(None, false));
        assert!(kept(None, true));
        assert!(kept(Some("Prune=false, Delete=false"), false));
        assert!(kept(Some("Delete=confirm"), false));
        assert!(
            !kept(Some("Delete=true"), true),
            "the object's own option wins"
        );
        assert!(!kept(Some("Prune=false"), false));
        let crd = entry("apiextensions.k8s.io", "CustomResourceDefinition");
        assert!(kept_on_delete(&live(None), &crd, &app, false));
        let sync = Owner::lockstep("web", "team");
        assert!(!kept_on_delete(
            &live(Some("Delete=false")),
            &cm,
            &sync,
            true
        ));
        assert!(!kept_on_delete(&live(None), &crd, &sync, false));
    }
}

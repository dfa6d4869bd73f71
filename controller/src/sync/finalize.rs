//! What happens when a Sync is deleted, as Flux's kustomize-controller does it: every Sync
//! carries the [`FINALIZER`], so the API server keeps it until the controller has looked.
//! With `prune: true` (and not suspended) the objects of its inventory are deleted in the
//! reverse of apply order, only those still labelled as its own and not protected
//! ([`lockstep_engine::prune::delete_all`]), with the identity it applied as; with
//! `prune: false` they are orphaned. The inventory in status is all it needs: a Sync whose
//! GitSource is gone cleans up the same way.
//!
//! The finalizer is removed whatever the deletes did: objects that could not be deleted
//! are named in a Warning event, and a namespace being deleted is never held up by a Sync
//! whose ServiceAccount has already gone with it.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use lockstep_api::Sync;
use lockstep_engine::inventory::id;
use lockstep_engine::prune::delete_all;
use lockstep_engine::render::Owner;
use serde_json::json;

use super::SyncCtx;
use super::conditions::Reason;
use super::record::Error;
use super::status::{self, EventAction};
use super::target::{protect, sync_client};

/// The finalizer every Sync carries while the controller handles it.
pub const FINALIZER: &str = "finalizers.lockstep.dev";

/// Adds the finalizer to `sync` unless it has it.
///
/// # Errors
/// [`Error`] when the Sync cannot be patched.
pub async fn ensure(sync: &Sync, ctx: &SyncCtx) -> Result<(), Error> {
    let mut finalizers = sync.finalizers().to_vec();
    if finalizers.iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    finalizers.push(FINALIZER.to_owned());
    write(sync, ctx, finalizers).await
}

/// Cleans up after a deleted `sync` and removes the finalizer.
///
/// # Errors
/// [`Error`] when the finalizer cannot be removed.
pub async fn finalize(sync: &Sync, ctx: &SyncCtx) -> Result<(), Error> {
    if !sync.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let inventory = sync
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    if sync.spec.prune && !sync.spec.suspend && !inventory.is_empty() {
        delete_inventory(sync, ctx, inventory).await;
    }
    let rest = sync
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    write(sync, ctx, rest).await
}
async fn delete_inventory(
    sync: &Sync,
    ctx: &SyncCtx,
    inventory: Vec<lockstep_api::InventoryEntry>,
) {
    let namespace = sync.namespace().unwrap_or_default();
    let owner = Owner {
        name: sync.name_any(),
        namespace: namespace.clone(),
    };
    let (type_, reason, note) = match sync_client(sync, ctx, &namespace).await {
        Ok(client) => {
            let outcome = delete_all(&client, inventory, &owner, &protect(sync, ctx)).await;
            if outcome.survivors.is_empty() {
                let note = format!(
                    "Sync deleted: {} object(s) deleted, {} left alone (no longer its own or protected)",
                    outcome.deleted.len(),
                    outcome.skipped.len()
                );
                (EventType::Normal, Reason::Finalized, note)
            } else {
                let failed: Vec<String> = outcome
                    .survivors
                    .iter()
                    .map(|(entry, why)| format!("{} ({why})", id(entry)))
                    .collect();
                let note = format!(
                    "Sync deleted: {} object(s) deleted; could not delete {}",
                    outcome.deleted.len(),
                    failed.join(", ")
                );
                (EventType::Warning, Reason::PruneFailed, note)
            }
        }
        Err(err) => {
            let note = format!("Sync deleted: its objects were left in place: {err}");
            (EventType::Warning, Reason::PruneFailed, note)
        }
    };
    status::publish(ctx, sync, type_, reason, EventAction::Finalize, &note).await;
}

/// Sets the finalizers of `sync` to `finalizers`. The `resourceVersion` in the patch
/// makes it fail (and the reconcile retry) rather than drop a finalizer another
/// controller added since `sync` was read.
async fn write(sync: &Sync, ctx: &SyncCtx, finalizers: Vec<String>) -> Result<(), Error> {
    let api: Api<Sync> = Api::namespaced(
        ctx.shared.client.clone(),
        &sync.namespace().unwrap_or_default(),
    );
    let patch = json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": sync.resource_version(),
    }});
    api.patch(
        &sync.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
    .map_err(|source| Error::new("finalizers", sync, source))
}

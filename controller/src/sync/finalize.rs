//! What happens when a Sync is deleted, as Flux's kustomize-controller does it: every Sync
//! carries a finalizer ([`super::Front::finalizer`]), so the API server keeps it until the controller has looked.
//! With `prune: true` (and not suspended; `deletionPolicy` `Delete` or
//! `WaitForTermination` whatever `prune` says, `Orphan` never) the objects of its inventory
//! are deleted in the reverse of apply order, only those still labelled as its own and not protected
//! ([`lockstep_engine::prune::delete_all`]), with the identity it applied as; with
//! `prune: false` they are orphaned. The inventory in status is all it needs (or, when
//! the status lost it, the Sync's Helm release record): a Sync whose GitSource is gone
//! cleans up the same way.
//!
//! The finalizer is removed whatever the deletes did: objects that could not be deleted
//! are named in a Warning event, and a namespace being deleted is never held up by a Sync
//! whose ServiceAccount has already gone with it.

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use std::time::Duration;

use lockstep_api::argocd::Application;
use lockstep_api::flux::{HelmRelease, Kustomization};
use lockstep_api::{DeletionPolicy, Sync};
use lockstep_engine::inventory::id;
use lockstep_engine::prune::{delete_all, wait_gone};
use serde_json::json;

use super::SyncCtx;
use super::conditions::Reason;
use super::front::Front;
use super::helm_records;
use super::intervals::SyncIntervals;
use super::record::Error;
use super::status::{self, EventAction};
use super::target::{protect, sync_client};

/// How long `WaitForTermination` waits when the Sync's own timeout does not parse.
const DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Adds the finalizer to `sync` unless it has it.
///
/// # Errors
/// [`Error`] when the Sync cannot be patched.
pub async fn ensure(sync: &Sync, ctx: &SyncCtx) -> Result<(), Error> {
    let finalizer = ctx.front.finalizer();
    let mut finalizers = sync.finalizers().to_vec();
    if !ctx.front.adds_finalizer() || finalizers.iter().any(|f| f == finalizer) {
        return Ok(());
    }
    finalizers.push(finalizer.to_owned());
    write(sync, ctx, finalizers).await
}

/// Cleans up after a deleted `sync` and removes the finalizer.
///
/// # Errors
/// [`Error`] when the finalizer cannot be removed.
pub async fn finalize(sync: &Sync, ctx: &SyncCtx) -> Result<(), Error> {
    let finalizer = ctx.front.finalizer();
    if !sync.finalizers().iter().any(|f| f == finalizer) {
        return Ok(());
    }
    let inventory = sync
        .status
        .as_ref()
        .map(|s| s.inventory.clone())
        .unwrap_or_default();
    // Argo CD's finalizer is the ask to cascade, whatever the sync policy prunes.
    let policy = sync.spec.deletion_policy.unwrap_or_default();
    let cascade = policy.deletes(sync.spec.prune) || ctx.front == Front::ArgoCd;
    let recorded = helm_records::writes(sync);
    if cascade && !sync.spec.suspend && (!inventory.is_empty() || recorded) {
        delete_inventory(sync, ctx, inventory).await;
    }
    let rest = sync
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
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
    let owner = ctx.front.owner(sync.name_any(), namespace.clone());
    let kind = ctx.front.sync_kind();
    let (type_, reason, note) = match sync_client(sync, ctx, &namespace).await {
        Ok(client) => {
            let inventory = helm_records::previous(sync, &client, &inventory)
                .await
                .objects;
            let (protect, keep) = (protect(sync, ctx), sync.spec.keep_on_delete);
            let outcome = delete_all(&client, inventory, &owner, &protect, keep).await;
            if let Err(err) = helm_records::remove(sync, &client).await {
                tracing::warn!("{kind} deleted, but its Helm release records stay: {err}");
            }
            let terminating = match sync.spec.deletion_policy {
                Some(DeletionPolicy::WaitForTermination) => {
                    let timeout = SyncIntervals::parse(&sync.spec)
                        .map_or(DEFAULT_WAIT, |intervals| intervals.timeout);
                    wait_gone(&client, &outcome.deleted, timeout).await
                }
                _ => Vec::new(),
            };
            if !terminating.is_empty() {
                let names: Vec<String> = terminating.iter().map(id).collect();
                let note = format!(
                    "{kind} deleted: {} object(s) deleted; still terminating when the timeout \
                     passed (deletionPolicy WaitForTermination): {}",
                    outcome.deleted.len(),
                    names.join(", ")
                );
                (EventType::Warning, Reason::PruneFailed, note)
            } else if outcome.survivors.is_empty() {
                let note = format!(
                    "{kind} deleted: {} object(s) deleted, {} left alone (no longer its own or protected)",
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
                    "{kind} deleted: {} object(s) deleted; could not delete {}",
                    outcome.deleted.len(),
                    failed.join(", ")
                );
                (EventType::Warning, Reason::PruneFailed, note)
            }
        }
        Err(err) => {
            let note = format!("{kind} deleted: its objects were left in place: {err}");
            (EventType::Warning, Reason::PruneFailed, note)
        }
    };
    let revision = sync
        .status
        .as_ref()
        .and_then(|s| s.last_applied_revision.as_deref());
    status::publish(
        ctx,
        sync,
        type_,
        reason,
        EventAction::Finalize,
        &note,
        revision,
    )
    .await;
}

/// Sets the finalizers of `sync` to `finalizers`. The `resourceVersion` in the patch
/// makes it fail (and the reconcile retry) rather than drop a finalizer another
/// controller added since `sync` was read.
async fn write(sync: &Sync, ctx: &SyncCtx, finalizers: Vec<String>) -> Result<(), Error> {
    let (client, namespace) = (
        ctx.shared.client.clone(),
        sync.namespace().unwrap_or_default(),
    );
    let patch = Patch::Merge(json!({"metadata": {
        "finalizers": finalizers,
        "resourceVersion": sync.resource_version(),
    }}));
    let (name, params) = (sync.name_any(), PatchParams::default());
    let written = match ctx.front {
        Front::Lockstep => {
            let api: Api<Sync> = Api::namespaced(client, &namespace);
            api.patch(&name, &params, &patch).await.map(drop)
        }
        Front::Flux => {
            let api: Api<Kustomization> = Api::namespaced(client, &namespace);
            api.patch(&name, &params, &patch).await.map(drop)
        }
        Front::FluxHelm => {
            let api: Api<HelmRelease> = Api::namespaced(client, &namespace);
            api.patch(&name, &params, &patch).await.map(drop)
        }
        Front::ArgoCd => {
            let api: Api<Application> = Api::namespaced(client, &namespace);
            api.patch(&name, &params, &patch).await.map(drop)
        }
    };
    written.map_err(|source| Error::new("finalizers", sync, source))
}

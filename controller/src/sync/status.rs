//! Writing status and publishing events for both sync resources.
//!
//! Status goes through server-side apply on the status subresource with one field manager,
//! so a field left out (a cleared plan) is removed, and it is written only when it
//! changed: a status write is itself a watch event.

use kube::Resource;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::events::EventType;
use serde::Serialize;

use lockstep_api::flux::GitRepository;
use lockstep_api::{GitSource, GitSourceStatus, ObjectKey, Sync, SyncStatus};

use super::SyncCtx;
use super::conditions::WireReason;
use super::front::Front;
use crate::argocd::convert as argocd;
use crate::context::Namespaced;
use crate::event;
use crate::flux::convert as flux;

/// What the controller was doing when it published an event (the event's `action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    /// Fetching a GitSource's revision.
    Fetch,
    /// Reconciling a Sync.
    Reconcile,
    /// Deleting a deleted Sync's objects.
    Finalize,
}

impl EventAction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fetch => "Fetch",
            Self::Reconcile => "Reconcile",
            Self::Finalize => "Finalize",
        }
    }
}

/// Field manager of status writes.
pub const FIELD_MANAGER: &str = "lockstep-controller";

/// Writes a Sync's status, to the resource the Sync was read from: the `Sync`, the Flux
/// `Kustomization` or `HelmRelease` in Flux's status format, or the Argo CD `Application` in Argo CD's.
///
/// # Errors
/// The API error of the status patch.
pub async fn write_sync(
    ctx: &SyncCtx,
    sync: &Sync,
    previous: &SyncStatus,
    status: &SyncStatus,
) -> Result<(), kube::Error> {
    match ctx.front {
        Front::Lockstep => write(ctx, sync, previous, status).await,
        Front::Flux => {
            let (mut before, mut after) = (
                flux::kustomization_status(previous),
                flux::kustomization_status(status),
            );
            let changed = before != after;
            let key = ObjectKey::of(sync);
            (before.history, after.history) = ctx.histories.record(&key, status, changed);
            write(ctx, &flux::kustomization(sync), &before, &after).await
        }
        Front::FluxHelm => {
            let (previous, status) = (
                flux::helm_release_status(previous),
                flux::helm_release_status(status),
            );
            write(ctx, &flux::helm_release(sync), &previous, &status).await
        }
        Front::ArgoCd => {
            let key = ObjectKey::of(sync);
            let (before, after) = ctx.memory.history(&key, previous, status);
            let (mut previous, mut next) = (
                argocd::application_status(previous),
                argocd::application_status(status),
            );
            (previous.history, next.history) = (before, after);
            ctx.memory.keep_operation(&key, &mut previous, &mut next);
            write(ctx, &argocd::application(sync), &previous, &next).await?;
            ctx.memory.keep_sync(ObjectKey::of(sync), status.clone());
            Ok(())
        }
    }
}

/// Records that a suspended Sync's current generation was seen, as Flux's controllers do
/// for a suspended resource that is Ready: `status.observedGeneration` alone, by a merge
/// patch, so nothing else the status says (its history, its inventory) is touched.
///
/// # Errors
/// The API error of the status patch.
pub async fn observe_generation(
    ctx: &SyncCtx,
    sync: &Sync,
    generation: i64,
) -> Result<(), kube::Error> {
    let namespace = sync.metadata.namespace.as_deref().unwrap_or_default();
    let name = sync.metadata.name.as_deref().unwrap_or_default();
    let resource = ctx.front.sync_resource();
    let api: Api<DynamicObject> =
        Api::namespaced_with(ctx.shared.client.clone(), namespace, &resource);
    let patch = serde_json::json!({"status": {"observedGeneration": generation}});
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..PatchParams::default()
    };
    api.patch_status(name, &params, &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// Writes a GitSource's status, to the `GitSource`, or to the Flux `GitRepository` it was
/// read from in Flux's status format.
///
/// # Errors
/// The API error of the status patch.
pub async fn write_source(
    ctx: &SyncCtx,
    source: &GitSource,
    previous: &GitSourceStatus,
    status: &GitSourceStatus,
) -> Result<(), kube::Error> {
    match ctx.front {
        Front::Lockstep => write(ctx, source, previous, status).await,
        // A HelmRelease's GitRepository is fetched, and its status written, by Flux's front.
        Front::Flux | Front::FluxHelm => {
            let (previous, status) = (
                flux::repository_status(previous),
                flux::repository_status(status),
            );
            write(ctx, &flux::repository(source), &previous, &status).await
        }
        Front::ArgoCd => {
            // The Application's status says how its sync went; the fetch's own state is
            // kept here, and a failure is reported as a ComparisonError by the sync.
            ctx.memory
                .keep_source(ObjectKey::of(source), status.clone());
            Ok(())
        }
    }
}

/// Applies the JSON merge patch `patch` to the status of the Flux GitRepository `repo`: for
/// removing what Flux's source-controller owns there ([`flux::flux_leftovers`]), which a
/// server-side apply cannot remove.
///
/// # Errors
/// The API error of the status patch.
pub async fn patch_flux_repository(
    ctx: &SyncCtx,
    repo: &GitRepository,
    patch: &serde_json::Value,
) -> Result<(), kube::Error> {
    let namespace = repo.metadata.namespace.as_deref().unwrap_or_default();
    let name = repo.metadata.name.as_deref().unwrap_or_default();
    let api: Api<GitRepository> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    api.patch_status(name, &params, &Patch::Merge(patch))
        .await
        .map(drop)
}

/// Writes `status` to `object` unless it equals `previous`.
///
/// # Errors
/// The API error of the status patch.
pub(crate) async fn write<K, S>(
    ctx: &SyncCtx,
    object: &K,
    previous: &S,
    status: &S,
) -> Result<(), kube::Error>
where
    K: Namespaced,
    S: Serialize + PartialEq,
{
    if previous == status {
        return Ok(());
    }
    let meta = object.meta();
    let namespace = meta.namespace.as_deref().unwrap_or_default();
    let name = meta.name.as_deref().unwrap_or_default();
    let api: Api<K> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&patch);
    let written = match ctx.front {
        // Argo CD's Application CRD has no status subresource: status goes with the object.
        Front::ArgoCd => api.patch(name, &params, &patch).await,
        Front::Lockstep | Front::Flux | Front::FluxHelm => {
            api.patch_status(name, &params, &patch).await
        }
    };
    written.map(drop)
}

/// Publishes an event about `object` (at `revision`, for alerts); a failure is logged,
/// never fatal.
pub async fn publish<K>(
    ctx: &SyncCtx,
    object: &K,
    type_: EventType,
    reason: impl WireReason,
    action: EventAction,
    note: &str,
    revision: Option<&str>,
) where
    K: Resource<DynamicType = ()>,
{
    // With the object's resourceVersion in the reference, each version gets an event of
    // its own: kube's recorder otherwise folds same-reason events into a series that keeps
    // the first note (the first revision applied).
    let mut reference = ctx.front.reference(object.object_ref(&()));
    reference.resource_version = object.meta().resource_version.clone();
    let (reason, action) = (reason.as_str(), action.as_str());
    event::publish(
        &ctx.recorder,
        &reference,
        type_,
        reason,
        action,
        note,
        revision,
    )
    .await;
}

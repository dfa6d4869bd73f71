//! A chart Sync's Helm release records ([`lockstep_engine::release`]), when its `helm`
//! block asks for them (`storage`, always for a Flux HelmRelease): written after each
//! successful apply that changed the release, deleted with the objects when the Sync is
//! deleted with pruning, kept when its objects are orphaned, so Helm or Flux can take the
//! release back as it stands.

use kube::ResourceExt;
use lockstep_api::{InventoryEntry, Sync};
use lockstep_engine::release::{self, Deployed, Recorded, ReleaseError, Storage};
use lockstep_engine::secrets::Prepared;

/// Helm's default `--history-max`.
const MAX_HISTORY: u32 = 10;

/// The release name and where its records live, when `sync` writes them.
fn storage(sync: &Sync) -> Option<(String, Storage)> {
    let helm = sync.spec.helm.as_ref()?;
    let storage = helm.storage.as_ref()?;
    let release = helm.release_name.clone().unwrap_or_else(|| sync.name_any());
    let namespace = storage
        .namespace
        .clone()
        .or_else(|| sync.spec.target_namespace.clone())
        .unwrap_or_else(|| sync.namespace().unwrap_or_default());
    let max_history = storage.max_history.unwrap_or(MAX_HISTORY);
    Some((
        release,
        Storage {
            namespace,
            max_history,
        },
    ))
}

/// Whether `sync` writes Helm release records.
pub(super) fn writes(sync: &Sync) -> bool {
    storage(sync).is_some()
}

/// Records the release `prepared` applied, when `sync` writes records.
///
/// # Errors
/// [`ReleaseError`] naming the record Secret.
pub(super) async fn write(
    sync: &Sync,
    client: &kube::Client,
    prepared: &Prepared,
) -> Result<Option<Recorded>, ReleaseError> {
    let (Some((_, storage)), Some(parts)) = (storage(sync), &prepared.release) else {
        return Ok(None);
    };
    let (manifests, hooks) = (&prepared.manifests, &prepared.hooks);
    release::record(client, &storage, parts, manifests, hooks)
        .await
        .map(Some)
}

/// What `sync` applied before: its status's inventory, or, when that is empty and it
/// writes Helm records, what its release's deployed revision applied. So a HelmRelease
/// under Flux's own CRD, whose status drops Lockstep's inventory, still prunes and is
/// deleted from its record, and a release taken over from Helm is an upgrade whose
/// leftover hook objects may be replaced. Empty when the records cannot be read (nothing
/// is pruned then).
pub(super) async fn previous(
    sync: &Sync,
    client: &kube::Client,
    status: &[InventoryEntry],
) -> Deployed {
    let Some((name, storage)) = storage(sync).filter(|_| status.is_empty()) else {
        return Deployed {
            objects: status.to_vec(),
            hooks: Vec::new(),
        };
    };
    release::deployed(client, &storage.namespace, &name)
        .await
        .unwrap_or_else(|err| {
            tracing::warn!("Helm release {name:?}'s records could not be read: {err}");
            Deployed::default()
        })
}

/// Deletes the records of a deleted Sync's release, as `helm uninstall` does; how many.
///
/// # Errors
/// [`ReleaseError`] naming the record Secret.
pub(super) async fn remove(sync: &Sync, client: &kube::Client) -> Result<usize, ReleaseError> {
    match storage(sync) {
        Some((name, storage)) => release::uninstall(client, &storage.namespace, &name).await,
        None => Ok(0),
    }
}

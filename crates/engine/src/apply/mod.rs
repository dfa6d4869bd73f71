//! Server-side apply in stages, writing only what drifted, after checking everything
//! that can be checked.
//!
//! Stages, each finished before the next starts:
//! 1. CustomResourceDefinitions and Namespaces; then wait until every CRD is `Established`
//!    and every Namespace `Active`.
//! 2. Every other cluster-scoped object (scope from the API server's discovery, looked up
//!    per kind after stage 1, so kinds of CRDs from stage 1 resolve).
//! 3. Namespaced objects.
//!
//! Within a stage objects are sorted by a kind table (as Flux does), then namespace, name.
//!
//! Before anything is written, [`preflight`] checks every object: its kind is served, its
//! namespace exists, it is not [`Protect`]ed, no other owner holds it
//! ([`crate::ownership`]), and a server-side **dry-run** apply with field manager
//! [`FIELD_MANAGER`] and force accepts it — so a revision with one rejected object writes
//! nothing (what cannot be checked before earlier stages are written is named in
//! [`preflight`]). Then per object: a new object is applied (`created`); an existing one
//! is applied only when the dry-run result differs from the live object in labels,
//! annotations or anything outside `metadata` and `status` (`configured`), and otherwise
//! left alone (`unchanged`: no write, its `resourceVersion` stays). A dry-run that fails on
//! an immutable field is an error naming the object and the fields, unless `force` is set
//! (or the object carries `lockstep.dev/force: enabled`): then the object is deleted, its
//! disappearance awaited, and it is created again (`replaced`).
//!
//! An object written under Argo CD's `Replace=true` ([`SyncOptions`]) is decided the same
//! way, but written by replacing it whole (a `PUT` of the desired object at the live
//! `resourceVersion`, as `kubectl replace` does): every field Git does not set is removed,
//! whoever set it; with `Force=true` too it is deleted and created again.
//!
//! API error text can echo request data; for Secrets, and for objects that carry decrypted
//! or resolved values, only the HTTP code, reason and field paths are kept, never the
//! message ([`api_message`]).

mod drift;
mod ignore;
mod message;
mod order;
mod preflight;
mod protect;
mod resolve;
mod shown;
mod step;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tracing::instrument;

use lockstep_api::InventoryEntry;

use crate::ownership::Holder;
use crate::render::Manifest;

pub use ignore::{IgnoreDifferences, IgnoreRule};
pub(crate) use message::api_code;
pub use message::{Withheld, api_message};
pub use order::{SYNC_WAVE, apply_order};
pub use preflight::{Preflight, Preview, preflight};
pub use protect::{Guard, Protect, Rule};
pub use resolve::KindCache;
pub(crate) use resolve::guess_entry;
pub use shown::{DiffLine, unified_diff};

/// The field manager of Lockstep's own applies (a `Sync`, `lockstep apply`); a Flux
/// `Kustomization` served by Lockstep applies as Flux does ([`crate::ownership::Mark`]).
pub const FIELD_MANAGER: &str = "lockstep";

/// How to apply.
#[derive(Clone)]
pub struct ApplyOptions {
    /// Delete and recreate objects whose change touches an immutable field.
    pub force: bool,
    /// Take objects another owner holds (see [`crate::ownership`]) instead of refusing.
    pub force_ownership: bool,
    /// How long to wait for CRDs to be established and Namespaces active, and for a
    /// deleted object to disappear before it is recreated.
    pub wait_timeout: Duration,
    /// Kinds already resolved through discovery. Share one between applies to the same
    /// cluster (the controller does) to save discovery requests; entries expire after
    /// five minutes so a replaced CRD is seen.
    pub kinds: Arc<KindCache>,
    /// Objects never written (nor pruned).
    pub protect: Protect,
    /// The client that reads other owners' inventories, when the apply's own may not (an
    /// impersonated ServiceAccount); default the apply's client.
    pub owners: Option<Client>,
    /// The field manager of every apply and dry-run; default [`FIELD_MANAGER`]. The owner's
    /// ([`crate::ownership::Mark::field_manager`]), so that a field another tool's owner
    /// set and Git no longer has is removed, and switching tools churns no managed fields.
    pub field_manager: &'static str,
    /// Fields whose differences are ignored, and whether their live values are kept.
    pub ignore: IgnoreDifferences,
    /// Apply in Argo CD's sync waves: objects grouped by `argocd.argoproj.io/sync-wave` (an
    /// integer; 0 when absent or not a number), lowest wave first, and every object of a
    /// wave healthy (within `wait_timeout`) before the next wave is written. Off, the
    /// annotation means nothing.
    pub waves: bool,
    /// Argo CD's `Replace=true` and `Force=true`, for every object or per object.
    pub sync_options: SyncOptions,
    /// Judge each object's health by these rules as the apply leaves it — from what its
    /// write returned, or for an unchanged object the read before it — into
    /// [`Change::health`]: the first look of a wait after the apply, with nothing read
    /// again. `None`: not judged.
    pub health: Option<Arc<crate::health::Rules>>,
}

/// Argo CD's sync options that change how an object is written, for the whole apply (an
/// Application's `syncOptions`) or per object (its `argocd.argoproj.io/sync-options`
/// annotation, read when [`SyncOptions::per_object`] is set).
///
/// - `Replace=true`: an object that differs is written by replacing it whole, a `PUT` of
///   the desired object at the live `resourceVersion` (`kubectl replace`), so fields other
///   managers set are removed too. Whether it differs is still the dry-run apply's call,
///   so a field another controller adds (a Deployment's revision annotation) never makes it
///   differ; a new object is created by the apply.
/// - `Force=true`: an immutable-field change deletes and recreates the object (`kubectl
///   apply --force`); with `Replace=true`, every write of the object does (`kubectl
///   replace --force`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncOptions {
    /// Read each object's own sync options annotation (an Application's objects).
    pub per_object: bool,
    /// `Replace=true` for every object.
    pub replace: bool,
    /// `Force=true` for every object.
    pub force: bool,
}

impl SyncOptions {
    /// Whether the desired object `body` is written by replacing it.
    fn replaces(self, body: &serde_json::Value) -> bool {
        self.replace || self.annotated(body, lockstep_api::argocd::REPLACE_OPTION)
    }

    /// Whether the desired object `body` is deleted and recreated rather than left failing.
    fn forces(self, body: &serde_json::Value) -> bool {
        self.force || self.annotated(body, lockstep_api::argocd::FORCE_OPTION)
    }

    fn annotated(self, body: &serde_json::Value, option: &str) -> bool {
        let annotation = lockstep_api::argocd::SYNC_OPTIONS_ANNOTATION;
        self.per_object
            && body["metadata"]["annotations"][annotation]
                .as_str()
                .is_some_and(|options| options.split(',').any(|o| o.trim() == option))
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            force: false,
            force_ownership: false,
            wait_timeout: Duration::from_secs(60),
            kinds: Arc::default(),
            protect: Protect::default(),
            owners: None,
            field_manager: FIELD_MANAGER,
            ignore: IgnoreDifferences::default(),
            waves: false,
            sync_options: SyncOptions::default(),
            health: None,
        }
    }
}

impl fmt::Debug for ApplyOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplyOptions")
            .field("force", &self.force)
            .field("force_ownership", &self.force_ownership)
            .field("wait_timeout", &self.wait_timeout)
            .field("protect", &self.protect)
            .field("owners", &self.owners.as_ref().map(|_| "Client"))
            .field("field_manager", &self.field_manager)
            .field("ignore", &self.ignore)
            .field("waves", &self.waves)
            .field("sync_options", &self.sync_options)
            .field("health", &self.health)
            .finish_non_exhaustive()
    }
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It differed from the desired state and was updated.
    Configured,
    /// It already matched; nothing was written.
    Unchanged,
    /// An immutable field changed; it was deleted and created again (force).
    Replaced,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Replaced => "replaced",
        })
    }
}

/// One object and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object.
    pub object: InventoryEntry,
    /// What was done.
    pub action: Action,
    /// Its health as the apply left it, when [`ApplyOptions::health`] asked for it.
    pub health: Option<crate::health::Health>,
}

/// Everything an apply did, in apply order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// One entry per object, in the order applied.
    pub changes: Vec<Change>,
    /// Objects taken from another owner (only with `force_ownership`), and from whom.
    pub taken: Vec<(InventoryEntry, Holder)>,
}

impl ChangeSet {
    /// The action taken for the object with this `group/kind/namespace/name`.
    pub fn action_of(&self, id: &str) -> Option<Action> {
        self.changes
            .iter()
            .find(|c| crate::inventory::key(&c.object) == id)
            .map(|c| c.action)
    }

    /// How many objects were written (created, configured or replaced).
    pub fn writes(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .count()
    }
}

/// Why an apply failed. Objects are named `group/kind/namespace/name`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The API server does not serve the object's kind.
    #[error("{object} (in {}): the API server does not serve {api_version} {kind}", file.display())]
    UnknownKind {
        /// The object.
        object: String,
        /// The file it came from, relative to the rendered folder.
        file: std::path::PathBuf,
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
    /// A namespaced object has no namespace and no target namespace was set.
    #[error("{object}: namespaced object without a namespace (set one, or targetNamespace)")]
    MissingNamespace {
        /// The object.
        object: String,
    },
    /// The object's namespace neither exists nor is part of the apply.
    #[error("{object}: namespace {namespace} does not exist and is not part of this apply")]
    NamespaceNotFound {
        /// The object.
        object: String,
        /// The namespace.
        namespace: String,
    },
    /// The object is protected from this apply.
    #[error("{object}: refused: {rule}")]
    Protected {
        /// The object.
        object: String,
        /// The rule it breaks.
        rule: Rule,
    },
    /// Objects another owner holds; nothing was written.
    #[error("{}", owned_message(conflicts))]
    Owned {
        /// Each object and who holds it, in apply order.
        conflicts: Vec<Conflict>,
    },
    /// Reading the live object failed.
    #[error("{object}: cannot read the live object: {message}")]
    Get {
        /// The object.
        object: String,
        /// What the API server said (withheld for secret objects, see [`api_message`]).
        message: String,
    },
    /// The server-side dry-run was refused.
    #[error("{object}: dry-run apply failed: {message}")]
    DryRun {
        /// The object.
        object: String,
        /// What the API server said (withheld for secret objects, see [`api_message`]).
        message: String,
    },
    /// The API server refused several objects before the first write (each an
    /// [`ApplyError::Get`] or [`ApplyError::DryRun`], in apply order); nothing was written.
    #[error("{}", refused_message(refusals))]
    Refused {
        /// Each refusal.
        refusals: Vec<ApplyError>,
    },
    /// The change touches fields that cannot change; `force` recreates the object.
    #[error("{object}: immutable field(s) {fields} changed; the object must be recreated")]
    ImmutableField {
        /// The object.
        object: String,
        /// The field paths the API server named, comma-separated.
        fields: String,
    },
    /// The apply itself was refused.
    #[error("{object}: apply failed: {message}")]
    Apply {
        /// The object.
        object: String,
        /// What the API server said (withheld for secret objects, see [`api_message`]).
        message: String,
    },
    /// Deleting an object to recreate it failed.
    #[error("{object}: delete before recreate failed: {message}")]
    Delete {
        /// The object.
        object: String,
        /// What the API server said (withheld for secret objects, see [`api_message`]).
        message: String,
    },
    /// A sync wave's objects were not healthy before the next wave ([`ApplyOptions::waves`]);
    /// later waves were not written.
    #[error("sync wave {wave} not healthy, later waves not applied: {source}")]
    Wave {
        /// The wave.
        wave: i32,
        /// Which objects failed or were still pending.
        source: crate::health::WaitError,
    },
    /// An object did not become ready (CRD established, Namespace active, deleted object
    /// gone) in time.
    #[error("{object}: not {condition} after {after:?}")]
    Wait {
        /// The object.
        object: String,
        /// What was awaited.
        condition: &'static str,
        /// The budget.
        after: Duration,
    },
}

/// An object another owner holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The object, `group/kind/namespace/name`.
    pub object: String,
    /// Who holds it.
    pub holder: Holder,
}

fn refused_message(refusals: &[ApplyError]) -> String {
    let list: Vec<String> = refusals.iter().map(ToString::to_string).collect();
    format!("{} objects refused: {}", refusals.len(), list.join("; "))
}

fn owned_message(conflicts: &[Conflict]) -> String {
    let list: Vec<String> = conflicts
        .iter()
        .map(|c| format!("{} is held by {}", c.object, c.holder))
        .collect();
    format!(
        "{} object(s) belong to another owner and were not taken: {}",
        conflicts.len(),
        list.join("; ")
    )
}

/// Checks and applies `manifests` in stages and returns what changed.
///
/// # Errors
/// An [`ApplyError`] from [`preflight`] (nothing written), or from a write (objects of
/// earlier stages, and earlier in the same stage, stay applied; use [`preflight`] and
/// [`Preflight::apply`] to learn which).
#[instrument(skip_all, fields(objects = manifests.len()))]
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
) -> Result<ChangeSet, ApplyError> {
    let plan = preflight(client, manifests, options).await?;
    let mut changes = ChangeSet::default();
    plan.apply(&mut changes).await?;
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::SyncOptions;
    use serde_json::json;

    /// Argo CD's per-object options are items of a comma-separated list, read only for an
    /// Application's objects; the Application's own hold for every object.
    #[test]
    fn sync_options_are_asked_per_object_or_for_all() {
        let annotated = |options: &str| json!({"metadata": {"annotations": {"argocd.argoproj.io/sync-options": options}}});
        let plain = json!({"metadata": {"name": "web"}});
        let objects = SyncOptions {
            per_object: true,
            ..SyncOptions::default()
        };
        assert!(objects.replaces(&annotated("Prune=false, Replace=true")));
        assert!(!objects.replaces(&annotated("Prune=false")));
        assert!(!objects.replaces(&annotated("Replace=false")));
        assert!(!objects.replaces(&plain));
        assert!(objects.forces(&annotated("Force=true,Replace=true")));
        assert!(!objects.forces(&annotated("Replace=true")));
        let all = SyncOptions {
            replace: true,
            force: true,
            ..SyncOptions::default()
        };
        assert!(all.replaces(&plain) && all.forces(&plain));
        let unread = SyncOptions::default();
        assert!(!unread.replaces(&annotated("Replace=true")));
        assert!(!unread.forces(&annotated("Force=true")));
    }
}

//! Server-side apply in stages, writing only what drifted.
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
//! Per object: read the live object, then a server-side **dry-run** apply with field
//! manager [`FIELD_MANAGER`] and force. A new object is applied (`created`); an existing one
//! is applied only when the dry-run result differs from the live object in labels,
//! annotations or anything outside `metadata` and `status` (`configured`), and otherwise
//! left alone (`unchanged`: no write, its `resourceVersion` stays). A dry-run that fails on
//! an immutable field is an error naming the object and the fields, unless `force` is set
//! (or the object carries `lockstep.dev/force: enabled`): then the object is deleted, its
//! disappearance awaited, and it is created again (`replaced`).
//!
//! API error text can echo request data; for Secrets, and for objects that carry decrypted
//! or resolved values, only the HTTP code, reason and field paths are kept, never the
//! message ([`api_message`]).

mod message;
mod order;
mod resolve;
mod step;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use serde_json::Value;
use tracing::instrument;

use lockstep_api::InventoryEntry;

use crate::render::Manifest;

pub use message::{Withheld, api_message};
pub use order::apply_order;
pub use resolve::KindCache;

use order::{is_stage_one, sort};
use resolve::{Resolver, Target, desired_body, planned_create};
use step::{Step, execute, plan_one, wait_ready};

/// The one field manager every apply uses.
pub const FIELD_MANAGER: &str = "lockstep";

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Delete and recreate objects whose change touches an immutable field.
    pub force: bool,
    /// How long to wait for CRDs to be established and Namespaces active, and for a
    /// deleted object to disappear before it is recreated.
    pub wait_timeout: Duration,
    /// Decide every action by reads and server-side dry-runs only, and write nothing: the
    /// plan of manual mode. Objects whose kind comes from a CRD of the same apply, and
    /// objects in a Namespace the apply would create, are planned as created.
    pub dry_run: bool,
    /// Kinds already resolved through discovery. Share one between applies to the same
    /// cluster (the controller does) to save discovery requests; entries expire after
    /// five minutes so a replaced CRD is seen.
    pub kinds: Arc<KindCache>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            force: false,
            wait_timeout: Duration::from_secs(60),
            dry_run: false,
            kinds: Arc::default(),
        }
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
}

/// Everything an apply did, in apply order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// One entry per object, in the order applied.
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// The action taken for the object with this `group/kind/namespace/name`.
    pub fn action_of(&self, id: &str) -> Option<Action> {
        self.changes
            .iter()
            .find(|c| crate::inventory::id(&c.object) == id)
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
    #[error("{object}: the API server does not serve {api_version} {kind}")]
    UnknownKind {
        /// The object.
        object: String,
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
    /// The change touches fields that cannot change; set `force` to recreate the object.
    #[error(
        "{object}: immutable field(s) {fields} changed; set force (or annotate lockstep.dev/force: enabled) to delete and recreate it"
    )]
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

/// Applies `manifests` in stages and returns what changed.
///
/// # Errors
/// The first [`ApplyError`]; objects of earlier stages (and earlier in the same stage)
/// stay applied. Use [`apply_into`] to learn which.
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
) -> Result<ChangeSet, ApplyError> {
    let mut changes = ChangeSet::default();
    apply_into(client, manifests, options, &mut changes).await?;
    Ok(changes)
}

/// [`apply`], recording each change in `changes` as it happens, so that after an error
/// `changes` holds the objects already written (to keep in the inventory: they are ours).
///
/// # Errors
/// As [`apply`].
#[instrument(skip_all, fields(objects = manifests.len()))]
pub async fn apply_into(
    client: &Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
    changes: &mut ChangeSet,
) -> Result<(), ApplyError> {
    let mut resolver = Resolver::new(client.clone(), manifests, options.kinds.clone());

    let (mut first, rest): (Vec<&Manifest>, Vec<&Manifest>) =
        manifests.iter().partition(|m| is_stage_one(m));
    sort(&mut first);
    let mut stage = Vec::with_capacity(first.len());
    for manifest in &first {
        let target = resolver.resolve(manifest, options.wait_timeout).await?;
        let body = desired_body(&target, manifest);
        stage.push((target, body));
    }
    for target in apply_stage(stage, options, changes).await? {
        if !options.dry_run {
            wait_ready(&target, options.wait_timeout).await?;
        }
    }

    let mut cluster = Vec::new();
    let mut namespaced = Vec::new();
    for manifest in rest {
        if options.dry_run && resolver.is_pending(manifest).await {
            changes.changes.push(planned_create(manifest));
            continue;
        }
        let target = resolver.resolve(manifest, options.wait_timeout).await?;
        if target.namespaced {
            namespaced.push(manifest);
        } else {
            cluster.push(manifest);
        }
    }
    sort(&mut cluster);
    sort(&mut namespaced);
    for group in [cluster, namespaced] {
        let mut stage = Vec::with_capacity(group.len());
        for manifest in group {
            let target = resolver.resolve(manifest, options.wait_timeout).await?;
            let body = desired_body(&target, manifest);
            stage.push((target, body));
        }
        apply_stage(stage, options, changes).await?;
    }
    Ok(())
}

/// Applies one stage: reads and dry-runs run [`CONCURRENCY`] at a time, then the writes
/// happen one by one in order, stopping at the first error.
async fn apply_stage(
    targets: Vec<(Target, Value)>,
    options: &ApplyOptions,
    changes: &mut ChangeSet,
) -> Result<Vec<Target>, ApplyError> {
    // Boxed so the stream's futures have one concrete lifetime: callers spawn this on a
    // multi-threaded runtime, and an unboxed closure-made stream is not provably `Send`.
    let plans: Vec<Result<Step, ApplyError>> = futures::stream::iter(
        targets
            .iter()
            .map(|(target, body)| plan_one(target, body, options).boxed())
            .collect::<Vec<_>>(),
    )
    .buffered(CONCURRENCY)
    .collect()
    .await;
    let mut done = Vec::with_capacity(targets.len());
    for ((target, body), plan) in targets.into_iter().zip(plans) {
        let action = execute(&target, &body, plan?, options).await?;
        changes.changes.push(target.change(action));
        done.push(target);
    }
    Ok(done)
}

/// How many objects are read and dry-run at once (Flux's `--concurrent-ssa` default).
const CONCURRENCY: usize = 4;

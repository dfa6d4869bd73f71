//! The `lockstep.dev/v1alpha1` custom resources, and the peer resources Lockstep serves
//! unchanged: spec and status types only.
//!
//! - [`GitSource`] says where declared state lives: a Git URL and a ref to follow.
//! - [`Sync`] says which path of a source to apply to a cluster, and how (prune, drift
//!   correction, manual approval, health checks, target namespace).
//! - [`ExternalSecret`], [`SecretStore`] and [`ClusterSecretStore`] are the External
//!   Secrets Operator's `external-secrets.io/v1` resources ([`external_secrets`]).
//! - [`flux::GitRepository`] and [`flux::Kustomization`] are Flux's, served by the same
//!   engine as `GitSource` and `Sync` ([`flux`]).
//! - [`argocd::Application`] and [`argocd::AppProject`] are Argo CD's, served by the same
//!   engine too ([`argocd`]).
//!
//! The CRDs are generated from these types with [`kube::CustomResourceExt::crd`] and
//! committed under `deploy/crds/`; a test keeps the two in step. No client logic lives
//! here, so the CLI can render and diff without the runtime.

pub mod argocd;
mod common;
mod duration;
pub mod external_secrets;
pub mod flux;
mod git_source;
mod key;
pub mod steer;
mod sync;

pub use common::{
    Condition, ConditionStatus, InventoryEntry, LocalObjectReference, Plan, PlanAction, PlanChange,
    ResourceIgnoreDifferences,
};
pub use duration::{DurationError, format_duration, parse_duration};
pub use external_secrets::{ClusterSecretStore, ExternalSecret, SecretStore};
pub use git_source::{GitRef, GitSource, GitSourceSpec, GitSourceStatus, GitVerify, VerifyMode};
pub use key::ObjectKey;
pub use sync::{
    AppliedRevision, Backoff, CrossNamespaceObjectReference, Decryption, DeletionPolicy, DependsOn,
    Directory, FileParameter, HISTORY_LIMIT, HealthCheck, HealthCheckExpr, Helm, HelmStorage,
    KubeConfigRef, KubeConfigSecretRef, PostRenderKustomize, PostRenderStrategy, PostRenderer,
    ReferenceUsed, SECRETS_LIMIT, SecretValues, SecretsUsed, SopsFileUsed, Sync, SyncMode,
    SyncSpec, SyncStatus, ValuesFrom, ValuesFromKind,
};

/// The API group of every Lockstep resource.
pub const GROUP: &str = "lockstep.dev";
/// The API version of the types in this crate.
pub const VERSION: &str = "v1alpha1";

/// Label put on every applied object: the name of the `Sync` that owns it.
pub const OWNER_NAME_LABEL: &str = "lockstep.dev/name";
/// Label put on every applied object: the namespace of the `Sync` that owns it.
pub const OWNER_NAMESPACE_LABEL: &str = "lockstep.dev/namespace";
/// Annotation (or label) that keeps an object from being pruned when set to `disabled`.
pub const PRUNE_ANNOTATION: &str = "lockstep.dev/prune";
/// Annotation (or label) that allows deleting and recreating an object on an
/// immutable-field change when set to `enabled`, whatever `spec.force` says.
pub const FORCE_ANNOTATION: &str = "lockstep.dev/force";
/// Annotation that asks for a reconcile now; its value is any new string (a timestamp).
pub const REQUESTED_AT_ANNOTATION: &str = "lockstep.dev/requestedAt";
/// Annotation that approves a plan in manual mode; its value is the revision approved.
pub const APPROVED_REVISION_ANNOTATION: &str = "lockstep.dev/approvedRevision";
/// Annotation that pins a Sync to one revision of its source (`lockstep rollback`): that
/// commit is applied, whatever the source's ref has moved to, until the annotation goes.
pub const PINNED_REVISION_ANNOTATION: &str = "lockstep.dev/pinnedRevision";

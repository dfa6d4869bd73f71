//! Argo CD's `argoproj.io/v1alpha1` [`Application`] and [`AppProject`], served unchanged.
//!
//! Field names and spellings are those of Argo CD's `pkg/apis/application/v1alpha1`
//! types, so an `Application` written for Argo CD reads here as written and the objects
//! Argo CD's own CRDs store deserialize. Fields Lockstep does not serve are kept in
//! flattened maps and refused by name ([`Application::unserved`]), never ignored: a
//! `helm` block ignored would apply something else than what was asked. The generated CRDs
//! carry **no schema defaults** and keep unknown fields
//! (`x-kubernetes-preserve-unknown-fields`), so an unserved field reaches the controller
//! under Lockstep's CRD as under Argo CD's.
//!
//! Objects an Application applies carry Argo CD's default tracking label,
//! [`INSTANCE_LABEL`]`: <application name>`, and its `status.resources` lists them: the
//! two things Argo CD reads back, so either controller takes over what the other applied.

mod application;
mod project;

pub use application::{
    Application, ApplicationCondition, ApplicationConditionType, ApplicationDestination,
    ApplicationSource, ApplicationSpec, ApplicationStatus, Automated, DirectoryOptions, HealthCode,
    HealthStatus, HelmOptions, HelmParameter, Info, KustomizeOptions, KustomizePatch,
    ManagedNamespaceMetadata, Operation, OperationInitiator, OperationPhase, OperationState,
    ResourceStatus, RetryBackoff, RetryStrategy, RevisionHistory, StrategyOptions, SyncCode,
    SyncInfo, SyncOperation, SyncPolicy, SyncResult, SyncStrategy, application_crd,
};
pub use project::{AppProject, AppProjectSpec, ProjectDestination, ProjectRules, ResourceRule};

/// The API group of both resources.
pub const GROUP: &str = "argoproj.io";
/// The API version served.
pub const VERSION: &str = "v1alpha1";
/// Argo CD's default tracking label: the name of the Application that applied an object.
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// Argo CD's annotation tracking (`application.resourceTrackingMethod: annotation`):
/// `<app>:<group>/<kind>:<namespace>/<name>`, the app written `<namespace>_<app>` when the
/// Application is outside Argo CD's own namespace.
pub const TRACKING_ID_ANNOTATION: &str = "argocd.argoproj.io/tracking-id";
/// Per-object sync options; `Prune=false` keeps an object from being pruned.
pub const SYNC_OPTIONS_ANNOTATION: &str = "argocd.argoproj.io/sync-options";
/// The sync option, in [`SYNC_OPTIONS_ANNOTATION`], that keeps an object from being pruned.
pub const PRUNE_DISABLED: &str = "Prune=false";
/// The sync option, in [`SYNC_OPTIONS_ANNOTATION`] or an Application's `syncOptions`, that
/// says whether an object is deleted with its Application (`Delete=false` keeps it).
pub const DELETE_OPTION: &str = "Delete";
/// The sync option, in [`SYNC_OPTIONS_ANNOTATION`] or an Application's `syncOptions`, that
/// writes an object by replacing it whole (`kubectl replace`) instead of applying it.
pub const REPLACE_OPTION: &str = "Replace=true";
/// The sync option, in [`SYNC_OPTIONS_ANNOTATION`] or an Application's `syncOptions`, that
/// deletes and recreates an object a change cannot be written to (`kubectl apply --force`;
/// with [`REPLACE_OPTION`], `kubectl replace --force`).
pub const FORCE_OPTION: &str = "Force=true";
/// The finalizer that makes deleting an Application delete what it applied.
pub const RESOURCES_FINALIZER: &str = "resources-finalizer.argocd.argoproj.io";
/// The field manager Argo CD's application controller applies as (server-side apply).
pub const FIELD_MANAGER: &str = "argocd-controller";
/// The in-cluster destination's API server URL.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
/// The in-cluster destination's name.
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// The project of an Application that names none, which every Argo CD installation
/// creates (allowing every source and destination until an administrator restricts it).
pub const DEFAULT_PROJECT: &str = "default";

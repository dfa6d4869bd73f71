//! Flux's `source.toolkit.fluxcd.io/v1` [`GitRepository`] and
//! `kustomize.toolkit.fluxcd.io/v1` [`Kustomization`], `helm.toolkit.fluxcd.io/v2`
//! [`HelmRelease`] (of a chart in a GitRepository, a HelmRepository or an
//! [`OCIRepository`]), served unchanged, and
//! `notification.toolkit.fluxcd.io/v1` [`Receiver`] (webhooks asking for a reconcile).
//!
//! Field names and spellings are those of the source-controller and kustomize-controller
//! v1.9.6 API modules, so a repository written for Flux reads here as written and the
//! objects Flux's own CRDs store deserialize: fields Lockstep does not serve are left out of
//! the types (serde ignores them) and refused by name where ignoring them would change what
//! is applied ([`Kustomization::unserved`]). The generated CRDs are the served subset and,
//! unlike Flux's, carry **no schema defaults**: a default written into every stored object is
//! a diff for whoever manages the object. The defaults Flux's CRDs would write (`timeout:
//! 60s` on a GitRepository, branch `master` when `ref` is unset) are applied when reading.
//!
//! Objects a Kustomization applies carry [`NAME_LABEL`] and [`NAMESPACE_LABEL`], and its
//! `status.inventory` names them as `<namespace>_<name>_<group>_<kind>` plus the version
//! ([`InventoryRef`]) — the two things Flux reads back, so either controller takes over what
//! the other applied.

mod alert;
mod helm;
mod kustomize;
mod oci;
mod receiver;
mod source;

pub use alert::{
    Alert, AlertSpec, EventSource, Provider, ProviderSpec, ProviderType, alert_crd, provider_crd,
};
pub use helm::{
    ChartSourceReference, CrdAction, HelmChartSpec, HelmChartTemplate, HelmRelease,
    HelmReleaseSpec, HelmReleaseStatus, ValuesReference,
};
pub use kustomize::{
    Common, CommonMetadata, FluxDecryption, FluxDependency, FluxInventory, FluxKubeConfig, Image,
    InventoryRef, Kustomization, KustomizationSpec, KustomizationStatus,
    NamespacedObjectKindReference, Overlay, Patch, PostBuild, Selector, Snapshot, SourceReference,
    SubstituteKind, SubstituteReference, SubstituteStrategy,
};
pub use oci::{
    HELM_CHART_MEDIA_TYPE, OCILayerSelector, OCIRepository, OCIRepositoryRef, OCIRepositorySpec,
    OCIRepositoryStatus,
};
pub use receiver::{Receiver, ReceiverResource, ReceiverSpec, ReceiverStatus, ReceiverType};
pub use source::{
    Artifact, GitRepository, GitRepositoryRef, GitRepositorySpec, GitRepositoryStatus,
    GitRepositoryVerification, HelmRepository, HelmRepositorySpec, HelmRepositoryStatus,
};

/// The API group of [`GitRepository`].
pub const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";
/// The API group of [`Kustomization`].
pub const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";
/// The API group of [`HelmRelease`].
pub const HELM_GROUP: &str = "helm.toolkit.fluxcd.io";
/// The API version served for [`HelmRelease`].
pub const HELM_VERSION: &str = "v2";
/// Label on every object a HelmRelease applied: the HelmRelease's name.
pub const HELM_NAME_LABEL: &str = "helm.toolkit.fluxcd.io/name";
/// Label on every object a HelmRelease applied: the HelmRelease's namespace.
pub const HELM_NAMESPACE_LABEL: &str = "helm.toolkit.fluxcd.io/namespace";
/// The field manager Flux's helm-controller applies as.
pub const HELM_FIELD_MANAGER: &str = "helm-controller";
/// The API group of [`Receiver`].
pub const NOTIFICATION_GROUP: &str = "notification.toolkit.fluxcd.io";
/// The API version served for all three.
pub const FLUX_VERSION: &str = "v1";

/// Label on every object a Kustomization applied: the Kustomization's name.
pub const NAME_LABEL: &str = "kustomize.toolkit.fluxcd.io/name";
/// Label on every object a Kustomization applied: the Kustomization's namespace.
pub const NAMESPACE_LABEL: &str = "kustomize.toolkit.fluxcd.io/namespace";
/// Annotation (or label) that keeps an object from being pruned when set to `disabled`.
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// Annotation (or label) that keeps an object's `${var}`s as written when set to
/// `disabled`.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// The field manager Flux's kustomize-controller applies as.
pub const FIELD_MANAGER: &str = "kustomize-controller";
/// Annotation asking for a reconcile now (what `flux reconcile` writes).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

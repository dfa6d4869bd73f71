//! `Kustomization`: which path of a source to apply, as Flux's kustomize-controller reads it.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Condition, InventoryEntry, LocalObjectReference};
use crate::sync::{DeletionPolicy, KubeConfigSecretRef};

/// Keeps the objects under one path of a [`super::GitRepository`] applied (Flux's
/// `Kustomization`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "kustomize.toolkit.fluxcd.io",
    version = "v1",
    kind = "Kustomization",
    namespaced,
    status = "KustomizationStatus",
    shortname = "ks",
    category = "fluxcd",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct KustomizationSpec {
    /// The source to take manifests from.
    pub source_ref: SourceReference,
    /// Folder inside the source, relative to its root; default the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to reconcile, which is also how soon drift is corrected (Go duration).
    pub interval: String,
    /// How soon to retry after a failure; default `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    /// Delete objects that left the source (required, as in Flux).
    pub prune: bool,
    /// Wait for every applied object to be healthy.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Objects whose health gates readiness when `wait` is off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<NamespacedObjectKindReference>,
    /// CEL expressions telling the health of the kinds the built-in rules do not know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<crate::HealthCheckExpr>,
    /// Budget for build, apply and health checks (Go duration); default
    /// `interval - 30s`, at least `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Kustomizations that must be Ready before this one applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<FluxDependency>,
    /// Stop applying, correcting drift and pruning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Delete and recreate objects whose change touches an immutable field.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Namespace set on every namespaced object that is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// ServiceAccount of the Kustomization's namespace to impersonate for every request
    /// about its objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// What deleting the Kustomization does to its objects (default `MirrorPrune`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Apply to the cluster of the kubeconfig in this Secret instead of the local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<FluxKubeConfig>,
    /// Decrypt SOPS-encrypted manifests before applying them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<FluxDecryption>,
    /// Variables substituted into the built manifests (`${var}`), before SOPS values are
    /// decrypted, so a decrypted value is never substituted into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Prefix added to the name of every object (written into the kustomization at
    /// `path`, replacing its own `namePrefix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Suffix added to the name of every object (replacing the kustomization's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Inline strategic-merge or JSON 6902 patches, each applied to the objects its
    /// `target` selects; added after the kustomization's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Image names, tags or digests to set, merged by name into the kustomization's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Kustomize components (folders, relative to `path`) added to the kustomization.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Leave out a component whose folder does not exist instead of failing the build.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    /// Labels and annotations set on every object after the build (and after `postBuild`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Every other field of Flux's spec, kept so that one Lockstep does not serve is
    /// refused by name ([`Kustomization::unserved`]) rather than silently ignored. The
    /// generated schema keeps unknown fields (`x-kubernetes-preserve-unknown-fields`) so
    /// they arrive here under Lockstep's CRD as under Flux's.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

impl Kustomization {
    /// The spec fields set that Lockstep does not serve yet, by path below `spec`, sorted.
    pub fn unserved(&self) -> Vec<String> {
        let kube_config = self.spec.kube_config.iter().flat_map(|k| {
            k.unserved
                .keys()
                .map(|key| format!("kubeConfig.{key}"))
                .chain(k.secret_ref.is_none().then(|| "kubeConfig".to_owned()))
        });
        let decryption = self
            .spec
            .decryption
            .iter()
            .filter(|d| d.service_account_name.is_some())
            .map(|_| "decryption.serviceAccountName".to_owned());
        let mut fields: Vec<String> = self
            .spec
            .unserved
            .keys()
            .cloned()
            .chain(kube_config)
            .chain(decryption)
            .collect();
        fields.sort();
        fields
    }

    /// What this Kustomization writes into the kustomization at its path, or `None` when
    /// it sets none of those fields (the path is then rendered as it is).
    pub fn overlay(&self) -> Option<Overlay> {
        let spec = &self.spec;
        let overlay = Overlay {
            name_prefix: spec.name_prefix.clone(),
            name_suffix: spec.name_suffix.clone(),
            patches: spec.patches.clone(),
            images: spec.images.clone(),
            components: spec.components.clone(),
            ignore_missing_components: spec.ignore_missing_components,
            ..Overlay::default()
        };
        let empty = Overlay {
            ignore_missing_components: overlay.ignore_missing_components,
            ..Overlay::default()
        };
        (overlay != empty).then_some(overlay)
    }
}

/// An object a health check looks at (Flux's `NamespacedObjectKindReference`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// `group/version` or `version` of the object; Flux reads an empty one as `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// Namespace of the object; empty for a cluster-scoped one (not the Kustomization's
    /// namespace: Flux does not default it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// Where a [`Kustomization`] finds the kubeconfig of a remote cluster.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct FluxKubeConfig {
    /// The Secret of the Kustomization's namespace and its key (default `value`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<KubeConfigSecretRef>,
    /// Other ways Flux reaches a cluster (`configMapRef`: cloud workload identity), kept
    /// so that they are refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// The fields a [`Kustomization`] writes into the kustomization at its path (or into one
/// generated there listing the manifests found) before it is built, as kustomize-controller
/// does: name prefix and suffix replace the kustomization's own, patches and components
/// are added after its own, images are merged by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overlay {
    /// `namePrefix`.
    pub name_prefix: Option<String>,
    /// `nameSuffix`.
    pub name_suffix: Option<String>,
    /// Added to `patches`.
    pub patches: Vec<Patch>,
    /// Merged into `images` by name.
    pub images: Vec<Image>,
    /// Added to `components`.
    pub components: Vec<String>,
    /// Leave out a component whose folder does not exist.
    pub ignore_missing_components: bool,
    /// Merged into `commonLabels` (Argo CD's `kustomize.commonLabels`; Flux has none).
    pub common_labels: Common,
    /// Merged into `commonAnnotations` (Argo CD's `kustomize.commonAnnotations`).
    pub common_annotations: Common,
}

/// Keys merged into a map of the kustomization, as `kustomize edit add label|annotation`
/// merges them: a key the file already sets is an error unless `force` is set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Common {
    /// The keys and values.
    pub values: BTreeMap<String, String>,
    /// Replace a key the file already sets (`--force`).
    pub force: bool,
}

/// An inline patch and the objects it applies to (kustomize's `patches` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Patch {
    /// A strategic-merge patch (YAML object) or a JSON 6902 patch (YAML list of
    /// operations).
    pub patch: String,
    /// The objects to patch; unset, the ones the strategic-merge patch names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// Which objects a [`Patch`] applies to; every field set must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    /// API group (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// API version (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Kind (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name (regular expression).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Annotation selector, as a label selector is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotation_selector: Option<String>,
    /// Label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_selector: Option<String>,
}

/// An image to rename, retag or pin by digest, wherever a container uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// The image name as the manifests write it.
    pub name: String,
    /// The name to use instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// The tag to use instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// The digest to use instead; wins over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Labels and annotations set on every applied object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to set; they replace an object's own under the same key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels to set; they replace an object's own under the same key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// The source of a [`Kustomization`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceReference {
    /// `GitRepository`; Flux's other kinds (`OCIRepository`, `Bucket`) are refused.
    pub kind: String,
    /// Name of the source.
    pub name: String,
    /// Namespace of the source; default the Kustomization's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Kustomization that must be Ready first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxDependency {
    /// Name of the Kustomization.
    pub name: String,
    /// Namespace of the Kustomization; default the dependent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A CEL expression over `self` and `dep` that decides alone whether the dependency
    /// is ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// How to decrypt manifests: SOPS, with keys from a Secret, as Lockstep's `Sync` does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FluxDecryption {
    /// Decryption provider; only `sops`.
    pub provider: String,
    /// Secret holding the decryption keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// The ServiceAccount whose cloud identity reaches the KMS (Flux's object-level
    /// workload identity). Not served: refused by name ([`Kustomization::unserved`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// Flux's `postBuild`: the variables to substitute, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// `WithVariables` (the default: substitute only when some variable is defined) or
    /// `Always`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitute_strategy: Option<SubstituteStrategy>,
    /// Variables by name; they win over every `substituteFrom` source.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets of the Kustomization's namespace whose data keys are
    /// variables; a later one wins over an earlier one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

/// When variables are substituted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SubstituteStrategy {
    /// Only when at least one variable is defined (Flux's default).
    #[default]
    WithVariables,
    /// Even when none is, so that `${var:=default}` expressions are expanded.
    Always,
}

/// A ConfigMap or Secret holding variables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: SubstituteKind,
    /// Its name, in the Kustomization's namespace.
    pub name: String,
    /// Whether a missing one counts as empty instead of failing the reconcile.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// The kinds variables are read from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SubstituteKind {
    /// A ConfigMap's `data`.
    #[default]
    ConfigMap,
    /// A Secret's `data`: its values are secret, never shown.
    Secret,
}

/// Observed state of a [`Kustomization`], as Flux writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct KustomizationStatus {
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `Healthy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision last applied successfully: `<ref>@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The revision last tried: `<ref>@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The objects applied by the last reconcile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<FluxInventory>,
    /// The last reconcile outcomes, newest first: one snapshot per distinct build and
    /// outcome, at most five (Flux's `meta.History`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Snapshot>,
}

/// One entry of a Kustomization's `status.history`: every reconcile of one build that
/// ended the same way.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// The build's checksum, `<algorithm>:<hex>`.
    pub digest: String,
    /// When this build first ended this way (RFC 3339).
    pub first_reconciled: String,
    /// When it last did (RFC 3339).
    pub last_reconciled: String,
    /// How long that reconcile took, as a Go duration (`1.5s`).
    pub last_reconciled_duration: String,
    /// How it ended: the Ready condition's reason.
    pub last_reconciled_status: String,
    /// How many reconciles of this build ended this way.
    pub total_reconciliations: i64,
    /// `revision`: the source revision built (Flux adds `originRevision` for OCI sources).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// Flux's `status.inventory`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FluxInventory {
    /// One entry per object.
    pub entries: Vec<InventoryRef>,
}

/// One object of Flux's inventory: `<namespace>_<name>_<group>_<kind>` (a `:` in the name
/// written `__`) and the API version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct InventoryRef {
    /// `<namespace>_<name>_<group>_<kind>`.
    pub id: String,
    /// The API version the object was applied with.
    pub v: String,
}

impl From<&InventoryEntry> for InventoryRef {
    fn from(entry: &InventoryEntry) -> Self {
        let name = entry.name.replace(':', "__");
        Self {
            id: format!("{}_{name}_{}_{}", entry.namespace, entry.group, entry.kind),
            v: entry.version.clone(),
        }
    }
}

impl InventoryRef {
    /// The entry this reference names, or `None` when `id` is not four fields.
    pub fn entry(&self) -> Option<InventoryEntry> {
        let (namespace, rest) = self.id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        let name = name.replace("__", ":");
        (!name.is_empty() && !kind.is_empty() && !name.contains('_')).then(|| InventoryEntry {
            group: group.to_owned(),
            version: self.v.clone(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, kind: &str, namespace: &str, name: &str) -> InventoryEntry {
        InventoryEntry {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// Ids as Flux writes them (cli-utils' `ObjMetadata`), read back to the same entry.
    #[test]
    fn inventory_ids_round_trip_in_flux_format() {
        let cases = [
            (entry("", "ConfigMap", "apps", "web"), "apps_web__ConfigMap"),
            (
                entry("apps", "Deployment", "apps", "web"),
                "apps_web_apps_Deployment",
            ),
            (entry("", "Namespace", "", "apps"), "_apps__Namespace"),
            (
                entry("rbac.authorization.k8s.io", "ClusterRole", "", "system:web"),
                "_system__web_rbac.authorization.k8s.io_ClusterRole",
            ),
        ];
        for (entry, id) in cases {
            let reference = InventoryRef::from(&entry);
            assert_eq!(reference.id, id);
            assert_eq!(reference.entry(), Some(entry));
        }
        let bad = InventoryRef {
            id: "apps_web".into(),
            v: "v1".into(),
        };
        assert_eq!(bad.entry(), None);
    }

    /// A spec written for Flux with fields Lockstep does not serve reads, and names them.
    #[test]
    fn unserved_fields_are_named() {
        let ks: Kustomization = serde_json::from_value(serde_json::json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "interval": "10m",
                "prune": true,
                "postBuild": {"substitute": {"cluster": "prod"}},
                "namePrefix": "prod-",
                "healthChecks": [{"kind": "Deployment", "name": "web"}],
                "healthCheckExprs": [{"apiVersion": "example.com/v1", "current": "true"}],
                "kubeConfig": {"configMapRef": {"name": "cluster"}},
                "decryption": {"provider": "sops", "serviceAccountName": "kms"},
            },
        }))
        .unwrap();
        assert!(ks.spec.prune);
        assert_eq!(ks.spec.health_checks[0].api_version, None);
        assert_eq!(ks.spec.health_check_exprs[0].kind, None);
        let unserved = [
            "decryption.serviceAccountName",
            "kubeConfig",
            "kubeConfig.configMapRef",
        ];
        assert_eq!(ks.unserved(), unserved);
        let overlay = ks.overlay().unwrap();
        assert_eq!(overlay.name_prefix.as_deref(), Some("prod-"));
        let post_build = ks.spec.post_build.unwrap();
        assert_eq!(post_build.substitute["cluster"], "prod");
    }
}

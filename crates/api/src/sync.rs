//! `Sync`: which path of a source to apply to a cluster, and how.

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};

use crate::common::{
    Condition, InventoryEntry, LocalObjectReference, Plan, ResourceIgnoreDifferences,
};

/// Keeps the objects under one path of a [`crate::GitSource`] applied to a cluster.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "lockstep.dev",
    version = "v1alpha1",
    kind = "Sync",
    namespaced,
    status = "SyncStatus",
    shortname = "lsync",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Mode","type":"string","jsonPath":".spec.mode"}"#,
    printcolumn = r#"{"name":"Suspended","type":"boolean","jsonPath":".spec.suspend"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct SyncSpec {
    /// The source to take manifests from.
    pub source_ref: CrossNamespaceObjectReference,
    /// Folder inside the source, relative to its root; default the root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to reconcile, which is also how soon drift is corrected (Go duration).
    pub interval: String,
    /// How soon to retry after a failure; default `interval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_interval: Option<String>,
    /// Retries after a failed apply with exponential backoff instead of at
    /// `retryInterval` (an Argo CD Application's `syncPolicy.retry`). Set only by a
    /// front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub backoff: Option<Backoff>,
    /// Which files of a plain folder at `path` are read (an Argo CD Application's
    /// `source.directory`); unset, every manifest file in it and its sub-folders. Set only
    /// by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub directory: Option<Directory>,
    /// The Argo CD `AppProject` whose resource rules every object must pass (kinds, and
    /// namespaces among its destinations). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub project: Option<std::sync::Arc<crate::argocd::ProjectRules>>,
    /// The Argo CD cluster Secret (in the Sync's namespace) holding the address and
    /// credentials of the cluster to apply to: an Application's remote destination. Set
    /// only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub cluster_secret: Option<String>,
    /// Keep the applied objects when the Sync is deleted, unless one says `Delete=true`
    /// (an Argo CD Application's `Delete=false`). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub keep_on_delete: bool,
    /// Prune only once every applied object is healthy (an Argo CD Application's
    /// `PruneLast=true`). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub prune_last: bool,
    /// Write changed objects by replacing them whole (an Argo CD Application's
    /// `Replace=true`). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub replace: bool,
    /// Leave the hooks out: objects marked as hooks are neither applied nor run (an Argo CD
    /// sync with the `apply` strategy). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub skip_hooks: bool,
    /// Create `targetNamespace` before the apply when it is missing (a Flux HelmRelease's
    /// `install.createNamespace`). Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub create_namespace: bool,
    /// Delete objects that left the source (and still carry our ownership labels).
    #[serde(default)]
    pub prune: bool,
    /// Revert changes made to managed fields in the cluster.
    #[serde(default)]
    pub self_heal: bool,
    /// `auto` applies every new revision; `manual` reports a plan and waits for the
    /// `lockstep.dev/approvedRevision` annotation to name the revision.
    #[serde(default)]
    pub mode: SyncMode,
    /// Namespace set on every namespaced object that is applied. With `helm`: the release
    /// namespace, set only on the objects that name none (default the Sync's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Syncs that must be Ready before this one applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependsOn>,
    /// Wait for every applied object to be healthy.
    #[serde(default)]
    pub wait: bool,
    /// Objects to wait for when `wait` is false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<HealthCheck>,
    /// How to tell the health of custom resources the built-in rules do not know, as CEL
    /// expressions per kind (Flux's `healthCheckExprs`): they replace the built-in rules
    /// for objects of that kind, wherever `wait` or `healthChecks` checks one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_check_exprs: Vec<HealthCheckExpr>,
    /// Budget for render, apply and health checks (Go duration); default
    /// `interval - 30s`, at least `30s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Stop applying, correcting drift and pruning.
    #[serde(default)]
    pub suspend: bool,
    /// Delete and recreate objects whose change touches an immutable field.
    #[serde(default)]
    pub force: bool,
    /// What deleting the Sync does to the objects it applied: `MirrorPrune` (unset: delete
    /// them when `prune` is on), `Delete`, `WaitForTermination` (delete them and wait until
    /// they are gone, up to `timeout`, before the Sync goes) or `Orphan`. As Flux's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Take objects that another Sync (or `lockstep apply --name`) holds, instead of
    /// refusing the revision. Off (unset) by default: the Sync is then `Ready=False
    /// OwnershipConflict` naming the owner, and nothing of the revision is applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_ownership: Option<bool>,
    /// ServiceAccount of the Sync's namespace to impersonate for every apply, dry-run,
    /// prune and health read, so that the Sync can do only what the account may (Flux's
    /// `serviceAccountName`). Unset: the controller's `--default-service-account`, else the
    /// controller's own identity. With `kubeConfig`, the kubeconfig's identity
    /// impersonates the same account in the remote cluster, as Flux does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// Apply to the cluster of this kubeconfig instead of the local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_config: Option<KubeConfigRef>,
    /// Decrypt SOPS-encrypted manifests before applying them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<Decryption>,
    /// Render a Helm chart of the source with `helm template` instead of reading the
    /// manifests at `path`; SOPS-encrypted values files are decrypted in memory with
    /// `decryption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<Helm>,
    /// Without `helm`: render `path` as a chart with the default options when it holds a
    /// `Chart.yaml` (Argo CD's detection of a Helm source), released into
    /// `default_namespace`. Set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub helm_when_chart: bool,
    /// Fields another controller sets (an autoscaler's `spec.replicas`): their differences
    /// are not drift, and an object written for another reason keeps their live value
    /// (Argo CD's `ignoreDifferences` with `RespectIgnoreDifferences=true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    /// Ignore `ignore_differences` only when comparing, and write Git's value when the
    /// object is written for another reason (Argo CD without `RespectIgnoreDifferences`).
    /// Set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub ignore_only_in_comparison: bool,
    /// Prune even when the source renders no object (Argo CD's `automated.allowEmpty`);
    /// otherwise an empty source never deletes everything. Set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub allow_empty: bool,
    /// Namespace for namespaced objects that set none (Argo CD's `destination.namespace`).
    /// Not part of the `Sync` API: only a front-end sets it, on the in-memory Sync it
    /// reads a peer resource as, so it is never serialized nor in the CRD.
    #[serde(skip)]
    #[schemars(skip)]
    pub default_namespace: Option<String>,
    /// Variables to substitute into the rendered objects (a Flux Kustomization's
    /// `postBuild`). Like `default_namespace`, set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub post_build: Option<crate::flux::PostBuild>,
    /// What to write into the kustomization at `path` before it is built (a Flux
    /// Kustomization's `namePrefix`, `patches`, `images`, …). Set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub overlay: Option<crate::flux::Overlay>,
    /// Labels and annotations set on every object after `post_build` (a Flux
    /// Kustomization's `commonMetadata`). Set only by a front-end.
    #[serde(skip)]
    #[schemars(skip)]
    pub common_metadata: Option<crate::flux::CommonMetadata>,
}

/// What deleting a Sync does to the objects it applied (Flux's `deletionPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete them when `prune` is on, orphan them when it is off.
    #[default]
    MirrorPrune,
    /// Delete them.
    Delete,
    /// Delete them and wait, up to `timeout`, until they are gone.
    WaitForTermination,
    /// Leave them.
    Orphan,
}

impl DeletionPolicy {
    /// Whether deleting a Sync with `prune` deletes its objects.
    pub fn deletes(self, prune: bool) -> bool {
        match self {
            Self::MirrorPrune => prune,
            Self::Delete | Self::WaitForTermination => true,
            Self::Orphan => false,
        }
    }
}

/// Automatic or approved application of new revisions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Apply every new revision.
    #[default]
    Auto,
    /// Compute and report the plan; apply only an approved revision.
    Manual,
}

/// A reference to a source, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceObjectReference {
    /// Kind of the source: `GitSource` (the default), `HelmRepository` (Flux's
    /// `source.toolkit.fluxcd.io/v1`, whose CRD Lockstep ships) for a chart of a Helm
    /// repository, named by `helm.chart` and `helm.version`, or `OCIRepository` (Flux's
    /// too) for the chart its `url` and `ref` name (`helm` set, without `chart` and
    /// `version`).
    #[serde(default = "git_source_kind")]
    pub kind: String,
    /// Name of the source.
    pub name: String,
    /// Namespace of the source; default the Sync's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

fn git_source_kind() -> String {
    "GitSource".to_owned()
}

/// A Sync that must be Ready first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependsOn {
    /// Name of the Sync.
    pub name: String,
    /// Namespace of the Sync; default the dependent's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// A CEL expression over `self` (this Sync) and `dep` (the dependency) that decides
    /// alone whether the dependency is ready, instead of its `Ready` condition (Flux's
    /// `readyExpr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_expr: Option<String>,
}

/// An object whose health gates readiness.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheck {
    /// `group/version` or `version` of the object.
    pub api_version: String,
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
    /// Namespace of the object; empty for cluster-scoped ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The health of one kind told by CEL expressions over the object's top-level fields
/// (`status`, `metadata`, `data`, …), as Flux's `CustomHealthCheck`. A
/// `status.observedGeneration` behind `metadata.generation` is in progress whatever they
/// say; then `inProgress`, `failed` and `current` are tried in that order and the first
/// true one decides; none true is in progress.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthCheckExpr {
    /// `group/version` or `version` of the kind; only the group is matched.
    pub api_version: String,
    /// The kind; unset: every kind of the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// True when the object has reached its desired state.
    pub current: String,
    /// True when the object is still getting there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_progress: Option<String>,
    /// True when the object will not get there without a change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

/// A kubeconfig kept in a Secret of the Sync's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KubeConfigRef {
    /// The Secret.
    pub secret_ref: KubeConfigSecretRef,
}

/// The Secret and key holding a kubeconfig.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct KubeConfigSecretRef {
    /// Name of the Secret.
    pub name: String,
    /// Key in the Secret; default `value`, else `value.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// How to decrypt manifests. A placeholder the secrets work fills in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Decryption {
    /// Decryption provider; only `sops`.
    pub provider: String,
    /// Secret holding the decryption keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
}

/// A Helm chart in the source (a folder of a GitSource, or a chart of a HelmRepository),
/// rendered with `helm template` and applied like any other path: the same staged apply, inventory, prune and health. Named like Argo CD's
/// `source.helm` and Flux's `HelmRelease`, so a chart's settings read the same here.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Helm {
    /// Folder of the chart (the one holding `Chart.yaml`) inside the source; default
    /// `path`. With a `HelmRepository` source: the chart's name in the repository; from an
    /// `oci://` one it may pin a manifest digest (`web@sha256:<hex>`) or a tag
    /// (`web:1.2.3`), which wins over `version`. Dependencies its `charts/` lacks are
    /// fetched from the repositories `Chart.yaml` names before it renders.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// With a `HelmRepository` source: the chart version, or a constraint read by Helm's
    /// rules (`1.2.x`, `>=1.0.0 <2.0.0`, `1.2` meaning `1.2.x`); default `*`, the highest
    /// release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The release name (`.Release.Name`); default the Sync's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Values files, relative to the chart folder and inside the source, merged in order
    /// over the chart's own `values.yaml`. A SOPS-encrypted one is decrypted in memory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Leave out a `valuesFiles` entry that does not exist instead of failing (Flux's
    /// `ignoreMissingValuesFiles`, Argo CD's `ignoreMissingValueFiles`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    /// ConfigMap and Secret keys of the Sync's namespace holding values documents, merged in
    /// order over `valuesFiles` and under `values` (Flux's `valuesFrom`). Read at each
    /// reconcile; values from a Secret reach helm only in memory and are scrubbed from
    /// every message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    /// Values merged over `valuesFiles` and `valuesFrom` (Helm's `--set` place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Apply the chart's `crds/` folder (`--include-crds`); default true, as `helm
    /// install` does.
    #[serde(
        default,
        rename = "includeCRDs",
        skip_serializing_if = "Option::is_none"
    )]
    pub include_crds: Option<bool>,
    /// Leave the chart's test hooks out of the render (`--skip-tests`). They are never
    /// applied either way; set it when a test template does not render offline.
    #[serde(default)]
    pub skip_tests: bool,
    /// Render without hooks (`helm template --no-hooks`, `helm install --no-hooks`): the
    /// chart's `helm.sh/hook` templates are neither applied nor run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Values read from files of the source, each as one string at a path (`helm
    /// --set-file`, Argo CD's `fileParameters`), set over every other value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<FileParameter>,
    /// `.Capabilities.KubeVersion` to render with (`1.33.0`) instead of the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// The API versions to render with (`group/version` or `group/version/Kind`, helm's
    /// `--api-versions`) instead of the cluster's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Render without checking the values against the chart's `values.schema.json`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_schema_validation: bool,
    /// Kustomize patches and images applied, in order, to what the chart rendered, as
    /// Flux's `postRenderers` apply them (`crds/` is never post-rendered).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderers: Vec<PostRenderer>,
    /// Whether hooks go through `postRenderers`: `combined` (default, Helm 4's) with the
    /// templates, `separate` in a stream of their own, `nohooks` not at all (Helm 3's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_render_strategy: Option<PostRenderStrategy>,
    /// Write Helm's release records (`sh.helm.release.v1` Secrets), as `helm install` and
    /// `helm upgrade` write them, a revision per change of chart, values or objects: `helm
    /// list`, `helm history` and `helm get` show the release, and Helm or Flux take it back
    /// as an upgrade. Unset, none is written (Argo CD writes none either).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<HelmStorage>,
    /// Values read from Secrets (a Flux HelmRelease's `valuesFrom`), merged after the
    /// values files and before `values`. Set only by a front-end, never serialized.
    #[serde(skip)]
    #[schemars(skip)]
    pub secret_values: SecretValues,
}

/// Which files of a folder are read, as Argo CD's `source.directory` chooses them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Directory {
    /// Read the sub-folders too.
    pub recurse: bool,
    /// Read only the files whose path below the folder matches this glob (`*.yaml`,
    /// `{a.yaml,b.yaml}`; `*` matches `/` too).
    pub include: Option<String>,
    /// Leave out the files whose path below the folder matches this glob.
    pub exclude: Option<String>,
}

/// Exponential backoff of the retries after a failed apply, as Argo CD's `retry` reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// How many retries; `None`, no limit.
    pub limit: Option<u32>,
    /// The wait before the first retry.
    pub duration: std::time::Duration,
    /// What each wait is multiplied by for the next.
    pub factor: u32,
    /// The longest wait; zero, no bound.
    pub max_duration: std::time::Duration,
}

impl Backoff {
    /// The wait before retry number `retries` (from 0): `duration * factor^retries`, at
    /// most `max_duration` (without one, at most a day, so a wait always ends); `None`
    /// once `limit` retries were made.
    pub fn delay(&self, retries: u32) -> Option<std::time::Duration> {
        const DAY: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);
        if self.limit.is_some_and(|limit| retries >= limit) {
            return None;
        }
        let wait = (self.factor.checked_pow(retries))
            .and_then(|growth| self.duration.checked_mul(growth))
            .unwrap_or(DAY);
        Some(match self.max_duration.is_zero() {
            true => wait.min(DAY),
            false => wait.min(self.max_duration),
        })
    }
}

/// Where a chart's Helm release records are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmStorage {
    /// The namespace of the record Secrets; default the release namespace, as Helm's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How many revisions to keep, the newest (Helm's `--history-max`); default 10, 0
    /// keeps all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<u32>,
}

/// A value read from a file (`helm --set-file name=path`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FileParameter {
    /// The values path (`config.script`, `a\.b` for a dot in a key).
    pub name: String,
    /// The file, relative to the chart folder and inside the source.
    pub path: String,
}

/// One post-render step of a chart (Flux's `postRenderers` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PostRenderer {
    /// Patches and images applied with `kustomize build` to the rendered objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<PostRenderKustomize>,
}

/// A kustomization built over a chart's rendered objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PostRenderKustomize {
    /// Inline strategic-merge or JSON 6902 patches, with their targets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<crate::flux::Patch>,
    /// Images to rename, retag or pin by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<crate::flux::Image>,
}

/// Which of a chart's rendered objects go through its post-renderers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum PostRenderStrategy {
    /// Hooks and templates together (Helm 4's default).
    #[default]
    #[serde(rename = "combined")]
    Combined,
    /// Hooks and templates each in a stream of their own.
    #[serde(rename = "separate")]
    Separate,
    /// Templates only; hooks as rendered (Helm 3's behaviour).
    #[serde(rename = "nohooks")]
    NoHooks,
}

/// A ConfigMap or Secret key holding a Helm values document (Flux's `valuesFrom` entry).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesFrom {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesFromKind,
    /// Its name, in the Sync's namespace.
    pub name: String,
    /// The key holding the values document; default `values.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// Skip a missing object or key instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
    /// Set the key's content, as one value, at this path of the values (`auth.password`,
    /// `hosts[0].name`) the way `helm --set` does, instead of merging it as a document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
}

/// What a [`ValuesFrom`] names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ValuesFromKind {
    /// A ConfigMap's `data` key.
    #[default]
    ConfigMap,
    /// A Secret's `data` key.
    Secret,
}

/// Helm values that came from Secrets, as the JSON of one map: shared, not copied, when
/// the Sync is cloned, wiped when the last holder drops it, and never shown by `Debug`.
/// The render learns every value in it, so no message quotes one.
#[derive(Clone, Default)]
pub struct SecretValues(pub Option<std::sync::Arc<zeroize::Zeroizing<Vec<u8>>>>);

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = if self.0.is_some() {
            "<redacted>"
        } else {
            "None"
        };
        f.debug_tuple("SecretValues").field(&shown).finish()
    }
}

impl PartialEq for SecretValues {
    /// The same values only when the same shared bytes (or both none): comparing the
    /// plaintext would be a timing oracle, and a Sync is never compared for them.
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

/// An object of any fields (Helm values), kept whole by the API server.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// Observed state of a [`Sync`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct SyncStatus {
    /// `Ready`, `Reconciling`, `Stalled`, `Healthy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The revision last tried: `<ref>@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The revision last applied successfully: `<ref>@sha1:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The objects applied by the last successful reconcile, in apply order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<InventoryEntry>,
    /// In manual mode: what the next approved apply would do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    /// The revisions applied, newest first, at most [`HISTORY_LIMIT`]: each the first time
    /// it was applied and healthy (what `lockstep history` lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<AppliedRevision>,
    /// The last value of the `lockstep.dev/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_requested_at: Option<String>,
    /// Where the secrets of the last revision rendered came from: the SOPS files decrypted,
    /// with the keys each is encrypted to, and the references resolved. Never a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsUsed>,
    /// The objects (`group/Kind/namespace/name`) the last comparison found differing from
    /// the applied revision, while `Drifted` is true. Kept in memory for a front-end's
    /// status (an Argo CD Application's `OutOfSync` resources); never written.
    #[serde(skip)]
    #[schemars(skip)]
    pub drifted: Vec<String>,
}

/// Where a revision's secrets came from (`status.secrets`): what a person auditing the
/// Sync needs to know which keys and paths it depends on, never a value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretsUsed {
    /// Each SOPS-encrypted file decrypted, in path order, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sops_files: Vec<SopsFileUsed>,
    /// Each Vault or AWS KMS reference resolved, at most 50.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<ReferenceUsed>,
    /// How many files and references were left out of the lists above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<u32>,
}

/// How many SOPS files and how many references `status.secrets` lists.
pub const SECRETS_LIMIT: usize = 50;

/// One SOPS-encrypted file a revision decrypted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SopsFileUsed {
    /// The file, relative to the source's root.
    pub path: String,
    /// The keys its data key is encrypted to, as `type:identity`: `age:age1…`,
    /// `pgp:<fingerprint>`, `kms:<ARN>`, `gcp_kms:<resource>`, `azure_kv:<vault>/keys/<name>`,
    /// `hc_vault:<address>/v1/<engine>/keys/<name>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// The file's `sops.lastmodified` (RFC 3339): when its values or keys last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
}

/// One reference a revision resolved into a Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReferenceUsed {
    /// The Secret, `namespace/name`.
    pub secret: String,
    /// The key of its `stringData` that held the reference.
    pub key: String,
    /// The reference as written (`ref+vault://…`), a KMS ciphertext shortened.
    pub reference: String,
}

/// How many applied revisions a Sync's `status.history` keeps.
pub const HISTORY_LIMIT: usize = 10;

/// One revision a Sync applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedRevision {
    /// The source revision: `<ref>@sha1:<hex>`.
    pub revision: String,
    /// When it was applied and found healthy (RFC 3339).
    pub applied_at: String,
    /// The first line of the commit's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The commit's author (name only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// When the commit was authored (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_at: Option<String>,
    /// How long the reconcile that applied it took, as a Go duration in milliseconds
    /// (`850ms`, `12.412s`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Waits grow by the factor up to the bound, and stop once the limit is reached.
    #[test]
    fn backoff_grows_to_its_bound_and_stops_at_its_limit() {
        let backoff = Backoff {
            limit: Some(4),
            duration: Duration::from_secs(5),
            factor: 2,
            max_duration: Duration::from_secs(15),
        };
        let waits: Vec<_> = (0..5).map(|n| backoff.delay(n)).collect();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(waits, [secs(5), secs(10), secs(15), secs(15), None]);
        let endless = Backoff {
            limit: None,
            max_duration: Duration::ZERO,
            ..backoff
        };
        assert_eq!(endless.delay(40), secs(24 * 60 * 60), "a day at most");
    }
}

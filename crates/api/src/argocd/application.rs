//! `Application`: a source path applied to a destination, as Argo CD's application
//! controller reads it, and its status as Argo CD writes it.

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceDefinition, JSONSchemaProps,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::ResourceIgnoreDifferences;

/// The served subset of Argo CD's Application spec (objects are read as
/// `Application`, with the top-level `operation`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "Application",
    root = "ApplicationCrd",
    namespaced,
    status = "ApplicationStatus",
    shortname = "app",
    shortname = "apps",
    printcolumn = r#"{"name":"Sync Status","type":"string","jsonPath":".status.sync.status"}"#,
    printcolumn = r#"{"name":"Health Status","type":"string","jsonPath":".status.health.status"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.sync.revision","priority":10}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApplicationSpec {
    /// The single source (`sources`, several, is refused by name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// The cluster and default namespace to apply to.
    pub destination: ApplicationDestination,
    /// The AppProject whose rules apply; `default` (also when empty) allows everything
    /// unless an AppProject of that name restricts it.
    pub project: String,
    /// When to sync: automatically (`automated`), or only when a sync is requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_policy: Option<SyncPolicy>,
    /// Fields whose differences are ignored (for comparing only, unless the sync option
    /// `RespectIgnoreDifferences=true` is set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore_differences: Vec<ResourceIgnoreDifferences>,
    /// How many `status.history` entries are kept; default 10, as Argo CD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i64>,
    /// Every other field of Argo CD's spec (`sources`, `info`, …),
    /// kept so that one Lockstep does not serve is refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// Where the manifests are: a Git repository, a revision and a path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ApplicationSource {
    /// Git repository URL (`https://`, `http://`, `ssh://`), or with `chart` a Helm
    /// repository URL (`https://`, `http://`).
    #[serde(rename = "repoURL")]
    pub repo_url: String,
    /// `HEAD` (unset), a branch, a tag or a commit SHA; with `chart` the chart version or
    /// a constraint (`1.2.*`, `>=1.0.0 <2.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_revision: Option<String>,
    /// A chart of the Helm repository at `repoURL`, instead of a Git path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// Folder inside the repository; default its root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Options of a plain directory of manifests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<DirectoryOptions>,
    /// Kustomize options, written into the kustomization at `path` before it is built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kustomize: Option<KustomizeOptions>,
    /// Helm options: `path` is a chart folder (holding `Chart.yaml`) rendered with `helm
    /// template`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmOptions>,
    /// Every other field (`plugin`, `ref`, …), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// Argo CD's `directory` source options.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct DirectoryOptions {
    /// Read sub-folders too; default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recurse: Option<bool>,
    /// Read only the files whose path below the folder matches this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include: Option<String>,
    /// Leave out the files whose path below the folder matches this glob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude: Option<String>,
    /// Every other field (`jsonnet`), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// Argo CD's `helm` source options for a chart folder in Git.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HelmOptions {
    /// The release name; default the Application's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// Values files, relative to the chart folder, merged in order over its `values.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub value_files: Vec<String>,
    /// Values as a YAML document, merged over `valueFiles` (unused when `valuesObject` is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<String>,
    /// Values as an object, merged over `valueFiles`; replaces `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sync::free_form_object")]
    pub values_object: Option<serde_json::Map<String, Value>>,
    /// Leave the chart's `crds/` folder out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_crds: bool,
    /// Leave the chart's test templates out (`--skip-tests`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_tests: bool,
    /// The release namespace; default the destination namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Values set one by one over everything else, as `--set name=value` (`--set-string`
    /// with `forceString`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<HelmParameter>,
    /// Leave out a `valueFiles` entry that does not exist instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_value_files: bool,
    /// Values read from files of the repository (`--set-file name=path`), the path
    /// relative to the chart folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_parameters: Vec<crate::FileParameter>,
    /// `.Capabilities.KubeVersion` instead of the cluster's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// API versions (`[group/]version/kind`) instead of the cluster's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    /// Skip the chart's `values.schema.json` check.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub skip_schema_validation: bool,
    /// The Helm major version: `v3`, the only one Argo CD still renders with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Every other field (`passCredentials`, …), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// One of Argo CD's `helm.parameters`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmParameter {
    /// The values path (`image.tag`, `hosts[0]`, `a\.b` for a dot in a key).
    #[serde(default)]
    pub name: String,
    /// The value, typed as `--set` types it unless `forceString`.
    #[serde(default)]
    pub value: String,
    /// Keep the value a string (`--set-string`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_string: bool,
}

/// Argo CD's `kustomize` source options: what `argocd-repo-server` writes into the
/// kustomization at the path (`kustomize edit set nameprefix`, `set image`, `add
/// component`, the `patches` appended) before `kustomize build`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct KustomizeOptions {
    /// Replaces the kustomization's `namePrefix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_prefix: Option<String>,
    /// Replaces the kustomization's `nameSuffix`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Images in `kustomize edit set image` form: `name=newName:tag`, `name:tag`,
    /// `name@digest`, `name=newName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    /// Sets the namespace of every namespaced object (`kustomize edit set namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Added after the kustomization's own `patches`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<KustomizePatch>,
    /// Added after the kustomization's own `components`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Leave out a component whose folder does not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_components: bool,
    /// Added to the kustomization's `commonLabels` (`kustomize edit add label`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    /// Replace a `commonLabels` key the kustomization sets (else that is an error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_common_labels: bool,
    /// Added to the kustomization's `commonAnnotations` (`kustomize edit add annotation`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_annotations: BTreeMap<String, String>,
    /// Replace a `commonAnnotations` key the kustomization sets (else that is an error).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_common_annotations: bool,
    /// Substitute the `ARGOCD_APP_*` build variables into `commonAnnotations` values too
    /// (they always are into `images` and `commonLabels`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub common_annotations_envsubst: bool,
    /// Every other field (`replicas`, `version`, `labelWithoutSelector`, …), refused by
    /// name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// One of Argo CD's kustomize `patches`: an inline patch and the objects it applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct KustomizePatch {
    /// A strategic-merge patch (YAML object) or a JSON 6902 patch (YAML list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// The objects to patch; unset, the ones the strategic-merge patch names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<crate::flux::Selector>,
    /// Every other field (`path`, `options`), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// The cluster (by `server` URL or `name`) and the namespace of namespaced objects that
/// name none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ApplicationDestination {
    /// API server URL; only the in-cluster `https://kubernetes.default.svc` is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Cluster name; only `in-cluster` is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace for namespaced objects that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// When and how to sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SyncPolicy {
    /// Sync every new revision automatically; unset, only a requested sync runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automated: Option<Automated>,
    /// `Name=value` options; `CreateNamespace=true` is served, others are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Labels and annotations set on the destination namespace with `CreateNamespace=true`
    /// (server-side, so the namespace's other labels and annotations stay).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_namespace_metadata: Option<ManagedNamespaceMetadata>,
    /// Retries of a failed sync, with exponential backoff.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Every other field, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `syncPolicy.retry`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct RetryStrategy {
    /// How many retries; 0 (the default) none, negative no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// The waits between retries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<RetryBackoff>,
    /// Retry at the latest revision (Lockstep always does).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// `syncPolicy.retry.backoff`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct RetryBackoff {
    /// The first wait: seconds, or a Go duration (`5s`, `2m`); default `5s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// What each wait is multiplied by for the next; default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<i64>,
    /// The longest wait: seconds or a Go duration; default `3m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<String>,
}

/// `syncPolicy.managedNamespaceMetadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ManagedNamespaceMetadata {
    /// Labels to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations to set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Automated sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct Automated {
    /// Delete objects that left the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prune: Option<bool>,
    /// Revert changes made in the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_heal: Option<bool>,
    /// `false` turns automated sync off while keeping the block (Argo CD 3.x).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Sync a revision that renders no object, pruning every object applied; unset or
    /// false, such a revision prunes nothing (Argo CD refuses to "wipe out all resources").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_empty: Option<bool>,
    /// Every other field, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// An Argo CD `Application`, with the top-level `operation` a requested sync writes
/// (`argocd app sync`), which a generated custom resource type has no room for.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Application {
    /// Standard object metadata.
    pub metadata: ObjectMeta,
    /// What to apply, where, and when.
    pub spec: ApplicationSpec,
    /// What Argo CD (or Lockstep serving it) observed.
    #[serde(default)]
    pub status: Option<ApplicationStatus>,
    /// A requested operation, removed once it ran.
    #[serde(default)]
    pub operation: Option<Operation>,
}

impl k8s_openapi::Resource for Application {
    const API_VERSION: &'static str = "argoproj.io/v1alpha1";
    const GROUP: &'static str = super::GROUP;
    const KIND: &'static str = "Application";
    const VERSION: &'static str = super::VERSION;
    const URL_PATH_SEGMENT: &'static str = "applications";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for Application {
    type Ty = ObjectMeta;

    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl Application {
    /// The spec fields set that Lockstep does not serve, by path (`spec.sources`,
    /// `spec.source.helm`, …), sorted within each block.
    pub fn unserved(&self) -> Vec<String> {
        let spec = &self.spec;
        let named = |prefix: &str, map: &BTreeMap<String, Value>| {
            map.keys()
                .map(|key| format!("{prefix}.{key}"))
                .collect::<Vec<_>>()
        };
        let mut fields = named("spec", &spec.unserved);
        if let Some(source) = &spec.source {
            fields.extend(named("spec.source", &source.unserved));
            if let Some(directory) = &source.directory {
                fields.extend(named("spec.source.directory", &directory.unserved));
            }
            if let Some(helm) = &source.helm {
                fields.extend(named("spec.source.helm", &helm.unserved));
            }
            if let Some(kustomize) = &source.kustomize {
                fields.extend(named("spec.source.kustomize", &kustomize.unserved));
                for (i, patch) in kustomize.patches.iter().enumerate() {
                    let prefix = format!("spec.source.kustomize.patches[{i}]");
                    fields.extend(named(&prefix, &patch.unserved));
                    if patch.patch.is_none() {
                        fields.push(format!("{prefix} without patch"));
                    }
                }
            }
        }
        if let Some(policy) = &spec.sync_policy {
            fields.extend(named("spec.syncPolicy", &policy.unserved));
            if let Some(automated) = &policy.automated {
                fields.extend(named("spec.syncPolicy.automated", &automated.unserved));
            }
        }
        fields
    }
}

/// Argo CD's Application CRD as Lockstep serves it: the generated one, plus the top-level
/// `operation` (kept whole) that `argocd app sync` writes, and, as Argo CD's, without a
/// status subresource: status is written with the object, so a controller written for
/// either CRD works with the other.
pub fn application_crd() -> CustomResourceDefinition {
    let mut crd = ApplicationCrd::crd();
    for version in &mut crd.spec.versions {
        version.subresources = None;
        let root = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut());
        if let Some(root) = root {
            let operation = JSONSchemaProps {
                type_: Some("object".into()),
                description: Some("A requested operation (a sync), removed once it ran.".into()),
                x_kubernetes_preserve_unknown_fields: Some(true),
                ..JSONSchemaProps::default()
            };
            root.properties
                .get_or_insert_default()
                .insert("operation".into(), operation);
        }
    }
    crd
}

/// A requested operation: a sync, as Argo CD's API server (`argocd app sync`, `argocd app
/// rollback`) or a hand-written patch writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct Operation {
    /// The sync asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncOperation>,
    /// Who asked (a user, or Argo CD's automated sync); read by people only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiated_by: Option<OperationInitiator>,
    /// Notes on the operation (`argocd app sync --info name=value`); read by people only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub info: Vec<Info>,
    /// Retries of the sync when it fails, with exponential backoff (Argo CD's API server
    /// copies `syncPolicy.retry` here; `{}` or a `limit` of 0 retries never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryStrategy>,
    /// Every other field, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `operation.initiatedBy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct OperationInitiator {
    /// The user who asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// True when Argo CD's automated sync asked.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub automated: bool,
}

/// One of `operation.info`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Info {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its value.
    #[serde(default)]
    pub value: String,
}

/// A requested sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SyncOperation {
    /// Delete objects that left the source in this sync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune: bool,
    /// The revision to sync instead of `targetRevision` (a commit, branch or tag; a chart
    /// version): what `argocd app rollback` and `argocd app sync --revision` write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The source to sync; `argocd app rollback` writes the history entry's. Served when it
    /// names the same repository, path and chart as `spec.source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// How the sync runs: `hook` (Argo CD's default, what `argocd app sync` writes) or
    /// `apply` (hooks left out, what `argocd app rollback` writes), each with `force`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_strategy: Option<SyncStrategy>,
    /// The sync options of this sync, in place of `syncPolicy.syncOptions` (Argo CD's API
    /// server copies those here unless the request names its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_options: Vec<String>,
    /// Every other field (`resources`, `dryRun`, …), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `operation.sync.syncStrategy`: one of `apply` and `hook` (`apply` wins when both are
/// set, as in Argo CD).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SyncStrategy {
    /// Apply the objects and leave the hooks out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apply: Option<StrategyOptions>,
    /// Apply the objects and run the hooks around them (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<StrategyOptions>,
    /// Every other field, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// The options of either sync strategy (Argo CD's `SyncStrategyApply`, which its
/// `SyncStrategyHook` embeds).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct StrategyOptions {
    /// Delete and create again an object a change cannot be written to (`kubectl apply
    /// --force`), as the sync option `Force=true` does for every object.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Every other field, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

impl SyncStrategy {
    /// Whether hooks run: not with `apply`.
    pub fn runs_hooks(&self) -> bool {
        self.apply.is_none()
    }

    /// The options of the strategy in force: `apply` when set, else `hook`.
    pub fn options(&self) -> Option<&StrategyOptions> {
        self.apply.as_ref().or(self.hook.as_ref())
    }
}

impl Operation {
    /// The operation's fields set that Lockstep does not serve, by path
    /// (`operation.sync.resources`, …); a field at its zero value (`false`, `0`, an empty
    /// list or string) reads as unset, as Argo CD's Go types read it.
    pub fn unserved(&self) -> Vec<String> {
        let named = |prefix: &str, map: &BTreeMap<String, Value>| {
            let set = |value: &Value| match value {
                Value::Null | Value::Bool(false) => false,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                Value::Array(a) => !a.is_empty(),
                Value::Bool(true) | Value::Object(_) => true,
            };
            map.iter()
                .filter(|(_, value)| set(value))
                .map(|(key, _)| format!("{prefix}.{key}"))
                .collect::<Vec<_>>()
        };
        let mut fields = named("operation", &self.unserved);
        if let Some(sync) = &self.sync {
            fields.extend(named("operation.sync", &sync.unserved));
            if let Some(strategy) = &sync.sync_strategy {
                fields.extend(named("operation.sync.syncStrategy", &strategy.unserved));
                for (name, options) in [("apply", &strategy.apply), ("hook", &strategy.hook)] {
                    let prefix = format!("operation.sync.syncStrategy.{name}");
                    fields.extend(options.iter().flat_map(|o| named(&prefix, &o.unserved)));
                }
            }
        }
        fields
    }
}

/// Observed state of an [`Application`], in the fields Argo CD writes and its CLI and UI
/// read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct ApplicationStatus {
    /// Every object the Application applied: its inventory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<ResourceStatus>,
    /// Whether the live objects match the source, at which revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncInfo>,
    /// The health of the applied objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
    /// Errors and warnings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ApplicationCondition>,
    /// RFC 3339 time the outcome last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconciled_at: Option<String>,
    /// The last sync: how it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_state: Option<OperationState>,
    /// The revisions synced, oldest first, at most `revisionHistoryLimit` of them (what
    /// `argocd app history` lists).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RevisionHistory>,
}

/// One entry of `status.history`: a revision synced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct RevisionHistory {
    /// Its id, one more than the entry before.
    pub id: i64,
    /// The commit (or chart version) synced.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// RFC 3339 time the sync finished.
    pub deployed_at: String,
    /// RFC 3339 time the sync started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_at: Option<String>,
    /// The source synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ApplicationSource>,
    /// What else Argo CD wrote (`initiatedBy`, `sources`, …), kept as it was.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub other: BTreeMap<String, Value>,
}

/// One applied object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceStatus {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version.
    #[serde(default)]
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Whether it matches the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SyncCode>,
    /// Its health, when assessed per object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthStatus>,
}

/// `status.sync`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncInfo {
    /// `Synced`, `OutOfSync` or `Unknown`.
    pub status: SyncCode,
    /// The commit compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// Argo CD's sync status codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum SyncCode {
    /// The live objects match the source.
    Synced,
    /// They differ.
    OutOfSync,
    /// Not compared (yet).
    #[default]
    Unknown,
}

/// A health status and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HealthStatus {
    /// The status.
    pub status: HealthCode,
    /// Why, when not healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// gitops-engine's health codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum HealthCode {
    /// Not known.
    #[default]
    Unknown,
    /// Rolling out.
    Progressing,
    /// Healthy.
    Healthy,
    /// Suspended (a paused rollout, a suspended CronJob).
    Suspended,
    /// Failed or timed out.
    Degraded,
    /// Not in the cluster.
    Missing,
}

/// A condition in Argo CD's shape (no status, no reason: its type says what is wrong).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationCondition {
    /// The kind of problem.
    #[serde(rename = "type")]
    pub type_: ApplicationConditionType,
    /// What happened and what to do; never carries Secret data.
    pub message: String,
    /// RFC 3339 time it was first seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

/// Argo CD's condition types (those Lockstep writes, and the others Argo CD may have left).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ApplicationConditionType {
    /// The spec cannot be served (an unserved field, a project refusal).
    InvalidSpecError,
    /// The source could not be fetched or rendered.
    ComparisonError,
    /// Applying or pruning failed.
    SyncError,
    /// An object is shared with another application.
    SharedResourceWarning,
    /// Objects in the destination not in the source.
    OrphanedResourceWarning,
    /// An object appears twice in the source.
    RepeatedResourceWarning,
    /// An object the project excludes.
    ExcludedResourceWarning,
    /// Deleting the application's objects failed.
    DeletionError,
    /// Anything else.
    #[default]
    UnknownError,
}

/// `status.operationState`: the last sync.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OperationState {
    /// The operation: a sync (required by Argo CD's CRD).
    pub operation: Operation,
    /// `Running`, `Succeeded`, `Failed`, …
    pub phase: OperationPhase,
    /// What happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The revision synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_result: Option<SyncResult>,
    /// RFC 3339 time it started.
    pub started_at: String,
    /// RFC 3339 time it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// Argo CD's operation phases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum OperationPhase {
    /// Under way.
    #[default]
    Running,
    /// Being stopped.
    Terminating,
    /// Failed.
    Failed,
    /// Could not run.
    Error,
    /// Done.
    Succeeded,
}

/// The result of a sync.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SyncResult {
    /// The commit synced.
    pub revision: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An Application written for Argo CD reads, and what Lockstep does not serve is named
    /// by its path.
    #[test]
    fn unserved_fields_are_named_by_path() {
        let app: Application = serde_json::from_value(serde_json::json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "guestbook", "namespace": "argocd"},
            "spec": {
                "project": "default",
                "source": {"repoURL": "https://example.invalid/apps.git", "path": "guestbook",
                           "targetRevision": "HEAD", "helm": {"valueFiles": ["v.yaml"], "passCredentials": true},
                           "directory": {"recurse": true, "jsonnet": {}},
                           "kustomize": {"namePrefix": "a-", "replicas": [], "labelWithoutSelector": true,
                                         "patches": [{"patch": "{}"}, {"path": "p.yaml"}]}},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
                "syncPolicy": {"automated": {"prune": true, "allowEmpty": true, "retryOnce": true},
                               "retry": {"limit": 2}},
                "info": [],
            },
            "operation": {"sync": {"prune": true}},
        }))
        .unwrap();
        assert_eq!(
            app.unserved(),
            [
                "spec.info",
                "spec.source.directory.jsonnet",
                "spec.source.helm.passCredentials",
                "spec.source.kustomize.labelWithoutSelector",
                "spec.source.kustomize.replicas",
                "spec.source.kustomize.patches[1].path",
                "spec.source.kustomize.patches[1] without patch",
                "spec.syncPolicy.automated.retryOnce",
            ]
        );
        let retry = app.spec.sync_policy.as_ref().and_then(|p| p.retry.as_ref());
        assert_eq!(retry.and_then(|r| r.limit), Some(2));
        assert!(app.operation.unwrap().sync.unwrap().prune);
    }

    /// The operations Argo CD's API server writes read with nothing unserved: `argocd app
    /// sync` (the hook strategy, the spec's source and options, an empty `retry`, `info`)
    /// and `argocd app rollback` (the apply strategy); zero values read as unset, and what
    /// Lockstep does not serve is named by its path.
    #[test]
    fn argo_cd_operations_read() {
        let sync: Operation = serde_json::from_value(serde_json::json!({
            "sync": {"revision": "0123", "source": {"repoURL": "https://example.invalid/a.git"},
                     "syncOptions": ["CreateNamespace=true"], "syncStrategy": {"hook": {}},
                     "dryRun": false, "resources": []},
            "initiatedBy": {"username": "admin"}, "info": [{"name": "reason", "value": "x"}],
            "retry": {},
        }))
        .unwrap();
        assert_eq!(sync.unserved(), Vec::<String>::new());
        let requested = sync.sync.as_ref().unwrap();
        let strategy = requested.sync_strategy.as_ref().unwrap();
        assert!(strategy.runs_hooks());
        assert_eq!(requested.sync_options, ["CreateNamespace=true"]);
        assert_eq!(sync.retry.as_ref().and_then(|r| r.limit), None);
        let rollback: Operation = serde_json::from_value(serde_json::json!({
            "sync": {"revision": "0123", "syncStrategy": {"apply": {"force": true}}},
            "initiatedBy": {"username": "admin"}, "retry": {"limit": 2},
        }))
        .unwrap();
        let strategy = rollback
            .sync
            .as_ref()
            .unwrap()
            .sync_strategy
            .clone()
            .unwrap();
        assert!(!strategy.runs_hooks());
        assert!(strategy.options().unwrap().force);
        let odd: Operation = serde_json::from_value(serde_json::json!({
            "sync": {"dryRun": true, "resources": [{"kind": "ConfigMap", "name": "a"}],
                     "syncStrategy": {"hook": {"force": false, "other": 1}, "kubectl": {}}},
            "terminate": true,
        }))
        .unwrap();
        assert_eq!(
            odd.unserved(),
            [
                "operation.terminate",
                "operation.sync.dryRun",
                "operation.sync.resources",
                "operation.sync.syncStrategy.kubectl",
                "operation.sync.syncStrategy.hook.other",
            ]
        );
    }
}

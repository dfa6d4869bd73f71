//! `GitRepository`: a Git URL and the ref to follow, and `HelmRepository`: a Helm chart
//! repository, as Flux's source-controller reads them.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Condition, LocalObjectReference};

/// Where declared state lives (Flux's `GitRepository`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "GitRepository",
    namespaced,
    status = "GitRepositoryStatus",
    shortname = "gitrepo",
    category = "fluxcd",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct GitRepositorySpec {
    /// Repository URL: `http://`, `https://` or `ssh://` (scp-style `user@host:repo` is
    /// refused, as Flux refuses it).
    #[schemars(regex(pattern = r"^(http|https|ssh)://.*$"))]
    pub url: String,
    /// Secret in the same namespace with credentials: `username`/`password` or
    /// `bearerToken` for HTTPS, `identity` + `known_hosts` for SSH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// How often to look for a new revision (Go duration).
    pub interval: String,
    /// Budget for one Git operation (Go duration); default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The ref to follow; default branch `master`, as in Flux.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRepositoryRef>,
    /// Stop looking for new revisions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// gitignore-style patterns of files to leave out of the artifact, replacing Flux's
    /// defaults (`.sourceignore` files in the repository apply either way).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Take only commits (or tags) signed by a key in this Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,
    /// Every other field of Flux's spec (`include`, `provider`, …),
    /// kept so that one Lockstep does not serve yet is refused by name
    /// ([`GitRepository::unserved`]) rather than silently ignored.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

impl GitRepository {
    /// The spec fields set that Lockstep does not serve yet, by name, sorted.
    pub fn unserved(&self) -> Vec<&str> {
        self.spec.unserved.keys().map(String::as_str).collect()
    }
}

/// Signature verification, as Flux's `GitRepositoryVerification`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// `HEAD` (default; `head` is Flux's older spelling), `Tag` or `TagAndHEAD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Secret whose `*.sshpub` entries hold SSH public keys and other entries armored
    /// OpenPGP public keys.
    pub secret_ref: LocalObjectReference,
}

/// The ref to follow. Precedence, lowest to highest: branch < tag < semver < name < commit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryRef {
    /// A branch name (`main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// A tag name (`v1.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// A semver range over tags (`>=1.0.0 <2.0.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A full reference (`refs/heads/main`, `refs/tags/v1.2.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// An exact commit SHA-1 (40 hex digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// Observed state of a [`GitRepository`], in the fields Flux's consumers read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct GitRepositoryStatus {
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`, `FetchFailed`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The revision last fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// What a fetch produced. Lockstep keeps the checkout in the controller's memory and
/// serves no tarball, so `url` and `path` are empty and `digest` is the commit's own
/// (`sha1:<hex>`): a consumer outside this process (Flux's kustomize-controller) cannot
/// download it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// Where the artifact lives relative to the storage root.
    pub path: String,
    /// Where to download it; empty when it is not served.
    pub url: String,
    /// The revision: `<short ref>@sha1:<hex>`, or `sha1:<hex>` for a bare commit.
    pub revision: String,
    /// `<algorithm>:<hex>`: Flux's source-controller writes the `sha256` of its tarball,
    /// Lockstep the commit's `sha1` (Flux's CRDs require a digest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// RFC 3339 time the revision was fetched.
    pub last_update_time: String,
}

/// A Helm chart repository (Flux's `HelmRepository`): where a HelmRelease's (or a
/// Sync's) chart is found by name and version, in an HTTP(S) repository (`type:
/// default`) or an OCI registry (`type: oci`, `url: oci://…`). The fields Lockstep does
/// not serve are refused by name ([`HelmRepository::unserved`]).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "HelmRepository",
    namespaced,
    status = "HelmRepositoryStatus",
    shortname = "helmrepo",
    category = "fluxcd",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HelmRepositorySpec {
    /// The repository URL: the folder holding `index.yaml` (`https://charts.example/`),
    /// or with `type: oci` the registry path the charts are under
    /// (`oci://ghcr.io/team/charts`).
    #[schemars(regex(pattern = r"^(http|https|oci)://.*$"))]
    pub url: String,
    /// Secret in the same namespace with `username` and `password` for basic auth (and,
    /// deprecated in Flux, `ca.crt`); with `type: oci` also a `kubernetes.io/dockerconfigjson`
    /// Secret, whose entry for the registry is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret in the same namespace whose `ca.crt` is trusted for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Send the credentials to chart URLs on other hosts too (off: only to the
    /// repository's own host, as Flux).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    /// How often Flux looks at the index (Go duration). Lockstep reads the index at each
    /// HelmRelease reconcile instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Budget for fetching the index and chart (Go duration); default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Stop fetching from it: its HelmReleases keep what they have.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// `default` (HTTP) or `oci` (an OCI registry).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub repository_type: Option<String>,
    /// With `type: oci`: reach the registry over plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// With `type: oci`: how to authenticate beyond `secretRef`; only `generic` (none) is
    /// served, the cloud providers' workload identities are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Every other field of Flux's spec (`accessFrom`, …), kept
    /// so that one Lockstep does not serve is refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

impl HelmRepository {
    /// Whether it is an OCI registry (`type: oci`).
    pub fn is_oci(&self) -> bool {
        self.spec.repository_type.as_deref() == Some("oci")
    }

    /// The spec fields set that Lockstep does not serve, by name, sorted: a `type` other
    /// than `default` and `oci`, a `provider` other than `generic`, and every field
    /// Lockstep does not know.
    pub fn unserved(&self) -> Vec<String> {
        let mut fields: Vec<String> = self.spec.unserved.keys().cloned().collect();
        if self
            .spec
            .repository_type
            .as_deref()
            .is_some_and(|t| t != "default" && t != "oci")
        {
            fields.push("type".into());
        }
        if self
            .spec
            .provider
            .as_deref()
            .is_some_and(|p| p != "generic")
        {
            fields.push("provider".into());
        }
        fields.sort();
        fields
    }
}

/// Observed state of a [`HelmRepository`], as Flux's source-controller writes it: `Ready`
/// once its index was read, and the index's digest as the artifact's revision. Lockstep
/// serves no index tarball: `artifact.url` and `path` are empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct HelmRepositoryStatus {
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and the others Flux writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The index last read: revision `sha256:<hex>` of `index.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

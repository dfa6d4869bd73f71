//! `AppProject`: which repositories an Application may take manifests from and where it may
//! apply them.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The rules of a group of Applications (Argo CD's `AppProject`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "argoproj.io",
    version = "v1alpha1",
    kind = "AppProject",
    namespaced,
    shortname = "appproj",
    shortname = "appprojs"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AppProjectSpec {
    /// Repository URLs Applications may use; `*` and shell-style globs allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_repos: Vec<String>,
    /// Destinations Applications may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<ProjectDestination>,
    /// The cluster-scoped kinds (and names) its Applications may apply; none unless listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_whitelist: Vec<ResourceRule>,
    /// The cluster-scoped kinds (and names) its Applications may not apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cluster_resource_blacklist: Vec<ResourceRule>,
    /// The namespaced kinds its Applications may apply; unset, all (an empty list: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_resource_whitelist: Option<Vec<ResourceRule>>,
    /// The namespaced kinds its Applications may not apply.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_resource_blacklist: Vec<ResourceRule>,
    /// Every other field (`syncWindows`, `roles`, …); an Application of a project that sets
    /// one is refused by name, since its rule would not be enforced.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// A named project's rules, as a Sync carries them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProjectRules {
    /// The project's name.
    pub name: String,
    /// Its rules.
    pub spec: AppProjectSpec,
}

/// A kind a project lists: `group` and `kind` globs, and for a cluster-scoped kind an
/// optional `name` glob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRule {
    /// API group (`""` the core group), a glob.
    #[serde(default)]
    pub group: String,
    /// Kind, a glob.
    #[serde(default)]
    pub kind: String,
    /// Object name, a glob (cluster-scoped lists only); unset, every name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A destination a project allows; each field may be `*` or a glob.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ProjectDestination {
    /// API server URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Cluster name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl AppProject {
    /// The spec fields set that Lockstep does not enforce, by name, sorted.
    pub fn unserved(&self) -> Vec<&str> {
        self.spec.unserved.keys().map(String::as_str).collect()
    }
}

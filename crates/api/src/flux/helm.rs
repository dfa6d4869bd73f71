//! `HelmRelease`: a Helm chart of a [`super::GitRepository`] kept installed, as Flux's
//! helm-controller (`helm.toolkit.fluxcd.io/v2`) reads it. Only a chart from a
//! GitRepository (`spec.chart.spec.sourceRef.kind: GitRepository`) is served; every field
//! Lockstep does not serve is kept in an `unserved` map and refused by name
//! ([`HelmRelease::unserved`]).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{FluxDependency, FluxInventory};
use crate::common::Condition;

/// Keeps a Helm chart of a Git source installed (Flux's `HelmRelease`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "helm.toolkit.fluxcd.io",
    version = "v2",
    kind = "HelmRelease",
    namespaced,
    status = "HelmReleaseStatus",
    shortname = "hr",
    category = "fluxcd",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HelmReleaseSpec {
    /// The chart: a folder of a GitRepository, or a chart of a HelmRepository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// The chart as a source of its own: an `OCIRepository` (Flux's `HelmChart` kind is
    /// refused). Exclusive with `chart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<ChartSourceReference>,
    /// How often to reconcile (Go duration).
    pub interval: String,
    /// Budget for render, apply and health checks (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `.Release.Name`; default `[<targetNamespace>-]<name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// `.Release.Namespace` and the namespace of objects that name none; default the
    /// HelmRelease's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Where the release's Helm records (`sh.helm.release.v1` Secrets) are written; default
    /// the HelmRelease's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_namespace: Option<String>,
    /// How many Helm release records to keep; default 5, 0 keeps all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_history: Option<u32>,
    /// HelmReleases that must be Ready before this one applies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<FluxDependency>,
    /// Stop applying, correcting drift and pruning.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// ServiceAccount of the HelmRelease's namespace to impersonate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// ConfigMap and Secret keys holding values, merged in order before `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Values merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "crate::sync::free_form_object")]
    pub values: Option<Map<String, Value>>,
    /// How a first install treats the chart's `crds/` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<CrdAction>,
    /// How an upgrade treats the chart's `crds/` folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<CrdAction>,
    /// Kustomize patches and images applied, in order, to the rendered objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderers: Vec<crate::PostRenderer>,
    /// Whether hooks go through `postRenderers` (`combined`, `separate`, `nohooks`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_render_strategy: Option<crate::PostRenderStrategy>,
    /// Every other field of Flux's spec, refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `spec.chart`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HelmChartTemplate {
    /// `spec.chart.spec`.
    pub spec: HelmChartSpec,
    /// Other fields (`metadata`), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `spec.chart.spec`: the chart folder and its source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct HelmChartSpec {
    /// Folder of the chart inside the source (`./charts/app`).
    pub chart: String,
    /// The source holding the chart.
    pub source_ref: ChartSourceReference,
    /// With a HelmRepository source: the chart version or a constraint (`1.2.x`,
    /// `>=1.0.0 <2.0.0`); default `*`, the highest release. Ignored for a GitRepository
    /// chart, as Flux ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Values files, relative to the source root, merged in order over the chart's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Leave out a `valuesFiles` entry that does not exist instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
    /// Other fields (`reconcileStrategy`, `verify`, …), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `spec.chart.spec.sourceRef` and `spec.chartRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ChartSourceReference {
    /// `GitRepository` or `HelmRepository` as a `sourceRef`, `OCIRepository` as a
    /// `chartRef` (the kinds served).
    pub kind: String,
    /// Name of the source.
    pub name: String,
    /// Namespace of the source; default the HelmRelease's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One entry of `spec.valuesFrom`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: String,
    /// Name of the ConfigMap or Secret, in the HelmRelease's namespace.
    pub name: String,
    /// Key holding a values document; default `values.yaml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// Path in the values the key's plain value is set at, as `helm --set` sets it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
    /// A missing ConfigMap or key is skipped instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// `spec.install` / `spec.upgrade`: `crds` and `disableHooks` are served.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct CrdAction {
    /// `Skip`, `Create` or `CreateReplace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crds: Option<String>,
    /// Install (or upgrade) without running the chart's hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Create the release namespace (`targetNamespace`) when it is missing (`install`
    /// only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_namespace: bool,
    /// Other fields (`remediation`, `disableWait`, …), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// Observed state of a [`HelmRelease`], in Flux's format as far as Lockstep fills it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct HelmReleaseStatus {
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The source revision last tried: `<ref>@sha1:<hex>` for a Git chart, the chart
    /// version for a repository chart (as Flux writes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The digest (`sha256:<hex>`) of the repository chart's archive last tried; with the
    /// version, the revision Lockstep compares to know whether it was tried already.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision_digest: Option<String>,
    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Lockstep's own: the objects applied, as a Kustomization's inventory (what pruning
    /// reads; Flux keeps a release Secret instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<FluxInventory>,
}

impl HelmRelease {
    /// The spec fields set that Lockstep does not serve, by path below `spec`, sorted.
    pub fn unserved(&self) -> Vec<String> {
        let spec = &self.spec;
        let nested = |prefix: &str, map: &BTreeMap<String, Value>| {
            map.keys()
                .map(|key| format!("{prefix}.{key}"))
                .collect::<Vec<_>>()
        };
        let mut fields: Vec<String> = spec.unserved.keys().cloned().collect();
        if let Some(chart) = &spec.chart {
            fields.extend(nested("chart", &chart.unserved));
            fields.extend(nested("chart.spec", &chart.spec.unserved));
        }
        for (name, action) in [("install", &spec.install), ("upgrade", &spec.upgrade)] {
            if let Some(action) = action {
                fields.extend(nested(name, &action.unserved));
            }
        }
        fields.sort();
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Served fields read as Flux writes them; the rest are named where they are.
    #[test]
    fn unserved_fields_are_named() {
        let hr: HelmRelease = serde_json::from_value(serde_json::json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": {
                "interval": "5m",
                "chart": {"spec": {"chart": "./charts/web", "version": "1.x",
                                   "sourceRef": {"kind": "GitRepository", "name": "repo"}}},
                "values": {"replicas": 2},
                "valuesFrom": [{"kind": "ConfigMap", "name": "v", "targetPath": "a.b"}],
                "install": {"crds": "Skip", "remediation": {"retries": 3}},
                "driftDetection": {"mode": "enabled"},
            },
        }))
        .unwrap();
        assert_eq!(hr.spec.chart.as_ref().unwrap().spec.chart, "./charts/web");
        assert_eq!(
            hr.spec.install.as_ref().unwrap().crds.as_deref(),
            Some("Skip")
        );
        assert_eq!(hr.unserved(), ["driftDetection", "install.remediation"]);
        assert_eq!(hr.spec.values_from[0].target_path.as_deref(), Some("a.b"));
    }
}

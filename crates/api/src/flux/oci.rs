//! `OCIRepository`: one repository of an OCI registry and the ref to follow, as Flux's
//! source-controller reads it. Lockstep serves it as the source of a Helm chart (a
//! HelmRelease's `chartRef`, or a Sync's `sourceRef`): the artifact is the chart `helm
//! push` stored. Flux's other use, a Kustomization of a `flux push artifact`, is not
//! served.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Artifact;
use crate::common::{Condition, LocalObjectReference};

/// The layer media type of a Helm chart.
pub const HELM_CHART_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// An OCI artifact to follow (Flux's `OCIRepository`): a Helm chart in a registry, or the
/// manifests `flux push artifact` put there for a Kustomization.
/// The fields Lockstep does not serve are refused by name ([`OCIRepository::unserved`]).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "OCIRepository",
    namespaced,
    status = "OCIRepositoryStatus",
    shortname = "ocirepo",
    category = "fluxcd",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct OCIRepositorySpec {
    /// The repository, chart name included: `oci://ghcr.io/team/charts/web`.
    #[schemars(regex(pattern = r"^oci://.*$"))]
    pub url: String,
    /// Which artifact: a `digest` wins over a `semver` range, which wins over a `tag`;
    /// default the tag `latest`.
    #[serde(default, rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<OCIRepositoryRef>,
    /// Which layer is the content (by media type); unset, a chart's chart layer, else the
    /// first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<OCILayerSelector>,
    /// How to authenticate beyond `secretRef`; only `generic` (none) is served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// A `kubernetes.io/dockerconfigjson` Secret in the same namespace (its entry for the
    /// registry is used), or one with `username` and `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret in the same namespace whose `ca.crt` is trusted for HTTPS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// How often the ref is resolved again (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Budget for one fetch (Go duration); default `60s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Reach the registry over plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Stop fetching: those that take the chart keep what they have.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Every other field of Flux's spec (`verify`, `serviceAccountName`, `ignore`,
    /// `proxySecretRef`, …), kept so that one Lockstep does not serve is refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `spec.ref`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCIRepositoryRef {
    /// A manifest digest (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// A semver range: the highest tag in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Other fields (`semverFilter`), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// `spec.layerSelector`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OCILayerSelector {
    /// The layer's media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` or `copy`: the content read is the same either way (Lockstep keeps no
    /// tarball to serve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
}

/// Observed state of an [`OCIRepository`], as Flux's source-controller writes it: `Ready`
/// once the ref resolved to a chart, the artifact's revision `<version>@sha256:<manifest
/// digest>`. Lockstep serves no artifact tarball: `artifact.url` and `path` are empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct OCIRepositoryStatus {
    /// The `metadata.generation` last fully handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and the others Flux writes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The repository the artifact came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The chart last resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The last value of the `reconcile.fluxcd.io/requestedAt` annotation acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

impl OCIRepository {
    /// The spec fields set that Lockstep does not serve, by path below `spec`, sorted: a
    /// `provider` other than `generic`, and every field Lockstep does not know.
    pub fn unserved(&self) -> Vec<String> {
        let spec = &self.spec;
        let mut fields: Vec<String> = spec.unserved.keys().cloned().collect();
        if let Some(reference) = &spec.reference {
            fields.extend(reference.unserved.keys().map(|key| format!("ref.{key}")));
        }
        if spec.provider.as_deref().is_some_and(|p| p != "generic") {
            fields.push("provider".into());
        }
        fields.sort();
        fields
    }

    /// The registry repository the chart is in and the chart's name: `url` split at its
    /// last `/` (`oci://ghcr.io/team/charts`, `web`); `None` when it has no chart name.
    pub fn chart(&self) -> Option<(&str, &str)> {
        let url = self.spec.url.trim_end_matches('/');
        let (repository, chart) = url.rsplit_once('/')?;
        (!chart.is_empty() && repository.len() > "oci:/".len()).then_some((repository, chart))
    }

    /// What the fetcher is asked for: the chart reference (`web@<digest>` when
    /// `ref.digest` pins one, `web:<tag>` for a tag, `latest` by default) and the version
    /// constraint (`ref.semver`; empty otherwise).
    pub fn selector(&self, chart: &str) -> (String, String) {
        let reference = self.spec.reference.clone().unwrap_or_default();
        match (reference.digest, reference.semver, reference.tag) {
            (Some(digest), _, _) => (format!("{chart}@{digest}"), String::new()),
            (None, Some(semver), _) => (chart.to_owned(), semver),
            (None, None, tag) => (
                format!("{chart}:{}", tag.as_deref().unwrap_or("latest")),
                String::new(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository(spec: Value) -> OCIRepository {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": "web", "namespace": "apps"},
            "spec": spec,
        }))
        .unwrap()
    }

    /// The URL names the chart; digest, then semver, then tag, then `latest`.
    #[test]
    fn reads_the_chart_and_its_ref_as_flux_does() {
        let web = repository(serde_json::json!({"url": "oci://ghcr.io/team/charts/web/"}));
        assert_eq!(web.chart(), Some(("oci://ghcr.io/team/charts", "web")));
        assert_eq!(web.selector("web"), ("web:latest".into(), String::new()));
        let pinned = repository(serde_json::json!({
            "url": "oci://r/web",
            "ref": {"digest": "sha256:ab", "semver": "1.x", "tag": "1.0.0"},
        }));
        assert_eq!(
            pinned.selector("web"),
            ("web@sha256:ab".into(), String::new())
        );
        let ranged = repository(serde_json::json!({
            "url": "oci://r/web", "ref": {"semver": "1.x", "tag": "1.0.0"},
        }));
        assert_eq!(ranged.selector("web"), ("web".into(), "1.x".into()));
        let tagged = repository(serde_json::json!({"url": "oci://r/web", "ref": {"tag": "1.0.0"}}));
        assert_eq!(tagged.selector("web"), ("web:1.0.0".into(), String::new()));
        assert_eq!(
            repository(serde_json::json!({"url": "oci://r"})).chart(),
            None
        );
    }

    /// Fields Lockstep does not serve are named, nested ones by their path.
    #[test]
    fn unserved_fields_are_named() {
        let served = repository(serde_json::json!({
            "url": "oci://r/web", "interval": "5m", "provider": "generic",
            "layerSelector": {"mediaType": HELM_CHART_MEDIA_TYPE, "operation": "copy"},
        }));
        assert!(served.unserved().is_empty());
        let refused = repository(serde_json::json!({
            "url": "oci://r/web", "provider": "aws", "verify": {"provider": "cosign"},
            "ref": {"semverFilter": ".*-rc.*"},
            "layerSelector": {"mediaType": "application/vnd.cncf.flux.content.v1.tar+gzip"},
        }));
        assert_eq!(
            refused.unserved(),
            ["provider", "ref.semverFilter", "verify"]
        );
    }
}

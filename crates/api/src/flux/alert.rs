//! `Alert` and `Provider`: which events go where, as Flux's notification-controller reads
//! them (`notification.toolkit.fluxcd.io/v1beta3`, which has no status, and `v1`, Flux
//! 2.10's name for the same shape: [`alert_crd`], [`provider_crd`]).

use std::collections::BTreeMap;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::LocalObjectReference;

/// Sends the events of `eventSources` to a [`Provider`] (Flux's `Alert`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Alert",
    namespaced,
    category = "fluxcd"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AlertSpec {
    /// The Provider, in the Alert's namespace.
    pub provider_ref: LocalObjectReference,
    /// `info` (unset: every event) or `error` (only Warning events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_severity: Option<String>,
    /// The objects whose events are sent.
    pub event_sources: Vec<EventSource>,
    /// Send only events whose message matches one of these regular expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inclusion_list: Vec<String>,
    /// Never send events whose message matches one of these regular expressions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclusion_list: Vec<String>,
    /// Added to every event's metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub event_metadata: BTreeMap<String, String>,
    /// Added to every event's metadata as `summary` (deprecated by Flux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// Send nothing until unset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// The objects an Alert listens to.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSource {
    /// `group/version` of the objects; any when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the objects (`Kustomization`, `Sync`, `ExternalSecret`, …).
    pub kind: String,
    /// Name of the object, or `*` for every one of the kind.
    pub name: String,
    /// Namespace of the objects; default the Alert's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Only objects carrying these labels (with `name: *`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
}

/// The Alert CRD: [`Alert`]'s `v1beta3`, stored, and `v1` served beside it.
pub fn alert_crd() -> CustomResourceDefinition {
    with_v1(Alert::crd())
}

/// The Provider CRD: [`Provider`]'s `v1beta3`, stored, and `v1` served beside it.
pub fn provider_crd() -> CustomResourceDefinition {
    with_v1(Provider::crd())
}

/// `crd` with a `v1` of the same schema served beside its `v1beta3`: Flux 2.10 promoted
/// Alert and Provider to `v1` unchanged, so a repository written for either Flux applies.
/// Objects stay stored as `v1beta3`, so Flux 2.9's CRD (which has no `v1`) can still take
/// the cluster back; Flux 2.10's, which serves both, can too.
fn with_v1(mut crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut v1 = crd.spec.versions[0].clone();
    v1.name = "v1".into();
    v1.storage = false;
    crd.spec.versions.push(v1);
    crd
}

/// Where an Alert's events go, and how (Flux's `Provider`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1beta3",
    kind = "Provider",
    namespaced,
    category = "fluxcd"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ProviderSpec {
    /// `generic`, `generic-hmac`, `slack` or `github` ([`ProviderType`]); Flux's other
    /// types are kept as written and refused by name.
    #[serde(rename = "type")]
    pub type_: String,
    /// Slack channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Name the message is posted as; default the reporting controller's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The URL events are posted to (else the Secret's `address`); for `github`, the
    /// repository (`https://github.com/owner/repo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Budget of one post (Go duration); default `15s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Secret in the same namespace: `address`, `token` (the HMAC key of `generic-hmac`,
    /// Slack's bearer token) and `headers` (a YAML map of extra headers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Send nothing until unset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Every other field of Flux's spec (`proxy`, `certSecretRef`, `commitStatusExpr`, …),
    /// kept so that one Lockstep does not serve is refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// The provider types Lockstep sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProviderType {
    /// The event as JSON, Flux's `eventv1.Event`.
    #[serde(rename = "generic")]
    Generic,
    /// The same, signed: `X-Signature: sha256=<HMAC-SHA256 of the body keyed by token>`.
    #[serde(rename = "generic-hmac")]
    GenericHmac,
    /// A Slack message (incoming webhook, or `chat.postMessage` with a token).
    #[serde(rename = "slack")]
    Slack,
    /// A commit status on the revision the event is about, through GitHub's API.
    #[serde(rename = "github")]
    GitHub,
    /// The same through GitLab's API.
    #[serde(rename = "gitlab")]
    GitLab,
    /// The same through Gitea's (and Forgejo's) API.
    #[serde(rename = "gitea")]
    Gitea,
    /// Slack's message shape, posted to a Discord webhook's Slack-compatible endpoint.
    #[serde(rename = "discord")]
    Discord,
    /// A firing alert posted to Alertmanager's `/api/v2/alerts`.
    #[serde(rename = "alertmanager")]
    Alertmanager,
    /// A Microsoft Teams Adaptive Card (Power Automate workflow), or the legacy
    /// MessageCard for a `*.webhook.office.com` connector URL.
    #[serde(rename = "msteams")]
    MsTeams,
}

impl Provider {
    /// The served type, or `None` for a type Lockstep does not serve.
    pub fn provider_type(&self) -> Option<ProviderType> {
        serde_json::from_value(Value::String(self.spec.type_.clone())).ok()
    }

    /// The spec fields set that Lockstep does not serve yet, by name, sorted.
    pub fn unserved(&self) -> Vec<&str> {
        self.spec.unserved.keys().map(String::as_str).collect()
    }
}

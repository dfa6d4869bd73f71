//! `Receiver`: a webhook that asks for a reconcile of named resources, as Flux's
//! notification-controller reads it (`notification.toolkit.fluxcd.io/v1`).

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::{Condition, LocalObjectReference};

/// A webhook endpoint that reconciles `resources` when the sender proves it holds the
/// token (Flux's `Receiver`).
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "notification.toolkit.fluxcd.io",
    version = "v1",
    kind = "Receiver",
    namespaced,
    status = "ReceiverStatus",
    category = "fluxcd",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ReceiverSpec {
    /// Who sends the webhook, which decides how it is verified: `github`, `gitlab`,
    /// `bitbucket`, `generic`, `generic-hmac` ([`ReceiverType`]). Flux's other types are
    /// kept as written and refused by name.
    #[serde(rename = "type")]
    pub type_: String,
    /// How often the token is read again (Go duration); default `10m`, as Flux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// The events handled (`push` for GitHub, `Push Hook` for GitLab), compared without
    /// case; empty handles every event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// What to reconcile when a webhook is accepted.
    pub resources: Vec<ReceiverResource>,
    /// Secret in the same namespace whose `token` entry salts the webhook path and keys
    /// its verification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Refuse webhooks (503) until unset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Every other field of Flux's spec (`resourceFilter`, `oidcProviders`), kept so that
    /// one Lockstep does not serve is refused by name ([`Receiver::unserved`]).
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

impl Receiver {
    /// The spec fields set that Lockstep does not serve yet, by name, sorted.
    pub fn unserved(&self) -> Vec<String> {
        let spec = self.spec.unserved.keys().cloned();
        let resources = self.spec.resources.iter().enumerate().flat_map(|(i, r)| {
            r.unserved
                .keys()
                .map(move |field| format!("resources[{i}].{field}"))
        });
        let mut fields: Vec<String> = spec.chain(resources).collect();
        fields.sort();
        fields
    }

    /// The served type, or `None` for a type Lockstep does not serve.
    pub fn receiver_type(&self) -> Option<ReceiverType> {
        serde_json::from_value(Value::String(self.spec.type_.clone())).ok()
    }
}

/// The senders Lockstep verifies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReceiverType {
    /// GitHub (and Gitea): `X-Hub-Signature-256` (or `X-Hub-Signature`), `X-GitHub-Event`.
    Github,
    /// GitLab: `X-Gitlab-Token` equal to the token, `X-Gitlab-Event`.
    Gitlab,
    /// Bitbucket Server: `X-Hub-Signature`, `X-Event-Key`.
    Bitbucket,
    /// No check beyond knowing the path.
    Generic,
    /// `X-Signature: <sha1|sha256|sha512>=<hex HMAC of the body>`.
    GenericHmac,
}

/// One resource to reconcile: by name, or every one of `kind` matching `matchLabels` when
/// the name is `*`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReceiverResource {
    /// `group/version` of the resource; the kind's usual one when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `GitSource`, `Sync`, or (with `--flux`) `GitRepository`, `Kustomization`.
    pub kind: String,
    /// The resource's name, or `*` for every one matching `matchLabels`.
    pub name: String,
    /// Must be the Receiver's own namespace when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// With name `*`: the labels the resources must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Every other field (`filter`), refused by name.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(skip)]
    pub unserved: BTreeMap<String, Value>,
}

/// Observed state of a [`Receiver`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct ReceiverStatus {
    /// The `metadata.generation` last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// `/hook/<sha256 hex of token + name + namespace>`, where webhooks are accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_path: Option<String>,
}

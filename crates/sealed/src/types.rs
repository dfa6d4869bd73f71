//! The `bitnami.com/v1alpha1` `SealedSecret` resource, as serde types shaped like
//! upstream's `types.go` and CRD schema. Fields are declared in sorted order, so YAML
//! output has kubeseal's sorted keys.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde::{Deserialize, Serialize};

use crate::Scope;

/// `apiVersion` of a SealedSecret.
pub const API_VERSION: &str = "bitnami.com/v1alpha1";
/// `kind` of a SealedSecret.
pub const KIND: &str = "SealedSecret";

/// A SealedSecret: a Secret whose values are sealed to a controller's public key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    /// `bitnami.com/v1alpha1`.
    #[serde(default)]
    pub api_version: String,
    /// `SealedSecret`.
    #[serde(default)]
    pub kind: String,
    /// Object metadata. The scope annotations are read from here.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The sealed data and the shape of the Secret to produce.
    pub spec: SealedSecretSpec,
    /// Written by the controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SealedSecretStatus>,
}

/// `spec` of a SealedSecret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretSpec {
    /// Legacy (pre-0.7) field: ONE blob sealing the JSON of a whole v1 Secret, base64.
    /// Readable; never written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Item name → base64 of one sealed value.
    #[serde(default)]
    pub encrypted_data: BTreeMap<String, String>,
    /// Shape of the produced Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<SecretTemplateSpec>,
}

/// `spec.template`: the produced Secret's metadata, type and immutability, and template
/// data items.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretTemplateSpec {
    /// Item name → Go text/template rendered with the decrypted items (see
    /// [`crate::unseal`] for the supported subset).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<BTreeMap<String, String>>,
    /// `immutable` of the produced Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub immutable: Option<bool>,
    /// Metadata copied to the produced Secret (name/namespace are forced to the
    /// SealedSecret's).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// `type` of the produced Secret, e.g. `Opaque`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
}

/// `status`, written by the controller.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretStatus {
    /// Conditions; upstream writes one, of type `Synced`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<SealedSecretCondition>>,
    /// `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// One status condition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecretCondition {
    /// Last time the status flipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<Time>,
    /// Last time the condition was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_update_time: Option<Time>,
    /// Human-readable message (the unseal error, or empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Machine-readable reason (upstream never sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `Synced`.
    #[serde(rename = "type")]
    pub type_: String,
}

impl SealedSecret {
    /// The scope selected by the top-level annotations (what the controller reads).
    pub fn scope(&self) -> Scope {
        Scope::from_annotations(self.metadata.annotations.as_ref())
    }

    /// `namespace/name` for messages.
    pub fn display_name(&self) -> String {
        format!(
            "{}/{}",
            self.metadata.namespace.as_deref().unwrap_or(""),
            self.metadata.name.as_deref().unwrap_or("")
        )
    }
}

//! The External Secrets Operator's `external-secrets.io/v1` resources, served unchanged:
//! [`ExternalSecret`] (which Secret to make from which remote values), [`SecretStore`] and
//! [`ClusterSecretStore`] (where the values live and how to log in).
//!
//! Field names and spellings are ESO v0.16.2's (`apis/externalsecrets/v1`), so a manifest
//! written for ESO reads here unchanged and the objects ESO's own CRDs store deserialize.
//! Only the fields Lockstep implements are typed; the generated CRDs are a small subset of
//! ESO's (which exceed the 256 KiB annotation limit) and, unlike ESO's, carry **no schema
//! defaults**: ESO's defaults are written into every stored object, which keeps Argo CD
//! permanently OutOfSync. The defaults ESO's CRDs would write are applied when reading
//! (`Option` fields and `Default` enums), so an object behaves the same under either CRD.
//!
//! A store's provider is kept open: providers Lockstep does not implement deserialize into
//! [`SecretStoreProvider::other`] and are refused by name at reconcile time.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};

pub use store::{
    AwsAuth, AwsAuthSecretRef, AwsProvider, AwsServiceKind, ClusterSecretStore,
    ClusterSecretStoreCondition, ClusterSecretStoreSpec, NamespaceSelector, SecretKeySelector,
    SecretStore, SecretStoreProvider, SecretStoreSpec, SelectorRequirement, ServiceAccountSelector,
    VaultAppRole, VaultAuthSpec, VaultJwtAuth, VaultKubernetesAuth, VaultKvVersion, VaultProvider,
    VaultServiceAccountToken, VaultUserPassAuth,
};

mod store;

/// The API group of the External Secrets resources.
pub const ESO_GROUP: &str = "external-secrets.io";
/// The API version served.
pub const ESO_VERSION: &str = "v1";

/// Label ESO puts on every Secret an ExternalSecret manages (value `true`).
pub const ESO_MANAGED_LABEL: &str = "reconcile.external-secrets.io/managed";
/// Label on a Secret created with `creationPolicy: Owner`: a hash of the ExternalSecret's
/// `namespace/name`, to find Secrets left behind when the target name changes.
pub const ESO_CREATED_BY_LABEL: &str = "reconcile.external-secrets.io/created-by";
/// Annotation on a managed Secret: a hash of its `data`, to notice changes made by others.
pub const ESO_DATA_HASH_ANNOTATION: &str = "reconcile.external-secrets.io/data-hash";

/// Makes one Secret from values held in a secret manager.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ExternalSecret",
    namespaced,
    status = "ExternalSecretStatus",
    shortname = "es",
    category = "external-secrets",
    printcolumn = r#"{"name":"Store","type":"string","jsonPath":".spec.secretStoreRef.name"}"#,
    printcolumn = r#"{"name":"Refresh Interval","type":"string","jsonPath":".spec.refreshInterval"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct ExternalSecretSpec {
    /// The store to read from; default kind `SecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_store_ref: Option<SecretStoreRef>,
    /// The Secret to write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ExternalSecretTarget>,
    /// How often to read the values again (Go duration); `0` reads them once; default `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<String>,
    /// `Periodic` (default), `OnChange` or `CreatedOnce`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_policy: Option<RefreshPolicy>,
    /// One Secret key per remote value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data: Vec<ExternalSecretData>,
    /// Remote values whose JSON objects expand into several keys.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_from: Vec<ExternalSecretDataFrom>,
}

/// Which store an ExternalSecret reads from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretStoreRef {
    /// The store's name.
    #[serde(default)]
    pub name: String,
    /// `SecretStore` (default, same namespace) or `ClusterSecretStore`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<StoreKind>,
}

/// The two kinds of store.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum StoreKind {
    /// A store in the ExternalSecret's namespace.
    #[default]
    SecretStore,
    /// A cluster-wide store.
    ClusterSecretStore,
}

impl StoreKind {
    /// The kind as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretStore => "SecretStore",
            Self::ClusterSecretStore => "ClusterSecretStore",
        }
    }
}

/// When an ExternalSecret reads its values again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum RefreshPolicy {
    /// Every `refreshInterval`, and whenever the ExternalSecret changes.
    #[default]
    Periodic,
    /// Only when the ExternalSecret changes.
    OnChange,
    /// Once, when the Secret is created.
    CreatedOnce,
}

/// The Secret an ExternalSecret writes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ExternalSecretTarget {
    /// The Secret's name; default the ExternalSecret's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Owner` (default), `Orphan`, `Merge` or `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_policy: Option<CreationPolicy>,
    /// `Retain` (default), `Delete` or `Merge`: what happens when every remote value is
    /// gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Make the Secret immutable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub immutable: bool,
    /// How the Secret is made from the values: ESO's template engine v2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<ExternalSecretTemplate>,
    /// Other ESO target settings (`manifest`): kept as written, refused by name at
    /// reconcile time until implemented.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `spec.target.template`: the Secret's type, metadata and data as Go templates over the
/// values read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretTemplate {
    /// The Secret's type (`kubernetes.io/dockerconfigjson`, …); default the Secret's own.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// `v2` (the default and the only engine ESO still has).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Labels and annotations, each value a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<TemplateMetadata>,
    /// `Replace` (default): only templated keys; `Merge`: the values read as well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge_policy: Option<TemplateMergePolicy>,
    /// Secret keys and the templates that make their values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    /// Templates kept in ConfigMaps, Secrets or written inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub template_from: Vec<TemplateFrom>,
}

/// `spec.target.template.metadata`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateMetadata {
    /// Annotations and their templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels and their templates.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// Whether the values read are kept beside the templated keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TemplateMergePolicy {
    /// Only the templated keys.
    #[default]
    Replace,
    /// The values read, then the templated keys over them.
    Merge,
}

/// One `templateFrom` entry: a ConfigMap's or Secret's items, or a literal template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    /// Items of a ConfigMap in the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_map: Option<TemplateRef>,
    /// Items of a Secret in the ExternalSecret's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<TemplateRef>,
    /// Where the results go: `Data` (default), `Annotations` or `Labels`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TemplateTarget>,
    /// A template whose output is a YAML map of keys to values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
}

/// A ConfigMap or Secret holding templates.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateRef {
    /// Its name.
    pub name: String,
    /// The keys to use.
    #[serde(default)]
    pub items: Vec<TemplateRefItem>,
}

/// One key of a [`TemplateRef`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    /// The key.
    pub key: String,
    /// `Values` (default): the item is the template of the Secret key of its name;
    /// `KeysAndValues`: its output is a YAML map of keys to values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_as: Option<TemplateScope>,
}

/// How a `templateFrom` item's output is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TemplateScope {
    /// The output is one value.
    #[default]
    Values,
    /// The output is a YAML map of keys to values.
    KeysAndValues,
}

/// Where a template's output is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TemplateTarget {
    /// The Secret's data.
    #[default]
    Data,
    /// The Secret's annotations.
    Annotations,
    /// The Secret's labels.
    Labels,
}

/// Who creates and owns the target Secret.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CreationPolicy {
    /// Create it, owned by the ExternalSecret (deleted with it).
    #[default]
    Owner,
    /// Create it without an owner reference.
    Orphan,
    /// Only merge keys into a Secret that already exists.
    Merge,
    /// Write nothing.
    None,
}

/// What happens to the target when the remote values are gone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the Secret as it is.
    #[default]
    Retain,
    /// Delete the Secret (only with `creationPolicy: Owner`).
    Delete,
    /// Remove the keys this ExternalSecret wrote.
    Merge,
}

/// One Secret key read from one remote value.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ExternalSecretData {
    /// The key in the Secret.
    pub secret_key: String,
    /// Where the value is.
    pub remote_ref: RemoteRef,
    /// Other ESO settings (`sourceRef`): kept as written, refused by name at reconcile time
    /// until implemented.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// A remote value: its key (path), and optionally a property inside it and a version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemoteRef {
    /// The remote key; for Vault, the path under the store's mount.
    pub key: String,
    /// A field of the value; for JSON values a gjson-style path (`a.b.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub property: Option<String>,
    /// The version to read; for Vault KV v2, the version number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `None` (default) or `Fetch` (read KV v2 custom metadata instead of the value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_policy: Option<MetadataPolicy>,
    /// How keys with characters a Secret refuses are rewritten: `Default` or `Unicode`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// How the value is decoded: `None` (default), `Base64`, `Base64URL` or `Auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
}

/// Whether a remote ref reads the value or its metadata.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum MetadataPolicy {
    /// Read the value.
    #[default]
    None,
    /// Read the metadata (not implemented by Lockstep yet; refused by name).
    Fetch,
}

/// How keys a Secret refuses are rewritten (`dataFrom`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConversionStrategy {
    /// Every refused character becomes `_`.
    #[default]
    Default,
    /// Every refused character becomes `_U<hex code point>_`.
    Unicode,
}

/// How a remote value is decoded before it is written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DecodingStrategy {
    /// As it is.
    #[default]
    None,
    /// Standard base64.
    Base64,
    /// URL-safe base64.
    #[serde(rename = "Base64URL")]
    Base64Url,
    /// Base64, else URL-safe base64, else as it is.
    Auto,
}

/// A remote value whose JSON object becomes several Secret keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct ExternalSecretDataFrom {
    /// Read one value and use each of its top-level fields as a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<RemoteRef>,
    /// Read every secret whose name matches (or whose tags do), one key per secret; wins
    /// over `extract` when both are given, as in ESO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub find: Option<Find>,
    /// Renames of the keys read, in order; with any, `conversionStrategy` is not applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite: Vec<Rewrite>,
    /// Other ESO sources (`sourceRef`): kept as written, refused by name at reconcile
    /// time until implemented.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `dataFrom[].find`: which secrets of the store to read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Find {
    /// Only secrets under this path (Vault) or with names starting so (AWS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Secrets whose name matches a regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<FindName>,
    /// Secrets carrying every one of these tags (Vault KV v2 custom metadata, AWS tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// How the secrets' names become keys (`Default` replaces what a key cannot hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversion_strategy: Option<ConversionStrategy>,
    /// How each value is decoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoding_strategy: Option<DecodingStrategy>,
}

/// `find.name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FindName {
    /// A regular expression (RE2 syntax) a name must match somewhere.
    #[serde(default)]
    pub regexp: String,
}

/// One `dataFrom[].rewrite` step. `transform` (a template) is kept by name and refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct Rewrite {
    /// Replace every match of `source` in each key by `target` (`$1`, `${name}` expand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regexp: Option<RewriteRegexp>,
    /// Replace each key by a Go template's output, the key being `.value`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<RewriteTransform>,
    /// Steps not implemented, by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `rewrite[].transform`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RewriteTransform {
    /// The template (ESO's engine v2 functions; `{{ .value }}` is the key).
    #[serde(default)]
    pub template: String,
}

/// `rewrite[].regexp`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RewriteRegexp {
    /// The regular expression.
    #[serde(default)]
    pub source: String,
    /// The replacement.
    #[serde(default)]
    pub target: String,
}

/// What ESO writes in an ExternalSecret's status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretStatus {
    /// When the values were last read (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_time: Option<String>,
    /// `<generation>-<hash of labels and annotations>` of the ExternalSecret last synced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub synced_resource_version: Option<String>,
    /// `Ready` (and `Deleted`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ExternalSecretCondition>,
    /// The Secret written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<SecretBinding>,
}

/// The name of the Secret an ExternalSecret wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretBinding {
    /// The Secret's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// One status condition, as ESO writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalSecretCondition {
    /// `Ready` or `Deleted`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// `SecretSynced`, `SecretSyncedError`, `SecretMissing`, `SecretDeleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What happened; never a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `status` last changed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ExternalSecret as ESO's CRDs store it (defaults filled in) reads back unchanged,
    /// and a provider Lockstep does not implement is kept by name.
    #[test]
    fn reads_objects_as_eso_stores_them() {
        let es: ExternalSecret = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "db", "namespace": "apps"},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "vault", "kind": "ClusterSecretStore"},
                "target": {"name": "db", "creationPolicy": "Owner", "deletionPolicy": "Retain"},
                "data": [{"secretKey": "password", "remoteRef": {
                    "key": "db", "property": "password", "conversionStrategy": "Default",
                    "decodingStrategy": "None", "metadataPolicy": "None"}}],
                "dataFrom": [{"extract": {"key": "app"}},
                    {"find": {"path": "x"}, "sourceRef": {"storeRef": {"name": "other"}}}],
            },
        }))
        .unwrap();
        let store = es.spec.secret_store_ref.as_ref().unwrap();
        assert_eq!(store.kind, Some(StoreKind::ClusterSecretStore));
        assert_eq!(
            es.spec.data[0].remote_ref.property.as_deref(),
            Some("password")
        );
        assert_eq!(
            es.spec.data_from[1].find.as_ref().unwrap().path.as_deref(),
            Some("x")
        );
        assert!(es.spec.data_from[1].other.contains_key("sourceRef"));
        let back = serde_json::to_value(&es).unwrap();
        assert_eq!(back["spec"]["dataFrom"][1]["find"]["path"], "x");
        assert_eq!(
            back["spec"]["dataFrom"][1]["sourceRef"]["storeRef"]["name"],
            "other"
        );

        let store: SecretStore = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "s"},
            "spec": {"provider": {"gcpsm": {"projectID": "p"}}},
        }))
        .unwrap();
        assert!(store.spec.provider.vault.is_none());
        assert!(store.spec.provider.aws.is_none());
        assert_eq!(
            store.spec.provider.other.keys().collect::<Vec<_>>(),
            ["gcpsm"]
        );

        // An AWS store with a service and a setting Lockstep does not serve: the service
        // read as `Other` (refused by the controller, not unreadable), the setting kept.
        let store: SecretStore = serde_json::from_value(serde_json::json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "s"},
            "spec": {"provider": {"aws": {"service": "CertificateManager", "region": "eu-west-1",
                "externalID": "x", "auth": {"jwt": {}}}}},
        }))
        .unwrap();
        let aws = store.spec.provider.aws.unwrap();
        assert_eq!(aws.service, AwsServiceKind::Other);
        assert!(aws.other.contains_key("externalID"));
        assert!(aws.auth.unwrap().other.contains_key("jwt"));
    }
}

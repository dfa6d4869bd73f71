//! [`SecretStore`] and [`ClusterSecretStore`]: where an ExternalSecret's values live and how
//! to log in, with the providers Lockstep implements (Vault, AWS Secrets Manager and
//! Parameter Store) typed and the others kept by name.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use schemars::transform::RecursiveTransform;
use serde::{Deserialize, Serialize};

/// Where values live and how to log in, for ExternalSecrets of one namespace.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "SecretStore",
    namespaced,
    shortname = "ss",
    category = "external-secrets"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct SecretStoreSpec {
    /// Serve only ExternalSecrets of controllers with this class; empty for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The provider: exactly one field.
    pub provider: SecretStoreProvider,
}

/// Where values live and how to log in, for ExternalSecrets of every namespace.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "external-secrets.io",
    version = "v1",
    kind = "ClusterSecretStore",
    shortname = "css",
    category = "external-secrets"
)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = RecursiveTransform(crate::common::no_default))]
pub struct ClusterSecretStoreSpec {
    /// Serve only ExternalSecrets of controllers with this class; empty for all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// The provider: exactly one field.
    pub provider: SecretStoreProvider,
    /// The namespaces whose ExternalSecrets may use this store: any condition that
    /// matches allows; none given allows every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<ClusterSecretStoreCondition>,
}

/// One `spec.conditions` entry: namespaces chosen by labels, by name or by regular
/// expression.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSecretStoreCondition {
    /// Namespaces whose labels match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<NamespaceSelector>,
    /// Namespaces by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Namespaces whose name matches one of these regular expressions (anywhere in it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespace_regexes: Vec<String>,
}

/// A Kubernetes label selector over Namespaces.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespaceSelector {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<SelectorRequirement>,
}

/// One `matchExpressions` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SelectorRequirement {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl NamespaceSelector {
    /// The selector in the API's query form (`app=web,tier in (a,b),!legacy`), which the
    /// API server then evaluates with Kubernetes' own rules.
    ///
    /// # Errors
    /// The operator, when it is not one of the four.
    pub fn to_query(&self) -> Result<String, String> {
        let mut parts: Vec<String> = self
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for requirement in &self.match_expressions {
            let key = &requirement.key;
            let values = requirement.values.join(",");
            parts.push(match requirement.operator.as_str() {
                "In" => format!("{key} in ({values})"),
                "NotIn" => format!("{key} notin ({values})"),
                "Exists" => key.clone(),
                "DoesNotExist" => format!("!{key}"),
                other => return Err(other.to_owned()),
            });
        }
        Ok(parts.join(","))
    }
}

/// A store's provider. Vault and AWS are implemented; any other is kept by name in `other`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct SecretStoreProvider {
    /// HashiCorp Vault or OpenBao.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultProvider>,
    /// AWS Secrets Manager or Parameter Store.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<AwsProvider>,
    /// Providers not implemented, by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `provider.vault`: a Vault or OpenBao KV engine.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultProvider {
    /// The server's URL (`https://vault:8200`).
    pub server: String,
    /// The KV engine's mount (`secret`); without it the mount is the first segment of
    /// each remote key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The KV engine version: `v2` (default) or `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<VaultKvVersion>,
    /// A Vault Enterprise / OpenBao namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// How to log in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<VaultAuthSpec>,
}

/// The KV engine version.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum VaultKvVersion {
    /// KV version 1.
    #[serde(rename = "v1")]
    V1,
    /// KV version 2.
    #[default]
    #[serde(rename = "v2")]
    V2,
}

/// `provider.vault.auth`: one login method. Methods not implemented are kept by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct VaultAuthSpec {
    /// A token, from a key of a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_ref: Option<SecretKeySelector>,
    /// AppRole: a role id (or a Secret key holding it) and a secret id from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_role: Option<VaultAppRole>,
    /// Kubernetes auth: a ServiceAccount token exchanged for a Vault token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<VaultKubernetesAuth>,
    /// JWT auth: a JWT from a Secret, or a ServiceAccount token, exchanged for a Vault token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<VaultJwtAuth>,
    /// Username and password auth: the password from a Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_pass: Option<VaultUserPassAuth>,
    /// Methods not implemented, by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `auth.kubernetes`: the token of `serviceAccountRef` (requested from the API server),
/// else the one in `secretRef`, else the controller's own, logged in with at
/// `auth/<mountPath>/login` as `role`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultKubernetesAuth {
    /// The auth mount; default `kubernetes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
    /// The ServiceAccount a token is requested for (10 minutes, its `audiences`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_ref: Option<ServiceAccountSelector>,
    /// A Secret key holding a ServiceAccount token; the key defaults to `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// The Vault role to log in as.
    #[serde(default)]
    pub role: String,
}

/// `auth.jwt`: the JWT in `secretRef`, else a token requested for
/// `kubernetesServiceAccountToken`, logged in with at `auth/<path>/login` as `role`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultJwtAuth {
    /// The auth mount; default `jwt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The Vault role; the mount's default role when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A Secret key holding the JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeySelector>,
    /// A ServiceAccount a token is requested for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_service_account_token: Option<VaultServiceAccountToken>,
}

/// `auth.jwt.kubernetesServiceAccountToken`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultServiceAccountToken {
    /// The ServiceAccount.
    #[serde(default)]
    pub service_account_ref: ServiceAccountSelector,
    /// Audiences added to the ServiceAccount ref's; `vault` when unset (deprecated by ESO
    /// in favour of the ref's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audiences: Option<Vec<String>>,
    /// How long the token lives; 600 seconds when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_seconds: Option<i64>,
}

/// `auth.userPass`: `username` and the password in `secretRef`, logged in with at
/// `auth/<path>/login/<username>`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultUserPassAuth {
    /// The auth mount; default `userpass`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The user name.
    #[serde(default)]
    pub username: String,
    /// The Secret key holding the password.
    #[serde(default)]
    pub secret_ref: SecretKeySelector,
}

/// A ServiceAccount, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountSelector {
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its namespace (ClusterSecretStore only; else the ExternalSecret's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The audiences of the token requested for it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
}

/// `auth.appRole`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VaultAppRole {
    /// The auth mount; default `approle`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The role id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_id: Option<String>,
    /// A Secret key holding the role id (when `roleId` is not given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_ref: Option<SecretKeySelector>,
    /// The Secret key holding the secret id.
    pub secret_ref: SecretKeySelector,
}

/// A key of a Secret. `namespace` is honoured for ClusterSecretStores only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SecretKeySelector {
    /// The Secret's name.
    #[serde(default)]
    pub name: String,
    /// The key.
    #[serde(default)]
    pub key: String,
    /// The Secret's namespace (ClusterSecretStore only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// `provider.aws`: AWS Secrets Manager or Systems Manager Parameter Store.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AwsProvider {
    /// Which service: `SecretsManager` or `ParameterStore` (others are refused by the
    /// controller, not by the schema, so ESO's manifests are stored as written).
    #[schemars(with = "String")]
    pub service: AwsServiceKind,
    /// The region.
    #[serde(default)]
    pub region: String,
    /// How to log in; the controller's own credentials (environment, web identity) without.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AwsAuth>,
    /// An IAM role to assume with those credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A prefix put before every remote key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Settings not implemented (additionalRoles, externalID, session tags, and
    /// `secretsManager`, which only PushSecret uses), by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `provider.aws.service`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum AwsServiceKind {
    /// AWS Secrets Manager.
    #[default]
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
    /// Any other service (`CertificateManager`), refused by name.
    #[serde(other)]
    Other,
}

/// `provider.aws.auth`: static keys from a Secret. Methods not implemented (`jwt`) are kept
/// by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-preserve-unknown-fields" = true))]
pub struct AwsAuth {
    /// An access key, its secret and optionally a session token, from Secret keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<AwsAuthSecretRef>,
    /// Methods not implemented, by name.
    #[serde(flatten)]
    #[schemars(skip)]
    pub other: BTreeMap<String, serde_json::Value>,
}

/// `auth.secretRef`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AwsAuthSecretRef {
    /// The access key id.
    #[serde(rename = "accessKeyIDSecretRef", default)]
    pub access_key_id: SecretKeySelector,
    /// The secret access key.
    #[serde(rename = "secretAccessKeySecretRef", default)]
    pub secret_access_key: SecretKeySelector,
    /// A session token, for temporary credentials.
    #[serde(
        rename = "sessionTokenSecretRef",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub session_token: Option<SecretKeySelector>,
}

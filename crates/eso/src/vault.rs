//! `provider.vault`: logging in with the store's auth and reading KV v1/v2 secrets through
//! the workspace's one Vault client ([`lockstep_keys::vault`]), with ESO's path rules.

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use lockstep_api::external_secrets::{
    SecretKeySelector, ServiceAccountSelector, VaultAuthSpec, VaultJwtAuth, VaultKubernetesAuth,
    VaultKvVersion, VaultProvider,
};
use lockstep_keys::RemoteFailure;
use lockstep_keys::vault::{
    KvDocument, SERVICE_ACCOUNT_TOKEN, VaultAuth, VaultSession, VaultSource,
};
use secrecy::SecretString;

use crate::credentials::{read_key, ref_namespace};
use crate::error::{Error, Store};

/// The ServiceAccount token `auth.kubernetes` logs in with, as ESO finds it: one requested
/// for `serviceAccountRef` (10 minutes, its audiences), else `secretRef`'s (key `token` by
/// default), else the controller's own. `Err` names the field and what is wrong, never a
/// token.
async fn kubernetes_token(
    auth: &VaultKubernetesAuth,
    client: &kube::Client,
    store: &Store,
    namespace: &str,
) -> Result<SecretString, (String, String)> {
    if let Some(account) = &auth.service_account_ref {
        return request_token(client, store, namespace, account, &[], 600)
            .await
            .map_err(|reason| ("kubernetes.serviceAccountRef".to_owned(), reason));
    }
    if let Some(selector) = &auth.secret_ref {
        let mut selector = selector.clone();
        if selector.key.is_empty() {
            "token".clone_into(&mut selector.key);
        }
        return read_key(client, store, namespace, &selector)
            .await
            .map_err(|reason| ("kubernetes.secretRef".to_owned(), reason));
    }
    match tokio::fs::read_to_string(SERVICE_ACCOUNT_TOKEN).await {
        Ok(token) => Ok(SecretString::from(
            zeroize::Zeroizing::new(token).trim().to_owned(),
        )),
        Err(e) => Err((
            "kubernetes".to_owned(),
            format!(
                "neither serviceAccountRef nor secretRef is given, and the controller's own \
                 ServiceAccount token cannot be read at {SERVICE_ACCOUNT_TOKEN}: {e}"
            ),
        )),
    }
}

/// The JWT `auth.jwt` logs in with, as ESO finds it: `secretRef`'s, else one requested for
/// `kubernetesServiceAccountToken` (its audiences, `vault` unless given, added to the
/// ServiceAccount ref's; 600 seconds unless given).
async fn jwt_token(
    auth: &VaultJwtAuth,
    client: &kube::Client,
    store: &Store,
    namespace: &str,
) -> Result<SecretString, (String, String)> {
    if let Some(selector) = &auth.secret_ref {
        return read_key(client, store, namespace, selector)
            .await
            .map_err(|reason| ("jwt.secretRef".to_owned(), reason));
    }
    let Some(token) = &auth.kubernetes_service_account_token else {
        return Err((
            "jwt".to_owned(),
            "neither secretRef nor kubernetesServiceAccountToken is given as the JWT's source"
                .to_owned(),
        ));
    };
    let audiences = token
        .audiences
        .clone()
        .unwrap_or_else(|| vec!["vault".into()]);
    let seconds = token.expiration_seconds.unwrap_or(600);
    let account = &token.service_account_ref;
    request_token(client, store, namespace, account, &audiences, seconds)
        .await
        .map_err(|reason| ("jwt.kubernetesServiceAccountToken".to_owned(), reason))
}

/// A token the API server issues for `account` (for a ClusterSecretStore in the ref's
/// namespace, else the ExternalSecret's), for its audiences and `extra` ones.
async fn request_token(
    client: &kube::Client,
    store: &Store,
    namespace: &str,
    account: &ServiceAccountSelector,
    extra: &[String],
    seconds: i64,
) -> Result<SecretString, String> {
    let namespace = ref_namespace(store, account.namespace.as_deref(), namespace);
    let accounts: kube::Api<ServiceAccount> = kube::Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: [account.audiences.as_slice(), extra].concat(),
            expiration_seconds: Some(seconds),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let params = kube::api::PostParams::default();
    let answer = accounts
        .create_token_request(&account.name, &params, &request)
        .await
        .map_err(|e| {
            format!(
                "cannot request a token for ServiceAccount {namespace}/{}: {e}",
                account.name
            )
        })?;
    Ok(SecretString::from(
        answer.status.map(|s| s.token).unwrap_or_default(),
    ))
}

/// The auth mount a store names, else the method's default (ESO's CRD defaults, which
/// Lockstep's CRDs do not carry); an empty one is the default too.
fn mount(path: Option<&str>, default: &str) -> String {
    path.filter(|p| !p.is_empty()).unwrap_or(default).to_owned()
}

/// A logged-in Vault store.
pub struct VaultStore {
    store: Store,
    mount: Option<String>,
    version: VaultKvVersion,
    session: VaultSession,
}

/// The field of a store every auth error names.
const AUTH: &str = "spec.provider.vault.auth";

impl VaultStore {
    /// Reads the credentials the store names (from Secrets, with ESO's namespace rules:
    /// the ExternalSecret's namespace, or for a ClusterSecretStore the ref's own) and logs
    /// in.
    ///
    /// # Errors
    /// [`Error::Auth`] for a missing method, Secret or key; [`Error::Login`] when Vault
    /// refuses.
    pub async fn login(
        store: Store,
        provider: &VaultProvider,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<Self, Error> {
        let auth_error = |field: String, reason: String| Error::Auth {
            store: store.clone(),
            field,
            reason,
        };
        let auth = provider.auth.as_ref().ok_or_else(|| {
            auth_error(
                AUTH.into(),
                "no auth method is given (tokenSecretRef, appRole, kubernetes, jwt or userPass)"
                    .into(),
            )
        })?;
        let resolve = async |field: &str, selector: &SecretKeySelector| {
            read_key(client, &store, namespace, selector)
                .await
                .map_err(|reason| auth_error(format!("{AUTH}.{field}"), reason))
        };
        let method = match auth {
            VaultAuthSpec {
                token_secret_ref: Some(selector),
                ..
            } => VaultAuth::Token(resolve("tokenSecretRef", selector).await?),
            VaultAuthSpec {
                app_role: Some(role),
                ..
            } => {
                let role_id = match (&role.role_id, &role.role_ref) {
                    (Some(id), _) => id.clone(),
                    (None, Some(selector)) => {
                        let id = resolve("appRole.roleRef", selector).await?;
                        secrecy::ExposeSecret::expose_secret(&id).to_owned()
                    }
                    (None, None) => {
                        return Err(auth_error(
                            format!("{AUTH}.appRole"),
                            "neither roleId nor roleRef is given".into(),
                        ));
                    }
                };
                VaultAuth::AppRole {
                    mount: mount(role.path.as_deref(), "approle"),
                    role_id,
                    secret_id: resolve("appRole.secretRef", &role.secret_ref).await?,
                }
            }
            VaultAuthSpec {
                kubernetes: Some(kubernetes),
                ..
            } => VaultAuth::Kubernetes {
                mount: mount(kubernetes.mount_path.as_deref(), "kubernetes"),
                role: kubernetes.role.clone(),
                jwt: kubernetes_token(kubernetes, client, &store, namespace)
                    .await
                    .map_err(|(field, reason)| auth_error(format!("{AUTH}.{field}"), reason))?,
            },
            VaultAuthSpec {
                user_pass: Some(user),
                ..
            } => VaultAuth::UserPass {
                mount: mount(user.path.as_deref(), "userpass"),
                username: user.username.clone(),
                password: resolve("userPass.secretRef", &user.secret_ref).await?,
            },
            VaultAuthSpec { jwt: Some(jwt), .. } => VaultAuth::Jwt {
                mount: mount(jwt.path.as_deref(), "jwt"),
                role: jwt
                    .role
                    .as_deref()
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                jwt: jwt_token(jwt, client, &store, namespace)
                    .await
                    .map_err(|(field, reason)| auth_error(format!("{AUTH}.{field}"), reason))?,
            },
            VaultAuthSpec { other, .. } => {
                let method = other.keys().next().cloned().unwrap_or_default();
                return Err(auth_error(
                    AUTH.into(),
                    if method.is_empty() {
                        "no auth method is given (tokenSecretRef, appRole, kubernetes, jwt or userPass)"
                            .into()
                    } else {
                        format!(
                            "auth method {method:?} is not supported by Lockstep yet \
                             (tokenSecretRef, appRole, kubernetes, jwt and userPass are)"
                        )
                    },
                ));
            }
        };
        let source = VaultSource {
            address: provider.server.clone(),
            auth: method,
            namespace: provider.namespace.clone(),
        };
        let session = source.login().await.map_err(|source| Error::Login {
            store: store.clone(),
            source,
        })?;
        Ok(Self {
            store,
            mount: provider.path.clone(),
            version: provider.version.unwrap_or_default(),
            session,
        })
    }

    /// The data of the secret at `key` (ESO's `remoteRef.key`), at `version`. `Ok(None)`
    /// when it does not exist or the version has no data: ESO's "no secret", which the
    /// deletion policy decides about.
    ///
    /// # Errors
    /// [`Error::Read`] when Vault refuses or cannot be reached; `field` names the remote
    /// ref in the ExternalSecret.
    pub async fn read(
        &self,
        field: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<KvDocument>, Error> {
        let kv1 = self.version == VaultKvVersion::V1;
        let version = match (kv1, version.filter(|v| !v.is_empty())) {
            (false, Some(v)) => Some(v.parse::<u64>().map_err(|_| Error::Field {
                field: format!("{field}.version"),
                reason: "a KV v2 version is a number".into(),
            })?),
            _ => None,
        };
        let (mount, path) = kv_location(self.mount.as_deref(), self.version, key);
        match self
            .session
            .read_kv_document(&mount, &path, kv1, version)
            .await
        {
            Ok(document) => Ok(document),
            Err(lockstep_keys::Error::VaultRead {
                failure: RemoteFailure::NotFound,
                ..
            }) => Ok(None),
            Err(source) => Err(Error::Read {
                store: self.store.clone(),
                field: field.to_owned(),
                source,
            }),
        }
    }
}

impl VaultStore {
    /// The names (relative to the store's mount) of every secret under `path`, folders
    /// followed down, that pass `keep`: ESO's `listSecrets`. `None` when nothing is
    /// under `path`.
    ///
    /// # Errors
    /// [`Error::Field`] without a store mount; [`Error::Read`] when Vault refuses.
    pub async fn list(
        &self,
        field: &str,
        path: Option<&str>,
    ) -> Result<Option<Vec<String>>, Error> {
        let Some(mount) = self.mount.as_deref() else {
            return Err(Error::Field {
                field: field.to_owned(),
                reason: format!(
                    "{} has no spec.provider.vault.path (the KV mount), which a search needs",
                    self.store
                ),
            });
        };
        let kv1 = self.version == VaultKvVersion::V1;
        let mut folders = vec![path.map(|p| format!("{p}/")).unwrap_or_default()];
        let mut names = Vec::new();
        let mut any = false;
        while let Some(folder) = folders.pop() {
            let listed = self
                .session
                .list_kv(mount, &folder, kv1)
                .await
                .map_err(|source| self.read_error(field, source))?;
            let Some(listed) = listed else { continue };
            any = true;
            for name in listed {
                let full = format!("{folder}{name}");
                match name.ends_with('/') {
                    true => folders.push(full),
                    false => names.push(full),
                }
            }
        }
        Ok(any.then_some(names))
    }

    /// Whether the secret `name` carries every tag of `tags` in its custom metadata (KV
    /// v2 only, as in ESO).
    ///
    /// # Errors
    /// [`Error::Field`] for KV v1; [`Error::Read`] when Vault refuses.
    pub async fn has_tags(
        &self,
        field: &str,
        name: &str,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<bool, Error> {
        if self.version == VaultKvVersion::V1 {
            return Err(Error::Field {
                field: format!("{field}.tags"),
                reason: format!("{} is KV v1, which has no tags to search by", self.store),
            });
        }
        let mount = self.mount.as_deref().unwrap_or_default();
        let metadata = self
            .session
            .kv_custom_metadata(mount, name)
            .await
            .map_err(|source| self.read_error(field, source))?;
        Ok(tags.iter().all(|(k, v)| metadata.get(k) == Some(v)))
    }

    fn read_error(&self, field: &str, source: lockstep_keys::Error) -> Error {
        Error::Read {
            store: self.store.clone(),
            field: field.to_owned(),
            source,
        }
    }
}

/// ESO's `buildPath`, as the `(mount, path)` pair the KV calls take: with a mount, a key
/// that repeats it (and, for KV v2, `data/`) is cut back to the path under it; without
/// one, the mount is the key's first segment, or for KV v2 everything before `/data/`.
pub fn kv_location(mount: Option<&str>, version: VaultKvVersion, key: &str) -> (String, String) {
    let v2 = version == VaultKvVersion::V2;
    if let Some(mount) = mount {
        let mut path = key;
        if let Some(rest) = key.strip_prefix(&format!("{mount}/")) {
            path = rest;
            if v2 {
                path = path.strip_prefix("data/").unwrap_or(path);
            }
        }
        return (mount.to_owned(), path.to_owned());
    }
    if v2 && let Some((mount, path)) = key.split_once("/data/") {
        return (mount.to_owned(), path.to_owned());
    }
    let (mount, path) = key.split_once('/').unwrap_or((key, ""));
    (mount.to_owned(), path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of ESO's `buildPath` comment, plus a mount of several segments.
    #[test]
    fn paths_are_built_as_eso_builds_them() {
        let v1 = VaultKvVersion::V1;
        let v2 = VaultKvVersion::V2;
        let url = |mount, version, key| {
            let (m, p) = kv_location(mount, version, key);
            match version {
                VaultKvVersion::V2 => format!("{m}/data/{p}"),
                VaultKvVersion::V1 => format!("{m}/{p}"),
            }
        };
        assert_eq!(url(Some("secret/path"), v2, "foo"), "secret/path/data/foo");
        assert_eq!(url(Some("secret/path"), v1, "foo"), "secret/path/foo");
        assert_eq!(
            url(Some("secret/path"), v2, "secret/path/foo"),
            "secret/path/data/foo"
        );
        assert_eq!(
            url(Some("secret/path"), v2, "secret/path/data/foo"),
            "secret/path/data/foo"
        );
        assert_eq!(
            url(Some("secret/path"), v1, "secret/path/foo"),
            "secret/path/foo"
        );
        assert_eq!(url(None, v2, "secret/path/foo"), "secret/data/path/foo");
        assert_eq!(
            url(None, v2, "secret/path/data/foo"),
            "secret/path/data/foo"
        );
        assert_eq!(url(None, v1, "secret/path/foo"), "secret/path/foo");
        assert_eq!(url(Some("secret"), v2, "secret/data/db"), "secret/data/db");
    }
}

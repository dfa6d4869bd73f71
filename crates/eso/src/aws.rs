//! `provider.aws`: AWS Secrets Manager and Parameter Store through the workspace's AWS
//! clients ([`lockstep_keys::aws::secrets`]), with ESO's rules for keys, versions,
//! credentials and endpoints.

use lockstep_api::external_secrets::{AwsProvider, AwsServiceKind, Find, RemoteRef};
use lockstep_keys::aws::Credentials;
use lockstep_keys::aws::secrets::{
    AwsSecretsSource, ParameterStore, SecretPayload, SecretVersion, SecretsManager,
};
use secrecy::ExposeSecret;

use crate::credentials::read_key;
use crate::error::{Error, Store};
use crate::value::Bytes;
use std::collections::BTreeMap;

/// The environment variables ESO reads for its endpoints; Lockstep reads the same, so a
/// deployment switching from ESO keeps pointing where it pointed.
const SECRETS_MANAGER_ENDPOINT: &str = "AWS_SECRETSMANAGER_ENDPOINT";
const SSM_ENDPOINT: &str = "AWS_SSM_ENDPOINT";
const STS_ENDPOINT: &str = "AWS_STS_ENDPOINT";

/// The field of a store every AWS settings error names.
const PROVIDER: &str = "spec.provider.aws";

/// A store's AWS client.
pub struct AwsStore {
    store: Store,
    prefix: String,
    service: Service,
}

enum Service {
    SecretsManager(SecretsManager),
    ParameterStore(ParameterStore),
}

impl AwsStore {
    /// Reads the credentials the store names (ESO's namespace rules, as for Vault) and
    /// builds the client; AWS is first called by [`Self::read`].
    ///
    /// # Errors
    /// [`Error::Auth`] for a setting Lockstep does not serve or a missing Secret or key.
    pub async fn connect(
        store: Store,
        provider: &AwsProvider,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<Self, Error> {
        let refuse = |field: String, reason: String| Error::Auth {
            store: store.clone(),
            field,
            reason,
        };
        if let Some(setting) = provider.other.keys().find(|k| *k != "secretsManager") {
            return Err(refuse(
                format!("{PROVIDER}.{setting}"),
                "not supported by Lockstep yet (service, region, auth.secretRef, role and \
                 prefix are)"
                    .into(),
            ));
        }
        let endpoint_variable = match provider.service {
            AwsServiceKind::SecretsManager => SECRETS_MANAGER_ENDPOINT,
            AwsServiceKind::ParameterStore => SSM_ENDPOINT,
            AwsServiceKind::Other => {
                return Err(refuse(
                    format!("{PROVIDER}.service"),
                    "only SecretsManager and ParameterStore are supported by Lockstep".into(),
                ));
            }
        };
        if provider.region.is_empty() {
            return Err(refuse(
                format!("{PROVIDER}.region"),
                "a region is required".into(),
            ));
        }
        let auth = provider.auth.as_ref();
        if let Some(method) = auth.and_then(|a| a.other.keys().next()) {
            return Err(refuse(
                format!("{PROVIDER}.auth.{method}"),
                "not supported by Lockstep yet (secretRef is, or no auth for the \
                 controller's own credentials)"
                    .into(),
            ));
        }
        let credentials = match auth.and_then(|a| a.secret_ref.as_ref()) {
            Some(keys) => {
                let resolve = async |field: &str, selector| {
                    read_key(client, &store, namespace, selector)
                        .await
                        .map_err(|reason| {
                            refuse(format!("{PROVIDER}.auth.secretRef.{field}"), reason)
                        })
                };
                let id = resolve("accessKeyIDSecretRef", &keys.access_key_id).await?;
                let secret = resolve("secretAccessKeySecretRef", &keys.secret_access_key).await?;
                let token = match &keys.session_token {
                    Some(selector) => Some(resolve("sessionTokenSecretRef", selector).await?),
                    None => None,
                };
                Some(Credentials::new(
                    id.expose_secret(),
                    secret.expose_secret(),
                    token.map(|t| t.expose_secret().to_owned()),
                    None,
                    "external-secrets-store",
                ))
            }
            None => None,
        };
        let source = AwsSecretsSource {
            region: provider.region.clone(),
            endpoint: env(endpoint_variable),
            sts_endpoint: env(STS_ENDPOINT),
            credentials,
            role: provider.role.clone().filter(|r| !r.is_empty()),
        };
        let service = match provider.service {
            AwsServiceKind::ParameterStore => {
                Service::ParameterStore(ParameterStore::connect(&source).await)
            }
            _ => Service::SecretsManager(SecretsManager::connect(&source).await),
        };
        Ok(Self {
            store,
            prefix: provider.prefix.clone().unwrap_or_default(),
            service,
        })
    }

    /// The value at `remote` (ESO's `GetSecret` before `property`): a secret's
    /// `SecretString` or `SecretBinary` at its version (`uuid/<id>` for a version id, else
    /// a staging label, `AWSCURRENT` by default), or a parameter's decrypted value
    /// (`name:version` for a version). `Ok(None)` when it does not exist.
    ///
    /// # Errors
    /// [`Error::Read`] when AWS refuses or cannot be reached.
    pub async fn read(&self, field: &str, remote: &RemoteRef) -> Result<Option<Bytes>, Error> {
        let key = format!("{}{}", self.prefix, remote.key);
        let version = remote.version.as_deref().filter(|v| !v.is_empty());
        let read = match &self.service {
            Service::SecretsManager(client) => {
                let version = match version {
                    Some(v) => match v.strip_prefix("uuid/") {
                        Some(id) => SecretVersion::Id(id),
                        None => SecretVersion::Stage(v),
                    },
                    None => SecretVersion::Stage("AWSCURRENT"),
                };
                client
                    .secret(&key, version)
                    .await
                    .map(|payload| payload.map(SecretPayload::into_bytes))
            }
            Service::ParameterStore(client) => {
                let name = match version {
                    Some(v) => format!("{key}:{v}"),
                    None => key,
                };
                client.parameter(&name).await.map(|value| {
                    value.map(|mut text| Bytes::new(std::mem::take(&mut *text).into_bytes()))
                })
            }
        };
        read.map_err(|source| Error::Read {
            store: self.store.clone(),
            field: field.to_owned(),
            source,
        })
    }
}

impl AwsStore {
    /// The secrets a `find` reads, by name, as ESO v0.16.2 finds them (the store's
    /// prefix does not apply to the search, and does to the reads, as in ESO):
    /// - Secrets Manager by name: every secret (or those whose name starts with `path`)
    ///   whose name matches; by tags: those carrying them (and starting with `path`).
    /// - Parameter Store by name: every parameter under `path` (`/` by default),
    ///   recursively, whose name matches; by tags: those carrying them (under `path`).
    ///
    /// # Errors
    /// [`Error::Field`] for a find with neither name nor tags; [`Error::Read`] when AWS
    /// refuses.
    pub async fn find(
        &self,
        field: &str,
        find: &Find,
        matches: impl Fn(&str) -> bool,
    ) -> Result<BTreeMap<String, Bytes>, Error> {
        let read_error = |source| Error::Read {
            store: self.store.clone(),
            field: field.to_owned(),
            source,
        };
        if find.name.is_none() && find.tags.is_empty() {
            return Err(Error::Field {
                field: field.to_owned(),
                reason: "a find needs name or tags".into(),
            });
        }
        let by_name = find.name.is_some();
        let path = find.path.as_deref();
        let mut found = BTreeMap::new();
        let names = match &self.service {
            Service::ParameterStore(client) if by_name => {
                for (name, mut value) in client
                    .by_path(path.unwrap_or("/"))
                    .await
                    .map_err(read_error)?
                {
                    if matches(&name) {
                        found.insert(name, Bytes::new(std::mem::take(&mut *value).into_bytes()));
                    }
                }
                return Ok(found);
            }
            Service::ParameterStore(client) => client
                .with_tags(&find.tags, path)
                .await
                .map_err(read_error)?,
            Service::SecretsManager(client) => {
                let none = BTreeMap::new();
                let tags = if by_name { &none } else { &find.tags };
                client.list(path, tags).await.map_err(read_error)?
            }
        };
        for name in names {
            if !by_name || matches(&name) {
                let remote = RemoteRef {
                    key: name.clone(),
                    ..RemoteRef::default()
                };
                if let Some(value) = self.read(field, &remote).await? {
                    found.insert(name, value);
                }
            }
        }
        Ok(found)
    }
}

/// An endpoint variable, when set and not empty.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

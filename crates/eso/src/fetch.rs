//! Reading every value an ExternalSecret names: `dataFrom[]` first, then `data[]` (later
//! entries win), as ESO's `getProviderSecretData` does, from whichever provider the store
//! names ([`Provider`]).

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use lockstep_api::external_secrets::{
    ClusterSecretStore, DeletionPolicy, ExternalSecret, MetadataPolicy, RemoteRef, SecretStore,
    SecretStoreProvider, StoreKind,
};
use lockstep_keys::vault::KvDocument;

use crate::aws::AwsStore;
use crate::conditions;
use crate::decode::{convert_keys, decode, validate_keys};
use crate::error::{Error, Store};
use crate::find;
use crate::value::{Bytes, ValueError, expand, expand_text, select, select_text};
use crate::vault::VaultStore;

/// A store's provider, logged in (Vault) or ready to call (AWS).
pub enum Provider {
    /// Vault or OpenBao KV.
    Vault(Box<VaultStore>),
    /// AWS Secrets Manager or Parameter Store.
    Aws(AwsStore),
}

/// The Vault secrets one [`fetch`] has read, by key and version. ESO reads a secret once
/// per remote ref; Lockstep once per fetch, so three properties of one secret are one
/// request and come from the same version of it. Dropped when the fetch ends.
type Documents = HashMap<(String, Option<String>), Option<KvDocument>>;

impl Provider {
    /// One remote ref's value (ESO's `GetSecret`); `None` when its secret does not exist.
    /// A Vault secret already in `documents` is not read again.
    async fn read(
        &self,
        field: &str,
        remote: &RemoteRef,
        documents: &mut Documents,
    ) -> Result<Option<Bytes>, Error> {
        if remote.metadata_policy == Some(MetadataPolicy::Fetch) {
            return Err(Error::Field {
                field: format!("{field}.metadataPolicy"),
                reason: "Fetch is not supported by Lockstep yet (None is)".into(),
            });
        }
        let property = remote.property.as_deref();
        let selected = match self {
            Self::Vault(store) => {
                let slot = (remote.key.clone(), remote.version.clone());
                let document = match documents.entry(slot) {
                    Entry::Occupied(read) => read.into_mut(),
                    Entry::Vacant(slot) => {
                        let version = remote.version.as_deref();
                        slot.insert(store.read(field, &remote.key, version).await?)
                    }
                };
                let Some(document) = document else {
                    return Ok(None);
                };
                select(document, property)
            }
            Self::Aws(store) => {
                let Some(text) = store.read(field, remote).await? else {
                    return Ok(None);
                };
                select_text(&text, property)
            }
        };
        selected.map(Some).map_err(|source| Error::Value {
            field: format!("{field}.property"),
            source,
        })
    }

    /// ESO's `GetSecretMap` step after [`Self::read`]: one key per field of a JSON object.
    fn expand(&self, bytes: &[u8]) -> Result<BTreeMap<String, Bytes>, ValueError> {
        match self {
            Self::Vault(_) => expand(bytes),
            Self::Aws(_) => expand_text(bytes),
        }
    }
}

/// The values read, by Secret key; each zeroized on drop.
pub type SecretData = BTreeMap<String, Bytes>;

/// What reading produced.
pub struct Fetched {
    /// The values, by Secret key.
    pub data: SecretData,
    /// Remote refs skipped because their secret does not exist (with a `deletionPolicy`
    /// other than `Retain`), by field: ESO's `MissingProviderSecret` events.
    pub missing: Vec<String>,
}

/// The stores a caller already holds, such as a controller's watch of them. A store found
/// here is not read from the API server; one not found (not delivered yet, or gone) is.
pub trait KnownStores: Send + Sync {
    /// The SecretStore `namespace/name`, if held.
    fn secret_store(&self, namespace: &str, name: &str) -> Option<Arc<SecretStore>>;
    /// The ClusterSecretStore `name`, if held.
    fn cluster_secret_store(&self, name: &str) -> Option<Arc<ClusterSecretStore>>;
}

/// The store an ExternalSecret names, as [`Store`] (for messages) and its provider: from
/// `known`, else read.
///
/// # Errors
/// [`Error::StoreMissing`] or [`Error::StoreRead`].
pub async fn store_of(
    client: &kube::Client,
    known: &dyn KnownStores,
    es: &ExternalSecret,
) -> Result<(Store, SecretStoreProvider), Error> {
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let reference = es.spec.secret_store_ref.clone().unwrap_or_default();
    let kind = reference.kind.unwrap_or_default();
    let store = Store {
        kind,
        namespace: (kind == StoreKind::SecretStore).then_some(namespace.clone()),
        name: reference.name.clone(),
    };
    let read_error = |source| Error::StoreRead {
        store: store.clone(),
        source,
    };
    let provider = match kind {
        StoreKind::SecretStore => match known.secret_store(&namespace, &reference.name) {
            Some(held) => Some(held.spec.provider.clone()),
            None => Api::<SecretStore>::namespaced(client.clone(), &namespace)
                .get_opt(&reference.name)
                .await
                .map_err(read_error)?
                .map(|s| s.spec.provider),
        },
        StoreKind::ClusterSecretStore => {
            let found = match known.cluster_secret_store(&reference.name) {
                Some(held) => Some(held),
                None => Api::<ClusterSecretStore>::all(client.clone())
                    .get_opt(&reference.name)
                    .await
                    .map_err(read_error)?
                    .map(Arc::new),
            };
            if let Some(cluster_store) = &found
                && !conditions::allow(client, &store, &cluster_store.spec.conditions, &namespace)
                    .await?
            {
                return Err(Error::StoreNotAllowed { store, namespace });
            }
            found.map(|s| s.spec.provider.clone())
        }
    };
    let provider = provider.ok_or_else(|| Error::StoreMissing {
        store: store.clone(),
    })?;
    Ok((store, provider))
}

/// Logs in to the store's provider.
///
/// # Errors
/// [`Error::UnknownProvider`] for a provider other than Vault or AWS; as
/// [`VaultStore::login`] and [`AwsStore::connect`].
pub async fn open(
    client: &kube::Client,
    store: Store,
    provider: &SecretStoreProvider,
    namespace: &str,
) -> Result<Provider, Error> {
    match (&provider.vault, &provider.aws) {
        (Some(vault), _) => VaultStore::login(store, vault, client, namespace)
            .await
            .map(|store| Provider::Vault(Box::new(store))),
        (None, Some(aws)) => AwsStore::connect(store, aws, client, namespace)
            .await
            .map(Provider::Aws),
        (None, None) => Err(Error::UnknownProvider {
            provider: provider
                .other
                .keys()
                .next()
                .cloned()
                .unwrap_or_else(|| "<none>".into()),
            store,
        }),
    }
}

/// Reads every value of `es` from `store`.
///
/// # Errors
/// The first [`Error`] met; nothing is half-returned.
pub async fn fetch(es: &ExternalSecret, store: &Provider) -> Result<Fetched, Error> {
    let retain = es
        .spec
        .target
        .as_ref()
        .and_then(|t| t.deletion_policy)
        .unwrap_or_default()
        == DeletionPolicy::Retain;
    if let Some(setting) = es.spec.target.as_ref().and_then(|t| t.other.keys().next()) {
        return Err(Error::Field {
            field: format!("spec.target.{setting}"),
            reason: "not supported by Lockstep yet".into(),
        });
    }
    let mut fetched = Fetched {
        data: SecretData::new(),
        missing: Vec::new(),
    };
    let mut documents = Documents::new();
    for (i, from) in es.spec.data_from.iter().enumerate() {
        let field = format!("spec.dataFrom[{i}]");
        if let Some(source) = from.other.keys().next() {
            return Err(Error::Field {
                field: format!("{field}.{source}"),
                reason: "not supported by Lockstep yet (extract and find are)".into(),
            });
        }
        let (read, key, conversion, decoding) = match (&from.find, &from.extract) {
            (Some(search), _) => {
                let field = format!("{field}.find");
                let found = find::find(store, &field, search).await?;
                let key = search.path.clone().unwrap_or_default();
                (
                    found.map(|map| (field, map)),
                    key,
                    search.conversion_strategy,
                    search.decoding_strategy,
                )
            }
            (None, Some(remote)) => {
                let field = format!("{field}.extract");
                let read = match store.read(&field, remote, &mut documents).await? {
                    Some(bytes) => {
                        let map = store.expand(&bytes).map_err(|source| Error::Value {
                            field: field.clone(),
                            source,
                        })?;
                        Some((field, map))
                    }
                    None => None,
                };
                (
                    read,
                    remote.key.clone(),
                    remote.conversion_strategy,
                    remote.decoding_strategy,
                )
            }
            (None, None) => continue,
        };
        let Some((field, map)) = read else {
            let field = format!(
                "{field}.{}",
                if from.find.is_some() {
                    "find"
                } else {
                    "extract"
                }
            );
            if retain {
                return Err(Error::NoSecret { field, key });
            }
            fetched.missing.push(field);
            continue;
        };
        let map = find::rewrite(&field, &from.rewrite, map)?;
        let decode_error = |source| Error::Decode {
            field: field.clone(),
            source,
        };
        let mut map = match from.rewrite.is_empty() {
            true => convert_keys(conversion.unwrap_or_default(), map).map_err(decode_error)?,
            false => map,
        };
        validate_keys(&mut map).map_err(decode_error)?;
        let strategy = decoding.unwrap_or_default();
        for (key, value) in map {
            let value = decode(strategy, value).map_err(decode_error)?;
            fetched.data.insert(key, value);
        }
    }
    for (i, entry) in es.spec.data.iter().enumerate() {
        if let Some(setting) = entry.other.keys().next() {
            return Err(Error::Field {
                field: format!("spec.data[{i}].{setting}"),
                reason: "not supported by Lockstep yet".into(),
            });
        }
        let field = format!("spec.data[{i}].remoteRef");
        let remote = &entry.remote_ref;
        let Some(value) = store.read(&field, remote, &mut documents).await? else {
            if retain {
                return Err(no_secret(field, remote));
            }
            fetched.missing.push(field);
            continue;
        };
        let value =
            decode(remote.decoding_strategy.unwrap_or_default(), value).map_err(|source| {
                Error::Decode {
                    field: format!("{field}.decodingStrategy"),
                    source,
                }
            })?;
        fetched.data.insert(entry.secret_key.clone(), value);
    }
    Ok(fetched)
}

fn no_secret(field: String, remote: &RemoteRef) -> Error {
    Error::NoSecret {
        field,
        key: remote.key.clone(),
    }
}

/// The Secret an ExternalSecret writes to: `spec.target.name`, else its own name.
pub fn target_name(es: &ExternalSecret) -> String {
    es.spec
        .target
        .as_ref()
        .and_then(|t| t.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| es.metadata.name.clone().unwrap_or_default())
}

/// Whether `secret` is the target of `es`.
pub fn targets(es: &ExternalSecret, secret: &Secret) -> bool {
    es.metadata.namespace == secret.metadata.namespace
        && secret.metadata.name.as_deref() == Some(target_name(es).as_str())
}

//! Why an ExternalSecret could not be synced. Every message names the object and the field
//! at fault and what to do, never a value: it becomes the `Ready=False` condition's message
//! and a Warning event.

use lockstep_api::external_secrets::StoreKind;

/// A store, as messages name it: `ClusterSecretStore vault` or `SecretStore apps/vault`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Store {
    /// Its kind.
    pub kind: StoreKind,
    /// Its namespace (`SecretStore`) or nothing (`ClusterSecretStore`).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind.as_str(), self.name),
            None => write!(f, "{} {}", self.kind.as_str(), self.name),
        }
    }
}

/// What kept an ExternalSecret from being synced.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `spec.secretStoreRef` names a store that does not exist.
    #[error("spec.secretStoreRef: {store} does not exist")]
    StoreMissing {
        /// The store named.
        store: Store,
    },
    /// The store could not be read from the API server.
    #[error("spec.secretStoreRef: cannot read {store}: {source}")]
    StoreRead {
        /// The store named.
        store: Store,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// A ClusterSecretStore whose `spec.conditions` do not include the ExternalSecret's
    /// namespace.
    #[error(
        "spec.secretStoreRef: {store} may not be used from namespace {namespace} (its \
         spec.conditions do not include it)"
    )]
    StoreNotAllowed {
        /// The store named.
        store: Store,
        /// The ExternalSecret's namespace.
        namespace: String,
    },
    /// The store's `spec.conditions` cannot be evaluated as written.
    #[error("{store}: spec.conditions: {reason}")]
    StoreConditions {
        /// The store.
        store: Store,
        /// What is wrong.
        reason: String,
    },
    /// The store's provider is not one Lockstep implements.
    #[error(
        "{store}: spec.provider.{provider} is not supported by Lockstep yet (vault and aws are)"
    )]
    UnknownProvider {
        /// The store.
        store: Store,
        /// The provider's field name (`aws`, `gcpsm`, …), or `<none>`.
        provider: String,
    },
    /// The store's auth settings or the Secrets they name are wrong.
    #[error("{store}: {field}: {reason}")]
    Auth {
        /// The store.
        store: Store,
        /// The field at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// Vault refused the login.
    #[error("{store}: spec.provider.vault.auth: {source}")]
    Login {
        /// The store.
        store: Store,
        /// What Vault said.
        #[source]
        source: lockstep_keys::Error,
    },
    /// The provider refused a read or could not be reached.
    #[error("{field}: reading from {store}: {source}")]
    Read {
        /// The store.
        store: Store,
        /// The remote ref's field in the ExternalSecret (`spec.data[0].remoteRef`).
        field: String,
        /// What the provider said.
        #[source]
        source: lockstep_keys::Error,
    },
    /// The remote secret does not exist (and `deletionPolicy` is `Retain`).
    #[error("{field}: secret {key:?} does not exist in the store")]
    NoSecret {
        /// The remote ref's field.
        field: String,
        /// The remote key.
        key: String,
    },
    /// A field of the ExternalSecret that cannot be served as written.
    #[error("{field}: {reason}")]
    Field {
        /// The field at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A property or extracted value does not fit.
    #[error("{field}: {source}")]
    Value {
        /// The field at fault.
        field: String,
        /// What is wrong.
        #[source]
        source: crate::value::ValueError,
    },
    /// A decoding or key rule refused a value or key.
    #[error("{field}: {source}")]
    Decode {
        /// The field at fault.
        field: String,
        /// What is wrong.
        #[source]
        source: crate::decode::DecodeError,
    },
}

impl Error {
    /// Whether trying again later may succeed without anyone changing anything (Vault
    /// sealed, a provider unreachable or throttling; the API server unavailable).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::StoreRead { .. } => true,
            Self::Login { source, .. } | Self::Read { source, .. } => match source {
                lockstep_keys::Error::VaultLogin { failure, .. }
                | lockstep_keys::Error::VaultRead { failure, .. }
                | lockstep_keys::Error::AwsRead { failure, .. } => failure.is_transient(),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the provider refused the credentials of a read (a Vault token expired or
    /// revoked, AWS access denied): a login made again may succeed.
    pub fn is_denied(&self) -> bool {
        matches!(
            self,
            Self::Read {
                source: lockstep_keys::Error::VaultRead {
                    failure: lockstep_keys::RemoteFailure::Denied,
                    ..
                } | lockstep_keys::Error::AwsRead {
                    failure: lockstep_keys::RemoteFailure::Denied,
                    ..
                },
                ..
            }
        )
    }
}

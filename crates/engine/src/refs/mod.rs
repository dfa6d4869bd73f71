//! Vault KV and AWS KMS references in Secrets, resolved at apply time.
//!
//! Git holds a Secret whose values *name* a secret instead of holding it, and the engine
//! fills them in right before apply, in memory. Only Secrets annotated
//! `lockstep.dev/resolve: enabled` are looked at, and only their `stringData` values that
//! are a whole reference ([`syntax`]); everything else is applied as written.
//!
//! ```yaml
//! apiVersion: v1
//! kind: Secret
//! metadata:
//!   name: db
//!   annotations:
//!     lockstep.dev/resolve: enabled
//!     lockstep.dev/refresh-interval: 10m
//! stringData:
//!   password: ref+vault://secret/app/db#password
//!   api-key: ref+awskms://AQICAH…?key=arn:aws:kms:eu-west-1:111122223333:key/…
//! ```
//!
//! Values come from a source outside Git and change without a commit, so they get a
//! cadence of their own: [`refresh_interval`] tells the reconciler how soon to resolve
//! again (the shortest `lockstep.dev/refresh-interval` of the Secrets, else
//! [`DEFAULT_REFRESH`]). Errors name the Secret, the key and the reference, never a value.

mod syntax;
mod vault;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_api::ReferenceUsed;
use lockstep_keys::kms::Credentials;
use lockstep_keys::{KeyService, KmsKey, RemoteFailure, VaultSource, WrappedKey};
use serde_json::Value;
use tracing::instrument;
use zeroize::Zeroizing;

pub use syntax::{PREFIX, Reference};

use crate::keys::Keys;
use crate::redact::{Redactor, is_secret};
use crate::render::Manifest;

/// The annotation that turns resolution on for a Secret (value `enabled`).
pub const RESOLVE_ANNOTATION: &str = "lockstep.dev/resolve";
/// The annotation with a Secret's own refresh interval (a Go duration, `10m`).
pub const REFRESH_ANNOTATION: &str = "lockstep.dev/refresh-interval";
/// How often references are resolved again without one (External Secrets' default).
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);

/// Why a reference did not resolve. Names the Secret, key and reference, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefError {
    /// A value starts with `ref+` but is not a valid reference.
    #[error("Secret {secret}, key {key}: invalid reference: {reason}")]
    Invalid {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A Vault reference, but the Sync has no Vault configured.
    #[error(
        "Secret {secret}, key {key}: {reference}: no Vault address and credentials for this Sync"
    )]
    NoVault {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// The reference.
        reference: String,
    },
    /// Vault refused or failed (login or read).
    #[error("Secret {secret}, key {key}: {reference}: Vault {step} failed: {failure}: {detail}")]
    Vault {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// The reference.
        reference: String,
        /// `login (approle)`, `read`.
        step: String,
        /// What kind of failure.
        failure: RemoteFailure,
        /// What Vault said (status and messages, no body).
        detail: String,
    },
    /// The Vault secret exists but has no such field.
    #[error("Secret {secret}, key {key}: {reference}: the Vault secret has no such field")]
    NoField {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// The reference.
        reference: String,
    },
    /// KMS refused or failed.
    #[error("Secret {secret}, key {key}: {reference}: {source}")]
    Kms {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// The reference.
        reference: String,
        /// What KMS said.
        #[source]
        source: Box<lockstep_keys::Error>,
    },
    /// KMS answered that there are no AWS credentials at all.
    #[error("Secret {secret}, key {key}: {reference}: no AWS credentials for this Sync")]
    NoAws {
        /// `namespace/name` of the Secret.
        secret: String,
        /// The `stringData` key.
        key: String,
        /// The reference.
        reference: String,
    },
    /// Vault's Kubernetes auth needs the service-account token, which cannot be read.
    #[error("cannot read the service-account token for Vault's Kubernetes auth")]
    ServiceAccountToken {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The blocking KMS task panicked or was cancelled.
    #[error("the KMS task failed: {0}")]
    Task(String),
}

/// Where a Sync's references are resolved: its Vault (if any) and its AWS credentials.
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    vault: Option<VaultSource>,
    kms_credentials: Option<Credentials>,
    kms_endpoint: Option<String>,
}

impl Resolver {
    /// A resolver reading from `vault` (none: Vault references fail) and KMS with the
    /// default AWS chain.
    pub fn new(vault: Option<VaultSource>) -> Self {
        Resolver {
            vault,
            ..Default::default()
        }
    }

    /// A resolver with the credentials of a Sync's [`Keys`]: its Vault address and login
    /// (see [`crate::keys::Keys`]), and its AWS credentials and endpoint.
    ///
    /// # Errors
    /// [`RefError::ServiceAccountToken`] when Kubernetes auth is asked for and the
    /// service-account token cannot be read.
    pub fn from_keys(keys: &Keys) -> Result<Self, RefError> {
        let (kms_credentials, kms_endpoint) = keys.kms();
        let vault = keys
            .vault_source()
            .map_err(|source| RefError::ServiceAccountToken { source })?;
        Ok(Resolver {
            vault,
            kms_credentials,
            kms_endpoint,
        })
    }

    /// Uses this KMS endpoint instead of AWS's.
    pub fn with_kms_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.kms_endpoint = Some(endpoint.into());
        self
    }

    /// Uses these AWS credentials instead of the default chain.
    pub fn with_kms_credentials(mut self, credentials: Credentials) -> Self {
        self.kms_credentials = Some(credentials);
        self
    }

    /// Resolves every reference of the annotated Secrets in `manifests` in place, adding
    /// each value to `redactor`; returns each reference resolved (where, never what). A
    /// value that is not
    /// UTF-8 moves from `stringData` to `data` (base64).
    ///
    /// # Errors
    /// The first [`RefError`]; `manifests` may then be partly resolved and must not be
    /// applied.
    #[instrument(skip_all)]
    pub async fn resolve(
        &self,
        manifests: &mut [Manifest],
        redactor: &mut Redactor,
    ) -> Result<Vec<ReferenceUsed>, RefError> {
        let mut session = None;
        let mut resolved = Vec::new();
        for manifest in manifests.iter_mut().filter(|m| wants_resolution(&m.object)) {
            let secret = format!(
                "{}/{}",
                manifest.namespace().unwrap_or_default(),
                manifest.name()
            );
            let keys: Vec<String> = manifest.object["stringData"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default();
            for key in keys {
                let Some(text) = manifest.object["stringData"][&key].as_str() else {
                    continue;
                };
                let Some(reference) = Reference::parse(text) else {
                    continue;
                };
                let reference = reference.map_err(|reason| RefError::Invalid {
                    secret: secret.clone(),
                    key: key.clone(),
                    reason,
                })?;
                let value = self.value(&reference, &mut session, &secret, &key).await?;
                redactor.add(&value);
                put(&mut manifest.object, &key, value);
                manifest.holds_secrets = true;
                resolved.push(ReferenceUsed {
                    secret: secret.clone(),
                    reference: reference.shown(),
                    key,
                });
            }
        }
        tracing::debug!(count = resolved.len(), "resolved references");
        Ok(resolved)
    }

    async fn value(
        &self,
        reference: &Reference,
        session: &mut Option<vault::Session>,
        secret: &str,
        key: &str,
    ) -> Result<Zeroizing<Vec<u8>>, RefError> {
        let shown = reference.shown();
        match reference {
            Reference::Vault {
                mount,
                path,
                field,
                kv1,
                version,
            } => {
                let failed = |f: vault::Failure| RefError::Vault {
                    secret: secret.to_owned(),
                    key: key.to_owned(),
                    reference: shown.clone(),
                    step: f.step,
                    failure: f.failure,
                    detail: f.detail,
                };
                if session.is_none() {
                    let source = self.vault.as_ref().ok_or_else(|| RefError::NoVault {
                        secret: secret.to_owned(),
                        key: key.to_owned(),
                        reference: shown.clone(),
                    })?;
                    *session = Some(vault::Session::open(source).await.map_err(failed)?);
                }
                let session = session.as_mut().expect("opened above");
                let value = session
                    .field(mount, path, *kv1, *version, field)
                    .await
                    .map_err(failed)?
                    .ok_or_else(|| RefError::NoField {
                        secret: secret.to_owned(),
                        key: key.to_owned(),
                        reference: shown.clone(),
                    })?;
                Ok(Zeroizing::new(value.as_bytes().to_vec()))
            }
            Reference::Kms {
                ciphertext,
                key: arn,
                context,
            } => {
                let failed = |source| RefError::Kms {
                    secret: secret.to_owned(),
                    key: key.to_owned(),
                    reference: shown.clone(),
                    source: Box::new(source),
                };
                let mut kms = KmsKey::new(arn)
                    .map_err(failed)?
                    .with_context(context.clone());
                if let Some(credentials) = &self.kms_credentials {
                    kms = kms.with_credentials(credentials.clone());
                }
                if let Some(endpoint) = &self.kms_endpoint {
                    kms = kms.with_endpoint(endpoint);
                }
                let wrapped = WrappedKey(ciphertext.clone());
                let answer = tokio::task::spawn_blocking(move || kms.unwrap_share(&wrapped))
                    .await
                    .map_err(|e| RefError::Task(e.to_string()))?;
                answer.map_err(failed)?.ok_or_else(|| RefError::NoAws {
                    secret: secret.to_owned(),
                    key: key.to_owned(),
                    reference: shown.clone(),
                })
            }
        }
    }
}

/// Whether `object` is a Secret that asks for resolution.
fn wants_resolution(object: &Value) -> bool {
    is_secret(object) && object["metadata"]["annotations"][RESOLVE_ANNOTATION] == "enabled"
}

/// Puts a resolved value at `stringData.key`, or at `data.key` (base64) when not text.
fn put(object: &mut Value, key: &str, value: Zeroizing<Vec<u8>>) {
    match std::str::from_utf8(&value) {
        Ok(text) => object["stringData"][key] = Value::String(text.to_owned()),
        Err(_) => {
            if let Some(map) = object["stringData"].as_object_mut() {
                map.remove(key);
            }
            if !object["data"].is_object() {
                object["data"] = Value::Object(Default::default());
            }
            object["data"][key] = Value::String(STANDARD.encode(value.as_slice()));
        }
    }
}

/// Whether any Secret in `manifests` holds references (so the reconciler needs a timer).
pub fn has_references(manifests: &[Manifest]) -> bool {
    manifests.iter().any(|m| {
        wants_resolution(&m.object)
            && m.object["stringData"].as_object().is_some_and(|d| {
                d.values()
                    .filter_map(Value::as_str)
                    .any(|v| v.trim().starts_with(PREFIX))
            })
    })
}

/// How soon to resolve again: the shortest `lockstep.dev/refresh-interval` of the Secrets
/// with references (unparsable ones count as [`DEFAULT_REFRESH`]), or `None` when there
/// are no references.
pub fn refresh_interval(manifests: &[Manifest]) -> Option<Duration> {
    manifests
        .iter()
        .filter(|m| has_references(std::slice::from_ref(m)))
        .map(|m| {
            m.object["metadata"]["annotations"][REFRESH_ANNOTATION]
                .as_str()
                .and_then(|text| lockstep_api::parse_duration(text).ok())
                .filter(|d| !d.is_zero())
                .unwrap_or(DEFAULT_REFRESH)
        })
        .min()
}

//! Loading private keys for offline unsealing (`kubeseal --recovery-unseal
//! --recovery-private-key FILE`): a key file is a PEM private key (PKCS#1 or PKCS#8), or
//! one or more controller key Secrets in YAML/JSON, or a `v1 List` of them (the documented
//! backup, `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_keys::sealing::{KeyLoadError, SealingPrivateKey};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::manifest::{DocumentError, parse_all};

/// A key file could not be used. Names the document index, never key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// Not PEM, and not a YAML/JSON document.
    #[error("not a PEM private key nor a key Secret")]
    Document(#[source] DocumentError),
    /// A PEM private key that does not load.
    #[error("PEM private key")]
    Pem(#[source] KeyLoadError),
    /// A Secret (by position among the Secrets in the file) has no `data.tls.key`.
    #[error("secret #{index} has no data.\"tls.key\"")]
    NoTlsKey {
        /// 0-based position.
        index: usize,
    },
    /// `data.tls.key` is not base64.
    #[error("secret #{index}: data.\"tls.key\" is not base64")]
    Base64 {
        /// 0-based position.
        index: usize,
    },
    /// `data.tls.key` does not hold a usable RSA key.
    #[error("secret #{index}: data.\"tls.key\"")]
    Key {
        /// 0-based position.
        index: usize,
        /// Why.
        #[source]
        source: KeyLoadError,
    },
    /// The file holds no key.
    #[error("no private key found")]
    NoKeys,
}

/// Loads every private key in one key file (see the module docs for what a key file is).
///
/// # Errors
/// [`KeyFileError`].
pub fn load_private_keys(input: &[u8]) -> Result<Vec<SealingPrivateKey>, KeyFileError> {
    if input.windows(11).any(|w| w == b"-----BEGIN ") {
        return SealingPrivateKey::from_pem(input)
            .map(|k| vec![k])
            .map_err(KeyFileError::Pem);
    }
    let docs: Vec<Value> = parse_all(input, "key file").map_err(KeyFileError::Document)?;
    let mut secrets = Vec::new();
    for doc in docs {
        if doc.get("kind").and_then(Value::as_str) == Some("List") {
            if let Some(Value::Array(items)) = doc.get("items") {
                secrets.extend(items.iter().cloned());
            }
        } else {
            secrets.push(doc);
        }
    }
    let mut keys = Vec::new();
    for (index, mut secret) in secrets.into_iter().enumerate() {
        let encoded = secret
            .get_mut("data")
            .and_then(|d| d.get_mut("tls.key"))
            .and_then(|v| match v.take() {
                Value::String(s) => Some(Zeroizing::new(s)),
                _ => None,
            })
            .ok_or(KeyFileError::NoTlsKey { index })?;
        let pem = Zeroizing::new(
            STANDARD
                .decode(encoded.trim())
                .map_err(|_| KeyFileError::Base64 { index })?,
        );
        keys.push(
            SealingPrivateKey::from_pem(&pem)
                .map_err(|source| KeyFileError::Key { index, source })?,
        );
    }
    if keys.is_empty() {
        return Err(KeyFileError::NoKeys);
    }
    Ok(keys)
}

//! Re-sealing in place, for key rotation: every sealed item is opened with the old keys and
//! sealed again under the same scope label to a new public key, item by item, so the
//! SealedSecret keeps its metadata, template and item names — only the blobs change, and
//! no Secret is ever assembled. Also: which key sealed a SealedSecret, and reading every
//! SealedSecret of a multi-document file.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_keys::sealing::{SealingPrivateKey, SealingPublicKey};

use crate::crypto::{EncryptError, hybrid_decrypt, hybrid_encrypt};
use crate::manifest::{DocumentError, parse_all};
use crate::types::{KIND, SealedSecret};
use crate::unseal::{ItemErrorKind, ItemFailure, UnsealError, decode_blob};

/// Re-sealing failed; the SealedSecret is not changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResealError {
    /// An item did not open with any of the old keys (or is not base64).
    #[error(transparent)]
    Unseal(#[from] UnsealError),
    /// Sealing an item to the new key failed.
    #[error("re-sealing item {item} of SealedSecret {sealed_secret}")]
    Encrypt {
        /// `namespace/name`.
        sealed_secret: String,
        /// The item path (`encryptedData.password`, `data`).
        item: String,
        /// Why.
        #[source]
        source: EncryptError,
    },
}

/// Re-seals every item of `sealed` (and the legacy `spec.data`) to `to`, opening each with
/// the first of `keys` that can.
///
/// # Errors
/// [`ResealError::Unseal`] names every item no key opened; nothing is changed then.
pub fn reseal<'k, K>(
    sealed: &SealedSecret,
    keys: K,
    to: &SealingPublicKey,
) -> Result<SealedSecret, ResealError>
where
    K: IntoIterator<Item = &'k SealingPrivateKey> + Clone,
{
    let sealed_secret = sealed.display_name();
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let label = sealed.scope().label(namespace, name);
    let mut out = sealed.clone();
    let mut failures = Vec::new();
    let mut items: Vec<(String, &mut String)> = out
        .spec
        .encrypted_data
        .iter_mut()
        .map(|(item, value)| (format!("encryptedData.{item}"), value))
        .collect();
    if let Some(legacy) = out.spec.data.as_mut().filter(|d| !d.is_empty()) {
        items.push(("data".to_owned(), legacy));
    }
    for (path, value) in items {
        let plain = decode_blob(value)
            .ok_or(ItemErrorKind::InvalidBase64)
            .and_then(|blob| {
                hybrid_decrypt(keys.clone(), &blob, &label)
                    .map(|(_, plain)| plain)
                    .map_err(ItemErrorKind::from)
            });
        match plain {
            Ok(plain) => {
                let blob = hybrid_encrypt(to, plain.expose_secret(), &label).map_err(|source| {
                    ResealError::Encrypt {
                        sealed_secret: sealed_secret.clone(),
                        item: path.clone(),
                        source,
                    }
                })?;
                *value = STANDARD.encode(blob);
            }
            Err(kind) => failures.push(ItemFailure { path, kind }),
        }
    }
    if !failures.is_empty() {
        return Err(UnsealError::Items {
            sealed_secret,
            failures,
        }
        .into());
    }
    Ok(out)
}

/// The index in `keys` of the key `sealed` is sealed to (tried on its first item), or
/// `None` when none opens it or it has no items. The plaintext is dropped (zeroized) at
/// once.
pub fn sealing_key<'k>(
    sealed: &SealedSecret,
    keys: impl IntoIterator<Item = &'k SealingPrivateKey>,
) -> Option<usize> {
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let label = sealed.scope().label(namespace, name);
    let value = sealed
        .spec
        .encrypted_data
        .values()
        .next()
        .or(sealed.spec.data.as_ref())?;
    let blob = decode_blob(value)?;
    hybrid_decrypt(keys, &blob, &label).ok().map(|(at, _)| at)
}

/// Reads every document of a YAML stream or JSON sequence as a SealedSecret.
///
/// # Errors
/// [`DocumentError`] for unparsable input, no document, or a document of another kind.
pub fn parse_sealed_secrets(input: &[u8]) -> Result<Vec<SealedSecret>, DocumentError> {
    let all: Vec<SealedSecret> = parse_all(input, crate::types::KIND)?;
    if all.is_empty() {
        return Err(DocumentError::Empty {
            expected: "SealedSecret",
        });
    }
    if let Some(other) = all.iter().find(|s| s.kind != KIND) {
        return Err(DocumentError::WrongKind {
            expected: KIND,
            found: other.kind.clone(),
        });
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{key_2048, other_key};
    use crate::{Scope, SealOptions, SecretInput, manifest, seal};

    fn sealed(scope: Scope) -> SealedSecret {
        let secrets = manifest::parse_secrets(
            b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  a: one\n  b: two\n",
        )
        .unwrap();
        let input: SecretInput = secrets.into_iter().next().unwrap();
        seal(
            input,
            key_2048().public_key(),
            &SealOptions::default().with_scope(Some(scope)),
        )
        .unwrap()
    }

    #[test]
    fn reseals_every_scope_to_the_new_key_only() {
        for scope in [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide] {
            let old = sealed(scope);
            let new = reseal(&old, [key_2048()], other_key().public_key()).unwrap();
            assert_eq!(new.metadata, old.metadata);
            assert_ne!(new.spec.encrypted_data, old.spec.encrypted_data);
            assert_eq!(sealing_key(&new, [key_2048()]), None);
            let label = scope.label("apps", "db");
            let blob = decode_blob(&new.spec.encrypted_data["a"]).unwrap();
            let (_, plain) = hybrid_decrypt([other_key()], &blob, &label).unwrap();
            assert_eq!(plain.expose_secret(), b"one");
            assert_eq!(sealing_key(&new, [key_2048(), other_key()]), Some(1));
            assert_eq!(sealing_key(&old, [key_2048(), other_key()]), Some(0));
        }
    }

    #[test]
    fn a_wrong_key_changes_nothing_and_names_the_items() {
        let old = sealed(Scope::Strict);
        let err = reseal(&old, [other_key()], other_key().public_key()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("encryptedData.a") && text.contains("encryptedData.b"),
            "{text}"
        );
        assert!(!text.contains("one") && !text.contains("two"), "{text}");
    }

    #[test]
    fn reads_several_documents_and_refuses_other_kinds() {
        let one = manifest::sealed_secrets_to_string(
            &[sealed(Scope::Strict), sealed(Scope::ClusterWide)],
            manifest::Format::Yaml,
        )
        .unwrap();
        assert_eq!(parse_sealed_secrets(one.as_bytes()).unwrap().len(), 2);
        let mixed = format!("{one}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
        assert!(parse_sealed_secrets(mixed.as_bytes()).is_err());
    }
}

//! Recovering the data key from the key groups of a file, and wrapping a new one for them
//! (one group: every key wraps the whole key; several: each group wraps its Shamir share).

use std::sync::Arc;

use lockstep_keys::age::{AgeIdentities, AgeKey};
use lockstep_keys::{DataKey, KeyService, WrappedKey, shamir};
use zeroize::Zeroizing;

use crate::error::{DecryptError, EncryptError, KeyAttempt};
use crate::metadata::{Field, KeyGroup, KeyType, MasterKey, Metadata};

/// Finds the service able to unwrap a master key of a file. The CLI builds one from its
/// configuration (age identities, AWS and Vault clients).
pub trait KeyResolver {
    /// The service for `key`, or `None` when this resolver has nothing for its type.
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>>;
}

/// Resolves `age` entries with a set of identities; other key types are not resolved.
pub struct AgeResolver {
    identities: Arc<AgeIdentities>,
}

impl AgeResolver {
    /// A resolver over these identities.
    pub fn new(identities: Arc<AgeIdentities>) -> Self {
        AgeResolver { identities }
    }
}

impl KeyResolver for AgeResolver {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        (key.kind == KeyType::Age).then(|| {
            Box::new(AgeKey::new(
                key.text("recipient").unwrap_or_default(),
                self.identities.clone(),
            )) as Box<dyn KeyService>
        })
    }
}

/// Tries every resolver in turn: the first that has a service for a key wins (so put one
/// resolver per key type, e.g. `vec![Box::new(age) as Box<dyn KeyResolver>, Box::new(kms)]`).
impl<R: KeyResolver> KeyResolver for Vec<R> {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        self.iter().find_map(|r| r.service_for(key))
    }
}

impl<R: KeyResolver + ?Sized> KeyResolver for Box<R> {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        (**self).service_for(key)
    }
}

/// The keys of a group in the order to try them: the types of `order` first, in that order
/// (`--decryption-order`), then the rest in file order. An empty `order` means sops'
/// default: age, then pgp.
fn ordered<'a>(group: &'a KeyGroup, order: &[KeyType]) -> Vec<&'a MasterKey> {
    const DEFAULT: [KeyType; 2] = [KeyType::Age, KeyType::Pgp];
    let order = if order.is_empty() {
        &DEFAULT[..]
    } else {
        order
    };
    let rank = |k: &MasterKey| {
        order
            .iter()
            .position(|t| *t == k.kind)
            .unwrap_or(order.len())
    };
    let mut keys: Vec<&MasterKey> = group.iter().collect();
    keys.sort_by_key(|k| rank(k));
    keys
}

/// Recovers the data key of `metadata` with the services `resolver` provides, trying the
/// keys of each group in `order` (see [`ordered`]).
pub(crate) fn recover(
    metadata: &Metadata,
    resolver: &dyn KeyResolver,
    order: &[KeyType],
) -> Result<DataKey, DecryptError> {
    let groups = &metadata.key_groups;
    let shares_needed = groups.len() > 1;
    let needed = if !shares_needed {
        1
    } else if metadata.shamir_threshold == 0 {
        groups.len()
    } else {
        metadata.shamir_threshold
    };
    let mut tried = Vec::new();
    let mut parts: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        if parts.len() >= needed {
            break;
        }
        for key in ordered(group, order) {
            let attempt = |reason: String| KeyAttempt {
                group: gi,
                key: key.describe(),
                reason,
            };
            let Some(service) = resolver.service_for(key) else {
                tried.push(attempt(format!(
                    "no key service configured for {} keys",
                    key.kind.field()
                )));
                continue;
            };
            let wrapped = WrappedKey(key.enc().to_owned());
            let result = if shares_needed {
                service.unwrap_share(&wrapped)
            } else {
                service
                    .unwrap(&wrapped)
                    .map(|k| k.map(|k| Zeroizing::new(k.expose_secret().to_vec())))
            };
            match result {
                Ok(Some(bytes)) => {
                    parts.push(bytes);
                    break;
                }
                Ok(None) => tried.push(attempt(service.not_found())),
                Err(e) => tried.push(attempt(e.to_string())),
            }
        }
    }
    if parts.len() < needed {
        return Err(DecryptError::NoKey {
            recovered: parts.len(),
            needed,
            tried,
        });
    }
    let bytes = if shares_needed {
        let refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        shamir::combine(&refs).map_err(DecryptError::Shamir)?
    } else {
        parts.swap_remove(0)
    };
    DataKey::try_from_slice(&bytes).map_err(DecryptError::Shamir)
}

/// A key to encrypt to: the service that wraps, and the metadata entry it fills (`enc` is
/// set from the wrapped key; other fields such as `arn` or `created_at` are the caller's).
pub struct Recipient {
    /// The service that wraps the data key.
    pub service: Box<dyn KeyService>,
    /// The entry to write, without `enc`.
    pub entry: MasterKey,
}

impl Recipient {
    /// An age recipient (`age1…`, `ssh-ed25519 …`, `ssh-rsa …`).
    ///
    /// # Errors
    /// [`lockstep_keys::Error::AgeRecipient`] when it does not parse.
    pub fn age(recipient: &str) -> Result<Recipient, lockstep_keys::Error> {
        let service = AgeKey::recipient_only(recipient)?;
        let entry = MasterKey::age(service.recipient(), String::new());
        Ok(Recipient {
            service: Box::new(service),
            entry,
        })
    }
}

#[cfg(feature = "pgp")]
impl Recipient {
    /// An OpenPGP key wrapped by the user's gpg, with the entry sops writes: `fp` and
    /// `created_at`.
    pub fn pgp(key: lockstep_keys::openpgp::GpgKey) -> Recipient {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("created_at".to_owned(), Field::Text(crate::now_rfc3339()));
        fields.insert("fp".to_owned(), Field::Text(key.describe()));
        Recipient {
            service: Box::new(key),
            entry: MasterKey {
                kind: KeyType::Pgp,
                fields,
            },
        }
    }
}

#[cfg(feature = "kms")]
impl Recipient {
    /// An AWS KMS key, with the entry sops writes for it: `arn`, `role`, the encryption
    /// `context` (the key's own, as it wraps with it), `created_at` and `aws_profile`
    /// (empty when none).
    pub fn kms(key: lockstep_keys::KmsKey) -> Recipient {
        let mut fields = std::collections::BTreeMap::new();
        fields.insert("arn".to_owned(), Field::Text(key.arn().to_owned()));
        if let Some(role) = key.role() {
            fields.insert("role".to_owned(), Field::Text(role.to_owned()));
        }
        if !key.context().is_empty() {
            fields.insert("context".to_owned(), Field::Map(key.context().clone()));
        }
        fields.insert("created_at".to_owned(), Field::Text(crate::now_rfc3339()));
        fields.insert(
            "aws_profile".to_owned(),
            Field::Text(key.profile().unwrap_or_default().to_owned()),
        );
        Recipient {
            service: Box::new(key),
            entry: MasterKey {
                kind: KeyType::Kms,
                fields,
            },
        }
    }
}

#[cfg(feature = "vault")]
impl Recipient {
    /// A Vault transit key, with the entry sops writes for it: `vault_address`,
    /// `engine_path`, `key_name` and `created_at`.
    pub fn vault(key: lockstep_keys::VaultTransitKey) -> Recipient {
        let mut fields = std::collections::BTreeMap::new();
        for (name, value) in [
            ("vault_address", key.address()),
            ("engine_path", key.engine_path()),
            ("key_name", key.key_name()),
        ] {
            fields.insert(name.to_owned(), Field::Text(value.to_owned()));
        }
        fields.insert("created_at".to_owned(), Field::Text(crate::now_rfc3339()));
        Recipient {
            service: Box::new(key),
            entry: MasterKey {
                kind: KeyType::HcVault,
                fields,
            },
        }
    }
}

/// Wraps `key` for every recipient of every group (splitting it with Shamir when there
/// are several groups; `threshold` 0 means all groups) and returns the groups' entries.
/// `encrypt` uses it; `rotate` and `updatekeys` call it with a new or the existing key.
///
/// # Errors
/// [`EncryptError::NoKeys`], [`EncryptError::Threshold`], [`EncryptError::Wrap`].
pub fn wrap_data_key(
    key: &DataKey,
    groups: &[Vec<Recipient>],
    threshold: usize,
) -> Result<Vec<KeyGroup>, EncryptError> {
    if groups.is_empty() {
        return Err(EncryptError::NoKeys {
            reason: "no key group",
        });
    }
    if groups.iter().any(Vec::is_empty) {
        return Err(EncryptError::NoKeys {
            reason: "empty key group provided",
        });
    }
    let shares = if groups.len() > 1 {
        let threshold = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        if threshold < 2 || threshold > groups.len() {
            return Err(EncryptError::Threshold {
                threshold,
                groups: groups.len(),
            });
        }
        Some(
            shamir::split(key.expose_secret(), groups.len(), threshold).map_err(|source| {
                EncryptError::Wrap {
                    key: "shamir".to_owned(),
                    source,
                }
            })?,
        )
    } else {
        None
    };
    let mut out = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let mut entries = Vec::new();
        for r in group {
            let wrapped = match &shares {
                Some(shares) => r.service.wrap_share(&shares[gi]),
                None => r.service.wrap(key),
            }
            .map_err(|source| EncryptError::Wrap {
                key: r.service.describe(),
                source,
            })?;
            let mut entry = r.entry.clone();
            entry
                .fields
                .insert("enc".to_owned(), Field::Text(wrapped.0));
            entries.push(entry);
        }
        out.push(entries);
    }
    Ok(out)
}

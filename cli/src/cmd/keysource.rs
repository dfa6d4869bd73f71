//! Key services for the SOPS verbs: the resolver that unwraps data keys (age identities
//! from sops' environment variables and files) and the recipients that wrap them, built
//! from `--age`/`--kms`/`--hc-vault-transit` or a creation rule.

use std::sync::Arc;

use anyhow::bail;
use lockstep_keys::KeyService;
use lockstep_keys::age::{AgeIdentities, AgeKey};
use lockstep_sops::{KeyResolver, KeyType, MasterKey, Recipient};

use super::sopsconfig::KeySpec;

/// Unwraps with every key source lockstep has: age identities (loaded once, as sops reads
/// them).
pub struct CliResolver {
    age: Arc<AgeIdentities>,
}

impl CliResolver {
    /// Loads identities from the process environment.
    pub fn from_env() -> Self {
        CliResolver {
            age: Arc::new(AgeIdentities::from_process_env()),
        }
    }

    /// Problems found while loading identities (unreadable key files), for messages.
    pub fn problems(&self) -> Vec<String> {
        self.age.problems().iter().map(|e| e.to_string()).collect()
    }
}

impl KeyResolver for CliResolver {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        match key.kind {
            KeyType::Age => Some(Box::new(AgeKey::new(
                key.text("recipient").unwrap_or_default(),
                self.age.clone(),
            ))),
            _ => None,
        }
    }
}

/// A recipient for a key named in a flag or creation rule.
pub fn recipient(spec: &KeySpec) -> anyhow::Result<Recipient> {
    match spec {
        KeySpec::Age(r) => Ok(Recipient::age(r)?),
        KeySpec::Kms { arn, .. } => {
            bail!("AWS KMS key {arn}: KMS is not available in this build of lockstep yet")
        }
        KeySpec::Vault(uri) => {
            bail!("Vault transit key {uri}: Vault is not available in this build of lockstep yet")
        }
        KeySpec::Unsupported { kind, key } => {
            bail!("{kind} key {key}: this key type is not supported by lockstep")
        }
    }
}

/// Recipients for every group.
pub fn recipients(groups: &[Vec<KeySpec>]) -> anyhow::Result<Vec<Vec<Recipient>>> {
    groups
        .iter()
        .map(|g| g.iter().map(recipient).collect())
        .collect()
}

/// The key spec of an existing metadata entry (for `rotate`), or `None` for types lockstep
/// cannot wrap with.
pub fn spec_of(key: &MasterKey) -> KeySpec {
    match key.kind {
        KeyType::Age => KeySpec::Age(key.text("recipient").unwrap_or_default().to_owned()),
        KeyType::Kms => {
            let context = match key.fields.get("context") {
                Some(lockstep_sops::Field::Map(m)) => m.clone(),
                _ => Default::default(),
            };
            KeySpec::Kms {
                arn: key.text("arn").unwrap_or_default().to_owned(),
                role: key
                    .text("role")
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
                context,
                profile: key
                    .text("aws_profile")
                    .filter(|r| !r.is_empty())
                    .map(str::to_owned),
            }
        }
        KeyType::HcVault => KeySpec::Vault(format!(
            "{}/v1/{}/keys/{}",
            key.text("vault_address").unwrap_or_default(),
            key.text("engine_path").unwrap_or_default(),
            key.text("key_name").unwrap_or_default()
        )),
        other => KeySpec::Unsupported {
            kind: other.field(),
            key: key.describe(),
        },
    }
}

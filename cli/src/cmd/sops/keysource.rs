//! Key services for the SOPS verbs: the resolver that unwraps data keys (age identities
//! from sops' environment variables and files, AWS KMS with the default credential chain,
//! Vault transit with `VAULT_TOKEN`/`~/.vault-token`) and the recipients that wrap them,
//! built from `--age`/`--kms`/`--hc-vault-transit` or a creation rule.

use std::sync::Arc;

use anyhow::bail;
use std::collections::BTreeMap;

use lockstep_keys::age::AgeIdentities;
use lockstep_keys::{KeyService, KmsKey, VaultEnv, VaultTransitKey};
use lockstep_sops::config::{KeySpec, KmsSpec};
use lockstep_sops::resolver::VaultSettings;
use lockstep_sops::{Field, KeyResolver, KeyType, MasterKey, Recipient, ServiceResolver};

/// Unwraps with every key source lockstep has (age identities loaded once, as sops reads
/// them; KMS with the default chain; Vault transit with the environment's token), through
/// the library's [`ServiceResolver`].
pub struct CliResolver(ServiceResolver);

impl CliResolver {
    /// Loads identities from the process environment.
    pub fn from_env() -> Self {
        CliResolver(
            ServiceResolver::new(Arc::new(AgeIdentities::from_process_env())).with_vault(
                VaultSettings {
                    token: None,
                    env: VaultEnv::from_process(),
                },
            ),
        )
    }

    /// Problems found while loading identities (unreadable key files), for messages.
    pub fn problems(&self) -> Vec<String> {
        self.0
            .age()
            .problems()
            .iter()
            .map(|e| e.to_string())
            .collect()
    }
}

impl KeyResolver for CliResolver {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        self.0.service_for(key)
    }
}

fn kms_key(
    arn: &str,
    role: Option<&str>,
    context: &BTreeMap<String, String>,
    profile: Option<&str>,
) -> Result<KmsKey, lockstep_keys::Error> {
    let mut key = KmsKey::new(arn)?.with_context(context.clone());
    if let Some(r) = role.filter(|r| !r.is_empty()) {
        key = key.with_role(r);
    }
    if let Some(p) = profile.filter(|p| !p.is_empty()) {
        key = key.with_profile(p);
    }
    Ok(key)
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// A recipient for a key named in a flag or creation rule.
pub fn recipient(spec: &KeySpec) -> anyhow::Result<Recipient> {
    match spec {
        KeySpec::Age(r) => Ok(Recipient::age(r)?),
        KeySpec::Kms(KmsSpec {
            arn,
            role,
            context,
            profile,
        }) => {
            let key = kms_key(arn, role.as_deref(), context, profile.as_deref())?;
            let mut fields = BTreeMap::new();
            fields.insert("arn".to_owned(), Field::Text(key.arn().to_owned()));
            if let Some(r) = key.role() {
                fields.insert("role".to_owned(), Field::Text(r.to_owned()));
            }
            if !context.is_empty() {
                fields.insert("context".to_owned(), Field::Map(context.clone()));
            }
            fields.insert("created_at".to_owned(), Field::Text(now()));
            fields.insert(
                "aws_profile".to_owned(),
                Field::Text(profile.clone().unwrap_or_default()),
            );
            Ok(Recipient {
                service: Box::new(key),
                entry: MasterKey {
                    kind: KeyType::Kms,
                    fields,
                },
            })
        }
        KeySpec::Vault(uri) => {
            let key = VaultTransitKey::from_uri(uri)?.with_process_token()?;
            let mut fields = BTreeMap::new();
            fields.insert(
                "vault_address".to_owned(),
                Field::Text(key.address().to_owned()),
            );
            fields.insert(
                "engine_path".to_owned(),
                Field::Text(key.engine_path().to_owned()),
            );
            fields.insert(
                "key_name".to_owned(),
                Field::Text(key.key_name().to_owned()),
            );
            fields.insert("created_at".to_owned(), Field::Text(now()));
            Ok(Recipient {
                service: Box::new(key),
                entry: MasterKey {
                    kind: KeyType::HcVault,
                    fields,
                },
            })
        }
        KeySpec::Unsupported { kind, key } => bail!(
            "{} key {key}: this key type is not supported by lockstep",
            kind.field()
        ),
    }
}

/// Recipients for every group.
pub fn recipients(groups: &[Vec<KeySpec>]) -> anyhow::Result<Vec<Vec<Recipient>>> {
    groups
        .iter()
        .map(|g| g.iter().map(recipient).collect())
        .collect()
}

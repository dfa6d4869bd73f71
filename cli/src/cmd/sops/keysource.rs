//! Key services for the SOPS verbs: the resolver that unwraps data keys (age identities
//! from sops' environment variables and files, AWS KMS with the default credential chain,
//! Vault transit with `VAULT_TOKEN`/`~/.vault-token`, OpenPGP through the user's gpg as
//! sops runs it) and the recipients that wrap them, built from
//! `--age`/`--pgp`/`--kms`/`--hc-vault-transit` or a creation rule.

use std::sync::Arc;

use anyhow::bail;
use std::collections::BTreeMap;

use lockstep_keys::age::AgeIdentities;
use lockstep_keys::openpgp::{GpgKey, gpg_program};
use lockstep_keys::{KeyService, KmsKey, VaultEnv, VaultTransitKey};
use lockstep_sops::config::{KeySpec, KmsSpec};
use lockstep_sops::resolver::VaultSettings;
use lockstep_sops::{KeyResolver, MasterKey, Recipient, ServiceResolver};

/// Unwraps with every key source lockstep has (age identities loaded once, as sops reads
/// them; KMS with the default chain; Vault transit with the environment's token), through
/// the library's [`ServiceResolver`].
pub struct CliResolver(ServiceResolver);

impl CliResolver {
    /// Loads identities from the process environment.
    pub fn from_env() -> Self {
        CliResolver(
            ServiceResolver::new(Arc::new(AgeIdentities::from_process_env()))
                .with_gpg(gpg_program())
                .with_vault(VaultSettings {
                    token: None,
                    env: VaultEnv::from_process(),
                    allowed: None,
                }),
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

/// A recipient for a key named in a flag or creation rule, with the credentials of the
/// environment (the default AWS chain, `VAULT_TOKEN`/`~/.vault-token`).
pub fn recipient(spec: &KeySpec) -> anyhow::Result<Recipient> {
    match spec {
        KeySpec::Age(r) => Ok(Recipient::age(r)?),
        KeySpec::Pgp(fp) => Ok(Recipient::pgp(GpgKey::new(fp.as_str(), gpg_program()))),
        KeySpec::Kms(KmsSpec {
            arn,
            role,
            context,
            profile,
        }) => Ok(Recipient::kms(kms_key(
            arn,
            role.as_deref(),
            context,
            profile.as_deref(),
        )?)),
        KeySpec::Vault(uri) => Ok(Recipient::vault(
            VaultTransitKey::from_uri(uri)?.with_process_token()?,
        )),
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

//! One [`KeyResolver`] for every key type lockstep can unwrap: age identities, AWS KMS
//! (feature `kms`), Vault transit (feature `vault`) and OpenPGP private keys (feature
//! `pgp`).
//!
//! Each service is configured once — identities, static AWS credentials and endpoint, a
//! Vault token — and applied to every key entry of a file, so the CLI (configured from the
//! process environment) and the sync engine (configured from a decryption Secret) resolve
//! keys the same way.

use std::sync::Arc;

use lockstep_keys::KeyService;
use lockstep_keys::age::{AgeIdentities, AgeKey};

use crate::keygroups::KeyResolver;
use crate::metadata::{KeyType, MasterKey};

/// How KMS keys reach AWS: the default credential chain unless `credentials` are given,
/// and AWS's endpoint unless `endpoint` is.
#[cfg(feature = "kms")]
#[derive(Clone, Debug, Default)]
pub struct KmsSettings {
    /// Static credentials that replace the default chain.
    pub credentials: Option<lockstep_keys::kms::Credentials>,
    /// An endpoint that replaces AWS's (and `AWS_ENDPOINT_URL*`).
    pub endpoint: Option<String>,
}

/// Which token Vault transit keys use: `token` when given, else the one `env` names
/// (`VAULT_TOKEN`, `~/.vault-token`).
#[cfg(feature = "vault")]
#[derive(Clone, Debug, Default)]
pub struct VaultSettings {
    /// A token that wins over the environment's.
    pub token: Option<secrecy::SecretString>,
    /// The environment to fall back to.
    pub env: lockstep_keys::VaultEnv,
    /// The only servers (`scheme://host:port`) a token may be sent to; `None` for any, as
    /// sops without `SOPS_HC_VAULT_ALLOWLIST`. A key naming another server fails without
    /// a request.
    pub allowed: Option<Vec<String>>,
}

/// Resolves `age`, `kms`, `hc_vault` and `pgp` entries (the last three with their
/// features); other key types get no service, which the decrypt error lists as "no key
/// service configured".
pub struct ServiceResolver {
    age: Arc<AgeIdentities>,
    #[cfg(feature = "pgp")]
    pgp: Arc<lockstep_keys::openpgp::SecretKeys>,
    #[cfg(feature = "pgp")]
    gpg: Option<std::path::PathBuf>,
    #[cfg(feature = "kms")]
    kms: KmsSettings,
    #[cfg(feature = "vault")]
    vault: VaultSettings,
}

impl ServiceResolver {
    /// A resolver with these age identities, the default AWS chain and no Vault token.
    pub fn new(age: Arc<AgeIdentities>) -> Self {
        ServiceResolver {
            age,
            #[cfg(feature = "pgp")]
            pgp: Arc::default(),
            #[cfg(feature = "pgp")]
            gpg: None,
            #[cfg(feature = "kms")]
            kms: KmsSettings::default(),
            #[cfg(feature = "vault")]
            vault: VaultSettings::default(),
        }
    }

    /// Uses these KMS settings.
    #[cfg(feature = "kms")]
    pub fn with_kms(mut self, kms: KmsSettings) -> Self {
        self.kms = kms;
        self
    }

    /// Unwraps `pgp` entries with these private keys.
    #[cfg(feature = "pgp")]
    pub fn with_pgp(mut self, keys: Arc<lockstep_keys::openpgp::SecretKeys>) -> Self {
        self.pgp = keys;
        self
    }

    /// Unwraps `pgp` entries with this gpg program instead ([`lockstep_keys::openpgp::GpgKey`]:
    /// the user's keyring, as sops does).
    #[cfg(feature = "pgp")]
    pub fn with_gpg(mut self, program: std::path::PathBuf) -> Self {
        self.gpg = Some(program);
        self
    }

    /// Uses these Vault settings.
    #[cfg(feature = "vault")]
    pub fn with_vault(mut self, vault: VaultSettings) -> Self {
        self.vault = vault;
        self
    }

    /// The age identities.
    pub fn age(&self) -> &AgeIdentities {
        &self.age
    }

    #[cfg(feature = "kms")]
    fn kms_key(&self, key: &MasterKey) -> Result<lockstep_keys::KmsKey, lockstep_keys::Error> {
        let context = match key.fields.get("context") {
            Some(crate::metadata::Field::Map(m)) => m.clone(),
            _ => Default::default(),
        };
        let mut kms =
            lockstep_keys::KmsKey::new(key.text("arn").unwrap_or_default())?.with_context(context);
        if let Some(role) = key.text("role").filter(|r| !r.is_empty()) {
            kms = kms.with_role(role);
        }
        if let Some(profile) = key.text("aws_profile").filter(|p| !p.is_empty()) {
            kms = kms.with_profile(profile);
        }
        if let Some(credentials) = &self.kms.credentials {
            kms = kms.with_credentials(credentials.clone());
        }
        if let Some(endpoint) = &self.kms.endpoint {
            kms = kms.with_endpoint(endpoint);
        }
        Ok(kms)
    }

    #[cfg(feature = "vault")]
    fn vault_key(
        &self,
        key: &MasterKey,
    ) -> Result<lockstep_keys::VaultTransitKey, lockstep_keys::Error> {
        let address = key.text("vault_address").unwrap_or_default();
        let mut vault = lockstep_keys::VaultTransitKey::new(
            address,
            key.text("engine_path").unwrap_or_default(),
            key.text("key_name").unwrap_or_default(),
        )?;
        if let Some(allowed) = &self.vault.allowed {
            let same = |a: &String| {
                a.trim_end_matches('/')
                    .eq_ignore_ascii_case(address.trim_end_matches('/'))
            };
            if !allowed.iter().any(same) {
                return Err(lockstep_keys::Error::VaultAddressNotAllowed {
                    uri: vault.uri(),
                    allowed: allowed.clone(),
                });
            }
        }
        if let Some(token) = &self.vault.token {
            vault = vault.with_token(token.clone());
        }
        vault.with_token_from(&self.vault.env)
    }
}

impl KeyResolver for ServiceResolver {
    fn service_for(&self, key: &MasterKey) -> Option<Box<dyn KeyService + '_>> {
        let built: Result<Box<dyn KeyService>, lockstep_keys::Error> = match key.kind {
            KeyType::Age => Ok(Box::new(AgeKey::new(
                key.text("recipient").unwrap_or_default(),
                self.age.clone(),
            ))),
            #[cfg(feature = "pgp")]
            KeyType::Pgp => {
                let fp = key.text("fp").unwrap_or_default();
                Ok(match &self.gpg {
                    Some(program) => {
                        Box::new(lockstep_keys::openpgp::GpgKey::new(fp, program.clone()))
                            as Box<dyn KeyService>
                    }
                    None => Box::new(lockstep_keys::openpgp::PgpKey::new(fp, self.pgp.clone())),
                })
            }
            #[cfg(feature = "kms")]
            KeyType::Kms => self
                .kms_key(key)
                .map(|k| Box::new(k) as Box<dyn KeyService>),
            #[cfg(feature = "vault")]
            KeyType::HcVault => self
                .vault_key(key)
                .map(|k| Box::new(k) as Box<dyn KeyService>),
            _ => return None,
        };
        Some(built.unwrap_or_else(|e| Box::new(Broken::new(key, e))))
    }
}

/// A key entry whose service could not be built (malformed ARN or URI, unreadable
/// `~/.vault-token`): every call reports why, so the message names the key and the cause.
struct Broken {
    name: String,
    error: std::sync::Mutex<Option<lockstep_keys::Error>>,
}

impl Broken {
    fn new(key: &MasterKey, error: lockstep_keys::Error) -> Self {
        Broken {
            name: key.describe(),
            error: std::sync::Mutex::new(Some(error)),
        }
    }

    fn error(&self) -> lockstep_keys::Error {
        self.error
            .lock()
            .ok()
            .and_then(|mut e| e.take())
            .unwrap_or_else(|| lockstep_keys::Error::KmsArn {
                arn: self.name.clone(),
                reason: "unusable key entry",
            })
    }
}

impl KeyService for Broken {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn wrap(
        &self,
        _: &lockstep_keys::DataKey,
    ) -> Result<lockstep_keys::WrappedKey, lockstep_keys::Error> {
        Err(self.error())
    }

    fn unwrap(
        &self,
        _: &lockstep_keys::WrappedKey,
    ) -> Result<Option<lockstep_keys::DataKey>, lockstep_keys::Error> {
        Err(self.error())
    }

    fn unwrap_share(
        &self,
        _: &lockstep_keys::WrappedKey,
    ) -> Result<Option<zeroize::Zeroizing<Vec<u8>>>, lockstep_keys::Error> {
        Err(self.error())
    }
}

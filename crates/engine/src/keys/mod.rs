//! The keys of the secrets stage: what a Sync's decryption Secret holds over the
//! controller's own identity, or a user's own identity for the CLI ([`Keys::own`]). Below
//! both [`crate::decrypt`] (SOPS data keys) and [`crate::refs`] (Vault and KMS
//! references), which each take what they need from it.
//!
//! The entries of a decryption Secret ([`Keys::from_secret`], [`redact_entries`]) are read
//! in `secret.rs`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use lockstep_keys::age::AgeIdentities;
use lockstep_keys::kms::Credentials;
use lockstep_keys::openpgp::SecretKeys;
use lockstep_keys::{VaultAuth, VaultEnv, VaultSource};
use lockstep_sops::ServiceResolver;
use lockstep_sops::resolver::{KmsSettings, VaultSettings};
use secrecy::SecretString;
use zeroize::Zeroizing;

mod secret;

pub use secret::{
    AGE_KEY_SUFFIX, AWS_KMS_KEY, PGP_KEY_SUFFIX, VAULT_ADDRESS_KEY, VAULT_APPROLE_KEY,
    VAULT_KUBERNETES_KEY, VAULT_TOKEN_KEY, redact_entries,
};

pub use lockstep_keys::vault::SERVICE_ACCOUNT_TOKEN;

/// Why a decryption Secret's entry is unusable. Names the entry, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// An entry is not UTF-8 text.
    #[error("decryption Secret entry {entry} is not UTF-8 text")]
    NotText {
        /// The entry's key.
        entry: String,
    },
    /// An `*.agekey` entry holds something that is not an age identity.
    #[error("decryption Secret entry {entry}: {source}")]
    Age {
        /// The entry's key.
        entry: String,
        /// What is wrong (names the line, not the key).
        #[source]
        source: lockstep_keys::Error,
    },
    /// An `*.asc` entry is not an armoured OpenPGP private key block.
    #[error("decryption Secret entry {entry}: {source}")]
    Pgp {
        /// The entry's key.
        entry: String,
        /// What is wrong (never the key).
        #[source]
        source: lockstep_keys::Error,
    },
    /// `sops.aws-kms` is not the YAML Flux documents.
    #[error(
        "decryption Secret entry {AWS_KMS_KEY}: expected YAML with aws_access_key_id and aws_secret_access_key"
    )]
    AwsKms,
    /// The user's Vault token file cannot be read ([`Keys::own`]).
    #[error(transparent)]
    VaultToken(lockstep_keys::Error),
    /// `vault.approle` or `vault.kubernetes` is not the YAML documented.
    #[error("decryption Secret entry {entry}: expected YAML with {expected}")]
    VaultLogin {
        /// The entry's key.
        entry: &'static str,
        /// The fields it needs.
        expected: &'static str,
    },
}

/// What the controller itself may use when a Sync's Secret has nothing for a provider.
#[derive(Clone, Debug, Default)]
pub struct Ambient {
    /// `VAULT_TOKEN` (and `VAULT_NAMESPACE`, `~/.vault-token`) of the controller.
    pub vault: VaultEnv,
    /// A KMS endpoint instead of AWS's (tests point it at moto); `AWS_ENDPOINT_URL_KMS` /
    /// `AWS_ENDPOINT_URL` are honoured by the AWS SDK without it.
    pub kms_endpoint: Option<String>,
    /// `VAULT_ADDR` of the controller, for references.
    pub vault_address: Option<String>,
    /// The service-account token file used for Vault's Kubernetes auth.
    pub service_account_token: Option<PathBuf>,
}

impl Ambient {
    /// The controller's process environment.
    pub fn from_process() -> Self {
        Ambient {
            vault: VaultEnv::from_process(),
            kms_endpoint: None,
            vault_address: std::env::var("VAULT_ADDR").ok().filter(|a| !a.is_empty()),
            service_account_token: Some(PathBuf::from(SERVICE_ACCOUNT_TOKEN)),
        }
    }

    /// No ambient identity at all: only what a decryption Secret gives works.
    pub fn none() -> Self {
        Ambient::default()
    }
}

/// The keys one Sync decrypts with. Cheap to clone; prints no key material.
#[derive(Clone)]
pub struct Keys {
    age: Arc<AgeIdentities>,
    pgp: Arc<SecretKeys>,
    /// For a user's own keys: `pgp` entries go to their gpg, as sops sends them.
    gpg: Option<PathBuf>,
    vault_token: Option<SecretString>,
    kms_credentials: Option<Credentials>,
    vault_address: Option<String>,
    vault_login: Option<VaultLogin>,
    kubernetes_jwt: Option<SecretString>,
    ambient: Ambient,
    confined: bool,
}

/// A Vault login other than a token, from the decryption Secret.
#[derive(Clone)]
enum VaultLogin {
    AppRole {
        mount: String,
        role_id: String,
        secret_id: SecretString,
    },
    Kubernetes {
        mount: String,
        role: String,
    },
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("age", &self.age)
            .field("pgp", &self.pgp)
            .field("vault_token", &self.vault_token.is_some())
            .field("kms_credentials", &self.kms_credentials.is_some())
            .field("vault_address", &self.vault_address)
            .field("confined", &self.confined)
            .finish_non_exhaustive()
    }
}

impl Keys {
    /// Only the controller's own identity (a Sync without a decryption Secret).
    pub fn ambient(ambient: Ambient) -> Self {
        Keys {
            age: Arc::new(AgeIdentities::empty()),
            pgp: Arc::new(SecretKeys::empty()),
            gpg: None,
            vault_token: None,
            kms_credentials: None,
            vault_address: None,
            vault_login: None,
            kubernetes_jwt: None,
            ambient,
            confined: false,
        }
    }

    /// A user's own keys, for the CLI: `age` (every source sops reads, from
    /// `AgeIdentities::load`), `pgp` through their gpg, AWS with the default chain, and
    /// Vault with the ambient token (`VAULT_TOKEN`, else `~/.vault-token`) — for transit
    /// keys *and* for references at the ambient `VAULT_ADDR`. Unlike a controller, whose
    /// own token a Sync must never read with, a user reads with their own token only what
    /// they may read anyway.
    ///
    /// # Errors
    /// [`KeysError::VaultToken`] when `~/.vault-token` exists but cannot be read.
    pub fn own(age: AgeIdentities, ambient: Ambient) -> Result<Self, KeysError> {
        let mut keys = Keys::ambient(ambient);
        keys.age = Arc::new(age);
        keys.gpg = Some(lockstep_keys::openpgp::gpg_program());
        keys.vault_token = keys.ambient.vault.token().map_err(KeysError::VaultToken)?;
        Ok(keys)
    }

    /// Uses this service-account JWT for Vault's Kubernetes auth instead of the
    /// controller's own token file: a `TokenRequest` for the Sync's service account, so a
    /// Vault role can be bound to one tenant's namespace.
    pub fn with_kubernetes_jwt(mut self, jwt: SecretString) -> Self {
        self.kubernetes_jwt = Some(jwt);
        self
    }

    /// Sends Vault tokens for SOPS transit keys only to this Sync's Vault — the Secret's
    /// `vault.address`, else the controller's `VAULT_ADDR` — the one references use. A SOPS
    /// file's metadata names the server of its key, nothing authenticates that metadata,
    /// and whoever can push a file must not be able to collect the token (sops 3.13's
    /// `SOPS_HC_VAULT_ALLOWLIST`, but closed by default). Without it (the CLI, with the
    /// user's own token) any server the file names is asked, as sops does.
    pub fn confine_vault(mut self) -> Self {
        self.confined = true;
        self
    }

    /// The Vault server of this Sync: the Secret's `vault.address`, else `VAULT_ADDR`.
    fn vault_address(&self) -> Option<String> {
        self.vault_address
            .clone()
            .or_else(|| self.ambient.vault_address.clone())
    }

    /// The SOPS key resolver over these keys.
    pub fn resolver(&self) -> ServiceResolver {
        let resolver = ServiceResolver::new(self.age.clone()).with_pgp(self.pgp.clone());
        let resolver = match &self.gpg {
            Some(program) => resolver.with_gpg(program.clone()),
            None => resolver,
        };
        resolver
            .with_kms(KmsSettings {
                credentials: self.kms_credentials.clone(),
                endpoint: self.ambient.kms_endpoint.clone(),
            })
            .with_vault(VaultSettings {
                token: self.vault_token.clone(),
                env: self.ambient.vault.clone(),
                allowed: self
                    .confined
                    .then(|| self.vault_address().into_iter().collect()),
            })
    }

    /// The Vault server and login for references: the Secret's token, else its AppRole or
    /// Kubernetes login; `None` without an address or any of these. Never the controller's
    /// own `VAULT_TOKEN`, which would let a Sync read whatever the controller may.
    ///
    /// # Errors
    /// The service-account token file cannot be read (Kubernetes auth).
    pub(crate) fn vault_source(&self) -> std::io::Result<Option<VaultSource>> {
        let Some(address) = self.vault_address() else {
            return Ok(None);
        };
        let auth = match (&self.vault_token, &self.vault_login) {
            (Some(token), _) => VaultAuth::Token(token.clone()),
            (
                None,
                Some(VaultLogin::AppRole {
                    mount,
                    role_id,
                    secret_id,
                }),
            ) => VaultAuth::AppRole {
                mount: mount.clone(),
                role_id: role_id.clone(),
                secret_id: secret_id.clone(),
            },
            (None, Some(VaultLogin::Kubernetes { mount, role })) => {
                let jwt = match &self.kubernetes_jwt {
                    Some(jwt) => jwt.clone(),
                    None => {
                        let path = self
                            .ambient
                            .service_account_token
                            .as_deref()
                            .unwrap_or(Path::new(SERVICE_ACCOUNT_TOKEN));
                        let jwt = Zeroizing::new(std::fs::read_to_string(path)?);
                        SecretString::from(jwt.trim())
                    }
                };
                VaultAuth::Kubernetes {
                    mount: mount.clone(),
                    role: role.clone(),
                    jwt,
                }
            }
            // Never the controller's own token: a reference names any path it could read.
            (None, None) => return Ok(None),
        };
        Ok(Some(VaultSource {
            address,
            auth,
            namespace: None,
        }))
    }

    /// The AWS credentials and endpoint to use for KMS references.
    pub(crate) fn kms(&self) -> (Option<Credentials>, Option<String>) {
        (
            self.kms_credentials.clone(),
            self.ambient.kms_endpoint.clone(),
        )
    }
}

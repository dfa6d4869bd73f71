//! What a Sync's decryption Secret gives [`Keys`] ([`Keys::from_secret`]), and the secret
//! parts of its entries to scrub ([`redact_entries`]).
//!
//! The Secret's entries are recognised by name, as Flux's kustomize-controller reads them:
//! `*.agekey` (age identities, one per line, `#` comments), `*.asc` (OpenPGP private keys,
//! `gpg --export-secret-keys --armor`, no passphrase), `sops.vault-token` (a Vault
//! token) and `sops.aws-kms` (YAML with `aws_access_key_id`, `aws_secret_access_key` and
//! an optional `aws_session_token`). Other entries are ignored. Per provider, the Secret's
//! credentials win; without them KMS uses the controller's default AWS chain (IRSA, web
//! identity, instance role) and Vault the controller's `VAULT_TOKEN`.
//!
//! For Vault references ([`crate::refs`]) the Secret may also hold `vault.address` (else
//! the controller's `VAULT_ADDR`) and a login other than a token: `vault.approle` (YAML
//! `role_id`, `secret_id`, optional `mount`) or `vault.kubernetes` (YAML `role`, optional
//! `mount`; the JWT is the one given with [`Keys::with_kubernetes_jwt`], else the
//! controller's service-account token). A token wins over a login. The controller's own
//! `VAULT_TOKEN` is used for SOPS Vault transit keys (as Flux does) but never for
//! references.

use std::sync::Arc;

use lockstep_keys::age::AgeIdentities;
use lockstep_keys::kms::Credentials;
use lockstep_keys::openpgp::SecretKeys;
use secrecy::SecretString;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{Ambient, Keys, KeysError, VaultLogin};
use crate::redact::Redactor;

/// The Secret entry holding a Vault token.
pub const VAULT_TOKEN_KEY: &str = "sops.vault-token";
/// The Secret entry holding AWS credentials.
pub const AWS_KMS_KEY: &str = "sops.aws-kms";
/// The Secret entry naming the Vault server for references.
pub const VAULT_ADDRESS_KEY: &str = "vault.address";
/// The Secret entry holding an AppRole login for references.
pub const VAULT_APPROLE_KEY: &str = "vault.approle";
/// The Secret entry holding a Kubernetes-auth login for references.
pub const VAULT_KUBERNETES_KEY: &str = "vault.kubernetes";
/// The suffix of Secret entries holding age identities.
pub const AGE_KEY_SUFFIX: &str = ".agekey";
/// The suffix of Secret entries holding OpenPGP private keys.
pub const PGP_KEY_SUFFIX: &str = ".asc";

#[derive(serde::Deserialize, Zeroize, ZeroizeOnDrop)]
struct AppRoleEntry {
    #[serde(default)]
    mount: Option<String>,
    role_id: String,
    secret_id: String,
}

#[derive(serde::Deserialize)]
struct KubernetesEntry {
    #[serde(default)]
    mount: Option<String>,
    role: String,
}

#[derive(serde::Deserialize, Zeroize, ZeroizeOnDrop)]
struct AwsKmsEntry {
    aws_access_key_id: String,
    aws_secret_access_key: String,
    #[serde(default)]
    aws_session_token: Option<String>,
}

/// Adds the secret parts of a decryption Secret's entries — age identities, the Vault
/// token, AWS secret keys, an AppRole secret id — to `redactor`. Names, addresses, key ids
/// and roles stay readable in messages. An entry that does not parse adds nothing
/// ([`Keys::from_secret`] reports it).
pub fn redact_entries<'a>(
    data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    redactor: &mut Redactor,
) {
    for (entry, bytes) in data {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        if entry.ends_with(AGE_KEY_SUFFIX) {
            text.lines()
                .map(str::trim)
                .filter(|line| line.starts_with("AGE-SECRET-KEY-"))
                .for_each(|line| redactor.add(line.as_bytes()));
        } else if entry.ends_with(PGP_KEY_SUFFIX) {
            // Every line of the armour's base64 (its header and footer are public).
            text.lines()
                .map(str::trim)
                .filter(|line| {
                    line.len() >= 16 && !line.starts_with("-----") && !line.contains(':')
                })
                .for_each(|line| redactor.add(line.as_bytes()));
        } else if entry == VAULT_TOKEN_KEY {
            redactor.add(text.trim().as_bytes());
        } else if entry == AWS_KMS_KEY {
            if let Ok(parsed) = serde_saphyr::from_str::<AwsKmsEntry>(text) {
                redactor.add(parsed.aws_secret_access_key.as_bytes());
                if let Some(token) = &parsed.aws_session_token {
                    redactor.add(token.as_bytes());
                }
            }
        } else if entry == VAULT_APPROLE_KEY
            && let Ok(parsed) = serde_saphyr::from_str::<AppRoleEntry>(text)
        {
            redactor.add(parsed.secret_id.as_bytes());
        }
    }
}

impl Keys {
    /// The keys of a decryption Secret's `data` (entry name, raw bytes), over `ambient`.
    ///
    /// # Errors
    /// [`KeysError`] naming the first unusable entry.
    pub fn from_secret<'a>(
        data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        ambient: Ambient,
    ) -> Result<Self, KeysError> {
        let mut keys = Keys::ambient(ambient);
        let mut age = AgeIdentities::empty();
        let mut pgp = SecretKeys::empty();
        for (entry, bytes) in data {
            let text = || {
                std::str::from_utf8(bytes).map_err(|_| KeysError::NotText {
                    entry: entry.to_owned(),
                })
            };
            if entry.ends_with(AGE_KEY_SUFFIX) {
                let found =
                    AgeIdentities::parse(text()?, entry).map_err(|source| KeysError::Age {
                        entry: entry.to_owned(),
                        source,
                    })?;
                age.extend(found);
            } else if entry.ends_with(PGP_KEY_SUFFIX) {
                pgp.add_armored(bytes, entry)
                    .map_err(|source| KeysError::Pgp {
                        entry: entry.to_owned(),
                        source,
                    })?;
            } else if entry == VAULT_TOKEN_KEY {
                let token = text()?.trim();
                keys.vault_token = (!token.is_empty()).then(|| SecretString::from(token));
            } else if entry == AWS_KMS_KEY {
                let parsed: AwsKmsEntry =
                    serde_saphyr::from_str_with_options(text()?, lockstep_limits::yaml_options())
                        .map_err(|_| KeysError::AwsKms)?;
                keys.kms_credentials = Some(Credentials::new(
                    parsed.aws_access_key_id.clone(),
                    parsed.aws_secret_access_key.clone(),
                    parsed.aws_session_token.clone(),
                    None,
                    "lockstep-decryption-secret",
                ));
            } else if entry == VAULT_ADDRESS_KEY {
                keys.vault_address = Some(text()?.trim().to_owned());
            } else if entry == VAULT_APPROLE_KEY {
                let parsed: AppRoleEntry =
                    serde_saphyr::from_str_with_options(text()?, lockstep_limits::yaml_options())
                        .map_err(|_| KeysError::VaultLogin {
                        entry: VAULT_APPROLE_KEY,
                        expected: "role_id and secret_id",
                    })?;
                keys.vault_login = Some(VaultLogin::AppRole {
                    mount: parsed.mount.clone().unwrap_or_else(|| "approle".into()),
                    role_id: parsed.role_id.clone(),
                    secret_id: SecretString::from(parsed.secret_id.as_str()),
                });
            } else if entry == VAULT_KUBERNETES_KEY {
                let parsed: KubernetesEntry =
                    serde_saphyr::from_str_with_options(text()?, lockstep_limits::yaml_options())
                        .map_err(|_| KeysError::VaultLogin {
                        entry: VAULT_KUBERNETES_KEY,
                        expected: "role",
                    })?;
                keys.vault_login = Some(VaultLogin::Kubernetes {
                    mount: parsed.mount.unwrap_or_else(|| "kubernetes".into()),
                    role: parsed.role,
                });
            }
        }
        keys.age = Arc::new(age);
        keys.pgp = Arc::new(pgp);
        Ok(keys)
    }
}

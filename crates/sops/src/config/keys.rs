//! Master keys as `.sops.yaml`, the key flags and a file's metadata name them, before any
//! key service is built: what `encrypt`, `updatekeys` and `rotate` compare and wrap for.
//!
//! A new key type is a [`KeySpec`] variant, a line in [`KeySpec::named`] (and, when it has
//! structured entries in `key_groups`, a field of the file's group type).

use std::collections::BTreeMap;
use std::fmt;

use crate::metadata::{Field, KeyType, MasterKey};

/// A master key named by a creation rule, a flag or a file's metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// An age recipient (`age1…`, `ssh-ed25519 …`).
    Age(String),
    /// An AWS KMS key.
    Kms(KmsSpec),
    /// A Vault transit key URI (`https://vault:8200/v1/transit/keys/name`).
    Vault(String),
    /// An OpenPGP key fingerprint.
    Pgp(String),
    /// A key of a type lockstep cannot wrap with (yet): kept, so that rules and files
    /// naming one are reported rather than silently dropped.
    Unsupported {
        /// Its type.
        kind: KeyType,
        /// Its public name (fingerprint, resource id, URL).
        key: String,
    },
}

/// An AWS KMS key with what sops stores beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KmsSpec {
    /// The key ARN.
    pub arn: String,
    /// A role to assume.
    pub role: Option<String>,
    /// The encryption context.
    pub context: BTreeMap<String, String>,
    /// The AWS profile.
    pub profile: Option<String>,
}

impl KmsSpec {
    /// `arn[+role]`, as `--kms` and a rule's `kms` string write it.
    pub fn from_arn(s: &str, context: &BTreeMap<String, String>, profile: Option<&str>) -> Self {
        let (arn, role) = match s.split_once('+') {
            Some((a, r)) => (a.to_owned(), Some(r.to_owned())),
            None => (s.to_owned(), None),
        };
        KmsSpec {
            arn,
            role,
            context: context.clone(),
            profile: profile.filter(|p| !p.is_empty()).map(str::to_owned),
        }
    }
}

impl KeySpec {
    /// The key of type `kind` written as `key` in a list (`age: a,b`, `pgp: [fp]`,
    /// `hc_vault_transit_uri: uri`). KMS keys take their context and profile from
    /// [`KmsSpec::from_arn`] instead.
    pub fn named(kind: KeyType, key: String) -> KeySpec {
        match kind {
            KeyType::Age => KeySpec::Age(key),
            KeyType::HcVault => KeySpec::Vault(key),
            KeyType::Kms => KeySpec::Kms(KmsSpec::from_arn(&key, &BTreeMap::new(), None)),
            KeyType::Pgp => KeySpec::Pgp(key),
            KeyType::GcpKms | KeyType::AzureKv | KeyType::Hckms => {
                KeySpec::Unsupported { kind, key }
            }
        }
    }

    /// The key an entry of a file's metadata names (`enc` and `created_at` left out).
    pub fn from_master_key(key: &MasterKey) -> KeySpec {
        let text = |name: &str| key.text(name).unwrap_or_default().to_owned();
        let optional = |name: &str| key.text(name).filter(|v| !v.is_empty()).map(str::to_owned);
        match key.kind {
            KeyType::Age => KeySpec::Age(text("recipient")),
            KeyType::Pgp => KeySpec::Pgp(text("fp")),
            KeyType::Kms => KeySpec::Kms(KmsSpec {
                arn: text("arn"),
                role: optional("role"),
                context: match key.fields.get("context") {
                    Some(Field::Map(m)) => m.clone(),
                    _ => BTreeMap::new(),
                },
                profile: optional("aws_profile"),
            }),
            KeyType::HcVault => KeySpec::Vault(format!(
                "{}/v1/{}/keys/{}",
                text("vault_address"),
                text("engine_path"),
                text("key_name")
            )),
            kind => KeySpec::Unsupported {
                kind,
                key: key.describe(),
            },
        }
    }

    /// Whether two specs name the same key: the recipient, ARN or URI, not fields such as
    /// a KMS context (as sops compares keys for `rotate --rm-*`).
    pub fn same_key(&self, other: &KeySpec) -> bool {
        match (self, other) {
            (KeySpec::Age(x), KeySpec::Age(y)) => x.trim() == y.trim(),
            (KeySpec::Pgp(x), KeySpec::Pgp(y)) => {
                let fp = |s: &str| s.split_whitespace().collect::<String>().to_uppercase();
                fp(x) == fp(y)
            }
            (KeySpec::Kms(x), KeySpec::Kms(y)) => x.arn == y.arn,
            (KeySpec::Vault(x), KeySpec::Vault(y)) => {
                x.trim_end_matches('/') == y.trim_end_matches('/')
            }
            _ => false,
        }
    }

    /// The key's type.
    pub fn kind(&self) -> KeyType {
        match self {
            KeySpec::Age(_) => KeyType::Age,
            KeySpec::Kms(_) => KeyType::Kms,
            KeySpec::Vault(_) => KeyType::HcVault,
            KeySpec::Pgp(_) => KeyType::Pgp,
            KeySpec::Unsupported { kind, .. } => *kind,
        }
    }

    /// The key's public name: recipient, ARN, URI or fingerprint.
    pub fn name(&self) -> &str {
        match self {
            KeySpec::Age(r) => r,
            KeySpec::Kms(k) => &k.arn,
            KeySpec::Vault(u) => u,
            KeySpec::Pgp(fp) => fp,
            KeySpec::Unsupported { key, .. } => key,
        }
    }
}

/// `type: name`, e.g. `age: age1…`, `kms: arn:aws:kms:…`.
impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind().field(), self.name())
    }
}

/// Splits a comma-separated key list, trimming and dropping blanks (sops'
/// `parseKeyField`).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_with_role_and_profile() {
        let context = BTreeMap::from([("app".to_owned(), "web".to_owned())]);
        let k = KmsSpec::from_arn("arn:a+arn:role", &context, Some("dev"));
        assert_eq!(k.arn, "arn:a");
        assert_eq!(k.role.as_deref(), Some("arn:role"));
        assert_eq!(k.profile.as_deref(), Some("dev"));
        assert_eq!(k.context, context);
        assert_eq!(KmsSpec::from_arn("arn:b", &context, Some("")).profile, None);
    }

    #[test]
    fn same_key_ignores_context_and_trailing_slash() {
        let a = KeySpec::Kms(KmsSpec::from_arn("arn:a", &BTreeMap::new(), None));
        let b = KeySpec::Kms(KmsSpec {
            profile: Some("p".into()),
            ..KmsSpec::from_arn("arn:a", &BTreeMap::new(), None)
        });
        assert!(a.same_key(&b) && a != b);
        assert!(
            KeySpec::Vault("https://v/x/".into()).same_key(&KeySpec::Vault("https://v/x".into()))
        );
        assert!(!KeySpec::Age("x".into()).same_key(&KeySpec::Vault("x".into())));
    }

    #[test]
    fn metadata_entries_round_trip_to_specs() {
        let entry = MasterKey::age("age1abc", "enc".into());
        assert_eq!(
            KeySpec::from_master_key(&entry),
            KeySpec::Age("age1abc".into())
        );
        assert_eq!(KeySpec::Age("age1abc".into()).to_string(), "age: age1abc");
        assert_eq!(split_list(" a, ,b ,"), ["a", "b"]);
    }
}

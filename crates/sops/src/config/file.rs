//! The `.sops.yaml` file as serde reads it (`configFile` in sops' `config/config.go`),
//! and how a creation rule of it becomes key groups. Fields lockstep does not use
//! (`destination_rules`, `plugins`, `timeout`) are ignored, as unknown fields are.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};

use super::keys::{KeySpec, KmsSpec, split_list};
use crate::metadata::KeyType;
use crate::rules::Rule;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ConfigFile {
    /// `None` when the file has no `creation_rules` (or it is null).
    pub creation_rules: Option<Vec<RawRule>>,
    /// Output settings per store.
    pub stores: Option<Stores>,
}

/// `stores`: only the indents are settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Stores {
    pub yaml: Option<StoreIndent>,
    pub json: Option<StoreIndent>,
    pub json_binary: Option<StoreIndent>,
}

/// `stores.<store>.indent`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct StoreIndent {
    pub indent: Option<i64>,
}

impl StoreIndent {
    /// The indent, when it is set and not negative.
    pub fn of(store: &Option<StoreIndent>) -> Option<usize> {
        store
            .as_ref()
            .and_then(|s| s.indent)
            .and_then(|i| usize::try_from(i).ok())
    }
}

/// One creation rule, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawRule {
    pub path_regex: Option<Text>,
    pub key_groups: Option<Vec<RawGroup>>,
    pub shamir_threshold: Option<usize>,
    pub aws_profile: Option<Text>,
    pub age: KeyList,
    pub pgp: KeyList,
    pub kms: KeyList,
    pub gcp_kms: KeyList,
    pub hckms: KeyList,
    pub azure_keyvault: KeyList,
    pub hc_vault_transit_uri: KeyList,
    pub unencrypted_suffix: Option<Text>,
    pub encrypted_suffix: Option<Text>,
    pub unencrypted_regex: Option<Text>,
    pub encrypted_regex: Option<Text>,
    pub unencrypted_comment_regex: Option<Text>,
    pub encrypted_comment_regex: Option<Text>,
    pub mac_only_encrypted: Option<bool>,
}

/// One entry of `key_groups`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawGroup {
    pub merge: Vec<RawGroup>,
    pub age: KeyList,
    pub pgp: KeyList,
    pub kms: Vec<RawKms>,
    pub gcp_kms: Vec<RawGcpKms>,
    pub hckms: Vec<RawHckms>,
    pub azure_keyvault: Vec<RawAzureKv>,
    pub hc_vault: KeyList,
    /// Not sops' name inside a group, but lockstep has always read it there too.
    pub hc_vault_transit_uri: KeyList,
}

/// A `kms` entry of a key group.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawKms {
    pub arn: Option<Text>,
    pub role: Option<Text>,
    pub context: Option<BTreeMap<String, Text>>,
    pub aws_profile: Option<Text>,
}

/// A `gcp_kms` entry of a key group.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawGcpKms {
    pub resource_id: Option<Text>,
}

/// An `hckms` entry of a key group.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawHckms {
    pub key_id: Option<Text>,
}

/// An `azure_keyvault` entry of a key group.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RawAzureKv {
    #[serde(rename = "vaultUrl")]
    pub vault_url: Option<Text>,
    pub key: Option<Text>,
    pub version: Option<Text>,
}

/// A scalar read as text: YAML's `true` or `42` where a string is expected is taken as
/// written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Text(pub String);

impl Text {
    fn get(text: &Option<Text>) -> Option<String> {
        text.as_ref().map(|t| t.0.clone()).filter(|s| !s.is_empty())
    }
}

struct TextVisitor;

impl Visitor<'_> for TextVisitor {
    type Value = Text;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

/// A key list: a comma-separated string or (sops 3.11+) a list of strings; null or absent
/// is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct KeyList(pub Vec<String>);

struct KeyListVisitor;

impl<'de> Visitor<'de> for KeyListVisitor {
    type Value = KeyList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a comma-separated string or a list of strings")
    }
    fn visit_unit<E: de::Error>(self) -> Result<KeyList, E> {
        Ok(KeyList::default())
    }
    fn visit_none<E: de::Error>(self) -> Result<KeyList, E> {
        Ok(KeyList::default())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyList, E> {
        Ok(KeyList(split_list(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyList, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyList, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyList, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyList, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyList, A::Error> {
        let mut out = Vec::new();
        while let Some(Text(s)) = seq.next_element()? {
            out.push(s);
        }
        Ok(KeyList(out))
    }
}

impl<'de> Deserialize<'de> for KeyList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(KeyListVisitor)
    }
}

impl KeyList {
    fn specs(&self, kind: KeyType) -> impl Iterator<Item = KeySpec> + '_ {
        self.0.iter().map(move |k| KeySpec::named(kind, k.clone()))
    }
}

impl RawRule {
    /// The rule's `path_regex`; empty or absent matches every file.
    pub fn path_regex(&self) -> Option<String> {
        Text::get(&self.path_regex)
    }

    /// The key groups: `key_groups` when it lists any, else one group of the rule's own
    /// key lists in sops' order (age, pgp, kms, gcp_kms, hckms, azure_keyvault, Vault).
    /// `kms_context` (`--encryption-context`) applies to the rule's own KMS keys.
    pub fn key_groups(&self, kms_context: &BTreeMap<String, String>) -> Vec<Vec<KeySpec>> {
        if let Some(groups) = self.key_groups.as_ref().filter(|g| !g.is_empty()) {
            return groups.iter().map(RawGroup::keys).collect();
        }
        let profile = Text::get(&self.aws_profile);
        let mut group: Vec<KeySpec> = self.age.specs(KeyType::Age).collect();
        group.extend(self.pgp.specs(KeyType::Pgp));
        group.extend(
            self.kms
                .0
                .iter()
                .map(|arn| KeySpec::Kms(KmsSpec::from_arn(arn, kms_context, profile.as_deref()))),
        );
        group.extend(self.gcp_kms.specs(KeyType::GcpKms));
        group.extend(self.hckms.specs(KeyType::Hckms));
        group.extend(self.azure_keyvault.specs(KeyType::AzureKv));
        group.extend(self.hc_vault_transit_uri.specs(KeyType::HcVault));
        if group.is_empty() {
            Vec::new()
        } else {
            vec![group]
        }
    }

    /// The encryption rules the rule names (sops allows one; the caller checks).
    pub fn rules(&self) -> Vec<Rule> {
        [
            (&self.unencrypted_suffix, "unencrypted_suffix"),
            (&self.encrypted_suffix, "encrypted_suffix"),
            (&self.unencrypted_regex, "unencrypted_regex"),
            (&self.encrypted_regex, "encrypted_regex"),
            (&self.unencrypted_comment_regex, "unencrypted_comment_regex"),
            (&self.encrypted_comment_regex, "encrypted_comment_regex"),
        ]
        .into_iter()
        .filter_map(|(value, field)| Rule::from_field(field, Text::get(value)?))
        .collect()
    }
}

impl RawGroup {
    /// The group's keys in sops' order (merged groups first), each key once.
    fn keys(&self) -> Vec<KeySpec> {
        let mut out: Vec<KeySpec> = self.merge.iter().flat_map(RawGroup::keys).collect();
        out.extend(self.age.specs(KeyType::Age));
        out.extend(self.pgp.specs(KeyType::Pgp));
        out.extend(self.kms.iter().map(|k| {
            KeySpec::Kms(KmsSpec {
                arn: Text::get(&k.arn).unwrap_or_default(),
                role: Text::get(&k.role),
                context: k
                    .context
                    .iter()
                    .flatten()
                    .map(|(name, value)| (name.clone(), value.0.clone()))
                    .collect(),
                profile: Text::get(&k.aws_profile),
            })
        }));
        let named = |kind, key: Option<String>| KeySpec::named(kind, key.unwrap_or_default());
        out.extend(
            self.gcp_kms
                .iter()
                .map(|k| named(KeyType::GcpKms, Text::get(&k.resource_id))),
        );
        out.extend(
            self.hckms
                .iter()
                .map(|k| named(KeyType::Hckms, Text::get(&k.key_id))),
        );
        out.extend(self.azure_keyvault.iter().map(|k| {
            let url = Text::get(&k.vault_url).unwrap_or_default();
            let key = Text::get(&k.key).unwrap_or_default();
            named(KeyType::AzureKv, Some(format!("{url}/keys/{key}")))
        }));
        out.extend(self.hc_vault.specs(KeyType::HcVault));
        out.extend(self.hc_vault_transit_uri.specs(KeyType::HcVault));
        // sops removes duplicate keys inside a group.
        let mut unique: Vec<KeySpec> = Vec::with_capacity(out.len());
        for key in out {
            if !unique.contains(&key) {
                unique.push(key);
            }
        }
        unique
    }
}

//! The `sops` metadata block: key groups and their master keys, the MAC, `lastmodified`,
//! the encryption rule and the version.
//!
//! Reading accepts every layout sops 3.7–3.13 wrote (struct order or alphabetical, `null`
//! or `[]` or absent key lists, numbers and booleans as strings from dotenv/INI). Writing
//! produces one layout, that of sops [`SOPS_VERSION`]: every mapping sorted by key, empty
//! key lists omitted at the top level, `hc_vault`/`age` always present inside `key_groups`.

// One file over 400 lines: reading and writing the block share its field names and rules.

use std::collections::BTreeMap;

use crate::error::LoadError;
use crate::rules::Rule;
use crate::tree::{Item, Scalar, Value};

/// The sops release whose output layout this crate writes, and the version it records.
pub const SOPS_VERSION: &str = "3.13.3";

/// The kind of a master key, as named in the metadata.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum KeyType {
    /// age (`age`).
    Age,
    /// OpenPGP (`pgp`).
    Pgp,
    /// AWS KMS (`kms`).
    Kms,
    /// GCP KMS (`gcp_kms`).
    GcpKms,
    /// Azure Key Vault (`azure_kv`).
    AzureKv,
    /// HashiCorp Vault / OpenBao transit (`hc_vault`).
    HcVault,
    /// HuaweiCloud KMS (`hckms`).
    Hckms,
}

impl KeyType {
    /// All types, in the order sops reads them into a group.
    pub const ALL: [KeyType; 7] = [
        KeyType::Kms,
        KeyType::GcpKms,
        KeyType::Hckms,
        KeyType::AzureKv,
        KeyType::HcVault,
        KeyType::Pgp,
        KeyType::Age,
    ];

    /// The metadata key of this type's list.
    pub fn field(self) -> &'static str {
        match self {
            KeyType::Age => "age",
            KeyType::Pgp => "pgp",
            KeyType::Kms => "kms",
            KeyType::GcpKms => "gcp_kms",
            KeyType::AzureKv => "azure_kv",
            KeyType::HcVault => "hc_vault",
            KeyType::Hckms => "hckms",
        }
    }

    /// The type named `s` (`age`, `pgp`, `kms`, `gcp_kms`, `azure_kv`, `hc_vault`, `hckms`),
    /// as in metadata and `--decryption-order`.
    pub fn from_field(s: &str) -> Option<KeyType> {
        KeyType::ALL.into_iter().find(|t| t.field() == s)
    }
}

/// A field of a master key entry: text, or (for KMS `context`) a string map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// A string field.
    Text(String),
    /// A string→string map (KMS encryption context).
    Map(BTreeMap<String, String>),
}

/// One master key entry: its type and its fields (`recipient`, `enc`, `arn`, `created_at`,
/// …) exactly as stored, so entries of services this crate does not run survive a rewrite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MasterKey {
    /// The kind of key.
    pub kind: KeyType,
    /// The fields, sorted by name (the order sops 3.13 writes them in).
    pub fields: BTreeMap<String, Field>,
}

impl MasterKey {
    /// An age entry for `recipient` with its wrapped key.
    pub fn age(recipient: &str, enc: String) -> MasterKey {
        let mut fields = BTreeMap::new();
        fields.insert("recipient".to_owned(), Field::Text(recipient.to_owned()));
        fields.insert("enc".to_owned(), Field::Text(enc));
        MasterKey {
            kind: KeyType::Age,
            fields,
        }
    }

    /// A text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        match self.fields.get(name) {
            Some(Field::Text(s)) => Some(s),
            _ => None,
        }
    }

    /// The wrapped data key (`enc`).
    pub fn enc(&self) -> &str {
        self.text("enc").unwrap_or_default()
    }

    /// A public name for messages: the recipient, ARN, Vault address/key, fingerprint.
    pub fn describe(&self) -> String {
        let pick = |names: &[&str]| {
            names
                .iter()
                .find_map(|n| self.text(n))
                .unwrap_or("?")
                .to_owned()
        };
        match self.kind {
            KeyType::Age => pick(&["recipient"]),
            KeyType::Pgp => pick(&["fp"]),
            KeyType::Kms => pick(&["arn"]),
            KeyType::GcpKms => pick(&["resource_id"]),
            KeyType::AzureKv => format!("{}/keys/{}", pick(&["vault_url"]), pick(&["name"])),
            KeyType::HcVault => format!(
                "{}/v1/{}/keys/{}",
                pick(&["vault_address"]),
                pick(&["engine_path"]),
                pick(&["key_name"])
            ),
            KeyType::Hckms => pick(&["key_id"]),
        }
    }
}

/// A key group: any one of its keys gives the group's key (or Shamir share).
pub type KeyGroup = Vec<MasterKey>;

/// The parsed `sops` block.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Key groups; one group is written as the top-level key lists.
    pub key_groups: Vec<KeyGroup>,
    /// Shamir threshold; 0 means "all groups".
    pub shamir_threshold: usize,
    /// `lastmodified`, RFC 3339.
    pub last_modified: String,
    /// The encrypted MAC (`ENC[…]`), empty when absent.
    pub mac: String,
    /// The rule recorded in the file; `None` when absent (then the default applies; binary
    /// files from sops 3.11+ carry none).
    pub rule: Option<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
    /// The sops version that wrote the file.
    pub version: String,
}

fn bad(path: impl Into<String>, reason: &'static str) -> LoadError {
    LoadError::Metadata {
        path: path.into(),
        reason,
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(Scalar::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Scalar(Scalar::Int(i)) => Some(i.to_string()),
        Value::Scalar(Scalar::Float(f)) => Some(crate::gofmt::float_plain(*f)),
        Value::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
        Value::Scalar(Scalar::Time(t)) => Some(t.clone()),
        _ => None,
    }
}

fn parse_keys(kind: KeyType, v: &Value, path: &str) -> Result<Vec<MasterKey>, LoadError> {
    let entries = match v {
        Value::List(entries) => entries,
        Value::Scalar(Scalar::Null) => return Ok(Vec::new()),
        _ => return Err(bad(path, "key list is not a list")),
    };
    let mut keys = Vec::new();
    for entry in entries {
        let Value::Map(items) = entry else {
            if matches!(entry, Value::Comment(_)) {
                continue;
            }
            return Err(bad(path, "key entry is not a mapping"));
        };
        let mut fields = BTreeMap::new();
        for item in items {
            let Item::Entry(name, value) = item else {
                continue;
            };
            let field = match value {
                Value::Map(ctx) => Field::Map(
                    ctx.iter()
                        .filter_map(|i| match i {
                            Item::Entry(k, v) => text_of(v).map(|t| (k.clone(), t)),
                            Item::Comment(_) => None,
                        })
                        .collect(),
                ),
                Value::Scalar(Scalar::Null) => continue,
                other => match text_of(other) {
                    Some(t) => Field::Text(t),
                    None => return Err(bad(format!("{path}:{name}"), "unexpected value type")),
                },
            };
            fields.insert(name.clone(), field);
        }
        if let Some(Field::Text(created)) = fields.get("created_at")
            && !is_rfc3339(created)
        {
            return Err(bad(format!("{path}:created_at"), "not an RFC 3339 time"));
        }
        keys.push(MasterKey { kind, fields });
    }
    Ok(keys)
}

fn parse_group(items: &[Item], path: &str) -> Result<KeyGroup, LoadError> {
    let mut group = Vec::new();
    for kind in KeyType::ALL {
        if let Some(v) = crate::tree::get(items, kind.field()) {
            group.extend(parse_keys(kind, v, &format!("{path}{}", kind.field()))?);
        }
    }
    Ok(group)
}

fn is_rfc3339(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok()
}

impl Metadata {
    /// Reads the `sops` mapping (already unflattened for dotenv/INI).
    ///
    /// # Errors
    /// [`LoadError::Metadata`] naming the metadata key at fault.
    pub fn from_items(items: &[Item]) -> Result<Metadata, LoadError> {
        let get = |k: &str| crate::tree::get(items, k);
        // sops decodes these fields into Go strings: any scalar is taken as its text, a
        // mapping or a list is refused ("cannot unmarshal !!map into string").
        let text = |k: &'static str| match get(k) {
            None => Ok(None),
            Some(v) => text_of(v)
                .map(|s| Some(s).filter(|s| !s.is_empty()))
                .ok_or_else(|| bad(k, "must be a single value, not a mapping or a list")),
        };
        let top = parse_group(items, "")?;
        let key_groups = if !top.is_empty() {
            vec![top]
        } else {
            match get("key_groups") {
                Some(Value::List(groups)) => groups
                    .iter()
                    .enumerate()
                    .filter_map(|(i, g)| g.as_map().map(|m| (i, m)))
                    .map(|(i, m)| parse_group(m, &format!("key_groups:{i}:")))
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            }
        };
        if key_groups.iter().all(Vec::is_empty) {
            return Err(bad("sops", "no keys found in file"));
        }
        let last_modified = text("lastmodified")?.ok_or_else(|| bad("lastmodified", "missing"))?;
        if !is_rfc3339(&last_modified) {
            return Err(bad("lastmodified", "not an RFC 3339 time"));
        }
        let shamir_threshold = match text("shamir_threshold")? {
            None => 0,
            Some(t) => match t.parse::<usize>() {
                Ok(n) => n,
                Err(_) => match t.parse::<f64>() {
                    Ok(f) if f >= 0.0 && f.fract() == 0.0 => f as usize,
                    _ => return Err(bad("shamir_threshold", "not a number")),
                },
            },
        };
        let mut rule = None;
        for field in Rule::FIELDS {
            if let Some(v) = text(field)? {
                if rule.is_some() {
                    return Err(bad(field, "more than one encryption rule"));
                }
                rule = Rule::from_field(field, v);
            }
        }
        let mac_only_encrypted = match text("mac_only_encrypted")?.as_deref() {
            None => false,
            Some(t) => crate::gofmt::parse_bool(t)
                .ok_or_else(|| bad("mac_only_encrypted", "not a boolean"))?,
        };
        Ok(Metadata {
            key_groups,
            shamir_threshold,
            last_modified,
            mac: text("mac")?.unwrap_or_default(),
            rule,
            mac_only_encrypted,
            version: text("version")?.unwrap_or_default(),
        })
    }

    /// The rule to apply (the file's, or the default).
    pub fn effective_rule(&self) -> Rule {
        self.rule.clone().unwrap_or_default()
    }

    /// The `sops` mapping in the layout of sops [`SOPS_VERSION`] (alphabetical keys).
    pub fn to_items(&self) -> Vec<Item> {
        let mut top: BTreeMap<&str, Value> = BTreeMap::new();
        if self.key_groups.len() == 1 {
            for (field, list) in group_lists(&self.key_groups[0]) {
                if !list.is_empty() {
                    top.insert(field, Value::List(list));
                }
            }
        } else {
            let groups = self
                .key_groups
                .iter()
                .map(|g| {
                    let mut m: BTreeMap<&str, Value> = BTreeMap::new();
                    for (field, list) in group_lists(g) {
                        if !list.is_empty() || field == "hc_vault" || field == "age" {
                            m.insert(field, Value::List(list));
                        }
                    }
                    Value::Map(
                        m.into_iter()
                            .map(|(k, v)| Item::Entry(k.to_owned(), v))
                            .collect(),
                    )
                })
                .collect();
            top.insert("key_groups", Value::List(groups));
        }
        if self.shamir_threshold != 0 {
            top.insert(
                "shamir_threshold",
                Value::Scalar(Scalar::Int(self.shamir_threshold as i64)),
            );
        }
        top.insert("lastmodified", Value::str(self.last_modified.clone()));
        top.insert("mac", Value::str(self.mac.clone()));
        if let Some(rule) = &self.rule
            && !rule.value().is_empty()
        {
            top.insert(rule.field(), Value::str(rule.value()));
        }
        if self.mac_only_encrypted {
            top.insert("mac_only_encrypted", Value::Scalar(Scalar::Bool(true)));
        }
        top.insert("version", Value::str(self.version.clone()));
        top.into_iter()
            .map(|(k, v)| Item::Entry(k.to_owned(), v))
            .collect()
    }
}

fn group_lists(group: &KeyGroup) -> Vec<(&'static str, Vec<Value>)> {
    KeyType::ALL
        .into_iter()
        .map(|kind| {
            let list = group
                .iter()
                .filter(|k| k.kind == kind)
                .map(|k| {
                    Value::Map(
                        k.fields
                            .iter()
                            .map(|(name, f)| {
                                let v = match f {
                                    Field::Text(t) => Value::str(t.clone()),
                                    Field::Map(m) => Value::Map(
                                        m.iter()
                                            .map(|(k, v)| {
                                                Item::Entry(k.clone(), Value::str(v.clone()))
                                            })
                                            .collect(),
                                    ),
                                };
                                Item::Entry(name.clone(), v)
                            })
                            .collect(),
                    )
                })
                .collect();
            (kind.field(), list)
        })
        .collect()
}

/// The key type named `field`, if it is one.
pub fn key_type(field: &str) -> Option<KeyType> {
    KeyType::from_field(field)
}

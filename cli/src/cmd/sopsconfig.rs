//! `.sops.yaml`: finding it (`--config`/`SOPS_CONFIG`, else the working directory and its
//! parents) and picking the creation rule for a file (`config/config.go` upstream).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use lockstep_sops::{EmitOptions, Format, Item, Rule, Scalar, Value};
use regex::Regex;

/// A master key named by a creation rule or a flag, before any service is built.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySpec {
    /// An age recipient.
    Age(String),
    /// An AWS KMS key.
    Kms {
        /// The key ARN.
        arn: String,
        /// A role to assume.
        role: Option<String>,
        /// The encryption context.
        context: BTreeMap<String, String>,
        /// The AWS profile.
        profile: Option<String>,
    },
    /// A Vault transit key URI (`https://vault:8200/v1/transit/keys/name`).
    Vault(String),
    /// A key type lockstep does not offer yet (PGP, GCP, Azure, HuaweiCloud).
    Unsupported {
        /// The `.sops.yaml` key.
        kind: &'static str,
        /// The key as written.
        key: String,
    },
}

/// The creation rule that applies to a file.
#[derive(Clone, Debug, Default)]
pub struct CreationRule {
    /// Key groups (one group unless `key_groups` lists several).
    pub key_groups: Vec<Vec<KeySpec>>,
    /// `shamir_threshold`.
    pub shamir_threshold: usize,
    /// Rule fields, by metadata name (validated later, with the flags).
    pub rules: BTreeMap<&'static str, String>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

/// A loaded `.sops.yaml`.
#[derive(Debug)]
pub struct Config {
    path: PathBuf,
    creation_rules: Option<Vec<Vec<Item>>>,
    /// The `stores` section.
    pub emit: EmitOptions,
}

/// Finds the config file: `explicit` (`--config`/`SOPS_CONFIG`), else `.sops.yaml` in the
/// working directory or one of its parents.
pub fn find(explicit: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    if let Some(p) = explicit {
        if !p.is_file() {
            bail!("config file {} does not exist", p.display());
        }
        return Ok(Some(p.to_owned()));
    }
    let mut dir = std::env::current_dir().context("cannot read the working directory")?;
    for _ in 0..100 {
        let candidate = dir.join(".sops.yaml");
        if candidate.is_file() {
            return Ok(Some(candidate));
        }
        if dir.join(".sops.yml").is_file() {
            eprintln!(
                "lockstep: warning: ignoring {} (sops only reads .sops.yaml)",
                dir.join(".sops.yml").display()
            );
        }
        if !dir.pop() {
            break;
        }
    }
    Ok(None)
}

/// Loads the config at `explicit` or the one [`find`] finds; `None` when there is none.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Option<Config>> {
    let Some(path) = find(explicit)? else {
        return Ok(None);
    };
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let tree = lockstep_sops::stores::load(&bytes, Format::Yaml)
        .with_context(|| format!("cannot parse {}", path.display()))?;
    let empty = Vec::new();
    let root = tree.branches.first().unwrap_or(&empty);
    let creation_rules = match lockstep_sops::tree::get(root, "creation_rules") {
        None | Some(Value::Scalar(Scalar::Null)) => None,
        Some(Value::List(rules)) => Some(
            rules
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .map(|v| match v {
                    Value::Map(items) => Ok(items.iter().map(clone_item).collect()),
                    _ => bail!(
                        "{}: creation_rules entries must be mappings",
                        path.display()
                    ),
                })
                .collect::<anyhow::Result<_>>()?,
        ),
        Some(_) => bail!("{}: creation_rules must be a list", path.display()),
    };
    let mut emit = EmitOptions::default();
    if let Some(Value::Map(stores)) = lockstep_sops::tree::get(root, "stores") {
        let indent = |store: &str| -> Option<usize> {
            let Some(Value::Map(s)) = lockstep_sops::tree::get(stores, store) else {
                return None;
            };
            match lockstep_sops::tree::get(s, "indent") {
                Some(Value::Scalar(Scalar::Int(i))) => usize::try_from(*i).ok(),
                _ => None,
            }
        };
        emit.yaml_indent = indent("yaml").unwrap_or(0);
        emit.json_indent = indent("json");
        emit.binary_indent = indent("json_binary");
    }
    Ok(Some(Config {
        path,
        creation_rules,
        emit,
    }))
}

fn clone_value(v: &Value) -> Value {
    match v {
        Value::Map(items) => Value::Map(items.iter().map(clone_item).collect()),
        Value::List(vs) => Value::List(vs.iter().map(clone_value).collect()),
        Value::Comment(c) => Value::Comment(lockstep_sops::Comment::new(c.text.clone())),
        Value::Scalar(s) => Value::Scalar(match s {
            Scalar::Null => Scalar::Null,
            Scalar::Str(b) => Scalar::Str(b.clone()),
            Scalar::Int(i) => Scalar::Int(*i),
            Scalar::Float(f) => Scalar::Float(*f),
            Scalar::Bool(b) => Scalar::Bool(*b),
            Scalar::Time(t) => Scalar::Time(t.clone()),
        }),
    }
}

fn clone_item(i: &Item) -> Item {
    match i {
        Item::Entry(k, v) => Item::Entry(k.clone(), clone_value(v)),
        Item::Comment(c) => Item::Comment(lockstep_sops::Comment::new(c.text.clone())),
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Scalar(Scalar::Str(b)) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Scalar(Scalar::Int(i)) => Some(i.to_string()),
        Value::Scalar(Scalar::Bool(b)) => Some(b.to_string()),
        Value::Scalar(Scalar::Float(f)) => Some(f.to_string()),
        _ => None,
    }
}

/// A comma-separated string or (sops 3.11+) a list of strings.
fn string_list(v: &Value, field: &str) -> anyhow::Result<Vec<String>> {
    match v {
        Value::Scalar(Scalar::Null) => Ok(Vec::new()),
        Value::List(items) => items
            .iter()
            .filter(|i| !matches!(i, Value::Comment(_)))
            .map(|i| scalar_text(i).with_context(|| format!("{field}: entries must be strings")))
            .collect(),
        other => {
            let s = scalar_text(other).with_context(|| format!("{field}: not a string"))?;
            Ok(split_list(&s))
        }
    }
}

/// Splits a comma-separated key list, dropping blanks.
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `arn[+role]` of `--kms` and of a rule's `kms` string.
pub fn kms_from_arn(s: &str, context: &BTreeMap<String, String>, profile: Option<&str>) -> KeySpec {
    let (arn, role) = match s.split_once('+') {
        Some((a, r)) => (a.to_owned(), Some(r.to_owned())),
        None => (s.to_owned(), None),
    };
    KeySpec::Kms {
        arn,
        role,
        context: context.clone(),
        profile: profile.filter(|p| !p.is_empty()).map(str::to_owned),
    }
}

fn string_map(v: &Value, field: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    match v {
        Value::Map(items) => {
            for item in items {
                if let Item::Entry(k, v) = item {
                    let v = scalar_text(v)
                        .with_context(|| format!("{field}.{k}: context values must be strings"))?;
                    out.insert(k.clone(), v);
                }
            }
        }
        Value::Scalar(Scalar::Null) => {}
        _ => bail!("{field}: not a mapping"),
    }
    Ok(out)
}

fn group_from(items: &[Item], out: &mut Vec<KeySpec>) -> anyhow::Result<()> {
    for item in items {
        let Item::Entry(k, v) = item else { continue };
        let entries = || -> Vec<&Value> {
            match v {
                Value::List(vs) => vs
                    .iter()
                    .filter(|v| !matches!(v, Value::Comment(_)))
                    .collect(),
                _ => Vec::new(),
            }
        };
        match k.as_str() {
            "age" => out.extend(string_list(v, "age")?.into_iter().map(KeySpec::Age)),
            "hc_vault" | "hc_vault_transit_uri" => {
                out.extend(string_list(v, k)?.into_iter().map(KeySpec::Vault))
            }
            "kms" => {
                for e in entries() {
                    let Value::Map(m) = e else {
                        bail!("key_groups.kms entries must be mappings");
                    };
                    let get = |n: &str| lockstep_sops::tree::get(m, n).and_then(scalar_text);
                    let arn = get("arn").context("key_groups.kms entry without arn")?;
                    let context = match lockstep_sops::tree::get(m, "context") {
                        Some(c) => string_map(c, "context")?,
                        None => BTreeMap::new(),
                    };
                    out.push(KeySpec::Kms {
                        arn,
                        role: get("role").filter(|r| !r.is_empty()),
                        context,
                        profile: get("aws_profile").filter(|r| !r.is_empty()),
                    });
                }
            }
            "merge" => {
                for e in entries() {
                    if let Value::Map(m) = e {
                        group_from(m, out)?;
                    }
                }
            }
            "pgp" | "gcp_kms" | "azure_keyvault" | "hckms" => {
                let kind: &'static str = match k.as_str() {
                    "pgp" => "pgp",
                    "gcp_kms" => "gcp_kms",
                    "azure_keyvault" => "azure_keyvault",
                    _ => "hckms",
                };
                for e in entries() {
                    out.push(KeySpec::Unsupported {
                        kind,
                        key: scalar_text(e).unwrap_or_else(|| "(entry)".to_owned()),
                    });
                }
            }
            _ => {}
        }
    }
    // sops removes duplicate keys inside a group.
    let mut seen = Vec::new();
    out.retain(|k| {
        if seen.contains(k) {
            false
        } else {
            seen.push(k.clone());
            true
        }
    });
    Ok(())
}

fn parse_rule(items: &[Item], context: &BTreeMap<String, String>) -> anyhow::Result<CreationRule> {
    let get = |n: &str| lockstep_sops::tree::get(items, n);
    let mut rule = CreationRule::default();
    if let Some(groups) = get("key_groups") {
        let Value::List(groups) = groups else {
            bail!("key_groups must be a list");
        };
        for g in groups.iter().filter(|g| !matches!(g, Value::Comment(_))) {
            let Value::Map(m) = g else {
                bail!("key_groups entries must be mappings");
            };
            let mut group = Vec::new();
            group_from(m, &mut group)?;
            rule.key_groups.push(group);
        }
        if rule.key_groups.is_empty() || rule.key_groups.iter().any(Vec::is_empty) {
            bail!("empty key group provided");
        }
    } else {
        let profile = get("aws_profile").and_then(scalar_text);
        let mut group = Vec::new();
        if let Some(v) = get("age") {
            group.extend(string_list(v, "age")?.into_iter().map(KeySpec::Age));
        }
        if let Some(v) = get("pgp") {
            group.extend(
                string_list(v, "pgp")?
                    .into_iter()
                    .map(|key| KeySpec::Unsupported { kind: "pgp", key }),
            );
        }
        if let Some(v) = get("kms") {
            group.extend(
                string_list(v, "kms")?
                    .iter()
                    .map(|a| kms_from_arn(a, context, profile.as_deref())),
            );
        }
        for kind in ["gcp_kms", "hckms", "azure_keyvault"] {
            if let Some(v) = get(kind) {
                group.extend(
                    string_list(v, kind)?
                        .into_iter()
                        .map(|key| KeySpec::Unsupported {
                            kind: match kind {
                                "gcp_kms" => "gcp_kms",
                                "hckms" => "hckms",
                                _ => "azure_keyvault",
                            },
                            key,
                        }),
                );
            }
        }
        if let Some(v) = get("hc_vault_transit_uri") {
            group.extend(
                string_list(v, "hc_vault_transit_uri")?
                    .into_iter()
                    .map(KeySpec::Vault),
            );
        }
        if !group.is_empty() {
            rule.key_groups.push(group);
        }
    }
    if let Some(v) = get("shamir_threshold") {
        rule.shamir_threshold = match v {
            Value::Scalar(Scalar::Int(i)) if *i >= 0 => *i as usize,
            Value::Scalar(Scalar::Null) => 0,
            _ => bail!("shamir_threshold must be a non-negative integer"),
        };
    }
    for field in Rule::FIELDS {
        if let Some(v) = get(field).and_then(scalar_text).filter(|s| !s.is_empty()) {
            rule.rules.insert(field, v);
        }
    }
    if let Some(Value::Scalar(Scalar::Bool(b))) = get("mac_only_encrypted") {
        rule.mac_only_encrypted = *b;
    }
    Ok(rule)
}

impl Config {
    /// The first creation rule whose `path_regex` matches `file` (made absolute, then
    /// relative to the config's directory when below it). `Ok(None)` when the config has
    /// no `creation_rules`; an error when none matches.
    pub fn creation_rule(
        &self,
        file: &Path,
        kms_context: &BTreeMap<String, String>,
    ) -> anyhow::Result<Option<CreationRule>> {
        let Some(rules) = &self.creation_rules else {
            return Ok(None);
        };
        let abs = std::path::absolute(file).unwrap_or_else(|_| file.to_owned());
        let abs = abs.to_string_lossy().into_owned();
        let dir = std::path::absolute(self.path.parent().unwrap_or(Path::new(".")))
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let prefix = format!("{dir}{}", std::path::MAIN_SEPARATOR);
        let rel = abs.strip_prefix(&prefix).unwrap_or(&abs);
        for (i, items) in rules.iter().enumerate() {
            let matched = match lockstep_sops::tree::get(items, "path_regex").and_then(scalar_text)
            {
                None => true,
                Some(re) if re.is_empty() => true,
                Some(re) => Regex::new(&re)
                    .with_context(|| {
                        format!("{}: creation rule {i}: bad path_regex", self.path.display())
                    })?
                    .is_match(rel),
            };
            if matched {
                return parse_rule(items, kms_context)
                    .with_context(|| format!("{}: creation rule {i}", self.path.display()))
                    .map(Some);
            }
        }
        bail!(
            "error loading config: no matching creation rules found for {rel} in {}",
            self.path.display()
        )
    }
}

//! `.sops.yaml`: finding it (an explicit path, else the nearest `.sops.yaml` from a
//! directory up), reading it, and picking the creation rule for a file — sops'
//! `config/config.go`.
//!
//! Start with [`find`] and [`Config::load`], then [`Config::creation_rule`]. A rule's keys
//! are [`KeySpec`]s: names of keys, not services; the caller builds the services that wrap
//! a data key for them.

mod file;
mod keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use keys::{KeySpec, KmsSpec, split_list};

use crate::rules::Rule;
use crate::stores::EmitOptions;
use file::{ConfigFile, RawRule, StoreIndent};

/// The name sops reads.
pub const FILE_NAME: &str = ".sops.yaml";

/// A name sops does not read; finding one is worth a warning.
const IGNORED_NAME: &str = ".sops.yml";

/// How many directories [`find`] climbs (sops' `maxDepth`).
const MAX_DEPTH: usize = 100;

/// Reading `.sops.yaml` or using one of its rules failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file given with `--config`/`SOPS_CONFIG` does not exist.
    #[error("config file {} does not exist", path.display())]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not YAML of the expected shape.
    #[error("cannot parse {}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with its line and column (a config holds no secrets).
        reason: String,
    },
    /// A rule's `path_regex` is not a valid regex.
    #[error("{}: creation rule {rule}: bad path_regex", path.display())]
    PathRegex {
        /// The file.
        path: PathBuf,
        /// Index of the rule, from 0.
        rule: usize,
        /// The regex error.
        #[source]
        source: regex::Error,
    },
    /// A key group of the matching rule has no keys.
    #[error("{}: creation rule {rule}: empty key group provided", path.display())]
    EmptyKeyGroup {
        /// The file.
        path: PathBuf,
        /// Index of the rule, from 0.
        rule: usize,
    },
    /// The config has creation rules, and none matches the file.
    #[error("error loading config: no matching creation rules found for {file} in {}", path.display())]
    NoMatchingRule {
        /// The file, as matched (relative to the config's directory when below it).
        file: String,
        /// The config.
        path: PathBuf,
    },
    /// More than one encryption rule applies (from the flags and the creation rule).
    #[error(
        "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex, or unencrypted_comment_regex in the same file"
    )]
    ConflictingRules,
}

/// What [`find`] found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// The config to use, if any.
    pub path: Option<PathBuf>,
    /// A `.sops.yml` seen on the way, which sops (and lockstep) does not read: worth a
    /// warning, as sops gives one.
    pub ignored: Option<PathBuf>,
}

/// Finds the config: `explicit` (`--config`/`SOPS_CONFIG`) when given, else the nearest
/// `.sops.yaml` in `start` or one of its parents.
///
/// # Errors
/// [`ConfigError::Missing`] when `explicit` is not a file.
pub fn find(explicit: Option<&Path>, start: &Path) -> Result<Found, ConfigError> {
    if let Some(path) = explicit {
        if !path.is_file() {
            return Err(ConfigError::Missing {
                path: path.to_owned(),
            });
        }
        return Ok(Found {
            path: Some(path.to_owned()),
            ignored: None,
        });
    }
    let mut found = Found::default();
    for dir in start.ancestors().take(MAX_DEPTH) {
        let candidate = dir.join(FILE_NAME);
        if candidate.is_file() {
            found.path = Some(candidate);
            break;
        }
        let other = dir.join(IGNORED_NAME);
        if found.ignored.is_none() && other.is_file() {
            found.ignored = Some(other);
        }
    }
    Ok(found)
}

/// A loaded `.sops.yaml`.
#[derive(Debug)]
pub struct Config {
    path: PathBuf,
    creation_rules: Option<Vec<RawRule>>,
    /// Output settings from `stores` (indents).
    pub emit: EmitOptions,
}

/// The creation rule that applies to a file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CreationRule {
    /// Key groups: one unless `key_groups` lists several (Shamir secret sharing).
    pub key_groups: Vec<Vec<KeySpec>>,
    /// `shamir_threshold` (0: all groups).
    pub shamir_threshold: usize,
    /// The encryption rules it names; [`encryption_rule`] refuses more than one.
    pub rules: Vec<Rule>,
    /// `mac_only_encrypted`.
    pub mac_only_encrypted: bool,
}

impl Config {
    /// Reads the config at `path`.
    ///
    /// # Errors
    /// [`ConfigError::Read`], or [`ConfigError::Parse`] when it is not YAML of the shape
    /// sops reads (e.g. `creation_rules` not a list of mappings).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Parses config text read from `path`.
    ///
    /// # Errors
    /// As [`Config::load`].
    pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let file: ConfigFile = if text.trim().is_empty() {
            ConfigFile::default()
        } else {
            // A repository file: the same limits as any other YAML from a repository.
            serde_saphyr::from_str_with_options(text, lockstep_limits::yaml_options()).map_err(
                |e| ConfigError::Parse {
                    path: path.to_owned(),
                    reason: e.to_string(),
                },
            )?
        };
        let mut emit = EmitOptions::default();
        if let Some(stores) = &file.stores {
            emit.yaml_indent = StoreIndent::of(&stores.yaml).unwrap_or(0);
            emit.json_indent = StoreIndent::of(&stores.json);
            emit.binary_indent = StoreIndent::of(&stores.json_binary);
        }
        Ok(Config {
            path: path.to_owned(),
            creation_rules: file.creation_rules,
            emit,
        })
    }

    /// The file this config was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The first creation rule whose `path_regex` matches `file` (made absolute, then
    /// relative to the config's directory when below it); `kms_context`
    /// (`--encryption-context`) goes to the rule's own KMS keys. `Ok(None)` when the
    /// config has no `creation_rules`.
    ///
    /// # Errors
    /// [`ConfigError::NoMatchingRule`], [`ConfigError::PathRegex`] for a bad regex on the
    /// way, [`ConfigError::EmptyKeyGroup`] when the matching rule has an empty group.
    pub fn creation_rule(
        &self,
        file: &Path,
        kms_context: &BTreeMap<String, String>,
    ) -> Result<Option<CreationRule>, ConfigError> {
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
        for (index, rule) in rules.iter().enumerate() {
            let matched = match rule.path_regex() {
                None => true,
                Some(re) => regex::Regex::new(&re)
                    .map_err(|source| ConfigError::PathRegex {
                        path: self.path.clone(),
                        rule: index,
                        source,
                    })?
                    .is_match(rel),
            };
            if matched {
                let key_groups = rule.key_groups(kms_context);
                if key_groups.iter().any(Vec::is_empty) {
                    return Err(ConfigError::EmptyKeyGroup {
                        path: self.path.clone(),
                        rule: index,
                    });
                }
                return Ok(Some(CreationRule {
                    key_groups,
                    shamir_threshold: rule.shamir_threshold.unwrap_or(0),
                    rules: rule.rules(),
                    mac_only_encrypted: rule.mac_only_encrypted.unwrap_or(false),
                }));
            }
        }
        Err(ConfigError::NoMatchingRule {
            file: rel.to_owned(),
            path: self.path.clone(),
        })
    }
}

/// The one encryption rule of a new file: each of the six fields from `flags` when given
/// there, else from the creation rule (sops' `getEncryptConfig`); `None` means sops'
/// default.
///
/// # Errors
/// [`ConfigError::ConflictingRules`] when more than one field ends up set.
pub fn encryption_rule(
    flags: &[Rule],
    rule: Option<&CreationRule>,
) -> Result<Option<Rule>, ConfigError> {
    let mut set: Vec<Rule> = Vec::new();
    for field in Rule::FIELDS {
        let given = |rules: &[Rule]| rules.iter().find(|r| r.field() == field).cloned();
        if let Some(r) = given(flags).or_else(|| rule.and_then(|c| given(&c.rules))) {
            set.push(r);
        }
    }
    if set.len() > 1 {
        return Err(ConfigError::ConflictingRules);
    }
    Ok(set.pop())
}

#[cfg(test)]
mod tests;

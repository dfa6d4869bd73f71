//! The flags the SOPS verbs share (`--config`, `--input-type`, the encryption rule and key
//! flags) and what they turn into: the config file, formats, a [`Rule`], key groups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::config::{self, Config, CreationRule, KeySpec, KmsSpec};
use lockstep_sops::{Format, KeyType, Rule};

use crate::cmd::report::{Code, coded};

/// `--config` (sops' global flag, accepted on every verb here).
#[derive(Debug, Args, Clone)]
pub struct ConfigFlag {
    /// Path to the .sops.yaml config file (default: .sops.yaml in the working directory or
    /// a parent).
    #[arg(long, env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Key types to try first when decrypting, comma-separated (age, pgp, kms, gcp_kms,
    /// azure_kv, hc_vault, hckms).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
    /// Indent of YAML and JSON output, in spaces (default: the config's `stores`, else 4
    /// for YAML and a tab for JSON).
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
}

impl ConfigFlag {
    /// `--indent` over `emit` (the config's `stores` settings).
    pub fn with_indent(&self, mut emit: lockstep_sops::EmitOptions) -> lockstep_sops::EmitOptions {
        if let Some(n) = self.indent {
            emit.yaml_indent = n;
            emit.json_indent = Some(n);
            emit.binary_indent = Some(n);
        }
        emit
    }

    /// The config named by `--config`/`SOPS_CONFIG`, else the nearest `.sops.yaml` from
    /// the working directory up; `None` when there is none. A `.sops.yml` on the way gets
    /// a warning, as in sops.
    pub fn load(&self) -> anyhow::Result<Option<Config>> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let found = config::find(self.config.as_deref(), &cwd)?;
        if let Some(ignored) = &found.ignored {
            eprintln!(
                "lockstep: warning: ignoring {} (sops only reads {})",
                ignored.display(),
                config::FILE_NAME
            );
        }
        Ok(found.path.map(|p| Config::load(&p)).transpose()?)
    }

    /// Output settings: the `stores` section of the config (if one is found and reads)
    /// and `--indent`.
    pub fn emit_options(&self) -> lockstep_sops::EmitOptions {
        let stores = self
            .load()
            .ok()
            .flatten()
            .map(|c| c.emit)
            .unwrap_or_default();
        self.with_indent(stores)
    }

    /// `--decryption-order` as key types; a type named twice is exit 112, and names of no
    /// known type are ignored, as in sops.
    pub fn order(&self) -> anyhow::Result<Vec<KeyType>> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for name in self
            .decryption_order
            .as_deref()
            .map(config::split_list)
            .unwrap_or_default()
        {
            if seen.contains(&name) {
                return Err(coded(
                    Code::DuplicateDecryptionKeyType,
                    format!("duplicate decryption key type: {name}"),
                ));
            }
            if let Some(t) = KeyType::ALL.into_iter().find(|t| t.field() == name) {
                out.push(t);
            }
            seen.push(name);
        }
        Ok(out)
    }
}

/// The flags of a verb that opens one encrypted file: `--ignore-mac`, the formats and the
/// config.
#[derive(Debug, Args, Clone)]
pub struct OpenFlags {
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    pub ignore_mac: bool,
    #[command(flatten)]
    pub types: TypeFlags,
    #[command(flatten)]
    pub config: ConfigFlag,
}

/// `--input-type`/`--output-type`.
#[derive(Debug, Args, Clone)]
pub struct TypeFlags {
    /// Input format: yaml, json, dotenv, ini, toml or binary (default: from the file
    /// extension).
    #[arg(long, value_name = "TYPE", value_parser = parse_format)]
    pub input_type: Option<Format>,
    /// Output format: yaml, json, dotenv, ini, toml or binary (default: the input format).
    #[arg(long, value_name = "TYPE", value_parser = parse_format)]
    pub output_type: Option<Format>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| {
        format!("unknown type {s:?}: expected yaml, json, dotenv, ini, toml or binary")
    })
}

impl TypeFlags {
    /// Input and output formats for a file named `name`.
    pub fn formats(&self, name: Option<&Path>) -> (Format, Format) {
        let inferred = name.map_or(Format::Binary, Format::from_path);
        let input = self.input_type.unwrap_or(inferred);
        let output = self
            .output_type
            .unwrap_or(name.map_or(input, Format::from_path));
        (input, output)
    }
}

/// The six encryption rule flags and `--mac-only-encrypted`.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleFlags {
    /// Leave values whose key ends with this suffix unencrypted (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values unencrypted when a key on their path matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values with a key on their path that matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values unencrypted when a comment above them matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values with a comment above them that matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

impl RuleFlags {
    /// The rule from the flags, each field overriding the creation rule's (sops'
    /// `getEncryptConfig`); more than one set is an error (exit 8).
    pub fn resolve(&self, config: Option<&CreationRule>) -> anyhow::Result<Option<Rule>> {
        let flags: Vec<Rule> = [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .into_iter()
        .filter_map(|(field, flag)| {
            let value = flag.clone().filter(|s| !s.is_empty())?;
            Rule::from_field(field, value)
        })
        .collect();
        Ok(config::encryption_rule(&flags, config)?)
    }

    /// `mac_only_encrypted` from the flag or the creation rule.
    pub fn mac_only(&self, config: Option<&CreationRule>) -> bool {
        self.mac_only_encrypted || config.is_some_and(|c| c.mac_only_encrypted)
    }
}

/// The key flags of `encrypt` (and `edit` of a new file).
#[derive(Debug, Args, Clone, Default)]
pub struct KeyFlags {
    /// Comma-separated age recipients.
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// Comma-separated OpenPGP fingerprints (public keys from the gpg keyring, through
    /// `$SOPS_GPG_EXEC` or `gpg`).
    #[arg(short = 'p', long, env = "SOPS_PGP_FP", value_name = "FINGERPRINTS")]
    pub pgp: Option<String>,
    /// Comma-separated AWS KMS ARNs (`arn[+role]`).
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// AWS profile for the KMS keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// Comma-separated Vault transit key URIs
    /// (`https://vault:8200/v1/transit/keys/name`).
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
    /// KMS encryption context: comma-separated `key:value` pairs.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Number of key groups needed to decrypt (Shamir secret sharing).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// sops' `--encryption-context` parser: `k1:v1,k2:v2` (exit 6 when malformed).
pub fn parse_context(s: Option<&str>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(out);
    };
    for pair in s.split(',') {
        let Some((k, v)) = pair.split_once(':') else {
            return Err(coded(
                Code::InvalidKmsContext,
                "invalid KMS encryption context format (expected key:value,key:value)",
            ));
        };
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

impl KeyFlags {
    /// The key group given on the command line, if any key flag is set.
    pub fn group(&self) -> anyhow::Result<Option<Vec<KeySpec>>> {
        let context = parse_context(self.encryption_context.as_deref())?;
        let mut group = Vec::new();
        if let Some(a) = &self.age {
            group.extend(config::split_list(a).into_iter().map(KeySpec::Age));
        }
        if let Some(p) = &self.pgp {
            group.extend(config::split_list(p).into_iter().map(KeySpec::Pgp));
        }
        if let Some(k) = &self.kms {
            group.extend(config::split_list(k).iter().map(|arn| {
                KeySpec::Kms(KmsSpec::from_arn(
                    arn,
                    &context,
                    self.aws_profile.as_deref(),
                ))
            }));
        }
        if let Some(v) = &self.hc_vault_transit {
            group.extend(config::split_list(v).into_iter().map(KeySpec::Vault));
        }
        Ok((!group.is_empty()).then_some(group))
    }
}

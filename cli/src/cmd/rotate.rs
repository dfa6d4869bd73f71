//! `lockstep rotate`: sops' `rotate` verb. Decrypts, generates a new data key and encrypts
//! every value again for the file's keys, with keys added (to the first group) or removed
//! (from every group) on the way.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::EncryptOptions;

use super::keysource::{self, spec_of};
use super::sopscommon::{ConfigFlag, Output, TypeFlags, open_encrypted, parse_context};
use super::sopsconfig::{KeySpec, kms_from_arn, split_list};
use super::sopserr::{Code, coded};

/// Rotate the data key of an encrypted file, optionally changing its keys (sops-compatible).
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The encrypted file.
    file: PathBuf,
    /// Write the result over the input file (atomically, permissions kept).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Comma-separated age recipients to add.
    #[arg(long, value_name = "RECIPIENTS")]
    add_age: Option<String>,
    /// Comma-separated age recipients to remove.
    #[arg(long, value_name = "RECIPIENTS")]
    rm_age: Option<String>,
    /// Comma-separated KMS ARNs to add.
    #[arg(long, value_name = "ARNS")]
    add_kms: Option<String>,
    /// Comma-separated KMS ARNs to remove.
    #[arg(long, value_name = "ARNS")]
    rm_kms: Option<String>,
    /// Comma-separated Vault transit URIs to add.
    #[arg(long, value_name = "URIS")]
    add_hc_vault_transit: Option<String>,
    /// Comma-separated Vault transit URIs to remove.
    #[arg(long, value_name = "URIS")]
    rm_hc_vault_transit: Option<String>,
    /// KMS encryption context for added KMS keys (`key:value,…`).
    #[arg(long, value_name = "CONTEXT")]
    encryption_context: Option<String>,
    /// AWS profile for added KMS keys.
    #[arg(long, value_name = "PROFILE")]
    aws_profile: Option<String>,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    ignore_mac: bool,
    #[command(flatten)]
    types: TypeFlags,
    #[command(flatten)]
    config: ConfigFlag,
}

fn same_key(a: &KeySpec, b: &KeySpec) -> bool {
    match (a, b) {
        (KeySpec::Age(x), KeySpec::Age(y)) => x.trim() == y.trim(),
        (KeySpec::Kms { arn: x, .. }, KeySpec::Kms { arn: y, .. }) => x == y,
        (KeySpec::Vault(x), KeySpec::Vault(y)) => {
            x.trim_end_matches('/') == y.trim_end_matches('/')
        }
        _ => false,
    }
}

/// Runs `lockstep rotate`.
pub fn run(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let adding =
        args.add_age.is_some() || args.add_kms.is_some() || args.add_hc_vault_transit.is_some();
    let removing =
        args.rm_age.is_some() || args.rm_kms.is_some() || args.rm_hc_vault_transit.is_some();
    if (adding || removing) && !args.file.exists() {
        return Err(coded(
            Code::NonExistentFileKeys,
            format!(
                "cannot add or remove keys on non-existent file {}, use the `edit` subcommand instead",
                args.file.display()
            ),
        ));
    }
    let output = Output::choose(args.in_place, args.output.as_deref(), Some(&args.file))?;
    let context = parse_context(args.encryption_context.as_deref())?;
    let (in_fmt, out_fmt) = args.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    let decrypted = open_encrypted(&args.file, in_fmt, args.ignore_mac, &args.config)?;
    let metadata = decrypted.metadata;
    let mut groups: Vec<Vec<KeySpec>> = metadata
        .key_groups
        .iter()
        .map(|g| g.iter().map(spec_of).collect())
        .collect();
    let mut added = Vec::new();
    if let Some(a) = &args.add_age {
        added.extend(split_list(a).into_iter().map(KeySpec::Age));
    }
    if let Some(k) = &args.add_kms {
        added.extend(
            split_list(k)
                .iter()
                .map(|a| kms_from_arn(a, &context, args.aws_profile.as_deref())),
        );
    }
    if let Some(v) = &args.add_hc_vault_transit {
        added.extend(split_list(v).into_iter().map(KeySpec::Vault));
    }
    let mut removed = Vec::new();
    if let Some(a) = &args.rm_age {
        removed.extend(split_list(a).into_iter().map(KeySpec::Age));
    }
    if let Some(k) = &args.rm_kms {
        removed.extend(
            split_list(k)
                .iter()
                .map(|a| kms_from_arn(a, &context, None)),
        );
    }
    if let Some(v) = &args.rm_hc_vault_transit {
        removed.extend(split_list(v).into_iter().map(KeySpec::Vault));
    }
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    for key in added {
        if !groups[0].iter().any(|k| same_key(k, &key)) {
            groups[0].push(key);
        }
    }
    for group in &mut groups {
        group.retain(|k| !removed.iter().any(|r| same_key(k, r)));
    }
    let options = EncryptOptions {
        key_groups: keysource::recipients(&groups)?,
        shamir_threshold: metadata.shamir_threshold,
        rule: metadata.rule.clone(),
        mac_only_encrypted: metadata.mac_only_encrypted,
    };
    let emit = args.config.emit_options();
    let out = lockstep_sops::encrypt(decrypted.tree, in_fmt, options)
        .with_context(|| format!("cannot encrypt {name} with the new data key"))?;
    output.write(&out.emit(out_fmt, &emit)?)?;
    Ok(ExitCode::SUCCESS)
}

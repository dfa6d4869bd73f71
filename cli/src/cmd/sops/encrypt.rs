//! `lockstep encrypt`: sops' `encrypt` verb. Encrypts a plaintext file for the keys given
//! on the command line or by the matching `.sops.yaml` creation rule.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::EncryptOptions;
use lockstep_sops::config::CreationRule;

use super::file::{read_input, shown};
use super::flags::{ConfigFlag, KeyFlags, RuleFlags, TypeFlags, parse_context};
use super::keysource;
use crate::cmd::output::Output;
use crate::cmd::report::{Code, Coded, coded, hints};

/// Encrypt a file (sops-compatible flags).
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The plaintext file (default: stdin, which needs --filename-override).
    file: Option<PathBuf>,
    /// Write the result over the input file (atomically, permissions kept).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the result to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Use this name to pick the creation rule and the formats (needed for stdin).
    #[arg(long, value_name = "NAME")]
    filename_override: Option<PathBuf>,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    rules: RuleFlags,
    #[command(flatten)]
    types: TypeFlags,
    #[command(flatten)]
    config: ConfigFlag,
}

/// The keys, threshold and rule for a new file named `name`.
pub struct NewFileSettings {
    /// The options to pass to `lockstep_sops::encrypt`.
    pub options: EncryptOptions,
    /// Output settings from the config's `stores`.
    pub emit: lockstep_sops::EmitOptions,
}

/// Works out the encryption settings for a new file from flags and `.sops.yaml`.
pub fn settings(
    name: &std::path::Path,
    keys: &KeyFlags,
    rules: &RuleFlags,
    config: &ConfigFlag,
) -> anyhow::Result<NewFileSettings> {
    let context = parse_context(keys.encryption_context.as_deref())?;
    let cfg = config.load()?;
    let flag_group = keys.group()?;
    // As sops: the config is read for the rule fields even when keys come from flags, and
    // a config without a matching rule is an error either way.
    let rule: Option<CreationRule> = match &cfg {
        Some(cfg) => cfg.creation_rule(name, &context)?,
        None => None,
    };
    let key_groups = match flag_group {
        Some(g) => vec![g],
        None => match &rule {
            Some(r) if !r.key_groups.is_empty() => r.key_groups.clone(),
            _ => {
                return Err(coded(
                    Code::Generic,
                    "no master keys were provided, so lockstep can't encrypt the file",
                ));
            }
        },
    };
    let shamir_threshold = keys
        .shamir_secret_sharing_threshold
        .or(rule.as_ref().map(|r| r.shamir_threshold))
        .unwrap_or(0);
    let options = EncryptOptions {
        key_groups: keysource::recipients(&key_groups)?,
        shamir_threshold,
        rule: rules.resolve(rule.as_ref())?,
        mac_only_encrypted: rules.mac_only(rule.as_ref()),
    };
    Ok(NewFileSettings {
        options,
        emit: config.with_indent(cfg.map(|c| c.emit).unwrap_or_default()),
    })
}

/// Runs `lockstep encrypt`.
pub fn run(args: EncryptArgs) -> anyhow::Result<ExitCode> {
    if args.file.is_none() && args.filename_override.is_none() {
        return Err(Coded::new(
            Code::ConflictingParameters,
            "must specify --filename-override when reading from stdin",
        )
        .hint(hints::NAME_STDIN)
        .into());
    }
    let output = Output::choose(args.in_place, args.output.as_deref(), args.file.as_deref())?;
    let input = read_input(args.file.as_deref())?;
    let name = args
        .filename_override
        .clone()
        .or_else(|| input.path.clone())
        .expect("a name, checked above");
    let (in_fmt, out_fmt) = args.types.formats(Some(&name));
    let tree = lockstep_sops::stores::load(&input.bytes, in_fmt).map_err(|e| {
        anyhow::Error::new(e).context(
            Coded::new(
                Code::CannotReadInput,
                format!("error unmarshalling {}", shown(input.path.as_deref())),
            )
            .hint(hints::INPUT_FORMAT),
        )
    })?;
    if lockstep_sops::stores::has_metadata(&tree, in_fmt) {
        return Err(
            anyhow::Error::new(lockstep_sops::EncryptError::AlreadyEncrypted)
                .context(shown(input.path.as_deref())),
        );
    }
    let settings = settings(&name, &args.keys, &args.rules, &args.config)?;
    let file = lockstep_sops::encrypt(tree, in_fmt, settings.options)
        .with_context(|| format!("cannot encrypt {}", shown(input.path.as_deref())))?;
    let bytes = file.emit(out_fmt, &settings.emit)?;
    output.write(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

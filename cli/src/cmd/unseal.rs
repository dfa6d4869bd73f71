//! `lockstep unseal`: kubeseal's `--recovery-unseal`, offline. Reads one SealedSecret and
//! prints the Secret it stands for, using private keys from files (PEM keys or controller
//! key Secret backups).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sealed::manifest;

use super::seal::{FormatArg, read_input, write_output};

/// Unseal a SealedSecret offline with the controller's private keys (kubeseal
/// --recovery-unseal).
#[derive(Debug, Args)]
pub struct UnsealArgs {
    /// Private key files: PEM (PKCS#1 or PKCS#8), or key Secrets / a v1 List as backed up
    /// with `kubectl get secret -l sealedsecrets.bitnami.com/sealed-secrets-key -o yaml`.
    /// Comma-separated or repeated.
    #[arg(
        long = "recovery-private-key",
        value_delimiter = ',',
        required = true,
        value_name = "FILE"
    )]
    recovery_private_key: Vec<PathBuf>,

    /// Accepted for kubeseal compatibility; this command always recovery-unseals.
    #[arg(long = "recovery-unseal")]
    recovery_unseal: bool,

    /// Input SealedSecret file (default: stdin).
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    secret_file: Option<PathBuf>,

    /// Output format (kubeseal's default is json).
    #[arg(short = 'o', long = "format", value_enum, default_value = "json")]
    format: FormatArg,

    /// Write the Secret to this file (atomically) instead of stdout.
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    output: Option<PathBuf>,

    /// Namespace for a SealedSecret that has none.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
}

/// Runs `lockstep unseal`.
pub fn run(args: UnsealArgs) -> anyhow::Result<ExitCode> {
    let _always_recovery = args.recovery_unseal;
    let mut keys = Vec::new();
    for path in &args.recovery_private_key {
        let bytes = read_input(Some(path))?;
        let loaded = lockstep_sealed::load_private_keys(&bytes)
            .with_context(|| format!("loading private keys from {}", path.display()))?;
        keys.extend(loaded);
    }

    let input = read_input(args.secret_file.as_deref())?;
    let mut sealed = manifest::parse_sealed_secret(&input).context("reading the SealedSecret")?;
    if sealed
        .metadata
        .namespace
        .as_deref()
        .is_none_or(str::is_empty)
    {
        sealed.metadata.namespace = args.namespace.clone();
    }
    let secret = lockstep_sealed::unseal(&sealed, &keys).with_context(|| {
        format!(
            "unsealing with {} key(s) (if no key could decrypt it: check the SealedSecret's name, namespace and scope annotation, and that the key is the controller's)",
            keys.len()
        )
    })?;
    let format = args.format.for_output(args.output.as_deref());
    let text = manifest::secret_to_string(secret, format)?;
    write_output(args.output.as_deref(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

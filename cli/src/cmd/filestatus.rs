//! `lockstep filestatus`: sops' `filestatus` verb; prints `{"encrypted":true|false}`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::sopscommon::{TypeFlags, read_input};

/// Print whether a file is sops-encrypted, as JSON (sops-compatible).
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file to check.
    file: PathBuf,
    #[command(flatten)]
    types: TypeFlags,
}

/// Runs `lockstep filestatus`.
pub fn run(args: FilestatusArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(Some(&args.file))?;
    let (format, _) = args.types.formats(Some(&args.file));
    let encrypted = lockstep_sops::file::is_encrypted(&input.bytes, format);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"encrypted\":{encrypted}}}")?;
    Ok(ExitCode::SUCCESS)
}

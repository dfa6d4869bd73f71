//! `lockstep filestatus`: sops' `filestatus` verb; prints `{"encrypted":true|false}`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::file::read_input;
use super::flags::TypeFlags;
use crate::cmd::report::{Code, Coded, hints};

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
    // sops exits 1 here, not with its "no file" code 100.
    if !args.file.exists() {
        return Err(Coded::new(
            Code::Generic,
            format!(
                "cannot check file status: {} does not exist",
                args.file.display()
            ),
        )
        .hint(hints::EXISTING_FILE)
        .into());
    }
    let input = read_input(Some(&args.file))?;
    let (format, _) = args.types.formats(Some(&args.file));
    let encrypted = lockstep_sops::file::is_encrypted(&input.bytes, format)
        .with_context(|| format!("cannot check the file status of {}", args.file.display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"encrypted\":{encrypted}}}")?;
    Ok(ExitCode::SUCCESS)
}

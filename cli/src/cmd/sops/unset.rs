//! `lockstep unset`: sops' `unset` verb. Removes the value at a tree path of an encrypted
//! file, in place; other values keep their ciphertext.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{PathError, path};

use super::file::{open_encrypted, write_reencrypted};
use super::flags::OpenFlags;

/// Remove one value of an encrypted file, in place (sops-compatible).
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The path, e.g. '["data"]["password"]'.
    index: String,
    /// Succeed without writing when the path does not exist.
    #[arg(long)]
    idempotent: bool,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep unset`.
pub fn run(args: UnsetArgs) -> anyhow::Result<ExitCode> {
    let path =
        path::parse(&args.index).with_context(|| format!("invalid unset index {}", args.index))?;
    let (format, _) = args.open.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    let mut decrypted = open_encrypted(&args.file, format, &args.open)?;
    let mut tree = std::mem::take(&mut decrypted.tree);
    match path::unset(&mut tree, &path) {
        Ok(()) => {}
        Err(PathError::NotFound { .. }) if args.idempotent => return Ok(ExitCode::SUCCESS),
        Err(e) => {
            return Err(
                anyhow::Error::new(e).context(format!("cannot unset {} in {name}", args.index))
            );
        }
    }
    let emit = args.open.config.emit_options();
    write_reencrypted(&args.file, tree, decrypted, format, &emit, &name)?;
    Ok(ExitCode::SUCCESS)
}

//! `lockstep decrypt`: sops' `decrypt` verb, with `--extract`, format conversion and
//! `--ignore-mac`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::path;
use zeroize::Zeroizing;

use super::file::{decrypt_file, load_encrypted, read_input, shown};
use super::flags::OpenFlags;
use crate::cmd::output::Output;
use crate::cmd::report::{Code, Coded};

/// Decrypt a file (sops-compatible flags).
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The encrypted file (default: stdin).
    file: Option<PathBuf>,
    /// Write the plaintext over the input file (atomically, permissions kept).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the plaintext to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print only the value at this path, e.g. '["data"]["password"]'.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Use this name to pick the formats (for stdin).
    #[arg(long, value_name = "NAME")]
    filename_override: Option<PathBuf>,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep decrypt`.
pub fn run(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    let output = Output::choose(args.in_place, args.output.as_deref(), args.file.as_deref())?;
    let extract = args
        .extract
        .as_deref()
        .map(|p| {
            path::parse(p).map_err(|e| {
                anyhow::Error::new(e).context(Coded::new(
                    Code::InvalidTreePath,
                    "error parsing --extract path",
                ))
            })
        })
        .transpose()?;
    let input = read_input(args.file.as_deref())?;
    let name = args.filename_override.clone().or(input.path.clone());
    let (in_fmt, out_fmt) = args.open.types.formats(name.as_deref());
    let shown = shown(input.path.as_deref());
    let file = load_encrypted(&input.bytes, in_fmt, &shown)?;
    let decrypted = decrypt_file(file, args.open.ignore_mac, &args.open.config)
        .with_context(|| format!("cannot decrypt {shown}"))?;
    let emit = args.open.config.emit_options();
    let tree = decrypted.tree;
    let bytes = Zeroizing::new(match extract {
        None => lockstep_sops::stores::emit(&tree, out_fmt, &emit)?,
        Some(steps) => {
            let value = path::extract(&tree, &steps)?;
            path::emit_extracted(value, &steps, out_fmt, &emit)?
        }
    });
    output.write(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

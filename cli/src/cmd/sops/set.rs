//! `lockstep set`: sops' `set` verb. Sets one value (given as JSON) at a tree path of an
//! encrypted file, in place; other values keep their ciphertext.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::path;
use zeroize::Zeroizing;

use super::file::{open_encrypted, write_reencrypted};
use super::flags::OpenFlags;
use crate::cmd::report::{Code, Coded, coded};

/// Set one value of an encrypted file, in place (sops-compatible).
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The path, e.g. '["data"]["password"]'.
    index: String,
    /// The value as JSON, e.g. '"secret"' or '{"a": 1}' (not with --value-file/--value-stdin);
    /// a number is stored as a float, as sops does.
    #[arg(allow_hyphen_values = true)]
    value: Option<String>,
    /// Read the JSON value from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "value_stdin")]
    value_file: Option<PathBuf>,
    /// Read the JSON value from stdin.
    #[arg(long)]
    value_stdin: bool,
    /// Do not write the file when the value is already set.
    #[arg(long)]
    idempotent: bool,
    #[command(flatten)]
    open: OpenFlags,
}

/// The value read from a file or stdin, as text (moved, not copied).
fn text(mut bytes: Zeroizing<Vec<u8>>) -> anyhow::Result<String> {
    String::from_utf8(std::mem::take(&mut *bytes)).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        drop(Zeroizing::new(e.into_bytes()));
        anyhow::anyhow!("the value is not UTF-8 text (byte {at})")
    })
}

/// Runs `lockstep set`.
pub fn run(args: SetArgs) -> anyhow::Result<ExitCode> {
    let path =
        path::parse(&args.index).with_context(|| format!("invalid set index {}", args.index))?;
    let text = Zeroizing::new(match (&args.value, &args.value_file, args.value_stdin) {
        (Some(v), None, false) => v.clone(),
        (None, Some(f), false) => text(crate::cmd::input::read(Some(f))?)?,
        (None, None, true) => text(crate::cmd::input::read(None)?)?,
        _ => {
            return Err(coded(
                Code::NoFileSpecified,
                "give the value either as an argument, with --value-file or with --value-stdin",
            ));
        }
    });
    let value = path::value_from_json(&text).context("invalid value for set")?;
    let (format, _) = args.open.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    let mut decrypted = open_encrypted(&args.file, format, &args.open)?;
    let mut tree = std::mem::take(&mut decrypted.tree);
    let changed = path::set(&mut tree, &path, value).map_err(|e| {
        anyhow::Error::new(e).context(Coded::new(
            Code::InvalidSetFormat,
            format!("cannot set {} in {name}", args.index),
        ))
    })?;
    if !changed && args.idempotent {
        return Ok(ExitCode::SUCCESS);
    }
    let emit = args.open.config.emit_options();
    write_reencrypted(&args.file, tree, decrypted, format, &emit, &name)?;
    Ok(ExitCode::SUCCESS)
}

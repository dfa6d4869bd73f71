//! `lockstep filestatus`: sops' `filestatus` verb; prints `{"encrypted":true|false}`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::Format;

use super::file::read_input;
use super::flags::TypeFlags;
use crate::cmd::report::{Code, Coded, hints};

/// Print whether a file is sops-encrypted, as JSON (sops-compatible).
#[derive(Debug, Args)]
pub struct FilestatusArgs {
    /// The file to check (`-` for stdin).
    file: PathBuf,
    #[command(flatten)]
    types: TypeFlags,
}

/// Runs `lockstep filestatus`.
///
/// Without `--input-type`, a file whose name gives no format (stdin, `secret`, `x.txt`) is
/// checked as each format an encrypted file can be written in: sops reads those as binary,
/// or fails (UX review D15), and calls a renamed encrypted YAML file "not encrypted".
pub fn run(args: FilestatusArgs) -> anyhow::Result<ExitCode> {
    let stdin = args.file.as_os_str() == "-";
    // sops exits 1 here, not with its "no file" code 100.
    if !stdin && !args.file.exists() {
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
    let name = (!stdin).then_some(args.file.as_path());
    let (format, _) = args.types.formats(name);
    let context = || format!("cannot check the file status of {}", args.file.display());
    let mut encrypted =
        lockstep_sops::file::is_encrypted(&input.bytes, format).with_context(context)?;
    if !encrypted && format == Format::Binary && args.types.input_type.is_none() {
        // The text of an encrypted YAML or JSON file under a name without its extension.
        encrypted = [Format::Yaml, Format::Json]
            .into_iter()
            .any(|f| lockstep_sops::file::is_encrypted(&input.bytes, f).unwrap_or(false));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{{\"encrypted\":{encrypted}}}")?;
    Ok(ExitCode::SUCCESS)
}

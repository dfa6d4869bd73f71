//! `lockstep exec-file`: sops' `exec-file` verb. Puts the decrypted file in a private
//! (0700) temporary directory, runs the command with `{}` replaced by its path, and removes
//! it. As in sops, the file is a FIFO by default (the plaintext never reaches the disk and
//! can be read once); `--no-fifo` writes a 0600 regular file instead.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use zeroize::Zeroizing;

use super::file::{open_encrypted, private_temp_dir};
use super::flags::OpenFlags;
use crate::cmd::output::private_file;

/// Run a command on a temporary decrypted copy of a file (sops-compatible).
#[derive(Debug, Args)]
pub struct ExecFileArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The command, run with `/bin/sh -c`; `{}` is replaced by the decrypted file's path.
    command: String,
    /// Write a regular 0600 file instead of a FIFO (for commands that read it twice or
    /// seek).
    #[arg(long)]
    no_fifo: bool,
    /// Name of the temporary file (default `tmp-file`).
    #[arg(long, value_name = "NAME")]
    filename: Option<String>,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep exec-file`.
pub fn run(args: ExecFileArgs) -> anyhow::Result<ExitCode> {
    let (in_fmt, out_fmt) = args.open.types.formats(Some(&args.file));
    let decrypted = open_encrypted(&args.file, in_fmt, &args.open)?;
    let plain = Zeroizing::new(lockstep_sops::stores::emit(
        &decrypted.tree,
        out_fmt,
        &args.open.config.emit_options(),
    )?);
    let dir = private_temp_dir("lockstep-exec-")?;
    let path = dir
        .path()
        .join(args.filename.as_deref().unwrap_or("tmp-file"));
    if args.no_fifo {
        private_file(&path, &plain)?;
    } else {
        let made = std::process::Command::new("mkfifo")
            .args(["-m", "600"])
            .arg(&path)
            .status()
            .context("cannot run mkfifo (use --no-fifo)")?;
        if !made.success() {
            anyhow::bail!("mkfifo failed with {made} (use --no-fifo)");
        }
        // Opening a FIFO for writing waits for the reader; the writer thread ends with the
        // process if the command never reads it.
        let fifo = path.clone();
        let bytes = plain.clone();
        std::thread::spawn(move || {
            if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(&fifo) {
                let _ = f.write_all(&bytes);
            }
        });
    }
    let command = args.command.replace("{}", &path.to_string_lossy());
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .status()
        .context("cannot run the command");
    if args.no_fifo {
        let _ = std::fs::write(&path, vec![0u8; plain.len()]);
    }
    drop(dir);
    let status = status?;
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

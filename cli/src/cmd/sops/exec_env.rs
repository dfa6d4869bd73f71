//! `lockstep exec-env`: sops' `exec-env` verb. Runs a command with the top-level values of
//! a decrypted file in its environment; the exit code is the command's.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{Item, Scalar, Value};

use super::file::open_encrypted;
use super::flags::OpenFlags;
use crate::cmd::report::{Code, coded};

/// Run a command with the decrypted values in its environment (sops-compatible).
#[derive(Debug, Args)]
pub struct ExecEnvArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The command, run with `/bin/sh -c`.
    command: String,
    /// Start the command with only the decrypted values in its environment.
    #[arg(long)]
    pristine: bool,
    /// Replace this process with the command (exec) instead of running a child.
    #[arg(long)]
    same_process: bool,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep exec-env`.
pub fn run(args: ExecEnvArgs) -> anyhow::Result<ExitCode> {
    let (format, _) = args.open.types.formats(Some(&args.file));
    let decrypted = open_encrypted(&args.file, format, &args.open)?;
    let mut env = Vec::new();
    if let Some(branch) = decrypted.tree.branches.first() {
        for item in branch {
            let Item::Entry(k, v) = item else { continue };
            let Value::Scalar(s) = v else {
                return Err(coded(
                    Code::Generic,
                    format!("cannot use complex value in environment; offending key {k}"),
                ));
            };
            if k.contains('=') {
                return Err(coded(
                    Code::Generic,
                    format!("cannot use keys with '=' in environment: {k}"),
                ));
            }
            let text = match s {
                Scalar::Str(b) => b.clone(),
                other => lockstep_sops::stores::dotenv::val_to_string(other).into_bytes(),
            };
            let value = String::from_utf8(text)
                .map_err(|_| coded(Code::Generic, format!("value of {k} is not UTF-8")))?;
            env.push((k.clone(), zeroize::Zeroizing::new(value)));
        }
    }
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c").arg(&args.command);
    if args.pristine {
        cmd.env_clear();
    }
    for (k, v) in &env {
        cmd.env(k, v.as_str());
    }
    drop(decrypted.tree);
    if args.same_process {
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            let err = cmd.exec();
            return Err(anyhow::Error::new(err).context("cannot run the command"));
        }
    }
    let status = cmd.status().context("cannot run the command")?;
    Ok(ExitCode::from(
        status
            .code()
            .and_then(|c| u8::try_from(c).ok())
            .unwrap_or(1),
    ))
}

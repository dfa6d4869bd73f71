//! `lockstep completion <shell>` and `lockstep man <dir>`: shell completions and manual
//! pages generated from the same clap definitions that parse the command line, so they
//! never disagree with it. README "Install the binaries" says where to put them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::Cli;

/// Arguments of `lockstep completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    shell: CompletionShell,
}

/// The shells `lockstep completion` writes for.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

impl From<CompletionShell> for Shell {
    fn from(shell: CompletionShell) -> Self {
        match shell {
            CompletionShell::Bash => Shell::Bash,
            CompletionShell::Zsh => Shell::Zsh,
            CompletionShell::Fish => Shell::Fish,
        }
    }
}

/// Arguments of `lockstep man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Folder to write the pages into (`lockstep.1`, `lockstep-seal.1`, …); created if missing.
    dir: PathBuf,
}

/// Writes the completion script for `args.shell` to stdout.
pub fn completion(args: CompletionArgs) -> anyhow::Result<ExitCode> {
    let mut command = Cli::command();
    // Generated into memory first: clap_complete panics on a write error, and a reader
    // that stops early (`| head`) is a broken pipe, which `report` takes as success.
    let mut script = Vec::new();
    clap_complete::generate(
        Shell::from(args.shell),
        &mut command,
        "lockstep",
        &mut script,
    );
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("writing the completion script")?;
    Ok(ExitCode::SUCCESS)
}

/// Writes one manual page per command into `args.dir`.
pub fn man(args: ManArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    clap_mangen::generate_to(Cli::command(), &args.dir)
        .with_context(|| format!("writing manual pages into {}", args.dir.display()))?;
    Ok(ExitCode::SUCCESS)
}

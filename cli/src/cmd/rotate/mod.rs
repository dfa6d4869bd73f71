//! `lockstep rotate`: sops' per-file `rotate` verb, extended to whole repositories.
//!
//! One file argument (and none of the repository flags) is sops' verb, unchanged: the
//! result goes to stdout unless `-i`/`--output` say otherwise ([`file`]). No argument, a
//! directory, several paths or a repository flag (`--dry-run`, `--update-keys`,
//! `--rewrap`, `--controller-url`, `--recovery-private-key`) rotate everything found, in
//! place ([`repo`]): SOPS files get a new data key, SealedSecrets are re-sealed to the
//! newest sealing key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use crate::cmd::sops::flags::OpenFlags;

pub(super) mod discover;
mod file;
mod keychange;
mod repo;
mod report;
mod sealed;
mod sops;

/// Rotate data keys: of one sops file (sops-compatible), or of every SOPS file and
/// SealedSecret under the given paths (default: the current Git work tree), in place after
/// asking (`--yes` to skip the question).
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// One encrypted file (sops' `rotate`), or files and directories to rotate in place
    /// (default: the Git work tree of the current directory).
    paths: Vec<PathBuf>,
    /// Write the result over the input file (atomically, permissions kept); repository
    /// mode always does.
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the result to this file instead of stdout (one file only).
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    keys: keychange::KeyFlags,
    #[command(flatten)]
    open: OpenFlags,
    #[command(flatten)]
    repo: RepoFlags,
}

/// The flags of repository mode; any of them selects it.
#[derive(Debug, Args, Clone, Default)]
pub struct RepoFlags {
    /// Print what would be done to each file and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Give every SOPS file the key groups of its `.sops.yaml` creation rule (sops
    /// `updatekeys`), together with its new data key.
    #[arg(long, conflicts_with = "rewrap")]
    pub update_keys: bool,
    /// Instead of new data keys, re-wrap the Vault transit-wrapped data keys to the
    /// newest transit key version (`rewrap`: no plaintext leaves Vault); other keys stay.
    #[arg(long)]
    pub rewrap: bool,
    /// Re-seal SealedSecrets online: the controller's URL (its `/v1/rotate` endpoint).
    #[arg(long, value_name = "URL", conflicts_with = "recovery_private_key")]
    pub controller_url: Option<String>,
    /// Re-seal SealedSecrets offline: the sealing private keys (PEM, or key Secrets as
    /// `lockstep keys backup` or `kubectl get secret -o yaml` write them). Comma-separated
    /// or repeated; needs `--cert`.
    #[arg(long, value_delimiter = ',', value_name = "FILE", requires = "cert")]
    pub recovery_private_key: Vec<PathBuf>,
    /// With `--recovery-private-key`: the certificate to seal to (file or http(s) URL).
    #[arg(long, value_name = "FILE|URL", requires = "recovery_private_key")]
    pub cert: Option<String>,
    /// Rotate without asking. Without it, repository mode asks on a terminal and refuses
    /// without one (`--dry-run` never asks).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Files worked on at once (default: 4 per CPU, as KMS and Vault calls mostly wait).
    #[arg(short = 'j', long, value_name = "N")]
    pub jobs: Option<usize>,
}

impl RepoFlags {
    fn any(&self) -> bool {
        self.dry_run
            || self.update_keys
            || self.rewrap
            || self.controller_url.is_some()
            || !self.recovery_private_key.is_empty()
    }
}

/// Runs `lockstep rotate`.
pub fn run(args: RotateArgs) -> anyhow::Result<ExitCode> {
    match single_file(&args) {
        Some(path) => file::run(&path, &args),
        None => repo::run(args),
    }
}

/// The one file of sops mode, or `None` for repository mode.
fn single_file(args: &RotateArgs) -> Option<PathBuf> {
    match args.paths.as_slice() {
        [one] if !one.is_dir() && !args.repo.any() => Some(one.clone()),
        _ => None,
    }
}

/// The work tree that contains `dir`: the nearest ancestor with a `.git` entry.
pub(super) fn work_tree(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

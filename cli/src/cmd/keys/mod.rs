//! `lockstep keys`: the controller's sealing keys, through the Kubernetes API (the key
//! Secrets in the controller's namespace): list them with how many SealedSecrets of the
//! repository each one sealed, ask for a new one, back them up encrypted to age
//! recipients, restore or import them, and retire one nothing needs any more.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::cluster::KubeFlags;

mod backup;
mod list;
mod ring;

/// Manage the controller's sealing keys (list, renew, backup, restore, import, retire).
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
    #[command(flatten)]
    kube: KubeFlags,
}

/// Where the key Secrets are.
#[derive(Debug, Args, Clone)]
pub struct Cluster {
    /// Namespace of the controller and its key Secrets (the controller's `--namespace`).
    #[arg(
        short = 'n',
        long,
        env = "LOCKSTEP_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    pub namespace: String,
}

/// The SealedSecrets a command checks keys against.
#[derive(Debug, Args, Clone)]
pub struct Repo {
    /// Files or directories holding SealedSecrets (default: the current Git work tree).
    #[arg(long = "repo", value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List the sealing keys: fingerprint, created, state, SealedSecrets of the repo using each.
    List(list::ListArgs),
    /// Ask the controller for a new sealing key now, and wait for it.
    Renew(list::RenewArgs),
    /// Export the key Secrets into a file encrypted to age recipients.
    Backup(backup::BackupArgs),
    /// Create the key Secrets of an encrypted backup (for the controller to load).
    Restore(backup::RestoreArgs),
    /// Create key Secrets from plaintext key Secrets (`kubectl get secret -o yaml`).
    Import(backup::ImportArgs),
    /// Mark a key compromised (it stops unsealing), unless the repository still needs it.
    Retire(list::RetireArgs),
}

/// Runs `lockstep keys`.
pub fn run(args: KeysArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let client = args.kube.client().await?;
        match args.command {
            KeysCommand::List(a) => list::list(client, a).await,
            KeysCommand::Renew(a) => list::renew(client, a).await,
            KeysCommand::Backup(a) => backup::backup(client, a).await,
            KeysCommand::Restore(a) => backup::restore(client, a).await,
            KeysCommand::Import(a) => backup::import(client, a).await,
            KeysCommand::Retire(a) => list::retire(client, a).await,
        }
    })
}

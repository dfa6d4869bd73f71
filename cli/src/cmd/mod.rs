//! The subcommands, one module each, and the one place that reports errors and picks
//! the exit code.

use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

mod age_keygen;
mod apply;
mod cluster;
mod completion;
mod diff;
mod get;
mod help;
mod history;
mod input;
mod keys;
mod logs;
mod named;
mod output;
mod render;
mod report;
mod rotate;
mod seal;
mod sops;
mod steer;
mod tree;
mod unseal;

pub use report::{init_warnings, report};

use sops::{
    decrypt, edit, encrypt, exec_env, exec_file, filestatus, merge_driver, set, textconv, unset,
    updatekeys,
};

/// Keeps Kubernetes clusters in lockstep with Git, with the secrets in Git encrypted.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version = env!("LOCKSTEP_VERSION"), about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The subcommand's name, for messages about it.
    #[arg(skip)]
    verb: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seal Secrets into SealedSecrets (kubeseal-compatible flags, offline with --cert).
    Seal(seal::SealArgs),
    /// Unseal a SealedSecret offline with the controller's private keys (kubeseal --recovery-unseal).
    Unseal(unseal::UnsealArgs),
    /// Encrypt a file with sops' format and flags (age, KMS, Vault transit; .sops.yaml rules).
    Encrypt(encrypt::EncryptArgs),
    /// Decrypt a sops file (sops-compatible flags: --extract, --ignore-mac, -i, --output).
    Decrypt(decrypt::DecryptArgs),
    /// Generate an age identity (like age-keygen), or print its recipient with -y.
    AgeKeygen(age_keygen::AgeKeygenArgs),
    /// Edit a sops file in $SOPS_EDITOR/$EDITOR; only changed values get new ciphertext.
    Edit(edit::EditArgs),
    /// Set one value of a sops file, in place.
    Set(set::SetArgs),
    /// Remove one value of a sops file, in place.
    Unset(unset::UnsetArgs),
    /// Print {"encrypted":true|false} for a file.
    Filestatus(filestatus::FilestatusArgs),
    /// Run a command with a sops file's values in its environment.
    ExecEnv(exec_env::ExecEnvArgs),
    /// Run a command on a temporary decrypted copy of a sops file ({} is its path).
    ExecFile(exec_file::ExecFileArgs),
    /// Rotate data keys: one sops file, or every SOPS file and SealedSecret of a repository.
    Rotate(rotate::RotateArgs),
    /// The controller's sealing keys: list, renew, backup, restore, import, retire.
    Keys(keys::KeysArgs),
    /// Git merge driver for sops files: merge the decrypted trees, re-encrypt (%O %A %B %P).
    MergeDriver(merge_driver::MergeDriverArgs),
    /// Print a sops file for `git diff` (textconv): keys shown, values as fingerprints.
    Textconv(textconv::TextconvArgs),
    /// Re-wrap sops files' data keys for the keys of their .sops.yaml creation rule.
    Updatekeys(updatekeys::UpdatekeysArgs),
    /// Print the objects a folder or Git URL renders to (Secret values hidden).
    Render(render::RenderArgs),
    /// Show what `lockstep apply` would change in the cluster (server-side dry-run).
    Diff(diff::DiffArgs),
    /// Apply a folder or Git URL to the cluster, prune what left it, and wait until healthy.
    Apply(apply::ApplyArgs),
    /// List Syncs, GitSources, SealedSecrets or ExternalSecrets and their readiness (like `flux get`).
    Get(get::GetArgs),
    /// Show what a Sync applied, each object with its health (like `flux tree`).
    Tree(tree::TreeArgs),
    /// List the revisions a Sync applied, newest first.
    History(history::HistoryArgs),
    /// Show the controller's log lines about one Sync (or another object it serves).
    Logs(logs::LogsArgs),
    /// Ask the controller to reconcile a Sync now, and wait for the outcome.
    Reconcile(steer::ReconcileArgs),
    /// Stop reconciling a Sync until it is resumed.
    Suspend(steer::SuspendArgs),
    /// Reconcile a suspended Sync again, and wait for the outcome.
    Resume(steer::ResumeArgs),
    /// Approve a manual Sync's plan, and wait until it is applied.
    Approve(steer::ApproveArgs),
    /// Pin a Sync to a revision it applied before (or --unpin), and wait until applied.
    Rollback(steer::RollbackArgs),
    /// Print the completion script for bash, zsh or fish.
    Completion(completion::CompletionArgs),
    /// Write the manual pages (one per command) into a folder.
    Man(completion::ManArgs),
}

/// Parses the process arguments, accepting sops' global flags before a SOPS verb and
/// sops' flag-style commands (`-d`, `-e`, `-r`, `--set`, a bare file to edit).
pub fn parse() -> Cli {
    let command = help::grouped(Cli::command());
    let is_verb = |word: &str| command.find_subcommand(word).is_some();
    let args = sops::args::reorder(std::env::args_os().collect());
    let args = sops::args::legacy(args, is_verb);
    let matches = command.get_matches_from(args);
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    cli.verb = matches.subcommand_name().unwrap_or_default().to_owned();
    cli
}

impl Cli {
    /// The subcommand's name (`encrypt`, `apply`, …).
    pub fn verb(&self) -> &str {
        &self.verb
    }
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
        Command::Encrypt(args) => encrypt::run(args),
        Command::Decrypt(args) => decrypt::run(args),
        Command::AgeKeygen(args) => age_keygen::run(args),
        Command::Edit(args) => edit::run(args),
        Command::Set(args) => set::run(args),
        Command::Unset(args) => unset::run(args),
        Command::Filestatus(args) => filestatus::run(args),
        Command::ExecEnv(args) => exec_env::run(args),
        Command::ExecFile(args) => exec_file::run(args),
        Command::Rotate(args) => rotate::run(args),
        Command::Keys(args) => keys::run(args),
        Command::MergeDriver(args) => merge_driver::run(args),
        Command::Textconv(args) => textconv::run(args),
        Command::Updatekeys(args) => updatekeys::run(args),
        Command::Render(args) => render::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Apply(args) => apply::run(args),
        Command::Get(args) => get::run(args),
        Command::Tree(args) => tree::run(args),
        Command::History(args) => history::run(args),
        Command::Logs(args) => logs::run(args),
        Command::Reconcile(args) => steer::reconcile(args),
        Command::Suspend(args) => steer::suspend(args),
        Command::Resume(args) => steer::resume(args),
        Command::Approve(args) => steer::approve(args),
        Command::Rollback(args) => steer::rollback(args),
        Command::Completion(args) => completion::completion(args),
        Command::Man(args) => completion::man(args),
    }
}

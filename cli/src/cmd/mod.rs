//! The subcommands, one module each, and the one place that maps errors to exit codes.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod seal;
mod unseal;

/// Keeps Kubernetes clusters in lockstep with Git, with the secrets in Git encrypted.
#[derive(Debug, Parser)]
#[command(name = "lockstep", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seal Secrets into SealedSecrets (kubeseal-compatible flags, offline with --cert).
    Seal(seal::SealArgs),
    /// Unseal a SealedSecret offline with the controller's private keys (kubeseal --recovery-unseal).
    Unseal(unseal::UnsealArgs),
}

/// Runs the chosen subcommand and returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Seal(args) => seal::run(args),
        Command::Unseal(args) => unseal::run(args),
    }
}

/// Prints an error chain once and picks its exit code.
pub fn report(err: &anyhow::Error) -> ExitCode {
    eprintln!("lockstep: {err:#}");
    ExitCode::FAILURE
}

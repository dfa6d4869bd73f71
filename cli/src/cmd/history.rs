//! `lockstep history SYNC`: the revisions a Sync applied, newest first (its
//! `status.history`), as a table or as JSON or YAML.

use std::io::Write as _;
use std::process::ExitCode;

use clap::Args;

use super::named::Target;
use super::output::Listing;
use super::render::runtime;

/// Show the revisions a Sync applied, newest first.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 listed (an empty history too), 1 the Sync could not be \
                        read."
)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: Target,

    /// Print the entries as a JSON list or YAML instead of a table.
    #[arg(short, long, value_enum, default_value_t = Listing::Table)]
    output: Listing,
}

/// Runs `lockstep history`.
pub fn run(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let found = runtime()?.block_on(args.target.read())?;
    let history = found.sync.status.map(|s| s.history).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match args.output {
        Listing::Table => {
            let width = history.iter().map(|e| e.revision.len()).max().unwrap_or(0);
            let width = width.max("REVISION".len());
            writeln!(out, "{:<width$}\tAPPLIED\tAUTHOR\tMESSAGE", "REVISION")?;
            for entry in &history {
                writeln!(
                    out,
                    "{:<width$}\t{}\t{}\t{}",
                    entry.revision,
                    entry.applied_at,
                    entry.author.as_deref().unwrap_or_default(),
                    entry.message.as_deref().unwrap_or_default()
                )?;
            }
        }
        Listing::Json => writeln!(out, "{}", serde_json::to_string_pretty(&history)?)?,
        Listing::Yaml => write!(out, "{}", serde_saphyr::to_string(&history)?)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

//! What a repository rotation tells the user: a progress bar on stderr while it runs (only
//! when stderr is a terminal), one line per changed (or, `--dry-run`, planned) file on
//! stdout, and a summary
//! table on stderr at the end. Lines name files, keys and errors, never a secret value.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressStyle};

/// What happened to one file.
pub enum Outcome {
    /// `--dry-run`: this would be done.
    Planned(String),
    /// Done and written.
    Rotated(String),
    /// Left as it was, on purpose.
    Skipped(String),
    /// Left as it was because this failed.
    Failed(String),
}

/// One file's line of the report.
pub struct Row {
    /// The file.
    pub path: PathBuf,
    /// `sops` or `sealed`.
    pub kind: &'static str,
    /// What happened.
    pub outcome: Outcome,
}

/// A progress bar that is drawn only on a terminal.
pub fn progress(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} rotating [{bar:40}] {pos}/{len} {wide_msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Prints what was (or, for `--dry-run`, would be) done per file on stdout, then the
/// summary on stderr; returns how many files failed.
pub fn finish(rows: &[Row], walk_errors: &[(PathBuf, String)]) -> usize {
    let mut out = std::io::stdout().lock();
    for row in rows {
        if let Outcome::Planned(what) | Outcome::Rotated(what) = &row.outcome {
            let _ = writeln!(out, "{}\t{}\t{what}", row.path.display(), row.kind);
        }
    }
    let _ = out.flush();

    let mut err = std::io::stderr().lock();
    let columns = ["planned", "rotated", "skipped", "failed"];
    let _ = writeln!(
        err,
        "{:<8} {:>8} {:>8} {:>8} {:>8}",
        "kind", columns[0], columns[1], columns[2], columns[3]
    );
    for kind in ["sops", "sealed"] {
        let mut counts = [0usize; 4];
        for row in rows.iter().filter(|r| r.kind == kind) {
            counts[column(&row.outcome)] += 1;
        }
        let _ = writeln!(
            err,
            "{kind:<8} {:>8} {:>8} {:>8} {:>8}",
            counts[0], counts[1], counts[2], counts[3]
        );
    }
    for row in rows {
        match &row.outcome {
            Outcome::Skipped(why) => {
                let _ = writeln!(err, "skipped {}: {why}", row.path.display());
            }
            Outcome::Failed(why) => {
                let _ = writeln!(err, "FAILED  {}: {why}", row.path.display());
            }
            Outcome::Planned(_) | Outcome::Rotated(_) => {}
        }
    }
    for (path, why) in walk_errors {
        let _ = writeln!(err, "FAILED  {}: {why}", path.display());
    }
    rows.iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .count()
        + walk_errors.len()
}

fn column(outcome: &Outcome) -> usize {
    match outcome {
        Outcome::Planned(_) => 0,
        Outcome::Rotated(_) => 1,
        Outcome::Skipped(_) => 2,
        Outcome::Failed(_) => 3,
    }
}

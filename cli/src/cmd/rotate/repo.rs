//! Repository mode: find every SOPS file and SealedSecret, plan each, and (unless
//! `--dry-run`) rotate them on a few worker threads.
//!
//! Safety: each file is rotated from the bytes read when it was found and replaced
//! atomically (new ciphertext into a temporary file in the same directory, fsync, rename,
//! permissions kept, then the directory fsynced). A file that fails is not touched and the
//! run goes on; a killed run leaves every file either fully old or fully new (at worst a
//! hidden `.lockstep-*` temporary file holding ciphertext, which later runs skip).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context as _;

use super::discover::{Found, Kind, discover};
use super::report::{self, Outcome, Row};
use super::sealed::Resealer;
use super::sops::{SopsRotation, Step};
use super::{RotateArgs, work_tree};
use crate::cmd::output::write_atomic;
use crate::cmd::report::{Code, chain, coded};

/// Runs repository mode.
pub fn run(args: RotateArgs) -> anyhow::Result<ExitCode> {
    if args.output.is_some() {
        return Err(coded(
            Code::ConflictingParameters,
            "--output takes one file; with directories or several files every file is rotated in place",
        ));
    }
    let roots = if args.paths.is_empty() {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        vec![work_tree(&cwd).with_context(|| {
            format!(
                "{} is not inside a Git work tree; name the files or directories to rotate",
                cwd.display()
            )
        })?]
    } else {
        args.paths.clone()
    };
    let sops = SopsRotation::new(&args)?;
    let resealer = Resealer::new(&args.repo)?;
    let (found, walk_errors) = discover(&roots);
    let jobs = args.repo.jobs.unwrap_or_else(|| {
        4 * std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    });
    let dry_run = args.repo.dry_run;
    if !dry_run && !args.repo.yes && !confirmed(&roots, found.len())? {
        eprintln!("nothing was rotated");
        return Ok(ExitCode::FAILURE);
    }

    let bar = if dry_run {
        indicatif::ProgressBar::hidden()
    } else {
        report::progress(found.len())
    };
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Outcome>>> =
        Mutex::new(std::iter::repeat_with(|| None).take(found.len()).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, found.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(file) = found.get(i) else { break };
                    let outcome = rotate_one(file, &sops, &resealer, dry_run);
                    bar.inc(1);
                    results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(outcome);
                }
            });
        }
    });
    bar.finish_and_clear();

    let cwd = std::env::current_dir().unwrap_or_default();
    let rows: Vec<Row> = found
        .iter()
        .zip(results.into_inner().unwrap_or_else(|e| e.into_inner()))
        .map(|(file, outcome)| Row {
            path: file
                .path
                .strip_prefix(&cwd)
                .or_else(|_| file.path.strip_prefix("."))
                .unwrap_or(&file.path)
                .to_owned(),
            kind: match file.kind {
                Kind::Sops(_) => "sops",
                Kind::Sealed => "sealed",
            },
            outcome: outcome.expect("every file was processed"),
        })
        .collect();
    let failed = report::finish(&rows, &walk_errors);
    if failed > 0 {
        return Err(coded(
            Code::Generic,
            format!("{failed} file(s) could not be rotated and were left as they were"),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

/// Plans and (unless `dry_run`) rotates one file.
fn rotate_one(file: &Found, sops: &SopsRotation, resealer: &Resealer, dry_run: bool) -> Outcome {
    let step = match file.kind {
        Kind::Sops(format) => sops.plan(&file.path, format, &file.bytes),
        Kind::Sealed => resealer.plan(&file.bytes),
    };
    let what = match step {
        Err(e) => return Outcome::Failed(chain(e.as_ref())),
        Ok(Step::Skip(why)) => return Outcome::Skipped(why),
        Ok(Step::Change(what)) if dry_run => return Outcome::Planned(what),
        Ok(Step::Change(what)) => what,
    };
    let rotated = match file.kind {
        Kind::Sops(format) => sops.apply(&file.path, format, &file.bytes),
        Kind::Sealed => resealer.apply(&file.bytes),
    };
    match rotated.and_then(|bytes| replace(&file.path, &bytes)) {
        Ok(()) => Outcome::Rotated(what),
        Err(e) => Outcome::Failed(chain(e.as_ref())),
    }
}

/// Replaces `path` atomically, then makes the rename durable by syncing its directory.
fn replace(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    write_atomic(path, bytes)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync directory {}", dir.display()))
}

/// Asks before rewriting `count` files in place (UX review D25), as `updatekeys` does: on a
/// terminal a `y` goes ahead; without one, `--yes` is required.
fn confirmed(roots: &[std::path::PathBuf], count: usize) -> anyhow::Result<bool> {
    use std::io::{BufRead as _, IsTerminal as _};
    if count == 0 {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        return Err(coded(
            Code::Generic,
            format!(
                "not confirmed: rotating rewrites {count} file(s) in place; pass --yes to go ahead without a terminal, or --dry-run to see what would change"
            ),
        ));
    }
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    eprint!(
        "Rotate the data keys of {count} file(s) under {} in place? (y/n): ",
        roots.join(", ")
    );
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().eq_ignore_ascii_case("y"))
}

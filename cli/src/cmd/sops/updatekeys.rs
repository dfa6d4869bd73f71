//! `lockstep updatekeys`: sops' `updatekeys` verb. Wraps each file's existing data key for
//! the key groups of its matching creation rule; values, MAC and `lastmodified` stay.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use lockstep_sops::config::{Config, KeySpec};

use super::file::{decrypt_file, load_encrypted, read_input};
use super::flags::{ConfigFlag, TypeFlags};
use super::keysource;
use crate::cmd::output::write_atomic;
use crate::cmd::report::{Code, chain, coded};

/// Re-wrap files' data keys for the keys of their creation rule (sops-compatible).
#[derive(Debug, Args)]
pub struct UpdatekeysArgs {
    /// The encrypted files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Do not ask for confirmation.
    #[arg(short = 'y', long)]
    yes: bool,
    /// Shamir threshold to set (default: the creation rule's).
    #[arg(long, value_name = "N")]
    shamir_secret_sharing_threshold: Option<usize>,
    #[command(flatten)]
    types: TypeFlags,
    #[command(flatten)]
    config: ConfigFlag,
}

/// Runs `lockstep updatekeys`.
pub fn run(args: UpdatekeysArgs) -> anyhow::Result<ExitCode> {
    let cfg = args
        .config
        .load()?
        .ok_or_else(|| coded(Code::Generic, "no .sops.yaml config file found"))?;
    let mut failed = 0;
    for path in &args.files {
        if let Err(e) = update(&args, &cfg, path) {
            eprintln!("lockstep: {}: {}", path.display(), chain(e.as_ref()));
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(coded(
            Code::Generic,
            format!("{failed} file(s) not updated"),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn update(args: &UpdatekeysArgs, cfg: &Config, path: &std::path::Path) -> anyhow::Result<()> {
    let input = read_input(Some(path))?;
    let (format, _) = args.types.formats(Some(path));
    let name = path.display().to_string();
    let rule = cfg
        .creation_rule(path, &Default::default())?
        .ok_or_else(|| coded(Code::Generic, "the config has no creation_rules"))?;
    if rule.key_groups.is_empty() {
        return Err(coded(
            Code::Generic,
            "the matching creation rule has no keys",
        ));
    }
    let threshold = args
        .shamir_secret_sharing_threshold
        .unwrap_or(rule.shamir_threshold);
    let mut file = load_encrypted(&input.bytes, format, &name)?;
    let old: Vec<Vec<KeySpec>> = file
        .metadata
        .key_groups
        .iter()
        .map(|g| g.iter().map(KeySpec::from_master_key).collect())
        .collect();
    let old_threshold = file.metadata.shamir_threshold;
    let same = old.len() == rule.key_groups.len()
        && old
            .iter()
            .zip(&rule.key_groups)
            .all(|(a, b)| a.len() == b.len() && a.iter().all(|k| b.contains(k)))
        && (old.len() < 2 || threshold == 0 || threshold == old_threshold);
    if same {
        eprintln!("{name}: already up to date");
        return Ok(());
    }
    eprintln!("The following changes will be made to the file's groups:");
    for (gi, group) in rule.key_groups.iter().enumerate() {
        eprintln!("Group {}", gi + 1);
        let before = old.get(gi).cloned().unwrap_or_default();
        for k in group {
            let mark = if before.contains(k) { "    " } else { "+++ " };
            eprintln!("    {mark}{k}");
        }
        for k in before.iter().filter(|k| !group.contains(k)) {
            eprintln!("    --- {k}");
        }
    }
    for (gi, group) in old.iter().enumerate().skip(rule.key_groups.len()) {
        eprintln!("Group {} (removed)", gi + 1);
        for k in group {
            eprintln!("    --- {k}");
        }
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(coded(
                Code::Generic,
                "not confirmed: pass -y to update keys without a terminal",
            ));
        }
        eprint!("Is this okay? (y/n): ");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        if !line.trim().eq_ignore_ascii_case("y") {
            eprintln!("{name}: changes not applied");
            return Ok(());
        }
    }
    let decrypted = decrypt_file(
        load_encrypted(&input.bytes, format, &name)?,
        true,
        &args.config,
    )
    .with_context(|| format!("cannot get the data key of {name}"))?;
    let recipients = keysource::recipients(&rule.key_groups)?;
    let groups = lockstep_sops::wrap_data_key(&decrypted.data_key, &recipients, threshold)
        .context("cannot wrap the data key for the new keys")?;
    file.metadata.shamir_threshold = if groups.len() > 1 {
        if threshold == 0 {
            groups.len()
        } else {
            threshold
        }
    } else {
        0
    };
    file.metadata.key_groups = groups;
    write_atomic(
        path,
        &file.emit(format, &args.config.with_indent(cfg.emit.clone()))?,
    )?;
    eprintln!("{name}: file updated");
    Ok(())
}

//! `lockstep updatekeys`: sops' `updatekeys` verb. Wraps each file's existing data key for
//! the key groups of its matching creation rule; values, MAC and `lastmodified` stay.

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;

use super::keysource::{self, spec_of};
use super::sopscommon::{
    ConfigFlag, TypeFlags, decrypt_file, load_encrypted, read_input, write_atomic,
};
use super::sopsconfig::{self, KeySpec};
use super::sopserr::{Code, coded};

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

fn describe(spec: &KeySpec) -> String {
    match spec {
        KeySpec::Age(r) => format!("age: {r}"),
        KeySpec::Kms { arn, .. } => format!("kms: {arn}"),
        KeySpec::Vault(u) => format!("hc_vault: {u}"),
        KeySpec::Unsupported { kind, key } => format!("{kind}: {key}"),
    }
}

/// Runs `lockstep updatekeys`.
pub fn run(args: UpdatekeysArgs) -> anyhow::Result<ExitCode> {
    let cfg = sopsconfig::load(args.config.config.as_deref())?
        .ok_or_else(|| coded(Code::Generic, "no .sops.yaml config file found"))?;
    let mut failed = 0;
    for path in &args.files {
        if let Err(e) = update(&args, &cfg, path) {
            eprintln!("lockstep: {}: {e:#}", path.display());
            failed += 1;
        }
    }
    if failed > 0 {
        return Err(coded(
            Code::Generic,
            format!("failed updating {failed} key(s)"),
        ));
    }
    Ok(ExitCode::SUCCESS)
}

fn update(
    args: &UpdatekeysArgs,
    cfg: &sopsconfig::Config,
    path: &std::path::Path,
) -> anyhow::Result<()> {
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
        .map(|g| g.iter().map(spec_of).collect())
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
            eprintln!("    {mark}{}", describe(k));
        }
        for k in before.iter().filter(|k| !group.contains(k)) {
            eprintln!("    --- {}", describe(k));
        }
    }
    for (gi, group) in old.iter().enumerate().skip(rule.key_groups.len()) {
        eprintln!("Group {} (removed)", gi + 1);
        for k in group {
            eprintln!("    --- {}", describe(k));
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
    let groups = wrap(&decrypted.data_key, &recipients, threshold)
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

/// Wraps `key` (or, for several groups, its Shamir shares) for every recipient.
fn wrap(
    key: &lockstep_keys::DataKey,
    groups: &[Vec<lockstep_sops::Recipient>],
    threshold: usize,
) -> anyhow::Result<Vec<lockstep_sops::KeyGroup>> {
    if groups.is_empty() || groups.iter().any(Vec::is_empty) {
        return Err(coded(Code::Generic, "empty key group provided"));
    }
    let shares = if groups.len() > 1 {
        let threshold = if threshold == 0 {
            groups.len()
        } else {
            threshold
        };
        if threshold < 2 || threshold > groups.len() {
            return Err(coded(
                Code::Generic,
                format!(
                    "shamir threshold {threshold} is invalid for {} key groups",
                    groups.len()
                ),
            ));
        }
        Some(lockstep_keys::shamir::split(
            key.expose_secret(),
            groups.len(),
            threshold,
        )?)
    } else {
        None
    };
    let mut out = Vec::new();
    for (gi, group) in groups.iter().enumerate() {
        let mut entries = Vec::new();
        for r in group {
            let wrapped = match &shares {
                Some(shares) => r.service.wrap_share(&shares[gi]),
                None => r.service.wrap(key),
            }
            .with_context(|| format!("cannot wrap the data key for {}", r.service.describe()))?;
            let mut entry = r.entry.clone();
            entry
                .fields
                .insert("enc".to_owned(), lockstep_sops::Field::Text(wrapped.0));
            entries.push(entry);
        }
        out.push(entries);
    }
    Ok(out)
}

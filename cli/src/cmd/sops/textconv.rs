//! `lockstep textconv FILE`: a sops file as `git diff` should compare it (`diff.<driver>.textconv`).
//! The decrypted tree in the file's format with every encrypted value replaced by a keyed
//! fingerprint ([`lockstep_sops::redact`]), so a diff names the keys whose values changed
//! and never a value; the metadata as a summary. `--show-values` prints the plaintext.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::Metadata;
use zeroize::Zeroizing;

use super::file::{decrypt_file, load_encrypted, read_input};
use super::flags::OpenFlags;

/// Print a sops file for `git diff`: keys shown, values redacted to fingerprints.
#[derive(Debug, Args)]
pub struct TextconvArgs {
    /// The encrypted file (Git passes a temporary copy with the same extension).
    file: PathBuf,
    /// Print the decrypted values instead of fingerprints (they end up in your terminal
    /// and in whatever captures `git diff`'s output).
    #[arg(long)]
    show_values: bool,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep textconv`.
pub fn run(args: TextconvArgs) -> anyhow::Result<ExitCode> {
    let name = args.file.display().to_string();
    let (format, _) = args.open.types.formats(Some(&args.file));
    let input = read_input(Some(&args.file))?;
    // The encrypted tree says which values the file stores encrypted.
    let encrypted = load_encrypted(&input.bytes, format, &name)?;
    let decrypted = decrypt_file(
        load_encrypted(&input.bytes, format, &name)?,
        args.open.ignore_mac,
        &args.open.config,
    )
    .with_context(|| format!("cannot decrypt {name}"))?;
    let emit = args.open.config.emit_options();
    let body = Zeroizing::new(if args.show_values {
        lockstep_sops::stores::emit(&decrypted.tree, format, &emit)?
    } else {
        let shown =
            lockstep_sops::redact::redacted(&encrypted.tree, &decrypted.tree, &decrypted.data_key);
        lockstep_sops::stores::emit(&shown, format, &emit)?
    });
    let mut out = std::io::stdout().lock();
    out.write_all(summary(&decrypted.metadata).as_bytes())?;
    out.write_all(&body)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The metadata as `git diff` should show it: who can decrypt and when it was last
/// written; not the MAC or the wrapped data keys, which change on every write.
fn summary(m: &Metadata) -> String {
    let mut s = String::new();
    let groups = m.key_groups.len();
    for (i, group) in m.key_groups.iter().enumerate() {
        let mut keys: Vec<String> = group
            .iter()
            .map(|k| format!("{} {}", k.kind.field(), k.describe()))
            .collect();
        keys.sort();
        let label = if groups > 1 {
            format!("key group {}", i + 1)
        } else {
            "recipients".to_owned()
        };
        s.push_str(&format!("# sops {label}: {}\n", keys.join(", ")));
    }
    if m.shamir_threshold > 0 {
        s.push_str(&format!(
            "# sops shamir_threshold: {}\n",
            m.shamir_threshold
        ));
    }
    s.push_str(&format!("# sops lastmodified: {}\n", m.last_modified));
    s
}

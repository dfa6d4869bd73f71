//! `lockstep edit`: sops' `edit` verb. Decrypts to a 0600 file in a private temporary
//! directory, runs `$SOPS_EDITOR`/`$EDITOR`, and re-encrypts with the same data key and
//! the IV stash, so only the values that changed get a new ciphertext. An unchanged file
//! is not written (exit 200). A file that does not exist yet is created with the keys of
//! the flags or the creation rule.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{Format, Tree};
use zeroize::Zeroizing;

use super::encrypt;
use super::file::{decrypt_file, load_encrypted, private_temp_dir, read_input, write_reencrypted};
use super::flags::{KeyFlags, OpenFlags, RuleFlags};
use crate::cmd::output::private_file;
use crate::cmd::output::write_atomic;
use crate::cmd::report::{Code, Coded, coded, hints};

/// Edit an encrypted file in $SOPS_EDITOR/$EDITOR (sops-compatible).
#[derive(Debug, Args)]
pub struct EditArgs {
    /// The encrypted file (created when it does not exist).
    file: PathBuf,
    #[command(flatten)]
    keys: KeyFlags,
    #[command(flatten)]
    rules: RuleFlags,
    #[command(flatten)]
    open: OpenFlags,
}

/// Runs `lockstep edit`.
pub fn run(args: EditArgs) -> anyhow::Result<ExitCode> {
    let (format, _) = args.open.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    if !args.file.exists() {
        return create(&args, format);
    }
    let input = read_input(Some(&args.file))?;
    let file = load_encrypted(&input.bytes, format, &name)?;
    let emit = args.open.config.emit_options();
    let decrypted = decrypt_file(file, args.open.ignore_mac, &args.open.config)
        .with_context(|| format!("cannot decrypt {name}"))?;
    let plain = Zeroizing::new(lockstep_sops::stores::emit(&decrypted.tree, format, &emit)?);
    let tree = edit_text(&args.file, &plain, format)?;
    write_reencrypted(&args.file, tree, decrypted, format, &emit, &name)?;
    Ok(ExitCode::SUCCESS)
}

fn create(args: &EditArgs, format: Format) -> anyhow::Result<ExitCode> {
    let settings = encrypt::settings(&args.file, &args.keys, &args.rules, &args.open.config)?;
    let tree = edit_text(&args.file, b"", format)?;
    let out = lockstep_sops::encrypt(tree, format, settings.options)
        .with_context(|| format!("cannot encrypt {}", args.file.display()))?;
    write_atomic(&args.file, &out.emit(format, &settings.emit)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Runs the editor on `plain` and reads the result back in `format`: exit 200 when it is
/// unchanged, 2 when it does not parse (nothing is written either way). On a terminal, a
/// text that does not parse goes back to the editor, as sops does.
fn edit_text(file: &Path, plain: &[u8], format: Format) -> anyhow::Result<Tree> {
    let mut text = Zeroizing::new(plain.to_vec());
    loop {
        let edited = run_editor(file, &text)?;
        if edited[..] == *plain {
            return Err(
                Coded::new(Code::FileNotModified, "file has not changed, exiting")
                    .hint(hints::NOTHING_WRITTEN)
                    .into(),
            );
        }
        match lockstep_sops::stores::load(&edited, format) {
            Ok(tree) => return Ok(tree),
            Err(e) if std::io::stdin().is_terminal() => {
                eprintln!("lockstep: the edited file does not parse: {e}");
                eprintln!("Press Enter to return to the editor, or Ctrl+C to exit.");
                std::io::stdin().lines().next();
                text = edited;
            }
            Err(e) => {
                return Err(anyhow::Error::new(e).context(Coded::new(
                    Code::CannotReadInput,
                    "the edited file does not parse; nothing was written",
                )));
            }
        }
    }
}

/// Writes `plain` to a 0600 file (same base name as `file`) in a private temporary
/// directory, runs the editor on it and returns the new content. The directory is removed
/// afterwards. An editor that fails is sops' 201, like one that cannot be started.
fn run_editor(file: &Path, plain: &[u8]) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let dir = private_temp_dir("lockstep-edit-")?;
    let base = file
        .file_name()
        .map_or_else(|| "tmp-file".into(), |n| n.to_owned());
    let path = dir.path().join(base);
    {
        private_file(&path, plain)?;
    }
    let editor = std::env::var("SOPS_EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        });
    let candidates: Vec<String> = match editor {
        Some(e) => vec![e],
        None => ["vim", "nano", "vi"].map(str::to_owned).to_vec(),
    };
    let mut ran = false;
    for editor in candidates {
        let status = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(format!("{editor} \"$1\""))
            .arg("sh")
            .arg(&path)
            .status();
        match status {
            Ok(s) if s.code() == Some(127) => continue,
            Ok(s) if s.success() => {
                ran = true;
                break;
            }
            Ok(s) => {
                let _ = std::fs::write(&path, vec![0u8; plain.len()]);
                return Err(coded(
                    Code::NoEditorFound,
                    format!("the editor exited with {s}; nothing was written"),
                ));
            }
            Err(_) => continue,
        }
    }
    if !ran {
        return Err(Coded::new(
            Code::NoEditorFound,
            "no editor could be started (tried $SOPS_EDITOR, $EDITOR, vim, nano, vi)",
        )
        .hint(hints::SET_EDITOR)
        .into());
    }
    let edited = Zeroizing::new(std::fs::read(&path).context("cannot read the edited file")?);
    let _ = std::fs::write(&path, vec![0u8; edited.len().max(plain.len())]);
    Ok(edited)
}

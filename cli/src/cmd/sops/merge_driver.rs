//! `lockstep merge-driver %O %A %B %P`: a Git merge driver for sops files. The three
//! versions are decrypted in memory, their plaintext trees merged three-way
//! ([`lockstep_sops::merge`]), and a clean result re-encrypted over `%A` with a fresh MAC.
//! A conflict leaves `%A` as Git gave it (ours, encrypted) and names the key paths only.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{Decrypted, Metadata};
use subtle::ConstantTimeEq as _;

use super::file::{decrypt_file, load_encrypted, read_input};
use super::flags::OpenFlags;
use crate::cmd::output::write_atomic;

/// Merge three versions of a sops file for Git (`merge.<driver>.driver`).
#[derive(Debug, Args)]
pub struct MergeDriverArgs {
    /// The common ancestor's version (Git's %O; empty when both sides added the file).
    base: PathBuf,
    /// Ours (%A); the merged file is written over it.
    ours: PathBuf,
    /// Theirs (%B).
    theirs: PathBuf,
    /// The file's path in the repository (%P), for messages and to pick the format.
    path: Option<PathBuf>,
    #[command(flatten)]
    open: OpenFlags,
}

/// One of the three versions Git hands over.
#[derive(Clone, Copy)]
enum Side {
    Base,
    Ours,
    Theirs,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Base => "the base version (%O)",
            Side::Ours => "ours (%A)",
            Side::Theirs => "theirs (%B)",
        }
    }
}

/// Runs `lockstep merge-driver`: exit 0 with the merge in `%A`, 1 on conflicts.
pub fn run(args: MergeDriverArgs) -> anyhow::Result<ExitCode> {
    let shown = args
        .path
        .as_deref()
        .unwrap_or(&args.ours)
        .display()
        .to_string();
    let (format, _) = args.open.types.formats(args.path.as_deref());
    let open = |side: Side, bytes: &[u8]| -> anyhow::Result<Decrypted> {
        let what = format!("{} of {shown}", side.name());
        let file = load_encrypted(bytes, format, &what)?;
        decrypt_file(file, args.open.ignore_mac, &args.open.config)
            .with_context(|| format!("cannot decrypt {what}"))
    };
    let base = read_input(Some(&args.base))?;
    // Git gives an empty base when both sides added the file.
    let base = if base.bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        Some(open(Side::Base, &base.bytes)?)
    };
    let ours = open(Side::Ours, &read_input(Some(&args.ours))?.bytes)?;
    let theirs = open(Side::Theirs, &read_input(Some(&args.theirs))?.bytes)?;

    let empty = lockstep_sops::Tree::default();
    let base_tree = base.as_ref().map_or(&empty, |b| &b.tree);
    let tree = match lockstep_sops::merge::merge(base_tree, &ours.tree, &theirs.tree) {
        Ok(tree) => tree,
        Err(conflicts) => {
            let mut err = std::io::stderr().lock();
            writeln!(
                err,
                "lockstep merge-driver: {shown}: {} key path(s) changed differently on both sides; \
                 the file keeps ours' encrypted version. Resolve with `lockstep edit {shown}`, \
                 then `git add {shown}`:",
                conflicts.len()
            )?;
            for c in &conflicts {
                writeln!(err, "    {c}")?;
            }
            return Ok(ExitCode::from(1));
        }
    };

    // The keys (data key, recipients, rule) come from ours, unless only theirs changed
    // them (an `updatekeys` or `rotate` on that branch).
    let theirs_rekeyed = base
        .as_ref()
        .is_some_and(|b| same_keys(&b.metadata, &ours.metadata))
        && !same_keys(&ours.metadata, &theirs.metadata);
    let (mut keep, others) = if theirs_rekeyed {
        (theirs, [Some(ours), base])
    } else {
        if !same_keys(&ours.metadata, &theirs.metadata) {
            eprintln!(
                "lockstep merge-driver: {shown}: both sides changed the keys of the file; \
                 the merge keeps ours' data key and recipients (run `lockstep updatekeys` or \
                 `lockstep rotate` if theirs' were wanted)"
            );
        }
        (ours, [Some(theirs), base])
    };
    // Unchanged values keep their ciphertext: an IV is reused only with the data key it
    // was made for and for the same path, type and plaintext, so the same ciphertext
    // comes out and nothing new is revealed.
    for other in others.into_iter().flatten() {
        let same_key: bool = other
            .data_key
            .expose_secret()
            .ct_eq(keep.data_key.expose_secret())
            .into();
        if same_key {
            keep.stash.absorb(other.stash);
        }
    }
    let out = lockstep_sops::reencrypt(tree, &keep.data_key, keep.metadata, Some(&keep.stash))
        .with_context(|| format!("cannot encrypt the merge of {shown}"))?;
    let emit = args.open.config.emit_options();
    write_atomic(&args.ours, &out.emit(format, &emit)?)?;
    Ok(ExitCode::SUCCESS)
}

/// Whether two files are encrypted for the same keys, with the same data key and rule.
fn same_keys(a: &Metadata, b: &Metadata) -> bool {
    a.key_groups == b.key_groups
        && a.shamir_threshold == b.shamir_threshold
        && a.rule == b.rule
        && a.mac_only_encrypted == b.mac_only_encrypted
}

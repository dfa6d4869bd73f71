//! One file, as sops' `rotate` verb: decrypts, generates a new data key and encrypts every
//! value again for the file's keys, with keys added (to the first group) or removed (from
//! every group) on the way; prints the result unless `-i`/`--output` says where to write.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use lockstep_sops::EncryptOptions;

use super::RotateArgs;
use super::keychange::groups_of;
use crate::cmd::output::Output;
use crate::cmd::report::{Code, coded};
use crate::cmd::sops::file::open_encrypted;
use crate::cmd::sops::keysource;

/// Rotates `file` (sops-compatible behaviour, output and exit codes).
pub fn run(file: &Path, args: &RotateArgs) -> anyhow::Result<ExitCode> {
    if args.keys.any() && !file.exists() {
        return Err(coded(
            Code::NonExistentFileKeys,
            format!(
                "cannot add or remove keys on non-existent file {}, use the `edit` subcommand instead",
                file.display()
            ),
        ));
    }
    let output = Output::choose(args.in_place, args.output.as_deref(), Some(file))?;
    let changes = args.keys.changes()?;
    let (in_fmt, out_fmt) = args.open.types.formats(Some(file));
    let name = file.display().to_string();
    let decrypted = open_encrypted(file, in_fmt, &args.open)?;
    let metadata = decrypted.metadata;
    let groups = changes.apply(groups_of(&metadata));
    let options = EncryptOptions {
        key_groups: keysource::recipients(&groups)?,
        shamir_threshold: metadata.shamir_threshold,
        rule: metadata.rule.clone(),
        mac_only_encrypted: metadata.mac_only_encrypted,
    };
    let emit = args.open.config.emit_options();
    let out = lockstep_sops::encrypt(decrypted.tree, in_fmt, options)
        .with_context(|| format!("cannot encrypt {name} with the new data key"))?;
    output.write(&out.emit(out_fmt, &emit)?)?;
    Ok(ExitCode::SUCCESS)
}

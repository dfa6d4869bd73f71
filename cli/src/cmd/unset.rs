//! `lockstep unset`: sops' `unset` verb. Removes the value at a tree path of an encrypted
//! file, in place; other values keep their ciphertext.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use lockstep_sops::{Item, Value};

use super::sopscommon::{
    ConfigFlag, Step, TypeFlags, open_encrypted, parse_path, show_path, write_reencrypted,
};
use super::sopserr::{Code, coded};

/// Remove one value of an encrypted file, in place (sops-compatible).
#[derive(Debug, Args)]
pub struct UnsetArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The path, e.g. '["data"]["password"]'.
    index: String,
    /// Succeed without writing when the path does not exist.
    #[arg(long)]
    idempotent: bool,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    ignore_mac: bool,
    #[command(flatten)]
    types: TypeFlags,
    #[command(flatten)]
    config: ConfigFlag,
}

fn remove(items: &mut Vec<Item>, path: &[Step]) -> bool {
    let Some((Step::Key(k), rest)) = path.split_first() else {
        return false;
    };
    let Some(pos) = items
        .iter()
        .position(|i| matches!(i, Item::Entry(key, _) if key == k))
    else {
        return false;
    };
    if rest.is_empty() {
        items.remove(pos);
        return true;
    }
    let Item::Entry(_, v) = &mut items[pos] else {
        return false;
    };
    remove_in(v, rest)
}

fn remove_in(v: &mut Value, path: &[Step]) -> bool {
    match (path.first(), v) {
        (Some(Step::Key(_)), Value::Map(items)) => remove(items, path),
        (Some(Step::Index(i)), Value::List(list)) => {
            let Some(p) = list
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .nth(*i)
            else {
                return false;
            };
            if path.len() == 1 {
                list.remove(p);
                true
            } else {
                remove_in(&mut list[p], &path[1..])
            }
        }
        _ => false,
    }
}

/// Runs `lockstep unset`.
pub fn run(args: UnsetArgs) -> anyhow::Result<ExitCode> {
    let path = parse_path(&args.index, Code::InvalidSetFormat)?;
    let (format, _) = args.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    let mut decrypted = open_encrypted(&args.file, format, args.ignore_mac, &args.config)?;
    let mut tree = std::mem::take(&mut decrypted.tree);
    let removed = tree.branches.first_mut().is_some_and(|b| remove(b, &path));
    if !removed {
        if args.idempotent {
            return Ok(ExitCode::SUCCESS);
        }
        return Err(coded(
            Code::Generic,
            format!("component {} not found", show_path(&path)),
        ));
    }
    let emit = args.config.emit_options();
    write_reencrypted(&args.file, tree, decrypted, format, &emit, &name)?;
    Ok(ExitCode::SUCCESS)
}

//! `lockstep set`: sops' `set` verb. Sets one value (given as JSON) at a tree path of an
//! encrypted file, in place; other values keep their ciphertext.

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{Format, Item, Scalar, Value};
use zeroize::Zeroizing;

use super::sopscommon::{
    ConfigFlag, Step, TypeFlags, open_encrypted, parse_path, write_reencrypted,
};
use super::sopserr::{Code, coded};

/// Set one value of an encrypted file, in place (sops-compatible).
#[derive(Debug, Args)]
pub struct SetArgs {
    /// The encrypted file.
    file: PathBuf,
    /// The path, e.g. '["data"]["password"]'.
    index: String,
    /// The value as JSON, e.g. '"secret"' or '{"a": 1}' (not with --value-file/--value-stdin).
    value: Option<String>,
    /// Read the JSON value from this file.
    #[arg(long, value_name = "FILE", conflicts_with = "value_stdin")]
    value_file: Option<PathBuf>,
    /// Read the JSON value from stdin.
    #[arg(long)]
    value_stdin: bool,
    /// Do not write the file when the value is already set.
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

/// Parses a JSON text into a tree value (exit 7 when it is not JSON).
pub fn json_value(text: &str) -> anyhow::Result<Value> {
    let wrapped = Zeroizing::new(format!("{{\"v\":{}\n}}", text.trim()));
    let mut tree = lockstep_sops::stores::load(wrapped.as_bytes(), Format::Json)
        .map_err(|_| coded(Code::InvalidSetFormat, "value for set is not valid JSON"))?;
    let branch = tree.branches.first_mut();
    let value = branch
        .and_then(|b| {
            b.iter_mut().find_map(|i| match i {
                Item::Entry(k, v) if k == "v" => Some(v),
                _ => None,
            })
        })
        .ok_or_else(|| coded(Code::InvalidSetFormat, "value for set is not valid JSON"))?;
    Ok(std::mem::replace(value, Value::Scalar(Scalar::Null)))
}

/// Puts `value` at `path`, creating missing mappings (and appending past the end of a
/// list). Returns whether anything changed.
pub fn set_at(items: &mut Vec<Item>, path: &[Step], value: Value) -> anyhow::Result<bool> {
    let Some((first, rest)) = path.split_first() else {
        return Err(coded(Code::InvalidSetFormat, "the path is empty"));
    };
    let Step::Key(k) = first else {
        return Err(coded(
            Code::InvalidSetFormat,
            "the path must start with a key",
        ));
    };
    let pos = items
        .iter()
        .position(|i| matches!(i, Item::Entry(key, _) if key == k));
    let slot = match pos {
        Some(p) => match &mut items[p] {
            Item::Entry(_, v) => v,
            Item::Comment(_) => unreachable!(),
        },
        None => {
            items.push(Item::Entry(k.clone(), empty_for(rest)));
            match items.last_mut() {
                Some(Item::Entry(_, v)) => v,
                _ => unreachable!(),
            }
        }
    };
    set_value(slot, rest, value)
}

fn empty_for(rest: &[Step]) -> Value {
    match rest.first() {
        Some(Step::Key(_)) => Value::Map(Vec::new()),
        Some(Step::Index(_)) => Value::List(Vec::new()),
        None => Value::Scalar(Scalar::Null),
    }
}

fn set_value(slot: &mut Value, path: &[Step], value: Value) -> anyhow::Result<bool> {
    let Some((first, rest)) = path.split_first() else {
        if *slot == value {
            return Ok(false);
        }
        *slot = value;
        return Ok(true);
    };
    match first {
        Step::Key(_) => {
            if !matches!(slot, Value::Map(_)) {
                *slot = Value::Map(Vec::new());
            }
            let Value::Map(items) = slot else {
                unreachable!()
            };
            set_at(items, path, value)
        }
        Step::Index(i) => {
            if !matches!(slot, Value::List(_)) {
                *slot = Value::List(Vec::new());
            }
            let Value::List(list) = slot else {
                unreachable!()
            };
            let positions: Vec<usize> = list
                .iter()
                .enumerate()
                .filter(|(_, v)| !matches!(v, Value::Comment(_)))
                .map(|(p, _)| p)
                .collect();
            match positions.get(*i) {
                Some(&p) => set_value(&mut list[p], rest, value),
                None => {
                    list.push(empty_for(rest));
                    let last = list.last_mut().expect("just pushed");
                    set_value(last, rest, value)?;
                    Ok(true)
                }
            }
        }
    }
}

/// Runs `lockstep set`.
pub fn run(args: SetArgs) -> anyhow::Result<ExitCode> {
    let path = parse_path(&args.index, Code::InvalidSetFormat)?;
    let text = Zeroizing::new(match (&args.value, &args.value_file, args.value_stdin) {
        (Some(v), None, false) => v.clone(),
        (None, Some(f), false) => {
            std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?
        }
        (None, None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read stdin")?;
            s
        }
        _ => {
            return Err(coded(
                Code::NoFileSpecified,
                "give the value either as an argument, with --value-file or with --value-stdin",
            ));
        }
    });
    let value = json_value(&text)?;
    let (format, _) = args.types.formats(Some(&args.file));
    let name = args.file.display().to_string();
    let mut decrypted = open_encrypted(&args.file, format, args.ignore_mac, &args.config)?;
    let mut tree = std::mem::take(&mut decrypted.tree);
    if tree.branches.is_empty() {
        tree.branches.push(Vec::new());
    }
    let changed = set_at(&mut tree.branches[0], &path, value)?;
    if !changed && args.idempotent {
        return Ok(ExitCode::SUCCESS);
    }
    let emit = args.config.emit_options();
    write_reencrypted(&args.file, tree, decrypted, format, &emit, &name)?;
    Ok(ExitCode::SUCCESS)
}

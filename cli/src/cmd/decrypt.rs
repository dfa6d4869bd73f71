//! `lockstep decrypt`: sops' `decrypt` verb, with `--extract`, format conversion and
//! `--ignore-mac`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::{Format, Scalar, Tree, Value};

use super::sopscommon::{
    ConfigFlag, Output, Step, TypeFlags, decrypt_file, load_encrypted, lookup_mut, parse_path,
    read_input, scalar_text, show_path, shown,
};
use super::sopserr::{Code, coded};

/// Decrypt a file (sops-compatible flags).
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// The encrypted file (default: stdin).
    file: Option<PathBuf>,
    /// Write the plaintext over the input file (atomically, permissions kept).
    #[arg(short = 'i', long)]
    in_place: bool,
    /// Write the plaintext to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Print only the value at this path, e.g. '["data"]["password"]'.
    #[arg(long, value_name = "PATH")]
    extract: Option<String>,
    /// Decrypt even if the MAC does not match.
    #[arg(long)]
    ignore_mac: bool,
    /// Use this name to pick the formats (for stdin).
    #[arg(long, value_name = "NAME")]
    filename_override: Option<PathBuf>,
    #[command(flatten)]
    types: TypeFlags,
    #[command(flatten)]
    config: ConfigFlag,
}

/// Runs `lockstep decrypt`.
pub fn run(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    let output = Output::choose(args.in_place, args.output.as_deref(), args.file.as_deref())?;
    let extract = args
        .extract
        .as_deref()
        .map(|p| parse_path(p, Code::InvalidTreePath))
        .transpose()?;
    let input = read_input(args.file.as_deref())?;
    let name = args.filename_override.clone().or(input.path.clone());
    let (in_fmt, out_fmt) = args.types.formats(name.as_deref());
    let shown = shown(input.path.as_deref());
    let file = load_encrypted(&input.bytes, in_fmt, &shown)?;
    let decrypted = decrypt_file(file, args.ignore_mac, &args.config)
        .with_context(|| format!("cannot decrypt {shown}"))?;
    let emit = args.config.emit_options();
    let mut tree = decrypted.tree;
    let bytes = match extract {
        None => lockstep_sops::stores::emit(&tree, out_fmt, &emit)?,
        Some(path) => extract_value(&mut tree, &path, out_fmt, &emit)?,
    };
    output.write(&bytes)?;
    Ok(ExitCode::SUCCESS)
}

/// The bytes `--extract` prints for the value at `path`.
pub fn extract_value(
    tree: &mut Tree,
    path: &[Step],
    format: Format,
    emit: &lockstep_sops::EmitOptions,
) -> anyhow::Result<Vec<u8>> {
    let missing = || {
        coded(
            Code::Generic,
            format!("component {} not found", show_path(path)),
        )
    };
    let branch = tree.branches.first_mut().ok_or_else(missing)?;
    let value = lookup_mut(branch, path).ok_or_else(missing)?;
    let value = std::mem::replace(value, Value::Scalar(Scalar::Null));
    match value {
        Value::Scalar(Scalar::Str(b)) => Ok(b),
        Value::Scalar(s) => {
            // sops prints other scalars with the output store's value encoder.
            let mut text = scalar_text(&s);
            if format == Format::Yaml {
                text.push(b'\n');
            }
            Ok(text)
        }
        Value::Map(items) => {
            let sub = Tree {
                branches: vec![items],
            };
            Ok(lockstep_sops::stores::emit(&sub, format, emit)?)
        }
        Value::List(list) => emit_list(list, format, emit, path),
        Value::Comment(_) => Err(coded(
            Code::Generic,
            format!("component {} not found", show_path(path)),
        )),
    }
}

/// A list as sops' value encoders print it: YAML items at column 0, JSON as an indented
/// array without a final newline. Emitted as the value of a one-key document, then cut
/// out and de-indented.
fn emit_list(
    list: Vec<Value>,
    format: Format,
    emit: &lockstep_sops::EmitOptions,
    path: &[Step],
) -> anyhow::Result<Vec<u8>> {
    let sub = Tree {
        branches: vec![vec![lockstep_sops::Item::Entry(
            "x".to_owned(),
            Value::List(list),
        )]],
    };
    let text = zeroize::Zeroizing::new(
        String::from_utf8(lockstep_sops::stores::emit(&sub, format, emit)?)
            .map_err(|_| coded(Code::Generic, "the list is not UTF-8"))?,
    );
    let out = match format {
        Format::Yaml => {
            let indent = " ".repeat(if emit.yaml_indent == 0 {
                4
            } else {
                emit.yaml_indent
            });
            text.lines()
                .skip(1)
                .map(|l| format!("{}\n", l.strip_prefix(indent.as_str()).unwrap_or(l)))
                .collect::<String>()
        }
        Format::Json => {
            let unit = emit.json_indent.map_or("\t".to_owned(), |n| " ".repeat(n));
            let body = text
                .trim_end()
                .strip_suffix('}')
                .and_then(|t| t.split_once(": "))
                .map(|(_, v)| v.trim_end())
                .ok_or_else(|| coded(Code::Generic, "cannot print the list"))?;
            body.split('\n')
                .map(|l| l.strip_prefix(unit.as_str()).unwrap_or(l))
                .collect::<Vec<_>>()
                .join("\n")
        }
        _ => {
            return Err(coded(
                Code::Generic,
                format!(
                    "cannot print the list at {} as {format}: extract one of its elements",
                    show_path(path)
                ),
            ));
        }
    };
    Ok(out.into_bytes())
}

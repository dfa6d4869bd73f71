//! The stores: reading and writing each file format sops supports, and separating the
//! `sops` metadata from the data.
//!
//! Every store reads into the same [`Tree`], so a file loaded with one format can be
//! emitted with another (sops' `--input-type`/`--output-type`).

pub mod dotenv;
pub mod flatten;
pub mod ini;
pub mod json;
pub mod toml;
pub mod yaml;

use std::fmt;
use std::path::Path;

use crate::error::{EmitError, LoadError};
use crate::tree::{Item, Scalar, Tree, Value};

/// A file format sops reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// YAML, possibly several documents.
    Yaml,
    /// A JSON object.
    Json,
    /// `KEY=VALUE` lines.
    Dotenv,
    /// INI sections.
    Ini,
    /// A TOML document (Lockstep's own; sops has no TOML store).
    Toml,
    /// Any bytes, held as `{"data": <bytes>}` and stored as JSON.
    Binary,
}

impl Format {
    /// sops' choice by file name: `.yaml`/`.yml`, `.json`, `.env`, `.ini`, else binary;
    /// and `.toml`, which sops would read as binary.
    pub fn from_path(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => Format::Yaml,
            Some("json") => Format::Json,
            Some("env") => Format::Dotenv,
            Some("ini") => Format::Ini,
            Some("toml") => Format::Toml,
            _ => Format::Binary,
        }
    }

    /// The format named by `--input-type`/`--output-type`.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "dotenv" => Format::Dotenv,
            "ini" => Format::Ini,
            "toml" => Format::Toml,
            "binary" => Format::Binary,
            _ => return None,
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Yaml => "YAML",
            Format::Json => "JSON",
            Format::Dotenv => "dotenv",
            Format::Ini => "INI",
            Format::Toml => "TOML",
            Format::Binary => "binary",
        })
    }
}

/// Output settings (sops' `stores` section of `.sops.yaml` and `--indent`).
#[derive(Clone, Debug, Default)]
pub struct EmitOptions {
    /// YAML indent; 0 means sops' default of 4.
    pub yaml_indent: usize,
    /// JSON indent in spaces; `None` means sops' default, a tab.
    pub json_indent: Option<usize>,
    /// Indent of the JSON envelope of binary files; `None` means a tab.
    pub binary_indent: Option<usize>,
}

fn text(bytes: &[u8], format: Format) -> Result<&str, LoadError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = before.len()
            - before
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |p| p + 1)
            + 1;
        LoadError::Syntax {
            format,
            line,
            column,
            reason: "input is not UTF-8".to_owned(),
        }
    })
}

/// Reads a plaintext (or encrypted, metadata included) file into a tree.
///
/// # Errors
/// [`LoadError`] with the line and column (or key path) of the problem; never a value.
pub fn load(bytes: &[u8], format: Format) -> Result<Tree, LoadError> {
    match format {
        Format::Yaml => yaml::parse::load(text(bytes, format)?),
        Format::Json => json::load(text(bytes, format)?, format),
        Format::Dotenv => dotenv::load(text(bytes, format)?),
        Format::Ini => ini::load(text(bytes, format)?),
        Format::Toml => toml::load(text(bytes, format)?),
        Format::Binary => Ok(Tree {
            branches: vec![vec![Item::Entry(
                "data".to_owned(),
                Value::Scalar(Scalar::Str(bytes.to_vec())),
            )]],
        }),
    }
}

/// Writes a plaintext tree.
///
/// # Errors
/// [`EmitError`] when the tree holds something the format cannot (nested values in dotenv,
/// a binary tree without a `data` string, NaN in JSON).
pub fn emit(tree: &Tree, format: Format, opts: &EmitOptions) -> Result<Vec<u8>, EmitError> {
    Ok(match format {
        Format::Yaml => yaml::emit::emit(tree, opts.yaml_indent, &[]).into_bytes(),
        Format::Json => json::emit(tree, opts.json_indent, &[])?.into_bytes(),
        Format::Dotenv => dotenv::emit(tree, &[])?.into_bytes(),
        Format::Ini => ini::emit(tree, &[])?.into_bytes(),
        Format::Toml => toml::emit(tree, &[])?.into_bytes(),
        Format::Binary => {
            let data = tree
                .branches
                .first()
                .and_then(|b| crate::tree::get(b, "data"));
            match data {
                Some(Value::Scalar(Scalar::Str(b))) => b.clone(),
                _ => {
                    return Err(EmitError::Unrepresentable {
                        format,
                        path: "data".to_owned(),
                        what: "binary tree without a `data` string",
                    });
                }
            }
        }
    })
}

/// Writes an encrypted tree with its metadata mapping (`sops` items, already in the layout
/// to write).
pub(crate) fn emit_with_metadata(
    tree: &Tree,
    metadata: Vec<Item>,
    format: Format,
    opts: &EmitOptions,
) -> Result<Vec<u8>, EmitError> {
    let escape = |pairs: Vec<(String, String)>| -> Vec<(String, String)> {
        pairs
            .into_iter()
            .map(|(k, v)| (k, v.replace('\n', "\\n")))
            .collect()
    };
    Ok(match format {
        Format::Yaml => {
            let extra = [Item::Entry("sops".to_owned(), Value::Map(metadata))];
            yaml::emit::emit(tree, opts.yaml_indent, &extra).into_bytes()
        }
        Format::Toml => {
            let extra = [Item::Entry("sops".to_owned(), Value::Map(metadata))];
            toml::emit(tree, &extra)?.into_bytes()
        }
        Format::Json | Format::Binary => {
            let extra = [Item::Entry("sops".to_owned(), Value::Map(metadata))];
            let indent = if format == Format::Json {
                opts.json_indent
            } else {
                opts.binary_indent
            };
            json::emit(tree, indent, &extra)?.into_bytes()
        }
        Format::Dotenv => {
            let extra: Vec<Item> = escape(flatten::flatten(&metadata))
                .into_iter()
                .map(|(k, v)| Item::Entry(format!("sops_{k}"), Value::str(v)))
                .collect();
            dotenv::emit(tree, &extra)?.into_bytes()
        }
        Format::Ini => {
            let section: Vec<Item> = escape(flatten::flatten(&metadata))
                .into_iter()
                .map(|(k, v)| Item::Entry(k, Value::str(v)))
                .collect();
            let extra = [Item::Entry("sops".to_owned(), Value::Map(section))];
            ini::emit(tree, &extra)?.into_bytes()
        }
    })
}

/// Removes the metadata from a loaded encrypted tree and returns it as a nested mapping, or
/// `None` when the file has no metadata.
pub(crate) fn take_metadata(
    tree: &mut Tree,
    format: Format,
) -> Result<Option<Vec<Item>>, LoadError> {
    match format {
        Format::Yaml | Format::Json | Format::Binary | Format::Ini | Format::Toml => {
            let mut found = None;
            for (bi, branch) in tree.branches.iter_mut().enumerate() {
                while let Some(pos) = branch
                    .iter()
                    .position(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
                {
                    let Item::Entry(_, value) = branch.remove(pos) else {
                        unreachable!()
                    };
                    if bi == 0 && found.is_none() {
                        match value {
                            Value::Map(items) => found = Some(items),
                            _ => {
                                return Err(LoadError::Metadata {
                                    path: "sops".to_owned(),
                                    reason: "not a mapping",
                                });
                            }
                        }
                    }
                }
            }
            let Some(items) = found else { return Ok(None) };
            if format != Format::Ini {
                return Ok(Some(items));
            }
            let pairs = items
                .into_iter()
                .filter_map(|i| match i {
                    Item::Entry(k, v) => {
                        Some((k, v.as_str().unwrap_or_default().replace("\\n", "\n")))
                    }
                    Item::Comment(_) => None,
                })
                .collect();
            unflatten(pairs).map(Some)
        }
        Format::Dotenv => {
            let Some(branch) = tree.branches.first_mut() else {
                return Ok(None);
            };
            let (metadata, data): (Vec<Item>, Vec<Item>) = std::mem::take(branch)
                .into_iter()
                .partition(|i| matches!(i, Item::Entry(k, _) if k.starts_with("sops_")));
            *branch = data;
            let pairs: Vec<(String, String)> = metadata
                .into_iter()
                .filter_map(|i| match i {
                    Item::Entry(k, v) => Some((
                        k["sops_".len()..].to_owned(),
                        v.as_str().unwrap_or_default().replace("\\n", "\n"),
                    )),
                    Item::Comment(_) => None,
                })
                .collect();
            if pairs.is_empty() {
                return Ok(None);
            }
            unflatten(pairs).map(Some)
        }
    }
}

fn unflatten(pairs: Vec<(String, String)>) -> Result<Vec<Item>, LoadError> {
    // A hostile key may be megabytes long: name its start.
    let shown = |mut key: String| {
        if let Some((cut, _)) = key.char_indices().nth(80) {
            key.truncate(cut);
            key.push('…');
        }
        key
    };
    flatten::unflatten(pairs).map_err(|e| match e {
        flatten::Unflatten::Malformed(key) => LoadError::Metadata {
            path: shown(key),
            reason: "malformed flattened key",
        },
        flatten::Unflatten::TooDeep(key) => LoadError::MetadataLimit {
            path: shown(key),
            exceeded: lockstep_limits::Exceeded::Depth,
        },
    })
}

/// Whether a loaded plaintext tree already carries sops metadata (sops exit code 203).
pub fn has_metadata(tree: &Tree, format: Format) -> bool {
    let Some(branch) = tree.branches.first() else {
        return false;
    };
    branch.iter().any(|i| match i {
        Item::Entry(k, _) if format == Format::Dotenv => k.starts_with("sops_"),
        Item::Entry(k, _) => k == "sops",
        Item::Comment(_) => false,
    })
}

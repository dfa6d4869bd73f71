//! The values at either end of a path: the JSON `set` takes, and what `--extract` prints,
//! each as sops does it (`jsonValueToTreeInsertableValue`, the stores' `EmitValue`).

use super::PathStep;
use crate::error::{EmitError, PathError};
use crate::stores::{self, EmitOptions, Format};
use crate::tree::{Item, Scalar, Tree, Value};

/// A value given to `sops set` as JSON. A number on its own is a `float` (Go's
/// `encoding/json` reads every number as `float64`); inside an object or a list, numbers
/// that fit `i64` are `int`, as sops' JSON store reads them. sops refuses a list as the
/// value; lockstep sets it (sops reads the file it makes).
///
/// # Errors
/// [`PathError::Value`] when the text is not JSON (position only, never the text).
pub fn value_from_json(text: &str) -> Result<Value, PathError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| PathError::Value {
        line: e.line(),
        column: e.column(),
    })?;
    Ok(match v {
        serde_json::Value::Number(n) => {
            Value::Scalar(Scalar::Float(n.as_f64().unwrap_or(f64::NAN)))
        }
        other => stores::json::from_json(other),
    })
}

/// The output of `--extract` for `value` (found at `path`), in `format`: a string raw,
/// without a newline; a mapping as a document; anything else with the store's value
/// encoder — YAML and JSON write it, TOML as after `key = `, INI writes compact JSON,
/// dotenv and binary cannot.
///
/// # Errors
/// [`EmitError::Unrepresentable`] when `format` cannot print the value.
pub fn emit_extracted(
    value: &Value,
    path: &[PathStep],
    format: Format,
    opts: &EmitOptions,
) -> Result<Vec<u8>, EmitError> {
    use crate::tree::{copy_items, copy_value};
    let cannot = |what| EmitError::Unrepresentable {
        format,
        path: path.iter().map(ToString::to_string).collect(),
        what,
    };
    match value {
        Value::Scalar(Scalar::Str(b)) => Ok(b.clone()),
        Value::Map(items) => stores::emit(
            &Tree {
                branches: vec![copy_items(items)],
            },
            format,
            opts,
        ),
        Value::Comment(_) => Err(cannot("a comment")),
        other => {
            // Emit the value in a one-key document and cut the key off.
            let tree = Tree {
                branches: vec![vec![Item::Entry("v".to_owned(), copy_value(other))]],
            };
            match format {
                Format::Json => Ok(json_value(&tree, opts.json_indent)?.into_bytes()),
                Format::Yaml => Ok(yaml_value(&tree, opts.yaml_indent).into_bytes()),
                Format::Ini => {
                    if let Value::List(list) = other
                        && list
                            .iter()
                            .any(|v| matches!(v, Value::Map(_) | Value::Comment(_)))
                    {
                        return Err(cannot("a list of mappings or comments"));
                    }
                    // No raw tab or newline is inside a JSON string: dropping them all
                    // leaves Go's `json.Marshal` text.
                    let text = json_value(&tree, None)?;
                    Ok(text.replace(['\n', '\t'], "").into_bytes())
                }
                Format::Toml => {
                    let at: String = path.iter().map(ToString::to_string).collect();
                    Ok(stores::toml::value_text(other, &at)?.into_bytes())
                }
                Format::Dotenv => Err(cannot("a value other than a string")),
                Format::Binary => Err(cannot("a single value")),
            }
        }
    }
}

/// `{\n<unit>"v": <value>\n}\n` without the wrapper and one level of indent: sops'
/// `json.MarshalIndent` of the value, no final newline.
fn json_value(tree: &Tree, indent: Option<usize>) -> Result<String, EmitError> {
    let unit = indent.map_or("\t".to_owned(), |n| " ".repeat(n));
    let text = stores::json::emit(tree, indent, &[])?;
    let inner = text
        .strip_prefix("{\n")
        .and_then(|t| t.strip_suffix("\n}\n"))
        .unwrap_or(&text);
    let inner: Vec<&str> = inner
        .split('\n')
        .map(|l| l.strip_prefix(unit.as_str()).unwrap_or(l))
        .collect();
    let inner = inner.join("\n");
    Ok(inner.strip_prefix("\"v\": ").unwrap_or(&inner).to_owned())
}

/// The value as a YAML document: a scalar and its newline, a list at column 0.
fn yaml_value(tree: &Tree, indent: usize) -> String {
    let text = stores::yaml::emit::emit(tree, indent, &[]);
    let body = text.strip_prefix("v:").unwrap_or(&text);
    // A scalar follows on the same line; a sequence starts on the next one.
    let body = body.strip_prefix(' ').unwrap_or(body);
    match body.strip_prefix('\n') {
        Some(seq) => dedent(seq),
        None => body.to_owned(),
    }
}

fn dedent(text: &str) -> String {
    let width = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    text.split_inclusive('\n')
        .map(|l| l.get(width..).unwrap_or(l.trim_start()))
        .collect()
}

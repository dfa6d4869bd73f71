//! The JSON store: an object with its key order, written the way sops writes it (Go
//! `json.Marshal` scalars, `json.Indent` with a tab by default, a trailing newline).

use crate::error::{EmitError, LoadError};
use crate::gofmt;
use crate::stores::Format;
use crate::tree::{Item, Scalar, Tree, Value};

/// Parses a JSON document whose top level is an object. Numbers that fit `i64` are `int`,
/// others `float` (sops 3.13.2+). Comments do not exist in JSON. An object with the same
/// key twice is refused, as sops (Go's decoder, rc 25) and our YAML store refuse it:
/// silently keeping the last value would decrypt to something the file's reader never saw.
pub fn load(text: &str, format: Format) -> Result<Tree, LoadError> {
    let value = lockstep_limits::json::from_str(text).map_err(|e| LoadError::Syntax {
        format,
        line: e.line(),
        column: e.column(),
        reason: json_reason(&e),
    })?;
    match value {
        serde_json::Value::Object(map) => Ok(Tree {
            branches: vec![
                map.into_iter()
                    .map(|(k, v)| Item::Entry(k, from_json(v)))
                    .collect(),
            ],
        }),
        _ => Err(LoadError::Structure {
            format,
            line: 1,
            column: 1,
            path: String::new(),
            reason: "top level is not an object",
        }),
    }
}

/// serde_json's classification, which never includes input text.
fn json_reason(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Data if lockstep_limits::json::is_duplicate_key(e) => {
            lockstep_limits::json::DUPLICATE_KEY.to_owned()
        }
        serde_json::error::Category::Eof => "unexpected end of input".to_owned(),
        serde_json::error::Category::Syntax => "syntax error".to_owned(),
        serde_json::error::Category::Data => "invalid data".to_owned(),
        serde_json::error::Category::Io => "read error".to_owned(),
    }
}

/// A JSON value as a tree value: numbers that fit `i64` are `int`, others `float`.
pub(crate) fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Scalar(Scalar::Null),
        serde_json::Value::Bool(b) => Value::Scalar(Scalar::Bool(b)),
        serde_json::Value::Number(n) => Value::Scalar(match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        }),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::List(a.into_iter().map(from_json).collect()),
        serde_json::Value::Object(m) => Value::Map(
            m.into_iter()
                .map(|(k, v)| Item::Entry(k, from_json(v)))
                .collect(),
        ),
    }
}

/// Writes the first branch. `indent` 0 means sops' default (a tab); `Some(n)` spaces.
/// `extra` items (the `sops` metadata) are appended to the object.
pub fn emit(tree: &Tree, indent: Option<usize>, extra: &[Item]) -> Result<String, EmitError> {
    let unit = match indent {
        None => "\t".to_owned(),
        Some(n) => " ".repeat(n),
    };
    let mut out = String::new();
    let empty = Vec::new();
    let branch = tree.branches.first().unwrap_or(&empty);
    let all: Vec<&Item> = branch.iter().chain(extra).collect();
    map(&mut out, &all, &unit, 0, &mut Vec::new())?;
    out.push('\n');
    Ok(out)
}

fn newline(out: &mut String, unit: &str, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str(unit);
    }
}

fn map<I: std::borrow::Borrow<Item>>(
    out: &mut String,
    items: &[I],
    unit: &str,
    depth: usize,
    path: &mut Vec<String>,
) -> Result<(), EmitError> {
    let entries: Vec<_> = items
        .iter()
        .filter_map(|i| match i.borrow() {
            Item::Entry(k, v) => Some((k, v)),
            Item::Comment(_) => None,
        })
        .collect();
    if entries.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, unit, depth + 1);
        string(out, k.as_bytes());
        out.push_str(": ");
        path.push((*k).clone());
        value(out, v, unit, depth + 1, path)?;
        path.pop();
    }
    newline(out, unit, depth);
    out.push('}');
    Ok(())
}

fn value(
    out: &mut String,
    v: &Value,
    unit: &str,
    depth: usize,
    path: &mut Vec<String>,
) -> Result<(), EmitError> {
    match v {
        Value::Map(items) => map(out, items, unit, depth, path),
        Value::List(values) => {
            let values: Vec<_> = values
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .collect();
            if values.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, unit, depth + 1);
                value(out, v, unit, depth + 1, path)?;
            }
            newline(out, unit, depth);
            out.push(']');
            Ok(())
        }
        Value::Comment(_) => Ok(()),
        Value::Scalar(s) => scalar(out, s, path),
    }
}

fn scalar(out: &mut String, s: &Scalar, path: &[String]) -> Result<(), EmitError> {
    match s {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Scalar::Int(i) => out.push_str(&i.to_string()),
        Scalar::Float(f) => match gofmt::float_json(*f) {
            Some(text) => out.push_str(&text),
            None => {
                return Err(EmitError::Unrepresentable {
                    format: Format::Json,
                    path: path.join(":"),
                    what: "NaN or infinite float",
                });
            }
        },
        Scalar::Str(b) => string(out, b),
        Scalar::Time(t) => string(out, t.as_bytes()),
    }
    Ok(())
}

/// A JSON string as Go's `json.Marshal` writes it (HTML characters escaped).
pub fn string(out: &mut String, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

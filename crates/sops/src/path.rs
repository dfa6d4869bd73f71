//! Tree paths as sops' `--extract`, `set` and `unset` take them (`["data"]["password"]`,
//! `['list'][0]`), and the three operations on the first document.

use crate::error::{EmitError, PathError};
use crate::stores::{self, EmitOptions, Format};
use crate::tree::{Item, Scalar, Tree, Value};

/// One step of a tree path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses `["a"][0]['b']`.
///
/// # Errors
/// [`PathError::Syntax`] with the byte position of the problem.
pub fn parse(text: &str) -> Result<Vec<PathStep>, PathError> {
    let bytes = text.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    let err = |position| PathError::Syntax { position };
    while i < bytes.len() {
        if bytes[i] != b'[' {
            return Err(err(i));
        }
        i += 1;
        match bytes.get(i) {
            Some(&q @ (b'"' | b'\'')) => {
                let start = i + 1;
                let end = text[start..].find(q as char).ok_or(err(i))? + start;
                steps.push(PathStep::Key(text[start..end].to_owned()));
                i = end + 1;
            }
            Some(c) if c.is_ascii_digit() => {
                let start = i;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                steps.push(PathStep::Index(
                    text[start..i].parse().map_err(|_| err(start))?,
                ));
            }
            _ => return Err(err(i)),
        }
        if bytes.get(i) != Some(&b']') {
            return Err(err(i));
        }
        i += 1;
    }
    Ok(steps)
}

fn show(step: &PathStep) -> String {
    match step {
        PathStep::Key(k) => format!("[{k:?}]"),
        PathStep::Index(i) => format!("[{i}]"),
    }
}

/// The value at `path` in the first document (`--extract`).
///
/// # Errors
/// [`PathError::NotFound`] naming the first missing step.
pub fn extract<'a>(tree: &'a Tree, path: &[PathStep]) -> Result<&'a Value, PathError> {
    let mut items: &[Item] = tree.branches.first().map(Vec::as_slice).unwrap_or_default();
    let mut current: Option<&Value> = None;
    for step in path {
        let found = match (step, current) {
            (PathStep::Key(k), None) => crate::tree::get(items, k),
            (PathStep::Key(k), Some(Value::Map(m))) => {
                items = m;
                crate::tree::get(items, k)
            }
            (PathStep::Index(i), Some(Value::List(l))) => {
                l.iter().filter(|v| !matches!(v, Value::Comment(_))).nth(*i)
            }
            _ => None,
        };
        current = Some(found.ok_or_else(|| PathError::NotFound { step: show(step) })?);
        if let Some(Value::Map(m)) = current {
            items = m;
        }
    }
    current.ok_or(PathError::NotFound {
        step: "[]".to_owned(),
    })
}

fn from_path(path: &[PathStep], leaf: Value) -> Value {
    match path.split_first() {
        None => leaf,
        Some((PathStep::Key(k), rest)) => {
            Value::Map(vec![Item::Entry(k.clone(), from_path(rest, leaf))])
        }
        Some((PathStep::Index(_), rest)) => Value::List(vec![from_path(rest, leaf)]),
    }
}

fn set_in_items(items: &mut Vec<Item>, path: &[PathStep], leaf: Value) -> bool {
    let Some((PathStep::Key(k), rest)) = path.split_first() else {
        return false;
    };
    for item in items.iter_mut() {
        if let Item::Entry(key, v) = item
            && key == k
        {
            if rest.is_empty() {
                let changed = *v != leaf;
                *v = leaf;
                return changed;
            }
            return set_in_value(v, rest, leaf);
        }
    }
    items.push(Item::Entry(k.clone(), from_path(rest, leaf)));
    true
}

fn set_in_value(v: &mut Value, path: &[PathStep], leaf: Value) -> bool {
    match (v, path.first()) {
        (Value::Map(items), Some(PathStep::Key(_))) => set_in_items(items, path, leaf),
        (Value::List(list), Some(PathStep::Index(i))) => {
            let rest = &path[1..];
            if *i >= list.len() {
                list.push(from_path(rest, leaf));
                return true;
            }
            if rest.is_empty() {
                let changed = list[*i] != leaf;
                list[*i] = leaf;
                changed
            } else {
                set_in_value(&mut list[*i], rest, leaf)
            }
        }
        (v, _) => {
            *v = from_path(path, leaf);
            true
        }
    }
}

/// Sets the value at `path` in the first document, creating missing keys (`sops set`).
/// Returns whether anything changed (for `--idempotent`).
///
/// # Errors
/// [`PathError::NotFound`] when the path is empty or starts with an index.
pub fn set(tree: &mut Tree, path: &[PathStep], leaf: Value) -> Result<bool, PathError> {
    if !matches!(path.first(), Some(PathStep::Key(_))) {
        return Err(PathError::NotFound {
            step: path.first().map(show).unwrap_or_default(),
        });
    }
    if tree.branches.is_empty() {
        tree.branches.push(Vec::new());
    }
    Ok(set_in_items(&mut tree.branches[0], path, leaf))
}

/// Removes the value at `path` from the first document (`sops unset`).
///
/// # Errors
/// [`PathError::NotFound`] naming the missing step.
pub fn unset(tree: &mut Tree, path: &[PathStep]) -> Result<(), PathError> {
    fn in_items(items: &mut Vec<Item>, path: &[PathStep]) -> Result<(), PathError> {
        let Some((step @ PathStep::Key(k), rest)) = path.split_first() else {
            return Err(PathError::NotFound {
                step: path.first().map(show).unwrap_or_default(),
            });
        };
        let pos = items
            .iter()
            .position(|i| matches!(i, Item::Entry(key, _) if key == k))
            .ok_or_else(|| PathError::NotFound { step: show(step) })?;
        if rest.is_empty() {
            items.remove(pos);
            return Ok(());
        }
        let Item::Entry(_, v) = &mut items[pos] else {
            unreachable!("position matched an entry")
        };
        in_value(v, rest)
    }
    fn in_value(v: &mut Value, path: &[PathStep]) -> Result<(), PathError> {
        match (v, &path[0]) {
            (Value::Map(items), PathStep::Key(_)) => in_items(items, path),
            (Value::List(list), step @ PathStep::Index(i)) => {
                if *i >= list.len() {
                    return Err(PathError::NotFound { step: show(step) });
                }
                if path.len() == 1 {
                    list.remove(*i);
                    Ok(())
                } else {
                    in_value(&mut list[*i], &path[1..])
                }
            }
            (_, step) => Err(PathError::NotFound { step: show(step) }),
        }
    }
    let branch = tree.branches.first_mut().ok_or(PathError::NotFound {
        step: String::new(),
    })?;
    in_items(branch, path)
}

/// The output of `--extract` for `value`: a string is printed raw (no newline), a mapping
/// as a document of `format`, anything else with the store's value encoder (YAML: the
/// scalar or sequence as a document; JSON: its JSON text).
///
/// # Errors
/// [`EmitError`] when `format` cannot hold the value.
pub fn emit_extracted(
    value: &Value,
    format: Format,
    opts: &EmitOptions,
) -> Result<Vec<u8>, EmitError> {
    use crate::stores::yaml::parse::{copy_items, copy_value};
    match value {
        Value::Scalar(Scalar::Str(b)) => Ok(b.clone()),
        Value::Map(items) => {
            let tree = Tree {
                branches: vec![copy_items(items)],
            };
            stores::emit(&tree, format, opts)
        }
        other => {
            // Wrap the value in a one-key document, emit it, and cut the key off.
            let tree = Tree {
                branches: vec![vec![Item::Entry("v".to_owned(), copy_value(other))]],
            };
            match format {
                Format::Json | Format::Binary => {
                    // `{\n<unit>"v": <value>\n}\n`: drop the wrapper and one indent level.
                    let unit = opts.json_indent.map_or("\t".to_owned(), |n| " ".repeat(n));
                    let text = stores::json::emit(&tree, opts.json_indent, &[])?;
                    let inner = text
                        .strip_prefix("{\n")
                        .and_then(|t| t.strip_suffix("\n}\n"))
                        .unwrap_or(&text);
                    let inner: Vec<&str> = inner
                        .split('\n')
                        .map(|l| l.strip_prefix(unit.as_str()).unwrap_or(l))
                        .collect();
                    let inner = inner.join("\n");
                    Ok(inner
                        .strip_prefix("\"v\": ")
                        .unwrap_or(&inner)
                        .as_bytes()
                        .to_vec())
                }
                _ => {
                    let text = stores::yaml::emit::emit(&tree, opts.yaml_indent, &[]);
                    let body = text.strip_prefix("v:").unwrap_or(&text);
                    // A scalar follows on the same line; a sequence starts on the next one.
                    let body = body.strip_prefix(' ').unwrap_or(body);
                    let body = match body.strip_prefix('\n') {
                        Some(seq) => dedent(seq),
                        None => body.to_owned(),
                    };
                    Ok(body.into_bytes())
                }
            }
        }
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

/// A value given to `sops set` as JSON: objects keep their key order, every number is a
/// `float` (sops parses it with Go's `encoding/json` into `float64`).
///
/// # Errors
/// [`PathError::Value`] when the text is not JSON (position only, never the text).
pub fn value_from_json(text: &str) -> Result<Value, PathError> {
    let v: serde_json::Value = serde_json::from_str(text).map_err(|e| PathError::Value {
        line: e.line(),
        column: e.column(),
    })?;
    fn conv(v: serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Scalar(Scalar::Null),
            serde_json::Value::Bool(b) => Value::Scalar(Scalar::Bool(b)),
            serde_json::Value::Number(n) => {
                Value::Scalar(Scalar::Float(n.as_f64().unwrap_or(f64::NAN)))
            }
            serde_json::Value::String(s) => Value::str(s),
            serde_json::Value::Array(a) => Value::List(a.into_iter().map(conv).collect()),
            serde_json::Value::Object(m) => Value::Map(
                m.into_iter()
                    .map(|(k, v)| Item::Entry(k, conv(v)))
                    .collect(),
            ),
        }
    }
    Ok(conv(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse(r#"["a"][0]['b c']"#).unwrap(),
            [
                PathStep::Key("a".into()),
                PathStep::Index(0),
                PathStep::Key("b c".into())
            ]
        );
        assert!(matches!(parse(r#"["a""#), Err(PathError::Syntax { .. })));
        assert!(matches!(parse("a"), Err(PathError::Syntax { position: 0 })));
    }

    #[test]
    fn extract_set_unset() {
        let mut tree =
            stores::load(b"a:\n    b: 1\nl:\n    - x\n    - y: z\n", Format::Yaml).unwrap();
        assert!(
            extract(&tree, &parse(r#"["l"][1]["y"]"#).unwrap())
                .unwrap()
                .as_str()
                == Some("z")
        );
        assert!(matches!(
            extract(&tree, &parse(r#"["nope"]"#).unwrap()),
            Err(PathError::NotFound { .. })
        ));
        assert!(
            set(
                &mut tree,
                &parse(r#"["a"]["c"]["d"]"#).unwrap(),
                value_from_json("2").unwrap()
            )
            .unwrap()
        );
        assert!(
            !set(
                &mut tree,
                &parse(r#"["a"]["c"]["d"]"#).unwrap(),
                value_from_json("2").unwrap()
            )
            .unwrap()
        );
        assert!(set(&mut tree, &parse(r#"["l"][5]"#).unwrap(), Value::str("w")).unwrap());
        unset(&mut tree, &parse(r#"["l"][0]"#).unwrap()).unwrap();
        assert!(unset(&mut tree, &parse(r#"["zz"]"#).unwrap()).is_err());
        let out = stores::emit(&tree, Format::Yaml, &Default::default()).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a:\n    b: 1\n    c:\n        d: 2\nl:\n    - \"y\": z\n    - w\n"
        );
    }

    #[test]
    fn extracted_output_like_sops() {
        let tree = stores::load(
            b"s: text\nn: 3\nm:\n    k: v\nl:\n    - a\n    - 1\n",
            Format::Yaml,
        )
        .unwrap();
        let get = |p: &str, f: Format| {
            let v = extract(&tree, &parse(p).unwrap()).unwrap();
            String::from_utf8(emit_extracted(v, f, &Default::default()).unwrap()).unwrap()
        };
        assert_eq!(get(r#"["s"]"#, Format::Yaml), "text");
        assert_eq!(get(r#"["n"]"#, Format::Yaml), "3\n");
        assert_eq!(get(r#"["n"]"#, Format::Json), "3");
        assert_eq!(get(r#"["m"]"#, Format::Yaml), "k: v\n");
        assert_eq!(get(r#"["m"]"#, Format::Json), "{\n\t\"k\": \"v\"\n}\n");
        assert_eq!(get(r#"["l"]"#, Format::Yaml), "- a\n- 1\n");
        // As `sops decrypt --extract` prints them (checked with sops 3.13.3).
        assert_eq!(get(r#"["l"]"#, Format::Json), "[\n\t\"a\",\n\t1\n]");
    }
}

//! The TOML store, Lockstep's own (sops has none): tables are mappings, arrays lists,
//! inline tables mappings (written back as tables where that keeps the order), integers,
//! floats and booleans keep their types, and a datetime is kept as its text. Comments above a key or a table
//! header, and at the end of the file, are kept (and encrypted like YAML comments); a
//! comment at the end of a line, or inside an array or inline table, is not. Written back with nested mappings as
//! `[table]` headers, lists of mappings as `[[array]]` tables, and the metadata as the
//! `[sops]` table.

use toml_edit::{
    Array, ArrayOfTables, Datetime, DocumentMut, InlineTable, Item as TomlItem, Table,
    Value as TomlValue,
};

use crate::error::{EmitError, LoadError};
use crate::stores::Format;
use crate::tree::{Comment, Item, Scalar, Tree, Value};

/// Parses a TOML document into one branch.
///
/// # Errors
/// [`LoadError::Syntax`] with the line and column of the error (never the text),
/// [`LoadError::Limit`] for nesting deeper than [`lockstep_limits::LIMITS`] allows.
pub fn load(text: &str) -> Result<Tree, LoadError> {
    if let Some(at) = too_deep(text, lockstep_limits::LIMITS.max_depth) {
        let (line, column) = position(text, at);
        return Err(LoadError::Limit {
            format: Format::Toml,
            line,
            column,
            exceeded: lockstep_limits::Exceeded::Depth,
        });
    }
    let doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let (line, column) = position(text, e.span().map_or(0, |s| s.start));
        LoadError::Syntax {
            format: Format::Toml,
            line,
            column,
            // toml_edit's message names what it expected; its Display would quote the
            // line, which may hold a value.
            reason: e
                .message()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_owned(),
        }
    })?;
    let mut items = from_table(doc.as_table());
    if let Some(trailing) = doc.trailing().as_str() {
        items.extend(comments(trailing));
    }
    Ok(Tree {
        branches: vec![items],
    })
}

/// Writes `tree` (its first branch) as TOML, then `extra` (the `sops` table).
///
/// # Errors
/// [`EmitError::Unrepresentable`] for what TOML has no form for: `null`, a comment inside
/// a list, text that is not UTF-8.
pub fn emit(tree: &Tree, extra: &[Item]) -> Result<String, EmitError> {
    let mut doc = DocumentMut::new();
    let items = tree.branches.first().map_or(&[][..], Vec::as_slice);
    let left = fill(doc.as_table_mut(), items.iter().chain(extra), "")?;
    if !left.is_empty() {
        doc.set_trailing(format!("\n{left}"));
    }
    // A table first in the file has no blank line to set it apart from.
    Ok(doc.to_string().trim_start_matches('\n').to_owned())
}

/// The byte offset where `text` first nests brackets and braces deeper than `limit`,
/// outside strings and comments.
fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'"' | b'\'') => {
                let triple = bytes[i..].starts_with(&[quote; 3]);
                let close: &[u8] = if triple {
                    &bytes[i..i + 3]
                } else {
                    &bytes[i..=i]
                };
                i += close.len();
                while i < bytes.len() && !bytes[i..].starts_with(close) {
                    if quote == b'"' && bytes[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += close.len() - 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    None
}

/// 1-based line and column of byte `offset`.
fn position(text: &str, offset: usize) -> (usize, usize) {
    let before = &text.as_bytes()[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.len()
        - before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
    (line, column + 1)
}

/// The comment lines of a decor prefix, each as a comment item (the text after `#`).
fn comments(decor: &str) -> impl Iterator<Item = Item> + '_ {
    decor
        .lines()
        .map(str::trim_start)
        .filter_map(|line| line.strip_prefix('#'))
        .map(|text| Item::Comment(Comment::new(text)))
}

fn from_table(table: &Table) -> Vec<Item> {
    let mut items = Vec::new();
    for (key, item) in table.iter() {
        let decor = match item {
            TomlItem::Table(t) => t.decor().prefix(),
            TomlItem::ArrayOfTables(a) => a.get(0).and_then(|t| t.decor().prefix()),
            _ => table.key(key).and_then(|k| k.leaf_decor().prefix()),
        };
        items.extend(
            decor
                .and_then(|d| d.as_str())
                .into_iter()
                .flat_map(comments),
        );
        let value = match item {
            TomlItem::None => continue,
            TomlItem::Value(v) => from_value(v),
            TomlItem::Table(t) => Value::Map(from_table(t)),
            TomlItem::ArrayOfTables(a) => {
                Value::List(a.iter().map(|t| Value::Map(from_table(t))).collect())
            }
        };
        items.push(Item::Entry(key.to_owned(), value));
    }
    items
}

fn from_value(value: &TomlValue) -> Value {
    Value::Scalar(match value {
        TomlValue::String(s) => Scalar::Str(s.value().as_bytes().to_vec()),
        TomlValue::Integer(i) => Scalar::Int(*i.value()),
        TomlValue::Float(f) => Scalar::Float(*f.value()),
        TomlValue::Boolean(b) => Scalar::Bool(*b.value()),
        TomlValue::Datetime(d) => Scalar::Time(d.value().to_string()),
        TomlValue::Array(a) => return Value::List(a.iter().map(from_value).collect()),
        TomlValue::InlineTable(t) => {
            return Value::Map(
                t.iter()
                    .map(|(k, v)| Item::Entry(k.to_owned(), from_value(v)))
                    .collect(),
            );
        }
    })
}

/// Whether `value` can be written as a `[table]` or `[[array]]` of tables.
fn is_table(value: &Value) -> bool {
    match value {
        Value::Map(_) => true,
        Value::List(list) => !list.is_empty() && list.iter().all(|v| matches!(v, Value::Map(_))),
        _ => false,
    }
}

/// Adds `items` to `table` (at key path `path`); returns the comments after its last
/// entry, which belong before whatever the file holds next.
///
/// The entries keep their order when read back, which the MAC depends on: a table can
/// only follow every `key = value` of its parent, so a mapping with a plain value after
/// it is written inline (`point = { x = 1 }`), and only the mappings after the last
/// plain value become `[tables]`.
fn fill<'a>(
    table: &mut Table,
    items: impl Iterator<Item = &'a Item>,
    path: &str,
) -> Result<String, EmitError> {
    let items: Vec<&Item> = items.collect();
    let tables_from = items
        .iter()
        .rposition(|item| matches!(item, Item::Entry(_, v) if !is_table(v)))
        .map_or(0, |last_plain| last_plain + 1);
    let mut pending = String::new();
    for (index, item) in items.into_iter().enumerate() {
        let (key, value) = match item {
            Item::Comment(c) => {
                pending.push_str(&format!("#{}\n", c.text));
                continue;
            }
            Item::Entry(key, value) => (key, value),
        };
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}:{key}")
        };
        let prefix = std::mem::take(&mut pending);
        match value {
            Value::Map(entries) if index >= tables_from => {
                let mut sub = Table::new();
                pending = fill(&mut sub, entries.iter(), &here)?;
                sub.decor_mut().set_prefix(format!("\n{prefix}"));
                table.insert(key, TomlItem::Table(sub));
            }
            Value::List(list) if index >= tables_from && is_table(value) => {
                let mut tables = ArrayOfTables::new();
                for (n, element) in list.iter().enumerate() {
                    let Value::Map(entries) = element else {
                        unreachable!("every element is a mapping")
                    };
                    let mut sub = Table::new();
                    let before = std::mem::take(&mut pending);
                    pending = fill(&mut sub, entries.iter(), &format!("{here}:{n}"))?;
                    let before = if n == 0 {
                        format!("{prefix}{before}")
                    } else {
                        before
                    };
                    sub.decor_mut().set_prefix(format!("\n{before}"));
                    tables.push(sub);
                }
                table.insert(key, TomlItem::ArrayOfTables(tables));
            }
            other => {
                table.insert(key, TomlItem::Value(to_value(other, &here)?));
                if let Some(mut written) = table.key_mut(key) {
                    written.leaf_decor_mut().set_prefix(prefix);
                }
            }
        }
    }
    Ok(pending)
}

/// One value as TOML writes it after `key = ` (what `--extract` prints of it).
///
/// # Errors
/// As [`emit`], for what TOML cannot hold.
pub(crate) fn value_text(value: &Value, path: &str) -> Result<String, EmitError> {
    Ok(to_value(value, path)?.to_string().trim().to_owned())
}

fn to_value(value: &Value, path: &str) -> Result<TomlValue, EmitError> {
    let cannot = |what| EmitError::Unrepresentable {
        format: Format::Toml,
        path: path.to_owned(),
        what,
    };
    Ok(match value {
        Value::Scalar(Scalar::Null) => return Err(cannot("null, which TOML has no value for")),
        Value::Scalar(Scalar::Str(bytes)) => std::str::from_utf8(bytes)
            .map_err(|_| cannot("text that is not UTF-8"))?
            .into(),
        Value::Scalar(Scalar::Int(i)) => (*i).into(),
        Value::Scalar(Scalar::Float(f)) => (*f).into(),
        Value::Scalar(Scalar::Bool(b)) => (*b).into(),
        Value::Scalar(Scalar::Time(text)) => match text.parse::<Datetime>() {
            Ok(datetime) => datetime.into(),
            Err(_) => text.as_str().into(),
        },
        Value::Comment(_) => return Err(cannot("a comment inside a list")),
        Value::List(list) => {
            let mut array = Array::new();
            for (n, element) in list.iter().enumerate() {
                array.push(to_value(element, &format!("{path}:{n}"))?);
            }
            TomlValue::Array(array)
        }
        Value::Map(items) => {
            let mut inline = InlineTable::new();
            for item in items {
                match item {
                    Item::Entry(key, value) => {
                        let value = to_value(value, &format!("{path}:{key}"))?;
                        inline.insert(key, value);
                    }
                    Item::Comment(_) => return Err(cannot("a comment inside an inline table")),
                }
            }
            TomlValue::InlineTable(inline)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"# The service's settings.
title = "demo"
port = 8080
ratio = 0.5
debug = false
started = 1979-05-27T07:32:00Z
tags = ["a", "b"]

# The database.
[database]
user = "admin"
password = "hunter2"

[database.replica]
host = "db-2"

# One per upstream.
[[upstream]]
name = "one"

[[upstream]]
name = "two"

# The end.
"#;

    #[test]
    fn a_file_round_trips_with_its_comments_and_types() {
        let tree = load(FILE).unwrap();
        let items = &tree.branches[0];
        assert!(matches!(&items[0], Item::Comment(c) if c.text == " The service's settings."));
        let get = |key: &str| crate::tree::get(items, key);
        assert!(matches!(
            get("port"),
            Some(Value::Scalar(Scalar::Int(8080)))
        ));
        assert!(matches!(
            get("debug"),
            Some(Value::Scalar(Scalar::Bool(false)))
        ));
        assert!(
            matches!(get("started"), Some(Value::Scalar(Scalar::Time(t))) if t == "1979-05-27T07:32:00Z")
        );
        let written = emit(&tree, &[]).unwrap();
        assert_eq!(written, FILE);
        assert_eq!(emit(&load(&written).unwrap(), &[]).unwrap(), FILE);
    }

    /// An inline table is a mapping like any other: written back as a table when nothing
    /// plain follows it, else inline, so every entry reads back in its place (the MAC is
    /// over the entries in order).
    #[test]
    fn inline_tables_keep_their_place() {
        let tree = load("point = { x = 1 }\nlist = [{ a = true }]\n").unwrap();
        assert_eq!(
            emit(&tree, &[]).unwrap(),
            "[point]\nx = 1\n\n[[list]]\na = true\n"
        );
        let text = "a = 1\npoint = { x = 1 }\nlist = [{ a = true }]\nb = 2\n\n[t]\nc = 3\n";
        assert_eq!(emit(&load(text).unwrap(), &[]).unwrap(), text);
    }

    #[test]
    fn what_toml_cannot_hold_is_refused_naming_the_path() {
        let tree = Tree {
            branches: vec![vec![Item::Entry(
                "a".into(),
                Value::Map(vec![Item::Entry("b".into(), Value::Scalar(Scalar::Null))]),
            )]],
        };
        let err = emit(&tree, &[]).unwrap_err().to_string();
        assert!(err.contains("a:b") && err.contains("null"), "{err}");
    }

    #[test]
    fn errors_name_the_place_never_the_text() {
        let err = load("a = 1\nsecret = hunter2-canary\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let deep = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
        let err = load(&deep).unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        // Brackets inside strings and comments are not nesting.
        let text = format!("a = \"{}\" # {}\n", "[".repeat(10_000), "{".repeat(10_000));
        assert!(load(&text).is_ok());
    }
}

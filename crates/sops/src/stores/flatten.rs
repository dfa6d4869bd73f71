//! The flat metadata layout of the dotenv and INI stores: nested keys joined with
//! `__map_<key>` and `__list_<index>` (`age__list_0__map_enc`).

use std::collections::BTreeMap;

use crate::tree::{Item, Scalar, Value};

/// Flattens a metadata mapping into `(key, text)` pairs in its own order (sops 3.13 sorts
/// each level before flattening; the mapping is already sorted). Nulls are skipped.
pub fn flatten(items: &[Item]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in items {
        if let Item::Entry(k, v) = item {
            walk(&mut out, k.clone(), v);
        }
    }
    out
}

fn walk(out: &mut Vec<(String, String)>, prefix: String, v: &Value) {
    match v {
        Value::Map(items) => {
            for item in items {
                if let Item::Entry(k, v) = item {
                    walk(out, format!("{prefix}__map_{k}"), v);
                }
            }
        }
        Value::List(values) => {
            for (i, v) in values.iter().enumerate() {
                walk(out, format!("{prefix}__list_{i}"), v);
            }
        }
        Value::Comment(_) | Value::Scalar(Scalar::Null) => {}
        Value::Scalar(s) => {
            let text = match s {
                Scalar::Str(b) => String::from_utf8_lossy(b).into_owned(),
                Scalar::Int(i) => i.to_string(),
                Scalar::Float(f) => crate::gofmt::float_plain(*f),
                Scalar::Bool(b) => b.to_string(),
                Scalar::Time(t) => t.clone(),
                Scalar::Null => String::new(),
            };
            out.push((prefix, text));
        }
    }
}

enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    List(BTreeMap<usize, Node>),
}

enum Step {
    Key(String),
    Index(usize),
}

fn steps(key: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let mut rest = key;
    let first_end = [rest.find("__map_"), rest.find("__list_")]
        .into_iter()
        .flatten()
        .min();
    let (head, tail) = rest.split_at(first_end.unwrap_or(rest.len()));
    out.push(Step::Key(head.to_owned()));
    rest = tail;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("__list_") {
            let end = r.find("__").unwrap_or(r.len());
            out.push(Step::Index(r[..end].parse().ok()?));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix("__map_") {
            let end = [r.find("__map_"), r.find("__list_")]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or(r.len());
            out.push(Step::Key(r[..end].to_owned()));
            rest = &r[end..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn insert(node: &mut Node, steps: &[Step], value: String) -> Option<()> {
    let Some((first, rest)) = steps.split_first() else {
        *node = Node::Leaf(value);
        return Some(());
    };
    match first {
        Step::Key(k) => {
            if !matches!(node, Node::Map(_)) {
                *node = Node::Map(Vec::new());
            }
            let Node::Map(entries) = node else {
                return None;
            };
            let pos = match entries.iter().position(|(ek, _)| ek == k) {
                Some(p) => p,
                None => {
                    entries.push((k.clone(), Node::Leaf(String::new())));
                    entries.len() - 1
                }
            };
            insert(&mut entries[pos].1, rest, value)
        }
        Step::Index(i) => {
            if !matches!(node, Node::List(_)) {
                *node = Node::List(BTreeMap::new());
            }
            let Node::List(entries) = node else {
                return None;
            };
            insert(
                entries.entry(*i).or_insert(Node::Leaf(String::new())),
                rest,
                value,
            )
        }
    }
}

fn to_value(node: Node) -> Value {
    match node {
        Node::Leaf(s) => Value::str(s),
        Node::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, n)| Item::Entry(k, to_value(n)))
                .collect(),
        ),
        Node::List(entries) => Value::List(entries.into_values().map(to_value).collect()),
    }
}

/// Rebuilds the nested metadata mapping from flat `(key, text)` pairs in any order.
/// Returns the key that cannot be parsed, on error.
pub fn unflatten(pairs: Vec<(String, String)>) -> Result<Vec<Item>, String> {
    let mut root = Node::Map(Vec::new());
    for (key, value) in pairs {
        let Some(steps) = steps(&key) else {
            return Err(key);
        };
        insert(&mut root, &steps, value).ok_or(key)?;
    }
    match to_value(root) {
        Value::Map(items) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

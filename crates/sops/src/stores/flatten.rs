//! The flat metadata layout of the dotenv and INI stores: nested keys joined with
//! `__map_<key>` and `__list_<index>` (`age__list_0__map_enc`).

use std::collections::{BTreeMap, HashMap};

use lockstep_limits::LIMITS;

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
    /// Entries in their order, and where each key is (so that wide levels stay linear).
    Map(Vec<(String, Node)>, HashMap<String, usize>),
    List(BTreeMap<usize, Node>),
}

enum Step {
    Key(String),
    Index(usize),
}

/// Why a flat key cannot be read back.
pub enum Unflatten {
    /// The key is malformed (a `__list_` step that is not a number, an unknown `__` step).
    Malformed(String),
    /// The key nests deeper than [`LIMITS`]`.max_depth`.
    TooDeep(String),
}

/// The steps of a flat key, split at each `__map_` / `__list_` in one pass.
fn steps(key: &str) -> Result<Vec<Step>, Unflatten> {
    let malformed = || Unflatten::Malformed(key.to_owned());
    // Byte offsets of the separators, in order.
    let mut cuts = Vec::new();
    let mut from = 0;
    while let Some(at) = key[from..].find("__") {
        let at = from + at;
        if key[at..].starts_with("__map_") || key[at..].starts_with("__list_") {
            cuts.push(at);
            if cuts.len() > LIMITS.max_depth {
                return Err(Unflatten::TooDeep(key.to_owned()));
            }
            from = at + 2;
        } else {
            from = at + 1;
        }
    }
    let first_end = cuts.first().copied().unwrap_or(key.len());
    let mut out = vec![Step::Key(key[..first_end].to_owned())];
    for (n, &at) in cuts.iter().enumerate() {
        let end = cuts.get(n + 1).copied().unwrap_or(key.len());
        let part = &key[at..end];
        if let Some(k) = part.strip_prefix("__map_") {
            out.push(Step::Key(k.to_owned()));
        } else if let Some(i) = part.strip_prefix("__list_") {
            // `__list_3__x`: anything after the index is malformed.
            out.push(Step::Index(i.parse().map_err(|_| malformed())?));
        }
    }
    Ok(out)
}

fn insert(node: &mut Node, steps: &[Step], value: String) -> Option<()> {
    let Some((first, rest)) = steps.split_first() else {
        *node = Node::Leaf(value);
        return Some(());
    };
    match first {
        Step::Key(k) => {
            if !matches!(node, Node::Map(..)) {
                *node = Node::Map(Vec::new(), HashMap::new());
            }
            let Node::Map(entries, index) = node else {
                return None;
            };
            let pos = *index.entry(k.clone()).or_insert_with(|| {
                entries.push((k.clone(), Node::Leaf(String::new())));
                entries.len() - 1
            });
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
        Node::Map(entries, _) => Value::Map(
            entries
                .into_iter()
                .map(|(k, n)| Item::Entry(k, to_value(n)))
                .collect(),
        ),
        Node::List(entries) => Value::List(entries.into_values().map(to_value).collect()),
    }
}

/// Rebuilds the nested metadata mapping from flat `(key, text)` pairs in any order.
///
/// # Errors
/// [`Unflatten`] with the key that cannot be read back. Time is linear in the input and
/// nesting is limited, so hostile metadata (100,000 keys, or one key of 100,000 steps)
/// costs no more than reading it.
pub fn unflatten(pairs: Vec<(String, String)>) -> Result<Vec<Item>, Unflatten> {
    let mut root = Node::Map(Vec::new(), HashMap::new());
    for (key, value) in pairs {
        let steps = steps(&key)?;
        insert(&mut root, &steps, value).ok_or(Unflatten::Malformed(key))?;
    }
    match to_value(root) {
        Value::Map(items) => Ok(items),
        _ => Ok(Vec::new()),
    }
}

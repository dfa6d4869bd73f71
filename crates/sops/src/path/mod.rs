//! Tree paths as sops' `--extract`, `set` and `unset` take them (`["data"]["password"]`,
//! `['list'][0]`), and the three operations on the first document, with sops' meaning
//! (`TreeBranch.Truncate`, `Set` and `Unset` in sops' `sops.go`):
//!
//! - a list index counts the comments of the list: sops keeps a comment as a list item,
//!   so in `[# c, a, b]` index 1 is `a`;
//! - `set` past the end of a list appends, creates missing keys, and replaces a scalar on
//!   the way by the mappings and lists the rest of the path needs;
//! - `unset` of a missing key or index is [`PathError::NotFound`] (which
//!   `unset --idempotent` accepts), of a key below a scalar [`PathError::Mismatch`].
//!
//! Where sops panics or prints its own Go structs (a key applied to a list, the path of a
//! comment, an index into a mapping), these functions return an error instead.
//! [`value`] turns `set`'s JSON into a value and prints what `--extract` found.

pub mod value;

use std::fmt;

use crate::error::PathError;
use crate::tree::{Item, Value};

pub use value::{emit_extracted, value_from_json};

/// One step of a tree path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A list index (comments of the list count).
    Index(usize),
}

/// The step as written in a path: `["key"]` or `[3]`.
impl fmt::Display for PathStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathStep::Key(k) => write!(f, "[{k:?}]"),
            PathStep::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// Parses `["a"][0]['b']`.
///
/// # Errors
/// [`PathError::Syntax`] with the byte position of the problem (an empty path is one).
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
    if steps.is_empty() {
        return Err(err(0));
    }
    Ok(steps)
}

/// What a value is, for [`PathError::Mismatch`].
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Map(_) => "a mapping",
        Value::List(_) => "a list",
        Value::Comment(_) => "a comment",
        Value::Scalar(_) => "a scalar",
    }
}

fn not_found(step: &PathStep) -> PathError {
    PathError::NotFound {
        step: step.to_string(),
    }
}

fn mismatch(step: &PathStep, found: &'static str) -> PathError {
    PathError::Mismatch {
        step: step.to_string(),
        found,
    }
}

/// The entry `step` names in a mapping's items: a key must be there; an index never is.
fn entry<'a>(items: &'a [Item], step: &PathStep) -> Result<&'a Value, PathError> {
    match step {
        PathStep::Key(k) => crate::tree::get(items, k).ok_or_else(|| not_found(step)),
        PathStep::Index(_) => Err(not_found(step)),
    }
}

/// The value at `path` in the first document (`--extract`).
///
/// # Errors
/// [`PathError::NotFound`] naming the first missing step, [`PathError::Mismatch`] for a
/// key applied to a list or any step to a scalar, [`PathError::Comment`] when the path
/// ends at a comment.
pub fn extract<'a>(tree: &'a crate::tree::Tree, path: &[PathStep]) -> Result<&'a Value, PathError> {
    let items: &[Item] = tree.branches.first().map(Vec::as_slice).unwrap_or_default();
    let (first, rest) = path
        .split_first()
        .ok_or(PathError::Syntax { position: 0 })?;
    let mut current = entry(items, first)?;
    for step in rest {
        current = match (current, step) {
            (Value::Map(items), _) => entry(items, step)?,
            (Value::List(list), PathStep::Index(i)) => {
                list.get(*i).ok_or_else(|| not_found(step))?
            }
            (other, _) => return Err(mismatch(step, kind(other))),
        };
    }
    if matches!(current, Value::Comment(_)) {
        let last = path.last().map(ToString::to_string).unwrap_or_default();
        return Err(PathError::Comment { step: last });
    }
    Ok(current)
}

/// The value `rest` of a path creates around `leaf` (sops' `valueFromPathAndLeaf`).
fn from_path(path: &[PathStep], leaf: Value) -> Value {
    match path.split_first() {
        None => leaf,
        Some((PathStep::Key(k), rest)) => {
            Value::Map(vec![Item::Entry(k.clone(), from_path(rest, leaf))])
        }
        Some((PathStep::Index(_), rest)) => Value::List(vec![from_path(rest, leaf)]),
    }
}

/// Sets the value at `path` in the first document, creating what is missing (`sops set`).
/// Returns whether anything changed (for `--idempotent`).
///
/// # Errors
/// [`PathError::Mismatch`] for an index into a mapping (the document included) or a key
/// into a list, which sops ignores or panics on.
pub fn set(
    tree: &mut crate::tree::Tree,
    path: &[PathStep],
    leaf: Value,
) -> Result<bool, PathError> {
    if tree.branches.is_empty() {
        tree.branches.push(Vec::new());
    }
    set_in_items(&mut tree.branches[0], path, leaf)
}

fn set_in_items(items: &mut Vec<Item>, path: &[PathStep], leaf: Value) -> Result<bool, PathError> {
    let (step, rest) = path
        .split_first()
        .ok_or(PathError::Syntax { position: 0 })?;
    let PathStep::Key(k) = step else {
        return Err(mismatch(step, "a mapping"));
    };
    for item in items.iter_mut() {
        if let Item::Entry(key, v) = item
            && key == k
        {
            if rest.is_empty() {
                let changed = *v != leaf;
                *v = leaf;
                return Ok(changed);
            }
            return set_in_value(v, rest, leaf);
        }
    }
    items.push(Item::Entry(k.clone(), from_path(rest, leaf)));
    Ok(true)
}

fn set_in_value(v: &mut Value, path: &[PathStep], leaf: Value) -> Result<bool, PathError> {
    let step = &path[0];
    match (v, step) {
        (Value::Map(items), _) => set_in_items(items, path, leaf),
        (Value::List(list), PathStep::Index(i)) => {
            let rest = &path[1..];
            if *i >= list.len() {
                list.push(from_path(rest, leaf));
                return Ok(true);
            }
            if rest.is_empty() {
                let changed = list[*i] != leaf;
                list[*i] = leaf;
                Ok(changed)
            } else {
                set_in_value(&mut list[*i], rest, leaf)
            }
        }
        (Value::List(_), PathStep::Key(_)) => Err(mismatch(step, "a list")),
        (v, _) => {
            *v = from_path(path, leaf);
            Ok(true)
        }
    }
}

/// Removes the value at `path` from the first document (`sops unset`).
///
/// # Errors
/// [`PathError::NotFound`] naming the missing step; [`PathError::Mismatch`] for a step
/// below a scalar or a key into a list.
pub fn unset(tree: &mut crate::tree::Tree, path: &[PathStep]) -> Result<(), PathError> {
    let first = path.first().ok_or(PathError::Syntax { position: 0 })?;
    let branch = tree.branches.first_mut().ok_or_else(|| not_found(first))?;
    unset_in_items(branch, path)
}

fn unset_in_items(items: &mut Vec<Item>, path: &[PathStep]) -> Result<(), PathError> {
    let (step, rest) = path
        .split_first()
        .ok_or(PathError::Syntax { position: 0 })?;
    let PathStep::Key(k) = step else {
        return Err(not_found(step));
    };
    let pos = items
        .iter()
        .position(|i| matches!(i, Item::Entry(key, _) if key == k))
        .ok_or_else(|| not_found(step))?;
    if rest.is_empty() {
        items.remove(pos);
        return Ok(());
    }
    match &mut items[pos] {
        Item::Entry(_, v) => unset_in_value(v, rest),
        Item::Comment(_) => Err(not_found(step)),
    }
}

fn unset_in_value(v: &mut Value, path: &[PathStep]) -> Result<(), PathError> {
    let step = &path[0];
    match (v, step) {
        (Value::Map(items), _) => unset_in_items(items, path),
        (Value::List(list), PathStep::Index(i)) => {
            if *i >= list.len() {
                return Err(not_found(step));
            }
            if path.len() == 1 {
                list.remove(*i);
                Ok(())
            } else {
                unset_in_value(&mut list[*i], &path[1..])
            }
        }
        (v, _) => Err(mismatch(step, kind(v))),
    }
}

#[cfg(test)]
mod tests;

//! Three-way merge of plaintext trees, for a Git merge driver: what changed on one side
//! only is taken, what changed the same way on both sides is taken once, and a value
//! changed differently on both sides is a [`Conflict`] named by its key path.
//!
//! Mappings merge key by key (recursively) and keep ours' order; a key only theirs has
//! is placed after the key it follows in theirs. Lists and scalars are merged whole: two
//! different changes to one list are a conflict, as a line-based merge of a list would
//! often silently interleave it wrongly. Comments follow ours in a mapping both sides
//! changed; a mapping or list taken from one side comes with its comments.

use std::fmt;

use crate::path::PathStep;
use crate::tree::{self, Item, Tree, Value, copy_items, copy_value};

/// A place changed differently on both sides: a document and a key path in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The document (0 for all formats but multi-document YAML).
    pub document: usize,
    /// The key path; empty when the documents themselves were added or removed.
    pub path: Vec<PathStep>,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.document > 0 {
            write!(f, "document {}: ", self.document + 1)?;
        }
        if self.path.is_empty() {
            return f.write_str("the list of documents");
        }
        self.path.iter().try_for_each(|s| write!(f, "{s}"))
    }
}

/// Merges `ours` and `theirs`, both changed from `base` (an empty tree when the file was
/// added on both sides). On conflicts, every conflicting path.
///
/// # Errors
/// The conflicts, in document and then ours' key order.
pub fn merge(base: &Tree, ours: &Tree, theirs: &Tree) -> Result<Tree, Vec<Conflict>> {
    if ours == theirs || theirs == base {
        return Ok(copy_tree(ours));
    }
    if ours == base {
        return Ok(copy_tree(theirs));
    }
    if ours.branches.len() != theirs.branches.len() {
        return Err(vec![Conflict {
            document: 0,
            path: Vec::new(),
        }]);
    }
    let mut conflicts = Vec::new();
    let branches = ours
        .branches
        .iter()
        .zip(&theirs.branches)
        .enumerate()
        .map(|(document, (a, b))| {
            let o = base.branches.get(document).map_or(&[][..], Vec::as_slice);
            let mut at = Place {
                document,
                path: Vec::new(),
                conflicts: &mut conflicts,
            };
            merge_items(&mut at, o, a, b)
        })
        .collect();
    if conflicts.is_empty() {
        Ok(Tree { branches })
    } else {
        Err(conflicts)
    }
}

fn copy_tree(tree: &Tree) -> Tree {
    Tree {
        branches: tree.branches.iter().map(|b| copy_items(b)).collect(),
    }
}

/// Where the merge is, and the conflicts found so far.
struct Place<'a> {
    document: usize,
    path: Vec<PathStep>,
    conflicts: &'a mut Vec<Conflict>,
}

impl Place<'_> {
    /// Merges the value at `key` of the three mappings; `None` when the result has no key.
    fn entry(&mut self, key: &str, o: &[Item], a: &[Item], b: &[Item]) -> Option<Value> {
        self.path.push(PathStep::Key(key.to_owned()));
        let merged = merge_value(
            self,
            tree::get(o, key),
            tree::get(a, key),
            tree::get(b, key),
        );
        self.path.pop();
        merged
    }
}

fn merge_value(
    at: &mut Place<'_>,
    o: Option<&Value>,
    a: Option<&Value>,
    b: Option<&Value>,
) -> Option<Value> {
    if a == b || b == o {
        return a.map(copy_value);
    }
    if a == o {
        return b.map(copy_value);
    }
    match (a, b) {
        (Some(Value::Map(a)), Some(Value::Map(b))) => {
            let o = match o {
                Some(Value::Map(o)) => o.as_slice(),
                _ => &[],
            };
            Some(Value::Map(merge_items(at, o, a, b)))
        }
        _ => {
            at.conflicts.push(Conflict {
                document: at.document,
                path: at.path.clone(),
            });
            a.map(copy_value)
        }
    }
}

fn merge_items(at: &mut Place<'_>, o: &[Item], a: &[Item], b: &[Item]) -> Vec<Item> {
    let mut out = Vec::new();
    for item in a {
        match item {
            Item::Comment(_) => out.extend(copy_items(std::slice::from_ref(item))),
            Item::Entry(k, _) => {
                if let Some(v) = at.entry(k, o, a, b) {
                    out.push(Item::Entry(k.clone(), v));
                }
            }
        }
    }
    // Keys theirs has and ours has not: added by theirs, or removed by ours.
    let mut after: Option<&str> = None;
    for item in b {
        let Item::Entry(k, _) = item else { continue };
        if tree::get(a, k).is_none()
            && let Some(v) = at.entry(k, o, a, b)
        {
            let place = after
                .and_then(|p| {
                    out.iter()
                        .position(|i| matches!(i, Item::Entry(x, _) if x == p))
                })
                .map_or(out.len(), |i| i + 1);
            out.insert(place, Item::Entry(k.clone(), v));
        }
        if out.iter().any(|i| matches!(i, Item::Entry(x, _) if x == k)) {
            after = Some(k);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{self, EmitOptions, Format};

    fn yaml(text: &str) -> Tree {
        stores::load(text.as_bytes(), Format::Yaml).unwrap()
    }

    fn text(tree: &Tree) -> String {
        String::from_utf8(stores::emit(tree, Format::Yaml, &EmitOptions::default()).unwrap())
            .unwrap()
    }

    #[test]
    fn takes_each_sides_changes_in_ours_order() {
        let base = yaml("a: 1\nb: 2\nc:\n    x: 1\n    w: 2\nl: [1, 2]\n");
        let ours = yaml("# top\na: 10\nb: 2\nc:\n    x: 5\n    w: 2\nl: [1, 2]\n");
        let theirs = yaml("a: 1\nnew: added\nb: 2\nc:\n    x: 1\n    w: 7\n    z: 9\n");
        let merged = merge(&base, &ours, &theirs).unwrap();
        assert_eq!(
            text(&merged),
            "# top\na: 10\nnew: added\nb: 2\nc:\n    x: 5\n    w: 7\n    z: 9\n"
        );
    }

    #[test]
    fn names_every_path_changed_differently() {
        let base = yaml("a: 1\nc:\n    x: 1\nl: [1]\nd: 4\n");
        let ours = yaml("a: 2\nc:\n    x: 2\nl: [1, 2]\nd: 5\n");
        let theirs = yaml("a: 3\nc:\n    x: 3\nl: [1, 3]\n");
        let conflicts = merge(&base, &ours, &theirs).unwrap_err();
        let shown: Vec<String> = conflicts.iter().map(ToString::to_string).collect();
        assert_eq!(shown, [r#"["a"]"#, r#"["c"]["x"]"#, r#"["l"]"#, r#"["d"]"#]);
    }

    #[test]
    fn same_change_on_both_sides_and_added_file() {
        let merged = merge(&Tree::default(), &yaml("a: 1\n"), &yaml("b: 2\n")).unwrap();
        assert_eq!(text(&merged), "a: 1\nb: 2\n");
        let merged = merge(&yaml("a: 1\n"), &yaml("a: 2\n"), &yaml("a: 2\n")).unwrap();
        assert_eq!(text(&merged), "a: 2\n");
    }
}

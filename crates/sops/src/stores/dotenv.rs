//! The dotenv store: `KEY=VALUE` lines and `#` comments, no quoting, `\n` escapes.

use crate::error::{EmitError, LoadError};
use crate::gofmt;
use crate::stores::Format;
use crate::tree::{Comment, Item, Scalar, Tree, Value};

/// Parses dotenv text as sops does: split on `\n`, blank lines dropped, `#` lines are
/// comments, everything else must hold a `=`; values turn `\n` escapes into newlines.
pub fn load(text: &str) -> Result<Tree, LoadError> {
    let mut items = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            items.push(Item::Comment(Comment::new(comment.to_owned())));
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(LoadError::Syntax {
                format: Format::Dotenv,
                line: n + 1,
                column: 1,
                reason: "line has no `=`".to_owned(),
            });
        };
        items.push(Item::Entry(
            key.to_owned(),
            Value::str(value.replace("\\n", "\n")),
        ));
    }
    Ok(Tree {
        branches: vec![items],
    })
}

/// Writes the first branch as dotenv lines, then the `extra` (metadata) lines.
pub fn emit(tree: &Tree, extra: &[Item]) -> Result<String, EmitError> {
    let mut out = String::new();
    let branch = tree.branches.first().map(Vec::as_slice).unwrap_or_default();
    for item in branch.iter().chain(extra) {
        match item {
            Item::Comment(c) => {
                out.push('#');
                out.push_str(&c.text);
            }
            Item::Entry(key, Value::Scalar(s)) => {
                out.push_str(key);
                out.push('=');
                out.push_str(&val_to_string(s).replace('\n', "\\n"));
            }
            Item::Entry(key, _) => {
                return Err(EmitError::Unrepresentable {
                    format: Format::Dotenv,
                    path: key.clone(),
                    what: "nested value",
                });
            }
        }
        out.push('\n');
    }
    Ok(out)
}

/// sops' `stores.ValToString`: how dotenv and INI write non-string scalars.
pub fn val_to_string(s: &Scalar) -> String {
    match s {
        Scalar::Null => String::new(),
        Scalar::Str(b) => String::from_utf8_lossy(b).into_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => gofmt::float_val_to_string(*f),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Time(t) => t.clone(),
    }
}

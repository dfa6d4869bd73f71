//! The INI store: sections of `key = value` strings, read the way go-ini reads them and
//! written the way go-ini's pretty format writes them (aligned `=`, a blank line between
//! sections, `"""` for multi-line values).

use crate::error::{EmitError, LoadError};
use crate::stores::Format;
use crate::stores::dotenv::val_to_string;
use crate::tree::{Comment, Item, Tree, Value};

fn syntax(line: usize, reason: &str) -> LoadError {
    LoadError::Syntax {
        format: Format::Ini,
        line,
        column: 1,
        reason: reason.to_owned(),
    }
}

fn strip_comment_char(c: &str) -> String {
    c.trim_start_matches([';', '#', ' ']).to_owned()
}

/// Parses INI text: the implicit `DEFAULT` section first (as go-ini lists it), then every
/// section in order; each is a mapping of strings. A comment above a section becomes the
/// section's first item; a comment above a key becomes an item right after that key.
pub fn load(text: &str) -> Result<Tree, LoadError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut sections: Vec<(String, Vec<Item>)> = vec![("DEFAULT".to_owned(), Vec::new())];
    let mut pending: Vec<String> = Vec::new();
    let mut n = 0;
    while n < lines.len() {
        let line = lines[n].trim();
        n += 1;
        if line.is_empty() {
            continue;
        }
        if line.starts_with(['#', ';']) {
            pending.push(strip_comment_char(line));
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            let Some(name) = rest.strip_suffix(']') else {
                return Err(syntax(n, "unclosed section header"));
            };
            let mut items = Vec::new();
            if !pending.is_empty() {
                items.push(Item::Comment(Comment::new(pending.join("\n"))));
                pending.clear();
            }
            sections.push((name.trim().to_owned(), items));
            continue;
        }
        let Some(pos) = line.find(['=', ':']) else {
            return Err(syntax(n, "key-value delimiter not found"));
        };
        let key = unquote(line[..pos].trim());
        let raw = line[pos + 1..].trim_start();
        let value = if let Some(rest) = raw.strip_prefix("\"\"\"") {
            // Multi-line value up to the closing `"""`.
            let mut text = String::new();
            let mut cur = rest.to_owned();
            loop {
                if let Some(end) = cur.find("\"\"\"") {
                    text.push_str(&cur[..end]);
                    break;
                }
                text.push_str(&cur);
                if n >= lines.len() {
                    return Err(syntax(n, "unclosed \"\"\" value"));
                }
                text.push('\n');
                cur = lines[n].to_owned();
                n += 1;
            }
            text
        } else if let Some(rest) = raw.strip_prefix('`') {
            match rest.find('`') {
                Some(end) => rest[..end].to_owned(),
                None => return Err(syntax(n, "unclosed ` value")),
            }
        } else {
            let mut v = raw;
            if let Some(i) = v.find(['#', ';']) {
                v = v[..i].trim();
            }
            let v = v.trim();
            let quoted = v.len() >= 2
                && ((v.starts_with('"') && v.ends_with('"'))
                    || (v.starts_with('\'') && v.ends_with('\'')));
            if quoted {
                v[1..v.len() - 1].to_owned()
            } else {
                v.to_owned()
            }
        };
        let section = &mut sections
            .last_mut()
            .expect("DEFAULT section is always there")
            .1;
        section.push(Item::Entry(key, Value::str(value)));
        if !pending.is_empty() {
            section.push(Item::Comment(Comment::new(pending.join("\n"))));
            pending.clear();
        }
    }
    let branch = sections
        .into_iter()
        .map(|(name, items)| Item::Entry(name, Value::Map(items)))
        .collect();
    Ok(Tree {
        branches: vec![branch],
    })
}

fn unquote(key: &str) -> String {
    for q in ["\"\"\"", "`", "\""] {
        if key.len() >= 2 * q.len() && key.starts_with(q) && key.ends_with(q) {
            return key[q.len()..key.len() - q.len()].to_owned();
        }
    }
    key.to_owned()
}

/// Writes every section of the first branch, then the `extra` sections (metadata); every
/// top-level value must be a mapping.
pub fn emit(tree: &Tree, extra: &[Item]) -> Result<String, EmitError> {
    let mut out = String::new();
    let branch = tree.branches.first().map(Vec::as_slice).unwrap_or_default();
    let mut first = true;
    for item in branch.iter().chain(extra) {
        let Item::Entry(name, value) = item else {
            continue;
        };
        let Value::Map(items) = value else {
            return Err(EmitError::Unrepresentable {
                format: Format::Ini,
                path: name.clone(),
                what: "top-level value that is not a section",
            });
        };
        let (section_comment, rest) = match items.first() {
            Some(Item::Comment(c)) => (Some(c), &items[1..]),
            _ => (None, &items[..]),
        };
        // Keys with their comments: a comment item attaches to the key before it.
        let mut keys: Vec<(String, String, Option<&str>)> = Vec::new();
        for it in rest {
            match it {
                Item::Entry(k, Value::Scalar(s)) => keys.push((k.clone(), val_to_string(s), None)),
                Item::Entry(k, _) => {
                    return Err(EmitError::Unrepresentable {
                        format: Format::Ini,
                        path: format!("{name}:{k}"),
                        what: "nested value",
                    });
                }
                Item::Comment(c) => {
                    if let Some(last) = keys.last_mut() {
                        last.2 = Some(&c.text);
                    }
                }
            }
        }
        let is_default = first && name.eq_ignore_ascii_case("DEFAULT");
        first = false;
        if !out.is_empty() {
            // go-ini (sops 3.13) puts a blank line between sections, none after the last.
            out.push('\n');
        }
        if let Some(c) = section_comment {
            write_comment(&mut out, &c.text);
        }
        if is_default {
            if keys.is_empty() {
                continue;
            }
        } else {
            out.push('[');
            out.push_str(name);
            out.push_str("]\n");
        }
        let names: Vec<String> = keys.iter().map(|(k, ..)| key_name(k)).collect();
        let align = keys
            .iter()
            .map(|(k, ..)| {
                k.len()
                    + if k.contains(['"', '=']) {
                        2
                    } else if k.contains('`') {
                        6
                    } else {
                        0
                    }
            })
            .max()
            .unwrap_or(0);
        for ((_, val, comment), kname) in keys.iter().zip(names) {
            if let Some(c) = comment {
                write_comment(&mut out, c);
            }
            out.push_str(&kname);
            out.extend(std::iter::repeat_n(' ', align.saturating_sub(kname.len())));
            out.push_str(" = ");
            if val.contains(['\n', '`']) {
                out.push_str(&format!("\"\"\"{val}\"\"\""));
            } else if val.contains(['#', ';']) {
                out.push_str(&format!("`{val}`"));
            } else if val.trim() != val {
                out.push_str(&format!("\"{val}\""));
            } else {
                out.push_str(val);
            }
            out.push('\n');
        }
    }
    Ok(out)
}

fn key_name(k: &str) -> String {
    if k.contains(['"', '=']) {
        format!("`{k}`")
    } else if k.contains('`') {
        format!("\"\"\"{k}\"\"\"")
    } else {
        k.to_owned()
    }
}

fn write_comment(out: &mut String, comment: &str) {
    for line in comment.split('\n') {
        if line.starts_with(['#', ';']) {
            out.push_str(&line[..1]);
            out.push(' ');
            out.push_str(line[1..].trim());
        } else {
            out.push_str("; ");
            out.push_str(line.trim());
        }
        out.push('\n');
    }
}

//! Writes a [`Tree`] as YAML the way sops does through go-yaml v3's encoder.
//!
//! The layout rules that decide bytes: block style only; a nested collection under a key
//! is indented to the next multiple of the indent (go-yaml's "regular" indentation), the
//! mapping inside a `- ` item aligns two columns right of the dash; no line wrapping;
//! strings with a newline become literal blocks; strings that would read back as another
//! type are double-quoted; strings that cannot be plain get single quotes, and strings
//! that cannot be single-quoted get double quotes (the libyaml scalar analysis).

use super::resolve::needs_quotes;
use super::style::{analyze, double_quoted};
use crate::gofmt;
use crate::tree::{Item, Scalar, Tree, Value};

/// Emits every branch as one YAML document, `---` between documents.
/// `extra` items (the `sops` metadata) are appended to every document.
pub fn emit(tree: &Tree, indent: usize, extra: &[Item]) -> String {
    let mut e = Emitter {
        out: String::new(),
        bi: if indent == 0 { 4 } else { indent },
    };
    for (i, branch) in tree.branches.iter().enumerate() {
        if i > 0 {
            e.out.push_str("---\n");
        }
        if branch.is_empty() && extra.is_empty() {
            e.out.push_str("{}\n");
        } else {
            e.map(branch, 0, false);
            e.map(extra, 0, false);
        }
    }
    e.out
}

/// Text of one scalar as the YAML store would write it on its own (no quoting of strings);
/// used by `--extract` style callers.
pub fn scalar_text(s: &Scalar) -> String {
    match s {
        Scalar::Null => "null".to_owned(),
        Scalar::Str(b) => String::from_utf8_lossy(b).into_owned(),
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => gofmt::float_yaml(*f),
        Scalar::Bool(b) => b.to_string(),
        Scalar::Time(t) => t.clone(),
    }
}

struct Emitter {
    out: String,
    bi: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn pad(&mut self, n: usize) {
        self.out.extend(std::iter::repeat_n(' ', n));
    }

    /// go-yaml's indent for a collection or scalar under a mapping key at `indent`.
    fn child(&self, indent: usize) -> usize {
        self.bi * ((indent + self.bi) / self.bi)
    }

    /// Appends ` #text` for each pending inline comment at the end of the first line
    /// written since `from`.
    fn line_comments(&mut self, from: usize, pending: &mut Vec<&str>) {
        if pending.is_empty() {
            return;
        }
        let at = self.out[from..]
            .find('\n')
            .map_or(self.out.len(), |i| from + i);
        let text: String = pending.drain(..).map(|t| format!(" #{t}")).collect();
        self.out.insert_str(at, &text);
    }

    /// Inline comments left over at the end of a collection are written on their own lines.
    /// Writes `#text` (the caller has written the indentation of the first line). A comment
    /// of several lines (INI comments read as one) continues at `indent`, each line prefixed
    /// with `# ` unless it starts with `#`, as go-yaml's comment writer does.
    fn comment(&mut self, text: &str, indent: usize) {
        let mut lines = text.split('\n');
        self.out.push('#');
        self.out.push_str(lines.next().unwrap_or_default());
        self.out.push('\n');
        for line in lines {
            if !line.is_empty() {
                self.pad(indent);
                if !line.starts_with('#') {
                    self.out.push_str("# ");
                }
                self.out.push_str(line);
            }
            self.out.push('\n');
        }
    }

    fn leftover_comments(&mut self, indent: usize, pending: &mut Vec<&str>) {
        for t in pending.drain(..) {
            self.pad(indent);
            self.comment(t, indent);
        }
    }

    fn map(&mut self, items: &[Item], indent: usize, mut inline_first: bool) {
        let mut pending: Vec<&str> = Vec::new();
        for item in items {
            if let Item::Comment(c) = item
                && c.inline
            {
                pending.push(&c.text);
                continue;
            }
            if !inline_first {
                self.pad(indent);
            }
            inline_first = false;
            match item {
                Item::Comment(c) => {
                    self.comment(&c.text, indent);
                }
                Item::Entry(key, value) => {
                    let start = self.out.len();
                    self.string(key.as_bytes(), true, indent);
                    self.out.push(':');
                    self.value_after_key(value, indent);
                    self.line_comments(start, &mut pending);
                }
            }
        }
        self.leftover_comments(indent, &mut pending);
    }

    fn value_after_key(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Map(items) if items.is_empty() => self.out.push_str(" {}\n"),
            Value::List(values) if values.is_empty() => self.out.push_str(" []\n"),
            // A mapping left with comments only (after `unset`): go-yaml writes a flow
            // mapping with the comments inside and the brace at column 0, which reads
            // back as a mapping; block style would read back as null.
            Value::Map(items) if items.iter().all(|i| matches!(i, Item::Comment(_))) => {
                self.out.push_str(" {\n");
                let child = self.child(indent);
                for item in items {
                    if let Item::Comment(c) = item {
                        self.pad(child);
                        self.comment(&c.text, child);
                    }
                }
                self.out.push_str("}\n");
            }
            Value::Map(items) => {
                self.out.push('\n');
                let child = self.child(indent);
                self.map(items, child, false);
            }
            Value::List(values) => {
                self.out.push('\n');
                let child = self.child(indent);
                self.seq(values, child, false);
            }
            Value::Comment(c) => {
                // A comment is never a mapping value in trees the stores build.
                self.out.push_str(" #");
                self.out.push_str(&c.text);
                self.out.push('\n');
            }
            Value::Scalar(s) => {
                self.out.push(' ');
                let child = self.child(indent);
                self.scalar(s, child);
            }
        }
    }

    fn seq(&mut self, values: &[Value], indent: usize, mut inline_first: bool) {
        let mut pending: Vec<&str> = Vec::new();
        for value in values {
            if let Value::Comment(c) = value
                && c.inline
            {
                pending.push(&c.text);
                continue;
            }
            if !inline_first {
                self.pad(indent);
            }
            inline_first = false;
            let start = self.out.len();
            if let Value::Comment(c) = value {
                self.comment(&c.text, indent);
                continue;
            }
            // Comments above the first key of a mapping item go above its dash.
            let mut value_items: Option<&[Item]> = None;
            if let Value::Map(items) = value {
                let lead = items
                    .iter()
                    .take_while(|i| matches!(i, Item::Comment(_)))
                    .count();
                if lead > 0 && lead < items.len() {
                    for item in &items[..lead] {
                        if let Item::Comment(c) = item {
                            self.comment(&c.text, indent);
                            self.pad(indent);
                        }
                    }
                    value_items = Some(&items[lead..]);
                }
            }
            self.out.push_str("- ");
            match value {
                Value::Map(items) if items.is_empty() => self.out.push_str("{}\n"),
                Value::List(vs) if vs.is_empty() => self.out.push_str("[]\n"),
                Value::Map(items) => self.map(value_items.unwrap_or(items), indent + 2, true),
                Value::List(vs) => self.seq(vs, indent + 2, true),
                Value::Scalar(s) => self.scalar(s, indent + 2),
                Value::Comment(_) => {}
            }
            self.line_comments(start, &mut pending);
        }
        self.leftover_comments(indent, &mut pending);
    }

    /// Writes a scalar value (not a key) followed by a newline; `block_indent` is where the
    /// lines of a literal block go.
    fn scalar(&mut self, s: &Scalar, block_indent: usize) {
        match s {
            Scalar::Str(b) => self.string(b, false, block_indent),
            other => self.out.push_str(&scalar_text(other)),
        }
        self.out.push('\n');
    }

    fn string(&mut self, bytes: &[u8], is_key: bool, block_indent: usize) {
        let s = String::from_utf8_lossy(bytes);
        let a = analyze(&s);
        let mut style = if s.contains('\n') {
            Style::Literal
        } else if !needs_quotes(&s) {
            Style::Plain
        } else {
            Style::Double
        };
        if style == Style::Plain && (!a.plain || (is_key && s.is_empty())) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || is_key) {
            style = Style::Double;
        }
        match style {
            Style::Plain => self.out.push_str(&s),
            Style::Single => {
                self.out.push('\'');
                self.out.push_str(&s.replace('\'', "''"));
                self.out.push('\'');
            }
            Style::Double => double_quoted(&mut self.out, &s),
            Style::Literal => self.literal(&s, block_indent),
        }
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.out.push('|');
        if s.starts_with([' ', '\n']) {
            self.out.push_str(&self.bi.to_string());
        }
        // libyaml's chomping hint: `-` without a final break, `+` when the final break is
        // the whole string or follows another break, else none (clip).
        let trailing = s.len() - s.trim_end_matches('\n').len();
        match trailing {
            0 => self.out.push('-'),
            1 if s.len() > 1 => {}
            _ => self.out.push('+'),
        }
        let body = s.strip_suffix('\n').unwrap_or(s);
        for line in body.split('\n') {
            self.out.push('\n');
            if !line.is_empty() {
                self.pad(indent);
                self.out.push_str(line);
            }
        }
        // The final newline is written by the caller.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Comment;

    #[test]
    fn nested_layout_matches_go_yaml_v3() {
        let tree = Tree {
            branches: vec![vec![
                Item::Entry(
                    "spec".into(),
                    Value::Map(vec![Item::Entry(
                        "items".into(),
                        Value::List(vec![Value::Map(vec![
                            Item::Entry("name".into(), Value::str("a")),
                            Item::Entry(
                                "data".into(),
                                Value::Map(vec![Item::Entry("k".into(), Value::str("x\ny\n"))]),
                            ),
                        ])]),
                    )]),
                ),
                Item::Comment(Comment::new(" c")),
                Item::Entry("on".into(), Value::str("2024-01-01")),
                Item::Entry("e".into(), Value::str("")),
                Item::Entry("s".into(), Value::str(" lead")),
            ]],
        };
        assert_eq!(
            emit(&tree, 4, &[]),
            "spec:\n    items:\n        - name: a\n          data:\n            k: |\n                x\n                y\n# c\n\"on\": \"2024-01-01\"\ne: \"\"\ns: ' lead'\n"
        );
    }
}

//! Reads a YAML stream into a [`Tree`] from granit-parser events.
//!
//! Comments become items at their place (an inline comment is moved before the entry it
//! follows, as sops does, so it governs that entry under the comment rules); aliases are
//! expanded; every document must be a mapping; duplicate keys are an error. Scalars are typed
//! by [`resolve_plain`] unless quoted or tagged.
//!
//! The input may be anyone's, so the loader works within [`LIMITS`]: nesting depth, the
//! number of aliases, and the nodes and bytes alias expansion copies (a 559-byte "billion
//! laughs" file would otherwise expand to 387 million nodes). Go sops refuses the same
//! files ("excessive aliasing").

use std::collections::HashMap;

use granit_parser::{Event, Parser, Placement, ScalarStyle, Span};
use lockstep_limits::{Exceeded, LIMITS};

use super::resolve::resolve_plain;
use crate::error::LoadError;
use crate::stores::Format;
use crate::tree::{Branch, Comment, Item, Scalar, Tree, Value, copy_value};

struct PendingComment {
    text: String,
    placement: Placement,
    col: usize,
}

struct Loader<'a> {
    parser: Parser<'a, granit_parser::StrInput<'a>>,
    comments: Vec<PendingComment>,
    /// Each anchor's value, with its size, so an alias is judged before it is copied.
    anchors: HashMap<usize, (Value, Size)>,
    path: Vec<String>,
    /// Open mappings and sequences.
    depth: usize,
    /// Aliases seen, and what their expansion copied so far.
    aliases: usize,
    copied: Size,
}

/// Nodes (mappings, sequences, scalars) and scalar bytes of a value.
#[derive(Clone, Copy, Default)]
struct Size {
    nodes: usize,
    bytes: usize,
}

impl Size {
    fn of(v: &Value) -> Size {
        let text = |n: usize| Size { nodes: 0, bytes: n };
        let mut size = Size { nodes: 1, bytes: 0 };
        match v {
            Value::Map(items) => {
                for item in items {
                    match item {
                        Item::Entry(k, v) => {
                            size.add(Size {
                                nodes: 1,
                                bytes: k.len(),
                            });
                            size.add(Size::of(v));
                        }
                        Item::Comment(c) => size.add(text(c.text.len())),
                    }
                }
            }
            Value::List(values) => values.iter().for_each(|v| size.add(Size::of(v))),
            Value::Comment(c) => size.add(text(c.text.len())),
            Value::Scalar(Scalar::Str(b)) => size.add(text(b.len())),
            Value::Scalar(Scalar::Time(t)) => size.add(text(t.len())),
            Value::Scalar(_) => {}
        }
        size
    }

    fn add(&mut self, other: Size) {
        self.nodes = self.nodes.saturating_add(other.nodes);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }
}

/// granit's message, except where it quotes input (an unexpected character could be a
/// character of a secret).
fn reason(kind: &granit_parser::ErrorKind) -> String {
    match kind {
        granit_parser::ErrorKind::UnexpectedCharacter { .. } => "unexpected character".to_owned(),
        granit_parser::ErrorKind::Custom(_) | granit_parser::ErrorKind::InputDecoding { .. } => {
            "invalid input".to_owned()
        }
        other => other.to_string(),
    }
}

/// Parses a YAML stream.
pub fn load(text: &str) -> Result<Tree, LoadError> {
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        comments: Vec::new(),
        anchors: HashMap::new(),
        path: Vec::new(),
        depth: 0,
        aliases: 0,
        copied: Size::default(),
    };
    let mut tree = Tree::default();
    loop {
        let (event, span) = loader.next()?;
        match event {
            Event::StreamStart | Event::DocumentEnd => {}
            Event::StreamEnd => break,
            Event::DocumentStart(..) => {
                let branch = loader.document()?;
                tree.branches.push(branch);
            }
            _ => return Err(loader.structure(span, "unexpected event at stream level")),
        }
    }
    Ok(tree)
}

impl<'a> Loader<'a> {
    /// The next event that is not a comment; comments are buffered.
    fn next(&mut self) -> Result<(Event<'a>, Span), LoadError> {
        loop {
            let Some(result) = self.parser.next_event() else {
                return Ok((
                    Event::StreamEnd,
                    Span::empty(granit_parser::Marker::new(0, 0, 0)),
                ));
            };
            let (event, span) = result.map_err(|e| LoadError::Syntax {
                format: Format::Yaml,
                line: e.marker().line(),
                column: e.marker().col() + 1,
                reason: reason(e.kind()),
            })?;
            if let Event::Comment(text, placement) = event {
                self.comments.push(PendingComment {
                    text: text.into_owned(),
                    placement,
                    col: span.start.col(),
                });
                continue;
            }
            return Ok((event, span));
        }
    }

    fn exceeded(&self, span: Span, exceeded: Exceeded) -> LoadError {
        LoadError::Limit {
            format: Format::Yaml,
            line: span.start.line(),
            column: span.start.col() + 1,
            exceeded,
        }
    }

    /// Enters a mapping or sequence that starts at `span`.
    fn enter(&mut self, span: Span) -> Result<(), LoadError> {
        self.depth += 1;
        if self.depth > LIMITS.max_depth {
            return Err(self.exceeded(span, Exceeded::Depth));
        }
        Ok(())
    }

    /// A copy of the value anchor `id` names, if the limits allow one more.
    fn alias(&mut self, id: usize, span: Span) -> Result<Option<Value>, LoadError> {
        self.aliases += 1;
        if self.aliases > LIMITS.max_aliases {
            return Err(self.exceeded(span, Exceeded::Aliases));
        }
        let Some((value, size)) = self.anchors.get(&id) else {
            return Ok(None);
        };
        let nodes = self.copied.nodes.saturating_add(size.nodes);
        let bytes = self.copied.bytes.saturating_add(size.bytes);
        if nodes > LIMITS.max_nodes {
            return Err(self.exceeded(span, Exceeded::AliasNodes));
        }
        if bytes > LIMITS.max_scalar_bytes {
            return Err(self.exceeded(span, Exceeded::AliasBytes));
        }
        let copy = copy_value(value);
        self.copied = Size { nodes, bytes };
        Ok(Some(copy))
    }

    /// Remembers `value` under `anchor`.
    fn anchor(&mut self, anchor: usize, value: &Value) {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (copy_value(value), Size::of(value)));
        }
    }

    fn structure(&self, span: Span, reason: &'static str) -> LoadError {
        LoadError::Structure {
            format: Format::Yaml,
            line: span.start.line(),
            column: span.start.col() + 1,
            path: self.path.join(":"),
            reason,
        }
    }

    fn document(&mut self) -> Result<Branch, LoadError> {
        let (event, span) = self.next()?;
        let mut branch = match event {
            Event::MappingStart(_, anchor, _) => {
                self.enter(span)?;
                let items = self.mapping(0)?;
                self.depth -= 1;
                if anchor != 0 {
                    let value = Value::Map(items);
                    self.anchor(anchor, &value);
                    let Value::Map(items) = value else {
                        unreachable!()
                    };
                    items
                } else {
                    items
                }
            }
            Event::Scalar(ref s, ScalarStyle::Plain, _, None) if s.is_empty() || s == "~" => {
                Vec::new()
            }
            Event::DocumentEnd => {
                let mut b = Vec::new();
                self.flush_comments(&mut b, 0, true);
                return Ok(b);
            }
            _ => return Err(self.structure(span, "document is not a mapping")),
        };
        let (event, span) = self.next()?;
        if !matches!(event, Event::DocumentEnd) {
            return Err(self.structure(span, "expected end of document"));
        }
        self.flush_comments(&mut branch, 0, true);
        Ok(branch)
    }

    /// Moves buffered comments into `items`: inline ones before the last entry, own-line ones
    /// at the end. With `all` false, comments left of `col` stay buffered for an outer level.
    fn flush_comments(&mut self, items: &mut Vec<Item>, col: usize, all: bool) {
        let pending = std::mem::take(&mut self.comments);
        for c in pending {
            if !all && c.col < col && c.placement != Placement::Right {
                self.comments.push(c);
                continue;
            }
            let last_entry = items.iter().rposition(|i| matches!(i, Item::Entry(..)));
            match (c.placement, last_entry) {
                (Placement::Right, Some(pos)) => {
                    items.insert(
                        pos,
                        Item::Comment(Comment {
                            text: c.text,
                            inline: true,
                        }),
                    );
                }
                _ => items.push(Item::Comment(Comment::new(c.text))),
            }
        }
    }

    fn mapping(&mut self, _outer: usize) -> Result<Vec<Item>, LoadError> {
        let mut items: Vec<Item> = Vec::new();
        // Keys seen so far: a set, so that large mappings stay linear.
        let mut seen: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut col: Option<usize> = None;
        loop {
            let (event, span) = self.next()?;
            let key = match event {
                Event::MappingEnd => {
                    self.flush_comments(&mut items, col.unwrap_or(0), false);
                    return Ok(items);
                }
                // sops refuses non-string keys ("Tree contains a non-string key"); a plain
                // key that YAML types as a number, bool or null would change type on output.
                Event::Scalar(text, ScalarStyle::Plain, _, None)
                    if !matches!(resolve_plain(&text), Scalar::Str(_)) && !text.is_empty() =>
                {
                    return Err(self.structure(span, "mapping key is not a string (quote it)"));
                }
                Event::Scalar(text, ..) => text.into_owned(),
                Event::Alias(id) => match self.alias(id, span)? {
                    Some(Value::Scalar(Scalar::Str(b))) => String::from_utf8(b)
                        .map_err(|_| self.structure(span, "mapping key is not a string"))?,
                    _ => return Err(self.structure(span, "mapping key is not a string")),
                },
                _ => return Err(self.structure(span, "mapping key is not a scalar")),
            };
            let key_col = *col.get_or_insert(span.start.col());
            self.flush_comments(&mut items, key_col, false);
            if !seen.insert(key.clone()) {
                self.path.push(key);
                let err = self.structure(span, "duplicate mapping key");
                self.path.pop();
                return Err(err);
            }
            self.path.push(key);
            let (event, span) = self.next()?;
            let value = self.node(event, span)?;
            let key = self.path.pop().unwrap_or_default();
            items.push(Item::Entry(key, value));
        }
    }

    fn sequence(&mut self) -> Result<Vec<Value>, LoadError> {
        let mut values = Vec::new();
        loop {
            let (event, span) = self.next()?;
            if !matches!(event, Event::SequenceEnd) {
                // Own-line comments go before the next element; one at the end of an
                // element's line goes before that element (as sops reads it).
                for c in std::mem::take(&mut self.comments) {
                    let last = values.iter().rposition(|v| !matches!(v, Value::Comment(_)));
                    match (c.placement, last) {
                        (Placement::Right, Some(pos)) => {
                            values.insert(
                                pos,
                                Value::Comment(Comment {
                                    text: c.text,
                                    inline: true,
                                }),
                            );
                        }
                        _ => values.push(Value::Comment(Comment::new(c.text))),
                    }
                }
            }
            match event {
                Event::SequenceEnd => return Ok(values),
                other => values.push(self.node(other, span)?),
            }
        }
    }

    fn node(&mut self, event: Event<'a>, span: Span) -> Result<Value, LoadError> {
        let (value, anchor) = match event {
            Event::Scalar(text, style, anchor, tag) => {
                let scalar = match (&tag, style) {
                    (Some(tag), _) => match tag.core_suffix() {
                        Some("str") | None => Scalar::str(text.into_owned()),
                        Some("null") => Scalar::Null,
                        Some(_) => resolve_plain(&text),
                    },
                    (None, ScalarStyle::Plain) if !text.is_empty() => resolve_plain(&text),
                    (None, ScalarStyle::Plain) => Scalar::Null,
                    (None, _) => Scalar::str(text.into_owned()),
                };
                (Value::Scalar(scalar), anchor)
            }
            Event::MappingStart(_, anchor, _) => {
                self.enter(span)?;
                let items = self.mapping(span.start.col())?;
                self.depth -= 1;
                (Value::Map(items), anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                self.enter(span)?;
                let values = self.sequence()?;
                self.depth -= 1;
                (Value::List(values), anchor)
            }
            Event::Alias(id) => match self.alias(id, span)? {
                Some(v) => (v, 0),
                None => return Err(self.structure(span, "unknown alias")),
            },
            _ => return Err(self.structure(span, "unexpected YAML event")),
        };
        self.anchor(anchor, &value);
        Ok(value)
    }
}

//! The ordered document tree that every store reads into and writes from.
//!
//! A [`Tree`] is a list of documents ([`Branch`]es; only YAML has more than one). A branch is
//! an ordered list of [`Item`]s; a comment is an item too, so that comments keep their place
//! and can be encrypted like values. Scalars keep the type sops needs to encrypt and to emit
//! them ([`Scalar`]). Plaintext lives in these types, so none of them derives `Debug`,
//! `Clone` or `Serialize`: the hand-written `Debug` shows the shape and the keys only, and
//! every string is zeroized on drop.

use std::fmt;

use zeroize::Zeroize;

/// A whole file: one branch per document.
#[derive(PartialEq, Default)]
pub struct Tree {
    /// The documents, in file order.
    pub branches: Vec<Branch>,
}

/// One document: an ordered mapping whose items may be comments.
pub type Branch = Vec<Item>;

/// One entry of a mapping: a key with its value, or a comment.
#[derive(PartialEq)]
pub enum Item {
    /// `key: value`.
    Entry(String, Value),
    /// A comment line that sits between the entries.
    Comment(Comment),
}

/// A comment: its text without the comment character.
#[derive(PartialEq)]
pub struct Comment {
    /// The text after `#` (YAML, dotenv; a following space is kept) or after `;`/`#` and
    /// spaces (INI).
    pub text: String,
    /// Whether it stood at the end of a line (`key: value # text`); sops writes such a
    /// comment back at the end of the line of the value that follows it.
    pub inline: bool,
}

impl Comment {
    /// An own-line comment.
    pub fn new(text: impl Into<String>) -> Self {
        Comment {
            text: text.into(),
            inline: false,
        }
    }
}

/// A node of the tree.
#[derive(PartialEq)]
pub enum Value {
    /// An ordered mapping.
    Map(Vec<Item>),
    /// A sequence; its elements may be comments ([`Value::Comment`]).
    List(Vec<Value>),
    /// A comment inside a sequence.
    Comment(Comment),
    /// A leaf.
    Scalar(Scalar),
}

/// A leaf value with the type sops records in `type:` of an encrypted value.
#[derive(PartialEq)]
pub enum Scalar {
    /// `null` (never encrypted).
    Null,
    /// A string; in the binary store it may hold non-UTF-8 bytes, so it is kept as bytes.
    Str(Vec<u8>),
    /// A 64-bit integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// A boolean.
    Bool(bool),
    /// A YAML timestamp, kept in Go's RFC 3339 text form (`2024-01-01T00:00:00Z`).
    Time(String),
}

impl Scalar {
    /// A string scalar from text.
    pub fn str(s: impl Into<String>) -> Self {
        Scalar::Str(s.into().into_bytes())
    }

    /// The string, when this is a UTF-8 string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The name of the type as sops writes it in `type:`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null | Scalar::Str(_) => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
        }
    }
}

impl Value {
    /// A string leaf.
    pub fn str(s: impl Into<String>) -> Self {
        Value::Scalar(Scalar::str(s))
    }

    /// The string, when this is a UTF-8 string leaf.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Scalar(s) => s.as_str(),
            _ => None,
        }
    }

    /// The items, when this is a mapping.
    pub fn as_map(&self) -> Option<&[Item]> {
        match self {
            Value::Map(items) => Some(items),
            _ => None,
        }
    }
}

/// Looks up the first entry named `key` among `items`.
pub fn get<'a>(items: &'a [Item], key: &str) -> Option<&'a Value> {
    items.iter().find_map(|item| match item {
        Item::Entry(k, v) if k == key => Some(v),
        _ => None,
    })
}

impl Zeroize for Scalar {
    fn zeroize(&mut self) {
        match self {
            Scalar::Str(b) => b.zeroize(),
            Scalar::Time(s) => s.zeroize(),
            Scalar::Int(i) => i.zeroize(),
            Scalar::Float(f) => f.zeroize(),
            Scalar::Bool(b) => b.zeroize(),
            Scalar::Null => {}
        }
    }
}

impl Zeroize for Value {
    fn zeroize(&mut self) {
        match self {
            Value::Map(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Value::List(values) => values.iter_mut().for_each(Zeroize::zeroize),
            Value::Comment(c) => c.text.zeroize(),
            Value::Scalar(s) => s.zeroize(),
        }
    }
}

impl Zeroize for Item {
    fn zeroize(&mut self) {
        match self {
            Item::Entry(_, v) => v.zeroize(),
            Item::Comment(c) => c.text.zeroize(),
        }
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        for branch in &mut self.branches {
            branch.iter_mut().for_each(Zeroize::zeroize);
        }
    }
}

impl fmt::Debug for Tree {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.branches.iter().map(|b| ItemsDebug(b)))
            .finish()
    }
}

struct ItemsDebug<'a>(&'a [Item]);

impl fmt::Debug for ItemsDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for item in self.0 {
            match item {
                Item::Entry(k, v) => map.entry(k, v),
                Item::Comment(_) => map.entry(&"#", &"[comment]"),
            };
        }
        map.finish()
    }
}

impl fmt::Debug for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        ItemsDebug(std::slice::from_ref(self)).fmt(f)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Map(items) => ItemsDebug(items).fmt(f),
            Value::List(values) => f.debug_list().entries(values).finish(),
            Value::Comment(_) => f.write_str("[comment]"),
            Value::Scalar(s) => s.fmt(f),
        }
    }
}

impl fmt::Debug for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Null => f.write_str("null"),
            other => write!(f, "[redacted {}]", other.type_name()),
        }
    }
}

/// A deep copy, for YAML alias expansion and `set` (the tree types deliberately do not
/// implement `Clone`: they hold plaintext).
pub(crate) fn copy_value(v: &Value) -> Value {
    match v {
        Value::Map(items) => Value::Map(copy_items(items)),
        Value::List(values) => Value::List(values.iter().map(copy_value).collect()),
        Value::Comment(c) => Value::Comment(Comment {
            text: c.text.clone(),
            inline: c.inline,
        }),
        Value::Scalar(s) => Value::Scalar(match s {
            Scalar::Null => Scalar::Null,
            Scalar::Str(b) => Scalar::Str(b.clone()),
            Scalar::Int(i) => Scalar::Int(*i),
            Scalar::Float(f) => Scalar::Float(*f),
            Scalar::Bool(b) => Scalar::Bool(*b),
            Scalar::Time(t) => Scalar::Time(t.clone()),
        }),
    }
}

/// [`copy_value`] of a mapping's items.
pub(crate) fn copy_items(items: &[Item]) -> Vec<Item> {
    items
        .iter()
        .map(|i| match i {
            Item::Entry(k, v) => Item::Entry(k.clone(), copy_value(v)),
            Item::Comment(c) => Item::Comment(Comment {
                text: c.text.clone(),
                inline: c.inline,
            }),
        })
        .collect()
}

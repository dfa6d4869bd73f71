//! The values a template works on, with Go's rules for truth, emptiness and printing.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use zeroize::Zeroizing;

/// A Go value as a template sees it. Strings are zeroized on drop: they hold secrets.
#[derive(Clone)]
pub enum Value {
    /// Go's `nil` (a JSON `null`, an absent interface value).
    Nil,
    /// A `bool`.
    Bool(bool),
    /// An `int`.
    Int(i64),
    /// A `float64` (every number `fromJson` reads).
    Float(f64),
    /// A `string`.
    Str(Zeroizing<String>),
    /// A `[]interface{}`.
    List(Vec<Value>),
    /// A map, shared as Go shares maps: Sprig's `set` changes it in place.
    Map(Rc<RefCell<Map>>),
}

/// A Go map with string keys.
#[derive(Clone, Default)]
pub struct Map {
    /// Its entries, in key order (the order Go ranges and prints them in).
    pub entries: BTreeMap<String, Value>,
    /// A `map[string]string` (ESO's data), whose missing keys index as `""` rather than
    /// `nil`.
    pub of_strings: bool,
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kind())
    }
}

impl Value {
    /// A string value.
    pub fn str(text: impl Into<String>) -> Self {
        Self::Str(Zeroizing::new(text.into()))
    }

    /// A map value.
    pub fn map(entries: BTreeMap<String, Value>, of_strings: bool) -> Self {
        Self::Map(Rc::new(RefCell::new(Map {
            entries,
            of_strings,
        })))
    }

    /// The Go type name, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Nil => "nil",
            Self::Bool(_) => "bool",
            Self::Int(_) => "int",
            Self::Float(_) => "float64",
            Self::Str(_) => "string",
            Self::List(_) => "[]interface {}",
            Self::Map(m) if m.borrow().of_strings => "map[string]string",
            Self::Map(_) => "map[string]interface {}",
        }
    }

    /// `text/template`'s truth: false, 0, nil and empty strings, lists and maps are false.
    pub fn truth(&self) -> bool {
        match self {
            Self::Nil => false,
            Self::Bool(b) => *b,
            Self::Int(i) => *i != 0,
            Self::Float(f) => *f != 0.0,
            Self::Str(s) => !s.is_empty(),
            Self::List(l) => !l.is_empty(),
            Self::Map(m) => !m.borrow().entries.is_empty(),
        }
    }

    /// `fmt`'s `%v`, which `print` and an action's output use (`nil` prints `<nil>`
    /// here; an action prints a missing value as `<no value>`).
    pub fn write(&self, out: &mut String) {
        match self {
            Self::Nil => out.push_str("<nil>"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Self::Float(f) => out.push_str(&format_g(*f)),
            Self::Str(s) => out.push_str(s),
            Self::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Self::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.borrow().entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write(out);
                }
                out.push(']');
            }
        }
    }

    /// The value as `%v` prints it.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        self.write(&mut out);
        out
    }
}

/// `%v` of a `float64`: the shortest text that reads back, in exponent form below 1e-4
/// and from 1e21 on (`1e+21`, `1e-05`).
pub fn format_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
        let text = format!("{f:e}");
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let (sign, digits) = match exp.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', exp),
        };
        return format!("{mantissa}e{sign}{digits:0>2}");
    }
    format!("{f}")
}

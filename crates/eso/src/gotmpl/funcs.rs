//! The functions a template may call: Go's builtins, the Sprig functions ESO templates
//! use most (Sprig v3.3.0 as ESO's fork has them, `env` and `expandenv` removed as ESO
//! removes them), ESO's `filterPEM`, and none that reach outside the template. Each behaves as its Go
//! original, down to Sprig's habit of returning an error's text (`b64dec`) or nothing
//! (`toJson`, `fromJson`) instead of failing. Errors never carry an argument's value.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::value::{Map, Value};
use crate::go::{self, Numbers};

/// Every function name a template may use. `and` and `or` are evaluated by the executor,
/// which stops at the argument that decides them.
const NAMES: &[&str] = &[
    // Go's builtins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    // Sprig.
    "b64enc",
    "b64dec",
    "toJson",
    "mustToJson",
    "fromJson",
    "mustFromJson",
    "upper",
    "lower",
    "trim",
    "trimAll",
    "trimPrefix",
    "trimSuffix",
    "replace",
    "quote",
    "squote",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "indent",
    "nindent",
    "dict",
    "get",
    "set",
    "unset",
    "hasKey",
    "keys",
    "list",
    "join",
    "split",
    "splitList",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "toString",
    "repeat",
    "sha256sum",
    "sortAlpha",
    "fail",
    // ESO's own.
    "filterPEM",
];

/// Whether `name` is a function templates may call.
pub fn exists(name: &str) -> bool {
    NAMES.contains(&name)
}

type Outcome = Result<Value, String>;

/// Calls `name` with `args` (the piped value last).
pub fn call(name: &str, args: Vec<Value>) -> Outcome {
    match name {
        "not" => one(args).map(|v| Value::Bool(!v.truth())),
        "len" => length(&one(args)?),
        "index" => index(args),
        "slice" => slice(args),
        "print" => Ok(Value::Str(sprint(&args, false))),
        "println" => Ok(Value::Str(sprint(&args, true))),
        "printf" => {
            let (format, rest) = split_first(args, "printf")?;
            Ok(Value::Str(printf(&string(&format)?, &rest)))
        }
        "eq" => {
            let (first, rest) = split_first(args, "eq")?;
            if rest.is_empty() {
                return Err("missing argument for comparison".into());
            }
            for other in &rest {
                if compare(&first, other)? == std::cmp::Ordering::Equal {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            let [a, b] = exact::<2>(args)?;
            let order = compare(&a, &b)?;
            if name != "ne" && matches!((&a, &b), (Value::Bool(_), _) | (_, Value::Bool(_))) {
                return Err("invalid type for comparison".into());
            }
            Ok(Value::Bool(match name {
                "ne" => order.is_ne(),
                "lt" => order.is_lt(),
                "le" => order.is_le(),
                "gt" => order.is_gt(),
                _ => order.is_ge(),
            }))
        }
        "b64enc" => text1(args, |s| STANDARD.encode(s.as_bytes())),
        "b64dec" => text1(args, |s| match STANDARD.decode(s.as_bytes()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) => go_base64_error(&err),
        }),
        "toJson" | "mustToJson" => {
            let value = one(args)?;
            Ok(Value::str(to_json(&value).unwrap_or_default()))
        }
        "fromJson" | "mustFromJson" => {
            let text = string(&one(args)?)?;
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(json) => Ok(from_json(json)),
                Err(_) if name == "fromJson" => Ok(Value::Nil),
                Err(err) => Err(format!(
                    "invalid JSON at line {}, column {}",
                    err.line(),
                    err.column()
                )),
            }
        }
        "upper" => text1(args, |s| s.to_uppercase()),
        "lower" => text1(args, |s| s.to_lowercase()),
        "trim" => text1(args, |s| s.trim_matches(char::is_whitespace).to_owned()),
        "trimAll" => text2(args, |cut, s| {
            s.trim_matches(|c| cut.contains(c)).to_owned()
        }),
        "trimPrefix" => text2(args, |p, s| s.strip_prefix(p).unwrap_or(s).to_owned()),
        "trimSuffix" => text2(args, |p, s| s.strip_suffix(p).unwrap_or(s).to_owned()),
        "contains" => bool2(args, |sub, s| s.contains(sub)),
        "hasPrefix" => bool2(args, |p, s| s.starts_with(p)),
        "hasSuffix" => bool2(args, |p, s| s.ends_with(p)),
        "replace" => {
            let [old, new, text] = exact::<3>(args)?;
            let (old, new, text) = (string(&old)?, string(&new)?, string(&text)?);
            Ok(Value::str(go_replace(&text, &old, &new)))
        }
        "quote" => Ok(Value::str(
            args.iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| go_quote(&strval(v)))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "squote" => Ok(Value::str(
            args.iter()
                .filter(|v| !matches!(v, Value::Nil))
                .map(|v| format!("'{}'", strval(v).as_str()))
                .collect::<Vec<_>>()
                .join(" "),
        )),
        "default" => {
            let (fallback, given) = split_first(args, "default")?;
            Ok(match given.into_iter().next() {
                Some(v) if !empty(&v) => v,
                _ => fallback,
            })
        }
        "empty" => Ok(Value::Bool(empty(&one(args)?))),
        "coalesce" => Ok(args.into_iter().find(|v| !empty(v)).unwrap_or(Value::Nil)),
        "ternary" => {
            let [yes, no, cond] = exact::<3>(args)?;
            match cond {
                Value::Bool(b) => Ok(if b { yes } else { no }),
                other => Err(wrong("bool", &other)),
            }
        }
        "indent" | "nindent" => {
            let [n, text] = exact::<2>(args)?;
            let pad = " ".repeat(count(&n)?);
            let out = format!("{pad}{}", string(&text)?.replace('\n', &format!("\n{pad}")));
            Ok(Value::str(if name == "nindent" {
                format!("\n{out}")
            } else {
                out
            }))
        }
        "repeat" => {
            let [n, text] = exact::<2>(args)?;
            let n = count(&n)?;
            let text = string(&text)?;
            if n.saturating_mul(text.len()) > 1 << 20 {
                return Err("the result would be larger than a Secret may be".into());
            }
            Ok(Value::str(text.repeat(n)))
        }
        "sha256sum" => text1(args, |s| {
            Sha256::digest(s.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        }),
        "toString" => Ok(Value::Str(strval(&one(args)?))),
        "list" => Ok(Value::List(args)),
        "dict" => {
            let mut entries = BTreeMap::new();
            let mut args = args.into_iter();
            while let Some(key) = args.next() {
                let value = args.next().unwrap_or_else(|| Value::str(""));
                entries.insert(strval(&key).to_string(), value);
            }
            Ok(Value::map(entries, false))
        }
        "get" => {
            let [map, key] = exact::<2>(args)?;
            let key = string(&key)?;
            let map = any_map(&map)?;
            let value = map.borrow().entries.get(key.as_str()).cloned();
            Ok(value.unwrap_or_else(|| Value::str("")))
        }
        "set" => {
            let [map, key, value] = exact::<3>(args)?;
            any_map(&map)?
                .borrow_mut()
                .entries
                .insert(string(&key)?.to_string(), value);
            Ok(map)
        }
        "unset" => {
            let [map, key] = exact::<2>(args)?;
            any_map(&map)?
                .borrow_mut()
                .entries
                .remove(string(&key)?.as_str());
            Ok(map)
        }
        "hasKey" => {
            let [map, key] = exact::<2>(args)?;
            let key = string(&key)?;
            Ok(Value::Bool(
                any_map(&map)?.borrow().entries.contains_key(key.as_str()),
            ))
        }
        "keys" => {
            // Go returns them in map order, which is random; sorted is one such order.
            let mut keys = Vec::new();
            for map in &args {
                keys.extend(
                    any_map(map)?
                        .borrow()
                        .entries
                        .keys()
                        .map(|k| Value::str(k.clone())),
                );
            }
            Ok(Value::List(keys))
        }
        "join" => {
            let [sep, list] = exact::<2>(args)?;
            let sep = string(&sep)?;
            let parts: Vec<Zeroizing<String>> = strslice(&list);
            Ok(Value::str(
                parts
                    .iter()
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(&sep),
            ))
        }
        "split" | "splitList" => {
            let [sep, text] = exact::<2>(args)?;
            let parts = go_split(&string(&text)?, &string(&sep)?);
            Ok(match name {
                "split" => Value::map(
                    parts
                        .into_iter()
                        .enumerate()
                        .map(|(i, p)| (format!("_{i}"), Value::str(p)))
                        .collect(),
                    true,
                ),
                _ => Value::List(parts.into_iter().map(Value::str).collect()),
            })
        }
        "sortAlpha" => {
            let mut parts = strslice(&one(args)?);
            parts.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            Ok(Value::List(parts.into_iter().map(Value::Str).collect()))
        }
        "filterPEM" => {
            let [kind, input] = exact::<2>(args)?;
            super::pem::filter(&string(&kind)?, &string(&input)?).map(Value::Str)
        }
        // The message is the template's, but it may have been built from a value.
        "fail" => Err(
            "the template called fail (its message is not shown, as it may hold a value)".into(),
        ),
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn wrong(want: &str, got: &Value) -> String {
    format!("wrong type for value; expected {want}; got {}", got.kind())
}

fn one(args: Vec<Value>) -> Result<Value, String> {
    let [value] = exact::<1>(args)?;
    Ok(value)
}

fn exact<const N: usize>(args: Vec<Value>) -> Result<[Value; N], String> {
    let got = args.len();
    args.try_into()
        .map_err(|_| format!("wrong number of args: want {N} got {got}"))
}

fn split_first(mut args: Vec<Value>, name: &str) -> Result<(Value, Vec<Value>), String> {
    if args.is_empty() {
        return Err(format!(
            "wrong number of args for {name}: want at least 1 got 0"
        ));
    }
    let first = args.remove(0);
    Ok((first, args))
}

/// A `string` parameter: Go converts nothing else to one.
fn string(value: &Value) -> Result<Zeroizing<String>, String> {
    match value {
        Value::Str(s) => Ok(s.clone()),
        other => Err(wrong("string", other)),
    }
}

/// An `int` parameter used as a count (negative counts are refused, as Go's
/// `strings.Repeat` panics on them).
fn count(value: &Value) -> Result<usize, String> {
    match value {
        Value::Int(i) => usize::try_from(*i).map_err(|_| "negative count".to_owned()),
        other => Err(wrong("int", other)),
    }
}

fn any_map(value: &Value) -> Result<&std::rc::Rc<std::cell::RefCell<Map>>, String> {
    match value {
        Value::Map(map) if !map.borrow().of_strings => Ok(map),
        other => Err(wrong("map[string]interface {}", other)),
    }
}

fn text1(args: Vec<Value>, f: impl FnOnce(&str) -> String) -> Outcome {
    Ok(Value::str(f(&string(&one(args)?)?)))
}

fn text2(args: Vec<Value>, f: impl FnOnce(&str, &str) -> String) -> Outcome {
    let [a, b] = exact::<2>(args)?;
    Ok(Value::str(f(&string(&a)?, &string(&b)?)))
}

fn bool2(args: Vec<Value>, f: impl FnOnce(&str, &str) -> bool) -> Outcome {
    let [a, b] = exact::<2>(args)?;
    Ok(Value::Bool(f(&string(&a)?, &string(&b)?)))
}

/// Sprig's `empty`: nil, false, zero and empty strings, lists and maps.
fn empty(value: &Value) -> bool {
    !value.truth()
}

/// Sprig's `strval`: a string as it is, anything else as `%v` prints it.
fn strval(value: &Value) -> Zeroizing<String> {
    value.to_text()
}

/// Sprig's `strslice`: a list's non-nil items as strings, or the value as one string.
fn strslice(value: &Value) -> Vec<Zeroizing<String>> {
    match value {
        Value::List(items) => items
            .iter()
            .filter(|v| !matches!(v, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        other => vec![strval(other)],
    }
}

fn length(value: &Value) -> Outcome {
    let n = match value {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.borrow().entries.len(),
        other => return Err(format!("len of type {}", other.kind())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn index(args: Vec<Value>) -> Outcome {
    let (mut item, keys) = split_first(args, "index")?;
    for key in keys {
        item = match (&item, &key) {
            (Value::Map(map), Value::Str(k)) => {
                let map = map.borrow();
                match map.entries.get(k.as_str()) {
                    Some(v) => v.clone(),
                    None if map.of_strings => Value::str(""),
                    None => Value::Nil,
                }
            }
            (Value::Map(_), other) => {
                return Err(format!("value has type {}; should be string", other.kind()));
            }
            (Value::List(items), Value::Int(i)) => usize::try_from(*i)
                .ok()
                .and_then(|i| items.get(i))
                .cloned()
                .ok_or_else(|| format!("index out of range: {i}"))?,
            (Value::Nil, _) => return Err("index of untyped nil".into()),
            (other, _) => return Err(format!("can't index item of type {}", other.kind())),
        };
    }
    Ok(item)
}

fn slice(args: Vec<Value>) -> Outcome {
    let (item, bounds) = split_first(args, "slice")?;
    // Sprig's `slice` replaces Go's builtin, and takes lists only.
    let items = match item {
        Value::List(items) => items,
        other => {
            return Err(format!(
                "list should be type of slice or array but {}",
                other.kind()
            ));
        }
    };
    let mut idx = Vec::new();
    for b in &bounds {
        match b {
            Value::Int(i) => {
                idx.push(usize::try_from(*i).map_err(|_| format!("index out of range: {i}"))?)
            }
            other => return Err(wrong("int", other)),
        }
    }
    let (from, to) = match idx.as_slice() {
        [] => (0, items.len()),
        [a] => (*a, items.len()),
        [a, b] => (*a, *b),
        _ => return Err("too many slice indexes".into()),
    };
    items
        .get(from..to)
        .map(|part| Value::List(part.to_vec()))
        .ok_or_else(|| format!("index out of range: {to}"))
}

/// Go's comparison of two basic values: same kinds only, as `eq`/`lt` require.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => Ok(x.partial_cmp(y).unwrap_or(Ordering::Less)),
        (Value::Str(x), Value::Str(y)) => Ok(x.as_str().cmp(y.as_str())),
        (Value::Nil, Value::Nil) => Ok(Ordering::Equal),
        (Value::Nil, _) | (_, Value::Nil) => Ok(Ordering::Less),
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => {
            Err("invalid type for comparison".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

/// `fmt.Sprint` (spaces between operands when neither is a string) or `fmt.Sprintln`
/// (always spaces, and a newline).
fn sprint(args: &[Value], line: bool) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    for (i, arg) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_));
        if i > 0 && (line || !(is_str(arg) || is_str(&args[i - 1]))) {
            out.push(' ');
        }
        arg.write(&mut out);
    }
    if line {
        out.push('\n');
    }
    out
}

/// `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %t %x %X %f %%`, with the `-`
/// and `0` flags, a width and a precision. A verb that does not fit its operand prints
/// as Go prints it, `%!d(string=…)`.
fn printf(format: &str, args: &[Value]) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::new());
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            width.push(d);
        }
        let mut precision = None;
        if chars.next_if_eq(&'.').is_some() {
            let mut p = String::new();
            while let Some(d) = chars.next_if(char::is_ascii_digit) {
                p.push(d);
            }
            precision = Some(p.parse::<usize>().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let text: Zeroizing<String> = match (verb, arg) {
            ('v', v) => v.to_text(),
            ('s', Value::Str(s)) => match precision {
                Some(p) => Zeroizing::new(s.chars().take(p).collect()),
                None => s.clone(),
            },
            ('s', v @ (Value::List(_) | Value::Map(_))) => v.to_text(),
            ('q', Value::Str(s)) => Zeroizing::new(go_quote(s)),
            ('d', Value::Int(i)) => Zeroizing::new(i.to_string()),
            ('t', Value::Bool(b)) => Zeroizing::new(b.to_string()),
            ('x', Value::Int(i)) => Zeroizing::new(format!("{i:x}")),
            ('X', Value::Int(i)) => Zeroizing::new(format!("{i:X}")),
            ('x', Value::Str(s)) => Zeroizing::new(s.bytes().map(|b| format!("{b:02x}")).collect()),
            ('X', Value::Str(s)) => Zeroizing::new(s.bytes().map(|b| format!("{b:02X}")).collect()),
            ('f' | 'F', Value::Float(f)) => {
                Zeroizing::new(format!("{f:.*}", precision.unwrap_or(6)))
            }
            (verb, v) => Zeroizing::new(format!("%!{verb}({}={})", v.kind(), v.to_text().as_str())),
        };
        let width: usize = width.parse().unwrap_or(0);
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.push_str(&" ".repeat(pad));
        } else {
            let fill = if zero && matches!(arg, Value::Int(_) | Value::Float(_)) {
                "0"
            } else {
                " "
            };
            match (fill, text.strip_prefix('-')) {
                ("0", Some(digits)) => {
                    out.push('-');
                    out.push_str(&"0".repeat(pad));
                    out.push_str(digits);
                }
                _ => {
                    out.push_str(&fill.repeat(pad));
                    out.push_str(&text);
                }
            }
        }
    }
    if args.next().is_some() {
        out.push_str("%!(EXTRA)");
    }
    out
}

/// `strconv.Quote`: Go-syntax double-quoted, printable characters kept.
fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if c == ' ' || !(c.is_control() || c.is_whitespace()) => out.push(c),
            c if u32::from(c) < 0x80 => out.push_str(&format!("\\x{:02x}", u32::from(c))),
            c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// `strings.Replace(s, old, new, -1)`: an empty `old` matches before every character
/// and at the end.
fn go_replace(text: &str, old: &str, new: &str) -> String {
    if !old.is_empty() {
        return text.replace(old, new);
    }
    let mut out = String::from(new);
    for c in text.chars() {
        out.push(c);
        out.push_str(new);
    }
    out
}

/// `strings.Split`: an empty separator splits into characters.
fn go_split(text: &str, sep: &str) -> Vec<String> {
    if sep.is_empty() {
        return text.chars().map(String::from).collect();
    }
    text.split(sep).map(str::to_owned).collect()
}

/// The text of Go's `base64.CorruptInputError`, which Sprig's `b64dec` returns as its
/// result.
fn go_base64_error(err: &base64::DecodeError) -> String {
    let at = match err {
        base64::DecodeError::InvalidByte(i, _) | base64::DecodeError::InvalidLastSymbol(i, _) => *i,
        base64::DecodeError::InvalidLength(n) => *n,
        base64::DecodeError::InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {at}")
}

/// `json.Marshal` of a value, or nothing when Go would fail (a non-finite float).
fn to_json(value: &Value) -> Option<String> {
    let mut json = json_of(value)?;
    let text = go::marshal(&json, Numbers::Float);
    scrub(&mut json);
    Some(text)
}

/// Zeroizes the strings of a JSON copy of template values before it is dropped.
fn scrub(json: &mut serde_json::Value) {
    match json {
        serde_json::Value::String(s) => zeroize::Zeroize::zeroize(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(scrub),
        serde_json::Value::Object(map) => map.values_mut().for_each(scrub),
        _ => {}
    }
}

fn json_of(value: &Value) -> Option<serde_json::Value> {
    Some(match value {
        Value::Nil => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Value::from(serde_json::Number::from_f64(*f)?),
        Value::Str(s) => serde_json::Value::String(s.to_string()),
        Value::List(items) => {
            serde_json::Value::Array(items.iter().map(json_of).collect::<Option<_>>()?)
        }
        Value::Map(map) => serde_json::Value::Object(
            map.borrow()
                .entries
                .iter()
                .map(|(k, v)| Some((k.clone(), json_of(v)?)))
                .collect::<Option<_>>()?,
        ),
    })
}

/// `json.Unmarshal` into `interface{}`: every number a `float64`.
fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or_default()),
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::map(
            map.into_iter().map(|(k, v)| (k, from_json(v))).collect(),
            false,
        ),
    }
}

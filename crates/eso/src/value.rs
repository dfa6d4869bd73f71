//! From a remote secret's JSON data to Secret bytes, as ESO's providers do it.
//!
//! Vault ([`select`], [`expand`]): the whole value as JSON when no `property` is given, a
//! top-level field when the property names one (ESO's rule for backwards compatibility),
//! else a gjson-style path. AWS ([`select_text`], [`expand_text`]): the same over the
//! value's own text, so objects and numbers keep the text they were written with.
//!
//! The gjson subset: dot-separated names (`a.b`), `\` escaping a dot or any other
//! character (`a\.b` is the field `a.b`), array indexes (`list.0`) and `#` for an array's
//! length. Wildcards (`*`, `?`), queries (`#(...)`), modifiers (`@...`) and pipes (`|`) are
//! refused by name rather than misread.

use std::borrow::Cow;
use std::collections::BTreeMap;

use lockstep_keys::vault::{KvDocument, wipe};
use serde_json::Value;
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::go::{self, Numbers};

/// One value for one Secret key; zeroized on drop.
pub type Bytes = Zeroizing<Vec<u8>>;

/// Why a value could not be taken out of a remote secret. Names the property, never a
/// value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The property is not in the value.
    #[error("property {property:?} is not in the secret")]
    MissingProperty {
        /// The property asked for.
        property: String,
    },
    /// The property uses gjson syntax Lockstep does not implement.
    #[error("property {property:?} uses gjson {what}, which Lockstep does not support")]
    UnsupportedPath {
        /// The property asked for.
        property: String,
        /// The syntax found.
        what: &'static str,
    },
    /// `dataFrom.extract` of a value that is not a JSON object.
    #[error("the value is not a JSON object, so it cannot be extracted into keys")]
    NotAnObject,
}

/// ESO's `GetSecret` over a secret's data: the value of `property`, or the whole data as
/// JSON without one.
///
/// # Errors
/// [`ValueError::MissingProperty`] or [`ValueError::UnsupportedPath`].
pub fn select(document: &KvDocument, property: Option<&str>) -> Result<Bytes, ValueError> {
    let Some(property) = property.filter(|p| !p.is_empty()) else {
        // The one copy of the secret made here, wiped once marshalled.
        let mut whole = Value::Object((**document).clone());
        let json = Zeroizing::new(go::marshal(&whole, Numbers::Verbatim).into_bytes());
        wipe(&mut whole);
        return Ok(json);
    };
    if let Some(value) = document.get(property) {
        return Ok(bytes_of(value, Numbers::Verbatim));
    }
    // Walked by reference: nothing of the secret is copied but the value found.
    let mut parts = path(property)?.into_iter();
    let first = parts.next().unwrap_or_default();
    let mut current = document.get(&first).map(Cow::Borrowed);
    for part in parts {
        current = current.and_then(|value| descend(value, &part));
    }
    let found = current.ok_or_else(|| ValueError::MissingProperty {
        property: property.to_owned(),
    })?;
    Ok(gjson_string(&found))
}

/// One part of a gjson path below `value`: a field, an array index, or `#`, an array's
/// length (below which nothing is found).
fn descend<'a>(value: Cow<'a, Value>, part: &str) -> Option<Cow<'a, Value>> {
    let Cow::Borrowed(value) = value else {
        return None;
    };
    match (value, part) {
        (Value::Array(items), "#") => Some(Cow::Owned(Value::from(items.len()))),
        (Value::Object(fields), key) => fields.get(key).map(Cow::Borrowed),
        (Value::Array(items), index) => index
            .parse::<usize>()
            .ok()
            .and_then(|i| items.get(i))
            .map(Cow::Borrowed),
        _ => None,
    }
}

/// ESO's `GetSecretMap` step after [`select`]: the bytes must be a JSON object, and each
/// of its fields becomes one key. Numbers go through `float64`, as Go decodes them there.
///
/// # Errors
/// [`ValueError::NotAnObject`].
pub fn expand(bytes: &[u8]) -> Result<BTreeMap<String, Bytes>, ValueError> {
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
        return Err(ValueError::NotAnObject);
    };
    Ok(map
        .iter()
        .map(|(k, v)| (k.clone(), bytes_of(v, Numbers::Float)))
        .collect())
}

/// ESO's AWS `GetSecret` over a value's text: the text as it is without a property; with
/// one, a top-level field named by the whole property when it has dots (ESO escapes
/// them first), else the gjson-style path, as gjson's `Result.String()` gives it.
///
/// # Errors
/// [`ValueError::MissingProperty`] (also when the text is not JSON) or
/// [`ValueError::UnsupportedPath`].
pub fn select_text(text: &[u8], property: Option<&str>) -> Result<Bytes, ValueError> {
    let Some(property) = property.filter(|p| !p.is_empty()) else {
        return Ok(Zeroizing::new(text.to_vec()));
    };
    let missing = || ValueError::MissingProperty {
        property: property.to_owned(),
    };
    let root: &RawValue = serde_json::from_slice(text).map_err(|_| missing())?;
    let dotted = property
        .contains('.')
        .then(|| field(root, property))
        .flatten();
    let found = match dotted {
        Some(found) => found,
        None => {
            let parts = path(property)?;
            let mut current = root;
            for (i, part) in parts.iter().enumerate() {
                if part == "#" && current.get().starts_with('[') {
                    let items: Vec<&RawValue> =
                        serde_json::from_str(current.get()).map_err(|_| missing())?;
                    return match i + 1 == parts.len() {
                        true => Ok(Zeroizing::new(items.len().to_string().into_bytes())),
                        false => Err(missing()),
                    };
                }
                current = step(current, part).ok_or_else(missing)?;
            }
            current
        }
    };
    Ok(raw_string(found))
}

/// ESO's AWS `GetSecretMap` step after [`select_text`]: the text must be a JSON object,
/// and each field becomes one key: strings unquoted, anything else as its JSON text.
///
/// # Errors
/// [`ValueError::NotAnObject`].
pub fn expand_text(text: &[u8]) -> Result<BTreeMap<String, Bytes>, ValueError> {
    let map: BTreeMap<String, &RawValue> =
        serde_json::from_slice(text).map_err(|_| ValueError::NotAnObject)?;
    Ok(map
        .into_iter()
        .map(|(k, raw)| {
            let bytes = match serde_json::from_str::<String>(raw.get()) {
                Ok(s) => s.into_bytes(),
                Err(_) => raw.get().as_bytes().to_vec(),
            };
            (k, Zeroizing::new(bytes))
        })
        .collect())
}

/// A field of a JSON object's text.
fn field<'a>(raw: &'a RawValue, name: &str) -> Option<&'a RawValue> {
    let map: BTreeMap<String, &RawValue> = serde_json::from_str(raw.get()).ok()?;
    map.get(name).copied()
}

/// One step of a gjson path over JSON text: a field, or an index of an array.
fn step<'a>(raw: &'a RawValue, part: &str) -> Option<&'a RawValue> {
    if raw.get().starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(raw.get()).ok()?;
        return items.get(part.parse::<usize>().ok()?).copied();
    }
    field(raw, part)
}

/// gjson's `Result.String()` over JSON text: strings unquoted, `null` as nothing, integers
/// as written, other numbers through `float64`, objects and arrays as written.
fn raw_string(raw: &RawValue) -> Bytes {
    let text = raw.get();
    let value = match text.as_bytes().first() {
        Some(b'"') => serde_json::from_str::<String>(text).unwrap_or_default(),
        Some(b'n') => String::new(),
        Some(b'{' | b'[' | b't' | b'f') => text.to_owned(),
        _ => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                text.to_owned()
            } else {
                go::format_float(text.parse::<f64>().unwrap_or_default())
            }
        }
    };
    Zeroizing::new(value.into_bytes())
}

/// ESO's `GetByteValue`: strings as they are, numbers as text, objects and arrays as JSON,
/// `null` as nothing.
fn bytes_of(value: &Value, numbers: Numbers) -> Bytes {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match numbers {
            Numbers::Verbatim => n.to_string(),
            Numbers::Float => go::format_float(n.as_f64().unwrap_or_default()),
        },
        Value::Array(_) | Value::Object(_) => go::marshal(value, numbers),
    };
    Zeroizing::new(text.into_bytes())
}

/// gjson's `Result.String()`: integers as written, other numbers through `float64`.
fn gjson_string(value: &Value) -> Bytes {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Zeroizing::new(n.to_string().into_bytes()),
        Value::Number(n) => {
            Zeroizing::new(go::format_float(n.as_f64().unwrap_or_default()).into_bytes())
        }
        other => bytes_of(other, Numbers::Verbatim),
    }
}

/// Splits a gjson path into its parts, refusing the syntax not implemented.
fn path(property: &str) -> Result<Vec<String>, ValueError> {
    let unsupported = |what| ValueError::UnsupportedPath {
        property: property.to_owned(),
        what,
    };
    let mut parts = vec![String::new()];
    let mut chars = property.chars();
    while let Some(c) = chars.next() {
        let part = parts.last_mut().expect("never empty");
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    part.push(next);
                }
            }
            '.' => parts.push(String::new()),
            '*' | '?' => return Err(unsupported("wildcards")),
            '|' => return Err(unsupported("pipes")),
            '@' if part.is_empty() => return Err(unsupported("modifiers")),
            '(' if part == "#" => return Err(unsupported("queries")),
            c => part.push(c),
        }
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(value: Value) -> KvDocument {
        match value {
            Value::Object(map) => map.into(),
            _ => unreachable!(),
        }
    }

    fn text(bytes: Bytes) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn select_follows_eso() {
        let data = doc(json!({
            "password": "p<w>",
            "port": 5432,
            "ratio": 1.5,
            "on": true,
            "none": null,
            "a.b": "dotted key",
            "nested": {"user": {"name": "n"}, "list": ["x", {"k": 2}]},
        }));
        // No property: the whole value, as Go's json.Marshal writes it.
        assert_eq!(
            text(select(&data, None).unwrap()),
            r#"{"a.b":"dotted key","nested":{"list":["x",{"k":2}],"user":{"name":"n"}},"none":null,"on":true,"password":"p\u003cw\u003e","port":5432,"ratio":1.5}"#
        );
        assert_eq!(text(select(&data, Some("password")).unwrap()), "p<w>");
        assert_eq!(text(select(&data, Some("port")).unwrap()), "5432");
        assert_eq!(text(select(&data, Some("on")).unwrap()), "true");
        assert_eq!(text(select(&data, Some("none")).unwrap()), "");
        // A top-level key wins over the path syntax.
        assert_eq!(text(select(&data, Some("a.b")).unwrap()), "dotted key");
        assert_eq!(text(select(&data, Some("nested.user.name")).unwrap()), "n");
        assert_eq!(text(select(&data, Some("nested.list.1.k")).unwrap()), "2");
        assert_eq!(text(select(&data, Some("nested.list.#")).unwrap()), "2");
        assert_eq!(
            text(select(&data, Some("nested.user")).unwrap()),
            r#"{"name":"n"}"#
        );
        assert_eq!(
            select(&data, Some("nested.nope")).unwrap_err(),
            ValueError::MissingProperty {
                property: "nested.nope".into()
            }
        );
        assert!(matches!(
            select(&data, Some("nested.*")),
            Err(ValueError::UnsupportedPath {
                what: "wildcards",
                ..
            })
        ));
        let escaped = doc(json!({"x": {"a.b": "v"}}));
        assert_eq!(text(select(&escaped, Some(r"x.a\.b")).unwrap()), "v");
    }

    #[test]
    fn expand_makes_one_key_per_field() {
        let map = expand(br#"{"user":"u","port":5432.0,"obj":{"b":1,"a":true}}"#).unwrap();
        let got: Vec<(String, String)> = map
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("obj".to_owned(), r#"{"a":true,"b":1}"#.to_owned()),
                ("port".to_owned(), "5432".to_owned()),
                ("user".to_owned(), "u".to_owned()),
            ]
        );
        assert_eq!(expand(b"\"just a string\""), Err(ValueError::NotAnObject));
    }

    #[test]
    fn aws_values_keep_their_text() {
        let secret = br#" {"password": "p<w>", "port": 5432, "ratio": 1.50, "obj": { "b": 1, "a" : true }, "list": ["x", {"k": 2}], "a.b": "dotted", "none": null} "#;
        let get = |property| select_text(secret, Some(property)).map(text);
        // No property: the text itself, untouched.
        assert_eq!(
            select_text(secret, None).map(text).unwrap().as_bytes(),
            secret
        );
        assert_eq!(get("password").unwrap(), "p<w>");
        assert_eq!(get("port").unwrap(), "5432");
        assert_eq!(get("ratio").unwrap(), "1.5");
        assert_eq!(get("obj").unwrap(), r#"{ "b": 1, "a" : true }"#);
        assert_eq!(get("obj.a").unwrap(), "true");
        assert_eq!(get("list.1.k").unwrap(), "2");
        assert_eq!(get("list.#").unwrap(), "2");
        assert_eq!(get("a.b").unwrap(), "dotted");
        assert_eq!(get("none").unwrap(), "");
        assert_eq!(
            get("list.5"),
            Err(ValueError::MissingProperty {
                property: "list.5".into()
            })
        );
        assert!(matches!(
            get("list.*"),
            Err(ValueError::UnsupportedPath { .. })
        ));
        // A plain-text value has no properties.
        assert!(matches!(
            select_text(b"plain text", Some("x")),
            Err(ValueError::MissingProperty { .. })
        ));
    }

    #[test]
    fn aws_expand_keeps_non_strings_as_written() {
        let map = expand_text(br#"{"user":"u\u003c","port":5432.0,"obj":{ "b":1 }}"#).unwrap();
        let got: Vec<(String, String)> = map
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.to_vec()).unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                ("obj".to_owned(), r#"{ "b":1 }"#.to_owned()),
                ("port".to_owned(), "5432.0".to_owned()),
                ("user".to_owned(), "u<".to_owned()),
            ]
        );
        assert_eq!(expand_text(b"[1]"), Err(ValueError::NotAnObject));
    }
}

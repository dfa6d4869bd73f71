//! From a remote secret's JSON data to Secret bytes, as ESO's Vault provider does it:
//! the whole value as JSON when no `property` is given, a top-level field when the
//! property names one (ESO's rule for backwards compatibility), else a gjson-style path.
//!
//! The gjson subset: dot-separated names (`a.b`), `\` escaping a dot or any other
//! character (`a\.b` is the field `a.b`), array indexes (`list.0`) and `#` for an array's
//! length. Wildcards (`*`, `?`), queries (`#(...)`), modifiers (`@...`) and pipes (`|`) are
//! refused by name rather than misread.

use std::collections::BTreeMap;

use lockstep_keys::vault::KvDocument;
use serde_json::Value;
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
        let whole = Value::Object(document.clone());
        return Ok(Zeroizing::new(
            go::marshal(&whole, Numbers::Verbatim).into_bytes(),
        ));
    };
    if let Some(value) = document.get(property) {
        return Ok(bytes_of(value, Numbers::Verbatim));
    }
    let mut current = Some(Value::Object(document.clone()));
    for part in path(property)? {
        current = match (current, part.as_str()) {
            (Some(Value::Array(items)), "#") => Some(Value::from(items.len())),
            (Some(Value::Object(mut map)), key) => map.remove(key),
            (Some(Value::Array(mut items)), index) => match index.parse::<usize>() {
                Ok(i) if i < items.len() => Some(items.swap_remove(i)),
                _ => None,
            },
            _ => None,
        };
    }
    let found = current.ok_or_else(|| ValueError::MissingProperty {
        property: property.to_owned(),
    })?;
    Ok(gjson_string(&found))
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
            Value::Object(map) => map,
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
}

//! The Go renderings ESO's output depends on, reproduced byte for byte: `fmt`'s `%+v` of
//! the maps it hashes (SHA3-224, `utils.ObjectHash`), `encoding/json`'s `Marshal` of a
//! remote value, and `strconv.FormatFloat(f, 'f', -1, 64)` of a number. A Secret written
//! here then carries the same `data-hash` and `created-by` values ESO computes, and a whole
//! JSON value the same bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use lockstep_sops::stores::json::string;
use serde_json::Value;
use sha3::{Digest, Sha3_224};

/// `utils.ObjectHash` of a string: the hex SHA3-224 of the string itself (`%+v` of a Go
/// string is the string). ESO's `created-by` label is this of `namespace/name`.
pub fn hash_str(text: &str) -> String {
    hex(Sha3_224::digest(text.as_bytes()).as_slice())
}

/// `utils.ObjectHash` of a Secret's `map[string][]byte`, given as `(key, value)` pairs in
/// key order: `%+v` prints `map[a:[104 105] b:[]]`, each byte in decimal.
pub fn hash_data<'a>(data: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut text = String::from("map[");
    for (i, (key, value)) in data.into_iter().enumerate() {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(key);
        text.push_str(":[");
        for (j, byte) in value.iter().enumerate() {
            if j > 0 {
                text.push(' ');
            }
            let _ = write!(text, "{byte}");
        }
        text.push(']');
    }
    text.push(']');
    let digest = Sha3_224::digest(text.as_bytes());
    zeroize::Zeroize::zeroize(&mut text);
    hex(digest.as_slice())
}

/// ESO's `HashMeta`: `ObjectHash` of a struct `{annotations, labels}`, which `%+v` prints
/// as `{annotations:map[k:v] labels:map[k:v]}`.
pub fn hash_meta(
    annotations: &BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> String {
    let map = |m: &BTreeMap<String, String>| {
        let pairs: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("map[{}]", pairs.join(" "))
    };
    hash_str(&format!(
        "{{annotations:{} labels:{}}}",
        map(annotations),
        map(labels)
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

/// How numbers are written back, which depends on how Go decoded them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbers {
    /// As the server sent them (Go's `json.Number`, the Vault client's decoding).
    Verbatim,
    /// As a `float64` re-encoded (a plain `json.Unmarshal`, as `dataFrom.extract` does).
    Float,
}

/// `json.Marshal` of a decoded value: object keys sorted, no spaces, and Go's escaping
/// (`<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes).
pub fn marshal(value: &Value, numbers: Numbers) -> String {
    let mut out = String::new();
    write_value(&mut out, value, numbers);
    out
}

fn write_value(out: &mut String, value: &Value, numbers: Numbers) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match numbers {
            Numbers::Verbatim => out.push_str(&n.to_string()),
            Numbers::Float => out.push_str(&float_json(n.as_f64().unwrap_or_default())),
        },
        Value::String(s) => string(out, s.as_bytes()),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item, numbers);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(out, key.as_bytes());
                out.push(':');
                write_value(out, &map[key], numbers);
            }
            out.push('}');
        }
    }
}

/// `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest decimal that reads back as `f`,
/// never in exponent form (Rust's `Display` of `f64` is the same).
pub fn format_float(f: f64) -> String {
    format!("{f}")
}

/// How `encoding/json` writes a `float64`: like [`format_float`], but in exponent form
/// below 1e-6 and from 1e21 on (`1e+21`).
fn float_json(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let text = format!("{f:e}");
        // Go signs the exponent (1e+21) and trims a negative one's padding (1e-7).
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        return match exp.strip_prefix('-') {
            Some(digits) => format!("{mantissa}e-{digits}"),
            None => format!("{mantissa}e+{exp}"),
        };
    }
    format_float(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Values computed by Go (`fmt.Sprintf("%+v")` then `sha3.Sum224`), the same code ESO
    /// runs: a Secret ESO wrote carries these.
    #[test]
    fn hashes_match_go() {
        // ObjectHash("default/db") — ESO's created-by label for ExternalSecret default/db.
        assert_eq!(
            hash_str(""),
            "6b4e03423667dbb73b6e15454f0eb1abd4597f9a1b078e3f5b5a6bc7"
        );
        assert_eq!(hash_data([]), hash_str("map[]"));
        let data: [(&str, &[u8]); 2] = [("a", b"hi"), ("b", b"")];
        assert_eq!(hash_data(data), hash_str("map[a:[104 105] b:[]]"));
        let labels = BTreeMap::from([("x".to_owned(), "y".to_owned())]);
        assert_eq!(
            hash_meta(&BTreeMap::new(), &labels),
            hash_str("{annotations:map[] labels:map[x:y]}")
        );
    }

    #[test]
    fn marshal_is_go_json() {
        let value = json!({"z": 1, "a": {"y": [true, null, "<&>"], "b": 1.5}, "m": "\u{1}\n"});
        assert_eq!(
            marshal(&value, Numbers::Verbatim),
            r#"{"a":{"b":1.5,"y":[true,null,"\u003c\u0026\u003e"]},"m":"\u0001\n","z":1}"#
        );
        assert_eq!(
            marshal(&json!([1e21, 1e-7, 2.0]), Numbers::Float),
            "[1e+21,1e-7,2]"
        );
        assert_eq!(format_float(1.0), "1");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e21), "1000000000000000000000");
    }
}

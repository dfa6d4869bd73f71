//! One value set at a path of Helm values, as `helm --set path=value` sets it: the way Flux
//! places a `valuesFrom` entry that has a `targetPath` ([`set_path`]), and the way Argo CD
//! passes an Application's `helm.parameters` ([`set_parameter`]).
//!
//! - The path is keys separated by `.` (`\.` is a dot inside a key), each optionally
//!   followed by list indexes (`hosts[0]`); missing maps are made, lists are padded with
//!   nulls, as Helm's value parser does.
//! - The value is typed as `--set` types it — `true`/`false`, `null` (any case), an
//!   integer that does not start with `0`; anything else is a string — unless it is set as
//!   a string (`--set-string`).
//! - Helm's parser splits at an unescaped `,` and reads the rest as another assignment.
//!   Flux passes the text as it is, so such a `targetPath` value is refused with how to
//!   escape it; Argo CD escapes every comma first, so a parameter's comma is its own —
//!   except in a `{a,b}` list, which Helm reads as a list.
//!
//! Errors name the path, never the value: the value may come from a Secret.

use serde_json::{Map, Value};

/// The longest list index a path may name (Helm's own limit).
const MAX_INDEX: usize = 65_536;

/// Sets `value` at `path` in `values`.
///
/// # Errors
/// Why the path or value cannot be set, naming the path and never the value.
pub fn set_path(values: &mut Map<String, Value>, path: &str, value: &str) -> Result<(), String> {
    let value = flux_value(value).map_err(|why| format!("targetPath {path:?}: the value {why}"))?;
    set(values, path, value).map_err(|why| format!("targetPath {path:?}: {why}"))
}

/// Sets one of Argo CD's `helm.parameters` in `values` as `argocd-repo-server` passes it to
/// helm: `--set name=value`, or `--set-string` when `string` (`forceString`), with every
/// comma escaped first unless the value is a `{a,b}` list.
///
/// # Errors
/// Why the name or value cannot be set, never quoting the value.
pub fn set_parameter(
    values: &mut Map<String, Value>,
    name: &str,
    value: &str,
    string: bool,
) -> Result<(), String> {
    if name.contains([',', '=']) {
        return Err("the name holds a `,` or `=`, where Helm's parser would split it".into());
    }
    set(values, name, argo_value(value, string)?)
}

/// Sets `value`, as it is, at `path` in `values` (`helm --set-file`: a file's content).
///
/// # Errors
/// Why the path cannot be set.
pub fn set_string(
    values: &mut Map<String, Value>,
    path: &str,
    value: String,
) -> Result<(), String> {
    set(values, path, Value::String(value))
}

fn set(values: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let steps = steps(path)?;
    let (first, rest) = steps.split_first().ok_or("the path is empty")?;
    let Step::Key(key) = first else {
        return Err("the path must start with a key".into());
    };
    let slot = values.entry(key.clone()).or_insert(Value::Null);
    place(slot, rest, value);
    Ok(())
}

/// A part of a path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

fn steps(path: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    let mut key = String::new();
    let mut chars = path.chars().peekable();
    let mut after_index = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => key.push(chars.next().ok_or("ends in a lone backslash")?),
            '.' => {
                if key.is_empty() && !after_index {
                    return Err("has an empty key".into());
                }
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                }
                after_index = false;
            }
            '[' => {
                if !key.is_empty() {
                    steps.push(Step::Key(std::mem::take(&mut key)));
                } else if steps.is_empty() {
                    return Err("starts with a list index".into());
                }
                let digits: String = chars.by_ref().take_while(|c| *c != ']').collect();
                let index: usize = digits
                    .parse()
                    .map_err(|_| format!("has a list index that is not a number: [{digits}]"))?;
                if index > MAX_INDEX {
                    return Err(format!("has a list index over {MAX_INDEX}"));
                }
                steps.push(Step::Index(index));
                after_index = true;
            }
            c => {
                if after_index {
                    return Err("has a key right after a list index (a `.` is missing)".into());
                }
                key.push(c);
            }
        }
    }
    if !key.is_empty() {
        steps.push(Step::Key(key));
    } else if !after_index {
        return Err("ends with an empty key".into());
    }
    Ok(steps)
}

/// A `targetPath` value as Flux hands it to Helm's parser: quoted, the string inside the
/// quotes (`--set-string`); else typed as `--set` types it.
fn flux_value(raw: &str) -> Result<Value, &'static str> {
    let quoted = raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')));
    let text = if quoted { &raw[1..raw.len() - 1] } else { raw };
    let mut unescaped = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => unescaped.push(chars.next().unwrap_or('\\')),
            ',' => {
                return Err("holds a `,`, where Helm's value parser would split it; \
                            write it as `\\,`");
            }
            c => unescaped.push(c),
        }
    }
    Ok(scalar(unescaped, quoted))
}

/// An Argo CD parameter's value as helm reads it once Argo CD has escaped its commas: a
/// backslash keeps the character after it, a `{a,b}` value is a list of such values.
fn argo_value(raw: &str, string: bool) -> Result<Value, String> {
    let Some(items) = raw.strip_prefix('{').and_then(|r| r.strip_suffix('}')) else {
        if raw.starts_with('{') {
            return Err(
                "the value starts with `{` and does not end with `}`: Helm's parser \
                        reads it as a list that never ends; write it as `\\{`"
                    .into(),
            );
        }
        return Ok(scalar(unescape(raw)?, string));
    };
    let mut list = Vec::new();
    let mut item = String::new();
    let mut chars = items.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => item.push(
                chars
                    .next()
                    .ok_or("the value's `{…}` list ends in a lone backslash")?,
            ),
            ',' => list.push(scalar(std::mem::take(&mut item), string)),
            '}' => {
                return Err(
                    "the value's `{…}` list holds a `}`, where Helm's parser ends \
                            the list; write it as `\\}`"
                        .into(),
                );
            }
            c => item.push(c),
        }
    }
    list.push(scalar(item, string));
    Ok(Value::Array(list))
}

/// `raw` without its escaping backslashes. Argo CD escapes a comma unless a backslash is
/// before it, so a comma after an escaped backslash (`\\,`) still splits: refused.
fn unescape(raw: &str) -> Result<String, String> {
    let mut text = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            text.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') if chars.as_str().starts_with(',') => {
                return Err(
                    "the value holds `\\\\,`, where Helm's parser would split it; \
                            write the comma as `\\,`"
                        .into(),
                );
            }
            Some(next) => text.push(next),
            // Helm's parser drops a backslash that ends the text.
            None => {}
        }
    }
    Ok(text)
}

/// A value as helm's `--set` types it (`typedVal`); with `string`, as `--set-string` does.
fn scalar(text: String, string: bool) -> Value {
    if string {
        return Value::String(text);
    }
    for (word, value) in [
        ("true", Value::Bool(true)),
        ("false", Value::Bool(false)),
        ("null", Value::Null),
    ] {
        if text.eq_ignore_ascii_case(word) {
            return value;
        }
    }
    if text == "0" {
        return Value::from(0);
    }
    match text.parse::<i64>() {
        Ok(number) if !text.starts_with('0') => Value::from(number),
        _ => Value::String(text),
    }
}

fn place(slot: &mut Value, steps: &[Step], value: Value) {
    let Some((step, rest)) = steps.split_first() else {
        *slot = value;
        return;
    };
    match step {
        Step::Key(key) => {
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Some(map) = slot.as_object_mut() {
                place(map.entry(key.clone()).or_insert(Value::Null), rest, value);
            }
        }
        Step::Index(index) => {
            if !slot.is_array() {
                *slot = Value::Array(Vec::new());
            }
            if let Some(list) = slot.as_array_mut() {
                if list.len() <= *index {
                    list.resize(index + 1, Value::Null);
                }
                place(&mut list[*index], rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set(start: Value, path: &str, value: &str) -> Result<Value, String> {
        let mut map = start.as_object().cloned().unwrap();
        set_path(&mut map, path, value)?;
        Ok(Value::Object(map))
    }

    #[test]
    fn paths_and_values_read_as_helm_set_reads_them() {
        let start = json!({"auth": {"user": "app"}, "keep": 1});
        assert_eq!(
            set(start.clone(), "auth.password", "s3cret").unwrap(),
            json!({"auth": {"user": "app", "password": "s3cret"}, "keep": 1})
        );
        assert_eq!(
            set(json!({}), "a.b\\.c", "true").unwrap(),
            json!({"a": {"b.c": true}})
        );
        assert_eq!(
            set(json!({}), "hosts[1].name", "x").unwrap(),
            json!({"hosts": [null, {"name": "x"}]})
        );
        assert_eq!(
            set(json!({}), "m[0][1]", "7").unwrap(),
            json!({"m": [[null, 7]]})
        );
        assert_eq!(set(json!({}), "n", "-12").unwrap(), json!({"n": -12}));
        assert_eq!(set(json!({}), "n", "0123").unwrap(), json!({"n": "0123"}));
        assert_eq!(set(json!({}), "n", "1.5").unwrap(), json!({"n": "1.5"}));
        assert_eq!(set(json!({}), "n", "null").unwrap(), json!({"n": null}));
        assert_eq!(set(json!({}), "s", "'true'").unwrap(), json!({"s": "true"}));
        assert_eq!(set(json!({}), "s", "\"12\"").unwrap(), json!({"s": "12"}));
        assert_eq!(set(json!({}), "s", "a\\,b").unwrap(), json!({"s": "a,b"}));
        // A scalar in the way is replaced by the map the path needs.
        assert_eq!(
            set(json!({"a": "x"}), "a.b", "y").unwrap(),
            json!({"a": {"b": "y"}})
        );
    }

    #[test]
    fn bad_paths_and_split_values_are_refused_without_the_value() {
        for (path, why) in [
            ("", "empty"),
            ("a..b", "empty key"),
            ("[0]", "list index"),
            ("a[x]", "not a number"),
            ("a[0]b", "a `.` is missing"),
            ("a.", "empty key"),
            ("a[99999999]", "over"),
        ] {
            let err = set(json!({}), path, "v").unwrap_err();
            assert!(err.contains(why), "{path}: {err}");
        }
        let err = set(json!({}), "p", "Pq8-secret,tail").unwrap_err();
        assert!(err.contains("`\\,`") && !err.contains("Pq8"), "{err}");
    }

    fn parameter(name: &str, value: &str, string: bool) -> Result<Value, String> {
        let mut map = Map::new();
        set_parameter(&mut map, name, value, string)?;
        Ok(Value::Object(map))
    }

    /// What `helm template --set` (v3.21) made of each value once Argo CD escaped its
    /// commas; `engine/tests/helm.rs` checks the same against the real helm.
    #[test]
    fn parameters_read_as_helm_reads_argo_cd_set_flags() {
        for (value, typed) in [
            ("a,b", json!("a,b")),
            ("a\\,b", json!("a,b")),
            ("x\\y", json!("xy")),
            ("tail\\", json!("tail")),
            ("True", json!(true)),
            ("NULL", json!(null)),
            ("-05", json!(-5)),
            ("+5", json!(5)),
            ("-0", json!(0)),
            ("05", json!("05")),
            ("1e3", json!("1e3")),
            ("9223372036854775808", json!("9223372036854775808")),
            ("\"q\"", json!("\"q\"")),
            ("", json!("")),
            ("{}", json!([""])),
            ("{x,TRUE,05,-0}", json!(["x", true, "05", 0])),
            ("{x\\,y,z}", json!(["x,y", "z"])),
        ] {
            assert_eq!(
                parameter("a", value, false).unwrap(),
                json!({"a": typed}),
                "{value}"
            );
        }
        assert_eq!(parameter("a", "5", true).unwrap(), json!({"a": "5"}));
        assert_eq!(
            parameter("a", "{1,true}", true).unwrap(),
            json!({"a": ["1", "true"]})
        );
        assert_eq!(
            parameter("a.b[1]", "x", false).unwrap(),
            json!({"a": {"b": [null, "x"]}})
        );
        for (name, value, why) in [
            ("a,b", "v", "`,` or `=`"),
            ("a", "Pq8\\\\,b", "split"),
            ("a", "{Pq8}x}", "ends the list"),
            ("a", "{Pq8", "never ends"),
            ("a", "{Pq8\\}", "lone backslash"),
            ("a..b", "v", "empty key"),
        ] {
            let err = parameter(name, value, false).unwrap_err();
            assert!(
                err.contains(why) && !err.contains("Pq8"),
                "{name}={value}: {err}"
            );
        }
    }
}

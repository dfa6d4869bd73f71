//! One value set at a path of Helm values, as `helm --set path=value` sets it: the way Flux
//! places a `valuesFrom` entry that has a `targetPath`.
//!
//! - The path is keys separated by `.` (`\.` is a dot inside a key), each optionally
//!   followed by list indexes (`hosts[0]`); missing maps are made, lists are padded with
//!   nulls, as Helm's value parser does.
//! - The value is typed as `--set` types it — `true`/`false`, `null`, an integer without a
//!   leading zero; anything else is a string — unless it is wrapped in single or double
//!   quotes: then it is the string inside them (`--set-string`), as Flux reads it.
//! - Helm's parser splits at an unescaped `,` and would read the rest as another
//!   assignment (Flux then fails); such a value is refused with how to escape it, and `\,`
//!   is a comma.
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
    let value = typed(value).map_err(|why| format!("targetPath {path:?}: the value {why}"))?;
    let steps = steps(path).map_err(|why| format!("targetPath {path:?}: {why}"))?;
    let (first, rest) = steps.split_first().ok_or("targetPath is empty")?;
    let Step::Key(key) = first else {
        return Err(format!("targetPath {path:?} must start with a key"));
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

/// The value as `--set` (or, quoted, `--set-string`) reads it.
fn typed(raw: &str) -> Result<Value, &'static str> {
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
    if quoted {
        return Ok(Value::String(unescaped));
    }
    Ok(match unescaped.as_str() {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        "0" => Value::from(0),
        digits if !digits.starts_with('0') && !digits.starts_with("-0") => digits
            .parse::<i64>()
            .map_or_else(|_| Value::String(unescaped.clone()), Value::from),
        _ => Value::String(unescaped),
    })
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
}

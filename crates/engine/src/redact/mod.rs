//! The one place that hides secret values: in objects, in free text, and in every log line.
//!
//! Three tools, for three kinds of output:
//!
//! - [`redact_secret`] (and [`redact_secret_pair`] for diffs) works on the *structure* of an
//!   object: whatever a Secret's `data` and `stringData` hold (a map's values, or a string
//!   or list where a map belongs), and the `kubectl.kubernetes.io/last-applied-configuration`
//!   annotation that copies them, is replaced by [`REDACTED`]. Use it on anything about to
//!   be shown, stored in status (the inventory, manual-mode plans) or diffed.
//! - [`Redactor`] works on *text*: it holds every plaintext value a reconcile has seen
//!   (decrypted SOPS values, resolved Vault/KMS references, Secret data) and replaces each
//!   occurrence — as is, base64-encoded, in any spelling a Go or Rust program or a JSON
//!   encoder quotes it in, or cut short to any prefix of [`Redactor::PREFIX_LEN`] bytes or
//!   more — in any string. Use it on text the engine does not control (Kubernetes API error
//!   messages, kustomize's stderr), before anything shortens that text.
//! - [`hold`] and [`ScrubbedWriter`] work on the *process's output*: a reconcile holds its
//!   values for as long as it runs, and every log line is scrubbed with all values held at
//!   the moment it is written, whichever crate wrote it.
//!
//! Text matching is the second line. The first is structure: an API server message about an
//! object that carried decrypted or resolved values is never copied at all (see
//! [`crate::apply`]), since no matcher knows every way a value can be quoted.

mod index;
mod live;
mod spell;
mod text;

pub use live::{Held, ScrubbedWriter, hold, scrubbed_stdout};
pub use text::Redactor;

use serde_json::Value;

/// What a hidden value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// In a diff, a Secret value that differs on the two sides (kubectl's `*** (before)`).
pub const REDACTED_BEFORE: &str = "[redacted, before]";

/// In a diff, a Secret value that differs on the two sides (kubectl's `*** (after)`).
pub const REDACTED_AFTER: &str = "[redacted, after]";

/// The annotation `kubectl apply` writes with a full copy of the object, data included.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The fields of a Secret that hold its values.
const SECRET_FIELDS: [&str; 2] = ["data", "stringData"];

/// Whether `object` is a core `v1` Secret.
pub fn is_secret(object: &Value) -> bool {
    object["kind"] == "Secret" && object["apiVersion"] == "v1"
}

/// Replaces every value of a Secret's `data` and `stringData` (keys are kept, so a reader
/// still sees *which* keys exist) and its last-applied annotation with [`REDACTED`]. A
/// field that is not a map (a string, a list: the API server refuses it, but a render
/// shows it) is replaced whole. Objects other than Secrets are left as they are; a `List`'s
/// items are redacted.
pub fn redact_secret(object: &mut Value) {
    if object["kind"] == "List"
        && let Some(items) = object.get_mut("items").and_then(Value::as_array_mut)
    {
        items.iter_mut().for_each(redact_secret);
        return;
    }
    if !is_secret(object) {
        return;
    }
    for field in SECRET_FIELDS {
        if let Some(value) = object.get_mut(field) {
            mark(value, REDACTED);
        }
    }
    redact_last_applied(object);
}

/// [`redact_secret`] for the two sides of a diff: a value present on both sides and equal
/// becomes [`REDACTED`] on both; one that differs becomes [`REDACTED_BEFORE`] and
/// [`REDACTED_AFTER`], so the diff shows *that* a key changed and never what it holds.
/// Either side may be `Value::Null` (object created or deleted).
pub fn redact_secret_pair(before: &mut Value, after: &mut Value) {
    if !is_secret(before) && !is_secret(after) {
        return;
    }
    for field in SECRET_FIELDS {
        let old = before.get(field).cloned().unwrap_or(Value::Null);
        let new = after.get(field).cloned().unwrap_or(Value::Null);
        let maps = |v: &Value| v.is_object() || v.is_null();
        if !(maps(&old) && maps(&new)) {
            // A string or list where a map belongs: compared, and hidden, as one value.
            let same = old == new;
            if let Some(value) = before.get_mut(field) {
                mark(value, if same { REDACTED } else { REDACTED_BEFORE });
            }
            if let Some(value) = after.get_mut(field) {
                mark(value, if same { REDACTED } else { REDACTED_AFTER });
            }
            continue;
        }
        if let Some(map) = after.get_mut(field).and_then(Value::as_object_mut) {
            for (key, value) in map.iter_mut() {
                let same = old.get(key) == Some(value);
                *value = Value::String(if same { REDACTED } else { REDACTED_AFTER }.into());
            }
        }
        let hidden = after.get(field);
        if let Some(map) = before.get_mut(field).and_then(Value::as_object_mut) {
            for (key, value) in map.iter_mut() {
                let same = hidden
                    .and_then(|n| n.get(key))
                    .is_some_and(|v| v == REDACTED);
                *value = Value::String(if same { REDACTED } else { REDACTED_BEFORE }.into());
            }
        }
    }
    redact_last_applied(before);
    redact_last_applied(after);
}

/// Replaces each value of a map, or anything else whole, with `label`.
fn mark(value: &mut Value, label: &str) {
    match value.as_object_mut() {
        Some(map) => map
            .values_mut()
            .for_each(|v| *v = Value::String(label.into())),
        None => *value = Value::String(label.into()),
    }
}

fn redact_last_applied(object: &mut Value) {
    let annotation = object
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
        .and_then(|a| a.get_mut(LAST_APPLIED));
    if let Some(value) = annotation {
        *value = Value::String(REDACTED.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secret_values_and_last_applied_are_hidden_keys_kept() {
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "annotations": {LAST_APPLIED: "{\"data\":{\"a\":\"aHVudGVyMg==\"}}"}},
            "data": {"a": "aHVudGVyMg=="}, "stringData": {"b": "hunter2"}});
        redact_secret(&mut secret);
        let text = secret.to_string();
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg"),
            "{text}"
        );
        assert_eq!(secret["data"]["a"], REDACTED);
        assert_eq!(secret["stringData"]["b"], REDACTED);
        let mut config = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "x"}});
        redact_secret(&mut config);
        assert_eq!(config["data"]["a"], "x");
    }

    #[test]
    fn pair_marks_changed_keys_only() {
        let mut before = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2FtZQ==", "changed": "b2xk", "gone": "Z29uZQ=="}});
        let mut after = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2FtZQ==", "changed": "bmV3", "added": "YWRk"}});
        redact_secret_pair(&mut before, &mut after);
        assert_eq!(before["data"]["same"], REDACTED);
        assert_eq!(after["data"]["same"], REDACTED);
        assert_eq!(before["data"]["changed"], REDACTED_BEFORE);
        assert_eq!(after["data"]["changed"], REDACTED_AFTER);
        assert_eq!(before["data"]["gone"], REDACTED_BEFORE);
        assert_eq!(after["data"]["added"], REDACTED_AFTER);
    }

    #[test]
    fn fields_of_any_shape_are_hidden() {
        for stray in [
            json!("CANARY-A1b2C3-notamap"),
            json!(["CANARY-list"]),
            json!(42),
        ] {
            let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                "stringData": stray.clone(), "data": stray.clone()});
            redact_secret(&mut secret);
            assert_eq!(secret["stringData"], REDACTED, "{stray}");
            assert_eq!(secret["data"], REDACTED, "{stray}");

            let mut before = json!({"apiVersion": "v1", "kind": "Secret", "stringData": stray});
            let mut after = json!({"apiVersion": "v1", "kind": "Secret",
                "stringData": {"k": "CANARY-now-a-map"}});
            let mut same = before.clone();
            redact_secret_pair(&mut before, &mut after);
            assert_eq!(before["stringData"], REDACTED_BEFORE);
            assert_eq!(after["stringData"]["k"], REDACTED_AFTER);
            let mut again = same.clone();
            redact_secret_pair(&mut same, &mut again);
            assert_eq!(
                (&same["stringData"], &again["stringData"]),
                (&json!(REDACTED), &json!(REDACTED))
            );
        }
    }
}

//! The one place that hides secret values: in objects, and in free text.
//!
//! Two tools, for two kinds of output:
//!
//! - [`redact_secret`] (and [`redact_secret_pair`] for diffs) works on the *structure* of an
//!   object: every value under a Secret's `data` and `stringData`, and the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation that copies them, is
//!   replaced by [`REDACTED`]. Use it on anything about to be shown, stored in status (the
//!   inventory, manual-mode plans) or diffed.
//! - [`Redactor`] works on *text*: it holds every plaintext value a reconcile has seen
//!   (decrypted SOPS values, resolved Vault/KMS references, Secret data) and replaces each
//!   occurrence — as is, base64-encoded, or JSON-escaped — in any string. Use it on text
//!   the engine does not control: Kubernetes API error messages that echo the object,
//!   kustomize's stderr, log lines and event messages built from them.
//!
//! Values shorter than [`Redactor::MIN_LEN`] bytes are not scrubbed from free text: they
//! would match all over ordinary words and numbers. Structural redaction has no such limit.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use zeroize::Zeroizing;

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
/// still sees *which* keys exist) and its last-applied annotation with [`REDACTED`].
/// Objects other than Secrets are left as they are; a `List`'s items are redacted.
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
        if let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) {
            for value in map.values_mut() {
                *value = Value::String(REDACTED.into());
            }
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
        let old = before.get(field).and_then(Value::as_object).cloned();
        let old = old.unwrap_or_default();
        if let Some(map) = after.get_mut(field).and_then(Value::as_object_mut) {
            for (key, value) in map.iter_mut() {
                let same = old.get(key) == Some(value);
                *value = Value::String(if same { REDACTED } else { REDACTED_AFTER }.into());
            }
        }
        let new = after.get(field).and_then(Value::as_object);
        if let Some(map) = before.get_mut(field).and_then(Value::as_object_mut) {
            for (key, value) in map.iter_mut() {
                let same = new.and_then(|n| n.get(key)).is_some_and(|v| v == REDACTED);
                *value = Value::String(if same { REDACTED } else { REDACTED_BEFORE }.into());
            }
        }
    }
    redact_last_applied(before);
    redact_last_applied(after);
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

/// Every plaintext value seen in one reconcile, to scrub from free text.
///
/// Holds each value in the forms it can appear in text: as is, standard base64 (how
/// `data` travels), JSON-escaped (how API errors quote it), and each line of a multi-line
/// value (a PEM key quoted in part). The values are zeroized on drop and never printed:
/// `Debug` shows only how many there are.
#[derive(Default)]
pub struct Redactor {
    /// Longest first, so a value is replaced before any shorter value inside it.
    needles: Vec<Zeroizing<String>>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor {{ {} forms }}", self.needles.len())
    }
}

impl Redactor {
    /// Values shorter than this (in bytes) are not scrubbed from free text.
    pub const MIN_LEN: usize = 4;

    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one plaintext value (bytes: a value need not be UTF-8; its base64 form is
    /// still scrubbed).
    pub fn add(&mut self, plaintext: &[u8]) {
        if plaintext.len() < Self::MIN_LEN {
            return;
        }
        self.push(Zeroizing::new(STANDARD.encode(plaintext)));
        let Ok(text) = std::str::from_utf8(plaintext) else {
            return;
        };
        self.push(Zeroizing::new(text.to_owned()));
        if let Ok(quoted) = serde_json::to_string(text) {
            let quoted = Zeroizing::new(quoted);
            self.push(Zeroizing::new(quoted[1..quoted.len() - 1].to_owned()));
        }
        if text.contains('\n') {
            for line in text.lines().map(str::trim) {
                if line.len() >= 2 * Self::MIN_LEN {
                    self.push(Zeroizing::new(line.to_owned()));
                }
            }
        }
    }

    /// Adds every value of a Secret's `data` (base64-decoded) and `stringData`; does
    /// nothing for other objects.
    pub fn add_secret(&mut self, object: &Value) {
        if !is_secret(object) {
            return;
        }
        for field in SECRET_FIELDS {
            let Some(map) = object.get(field).and_then(Value::as_object) else {
                continue;
            };
            for value in map.values().filter_map(Value::as_str) {
                if field == "data" {
                    if let Ok(bytes) = STANDARD.decode(value) {
                        self.add(&Zeroizing::new(bytes));
                    }
                } else {
                    self.add(value.as_bytes());
                }
            }
        }
    }

    /// Adds every value `other` holds.
    pub fn extend(&mut self, other: &Redactor) {
        for needle in &other.needles {
            self.push(needle.clone());
        }
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every held value replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for needle in &self.needles {
            if out.contains(needle.as_str()) {
                out = Zeroizing::new(out).replace(needle.as_str(), REDACTED);
            }
        }
        out
    }

    /// Scrubs every string (keys too) of a JSON value in place, for status and events built
    /// as JSON.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) if self.needles.iter().any(|n| s.contains(n.as_str())) => {
                *s = self.scrub(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    self.scrub_value(&mut v);
                    map.insert(self.scrub(&key), v);
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, needle: Zeroizing<String>) {
        if needle.len() < Self::MIN_LEN || self.needles.contains(&needle) {
            return;
        }
        let at = self.needles.partition_point(|n| n.len() >= needle.len());
        self.needles.insert(at, needle);
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
    fn redactor_scrubs_plain_base64_escaped_and_lines() {
        let mut r = Redactor::new();
        r.add(b"hunter2-canary");
        r.add(b"-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\n-----END KEY-----\n");
        r.add(b"ab");
        let text = "bad value \"hunter2-canary\" (aHVudGVyMi1jYW5hcnk=) MIIEpAIBAAKCAQEA \
                    -----BEGIN KEY-----\\nMIIEpAIBAAKCAQEA\\n-----END KEY-----\\n ab";
        let out = r.scrub(text);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("aHVudGVy"), "{out}");
        assert!(!out.contains("MIIEpAIB"), "{out}");
        assert!(out.ends_with(" ab"), "short values stay: {out}");
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn redactor_reads_secret_objects_and_json() {
        let mut r = Redactor::new();
        r.add_secret(&json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "aHVudGVyMi1jYW5hcnk="}, "stringData": {"b": "s3cr3t-value"}}));
        let mut status = json!({"message": "x hunter2-canary y", "k": ["s3cr3t-value"]});
        r.scrub_value(&mut status);
        assert_eq!(
            status,
            json!({"message": "x [redacted] y", "k": ["[redacted]"]})
        );
    }
}

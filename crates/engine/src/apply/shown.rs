//! An object's change as a person reads it: a unified YAML diff of the live object against
//! what the apply leaves (the API server's dry-run, so defaulted fields are not shown as
//! changes), with every Secret value and every decrypted plaintext hidden on both sides.
//! `lockstep diff` prints it; the controller's web UI shows it.

use serde_json::Value;

use crate::redact::{Redactor, redact_secret_pair};

/// The diff of `live` (`Null`: not there) against `merged` (`Null`: deleted) for object
/// `id`, or `None` when they agree once the fields every write changes are left out.
/// Secret data is hidden by [`redact_secret_pair`] (a changed key shows *that* it changed),
/// and anything `redactor` knows (a ConfigMap value from a SOPS file) by
/// [`Redactor::scrub_value`].
pub fn unified_diff(
    id: &str,
    mut live: Value,
    mut merged: Value,
    redactor: &Redactor,
) -> Option<String> {
    for side in [&mut live, &mut merged] {
        strip(side);
    }
    redact_secret_pair(&mut live, &mut merged);
    redactor.scrub_value(&mut live);
    redactor.scrub_value(&mut merged);
    if live == merged {
        return None;
    }
    let (old, new) = (yaml(&live), yaml(&merged));
    Some(
        similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("live/{id}"), &format!("merged/{id}"))
            .to_string(),
    )
}

/// What one line of a [`unified_diff`] is, for whoever shows it (colours, classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiffLine {
    /// `+…`: in what the apply leaves, not in the live object.
    Added,
    /// `-…`: in the live object, not in what the apply leaves.
    Removed,
    /// `@@ … @@`: where a hunk starts.
    Hunk,
    /// `--- live/…` or `+++ merged/…`: which object.
    Header,
    /// The same on both sides, or anything else.
    Context,
}

impl DiffLine {
    /// What `line` (without or with its newline) is.
    pub fn of(line: &str) -> Self {
        match line.as_bytes().first() {
            Some(b'+' | b'-') if line.starts_with("+++") || line.starts_with("---") => Self::Header,
            Some(b'+') => Self::Added,
            Some(b'-') => Self::Removed,
            Some(b'@') => Self::Hunk,
            _ => Self::Context,
        }
    }
}

/// Fields the server sets on every write, which say nothing about the change.
fn strip(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(field);
        }
    }
}

/// `object` as YAML (empty for `Null`); JSON if YAML cannot hold it.
fn yaml(object: &Value) -> String {
    if object.is_null() {
        return String::new();
    }
    serde_saphyr::to_string(object)
        .or_else(|_| serde_json::to_string_pretty(object))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn secret(password: &str, uid: &str) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "app", "uid": uid, "resourceVersion": uid},
            "data": {"password": password, "user": "YWRtaW4="},
        })
    }

    #[test]
    fn agreeing_objects_have_no_diff_whatever_the_server_set() {
        let redactor = Redactor::new();
        let diff = unified_diff(
            "v1/Secret/app/db",
            secret("b2xk", "1"),
            secret("b2xk", "2"),
            &redactor,
        );
        assert_eq!(diff, None);
    }

    #[test]
    fn a_changed_secret_value_shows_that_it_changed_never_what() {
        let redactor = Redactor::new();
        let diff = unified_diff(
            "v1/Secret/app/db",
            secret("b2xk", "1"),
            secret("bmV3", "1"),
            &redactor,
        )
        .expect("the password changed");
        assert!(diff.contains("--- live/v1/Secret/app/db"), "{diff}");
        assert!(
            diff.contains("-  password:") && diff.contains("+  password:"),
            "{diff}"
        );
        for value in ["b2xk", "bmV3", "YWRtaW4="] {
            assert!(!diff.contains(value), "{value} shown: {diff}");
        }
    }

    #[test]
    fn decrypted_plaintext_outside_secrets_is_hidden() {
        let mut redactor = Redactor::new();
        redactor.add(b"hunter2-from-sops");
        let map = |value: &str| {
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                   "metadata": {"name": "c", "namespace": "app"},
                   "data": {"dsn": value, "mode": "fast"}})
        };
        let diff = unified_diff(
            "v1/ConfigMap/app/c",
            map("old"),
            map("hunter2-from-sops"),
            &redactor,
        )
        .expect("dsn changed");
        assert!(diff.contains("-  dsn: old"), "{diff}");
        assert!(!diff.contains("hunter2"), "{diff}");
    }

    #[test]
    fn each_line_of_a_diff_is_told_apart() {
        let kinds: Vec<DiffLine> = [
            "--- live/x",
            "+++ merged/x",
            "@@ -1 +1 @@",
            "-  a: 1",
            "+  a: 2",
            " b: 3",
        ]
        .into_iter()
        .map(DiffLine::of)
        .collect();
        use DiffLine::*;
        assert_eq!(kinds, [Header, Header, Hunk, Removed, Added, Context]);
    }

    #[test]
    fn a_created_object_is_all_additions() {
        let redactor = Redactor::new();
        let map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                         "metadata": {"name": "c"}, "data": {"a": "1"}});
        let diff = unified_diff("v1/ConfigMap/app/c", Value::Null, map, &redactor).unwrap();
        assert!(
            diff.lines()
                .filter(|l| l.starts_with('-') && !l.starts_with("---"))
                .count()
                == 0,
            "{diff}"
        );
        assert!(
            diff.contains("+  a: '1'") || diff.contains("+  a: \"1\""),
            "{diff}"
        );
    }
}

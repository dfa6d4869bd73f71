//! Where a live object differs from what an apply leaves it as: field paths, never values.
//! The one comparison behind both the decision to write an existing object
//! ([`super::step`]) and the drift a `Sync` reports or reverts ([`super::Preview::drift`]).
//!
//! Compared are labels, annotations and everything outside `metadata` and `status`, as the
//! API server's dry-run of our apply returns it against the live object. A field another
//! manager added that the apply does not set is the same on both sides (server-side apply
//! leaves it), so only what Git sets can drift.

use std::collections::BTreeMap;

use kube::api::DynamicObject;
use serde_json::Value;

use super::IgnoreDifferences;
use super::resolve::Target;

/// The paths at which `live` differs from `merged` outside the fields `ignore` picks for
/// this object ([`super::IgnoreDifferences`]).
pub(crate) fn differing(
    target: &Target,
    live: &DynamicObject,
    merged: &DynamicObject,
    ignore: &IgnoreDifferences,
) -> Vec<String> {
    match ignore.normalized(&target.resource.group, live, merged) {
        Some((live, merged)) => paths(&live, &merged),
        None => paths(live, merged),
    }
}

/// The paths at which `live` differs from `merged` (`spec.replicas`, `data.password`,
/// `metadata.labels.app`, `spec.containers[0].image`), sorted; empty when they agree.
pub(crate) fn paths(live: &DynamicObject, merged: &DynamicObject) -> Vec<String> {
    let mut out = Vec::new();
    let (l, m) = (&live.metadata, &merged.metadata);
    map_paths(
        "metadata.labels",
        l.labels.as_ref(),
        m.labels.as_ref(),
        &mut out,
    );
    let annotations = (l.annotations.as_ref(), m.annotations.as_ref());
    map_paths(
        "metadata.annotations",
        annotations.0,
        annotations.1,
        &mut out,
    );
    let (live, merged) = (without_status(&live.data), without_status(&merged.data));
    value_paths(String::new(), &live, &merged, &mut out);
    out.sort();
    out
}

fn map_paths(
    at: &str,
    live: Option<&BTreeMap<String, String>>,
    merged: Option<&BTreeMap<String, String>>,
    out: &mut Vec<String>,
) {
    let empty = BTreeMap::new();
    let (live, merged) = (live.unwrap_or(&empty), merged.unwrap_or(&empty));
    let keys = live
        .keys()
        .chain(merged.keys().filter(|k| !live.contains_key(*k)));
    out.extend(
        keys.filter(|k| live.get(*k) != merged.get(*k))
            .map(|k| child(at, k)),
    );
}

fn value_paths(at: String, live: &Value, merged: &Value, out: &mut Vec<String>) {
    match (live, merged) {
        (Value::Object(l), Value::Object(m)) => {
            let keys = l.keys().chain(m.keys().filter(|k| !l.contains_key(*k)));
            for key in keys {
                let null = Value::Null;
                let (a, b) = (l.get(key).unwrap_or(&null), m.get(key).unwrap_or(&null));
                if a != b {
                    value_paths(child(&at, key), a, b, out);
                }
            }
        }
        (Value::Array(l), Value::Array(m)) if l.len() == m.len() => {
            for (i, (a, b)) in l.iter().zip(m).enumerate() {
                if a != b {
                    value_paths(format!("{at}[{i}]"), a, b, out);
                }
            }
        }
        _ if live != merged => out.push(if at.is_empty() { ".".into() } else { at }),
        _ => {}
    }
}

/// `key` under `at`: `at.key`, or `at["key"]` when the key is not a plain name (a label
/// such as `app.kubernetes.io/name`, a file name such as `app.conf`).
fn child(at: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (at.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{at}.{key}"),
        (_, false) => format!("{at}[{key:?}]"),
    }
}

fn without_status(data: &Value) -> Value {
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        map.remove("status");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn names_each_differing_field_and_never_a_value() {
        let live = object(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "labels": {"app": "a", "extra": "x"},
                         "resourceVersion": "7"},
            "data": {"password": "aHVudGVyMg==", "user": "dQ=="},
            "spec": {"containers": [{"image": "a:1"}, {"image": "b:1"}], "ports": [1]},
            "status": {"phase": "Running"},
        }));
        let merged = object(serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "s", "labels": {"app": "b", "extra": "x",
                                                 "app.kubernetes.io/name": "n"},
                         "resourceVersion": "8"},
            "data": {"password": "c2VjcmV0", "user": "dQ=="},
            "spec": {"containers": [{"image": "a:2"}, {"image": "b:1"}], "ports": [1, 2]},
        }));
        let paths = paths(&live, &merged);
        assert_eq!(
            paths,
            [
                "data.password",
                "metadata.labels.app",
                "metadata.labels[\"app.kubernetes.io/name\"]",
                "spec.containers[0].image",
                "spec.ports",
            ]
        );
        assert!(
            paths
                .iter()
                .all(|p| !p.contains("c2VjcmV0") && !p.contains("aHVudGVyMg"))
        );
        assert!(super::paths(&live, &live).is_empty());
    }
}

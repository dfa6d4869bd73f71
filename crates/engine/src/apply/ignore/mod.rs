//! Fields whose differences an apply ignores (Argo CD's `ignoreDifferences`): a field
//! another controller sets (an HPA's `spec.replicas`, a webhook's `caBundle`) is neither
//! drift nor a reason to write the object.
//!
//! A rule picks objects by group, kind and optionally name and namespace, and names
//! fields by JSON pointer or by the managers that own them (`managedFieldsManagers`: the
//! fields the live object's `managedFields` give those managers). Those fields are taken
//! out of both the live object and the dry-run result before they are compared, so an
//! object that differs only there is left alone. When the object is written for another
//! reason, Git's value is written too, unless the rules are *respected* (Argo CD's
//! `RespectIgnoreDifferences=true`; always for a `Sync`): then the object is applied with
//! the live value at each pointer (or without the field, when the live object has none),
//! and without the fields the named managers own, which are left to them.

mod path;

use kube::api::DynamicObject;
use serde_json::Value;

use path::Path;

/// The objects a rule applies to and the fields it ignores in them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreRule {
    /// API group (empty for the core group), or `*`.
    pub group: String,
    /// Kind, or `*`.
    pub kind: String,
    /// Only the object of this name.
    pub name: Option<String>,
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Fields by JSON pointer (`/spec/replicas`).
    pub json_pointers: Vec<String>,
    /// Every field these field managers own in the live object.
    pub managers: Vec<String>,
}

/// The rules of one apply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IgnoreDifferences {
    /// The rules.
    pub rules: Vec<IgnoreRule>,
    /// Keep the live value of ignored fields when an object is written (see the module).
    pub respect: bool,
}

/// The ignored fields of one object: by pointer, and owned by a named manager.
#[derive(Default)]
struct Ignored {
    pointers: Vec<Path>,
    owned: Vec<Path>,
}

impl Ignored {
    fn is_empty(&self) -> bool {
        self.pointers.is_empty() && self.owned.is_empty()
    }
}

impl IgnoreDifferences {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The fields ignored in the object `group`/`kind` `namespace`/`name`, whose live
    /// state is `live`.
    fn ignored(&self, group: &str, kind: &str, namespace: &str, live: &Value) -> Ignored {
        let name = live["metadata"]["name"].as_str().unwrap_or_default();
        let matching = self.rules.iter().filter(|rule| {
            (rule.group == "*" || rule.group == group)
                && (rule.kind == "*" || rule.kind == kind)
                && rule.name.as_ref().is_none_or(|n| n == name)
                && rule.namespace.as_ref().is_none_or(|n| n == namespace)
        });
        let mut ignored = Ignored::default();
        for rule in matching {
            ignored
                .pointers
                .extend(rule.json_pointers.iter().filter_map(|p| path::pointer(p)));
            let entries = live["metadata"]["managedFields"].as_array().into_iter();
            for entry in entries.flatten() {
                let manager = entry["manager"].as_str().unwrap_or_default();
                if rule.managers.iter().any(|m| m == manager) {
                    ignored.owned.extend(path::leaves(&entry["fieldsV1"]));
                }
            }
        }
        ignored
    }

    /// `live` and `merged` without the ignored fields, for comparing; `None` when no rule
    /// picks the object.
    pub(super) fn normalized(
        &self,
        group: &str,
        live: &DynamicObject,
        merged: &DynamicObject,
    ) -> Option<(DynamicObject, DynamicObject)> {
        if self.is_empty() {
            return None;
        }
        let kind = live
            .types
            .as_ref()
            .map(|t| t.kind.as_str())
            .unwrap_or_default();
        let namespace = live.metadata.namespace.as_deref().unwrap_or_default();
        let live_value = serde_json::to_value(live).ok()?;
        let ignored = self.ignored(group, kind, namespace, &live_value);
        if ignored.is_empty() {
            return None;
        }
        let strip = |mut value: Value| {
            for path in ignored.pointers.iter().chain(&ignored.owned) {
                path::remove(&mut value, path);
            }
            serde_json::from_value(value).ok()
        };
        Some((
            strip(live_value)?,
            strip(serde_json::to_value(merged).ok()?)?,
        ))
    }

    /// Whether some rule keeps live values ([`Self::respected`] may change a body).
    pub(super) fn keeps_live(&self) -> bool {
        self.respect && !self.is_empty()
    }

    /// The body to apply over `live` when the rules are respected: the live value at each
    /// ignored pointer (or no field, where the live object has none) and none of the
    /// fields a named manager owns. `None` when that is `body` itself.
    pub(super) fn respected(
        &self,
        group: &str,
        kind: &str,
        namespace: &str,
        body: &Value,
        live: &DynamicObject,
    ) -> Option<Value> {
        if !self.keeps_live() {
            return None;
        }
        let live = serde_json::to_value(live).ok()?;
        let ignored = self.ignored(group, kind, namespace, &live);
        if ignored.is_empty() {
            return None;
        }
        let mut respected = body.clone();
        for pointer in &ignored.pointers {
            match path::get(&live, pointer) {
                Some(value) => path::set(&mut respected, pointer, value.clone()),
                None => path::remove(&mut respected, pointer),
            }
        }
        for owned in &ignored.owned {
            path::remove(&mut respected, owned);
        }
        (respected != *body).then_some(respected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(replicas: u32, image: &str, managers: Value) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "team", "managedFields": managers},
            "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                {"name": "app", "image": image},
            ]}}},
        })
    }

    fn hpa() -> Value {
        json!([{"manager": "kube-controller-manager", "operation": "Update",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}}])
    }

    fn object(value: Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    fn rules(rule: IgnoreRule, respect: bool) -> IgnoreDifferences {
        IgnoreDifferences {
            rules: vec![rule],
            respect,
        }
    }

    fn replicas_by(pointer: bool) -> IgnoreRule {
        IgnoreRule {
            group: "apps".into(),
            kind: "Deployment".into(),
            json_pointers: if pointer {
                vec!["/spec/replicas".into()]
            } else {
                Vec::new()
            },
            managers: if pointer {
                Vec::new()
            } else {
                vec!["kube-controller-manager".into()]
            },
            ..IgnoreRule::default()
        }
    }

    #[test]
    fn ignored_fields_leave_the_comparison() {
        let live = object(deployment(3, "a:1", hpa()));
        let merged = object(deployment(1, "a:1", hpa()));
        for by_pointer in [true, false] {
            let ignore = rules(replicas_by(by_pointer), false);
            let (live, merged) = ignore.normalized("apps", &live, &merged).unwrap();
            assert_eq!(live.data, merged.data, "by pointer: {by_pointer}");
        }
        // Another kind, another name, another namespace: not picked.
        for rule in [
            IgnoreRule {
                kind: "StatefulSet".into(),
                ..replicas_by(true)
            },
            IgnoreRule {
                name: Some("api".into()),
                ..replicas_by(true)
            },
            IgnoreRule {
                namespace: Some("other".into()),
                ..replicas_by(true)
            },
        ] {
            assert!(
                rules(rule, false)
                    .normalized("apps", &live, &merged)
                    .is_none()
            );
        }
        let any = IgnoreRule {
            group: "*".into(),
            kind: "*".into(),
            ..replicas_by(true)
        };
        assert!(
            rules(any, false)
                .normalized("apps", &live, &merged)
                .is_some()
        );
    }

    #[test]
    fn respected_rules_keep_live_values_and_leave_owned_fields() {
        let live = object(deployment(3, "a:1", hpa()));
        let body = deployment(1, "a:2", Value::Null);
        let respected = rules(replicas_by(true), true)
            .respected("apps", "Deployment", "team", &body, &live)
            .unwrap();
        assert_eq!(respected["spec"]["replicas"], 3);
        assert_eq!(
            respected["spec"]["template"]["spec"]["containers"][0]["image"],
            "a:2"
        );
        let released = rules(replicas_by(false), true)
            .respected("apps", "Deployment", "team", &body, &live)
            .unwrap();
        assert!(released["spec"].get("replicas").is_none());
        // Not respected: the body as Git has it.
        assert!(
            rules(replicas_by(true), false)
                .respected("apps", "Deployment", "team", &body, &live)
                .is_none()
        );
        // A pointer the live object lacks: the field is left out.
        let mut bare = deployment(3, "a:1", hpa());
        bare["spec"].as_object_mut().unwrap().remove("replicas");
        let respected = rules(replicas_by(true), true)
            .respected("apps", "Deployment", "team", &body, &object(bare))
            .unwrap();
        assert!(respected["spec"].get("replicas").is_none());
    }
}

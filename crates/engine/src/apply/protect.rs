//! Objects an apply refuses to write and prune never deletes, whoever claims them.
//!
//! The controller protects its own namespace from Syncs that live elsewhere (a tenant's
//! repository must not be able to replace the controller's sealing keys or Deployment),
//! and sealing key Secrets everywhere (keys come from the controller or `lockstep keys
//! import`, never from Git). The rules are checked before the first write: against the
//! desired object, and against the live object's labels.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

/// A set of protection rules; empty protects nothing.
#[derive(Clone, Debug, Default)]
pub struct Protect {
    rules: Vec<Rule>,
}

/// One rule and why it exists (shown in the refusal).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What is protected.
    pub guard: Guard,
    /// Why, in a few words for the user.
    pub why: String,
}

/// What a rule protects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Every object in this namespace, and the Namespace itself.
    Namespace(String),
    /// Every object carrying this label key, desired or live.
    Label(String),
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.guard {
            Guard::Namespace(ns) => write!(f, "namespace {ns} is protected: {}", self.why),
            Guard::Label(key) => {
                write!(f, "objects labelled {key} are protected: {}", self.why)
            }
        }
    }
}

impl Protect {
    /// Also protects namespace `namespace`.
    #[must_use]
    pub fn namespace(mut self, namespace: &str, why: &str) -> Self {
        self.rules.push(Rule {
            guard: Guard::Namespace(namespace.to_owned()),
            why: why.to_owned(),
        });
        self
    }

    /// Also protects objects labelled `key`.
    #[must_use]
    pub fn label(mut self, key: &str, why: &str) -> Self {
        self.rules.push(Rule {
            guard: Guard::Label(key.to_owned()),
            why: why.to_owned(),
        });
        self
    }

    /// The rule a desired object breaks: its namespace, the Namespace it is, its labels.
    pub(crate) fn desired(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        object: &Value,
    ) -> Option<&Rule> {
        let labels = object["metadata"]["labels"].as_object();
        self.find(kind, namespace, name, |key| {
            labels.is_some_and(|l| l.contains_key(key))
        })
    }

    /// The rule an object with this identity and these live labels breaks.
    pub(crate) fn live(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        labels: Option<&BTreeMap<String, String>>,
    ) -> Option<&Rule> {
        self.find(kind, namespace, name, |key| {
            labels.is_some_and(|l| l.contains_key(key))
        })
    }

    fn find(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        labelled: impl Fn(&str) -> bool,
    ) -> Option<&Rule> {
        self.rules.iter().find(|rule| match &rule.guard {
            Guard::Namespace(ns) => {
                namespace == ns || (kind == "Namespace" && namespace.is_empty() && name == ns)
            }
            Guard::Label(key) => labelled(key),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_and_labels_are_matched_on_both_sides() {
        let protect = Protect::default()
            .namespace("lockstep-system", "the controller's own")
            .label("sealedsecrets.bitnami.com/sealed-secrets-key", "keys");
        let plain = serde_json::json!({"metadata": {"name": "a"}});
        assert!(protect.desired("ConfigMap", "shop", "a", &plain).is_none());
        assert!(
            protect
                .desired("ConfigMap", "lockstep-system", "a", &plain)
                .is_some()
        );
        assert!(
            protect
                .desired("Namespace", "", "lockstep-system", &plain)
                .is_some()
        );
        let key = serde_json::json!({"metadata": {"labels": {
            "sealedsecrets.bitnami.com/sealed-secrets-key": "active"}}});
        let rule = protect.desired("Secret", "shop", "k", &key).unwrap();
        assert!(rule.to_string().contains("sealed-secrets-key"), "{rule}");
        let labels = BTreeMap::from([(
            "sealedsecrets.bitnami.com/sealed-secrets-key".to_owned(),
            "active".to_owned(),
        )]);
        assert!(protect.live("Secret", "shop", "k", Some(&labels)).is_some());
        assert!(protect.live("Secret", "shop", "k", None).is_none());
    }
}

//! Scopes: what a sealed value is bound to, how that becomes the OAEP label, and the
//! annotations that select it (`sealedsecret_expansion.go`, `types.go` upstream).
//!
//! | scope | label | annotation (value exactly `"true"`) |
//! |---|---|---|
//! | strict (default) | `<namespace>/<name>` | neither |
//! | namespace-wide | `<namespace>` | `sealedsecrets.bitnami.com/namespace-wide` |
//! | cluster-wide | empty | `sealedsecrets.bitnami.com/cluster-wide` (wins if both) |

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Annotation prefix of sealed-secrets.
pub const ANNOTATION_PREFIX: &str = "sealedsecrets.bitnami.com/";
/// Annotation selecting [`Scope::NamespaceWide`].
pub const NAMESPACE_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/namespace-wide";
/// Annotation selecting [`Scope::ClusterWide`].
pub const CLUSTER_WIDE_ANNOTATION: &str = "sealedsecrets.bitnami.com/cluster-wide";
/// On an existing Secret: the controller may take it over.
pub const MANAGED_ANNOTATION: &str = "sealedsecrets.bitnami.com/managed";
/// On an existing Secret: merge into it instead of replacing it.
pub const PATCH_ANNOTATION: &str = "sealedsecrets.bitnami.com/patch";
/// On the template: the produced Secret gets no ownerReference.
pub const SKIP_SET_OWNER_REFERENCES_ANNOTATION: &str =
    "sealedsecrets.bitnami.com/skip-set-owner-references";
/// Label on the controller's key Secrets (value `active`).
pub const SEALING_KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// What a sealed value is bound to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Bound to namespace and name (the default).
    #[default]
    Strict,
    /// Bound to the namespace; any name.
    NamespaceWide,
    /// Not bound; any namespace and name.
    ClusterWide,
}

impl Scope {
    /// The OAEP label for this scope.
    pub fn label(self, namespace: &str, name: &str) -> Vec<u8> {
        match self {
            Self::Strict => format!("{namespace}/{name}").into_bytes(),
            Self::NamespaceWide => namespace.as_bytes().to_vec(),
            Self::ClusterWide => Vec::new(),
        }
    }

    /// The scope the annotations select (exact, case-sensitive `"true"`, as upstream).
    pub fn from_annotations(annotations: Option<&BTreeMap<String, String>>) -> Self {
        let is_true = |key: &str| {
            annotations
                .and_then(|a| a.get(key))
                .is_some_and(|v| v == "true")
        };
        if is_true(CLUSTER_WIDE_ANNOTATION) {
            Self::ClusterWide
        } else if is_true(NAMESPACE_WIDE_ANNOTATION) {
            Self::NamespaceWide
        } else {
            Self::Strict
        }
    }

    /// Rewrites `annotations` to select exactly this scope: removes both scope annotations
    /// and sets the one for this scope (none for strict).
    pub fn set_annotations(self, annotations: &mut BTreeMap<String, String>) {
        annotations.remove(NAMESPACE_WIDE_ANNOTATION);
        annotations.remove(CLUSTER_WIDE_ANNOTATION);
        if let Some(key) = self.annotation() {
            annotations.insert(key.to_owned(), "true".to_owned());
        }
    }

    /// The annotation that selects this scope, if any.
    pub fn annotation(self) -> Option<&'static str> {
        match self {
            Self::Strict => None,
            Self::NamespaceWide => Some(NAMESPACE_WIDE_ANNOTATION),
            Self::ClusterWide => Some(CLUSTER_WIDE_ANNOTATION),
        }
    }

    /// kubeseal's name for the scope (`--scope`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::NamespaceWide => "namespace-wide",
            Self::ClusterWide => "cluster-wide",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown scope name.
#[derive(Debug, thiserror::Error)]
#[error("unknown scope `{0}`: expected strict, namespace-wide or cluster-wide")]
pub struct ParseScopeError(pub String);

impl FromStr for Scope {
    type Err = ParseScopeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "strict" => Ok(Self::Strict),
            "namespace-wide" => Ok(Self::NamespaceWide),
            "cluster-wide" => Ok(Self::ClusterWide),
            other => Err(ParseScopeError(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(
            Scope::Strict.label("foo", "credentials"),
            b"foo/credentials"
        );
        assert_eq!(Scope::NamespaceWide.label("foo", "x"), b"foo");
        assert!(Scope::ClusterWide.label("foo", "x").is_empty());
    }

    #[test]
    fn annotations_select_scope_exactly() {
        let mut a = BTreeMap::new();
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::Strict);
        a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "True".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::Strict);
        a.insert(NAMESPACE_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::NamespaceWide);
        a.insert(CLUSTER_WIDE_ANNOTATION.to_owned(), "true".to_owned());
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::ClusterWide);
        Scope::NamespaceWide.set_annotations(&mut a);
        assert_eq!(a.len(), 1);
        assert_eq!(Scope::from_annotations(Some(&a)), Scope::NamespaceWide);
        Scope::Strict.set_annotations(&mut a);
        assert!(a.is_empty());
    }
}

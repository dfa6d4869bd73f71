//! Types shared by both resources: conditions, references, inventory and plan.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Removes a schema's `default` (applied to every subschema of the CRDs' spec and status):
/// the API server writes a schema default into every object it stores, so an object
/// applied without the field would read back with it — a diff for every GitOps tool and
/// for anyone switching between controllers. Fields are optional in the schema; the Rust
/// side supplies the defaults when it reads them.
pub(crate) fn no_default(schema: &mut schemars::Schema) {
    schema.remove("default");
}

/// A status condition, shaped like `metav1.Condition` so kstatus-aware tools read it.
///
/// Types used: `Ready`, `Reconciling`, `Stalled`, and on a `Sync` also `Healthy`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type: `Ready`, `Reconciling`, `Stalled` or `Healthy`.
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: ConditionStatus,
    /// CamelCase reason for the last transition.
    pub reason: String,
    /// Human-readable details. Never carries Secret data.
    #[serde(default)]
    pub message: String,
    /// RFC 3339 time of the last status change.
    pub last_transition_time: String,
    /// The `metadata.generation` this condition was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

/// A condition's status, spelled as `metav1.Condition` spells it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Work is under way and its outcome not known.
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// The status as written on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

impl From<bool> for ConditionStatus {
    fn from(holds: bool) -> Self {
        if holds { Self::True } else { Self::False }
    }
}

impl std::fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Compares with the wire spelling, so tools and tests that read a status as `kubectl`
/// prints it (`"True"`) need no mapping of their own.
impl PartialEq<str> for ConditionStatus {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ConditionStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A reference to an object in the same namespace, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectReference {
    /// Name of the referenced object.
    pub name: String,
}

/// Fields whose differences are ignored in the objects this rule picks (Argo CD's
/// `ResourceIgnoreDifferences`): not drift, not a reason to write the object.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ResourceIgnoreDifferences {
    /// API group of the objects (unset or empty for the core group), or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind of the objects, or `*`.
    pub kind: String,
    /// Only the object of this name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only objects in this namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Fields by JSON pointer (`/spec/replicas`, `/data/tls.crt`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub json_pointers: Vec<String>,
    /// Fields by jq path expression: not served yet, refused by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub jq_path_expressions: Vec<String>,
    /// Every field these field managers own in the live object (`kube-controller-manager`
    /// for an autoscaler's replicas).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub managed_fields_managers: Vec<String>,
}

impl ResourceIgnoreDifferences {
    /// Why Lockstep cannot serve this rule, if it cannot: a jq expression, or a JSON
    /// pointer that does not start at the root.
    pub fn refusal(&self) -> Option<String> {
        if let Some(jq) = self.jq_path_expressions.first() {
            return Some(format!(
                "jqPathExpressions ({jq:?}) are not served by Lockstep yet; name the field with \
                 jsonPointers or managedFieldsManagers"
            ));
        }
        let bad = self.json_pointers.iter().find(|p| !p.starts_with('/'))?;
        Some(format!(
            "jsonPointers entry {bad:?} is not a JSON pointer (it starts with /, as /spec/replicas)"
        ))
    }
}

/// One applied object, as recorded in `status.inventory`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// API version the object was applied with (`v1`, `v1beta1`, …).
    pub version: String,
    /// Kind of the object.
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    #[serde(default)]
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

/// What a reconcile would do, reported in manual mode before anything is applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The source revision the plan was computed for; approve it by this value.
    pub revision: String,
    /// One entry per object that would be created, configured or pruned.
    #[serde(default)]
    pub changes: Vec<PlanChange>,
}

/// One planned change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PlanChange {
    /// The object, as `group/kind/namespace/name`.
    pub object: String,
    /// What would happen to it.
    pub action: PlanAction,
}

/// What a plan would do to one object, spelled as `lockstep apply` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    /// It does not exist and would be created.
    Created,
    /// It differs from the desired state and would be updated.
    Configured,
    /// An immutable field changed; it would be deleted and created again.
    Replaced,
    /// It left the revision and would be deleted.
    Pruned,
}

impl PlanAction {
    /// The action as written into the plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Replaced => "replaced",
            Self::Pruned => "pruned",
        }
    }
}

impl std::fmt::Display for PlanAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both enums keep the spelling the objects already stored in clusters carry.
    #[test]
    fn wire_spelling_is_unchanged() {
        let statuses = [
            ConditionStatus::True,
            ConditionStatus::False,
            ConditionStatus::Unknown,
        ];
        let actions = [
            PlanAction::Created,
            PlanAction::Configured,
            PlanAction::Replaced,
            PlanAction::Pruned,
        ];
        let written = serde_json::to_string(&(statuses, actions)).unwrap();
        assert_eq!(
            written,
            r#"[["True","False","Unknown"],["created","configured","replaced","pruned"]]"#
        );
        let read: ([ConditionStatus; 3], [PlanAction; 4]) = serde_json::from_str(&written).unwrap();
        assert_eq!(read, (statuses, actions));
        assert!(serde_json::from_str::<ConditionStatus>(r#""true""#).is_err());
    }
}

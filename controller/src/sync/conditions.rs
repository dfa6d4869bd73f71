//! Status conditions shaped like `metav1.Condition`: set one, keeping its transition time
//! while its status stays the same, so `kubectl wait` and kstatus read them as usual.

use std::fmt;

use lockstep_api::{Condition, ConditionStatus};

/// `Ready`: the last revision is applied (and healthy, when health is checked).
pub const READY: &str = "Ready";
/// `Healthy`: the objects named by `wait`/`healthChecks` are current.
pub const HEALTHY: &str = "Healthy";
/// `Stalled`: the spec cannot work as written; nothing happens until it changes.
pub const STALLED: &str = "Stalled";
/// `Reconciling`: waiting on something that resolves by itself (a dependency, a source).
pub const RECONCILING: &str = "Reconciling";
/// `Drifted`: without `selfHeal`, live objects differ from the applied revision (which
/// objects and field paths, never values); removed once they agree again.
pub const DRIFTED: &str = "Drifted";

/// A condition or event reason, spelled as on the wire: [`Reason`] for a Sync,
/// [`SourceReason`] for a GitSource. [`set`] and [`super::status::publish`] take one, so
/// no reason is written as free text.
pub trait WireReason: Copy {
    /// The reason as written into conditions and events.
    fn as_str(self) -> &'static str;
}

/// Why a Sync's condition is what it is. Flux's reason names where Flux has one, so
/// dashboards and alerts written for Flux read them the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Applied (and healthy, when health is checked).
    ReconciliationSucceeded,
    /// An object could not be applied, or the target cluster reached.
    ReconciliationFailed,
    /// Objects another owner holds: nothing of the revision was applied.
    OwnershipConflict,
    /// Pruning was refused, or a deleted Sync's objects could not all be deleted.
    PruneFailed,
    /// An object was taken from another owner under `spec.forceOwnership` (an event).
    OwnershipTaken,
    /// A deleted Sync's objects were deleted (an event).
    Finalized,
    /// A revision is being applied, or its objects are rolling out.
    Progressing,
    /// A checked object failed, or was not healthy in time.
    HealthCheckFailed,
    /// A chart's Helm hook failed or did not finish in time (before the apply: nothing
    /// of the revision was applied).
    HookFailed,
    /// Every checked object is healthy (the `Healthy` condition).
    Succeeded,
    /// Manual mode: a plan waits for approval.
    ApprovalRequired,
    /// The spec cannot work as written.
    InvalidSpec,
    /// A `dependsOn` Sync is not Ready.
    DependencyNotReady,
    /// The source has no artifact yet.
    ArtifactFailed,
    /// Rendering failed.
    BuildFailed,
    /// SOPS decryption failed.
    DecryptionFailed,
    /// A Vault or KMS reference did not resolve.
    ReferenceFailed,
    /// Live objects differ from the applied revision (the `Drifted` condition, an event).
    DriftDetected,
    /// The drift reported before is gone (an event).
    DriftResolved,
    /// `selfHeal` reverted drift (an event).
    DriftCorrected,
    /// Pinned to a revision by `lockstep rollback` (the `Pinned` condition).
    RolledBack,
}

impl WireReason for Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::ReconciliationSucceeded => "ReconciliationSucceeded",
            Self::ReconciliationFailed => "ReconciliationFailed",
            Self::OwnershipConflict => "OwnershipConflict",
            Self::PruneFailed => "PruneFailed",
            Self::OwnershipTaken => "OwnershipTaken",
            Self::Finalized => "Finalized",
            Self::Progressing => "Progressing",
            Self::HealthCheckFailed => "HealthCheckFailed",
            Self::HookFailed => "HookFailed",
            Self::Succeeded => "Succeeded",
            Self::ApprovalRequired => "ApprovalRequired",
            Self::InvalidSpec => "InvalidSpec",
            Self::DependencyNotReady => "DependencyNotReady",
            Self::ArtifactFailed => "ArtifactFailed",
            Self::BuildFailed => "BuildFailed",
            Self::DecryptionFailed => "DecryptionFailed",
            Self::ReferenceFailed => "ReferenceFailed",
            Self::DriftDetected => "DriftDetected",
            Self::DriftResolved => "DriftResolved",
            Self::DriftCorrected => "DriftCorrected",
            Self::RolledBack => "RolledBack",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a GitSource's condition is what it is, with Flux source-controller's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceReason {
    /// An artifact is stored (and its signature verified, when asked).
    Succeeded,
    /// A new revision was fetched (an event).
    NewArtifact,
    /// The credentials Secret is missing or refused.
    AuthenticationFailed,
    /// Cloning or fetching failed.
    GitOperationFailed,
    /// The trusted keys could not be read.
    VerificationError,
    /// `verify.mode` asks for a tag signature but the reference is not a tag.
    InvalidVerificationMode,
    /// No tag object, or one without a signature: nothing to verify.
    InvalidGitObject,
    /// The tag's signature did not verify.
    InvalidTagSignature,
    /// The commit's signature did not verify.
    InvalidCommitSignature,
    /// The spec cannot work as written.
    InvalidSpec,
    /// A Helm repository's index could not be read (Flux's HelmRepository reason).
    IndexationFailed,
    /// An OCIRepository's artifact could not be pulled (Flux's reason).
    OciPullFailed,
}

impl WireReason for SourceReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::NewArtifact => "NewArtifact",
            Self::AuthenticationFailed => "AuthenticationFailed",
            Self::GitOperationFailed => "GitOperationFailed",
            Self::IndexationFailed => "IndexationFailed",
            Self::OciPullFailed => "OCIArtifactPullFailed",
            Self::VerificationError => "VerificationError",
            Self::InvalidVerificationMode => "InvalidVerificationMode",
            Self::InvalidGitObject => "InvalidGitObject",
            Self::InvalidTagSignature => "InvalidTagSignature",
            Self::InvalidCommitSignature => "InvalidCommitSignature",
            Self::InvalidSpec => "InvalidSpec",
        }
    }
}

/// Sets condition `type_`, replacing any previous one of that type.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: impl WireReason,
    message: String,
    generation: Option<i64>,
) {
    set_status(
        conditions,
        type_,
        status.into(),
        reason,
        message,
        generation,
    );
}

/// The time now, to the second, as Kubernetes writes times (RFC 3339).
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

fn set_status(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: impl WireReason,
    message: String,
    generation: Option<i64>,
) {
    let previous = conditions.iter().position(|c| c.type_ == type_);
    let last_transition_time = match previous.map(|i| &conditions[i]) {
        Some(c) if c.status == status => c.last_transition_time.clone(),
        _ => now(),
    };
    let condition = Condition {
        type_: type_.to_owned(),
        status,
        reason: reason.as_str().to_owned(),
        message,
        last_transition_time,
        observed_generation: generation,
    };
    match previous {
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
    conditions.sort_by_key(|c| order(&c.type_));
}

/// Sets condition `type_` to `Unknown`: work is under way and its outcome not known.
pub fn set_unknown(
    conditions: &mut Vec<Condition>,
    type_: &str,
    reason: impl WireReason,
    message: String,
    generation: Option<i64>,
) {
    set_status(
        conditions,
        type_,
        ConditionStatus::Unknown,
        reason,
        message,
        generation,
    );
}

/// Removes condition `type_`.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Condition `type_`, if set.
pub fn get<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether condition `type_` is `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    get(conditions, type_).is_some_and(|c| c.status == ConditionStatus::True)
}

fn order(type_: &str) -> usize {
    [READY, HEALTHY, RECONCILING, STALLED, DRIFTED]
        .iter()
        .position(|t| *t == type_)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conditions = Vec::new();
        let failed = Reason::BuildFailed;
        set(&mut conditions, READY, false, failed, "a".into(), Some(1));
        conditions[0].last_transition_time = "2020-01-01T00:00:00Z".into();
        let waiting = Reason::DependencyNotReady;
        set(&mut conditions, READY, false, waiting, "b".into(), Some(2));
        assert_eq!(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(conditions[0].reason, "DependencyNotReady");
        let applied = Reason::ReconciliationSucceeded;
        set(&mut conditions, READY, true, applied, "c".into(), Some(2));
        assert_ne!(conditions[0].last_transition_time, "2020-01-01T00:00:00Z");
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn ready_comes_first() {
        let mut conditions = Vec::new();
        let invalid = SourceReason::InvalidSpec;
        set(&mut conditions, STALLED, true, invalid, String::new(), None);
        set(&mut conditions, READY, false, invalid, String::new(), None);
        let types: Vec<&str> = conditions.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, [READY, STALLED]);
        assert!(!is_true(&conditions, READY));
        remove(&mut conditions, STALLED);
        assert_eq!(conditions.len(), 1);
    }
}

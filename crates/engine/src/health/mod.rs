//! Health: whether an applied object has reached the state its spec asks for.
//!
//! [`compute`] applies the kstatus rules (`sigs.k8s.io/cli-utils/pkg/kstatus`) to an object
//! read from the API server, with Flux's stricter rule for Jobs (a running Job is in
//! progress until it completes). It is a pure function of the object, so the rules are
//! tested on real-shaped objects without a cluster. [`wait`] polls a set of objects by
//! name until every one is [`Status::Current`], failing as soon as one is
//! [`Status::Failed`].
//!
//! The order of the rules, as in kstatus:
//! 1. `metadata.deletionTimestamp` set → [`Status::Terminating`].
//! 2. `status.observedGeneration` present and different from `metadata.generation` →
//!    [`Status::InProgress`]: the controller has not seen the latest spec yet.
//! 3. A `Reconciling=True` condition → in progress; `Stalled=True` → [`Status::Failed`].
//! 4. The rules of built-in kinds ([`kinds`]).
//! 5. A `Ready` condition: `True` → current, otherwise in progress (never failed: many
//!    controllers say `Ready=False` while they retry).
//! 6. Anything else — a ConfigMap, or a custom resource without conditions — is current.
//!
//! A Sync's `healthCheckExprs` replace rules 3 to 6 for the kinds they name ([`Rules`]).

mod exprs;
mod kinds;
mod wait;

use std::fmt;

use serde_json::Value;

pub use exprs::{RuleError, Rules};
pub use wait::{Probe, WaitError, wait, wait_reporting};

/// The health of one object, as kstatus names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// The object has reached its desired state.
    Current,
    /// Its controller is still working towards the desired state.
    InProgress,
    /// It will not reach the desired state without a change (a rollout past its
    /// deadline, a failed Job, a `Stalled=True` condition).
    Failed,
    /// It is being deleted.
    Terminating,
    /// It does not exist (only [`wait`] reports this; [`compute`] needs an object).
    NotFound,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Current => "Current",
            Self::InProgress => "InProgress",
            Self::Failed => "Failed",
            Self::Terminating => "Terminating",
            Self::NotFound => "NotFound",
        })
    }
}

/// A status and the reason for it, fit for a condition message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// The status.
    pub status: Status,
    /// Why, in a few words ("Updated: 0/3", "Job failed: DeadlineExceeded").
    pub message: String,
}

impl Health {
    fn new(status: Status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn current(message: impl Into<String>) -> Self {
        Self::new(Status::Current, message)
    }

    fn in_progress(message: impl Into<String>) -> Self {
        Self::new(Status::InProgress, message)
    }

    fn failed(message: impl Into<String>) -> Self {
        Self::new(Status::Failed, message)
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.status, self.message)
    }
}

/// The health of `object`, a full object as the API server returns it, by the built-in
/// rules ([`Rules::health`] uses a kind's CEL expressions instead where it has some).
pub fn compute(object: &Value) -> Health {
    if let Some(health) = settling(object) {
        return health;
    }
    if let Some(c) = condition(object, "Reconciling", "True") {
        return Health::in_progress(describe("reconciling", c));
    }
    if let Some(c) = condition(object, "Stalled", "True") {
        return Health::failed(describe("stalled", c));
    }
    if let Some(health) = kinds::compute(object) {
        return health;
    }
    match conditions(object).find(|c| c["type"] == "Ready") {
        Some(c) if c["status"] == "True" => Health::current("Ready"),
        Some(c) => Health::in_progress(describe("not ready", c)),
        None => Health::current("no status to wait for"),
    }
}

/// Rules 1 and 2, which hold whatever else says the object is healthy: being deleted, or
/// a spec its controller has not seen yet.
fn settling(object: &Value) -> Option<Health> {
    if object["metadata"]["deletionTimestamp"]
        .as_str()
        .is_some_and(|t| !t.is_empty())
    {
        return Some(Health::new(Status::Terminating, "being deleted"));
    }
    let observed = object["status"]["observedGeneration"].as_i64()?;
    let generation = object["metadata"]["generation"]
        .as_i64()
        .unwrap_or_default();
    (observed != generation).then(|| {
        Health::in_progress(format!(
            "generation {generation} not observed yet (observed {observed})"
        ))
    })
}

/// The conditions in `status.conditions`.
fn conditions(object: &Value) -> impl Iterator<Item = &Value> {
    object["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
}

/// The condition of this type with this status, if any.
fn condition<'a>(object: &'a Value, type_: &str, status: &str) -> Option<&'a Value> {
    conditions(object).find(|c| c["type"] == type_ && c["status"] == status)
}

/// `what: Reason: message`, the condition's message cut to a condition-sized length.
fn describe(what: &str, condition: &Value) -> String {
    let reason = condition["reason"].as_str().unwrap_or_default();
    let message = condition["message"].as_str().unwrap_or_default();
    let mut text = what.to_owned();
    for part in [reason, message] {
        if !part.is_empty() {
            text.push_str(": ");
            text.push_str(part);
        }
    }
    if text.len() > 300 {
        let cut = (0..=300)
            .rev()
            .find(|i| text.is_char_boundary(*i))
            .unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// An integer field, or `default` when absent.
fn int(object: &Value, pointer: &str, default: i64) -> i64 {
    object
        .pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// A string field, or `""` when absent.
fn string<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;

//! Health told by CEL expressions (Flux's `healthCheckExprs`): for custom resources whose
//! controllers write neither kstatus conditions nor a `Ready` one. Each top-level field of
//! the object (`apiVersion`, `metadata`, `spec`, `status`, `data`, …) is a variable, as in
//! Flux; the language is [`crate::cel`]'s.
//!
//! An error while evaluating (`status.conditions` on an object without a status yet) is
//! in progress with the error, as Flux keeps polling then.

use std::collections::HashMap;
use std::fmt;

use lockstep_api::HealthCheckExpr;
use serde_json::Value;

use super::{Health, Status, compute, settling};
use crate::cel::Expression;

/// Why a `healthCheckExprs` entry cannot be used; named as in the spec.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuleError {
    /// An expression is empty or does not parse.
    #[error("spec.healthCheckExprs[{index}].{field}: {reason}")]
    Invalid {
        /// The entry.
        index: usize,
        /// `current`, `inProgress` or `failed`.
        field: &'static str,
        /// What is wrong, with the parser's position.
        reason: String,
    },
    /// Two entries for one kind (or one group).
    #[error("spec.healthCheckExprs[{index}]: a second entry for {kind}; keep one per kind")]
    Duplicate {
        /// The second entry.
        index: usize,
        /// `Kind.group`, or `*.group` for an entry without a kind.
        kind: String,
    },
}

/// The health rules of one Sync: the built-in ones, replaced by CEL expressions for the
/// kinds (or groups) its `healthCheckExprs` name. [`Rules::default`] has none.
#[derive(Default)]
pub struct Rules {
    /// By group and kind; the kind `None` for an entry that names only a group.
    by_kind: HashMap<(String, Option<String>), Exprs>,
}

impl fmt::Debug for Rules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                self.by_kind
                    .keys()
                    .map(|(group, kind)| label(group, kind.as_deref())),
            )
            .finish()
    }
}

/// One kind's expressions, in the order they are tried.
struct Exprs {
    in_progress: Option<Expression>,
    failed: Option<Expression>,
    current: Expression,
}

impl Rules {
    /// Compiles a spec's `healthCheckExprs`.
    ///
    /// # Errors
    /// [`RuleError`] for the first entry that is empty, does not parse or repeats a kind.
    pub fn compile(entries: &[HealthCheckExpr]) -> Result<Self, RuleError> {
        let mut by_kind = HashMap::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let group = group_of(&entry.api_version).to_owned();
            let key = (group, entry.kind.clone().filter(|k| !k.is_empty()));
            if by_kind.contains_key(&key) {
                return Err(RuleError::Duplicate {
                    index,
                    kind: label(&key.0, key.1.as_deref()),
                });
            }
            let optional = |field, source: &Option<String>| {
                source
                    .as_deref()
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| compile(index, field, s))
                    .transpose()
            };
            let exprs = Exprs {
                in_progress: optional("inProgress", &entry.in_progress)?,
                failed: optional("failed", &entry.failed)?,
                current: compile(index, "current", &entry.current)?,
            };
            by_kind.insert(key, exprs);
        }
        Ok(Self { by_kind })
    }

    /// The health of `object` (a full object as the API server returns it): by its kind's
    /// expressions when there are some, else by the built-in rules ([`compute`]).
    pub fn health(&self, object: &Value) -> Health {
        let group = group_of(object["apiVersion"].as_str().unwrap_or_default());
        let kind = object["kind"].as_str().unwrap_or_default();
        let exprs = self
            .by_kind
            .get(&(group.to_owned(), Some(kind.to_owned())))
            .or_else(|| self.by_kind.get(&(group.to_owned(), None)));
        match exprs {
            Some(exprs) => settling(object).unwrap_or_else(|| exprs.health(object)),
            None => compute(object),
        }
    }
}

impl Exprs {
    fn health(&self, object: &Value) -> Health {
        let fields = object.as_object();
        let variables = || {
            fields
                .into_iter()
                .flatten()
                .map(|(name, value)| (name.as_str(), value))
        };
        for (field, expr, status) in [
            ("inProgress", self.in_progress.as_ref(), Status::InProgress),
            ("failed", self.failed.as_ref(), Status::Failed),
            ("current", Some(&self.current), Status::Current),
        ] {
            let Some(expr) = expr else { continue };
            match expr.evaluate(variables()) {
                Ok(true) => return Health::new(status, format!("{field} is true")),
                Ok(false) => {}
                Err(err) => return Health::in_progress(format!("{field}: {err}")),
            }
        }
        Health::in_progress("no expression is true yet")
    }
}

fn compile(index: usize, field: &'static str, source: &str) -> Result<Expression, RuleError> {
    Expression::compile(source).map_err(|reason| RuleError::Invalid {
        index,
        field,
        reason,
    })
}

/// The group of `group/version`; `""` for the core group's `v1`.
fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// `Kind.group` (`Kind` for the core group), `*.group` for a whole group.
fn label(group: &str, kind: Option<&str>) -> String {
    let kind = kind.unwrap_or("*");
    if group.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}.{group}")
    }
}

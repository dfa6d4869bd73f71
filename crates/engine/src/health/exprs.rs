//! Health told by CEL expressions (Flux's `healthCheckExprs`): for custom resources whose
//! controllers write neither kstatus conditions nor a `Ready` one.
//!
//! The expressions run in an environment like Flux's (cel-go there, the `cel` crate
//! here): the standard library with its macros (`has`, `all`, `exists`, `exists_one`,
//! `map`, `filter`), optional values, the `strings` and `encoders` extensions; each
//! top-level field of the object (`apiVersion`, `metadata`, `spec`, `status`, `data`, …) is
//! a variable. Not there: Flux's `sets` extension and the `timestamp`/`duration` types, so
//! an expression that calls them is never true and says why in the health message.
//!
//! An error while evaluating (`status.conditions` on an object without a status yet) is
//! in progress with the error, as Flux keeps polling then. Its message names only keys,
//! functions and types: never a value read from the object, which may be a Secret.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use cel::{Context, Env, ExecutionError, Program};
use lockstep_api::HealthCheckExpr;
use serde_json::Value;

use super::{Health, Status, compute, settling};

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
    in_progress: Option<Expr>,
    failed: Option<Expr>,
    current: Expr,
}

struct Expr {
    field: &'static str,
    source: String,
    program: Program,
}

/// The environment every expression is compiled and run in; built once.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    for extension in [cel::extensions::strings, cel::extensions::encoders] {
        // Both declare functions the standard library does not: adding them cannot clash.
        env.add_extension(extension)
            .expect("CEL extensions clash with the standard library");
    }
    Arc::new(env)
});

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
                    .map(|s| Expr::compile(index, field, s))
                    .transpose()
            };
            let exprs = Exprs {
                in_progress: optional("inProgress", &entry.in_progress)?,
                failed: optional("failed", &entry.failed)?,
                current: Expr::compile(index, "current", &entry.current)?,
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
        let mut context = Context::with_env(ENV.clone());
        if let Value::Object(fields) = object {
            for (name, value) in fields {
                context.add_variable_from_value(name.as_str(), cel_value(value));
            }
        }
        for (expr, status) in [
            (self.in_progress.as_ref(), Status::InProgress),
            (self.failed.as_ref(), Status::Failed),
            (Some(&self.current), Status::Current),
        ] {
            let Some(expr) = expr else { continue };
            match expr.program.execute(&context) {
                Ok(cel::Value::Bool(true)) => {
                    return Health::new(status, format!("{} is true", expr.field));
                }
                Ok(cel::Value::Bool(false)) => {}
                Ok(other) => {
                    return Health::in_progress(format!(
                        "{} ({}) gave a {:?}, not a bool",
                        expr.field,
                        expr.source,
                        other.type_of()
                    ));
                }
                Err(err) => {
                    return Health::in_progress(format!(
                        "cannot evaluate {} ({}): {}",
                        expr.field,
                        expr.source,
                        safe(&err)
                    ));
                }
            }
        }
        Health::in_progress("no expression is true yet")
    }
}

impl Expr {
    fn compile(index: usize, field: &'static str, source: &str) -> Result<Self, RuleError> {
        let invalid = |reason: String| RuleError::Invalid {
            index,
            field,
            reason,
        };
        if source.trim().is_empty() {
            return Err(invalid(
                "empty; write the expression that is true when the object is healthy".into(),
            ));
        }
        let program = ENV
            .compile(source)
            .map_err(|err| invalid(format!("does not parse: {err}")))?;
        Ok(Self {
            field,
            source: source.to_owned(),
            program,
        })
    }
}

/// An evaluation error with only what names no value: keys, functions, types.
fn safe(err: &ExecutionError) -> String {
    match err {
        ExecutionError::NoSuchKey(_)
        | ExecutionError::UndeclaredReference(_)
        | ExecutionError::NoSuchOverload(_)
        | ExecutionError::UnexpectedType { .. }
        | ExecutionError::InvalidArgumentCount { .. }
        | ExecutionError::MissingArgumentOrTarget => err.to_string(),
        ExecutionError::FunctionError { function, .. } => format!("{function} failed"),
        _ => "an operator was given values it does not take".into(),
    }
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

/// A JSON value as CEL reads it: integers as `int` where they fit, as the API server's
/// Go clients decode them (cel-go in Flux sees `int64`).
fn cel_value(value: &Value) -> cel::Value {
    match value {
        Value::Null => cel::Value::Null,
        Value::Bool(b) => cel::Value::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(cel::Value::Int)
            .or_else(|| n.as_u64().map(cel::Value::UInt))
            .unwrap_or_else(|| cel::Value::Float(n.as_f64().unwrap_or(f64::NAN))),
        Value::String(s) => s.as_str().into(),
        Value::Array(items) => items.iter().map(cel_value).collect::<Vec<_>>().into(),
        Value::Object(fields) => fields
            .iter()
            .map(|(name, value)| (name.as_str(), cel_value(value)))
            .collect::<HashMap<_, _>>()
            .into(),
    }
}

//! CEL expressions, as Flux writes them in a Kustomization (`healthCheckExprs`,
//! `dependsOn[].readyExpr`) and evaluates them with cel-go; here with the `cel` crate.
//!
//! One environment for all: the standard library with its macros (`has`, `all`, `exists`,
//! `exists_one`, `map`, `filter`), optional values, and the `strings` and `encoders`
//! extensions Flux adds. Not there: Flux's `sets` extension and the `timestamp` and
//! `duration` types; an expression that calls them fails to evaluate, saying
//! `Undeclared reference to …`.
//!
//! The objects an expression reads may be Secrets, so an evaluation error names only keys,
//! functions and types, never a value ([`EvalError`]).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::{Context, Env, ExecutionError, Program};
use serde_json::Value;

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

/// A compiled expression and its source.
pub struct Expression {
    source: String,
    program: Program,
}

/// Why an expression gave no boolean. Its text names no value of the variables.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// The evaluation failed (a missing key, a function not declared).
    #[error("cannot evaluate '{expression}': {reason}")]
    Failed {
        /// The expression's source.
        expression: String,
        /// What failed, without values.
        reason: String,
    },
    /// It gave another type.
    #[error("'{expression}' gave a {type_name}, not a bool")]
    NotBool {
        /// The expression's source.
        expression: String,
        /// The type it gave.
        type_name: String,
    },
}

impl Expression {
    /// Compiles `source`.
    ///
    /// # Errors
    /// Why it is empty or does not parse, with the parser's position (fit to follow the
    /// field's name in a message).
    pub fn compile(source: &str) -> Result<Self, String> {
        if source.trim().is_empty() {
            return Err("empty".into());
        }
        let program = ENV
            .compile(source)
            .map_err(|err| format!("does not parse: {err}"))?;
        Ok(Self {
            source: source.to_owned(),
            program,
        })
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the expression with these variables.
    ///
    /// # Errors
    /// [`EvalError`] when it fails or gives no boolean.
    pub fn evaluate<'a>(
        &self,
        variables: impl IntoIterator<Item = (&'a str, &'a Value)>,
    ) -> Result<bool, EvalError> {
        let mut context = Context::with_env(ENV.clone());
        for (name, value) in variables {
            context.add_variable_from_value(name, cel_value(value));
        }
        match self.program.execute(&context) {
            Ok(cel::Value::Bool(result)) => Ok(result),
            Ok(other) => Err(EvalError::NotBool {
                expression: self.source.clone(),
                type_name: format!("{:?}", other.type_of()),
            }),
            Err(err) => Err(EvalError::Failed {
                expression: self.source.clone(),
                reason: safe(&err),
            }),
        }
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{EvalError, Expression};

    /// Flux's `readyExpr` shape: two objects by name.
    #[test]
    fn variables_are_named_objects() {
        let expr = Expression::compile(
            "dep.status.lastAppliedRevision == self.status.lastAppliedRevision \
             && dep.metadata.generation - 1 == 2",
        )
        .unwrap();
        let dep = json!({"metadata": {"generation": 3}, "status": {"lastAppliedRevision": "v1"}});
        let this = json!({"status": {"lastAppliedRevision": "v1"}});
        assert!(expr.evaluate([("self", &this), ("dep", &dep)]).unwrap());
        let behind = json!({"status": {"lastAppliedRevision": "v2"}});
        assert!(!expr.evaluate([("self", &behind), ("dep", &dep)]).unwrap());
    }

    #[test]
    fn errors_name_no_value() {
        assert_eq!(Expression::compile("  ").err().unwrap(), "empty");
        let expr = Expression::compile("secret.data.password").unwrap();
        let secret = json!({"data": {"password": "aHVudGVyMg=="}});
        let err = expr.evaluate([("secret", &secret)]).unwrap_err();
        assert!(matches!(err, EvalError::NotBool { .. }), "{err}");
        assert!(!err.to_string().contains("aHVudGVy"), "{err}");
        let expr = Expression::compile("secret.data.password * 2 == 1").unwrap();
        let err = expr
            .evaluate([("secret", &secret)])
            .unwrap_err()
            .to_string();
        assert!(!err.contains("aHVudGVy"), "{err}");
    }
}

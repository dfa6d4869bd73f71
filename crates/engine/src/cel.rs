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
//!
//! Expressions come from a tenant's spec, and the `cel` crate parses, evaluates and drops
//! them by recursion on the thread's stack: a chain of a few hundred `+` aborted the process
//! with a stack overflow (debug build, 2 MiB stack). So an expression is at most
//! [`MAX_LEN`] bytes, is compiled on a thread of its own with a large stack, and is refused
//! when it nests deeper than [`MAX_DEPTH`] (then it evaluates in a few hundred KiB) or puts
//! a comprehension inside another's body (whose cost grows with the square of a list).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::common::ast::{EntryExpr, Expr, MapExpr, StructExpr};
use cel::{Context, Env, ExecutionError, IdedExpr, Program};
use serde_json::Value;

/// The longest expression accepted, in bytes: health and readiness expressions are a line
/// or two.
pub const MAX_LEN: usize = 4096;

/// How deeply a compiled expression may nest: 48 levels of `+` evaluated in 2 MiB on a
/// debug build, 64 did not.
pub const MAX_DEPTH: usize = 32;

/// The stack of the thread an expression is compiled on: parsing and dropping an expression
/// of [`MAX_LEN`] bytes nested all the way takes a few MiB on a debug build.
const COMPILE_STACK: usize = 16 << 20;

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
        if source.len() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} bytes"));
        }
        let program = std::thread::scope(|scope| {
            std::thread::Builder::new()
                .name("cel-compile".into())
                .stack_size(COMPILE_STACK)
                .spawn_scoped(scope, || {
                    let program = ENV
                        .compile(source)
                        .map_err(|err| format!("does not parse: {err}"))?;
                    // Refused here, the deep tree is also dropped on this thread.
                    bounded(program.expression()).map(|()| program)
                })
                .map_err(|err| format!("cannot be compiled now: {err}"))?
                .join()
                .map_err(|_| "cannot be compiled: the parser failed".to_owned())?
        })?;
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

/// Whether `root` nests at most [`MAX_DEPTH`] levels and no comprehension sits in another's
/// body. Walked with a stack of its own, not by recursion.
fn bounded<'a>(root: &'a IdedExpr) -> Result<(), String> {
    // Each node with its depth and whether it is inside a comprehension's body.
    let mut pending = vec![(root, 1, false)];
    while let Some((node, depth, in_loop)) = pending.pop() {
        if depth > MAX_DEPTH {
            return Err(format!("nests deeper than {MAX_DEPTH} levels; split it"));
        }
        let mut next =
            |child: &'a IdedExpr, in_loop: bool| pending.push((child, depth + 1, in_loop));
        match &node.expr {
            Expr::Call(call) => {
                call.target.iter().for_each(|t| next(t, in_loop));
                call.args.iter().for_each(|a| next(a, in_loop));
            }
            Expr::Select(select) => next(&select.operand, in_loop),
            Expr::List(list) => list.elements.iter().for_each(|e| next(e, in_loop)),
            Expr::Map(MapExpr { entries }) | Expr::Struct(StructExpr { entries, .. }) => {
                for entry in entries {
                    match &entry.expr {
                        EntryExpr::MapEntry(entry) => {
                            next(&entry.key, in_loop);
                            next(&entry.value, in_loop);
                        }
                        EntryExpr::StructField(field) => next(&field.value, in_loop),
                    }
                }
            }
            Expr::Comprehension(_) if in_loop => {
                return Err(
                    "has a comprehension (all, exists, exists_one, map, filter) inside \
                            another's body; its cost grows with the square of a list"
                        .into(),
                );
            }
            Expr::Comprehension(loop_) => {
                next(&loop_.iter_range, false);
                next(&loop_.accu_init, false);
                next(&loop_.loop_cond, true);
                next(&loop_.loop_step, true);
                next(&loop_.result, false);
            }
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
    Ok(())
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

    /// A tenant's expression cannot take the process down: too long, too deep (a chain
    /// that overflowed a 2 MiB stack), or a comprehension inside another's body is refused.
    #[test]
    fn expressions_are_bounded() {
        let long = "true || ".repeat(600) + "true";
        assert_eq!(
            Expression::compile(&long).err().unwrap(),
            "longer than 4096 bytes"
        );
        let chain = vec!["1"; 1_500].join("+");
        let err = Expression::compile(&chain).err().unwrap();
        assert!(err.starts_with("nests deeper than 32 levels"), "{err}");
        let short = vec!["1"; 20].join("+") + " == 20";
        assert!(Expression::compile(&short).unwrap().evaluate([]).unwrap());
        let nested = "a.all(x, a.exists(y, x == y))";
        let err = Expression::compile(nested).err().unwrap();
        assert!(err.starts_with("has a comprehension"), "{err}");
        let sequential = "a.filter(x, x > 1).all(x, x < 9) && a.exists(x, x == 2)";
        let list = json!([1, 2, 3]);
        let expr = Expression::compile(sequential).unwrap();
        assert!(expr.evaluate([("a", &list)]).unwrap());
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

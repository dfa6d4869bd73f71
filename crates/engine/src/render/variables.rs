//! Flux's post-build variable substitution (a Kustomization's `postBuild`), on rendered
//! objects.
//!
//! It runs after render and **before** SOPS values are decrypted: an encrypted value is an
//! `ENC[…]` string, which holds no `${`, so nothing is ever substituted inside a decrypted
//! payload. (kustomize-controller decrypts first, so a `${…}` in a Secret's plaintext is
//! expanded there, or fails the build under strict substitution.)
//!
//! The syntax is fluxcd/pkg/envsubst's, as kustomize-controller v1.9.6 runs it:
//! - `${var}` is the variable's value; `$var` without braces is left as written.
//! - `${var:=default}`, `${var:-default}`, `${var:?default}`, `${var:+default}` and
//!   `${var=default}` all give `default` when the variable is unset or empty (the fork maps
//!   every one of them to the same default function); a default may hold `${…}` itself.
//! - `$$` is a literal `$`, so `$${var}` stays `${var}`; inside `${…}`, `\\` and `\/` are
//!   `\` and `/`.
//! - Strict, as v1.9.6 is by default (`StrictPostBuildSubstitutions`): a variable used
//!   without a default that is not defined fails the render, naming it and the object.
//! - Nothing is substituted when no variable is defined, unless asked to (`Always`), and
//!   an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`
//!   is left as written.
//! - The bash string functions (`${#var}`, `${var^^}`, `${var:1:2}`, `${var/a/b}`,
//!   `${var#x}`, …) are refused by name: not served yet.
//!
//! Flux substitutes in the YAML text of each object and parses it again, so a `${var}`
//! written as a plain scalar takes the type of its value (`replicas: ${n}` becomes a
//! number). Here each string is expanded and, when YAML would have written it plain,
//! resolved again as a YAML scalar (number, boolean or null); a value that would parse as
//! a mapping or sequence stays a string.

use std::collections::BTreeMap;
use std::fmt;

use lockstep_api::flux::SUBSTITUTE_ANNOTATION;
use serde_json::Value;
use zeroize::Zeroizing;

use super::Manifest;
use crate::redact::Redactor;

/// Variables to substitute, by name. Values are zeroized on drop, and never shown: `Debug`
/// lists the names.
#[derive(Default)]
pub struct Variables {
    values: BTreeMap<String, Variable>,
}

struct Variable {
    value: Zeroizing<String>,
    /// Read from a Secret: redacted everywhere, and an object it lands in holds secrets.
    secret: bool,
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.values.keys()).finish()
    }
}

/// A variable that cannot be defined.
#[derive(Debug, thiserror::Error)]
#[error("variable name {name:?} is invalid: it must match ^[_a-zA-Z][_a-zA-Z0-9]*$")]
pub struct InvalidName {
    /// The name.
    pub name: String,
}

/// Why an object's variables could not be substituted; names the object, the field and
/// the variable, never a value.
#[derive(Debug, thiserror::Error)]
#[error("{object}, at {field}: {reason}")]
pub struct SubstituteError {
    /// `Kind namespace/name (file document N)`.
    pub object: String,
    /// Where in the object, as a path (`spec.replicas`, `metadata.labels.app`).
    pub field: String,
    /// What is wrong.
    pub reason: ExpandError,
}

/// What is wrong with one `${…}` expression.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    /// `${` not followed by a variable name.
    #[error("`${{` is not followed by a variable name (write `$${{` for a literal `${{`)")]
    NoName,
    /// `${name` without its `}`.
    #[error("`${{{0}` has no closing `}}`")]
    Unclosed(String),
    /// A variable used without a default that is not defined.
    #[error(
        "variable {0} is not defined and has no default (substitution is strict, as in Flux \
         v1.9.6): define it in postBuild.substitute or substituteFrom, or write ${{{0}:=default}}"
    )]
    Undefined(String),
    /// A bash string function Lockstep does not implement.
    #[error(
        "`${{{name}{operator}…}}` is not served by Lockstep yet (only ${{var}} and the \
         default forms ${{var:=default}}, ${{var:-default}} are); keep this Kustomization on Flux"
    )]
    Unserved {
        /// The variable.
        name: String,
        /// The operator after its name (`^^`, `:1`, `/`, …), or before it (`#`).
        operator: String,
    },
}

impl Variables {
    /// No variables.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines `name` as `value`, replacing an earlier definition; newlines are removed,
    /// as Flux removes them. `secret` marks a value read from a Secret.
    ///
    /// # Errors
    /// [`InvalidName`] when `name` is not `[_a-zA-Z][_a-zA-Z0-9]*`.
    pub fn define(&mut self, name: &str, value: &str, secret: bool) -> Result<(), InvalidName> {
        let mut chars = name.chars();
        let valid = chars
            .next()
            .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
            && chars.all(|c| c == '_' || c.is_ascii_alphanumeric());
        if !valid {
            return Err(InvalidName { name: name.into() });
        }
        let value = Zeroizing::new(value.replace(['\n', '\r'], ""));
        self.values
            .insert(name.to_owned(), Variable { value, secret });
        Ok(())
    }

    /// Whether no variable is defined.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds the values read from Secrets to `redactor`.
    pub fn redact(&self, redactor: &mut Redactor) {
        for variable in self.values.values().filter(|v| v.secret) {
            redactor.add(variable.value.as_bytes());
        }
    }

    /// Substitutes the variables into every object of `manifests` that does not opt out,
    /// when a variable is defined or `always`. An object that receives a value read from a
    /// Secret is marked as holding secrets. All or nothing: on an error, the objects may
    /// be half substituted and must not be applied.
    ///
    /// # Errors
    /// [`SubstituteError`]: the first expression that does not expand.
    pub fn substitute(
        &self,
        manifests: &mut [Manifest],
        always: bool,
    ) -> Result<(), SubstituteError> {
        if self.is_empty() && !always {
            return Ok(());
        }
        for manifest in manifests.iter_mut().filter(|m| !opted_out(&m.object)) {
            let mut expander = Expander {
                variables: self,
                secret_used: false,
            };
            let mut field = String::new();
            expander
                .value(&mut manifest.object, &mut field)
                .map_err(|reason| SubstituteError {
                    object: describe(manifest),
                    field: field.trim_start_matches('.').to_owned(),
                    reason,
                })?;
            manifest.holds_secrets |= expander.secret_used;
        }
        Ok(())
    }
}

/// Whether `object` is labelled or annotated `kustomize.toolkit.fluxcd.io/substitute:
/// disabled`.
fn opted_out(object: &Value) -> bool {
    ["labels", "annotations"]
        .iter()
        .any(|field| object["metadata"][field][SUBSTITUTE_ANNOTATION] == "disabled")
}

fn describe(manifest: &Manifest) -> String {
    let namespace = manifest
        .namespace()
        .map(|ns| format!("{ns}/"))
        .unwrap_or_default();
    format!(
        "{} {namespace}{} ({} document {})",
        manifest.kind(),
        manifest.name(),
        manifest.file.display(),
        manifest.document
    )
}

struct Expander<'a> {
    variables: &'a Variables,
    secret_used: bool,
}

impl Expander<'_> {
    /// Expands every string of `value`, keys included; `field` is left at the failing
    /// one on an error.
    fn value(&mut self, value: &mut Value, field: &mut String) -> Result<(), ExpandError> {
        match value {
            Value::String(text) if text.contains('$') => {
                let expanded = self.text(text)?;
                *value = if plain(text) {
                    retyped(expanded)
                } else {
                    Value::String(expanded)
                };
            }
            Value::Array(items) => {
                for (index, item) in items.iter_mut().enumerate() {
                    let at = field.len();
                    field.push_str(&format!("[{index}]"));
                    self.value(item, field)?;
                    field.truncate(at);
                }
            }
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut item) in entries {
                    let at = field.len();
                    field.push('.');
                    field.push_str(&key);
                    let key = if key.contains('$') {
                        self.text(&key)?
                    } else {
                        key
                    };
                    self.value(&mut item, field)?;
                    field.truncate(at);
                    map.insert(key, item);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `text` with its `${…}` expanded and `$$` read as `$`.
    fn text(&mut self, text: &str) -> Result<String, ExpandError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if let Some(after) = after.strip_prefix('$') {
                out.push('$');
                rest = after;
            } else if let Some(inner) = after.strip_prefix('{') {
                rest = self.expression(inner, &mut out)?;
            } else {
                out.push('$');
                rest = after;
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// Expands the expression `input` starts (just after its `${`) into `out`; returns
    /// what follows its `}`.
    fn expression<'t>(&mut self, input: &'t str, out: &mut String) -> Result<&'t str, ExpandError> {
        let end = input
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(input.len());
        let (name, rest) = input.split_at(end);
        if name.is_empty() {
            return Err(match rest.strip_prefix('#') {
                Some(after) => ExpandError::Unserved {
                    name: after
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    operator: "#".into(),
                },
                None => ExpandError::NoName,
            });
        }
        let unserved = |operator: &str| ExpandError::Unserved {
            name: name.to_owned(),
            operator: operator.to_owned(),
        };
        let default_rest = match rest.chars().next() {
            Some('}') => {
                out.push_str(self.lookup(name)?);
                return Ok(&rest[1..]);
            }
            Some('=') => &rest[1..],
            Some(':') => match rest[1..].chars().next() {
                Some('=' | '-' | '?' | '+') => &rest[2..],
                _ => return Err(unserved(":")),
            },
            Some(op @ (',' | '^' | '/' | '#' | '%')) => return Err(unserved(&op.to_string())),
            _ => return Err(ExpandError::Unclosed(name.to_owned())),
        };
        let (default, rest) = self.default(name, default_rest)?;
        let value = self.get(name);
        match value {
            Some(value) if !value.is_empty() => out.push_str(value),
            _ => out.push_str(&default),
        }
        Ok(rest)
    }

    /// The default of `${name…default}`, expanded, and what follows its `}`.
    fn default<'t>(
        &mut self,
        name: &str,
        mut input: &'t str,
    ) -> Result<(String, &'t str), ExpandError> {
        let mut out = String::new();
        loop {
            let mut chars = input.chars();
            let next = chars.clone().nth(1);
            match (chars.next(), next) {
                (None, _) => return Err(ExpandError::Unclosed(name.to_owned())),
                (Some('}'), _) => return Ok((out, chars.as_str())),
                (Some('$'), Some('{')) => input = self.expression(&input[2..], &mut out)?,
                (Some('$'), Some('$')) | (Some('\\'), Some('\\' | '/')) => {
                    out.extend(next);
                    input = &input[2..];
                }
                (Some(c), _) => {
                    out.push(c);
                    input = chars.as_str();
                }
            }
        }
    }

    fn get(&mut self, name: &str) -> Option<&str> {
        let variable = self.variables.values.get(name)?;
        self.secret_used |= variable.secret;
        Some(variable.value.as_str())
    }

    fn lookup(&mut self, name: &str) -> Result<&str, ExpandError> {
        self.get(name)
            .ok_or_else(|| ExpandError::Undefined(name.to_owned()))
    }
}

/// Whether YAML would write `text` as a plain scalar — one line, no leading indicator, no
/// `: ` or ` #` — so that Flux's text substitution reads its expansion as YAML again.
fn plain(text: &str) -> bool {
    const INDICATORS: &[char] = &[
        '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@',
        '`',
    ];
    !text.is_empty()
        && !text.contains(['\n', '\r'])
        && text.trim() == text
        && !text.starts_with(INDICATORS)
        && !text.contains(": ")
        && !text.contains(" #")
        && !text.ends_with(':')
}

/// `expanded` as YAML reads a plain scalar: a number, boolean or null, else the string.
fn retyped(expanded: String) -> Value {
    if expanded.is_empty() {
        return Value::Null;
    }
    match serde_saphyr::from_str_with_options::<Value>(&expanded, super::yaml::options()) {
        Ok(value @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => value,
        _ => Value::String(expanded),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variables() -> Variables {
        let mut variables = Variables::new();
        variables.define("cluster", "prod", false).unwrap();
        variables.define("replicas", "3", false).unwrap();
        variables.define("empty", "", false).unwrap();
        variables.define("token", "s3cr3t-t0ken\n", true).unwrap();
        variables
    }

    fn expand(text: &str) -> Result<String, ExpandError> {
        let variables = variables();
        Expander {
            variables: &variables,
            secret_used: false,
        }
        .text(text)
    }

    #[test]
    fn expressions_expand_as_flux_expands_them() {
        let cases = [
            ("${cluster}", "prod"),
            ("web-${cluster}.example.com", "web-prod.example.com"),
            ("${cluster}${replicas}", "prod3"),
            ("$cluster stays", "$cluster stays"),
            ("$${cluster}", "${cluster}"),
            ("cost: $$5 and $$$$", "cost: $5 and $$"),
            ("a lone $ stays", "a lone $ stays"),
            ("${missing:=fallback}", "fallback"),
            ("${missing:-fallback}", "fallback"),
            ("${missing=fallback}", "fallback"),
            ("${empty:=fallback}", "fallback"),
            ("${cluster:=fallback}", "prod"),
            ("${missing:=}", ""),
            ("${missing:=${cluster}-eu}", "prod-eu"),
            ("${missing:=a${cluster}b${replicas}c}", "aprodb3c"),
            ("${missing:=a\\/b\\\\c$$d}", "a/b\\c$d"),
            ("${token}", "s3cr3t-t0ken"),
        ];
        for (text, expected) in cases {
            assert_eq!(expand(text).as_deref(), Ok(expected), "{text}");
        }
    }

    #[test]
    fn bad_expressions_are_named() {
        assert_eq!(
            expand("x ${missing} y"),
            Err(ExpandError::Undefined("missing".into()))
        );
        assert_eq!(
            expand("${missing:=${other}}"),
            Err(ExpandError::Undefined("other".into()))
        );
        assert_eq!(
            expand("${καλό}"),
            Err(ExpandError::Undefined("καλό".into()))
        );
        assert_eq!(expand("${}"), Err(ExpandError::NoName));
        assert_eq!(expand("${ cluster}"), Err(ExpandError::NoName));
        assert_eq!(
            expand("${cluster"),
            Err(ExpandError::Unclosed("cluster".into()))
        );
        assert_eq!(
            expand("${cluster-x}"),
            Err(ExpandError::Unclosed("cluster".into()))
        );
        assert_eq!(
            expand("${cluster:=x"),
            Err(ExpandError::Unclosed("cluster".into()))
        );
        for (text, operator) in [
            ("${cluster^^}", "^"),
            ("${cluster,}", ","),
            ("${cluster:1:2}", ":"),
            ("${cluster/p/q}", "/"),
            ("${cluster%d}", "%"),
            ("${#cluster}", "#"),
        ] {
            assert_eq!(
                expand(text),
                Err(ExpandError::Unserved {
                    name: "cluster".into(),
                    operator: operator.into()
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn names_are_checked() {
        let mut variables = Variables::new();
        for name in ["a", "_x", "CLUSTER_1"] {
            variables.define(name, "v", false).unwrap();
        }
        for name in ["", "1a", "a-b", "a.b", "é"] {
            assert_eq!(variables.define(name, "v", false).unwrap_err().name, name);
        }
    }

    fn manifest(object: Value) -> Manifest {
        Manifest {
            object,
            file: "apps.yaml".into(),
            document: 0,
            holds_secrets: false,
        }
    }

    #[test]
    fn objects_are_substituted_typed_and_marked() {
        let variables = variables();
        let mut manifests = vec![
            manifest(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web-${cluster}", "labels": {"${cluster}/tier": "web"}},
                "spec": {"replicas": "${replicas}", "paused": "${missing:=false}",
                         "quoted": "\"${replicas}\" text: ${replicas}",
                         "script": "echo $${HOME}\nexit ${replicas}",
                         "note": "${empty}"},
            })),
            manifest(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "token", "namespace": "apps"},
                "data": {"token": "${token}"},
            })),
            manifest(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kept",
                             "annotations": {SUBSTITUTE_ANNOTATION: "disabled"}},
                "data": {"script": "${missing}"},
            })),
        ];
        variables.substitute(&mut manifests, false).unwrap();
        let deployment = &manifests[0].object;
        assert_eq!(deployment["metadata"]["name"], "web-prod");
        assert_eq!(deployment["metadata"]["labels"]["prod/tier"], "web");
        assert_eq!(deployment["spec"]["replicas"], 3);
        assert_eq!(deployment["spec"]["paused"], false);
        assert_eq!(deployment["spec"]["quoted"], "\"3\" text: 3");
        assert_eq!(deployment["spec"]["script"], "echo ${HOME}\nexit 3");
        assert_eq!(deployment["spec"]["note"], Value::Null);
        assert!(!manifests[0].holds_secrets);
        assert_eq!(manifests[1].object["data"]["token"], "s3cr3t-t0ken");
        assert!(manifests[1].holds_secrets);
        assert_eq!(manifests[2].object["data"]["script"], "${missing}");

        let mut redactor = Redactor::new();
        variables.redact(&mut redactor);
        assert!(!redactor.scrub("token s3cr3t-t0ken").contains("s3cr3t"));
        assert!(!format!("{variables:?}").contains("s3cr3t"));
    }

    #[test]
    fn failures_name_object_field_and_variable_only() {
        let variables = variables();
        let mut manifests = vec![manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "web", "namespace": "apps"},
            "data": {"url": "https://${token}@${host}"},
        }))];
        let err = variables.substitute(&mut manifests, false).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with(
                "ConfigMap apps/web (apps.yaml document 0), at data.url: variable host"
            ),
            "{message}"
        );
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    #[test]
    fn nothing_is_substituted_without_variables_unless_always() {
        let mut manifests = vec![manifest(json!({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "web"},
            "data": {"a": "${x:=one}"},
        }))];
        Variables::new().substitute(&mut manifests, false).unwrap();
        assert_eq!(manifests[0].object["data"]["a"], "${x:=one}");
        Variables::new().substitute(&mut manifests, true).unwrap();
        assert_eq!(manifests[0].object["data"]["a"], "one");
    }
}

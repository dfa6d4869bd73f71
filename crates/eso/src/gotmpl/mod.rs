//! Go's `text/template`, the subset ESO's template engine v2 runs: text and actions,
//! pipelines, variables (`:=`, `=`), `if`/`else if`/`range`/`with`/`else`, `break` and
//! `continue`, `define`/`template`/`block`, comments, and the whitespace trim markers
//! `{{- ` and ` -}}`, executed with `missingkey=error` as ESO sets it for templates (or
//! Go's default, as for `rewrite.transform`). The functions are
//! Go's builtins and the Sprig and ESO functions in [`funcs`]; any other name is refused
//! when the template is parsed, as Go refuses a function it does not know.
//!
//! Written here rather than taken from a crate: the one Go-template crate (`gtmpl` 0.7)
//! ranges over maps in hash order (Go sorts the keys), runs a range's `else` after a
//! non-empty range, and gives a missing map key no value where ESO's option makes it an
//! error — each of which would change the bytes of a Secret.
//!
//! Nothing here touches the network, the environment, files or the cluster (ESO drops
//! Sprig's `env` and `expandenv`; `getHostByName` is not offered). Errors name the place
//! in the template and never a value.

mod exec;
mod funcs;
mod parse;
mod pem;
mod value;

use std::collections::BTreeMap;

pub use value::Value;
use zeroize::Zeroizing;

/// What `.key` of a map without that key gives: Go's `missingkey` option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingKey {
    /// An error (`missingkey=error`), as ESO runs `spec.target.template`.
    Error,
    /// No value, printed `<no value>` (Go's default), as ESO runs `rewrite.transform`.
    NoValue,
}

/// A parsed template: its main body and the templates it defines.
#[derive(Debug)]
pub struct Template {
    source: String,
    main: Vec<parse::Node>,
    defined: BTreeMap<String, Vec<parse::Node>>,
}

/// Why a template could not be parsed or executed: where, and what went wrong. Never
/// holds a value from the data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub struct TemplateError {
    /// 1-based line in the template.
    pub line: usize,
    /// 1-based column (in characters) in the line.
    pub column: usize,
    /// What went wrong.
    pub reason: String,
}

/// A byte offset into the template and the message for it, before it is turned into a
/// line and column.
#[derive(Debug)]
struct Fault {
    at: usize,
    reason: String,
}

fn fault(at: usize, reason: impl Into<String>) -> Fault {
    Fault {
        at,
        reason: reason.into(),
    }
}

impl Template {
    /// Parses `source`.
    ///
    /// # Errors
    /// [`TemplateError`] for a syntax error or a function that is not defined.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let parsed = parse::parse(source).map_err(|f| locate(source, f))?;
        Ok(Self {
            source: source.to_owned(),
            main: parsed.main,
            defined: parsed.defined,
        })
    }

    /// Runs the template with `data` as dot.
    ///
    /// # Errors
    /// [`TemplateError`] for anything Go would fail the execution for.
    pub fn execute(
        &self,
        data: Value,
        missing: MissingKey,
    ) -> Result<Zeroizing<String>, TemplateError> {
        exec::execute(self, data, missing).map_err(|f| locate(&self.source, f))
    }
}

fn locate(source: &str, fault: Fault) -> TemplateError {
    let before = &source[..fault.at.min(source.len())];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    TemplateError {
        line: before.matches('\n').count() + 1,
        column: before[line_start..].chars().count() + 1,
        reason: fault.reason,
    }
}

#[cfg(test)]
mod tests;

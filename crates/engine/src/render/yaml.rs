//! Parsing manifest files: YAML streams split into documents, resolved as kubectl
//! resolves them, JSON, `v1 List` expansion, and error messages that locate a problem
//! without quoting the input.

use std::path::Path;

use serde_json::Value;

use super::{Manifest, RenderError};

/// Options that resolve scalars as kubectl does (YAML 1.1), within the shared budget.
pub(super) fn options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        budget: Some(lockstep_limits::yaml_budget()),
        legacy_octal_numbers: true,
    }
}

/// Splits a YAML stream at `---` / `...` markers in column 0 (never part of a scalar),
/// returning each document's text and first line (from 1).
fn split_documents(text: &str) -> Vec<(String, u64)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1u64;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let number = index as u64 + 1;
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        let is_end = bare == "..." || bare.starts_with("... ");
        if !is_start && !is_end {
            current.push_str(line);
            continue;
        }
        if !current.trim().is_empty() {
            docs.push((std::mem::take(&mut current), start));
        }
        current.clear();
        if is_start {
            // Keep the rest of the line (`--- {a: 1}`) on the document's first line.
            current.push_str(&line[3..]);
            start = number;
        } else {
            start = number + 1;
        }
    }
    if !current.trim().is_empty() {
        docs.push((current, start));
    }
    docs
}

pub(super) fn parse_file(
    file: &Path,
    text: &str,
    is_json: bool,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    if is_json {
        let value = lockstep_limits::json::from_str(text).map_err(|e| RenderError::Syntax {
            file: file.to_path_buf(),
            document: 0,
            line: e.line() as u64,
            column: e.column() as u64,
            reason: json_reason(&e),
        })?;
        return push_object(file, 0, 1, value, out);
    }
    for (document, (body, first_line)) in split_documents(text).into_iter().enumerate() {
        let value = parse_document(file, document, &body, first_line)?;
        if value.is_null() {
            continue;
        }
        push_object(file, document, first_line, value, out)?;
    }
    Ok(())
}

/// One YAML document of `file` (starting at `first_line`), as kubectl resolves it.
pub(crate) fn parse_document(
    file: &Path,
    document: usize,
    body: &str,
    first_line: u64,
) -> Result<Value, RenderError> {
    serde_saphyr::from_str_with_options(body, options()).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        RenderError::Syntax {
            file: file.to_path_buf(),
            document,
            line: first_line + line.saturating_sub(1),
            column,
            reason: strip_quoted(&e.without_snippet().to_string()),
        }
    })
}

fn push_object(
    file: &Path,
    document: usize,
    line: u64,
    value: Value,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    let fail = |reason| RenderError::NotAnObject {
        file: file.to_path_buf(),
        document,
        line,
        reason,
    };
    let Value::Object(map) = &value else {
        return Err(fail("not a mapping"));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or_default();
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if api_version.is_empty() {
        return Err(fail("no apiVersion"));
    }
    if kind.is_empty() {
        return Err(fail("no kind"));
    }
    // `kind: List` (v1) holds objects in `items`.
    if kind == "List" && api_version == "v1" {
        let items = map
            .get("items")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for item in items {
            push_object(file, document, line, item, out)?;
        }
        return Ok(());
    }
    let has_name = value["metadata"]["name"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    if !has_name {
        return Err(fail("no metadata.name"));
    }
    out.push(Manifest {
        object: value,
        file: file.to_path_buf(),
        document,
        holds_secrets: false,
    });
    Ok(())
}

/// Removes anything between quotes or backticks: parser messages may quote input.
fn strip_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside: Option<char> = None;
    for c in message.chars() {
        match inside {
            Some(q) if c == q => {
                inside = None;
                out.push('…');
                out.push(c);
            }
            Some(_) => {}
            None if matches!(c, '\'' | '"' | '`') => {
                inside = Some(c);
                out.push(c);
            }
            None => out.push(c),
        }
    }
    if inside.is_some() {
        out.push('…');
    }
    // Positions inside the message are relative to the document; ours are in the file.
    let first = out.lines().next().unwrap_or_default();
    first
        .split(" at line ")
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn json_reason(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax => "invalid JSON syntax".into(),
        Category::Eof => "unexpected end of JSON".into(),
        Category::Data if lockstep_limits::json::is_duplicate_key(e) => {
            lockstep_limits::json::DUPLICATE_KEY.into()
        }
        Category::Data => "invalid JSON data".into(),
        Category::Io => "read error".into(),
    }
}

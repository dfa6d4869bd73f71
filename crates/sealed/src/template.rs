//! The supported subset of upstream's `template.data` (Go text/template + sprig, with the
//! decrypted items as the dot): literal text, `{{ .item }}`, `{{ index . "item" }}`, and
//! the `{{-`/`-}}` whitespace trims. Missing items render as Go renders them (`<no value>`
//! for `.item`, empty for `index`). Any other action is refused, because rendering it
//! differently from Go would silently produce a different Secret.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::plaintext::SecretValue;

/// A template uses something outside the supported subset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// An action other than `.item` or `index . "item"`.
    #[error(
        "unsupported template action at byte {offset} (supported: literal text, {{{{ .item }}}}, {{{{ index . \"item\" }}}})"
    )]
    UnsupportedAction {
        /// Byte offset of the action's `{{`.
        offset: usize,
    },
    /// `{{` without a closing `}}`.
    #[error("unclosed template action at byte {offset}")]
    Unclosed {
        /// Byte offset of the `{{`.
        offset: usize,
    },
}

/// Renders `text` with `items` as the dot.
///
/// # Errors
/// [`TemplateError`] for anything outside the subset.
pub(crate) fn render(
    text: &str,
    items: &BTreeMap<String, SecretValue>,
) -> Result<Vec<u8>, TemplateError> {
    let mut out = Zeroizing::new(Vec::with_capacity(text.len()));
    let mut rest = text;
    let mut offset = 0;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut literal = &rest[..start];
        if trim_next {
            literal = literal.trim_start();
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::Unclosed {
            offset: offset + start,
        })?;
        let mut action = &after[..end];
        if let Some(a) = action.strip_prefix("- ") {
            literal = literal.trim_end();
            action = a;
        }
        trim_next = false;
        if let Some(a) = action.strip_suffix(" -") {
            trim_next = true;
            action = a;
        }
        out.extend_from_slice(literal.as_bytes());
        let unsupported = TemplateError::UnsupportedAction {
            offset: offset + start,
        };
        match lookup(action.trim()) {
            Some(Lookup::Field(name)) => match items.get(name) {
                Some(v) => out.extend_from_slice(v.expose_secret()),
                None => out.extend_from_slice(b"<no value>"),
            },
            Some(Lookup::Index(name)) => {
                if let Some(v) = items.get(name) {
                    out.extend_from_slice(v.expose_secret());
                }
            }
            None => return Err(unsupported),
        }
        let consumed = start + 2 + end + 2;
        offset += consumed;
        rest = &rest[consumed..];
    }
    let tail = if trim_next { rest.trim_start() } else { rest };
    out.extend_from_slice(tail.as_bytes());
    Ok(std::mem::take(&mut *out))
}

enum Lookup<'a> {
    Field(&'a str),
    Index(&'a str),
}

fn lookup(action: &str) -> Option<Lookup<'_>> {
    if let Some(field) = action.strip_prefix('.') {
        let ident =
            !field.is_empty() && field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        return ident.then_some(Lookup::Field(field));
    }
    let rest = action.strip_prefix("index")?.trim_start();
    let rest = rest.strip_prefix('.')?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let quoted = rest.trim();
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains(['"', '\\'])).then_some(Lookup::Index(inner))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items() -> BTreeMap<String, SecretValue> {
        let mut m = BTreeMap::new();
        m.insert("user".to_owned(), SecretValue::new(b"admin".to_vec()));
        m.insert("pass-word".to_owned(), SecretValue::new(b"s3cr3t".to_vec()));
        m
    }

    #[test]
    fn renders_subset() {
        let r = |t: &str| String::from_utf8(render(t, &items()).unwrap()).unwrap();
        assert_eq!(r("plain"), "plain");
        assert_eq!(
            r("u={{ .user }};p={{ index . \"pass-word\" }}"),
            "u=admin;p=s3cr3t"
        );
        assert_eq!(r("{{ .missing }}"), "<no value>");
        assert_eq!(r("[{{ index . \"missing\" }}]"), "[]");
        assert_eq!(r("a  {{- .user -}}  b"), "aadminb");
    }

    #[test]
    fn refuses_the_rest() {
        assert!(render("{{ toJson .user }}", &items()).is_err());
        assert!(render("{{ .user | b64enc }}", &items()).is_err());
        assert!(render("{{ .user ", &items()).is_err());
    }
}

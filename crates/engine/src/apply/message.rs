//! What an API server error may say about an object, by what the object holds.
//!
//! The API server quotes refused values back: `Invalid value: "…"` in a validation
//! cause, `got &value.valueUnstructured{Value:…}` from server-side apply's type check, in
//! Go's own spelling (`\x01`, `\u00a0`) and at any length. For an object that holds secret
//! values the message is therefore never copied, not even through a scrubber: the error
//! names the object, and from `details.causes` each field path with its reason.

use std::fmt;

/// Why the API server's message about an object is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Withheld {
    /// The object is a Secret: any of its fields may be data.
    Secret,
    /// The object carries values the secrets stage decrypted or resolved.
    SecretValues,
}

impl fmt::Display for Withheld {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Secret => "Secret",
            Self::SecretValues => "the object holds decrypted values",
        })
    }
}

/// The code and reason of an API error, never its message (which may echo data).
pub(crate) fn api_code(err: &kube::Error) -> String {
    match err {
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        _ => "request failed".to_owned(),
    }
}

/// An API error as text fit for logs, status and the terminal. With `withheld`, the
/// server's message is replaced by the HTTP code, the reason and the field paths with
/// their reasons; without, it is kept whole (shortening it is the caller's business, after
/// scrubbing).
pub fn api_message(err: &kube::Error, withheld: Option<Withheld>) -> String {
    match (err, withheld) {
        (kube::Error::Api(status), Some(why)) => {
            let mut fields: Vec<String> = status
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| match (c.field.is_empty(), c.reason.is_empty()) {
                    (false, false) => format!("{}: {}", c.field, c.reason),
                    (false, true) => c.field.clone(),
                    (true, _) => c.reason.clone(),
                })
                .filter(|f| !f.is_empty())
                .collect();
            if fields.is_empty() {
                fields.extend(typed_path(&status.message));
            }
            let fields = if fields.is_empty() {
                String::new()
            } else {
                format!(" [{}]", fields.join("; "))
            };
            let code = match status.reason.as_str() {
                "" => status.code.to_string(),
                reason => format!("{} {reason}", status.code),
            };
            format!("{code}{fields} (message withheld: {why})")
        }
        (kube::Error::Api(status), None) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        (other, Some(_)) => format!("request failed ({})", error_kind(other)),
        (other, None) => other.to_string(),
    }
}

/// The field path and expected type of server-side apply's type check, which comes with
/// no causes: `failed to create typed patch object (…): .data.nested: expected string,
/// got …` gives `.data.nested: expected string`. The path is kept up to the first
/// character that is not plainly part of a key path (a list key like `[name="…"]` quotes
/// a value).
fn typed_path(message: &str) -> Option<String> {
    let (_, rest) = message.split_once("): ")?;
    let path: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
        .collect();
    if !path.starts_with('.') || path.len() < 2 {
        return None;
    }
    let expected = rest[path.len()..]
        .strip_prefix(": expected ")
        .map(|t| {
            t.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap_or("")
        })
        .filter(|t| !t.is_empty());
    Some(match expected {
        Some(kind) => format!("{path}: expected {kind}"),
        None => path,
    })
}

fn error_kind(err: &kube::Error) -> &'static str {
    match err {
        kube::Error::HyperError(_) | kube::Error::Service(_) => "transport",
        kube::Error::SerdeError(_) => "decode",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_patch_path_is_kept_values_never() {
        let typed = |m: &str| typed_path(m);
        assert_eq!(
            typed(
                "failed to create typed patch object (/c6; /v1, Kind=ConfigMap): .data.nested: expected string, got &value.valueUnstructured{Value:map[string]interface {}{\"inner\":\"CANARY\"}}"
            )
            .as_deref(),
            Some(".data.nested: expected string")
        );
        assert_eq!(
            typed(
                "failed to create typed patch object (x): .spec.template.spec.containers[name=\"CANARY\"].env: expected list, got &{map[]}"
            )
            .as_deref(),
            Some(".spec.template.spec.containers")
        );
        assert_eq!(typed("Secret \"CANARY\" is invalid"), None);
        assert_eq!(typed("(x): CANARY: expected"), None);
    }
}

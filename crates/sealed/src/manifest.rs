//! Reading and writing the documents kubeseal reads and writes: Secrets in, SealedSecrets
//! out (YAML or JSON, one or many), and `--merge-into`, which adds items to an existing
//! sealed file while keeping every other byte of its values.
//!
//! Parse errors carry only a line and column: serde messages can quote the offending
//! value, and on this path values are plaintext.

use k8s_openapi::api::core::v1::Secret;
use serde::Serialize;
use serde_json::Value;
use zeroize::{Zeroize as _, Zeroizing};

use crate::seal::SecretInput;
use crate::types::{KIND, SealedSecret};
use crate::unseal::UnsealedSecret;

/// A document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// JSON (kubeseal's default output): 2-space indent, trailing newline.
    Json,
    /// YAML: sorted keys, each document introduced by `---`.
    Yaml,
}

impl Format {
    /// JSON if the first non-blank byte opens an object or array, else YAML.
    pub fn detect(input: &[u8]) -> Self {
        match input.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => Self::Json,
            _ => Self::Yaml,
        }
    }
}

/// A document could not be read or written. Never quotes input text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// The input is not UTF-8.
    #[error("input is not UTF-8 text")]
    NotUtf8,
    /// The YAML does not parse into the expected resource.
    #[error("invalid YAML {}", at(*line, *column))]
    Yaml {
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
    },
    /// The JSON does not parse into the expected resource.
    #[error("invalid JSON {}", at(*line, *column))]
    Json {
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
    },
    /// The document parses but a field does not fit the resource's schema (a mapping where
    /// a string belongs, say).
    #[error("`{path}` {expected} {}; fix that field of the {resource}", at(*line, *column))]
    Schema {
        /// The field, dotted from the document root (`spec.template.type`).
        path: String,
        /// What the schema wants there (`expected a string`), never the value found.
        expected: String,
        /// `Secret` or `SealedSecret`.
        resource: &'static str,
        /// 1-based line, if known.
        line: Option<u64>,
        /// 1-based column, if known.
        column: Option<u64>,
    },
    /// No document in the input.
    #[error("no {expected} found in the input")]
    Empty {
        /// `Secret` or `SealedSecret`.
        expected: &'static str,
    },
    /// More than one document where one is expected.
    #[error("expected exactly one {expected}, found {found}")]
    TooMany {
        /// `SealedSecret`.
        expected: &'static str,
        /// How many.
        found: usize,
    },
    /// The document is of another kind.
    #[error("expected kind {expected}, found `{found}`")]
    WrongKind {
        /// Expected kind.
        expected: &'static str,
        /// Found kind.
        found: String,
    },
    /// Serialization failed.
    #[error("cannot write {format:?}")]
    Write {
        /// The output format.
        format: Format,
    },
}

fn at(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("at line {l}, column {c}"),
        (Some(l), None) => format!("at line {l}"),
        _ => "(no position)".to_owned(),
    }
}

fn yaml_error(e: &serde_saphyr::Error) -> DocumentError {
    let loc = e.location();
    DocumentError::Yaml {
        line: loc.map(|l| l.line()),
        column: loc.map(|l| l.column()),
    }
}

fn json_error(e: &serde_json::Error) -> DocumentError {
    DocumentError::Json {
        line: Some(e.line() as u64),
        column: Some(e.column() as u64),
    }
}

/// Parses every document of a YAML stream or JSON sequence as `T`, a `resource` (its kind,
/// for messages).
pub(crate) fn parse_all<T: serde::de::DeserializeOwned>(
    input: &[u8],
    resource: &'static str,
) -> Result<Vec<T>, DocumentError> {
    let text = std::str::from_utf8(input).map_err(|_| DocumentError::NotUtf8)?;
    match Format::detect(input) {
        Format::Json => serde_json::Deserializer::from_str(text)
            .into_iter::<T>()
            .collect::<Result<_, _>>()
            .map_err(|e| {
                let at = json_error(&e);
                diagnose::<T>(parse_untyped_json(text), at, resource)
            }),
        Format::Yaml => {
            serde_saphyr::from_multiple_with_options::<T>(text, lockstep_limits::yaml_options())
                .map_err(|e| {
                    let at = yaml_error(&e);
                    let untyped = serde_saphyr::from_multiple_with_options::<Value>(
                        text,
                        lockstep_limits::yaml_options(),
                    );
                    diagnose::<T>(untyped.ok(), at, resource)
                })
        }
    }
}

fn parse_untyped_json(text: &str) -> Option<Vec<Value>> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .ok()
}

/// Turns a failed typed parse into a schema error naming the field, when the text itself
/// parses: "invalid YAML" would send the user looking for a syntax error that is not there.
/// `at` is the typed parser's error, kept for its position.
fn diagnose<T: serde::de::DeserializeOwned>(
    untyped: Option<Vec<Value>>,
    at: DocumentError,
    resource: &'static str,
) -> DocumentError {
    let (DocumentError::Yaml { line, column } | DocumentError::Json { line, column }) = at else {
        return at;
    };
    let Some(docs) = untyped else { return at };
    // A ConfigMap given to `seal` fails at the root ("expected Secret"): say its kind.
    let other_kind = docs.iter().find_map(|doc| {
        let kind = doc.get("kind")?.as_str()?;
        (kind != resource).then(|| kind.to_owned())
    });
    if let Some(found) = other_kind {
        return DocumentError::WrongKind {
            expected: resource,
            found,
        };
    }
    docs.into_iter()
        .find_map(|doc| serde_path_to_error::deserialize::<_, T>(doc).err())
        .map_or(at, |e| DocumentError::Schema {
            path: e.path().to_string(),
            expected: expected_part(&e.inner().to_string()),
            resource,
            line,
            column,
        })
}

/// The "expected …" half of a serde message ("invalid type: string \"x\", expected a
/// map" → "expected a map"): the other half can quote the value, which may be plaintext.
fn expected_part(message: &str) -> String {
    message
        .find("expected ")
        .map_or("does not fit the schema", |i| &message[i..])
        .to_owned()
}

/// Reads one or more Secrets (YAML `---`-separated or concatenated JSON), moving their
/// values into zeroizing wrappers.
///
/// # Errors
/// [`DocumentError`] for unparsable input, no document, or a document of another kind.
pub fn parse_secrets(input: &[u8]) -> Result<Vec<SecretInput>, DocumentError> {
    let secrets: Vec<Secret> = parse_all(input, "Secret")?;
    if secrets.is_empty() {
        return Err(DocumentError::Empty { expected: "Secret" });
    }
    Ok(secrets.into_iter().map(SecretInput::from_secret).collect())
}

/// Reads exactly one SealedSecret.
///
/// # Errors
/// [`DocumentError`] for unparsable input, zero or several documents, or another kind.
pub fn parse_sealed_secret(input: &[u8]) -> Result<SealedSecret, DocumentError> {
    let mut all: Vec<SealedSecret> = parse_all(input, KIND)?;
    match all.len() {
        0 => Err(DocumentError::Empty {
            expected: "SealedSecret",
        }),
        1 => {
            let sealed = all.remove(0);
            if !sealed.kind.is_empty() && sealed.kind != KIND {
                return Err(DocumentError::WrongKind {
                    expected: KIND,
                    found: sealed.kind,
                });
            }
            Ok(sealed)
        }
        found => Err(DocumentError::TooMany {
            expected: "SealedSecret",
            found,
        }),
    }
}

/// Writes SealedSecrets as kubeseal does: JSON objects one after the other (`kind` and
/// `apiVersion` first), or YAML documents each introduced by `---`.
///
/// # Errors
/// [`DocumentError::Write`] if serialization fails.
pub fn sealed_secrets_to_string(
    sealed: &[SealedSecret],
    format: Format,
) -> Result<String, DocumentError> {
    let mut out = String::new();
    for s in sealed {
        match format {
            Format::Json => {
                let value = serde_json::to_value(s).map_err(|_| DocumentError::Write { format })?;
                out.push_str(&to_json(&kubeseal_json_order(value), format)?);
            }
            Format::Yaml => {
                out.push_str("---\n");
                out.push_str(&to_yaml(s, format)?);
            }
        }
    }
    Ok(out)
}

/// Writes an unsealed Secret (`kubeseal --recovery-unseal` output). The text is returned
/// zeroizing; the copy inside the intermediate `Secret` is zeroized before returning.
///
/// # Errors
/// [`DocumentError::Write`] if serialization fails.
pub fn secret_to_string(
    secret: UnsealedSecret,
    format: Format,
) -> Result<Zeroizing<String>, DocumentError> {
    let mut secret: Secret = secret.into_secret();
    let text = match format {
        Format::Json => serde_json::to_string_pretty(&secret)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|_| DocumentError::Write { format }),
        Format::Yaml => to_yaml(&secret, format),
    };
    for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
        value.0.zeroize();
    }
    text.map(Zeroizing::new)
}

fn to_json(value: &Value, format: Format) -> Result<String, DocumentError> {
    let mut s = serde_json::to_string_pretty(value).map_err(|_| DocumentError::Write { format })?;
    s.push('\n');
    Ok(s)
}

/// YAML as kubeseal writes it (through Go's yaml): a long ciphertext on one line as a plain
/// scalar, not folded, so files written by both tools do not churn; text with newlines
/// still as a block.
fn to_yaml<T: Serialize>(value: &T, format: Format) -> Result<String, DocumentError> {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.folded_wrap_chars = usize::MAX;
    serde_saphyr::to_string_with_options(value, options)
        .map_err(|_| DocumentError::Write { format })
}

/// Go marshals `TypeMeta` first (`kind`, then `apiVersion`) and `spec.template` before
/// `spec.encryptedData`.
fn kubeseal_json_order(value: Value) -> Value {
    let Value::Object(mut map) = value else {
        return value;
    };
    let mut out = serde_json::Map::new();
    for key in ["kind", "apiVersion", "metadata"] {
        if let Some(v) = map.remove(key) {
            out.insert(key.to_owned(), v);
        }
    }
    if let Some(Value::Object(mut spec)) = map.remove("spec") {
        let mut ordered = serde_json::Map::new();
        for key in ["template", "encryptedData", "data"] {
            if let Some(v) = spec.remove(key) {
                ordered.insert(key.to_owned(), v);
            }
        }
        ordered.extend(spec);
        out.insert("spec".to_owned(), Value::Object(ordered));
    }
    out.extend(map);
    Value::Object(out)
}

pub(crate) fn write_value(value: &Value, format: Format) -> Result<String, DocumentError> {
    match format {
        Format::Json => to_json(value, format),
        Format::Yaml => to_yaml(value, format),
    }
}

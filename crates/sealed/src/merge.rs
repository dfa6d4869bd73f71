//! `--merge-into`: seal a Secret for an existing sealed file's name, namespace and scope,
//! and add its items to that file. Items not in the new Secret keep their exact bytes;
//! the file keeps its format (JSON stays JSON, YAML stays YAML — unlike kubeseal, which
//! rewrites in its `-o` format, JSON by default).

use lockstep_keys::sealing::SealingPublicKey;
use serde_json::Value;

use crate::manifest::{DocumentError, Format, parse_all, parse_sealed_secret, write_value};
use crate::seal::{SealError, SealOptions, SecretInput, seal};

/// `--merge-into` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// The existing file is not one SealedSecret.
    #[error("reading the SealedSecret to merge into")]
    Existing(#[source] DocumentError),
    /// Sealing the new items failed.
    #[error("sealing the new items")]
    Seal(#[source] SealError),
    /// The existing file has no `spec` object.
    #[error("the SealedSecret to merge into has no spec")]
    NoSpec,
    /// Writing the merged file failed.
    #[error("writing the merged SealedSecret")]
    Write(#[source] DocumentError),
}

/// Seals `input` for the SealedSecret in `existing` (its name, namespace and scope win
/// over the input's) and returns the file text with the new items added or replaced,
/// plus the new template labels/annotations/data. Returns the new text and its format.
///
/// # Errors
/// [`MergeError`].
pub fn merge_into(
    existing: &[u8],
    mut input: SecretInput,
    key: &SealingPublicKey,
    allow_empty_data: bool,
) -> Result<(String, Format), MergeError> {
    let target = parse_sealed_secret(existing).map_err(MergeError::Existing)?;
    input.metadata.name = target.metadata.name.clone();
    input.metadata.namespace = target.metadata.namespace.clone();
    let options = SealOptions::default()
        .with_scope(Some(target.scope()))
        .with_allow_empty_data(allow_empty_data);
    let added = seal(input, key, &options).map_err(MergeError::Seal)?;

    let format = Format::detect(existing);
    let mut docs: Vec<Value> =
        parse_all(existing, crate::types::KIND).map_err(MergeError::Existing)?;
    let mut doc = docs.pop().ok_or(MergeError::NoSpec)?;
    let spec = doc
        .get_mut("spec")
        .and_then(Value::as_object_mut)
        .ok_or(MergeError::NoSpec)?;

    let encrypted = spec
        .entry("encryptedData")
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !encrypted.is_object() {
        *encrypted = Value::Object(serde_json::Map::new());
    }
    if let Some(map) = encrypted.as_object_mut() {
        for (item, value) in &added.spec.encrypted_data {
            map.insert(item.clone(), Value::String(value.clone()));
        }
    }

    if let Some(template) = &added.spec.template {
        let t = spec
            .entry("template")
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Some(t) = t.as_object_mut() {
            let meta = t
                .entry("metadata")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                merge_map(meta, "labels", template.metadata.labels.as_ref());
                merge_map(meta, "annotations", template.metadata.annotations.as_ref());
            }
            merge_map(t, "data", template.data.as_ref());
        }
    }

    let mut text = write_value(&doc, format).map_err(MergeError::Write)?;
    if format == Format::Yaml && starts_with_marker(existing) {
        text.insert_str(0, "---\n");
    }
    Ok((text, format))
}

fn merge_map(
    parent: &mut serde_json::Map<String, Value>,
    key: &str,
    added: Option<&std::collections::BTreeMap<String, String>>,
) {
    let Some(added) = added.filter(|a| !a.is_empty()) else {
        return;
    };
    let entry = parent
        .entry(key)
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(serde_json::Map::new());
    }
    if let Some(map) = entry.as_object_mut() {
        for (k, v) in added {
            map.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

fn starts_with_marker(text: &[u8]) -> bool {
    let trimmed = text
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&[][..], |i| &text[i..]);
    trimmed.starts_with(b"---")
}

//! Unsealing: a SealedSecret and the controller's private keys give the Secret it stands
//! for, as upstream's `SealedSecret.Unseal` does.
//!
//! - The scope comes from the SealedSecret's top-level annotations; the label binds it to
//!   the SealedSecret's namespace and name.
//! - Every item is decrypted with every key until one opens it; all item failures are
//!   collected and any failure fails the whole unseal (no partial Secret).
//! - The Secret gets `template.metadata` with name/namespace forced to the SealedSecret's,
//!   `template.type`, `template.immutable`, and one controller ownerReference unless the
//!   template carries `sealedsecrets.bitnami.com/skip-set-owner-references: "true"`.
//! - Legacy `spec.data` (one blob sealing a whole v1 Secret as JSON) is accepted, as the
//!   controller does with `--accept-deprecated-v1-data` (its default).
//! - `template.data` values are Go text/templates upstream. We render the subset that
//!   covers plain use: literal text, `{{ .item }}` and `{{ index . "item" }}`; anything
//!   else is refused with [`UnsealError::TemplateUnsupported`] rather than rendered wrong.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use lockstep_keys::sealing::SealingPrivateKey;

use crate::crypto::{DecryptError, hybrid_decrypt};
use crate::plaintext::{SecretData, SecretValue};
use crate::scope::SKIP_SET_OWNER_REFERENCES_ANNOTATION;
use crate::template::{TemplateError, render};
use crate::types::{API_VERSION, KIND, SealedSecret};

/// A decrypted Secret, its values still in zeroizing wrappers.
#[derive(Debug)]
pub struct UnsealedSecret {
    /// Metadata of the Secret to write (includes the ownerReference, if any).
    pub metadata: ObjectMeta,
    /// `type`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// The decrypted and rendered items.
    pub data: SecretData,
    /// The positions in the keys given to [`unseal`] of those that opened its items,
    /// ascending: the key it is sealed to (more than one when items were added later).
    pub sealed_with: Vec<usize>,
}

impl UnsealedSecret {
    /// The Kubernetes Secret. The plaintext leaves its wrappers here: the caller owns the
    /// copy in the returned `Secret` (write it and drop it).
    pub fn into_secret(self) -> Secret {
        let data = self
            .data
            .0
            .into_iter()
            .map(|(k, v)| (k, k8s_openapi::ByteString(v.expose_secret().to_vec())))
            .collect();
        Secret {
            data: Some(data),
            immutable: self.immutable,
            metadata: self.metadata,
            string_data: None,
            type_: self.type_,
        }
    }
}

/// Why one item did not unseal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ItemErrorKind {
    /// The value is not standard base64.
    #[error("illegal base64 data")]
    InvalidBase64,
    /// The blob did not decrypt (see [`DecryptError`]).
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
}

/// One failed item: where it is and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFailure {
    /// Path of the item, e.g. `encryptedData.password` or `data` (legacy).
    pub path: String,
    /// What went wrong.
    pub kind: ItemErrorKind,
}

/// Unsealing a SealedSecret failed. Every variant names the SealedSecret
/// (`namespace/name`) and the items involved; none carries a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnsealError {
    /// One or more items did not decrypt. Identical reasons are grouped, as upstream
    /// does: `no key could decrypt secret (encryptedData.a, encryptedData.b)`.
    #[error("cannot unseal SealedSecret {sealed_secret}: {}", group(failures))]
    Items {
        /// `namespace/name`.
        sealed_secret: String,
        /// Each failed item.
        failures: Vec<ItemFailure>,
    },
    /// Both the legacy `spec.data` and `spec.encryptedData` are set.
    #[error(
        "cannot unseal SealedSecret {sealed_secret}: cannot use the field 'encryptedData' and the deprecated field 'data' at the same time"
    )]
    DataAndEncryptedData {
        /// `namespace/name`.
        sealed_secret: String,
    },
    /// The legacy `spec.data` decrypted, but not to a JSON Secret.
    #[error("cannot unseal SealedSecret {sealed_secret}: spec.data does not hold a v1 Secret")]
    LegacyNotASecret {
        /// `namespace/name`.
        sealed_secret: String,
    },
    /// A `template.data` item uses template features we do not render.
    #[error("cannot unseal SealedSecret {sealed_secret}: template.data.{item}: {source}")]
    TemplateUnsupported {
        /// `namespace/name`.
        sealed_secret: String,
        /// The template item.
        item: String,
        /// What is not supported.
        #[source]
        source: TemplateError,
    },
}

fn group(failures: &[ItemFailure]) -> String {
    let mut by_message: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for f in failures {
        by_message
            .entry(f.kind.to_string())
            .or_default()
            .push(&f.path);
    }
    by_message
        .into_iter()
        .map(|(msg, paths)| format!("{msg} ({})", paths.join(", ")))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Decodes an `encryptedData` value: standard base64 with padding; line breaks are
/// skipped, as Go's decoder does.
pub(crate) fn decode_blob(value: &str) -> Option<Vec<u8>> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let compact: String = value.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    LENIENT.decode(compact).ok()
}

/// Unseals `sealed` with the first of `keys` that opens each item (module docs give the
/// rules).
///
/// # Errors
/// [`UnsealError`]; a wrong key, a wrong scope and tampered bytes all read
/// `no key could decrypt secret`.
pub fn unseal(
    sealed: &SealedSecret,
    keys: &[SealingPrivateKey],
) -> Result<UnsealedSecret, UnsealError> {
    let sealed_secret = sealed.display_name();
    let namespace = sealed.metadata.namespace.as_deref().unwrap_or("");
    let name = sealed.metadata.name.as_deref().unwrap_or("");
    let label = sealed.scope().label(namespace, name);
    let template = sealed.spec.template.clone().unwrap_or_default();

    let mut metadata = template.metadata;
    let mut type_ = template.type_;
    let mut immutable = template.immutable;
    let mut data = BTreeMap::new();
    let mut failures = Vec::new();
    let mut sealed_with = BTreeSet::new();

    if let Some(legacy) = sealed.spec.data.as_deref().filter(|d| !d.is_empty()) {
        if !sealed.spec.encrypted_data.is_empty() {
            return Err(UnsealError::DataAndEncryptedData { sealed_secret });
        }
        let plain = decode_blob(legacy)
            .ok_or(ItemErrorKind::InvalidBase64)
            .and_then(|blob| hybrid_decrypt(keys, &blob, &label).map_err(ItemErrorKind::from));
        let (at, plain) = plain.map_err(|kind| UnsealError::Items {
            sealed_secret: sealed_secret.clone(),
            failures: vec![ItemFailure {
                path: "data".to_owned(),
                kind,
            }],
        })?;
        let secret: Secret = serde_json::from_slice(plain.expose_secret()).map_err(|_| {
            UnsealError::LegacyNotASecret {
                sealed_secret: sealed_secret.clone(),
            }
        })?;
        sealed_with.insert(at);
        let input = crate::seal::SecretInput::from_secret(secret);
        metadata = input.metadata;
        type_ = input.type_;
        immutable = input.immutable;
        data = input.data.0;
    }

    for (item, value) in &sealed.spec.encrypted_data {
        let result = decode_blob(value)
            .ok_or(ItemErrorKind::InvalidBase64)
            .and_then(|blob| hybrid_decrypt(keys, &blob, &label).map_err(ItemErrorKind::from));
        match result {
            Ok((at, plain)) => {
                sealed_with.insert(at);
                data.insert(item.clone(), plain);
            }
            Err(kind) => failures.push(ItemFailure {
                path: format!("encryptedData.{item}"),
                kind,
            }),
        }
    }
    if !failures.is_empty() {
        return Err(UnsealError::Items {
            sealed_secret,
            failures,
        });
    }

    if let Some(templates) = &template.data {
        let mut rendered = BTreeMap::new();
        for (item, text) in templates {
            let value = render(text, &data).map_err(|source| UnsealError::TemplateUnsupported {
                sealed_secret: sealed_secret.clone(),
                item: item.clone(),
                source,
            })?;
            rendered.insert(item.clone(), SecretValue::new(value));
        }
        data.extend(rendered);
    }

    metadata.name = sealed.metadata.name.clone();
    metadata.namespace = sealed.metadata.namespace.clone();
    let skip_owner = metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SKIP_SET_OWNER_REFERENCES_ANNOTATION))
        .is_some_and(|v| v == "true");
    metadata.owner_references = (!skip_owner).then(|| {
        vec![OwnerReference {
            api_version: API_VERSION.to_owned(),
            kind: KIND.to_owned(),
            name: name.to_owned(),
            uid: sealed.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: None,
        }]
    });

    Ok(UnsealedSecret {
        metadata,
        type_,
        immutable,
        data: SecretData(data),
        sealed_with: sealed_with.into_iter().collect(),
    })
}

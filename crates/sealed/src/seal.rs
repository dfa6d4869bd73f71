//! Sealing: a Secret becomes a SealedSecret, as `kubeseal` does it
//! (`pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go`, `NewSealedSecret`), and one
//! value becomes a raw sealed string (`kubeseal --raw`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use lockstep_keys::sealing::SealingPublicKey;
use zeroize::Zeroize as _;

use crate::Scope;
use crate::crypto::{EncryptError, hybrid_encrypt};
use crate::plaintext::{SecretData, SecretValue};
use crate::types::{API_VERSION, KIND, SealedSecret, SealedSecretSpec, SecretTemplateSpec};

/// Annotations kubeseal strips from the template because they would leak plaintext.
const LEAKY_ANNOTATIONS: [&str; 2] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    "kubecfg.ksonnet.io/last-applied-configuration",
];

/// A Secret to seal, with its plaintext moved into zeroizing wrappers.
#[derive(Debug, Default)]
pub struct SecretInput {
    /// The Secret's metadata (without the last-applied annotations).
    pub metadata: ObjectMeta,
    /// `type`.
    pub type_: Option<String>,
    /// `immutable`.
    pub immutable: Option<bool>,
    /// `data` and `stringData` merged (`stringData` wins on a duplicate item, as upstream).
    pub data: SecretData,
}

impl SecretInput {
    /// Moves a parsed Secret's values into [`SecretValue`]s (no copies are left behind in
    /// the `Secret`).
    pub fn from_secret(mut secret: Secret) -> Self {
        // The last-applied annotations hold the whole plaintext Secret: drop (and zeroize)
        // them first, so that not even `Debug` of this value can show them.
        if let Some(annotations) = &mut secret.metadata.annotations {
            for key in LEAKY_ANNOTATIONS {
                if let Some(mut value) = annotations.remove(key) {
                    value.zeroize();
                }
            }
        }
        let mut data = BTreeMap::new();
        for (key, value) in secret.data.take().unwrap_or_default() {
            data.insert(key, SecretValue::new(value.0));
        }
        for (key, value) in secret.string_data.take().unwrap_or_default() {
            data.insert(key, SecretValue::new(value.into_bytes()));
        }
        Self {
            metadata: secret.metadata,
            type_: secret.type_,
            immutable: secret.immutable,
            data: SecretData(data),
        }
    }
}

/// How to seal. [`Default`] is kubeseal's default.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SealOptions {
    /// `--scope`. `None`: the scope annotations of the input decide (strict without any).
    /// `Some(s)`: the input's scope annotations are rewritten to select `s`. (kubeseal
    /// leaves them alone for an explicit `--scope strict`; we make it mean strict.)
    pub scope: Option<Scope>,
    /// `--name`: overrides the input's name.
    pub name: Option<String>,
    /// `-n/--namespace`: used when the input has none; must equal the input's otherwise.
    pub namespace: Option<String>,
    /// `--allow-empty-data`.
    pub allow_empty_data: bool,
}

impl SealOptions {
    /// Options with this scope override.
    pub fn with_scope(mut self, scope: Option<Scope>) -> Self {
        self.scope = scope;
        self
    }

    /// Options with this name override.
    pub fn with_name(mut self, name: Option<String>) -> Self {
        self.name = name;
        self
    }

    /// Options with this namespace.
    pub fn with_namespace(mut self, namespace: Option<String>) -> Self {
        self.namespace = namespace;
        self
    }

    /// Options allowing empty data.
    pub fn with_allow_empty_data(mut self, allow: bool) -> Self {
        self.allow_empty_data = allow;
        self
    }
}

/// Sealing failed. Names items, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// A strict or namespace-wide Secret has no `metadata.namespace` and no `--namespace`.
    #[error(
        "secret {name} must declare a namespace ({scope} scope binds it to one): set \
         metadata.namespace or pass -n/--namespace"
    )]
    SecretWithoutNamespace {
        /// The Secret's name.
        name: String,
        /// Its scope.
        scope: Scope,
    },
    /// The Secret has no `metadata.name` and no `--name` was given.
    #[error("secret must have a name (metadata.name or --name)")]
    MissingName,
    /// A raw value sealed with strict scope needs the name of the Secret it will be in.
    #[error(
        "a strict sealed value needs the Secret's name: pass --name (or --scope namespace-wide)"
    )]
    MissingRawName,
    /// A strict or namespace-wide value needs a namespace.
    #[error("a {scope} sealed value needs a namespace (-n/--namespace)")]
    MissingNamespace {
        /// The scope that needs it.
        scope: Scope,
    },
    /// The input's namespace differs from the one given on the command line.
    #[error("namespace mismatch: the Secret says `{input}`, the command line says `{flag}`")]
    NamespaceMismatch {
        /// From `metadata.namespace`.
        input: String,
        /// From `-n/--namespace`.
        flag: String,
    },
    /// The Secret has neither `data` nor `stringData`.
    #[error("secret {name} has no data (use --allow-empty-data to seal it anyway)")]
    EmptyData {
        /// `namespace/name` of the Secret.
        name: String,
    },
    /// Encrypting one item failed.
    #[error("sealing item {item}")]
    Encrypt {
        /// The item name.
        item: String,
        /// Why.
        #[source]
        source: EncryptError,
    },
}

/// Seals one value for `key` under the given scope; returns standard base64 (what goes in
/// `encryptedData`, and what `kubeseal --raw` prints).
///
/// # Errors
/// [`SealError::Encrypt`] if encryption fails.
pub fn seal_value(
    key: &SealingPublicKey,
    scope: Scope,
    namespace: &str,
    name: &str,
    value: &[u8],
) -> Result<String, SealError> {
    let blob = hybrid_encrypt(key, value, &scope.label(namespace, name)).map_err(|source| {
        SealError::Encrypt {
            item: String::new(),
            source,
        }
    })?;
    Ok(STANDARD.encode(blob))
}

/// `kubeseal --raw`: seals one value, checking that the scope has what it binds to.
///
/// # Errors
/// [`SealError::MissingNamespace`] / [`SealError::MissingRawName`] when the scope needs them.
pub fn seal_raw(
    key: &SealingPublicKey,
    scope: Scope,
    namespace: Option<&str>,
    name: Option<&str>,
    value: &[u8],
) -> Result<String, SealError> {
    let namespace = namespace.filter(|n| !n.is_empty());
    let name = name.filter(|n| !n.is_empty());
    let (ns, nm) = match scope {
        Scope::Strict => (
            namespace.ok_or(SealError::MissingNamespace { scope })?,
            name.ok_or(SealError::MissingRawName)?,
        ),
        Scope::NamespaceWide => (namespace.ok_or(SealError::MissingNamespace { scope })?, ""),
        Scope::ClusterWide => ("", ""),
    };
    seal_value(key, scope, ns, nm, value)
}

/// Seals a Secret into a SealedSecret: every `data`/`stringData` item becomes one
/// `encryptedData` item with its own session key; the template gets the Secret's metadata
/// (minus server-side fields, ownerReferences and last-applied annotations), type and
/// immutability; the top-level metadata gets name, namespace and the scope annotation.
///
/// # Errors
/// See [`SealError`].
pub fn seal(
    input: SecretInput,
    key: &SealingPublicKey,
    options: &SealOptions,
) -> Result<SealedSecret, SealError> {
    let SecretInput {
        mut metadata,
        type_,
        immutable,
        data,
    } = input;
    if let Some(name) = &options.name {
        metadata.name = Some(name.clone());
    }
    let name = metadata
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or(SealError::MissingName)?;
    let namespace = match (
        metadata.namespace.as_deref().filter(|n| !n.is_empty()),
        &options.namespace,
    ) {
        (Some(input), Some(flag)) if input != flag => {
            return Err(SealError::NamespaceMismatch {
                input: input.to_owned(),
                flag: flag.clone(),
            });
        }
        (Some(input), _) => Some(input.to_owned()),
        (None, Some(flag)) => Some(flag.clone()),
        (None, None) => None,
    };

    if let Some(scope) = options.scope {
        scope.set_annotations(metadata.annotations.get_or_insert_default());
    }
    let scope = Scope::from_annotations(metadata.annotations.as_ref());
    // As kubeseal: a strict or namespace-wide value is bound to a namespace, so one must be
    // named; guessing `default` made a SealedSecret that never unseals where it was meant to.
    let namespace = match namespace {
        Some(namespace) => namespace,
        None if scope == Scope::ClusterWide => "default".to_owned(),
        None => return Err(SealError::SecretWithoutNamespace { name, scope }),
    };
    metadata.namespace = Some(namespace.clone());

    if data.0.is_empty() && !options.allow_empty_data {
        return Err(SealError::EmptyData {
            name: format!("{namespace}/{name}"),
        });
    }

    let label = scope.label(&namespace, &name);
    let mut encrypted = BTreeMap::new();
    for (item, value) in &data.0 {
        let blob = hybrid_encrypt(key, value.expose_secret(), &label).map_err(|source| {
            SealError::Encrypt {
                item: item.clone(),
                source,
            }
        })?;
        encrypted.insert(item.clone(), STANDARD.encode(blob));
    }

    strip_for_template(&mut metadata);
    let mut top_annotations = BTreeMap::new();
    if let Some(annotation) = scope.annotation() {
        top_annotations.insert(annotation.to_owned(), "true".to_owned());
    }
    Ok(SealedSecret {
        api_version: API_VERSION.to_owned(),
        kind: KIND.to_owned(),
        metadata: ObjectMeta {
            name: Some(name),
            namespace: Some(namespace),
            annotations: (!top_annotations.is_empty()).then_some(top_annotations),
            ..ObjectMeta::default()
        },
        spec: SealedSecretSpec {
            data: None,
            encrypted_data: encrypted,
            template: Some(SecretTemplateSpec {
                data: None,
                immutable,
                metadata,
                type_,
            }),
        },
        status: None,
    })
}

/// Seals many Secrets like [`seal()`], spread over the machine's cores: every value costs one
/// RSA public-key operation (~0.1 ms at 4096 bits), so a stream of a thousand Secrets is
/// CPU-bound. The output keeps the input's order; on failure, the error of the first failing
/// Secret in input order is returned.
///
/// # Errors
/// See [`SealError`].
pub fn seal_all(
    mut inputs: Vec<SecretInput>,
    key: &SealingPublicKey,
    options: &SealOptions,
) -> Result<Vec<SealedSecret>, SealError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(inputs.len());
    if threads <= 1 {
        return inputs.into_iter().map(|i| seal(i, key, options)).collect();
    }
    let per_thread = inputs.len().div_ceil(threads);
    let mut chunks = Vec::with_capacity(threads);
    while inputs.len() > per_thread {
        let rest = inputs.split_off(per_thread);
        chunks.push(std::mem::replace(&mut inputs, rest));
    }
    chunks.push(inputs);
    std::thread::scope(|scope| {
        let workers: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|i| seal(i, key, options))
                        .collect::<Result<Vec<_>, _>>()
                })
            })
            .collect();
        let mut sealed = Vec::new();
        for worker in workers {
            let part = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            sealed.extend(part);
        }
        Ok(sealed)
    })
}

/// Clears what must not travel into the template: server-side fields, ownerReferences and
/// the last-applied annotations (they hold the plaintext Secret).
fn strip_for_template(metadata: &mut ObjectMeta) {
    metadata.self_link = None;
    metadata.uid = None;
    metadata.resource_version = None;
    metadata.generation = None;
    metadata.creation_timestamp = None;
    metadata.deletion_timestamp = None;
    metadata.deletion_grace_period_seconds = None;
    metadata.owner_references = None;
    if let Some(annotations) = &mut metadata.annotations {
        for key in LEAKY_ANNOTATIONS {
            if let Some(mut value) = annotations.remove(key) {
                value.zeroize();
            }
        }
        if annotations.is_empty() {
            metadata.annotations = None;
        }
    }
}

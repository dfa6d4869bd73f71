//! The SealedSecret wire format, scopes and the `bitnami.com/v1alpha1` SealedSecret type,
//! byte-compatible with Bitnami Sealed Secrets (kubeseal and its controller).
//!
//! Which type or function for which job:
//! - [`SealedSecret`] (+ [`SealedSecretSpec`], [`SecretTemplateSpec`],
//!   [`SealedSecretStatus`]): the resource, as serde types over k8s-openapi `ObjectMeta`.
//! - [`Scope`]: strict / namespace-wide / cluster-wide, its OAEP label and annotations.
//! - [`seal()`] / [`seal_raw`]: a Secret ([`SecretInput`]) or one value, sealed to a
//!   controller's public key ([`lockstep_keys::sealing::SealingPublicKey`], from its
//!   [`Certificate`](lockstep_keys::sealing::Certificate)); [`seal_all`] seals many Secrets
//!   on every core.
//! - [`unseal()`]: a SealedSecret and the controller's private keys → the
//!   [`UnsealedSecret`] it stands for ([`UnsealedSecret::into_secret`] gives the
//!   k8s-openapi `Secret` to apply). Errors name the SealedSecret and item, never a value.
//! - [`crypto`]: the hybrid RSA-OAEP + AES-GCM format of one value.
//! - [`manifest`]: reading Secrets / SealedSecrets (YAML or JSON) and writing them as
//!   kubeseal does; [`merge_into`] for `--merge-into`; [`load_private_keys`] for
//!   `--recovery-private-key` files.
//! - [`reseal()`]: a SealedSecret re-sealed item by item to a new key (key rotation);
//!   [`sealing_key`] tells which key sealed it; [`parse_sealed_secrets`] reads a
//!   multi-document file.
//!
//! Plaintext is always in [`SecretValue`] (zeroized on drop, redacted `Debug`).

pub mod crypto;
mod keylabels;
mod keysecret;
pub mod manifest;
mod merge;
mod plaintext;
mod recovery;
mod reseal;
mod scope;
mod seal;
mod template;
mod types;
mod unseal;

#[cfg(test)]
mod testutil;

pub use crypto::{DecryptError, EncryptError};
pub use keylabels::{
    KEY_ACTIVE, KEY_COMPROMISED, KEY_IMPORT_FIELD_MANAGER, KEYRING_FIELD_MANAGER,
    RENEW_REQUESTED_ANNOTATION, SEALING_KEYS_NOT_FROM_GIT, UNSEAL_FIELD_MANAGER,
};
pub use keysecret::{KeySecretError, parse_key_secret};
pub use manifest::{DocumentError, Format};
pub use merge::{MergeError, merge_into};
pub use plaintext::{SecretData, SecretValue};
pub use recovery::{KeyFileError, load_private_keys};
pub use reseal::{ResealError, parse_sealed_secrets, reseal, sealing_key};
pub use scope::{
    ANNOTATION_PREFIX, CLUSTER_WIDE_ANNOTATION, MANAGED_ANNOTATION, NAMESPACE_WIDE_ANNOTATION,
    PATCH_ANNOTATION, ParseScopeError, SEALING_KEY_LABEL, SKIP_SET_OWNER_REFERENCES_ANNOTATION,
    Scope,
};
pub use seal::{SealError, SealOptions, SecretInput, seal, seal_all, seal_raw, seal_value};
pub use template::TemplateError;
pub use types::{
    API_VERSION, KIND, SealedSecret, SealedSecretCondition, SealedSecretSpec, SealedSecretStatus,
    SecretTemplateSpec,
};
pub use unseal::{ItemErrorKind, ItemFailure, UnsealError, UnsealedSecret, unseal};

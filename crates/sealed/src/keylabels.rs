//! How sealing key Secrets are marked, shared by the controller (which reads the marks)
//! and `lockstep keys` (which sets them), on top of Bitnami's [`SEALING_KEY_LABEL`]
//! (`crate::SEALING_KEY_LABEL`).

/// [`crate::SEALING_KEY_LABEL`] value of a key in use: it unseals, and the newest seals.
pub const KEY_ACTIVE: &str = "active";

/// [`crate::SEALING_KEY_LABEL`] value of a retired key, as Bitnami's documentation has
/// users set it by hand: any value but `active` takes the key out of the controller's ring.
pub const KEY_COMPROMISED: &str = "compromised";

/// Annotation on an active key Secret asking the controller for a new key now
/// (`lockstep keys renew`); the controller removes it once the new key exists, so one
/// request makes one key.
pub const RENEW_REQUESTED_ANNOTATION: &str = "lockstep.dev/renew-requested";

/// Field manager the controller creates sealing key Secrets with.
pub const KEYRING_FIELD_MANAGER: &str = "lockstep-keyring";

/// Field manager `lockstep keys import` and `lockstep keys restore` create key Secrets
/// with.
pub const KEY_IMPORT_FIELD_MANAGER: &str = "lockstep-keys";

/// Field manager the controller writes unsealed Secrets with. It writes what a
/// SealedSecret's author chose, so a key Secret it touched is not trusted.
pub const UNSEAL_FIELD_MANAGER: &str = "lockstep-unseal";

/// Why an apply refuses objects labelled [`crate::SEALING_KEY_LABEL`].
pub const SEALING_KEYS_NOT_FROM_GIT: &str =
    "sealing keys come from the controller or `lockstep keys import`, never from a repository";

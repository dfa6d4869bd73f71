//! The Git-to-cluster sync engine, shared by the controller and the CLI.
//!
//! One reconcile is a pipeline of steps, each in its own module with its own error type:
//!
//! 1. [`fetch`]: resolve a Git ref (ls-remote), fetch it shallow only when the revision is
//!    not cached, and write the commit's tree into a bounded cache → [`fetch::Artifact`].
//! 2. [`render`]: read a directory of YAML/JSON manifests into ordered objects, set the
//!    target namespace and our ownership labels.
//! 3. [`apply`]: every object checked and dry-run before the first write, then
//!    server-side apply in stages (CRDs and Namespaces first, then other cluster-scoped
//!    objects, then namespaced ones), writing only drifted objects → a
//!    [`apply::ChangeSet`].
//! 4. [`inventory`] and [`prune`]: the applied set, and deleting what left it;
//!    [`ownership`]: whose an object is, so no apply takes or prunes another's.
//! 5. [`health`]: kstatus rules for whether applied objects are ready, and a wait on them;
//!    [`hooks`]: a chart's Helm hooks, run before and after the apply.
//!
//! [`run`] strings apply and prune together for one reconcile, as the controller and
//! `lockstep apply` both need it.
//!
//! Between render and apply, [`secrets`] is the one secrets stage of both binaries: with
//! the caller's [`keys`], [`decrypt`] decrypts SOPS values in memory and [`refs`] fills in
//! Secret values that reference Vault KV or AWS KMS.
//!
//! Across all steps, [`redact`] hides Secret values in objects and free text.
//!
//! What it does not do yet is listed in `docs/engine.md`.

pub mod apply;
pub mod cel;
pub mod decrypt;
pub mod fetch;
pub mod health;
pub mod hooks;
pub mod inventory;
pub mod keys;
pub mod ownership;
pub mod prune;
pub mod redact;
pub mod refs;
pub mod release;
pub mod render;
pub mod run;
pub mod secrets;

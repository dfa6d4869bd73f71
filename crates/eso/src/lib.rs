//! The External Secrets Operator's semantics, for Lockstep's `ExternalSecret` front-end:
//! what ESO v0.16.2 reads for an `external-secrets.io/v1` ExternalSecret and what it
//! writes, so that Lockstep and ESO can replace each other on one cluster without a
//! Secret being recreated or rewritten.
//!
//! The steps of one reconcile, each in its module:
//! - [`fetch`]: find the store ([`fetch::store_of`]), log in ([`fetch::open`]: Vault or
//!   OpenBao through the workspace's one Vault client, [`vault`]; AWS Secrets Manager or
//!   Parameter Store through its AWS clients, [`aws`]), and read every `data[]` and
//!   `dataFrom[].extract` entry ([`fetch::fetch`]); [`value`] takes a
//!   property out of a JSON value (gjson-style paths), [`decode`] applies
//!   `decodingStrategy`/`conversionStrategy`.
//! - [`target`]: the Secret to write, with ESO's labels, annotations, data hash and owner
//!   reference; [`template`] applies `spec.target.template` on the way, running the Go
//!   templates with [`gotmpl`].
//! - [`status`]: the `Ready` condition, `refreshTime`, `syncedResourceVersion`, and when to
//!   read again.
//!
//! [`go`] reproduces the Go renderings those depend on. The Kubernetes writes themselves
//! are the controller's (`lockstep-controller`, module `externalsecret`).

pub mod aws;
mod conditions;
mod credentials;
pub mod decode;
pub mod error;
pub mod fetch;
mod find;
pub mod go;
pub mod gotmpl;
pub mod status;
pub mod target;
pub mod template;
pub mod value;
pub mod vault;

pub use error::{Error, Store};

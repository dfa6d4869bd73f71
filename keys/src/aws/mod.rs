//! What every AWS client of this crate shares (KMS for sops keys, Secrets Manager and
//! Parameter Store for External Secrets): the caller's SDK configuration ([`Access`]), one
//! retry and timeout policy, and what a failed call means.
//!
//! Calls give up after [`ATTEMPTS`] attempts, each bounded by [`ATTEMPT_TIMEOUT`], and
//! after [`CALL_TIMEOUT`] in all, so a dead endpoint fails in seconds.

use std::time::Duration;

pub use aws_credential_types::Credentials;

mod config;
mod failure;
#[cfg(feature = "aws-secrets")]
pub mod secrets;

pub(crate) use config::Access;
pub(crate) use failure::classify;
#[cfg(feature = "kms")]
pub(crate) use failure::no_credentials;

/// Attempts per call (the first try and two retries).
pub const ATTEMPTS: u32 = 3;
/// Time limit for one attempt, connection included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time limit for a whole call, retries included.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

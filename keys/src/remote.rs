//! What the remote key services (KMS, Vault) share: the kind of a failure and the runtime
//! their async clients run on.
//!
//! `RemoteFailure` is part of `Error` whatever the features, so the module is always built;
//! only the runtime needs the remote services' dependencies.

#[cfg(any(feature = "kms", feature = "vault"))]
use std::future::Future;
#[cfg(any(feature = "kms", feature = "vault"))]
use std::sync::OnceLock;

#[cfg(any(feature = "kms", feature = "vault"))]
use crate::Error;

/// The kind of a failed KMS or Vault call, so that a caller can pick a retry policy
/// without parsing messages ([`RemoteFailure::is_transient`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RemoteFailure {
    /// The credential was refused or lacks the permission (KMS `AccessDenied`, Vault 403).
    Denied,
    /// The key does not exist.
    NotFound,
    /// The key exists but is disabled or pending deletion.
    Disabled,
    /// The ciphertext is corrupt, for another key, or the encryption context differs.
    InvalidCiphertext,
    /// The server could not be reached or did not answer in time.
    Unreachable,
    /// The Vault server is sealed.
    Sealed,
    /// The service throttled the request.
    Throttled,
    /// Anything else the service reported.
    Other,
}

impl RemoteFailure {
    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(self) -> bool {
        matches!(self, Self::Unreachable | Self::Sealed | Self::Throttled)
    }
}

impl std::fmt::Display for RemoteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Denied => "access denied",
            Self::NotFound => "key not found",
            Self::Disabled => "key disabled or pending deletion",
            Self::InvalidCiphertext => "invalid ciphertext or encryption context",
            Self::Unreachable => "server unreachable",
            Self::Sealed => "server sealed",
            Self::Throttled => "throttled",
            Self::Other => "failed",
        })
    }
}

/// An AWS service secrets are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsService {
    /// AWS Secrets Manager.
    SecretsManager,
    /// AWS Systems Manager Parameter Store.
    ParameterStore,
}

impl std::fmt::Display for AwsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::SecretsManager => "Secrets Manager secret",
            Self::ParameterStore => "Parameter Store parameter",
        })
    }
}

/// Runs `future` to completion on the key services' own runtime and waits for it.
///
/// [`crate::KeyService`] is synchronous, and callers reach it from plain threads, from
/// `spawn_blocking` in a multi-thread runtime, and possibly from an async task.
/// `Handle::block_on` panics in the last case, and clients bound to a caller's runtime
/// break when that runtime goes away. So KMS and Vault calls run on one small runtime of
/// this crate (one worker thread, started on first use, never dropped) and the calling
/// thread waits on a channel: this never panics, whatever the calling context. Called
/// from an async task it blocks that task's worker for the length of the call, as any
/// blocking call does; the controller calls from `spawn_blocking`.
#[cfg(any(feature = "kms", feature = "vault"))]
pub(crate) fn block_on<F>(future: F) -> Result<F::Output, Error>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("lockstep-keys-io")
                .enable_all()
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|detail| Error::KeyRuntime {
            detail: format!("cannot start: {detail}"),
        })?;
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = sender.send(future.await);
    });
    receiver.recv().map_err(|_| Error::KeyRuntime {
        detail: "the call panicked or was cancelled".into(),
    })
}

/// An error and its sources' messages, joined with `: ` (no `Debug`, which would show raw
/// responses). Only for errors that carry no response: construction and dispatch failures.
#[cfg(any(feature = "aws", feature = "vault"))]
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(current) = source {
        text.push_str(": ");
        text.push_str(&current.to_string());
        source = current.source();
    }
    text
}

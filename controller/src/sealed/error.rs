//! Errors that make a SealedSecret reconcile retry with backoff. Outcomes the user must fix
//! (a value that does not unseal, a Secret owned by someone else) are not errors here: they
//! become a `Synced=False` condition and a Warning event.

/// A reconcile step failed for a reason that may pass (API unavailable, conflict).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the target Secret failed.
    #[error("reading Secret {name}")]
    GetSecret {
        /// `namespace/name`.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Writing the SealedSecret's status failed.
    #[error("writing the status of SealedSecret {name}")]
    WriteStatus {
        /// `namespace/name`.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The blocking unseal task did not finish.
    #[error("unsealing task of SealedSecret {name} did not finish")]
    Task {
        /// `namespace/name`.
        name: String,
    },
}

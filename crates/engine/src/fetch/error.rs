//! What can go wrong while fetching, each variant named for the step.

use std::path::PathBuf;
use std::time::Duration;

use super::BoxError;
use super::ssh::SshError;
use super::verify::VerifyError;

/// Why a fetch failed. URLs in messages have any user name and password removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The cache folder could not be created or written.
    #[error("cannot use the Git cache at {path}")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The local bare repository for the URL could not be created or opened.
    #[error("cannot open the local repository for {url}")]
    OpenRepository {
        /// The remote URL (credentials removed).
        url: String,
        /// What gix said.
        #[source]
        source: BoxError,
    },
    /// Connecting to the remote or listing its refs failed (server down, bad URL, auth).
    #[error("cannot list the refs of {url}")]
    ListRefs {
        /// The remote URL (credentials removed).
        url: String,
        /// What gix said.
        #[source]
        source: BoxError,
    },
    /// The server refused the credentials, or asked for some and none were given.
    #[error("authentication to {url} failed")]
    Authentication {
        /// The remote URL (credentials removed).
        url: String,
        /// What gix said (it never holds the credentials).
        #[source]
        source: BoxError,
    },
    /// The SSH server's host key is not among the Secret's `known_hosts`.
    #[error("host key verification of {url} failed: {detail}")]
    HostKey {
        /// The remote URL (credentials removed).
        url: String,
        /// What `ssh` said (host and key type; public).
        detail: String,
    },
    /// The private `ssh-agent` holding the Secret's `identity` could not be set up.
    #[error("cannot use the SSH identity for {url}")]
    SshAgent {
        /// The remote URL (credentials removed).
        url: String,
        /// Which step failed (never the key).
        #[source]
        source: SshError,
    },
    /// The semver range does not parse.
    #[error("invalid semver range {range:?}")]
    InvalidSemver {
        /// The range.
        range: String,
        /// What is wrong with it.
        #[source]
        source: super::ConstraintError,
    },
    /// No tag of the remote is a version inside the range.
    #[error("{url} has no tag matching semver range {range:?}")]
    NoMatchingTag {
        /// The remote URL (credentials removed).
        url: String,
        /// The range.
        range: String,
    },
    /// A signature was missing, untrusted or wrong: the revision is not used.
    #[error("signature verification of {revision} from {url} failed")]
    Verification {
        /// The remote URL (credentials removed).
        url: String,
        /// The revision whose commit or tag failed.
        revision: String,
        /// Which object and which keys (boxed: it is the largest cause).
        #[source]
        source: Box<VerifyError>,
    },
    /// The remote has no such branch or tag.
    #[error("{url} has no {reference}")]
    RefNotFound {
        /// The remote URL (credentials removed).
        url: String,
        /// `refs/heads/<branch>` or `refs/tags/<tag>`.
        reference: String,
    },
    /// Receiving the pack failed.
    #[error("cannot fetch {reference} from {url}")]
    Receive {
        /// The remote URL (credentials removed).
        url: String,
        /// The ref being fetched.
        reference: String,
        /// What gix said.
        #[source]
        source: BoxError,
    },
    /// The commit asked for is not in the fetched history.
    #[error("{url} has no commit {commit} reachable from its branches")]
    CommitNotFound {
        /// The remote URL (credentials removed).
        url: String,
        /// The commit.
        commit: String,
    },
    /// Writing the commit's tree out failed.
    #[error("cannot write the tree of {revision} from {url}")]
    Checkout {
        /// The remote URL (credentials removed).
        url: String,
        /// The revision.
        revision: String,
        /// What failed.
        #[source]
        source: BoxError,
    },
    /// The operation did not finish in time and was interrupted.
    #[error("fetching from {url} did not finish within {after:?}")]
    Timeout {
        /// The remote URL (credentials removed).
        url: String,
        /// The budget.
        after: Duration,
    },
    /// The blocking task panicked or was cancelled.
    #[error("the fetch task for {url} ended abnormally")]
    Task {
        /// The remote URL (credentials removed).
        url: String,
    },
}

//! Fetching a Git ref into a local, bounded artifact cache with gix.
//!
//! Every fetch starts with a ref listing (the `ls-remote` part of the protocol
//! handshake), which resolves a branch, a tag or a semver range to a commit. The commit
//! (and the source's ignore rules) name the artifact; when that artifact is already in
//! the cache — which includes "the revision did not change since last time" — no pack is
//! requested at all. Otherwise the ref is fetched shallow (depth 1) into one bare
//! repository per URL, signatures are checked when asked for, and the commit's tree is
//! written out of the object database into `artifacts/<key>/`: a plain directory with no
//! `.git`, no index and no work-tree machinery, minus ignored files (see [`artifact`]'s
//! rules). The N newest artifacts are kept.
//!
//! gix's network client is blocking; all of it runs inside `spawn_blocking`, bounded by a
//! timeout that also interrupts the transfer.

mod artifact;
mod auth;
mod chart;
mod constraint;
mod error;
mod refs;
mod remote;
mod ssh;
mod verify;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use lockstep_api::VerifyMode;
use tracing::{debug, instrument};

pub use auth::{Credentials, CredentialsError, redact_url, scrub_url, url_secrets};
pub use chart::{
    ChartError, ChartRepository, DependencyError, FetchedChart, IndexSummary, OciContent,
};
pub use constraint::{Constraint, ConstraintError, parse_version};
pub use error::FetchError;
pub use refs::{DEFAULT_BRANCH, GitReference};
pub use ssh::SshError;
pub use verify::{GitObject, KeysError, TrustedKeys, VerifyError};

/// Default budget for one Git operation (Flux's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How to fetch, beyond the URL and ref: all optional.
#[derive(Clone, Debug, Default)]
pub struct FetchOptions {
    /// gitignore-style rules leaving files out of the artifact; replaces Flux's default
    /// exclusions (`.sourceignore` files in the repository apply either way).
    pub ignore: Option<String>,
    /// Credentials for an HTTP(S) remote, or the key for an `ssh://` one.
    pub credentials: Option<Credentials>,
    /// PEM certificates to trust for HTTPS besides the system's roots (`ca.crt`).
    pub ca_certificate: Option<Vec<u8>>,
    /// Which signatures must verify, and with which keys.
    pub verify: Option<(VerifyMode, TrustedKeys)>,
}

/// A commit's tree, written out as a plain directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Artifact {
    /// `<ref>@sha1:<hex>` (or `sha1:<hex>` for a commit ref), as Flux writes it.
    pub revision: String,
    /// The commit SHA-1 in hex.
    pub commit: String,
    /// The directory holding the commit's files.
    pub path: PathBuf,
    /// What the commit says of itself; `None` for a chart, or a cached commit whose object
    /// the local repository no longer holds.
    pub about: Option<CommitAbout>,
}

/// The first line of a commit's message, its author's name and when it was authored: what
/// a history of applied revisions shows next to each (never the email address).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommitAbout {
    /// The message's first line.
    pub summary: String,
    /// The author's name.
    pub author: String,
    /// When it was authored (RFC 3339), empty if the commit's date does not parse.
    pub authored_at: String,
}

impl CommitAbout {
    /// Read off `commit`; `None` when its message or author cannot be decoded.
    fn of(commit: &gix::Commit<'_>) -> Option<Self> {
        let message = commit.message().ok()?;
        let author = commit.author().ok()?;
        let authored_at = author
            .time()
            .ok()
            .and_then(|time| jiff::Timestamp::from_second(time.seconds).ok())
            .map(|t| t.to_string())
            .unwrap_or_default();
        Some(Self {
            summary: message.summary().to_string(),
            author: author.name.to_string().trim().to_owned(),
            authored_at,
        })
    }
}

/// The result of [`Fetcher::fetch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The artifact of the resolved revision.
    pub artifact: Artifact,
    /// Whether a pack was fetched; `false` when the artifact was already cached.
    pub transferred: bool,
    /// Whether the local repository is shallow after this fetch (history cut at the
    /// fetched commit). A server speaking protocol v1 over HTTP may ignore the depth.
    pub shallow: bool,
    /// With verification on: what verified, e.g. `commit <hex> signed by SHA256:…`.
    pub verified: Option<String>,
}

/// A boxed error from gix or I/O.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Fetches refs into a bounded local cache. Cheap to clone; clones share the cache,
/// the counter and the lock that serialises work on the cache.
#[derive(Clone, Debug)]
pub struct Fetcher {
    inner: Arc<Inner>,
    timeout: Duration,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    keep: usize,
    transfers: AtomicUsize,
    lock: tokio::sync::Mutex<()>,
}

impl Fetcher {
    /// A fetcher caching under `root`, keeping the `keep` newest artifacts (at least 1).
    pub fn new(root: impl Into<PathBuf>, keep: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                root: root.into(),
                keep: keep.max(1),
                transfers: AtomicUsize::new(0),
                lock: tokio::sync::Mutex::new(()),
            }),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same cache with another per-operation budget.
    pub fn with_timeout(self, timeout: Duration) -> Self {
        Self { timeout, ..self }
    }

    /// How many packs this fetcher has received: a fetch skipped because the revision
    /// was already cached does not count.
    pub fn transfers(&self) -> usize {
        self.inner.transfers.load(Ordering::Relaxed)
    }

    /// [`Self::fetch_with`] default options: a public repository, Flux's default
    /// exclusions, no verification.
    ///
    /// # Errors
    /// As [`Self::fetch_with`].
    pub async fn fetch(&self, url: &str, reference: &GitReference) -> Result<Fetched, FetchError> {
        self.fetch_with(url, reference, &FetchOptions::default())
            .await
    }

    /// Resolves `reference` at `url` and returns its artifact, fetching only when the
    /// resolved commit is not cached yet. With verification on, the signature is checked
    /// on every call, cached or not: an artifact is never returned unverified.
    ///
    /// # Errors
    /// [`FetchError`], naming the URL (without credentials) and the step.
    #[instrument(skip_all, fields(url = %redact_url(url)))]
    pub async fn fetch_with(
        &self,
        url: &str,
        reference: &GitReference,
        options: &FetchOptions,
    ) -> Result<Fetched, FetchError> {
        let _guard = self.inner.lock.lock().await;
        let shown = redact_url(url);
        let interrupt = Arc::new(AtomicBool::new(false));
        let task = {
            let inner = Arc::clone(&self.inner);
            let url = url.to_owned();
            let reference = reference.clone();
            let options = options.clone();
            let interrupt = Arc::clone(&interrupt);
            tokio::task::spawn_blocking(move || {
                fetch_blocking(&inner, &url, &reference, &options, &interrupt)
            })
        };
        match tokio::time::timeout(self.timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(FetchError::Task { url: shown }),
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(FetchError::Timeout {
                    url: shown,
                    after: self.timeout,
                })
            }
        }
    }
}

/// One fetch, blocking: open the URL's repository, resolve the ref over a listing, return
/// the cached artifact when it is there, else receive the pack and check the commit out.
fn fetch_blocking(
    inner: &Inner,
    url: &str,
    reference: &GitReference,
    options: &FetchOptions,
    interrupt: &AtomicBool,
) -> Result<Fetched, FetchError> {
    let shown = redact_url(url);
    let (artifacts, repo_dir) = cache_dirs(&inner.root, url)?;
    let repo = open_or_init(&repo_dir, &shown)?;
    // Lives until the fetch is done: both listings and the pack go through it.
    let agent = ssh::Agent::for_credentials(options.credentials.as_ref(), &shown)?;
    let agent = agent.as_ref();
    check_verify_mode(options, reference, &shown)?;
    let reference = remote::follow(&repo, url, reference, options, agent)?;
    let (refspec, shallow) = remote::refspec(&reference);
    let (prepare, listing) = remote::list(&repo, url, &refspec, options, agent)?;
    let resolved = refs::resolve(&listing, &reference, &shown)?;
    let key = artifact::key(&resolved.commit, options.ignore.as_deref());
    let target = artifacts.join(&key);
    if target.is_dir()
        && let Some(verified) = verify_cached(&repo, &resolved, &reference, options, &shown)?
    {
        debug!(revision = %resolved.revision, "revision already cached, no fetch");
        artifact::touch(&target);
        let about = commit_id(&resolved, &shown)
            .ok()
            .and_then(|id| repo.find_commit(id).ok())
            .and_then(|commit| CommitAbout::of(&commit));
        return Ok(Fetched {
            shallow: repo.is_shallow().unwrap_or(false),
            artifact: into_artifact(resolved, target, about),
            transferred: false,
            verified,
        });
    }

    remote::receive(prepare, shallow, interrupt, &shown, &refspec)?;
    inner.transfers.fetch_add(1, Ordering::Relaxed);
    // Reopen so the new pack and shallow file are seen.
    let repo = gix::open(&repo_dir).map_err(|e| open_err(&shown, e))?;
    let checkout_err = |e: BoxError| FetchError::Checkout {
        url: shown.clone(),
        revision: resolved.revision.clone(),
        source: e,
    };
    let commit = find_commit(&repo, &resolved, &reference, &shown)?;
    let verified = match &options.verify {
        Some(rules) => verify::check(&repo, &resolved, &reference, rules, &shown)?,
        None => None,
    };
    let tree = commit.tree().map_err(|e| checkout_err(e.into()))?;
    let staging = artifacts.join(format!(".tmp-{key}-{}", std::process::id()));
    write_artifact(&tree, &staging, &target, options.ignore.as_deref()).map_err(checkout_err)?;
    artifact::evict(&artifacts, inner.keep, &target);
    let about = CommitAbout::of(&commit);
    Ok(Fetched {
        artifact: into_artifact(resolved, target, about),
        transferred: true,
        shallow: repo.is_shallow().unwrap_or(false),
        verified,
    })
}

/// The cache's artifacts directory and the bare repository of `url`, created if missing.
fn cache_dirs(root: &Path, url: &str) -> Result<(PathBuf, PathBuf), FetchError> {
    let artifacts = root.join("artifacts");
    let repos = root.join("repos");
    for dir in [&artifacts, &repos] {
        std::fs::create_dir_all(dir).map_err(|source| FetchError::Cache {
            path: dir.clone(),
            source,
        })?;
    }
    let repo_dir = repos.join(format!("{:016x}.git", fnv1a(url.as_bytes())));
    Ok((artifacts, repo_dir))
}

/// The bare repository at `dir`, made on first use.
fn open_or_init(dir: &Path, shown: &str) -> Result<gix::Repository, FetchError> {
    if dir.join("HEAD").exists() {
        gix::open(dir).map_err(|e| open_err(shown, e))
    } else {
        gix::init_bare(dir).map_err(|e| open_err(shown, e))
    }
}

/// A tag signature can only be verified on a tag ref: refused before any network work.
fn check_verify_mode(
    options: &FetchOptions,
    reference: &GitReference,
    shown: &str,
) -> Result<(), FetchError> {
    match &options.verify {
        Some((mode, _)) if *mode != VerifyMode::Head && !reference.is_tag() => Err(verify::failed(
            shown,
            "",
            verify::VerifyError::NotATagRef {
                mode: verify::mode_name(*mode),
            },
        )),
        _ => Ok(()),
    }
}

/// For an artifact already cached: `Some` with what verified (`Some(None)` when nothing
/// is asked), or `None` when verifying needs objects an earlier fetch did not leave in
/// the repository (then fetch again).
fn verify_cached(
    repo: &gix::Repository,
    resolved: &refs::Resolved,
    reference: &GitReference,
    options: &FetchOptions,
    shown: &str,
) -> Result<Option<Option<String>>, FetchError> {
    Ok(match &options.verify {
        Some(_) if !verify::has_objects(repo, resolved) => None,
        Some(rules) => Some(verify::check(repo, resolved, reference, rules, shown)?),
        None => Some(None),
    })
}

/// The resolved commit in the repository; a commit ref that the fetch did not bring is
/// [`FetchError::CommitNotFound`].
fn find_commit<'repo>(
    repo: &'repo gix::Repository,
    resolved: &refs::Resolved,
    reference: &GitReference,
    shown: &str,
) -> Result<gix::Commit<'repo>, FetchError> {
    let id = commit_id(resolved, shown)?;
    match repo.find_commit(id) {
        Ok(commit) => Ok(commit),
        Err(_) if matches!(reference, GitReference::Commit(_)) => Err(FetchError::CommitNotFound {
            url: shown.to_owned(),
            commit: resolved.commit.clone(),
        }),
        Err(e) => Err(FetchError::Checkout {
            url: shown.to_owned(),
            revision: resolved.revision.clone(),
            source: e.into(),
        }),
    }
}

/// Writes `tree` into `staging`, then moves it to `target` in one rename.
fn write_artifact(
    tree: &gix::Tree<'_>,
    staging: &Path,
    target: &Path,
    ignore: Option<&str>,
) -> Result<(), BoxError> {
    let _ = std::fs::remove_dir_all(staging);
    artifact::write(tree, staging, ignore)?;
    match std::fs::rename(staging, target) {
        Ok(()) => Ok(()),
        // Someone else wrote the same artifact meanwhile: theirs is as good as ours.
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(staging);
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn commit_id(resolved: &refs::Resolved, url: &str) -> Result<gix::ObjectId, FetchError> {
    gix::ObjectId::from_hex(resolved.commit.as_bytes()).map_err(|_| FetchError::CommitNotFound {
        url: url.to_owned(),
        commit: resolved.commit.clone(),
    })
}

fn into_artifact(resolved: refs::Resolved, path: PathBuf, about: Option<CommitAbout>) -> Artifact {
    Artifact {
        revision: resolved.revision,
        commit: resolved.commit,
        path,
        about,
    }
}

fn open_err(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> FetchError {
    FetchError::OpenRepository {
        url: url.to_owned(),
        source: Box::new(e),
    }
}

/// FNV-1a: a stable, dependency-free name for a URL's cache folder.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

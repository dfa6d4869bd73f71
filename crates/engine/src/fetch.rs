//! Fetching a Git ref into a local, bounded artifact cache with gix.
//!
//! Every fetch starts with a ref listing (the `ls-remote` part of the protocol
//! handshake). The resolved commit names the artifact; when the artifact for that commit is
//! already in the cache — which includes "the revision did not change since last time" —
//! no pack is requested at all. Otherwise the ref is fetched shallow (depth 1) into one
//! bare repository per URL, and the commit's tree is written out of the object database
//! into `artifacts/<sha>/`: a plain directory with no `.git`, no index and no work-tree
//! machinery, which is all the renderer needs and cannot be confused with a checkout a
//! user might edit. Symlinks and submodules in the tree are skipped (a symlink could point
//! outside the artifact). The N newest artifacts are kept.
//!
//! gix's network client is blocking; all of it runs inside `spawn_blocking`, bounded by a
//! timeout that also interrupts the transfer.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tracing::{debug, instrument};

/// Default budget for one Git operation (Flux's default).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What to follow in a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitReference {
    /// A branch (`main`); the revision is `main@sha1:<hex>`.
    Branch(String),
    /// A tag (`v1.0.0`), annotated or lightweight; the revision is `v1.0.0@sha1:<hex>` of
    /// the commit it points at.
    Tag(String),
    /// An exact commit (40 hex digits); the revision is `sha1:<hex>`.
    Commit(String),
}

impl GitReference {
    fn full_name(&self) -> Option<String> {
        match self {
            Self::Branch(b) => Some(format!("refs/heads/{b}")),
            Self::Tag(t) => Some(format!("refs/tags/{t}")),
            Self::Commit(_) => None,
        }
    }

    fn short_name(&self) -> &str {
        match self {
            Self::Branch(n) | Self::Tag(n) | Self::Commit(n) => n,
        }
    }
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
}

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

    /// Resolves `reference` at `url` and returns its artifact, fetching only when the
    /// resolved commit is not cached yet.
    ///
    /// # Errors
    /// [`FetchError`], naming the URL (without credentials) and the step.
    #[instrument(skip_all, fields(url = %redact_url(url)))]
    pub async fn fetch(&self, url: &str, reference: &GitReference) -> Result<Fetched, FetchError> {
        let _guard = self.inner.lock.lock().await;
        let shown = redact_url(url);
        let interrupt = Arc::new(AtomicBool::new(false));
        let task = {
            let inner = Arc::clone(&self.inner);
            let url = url.to_owned();
            let reference = reference.clone();
            let interrupt = Arc::clone(&interrupt);
            tokio::task::spawn_blocking(move || {
                fetch_blocking(&inner, &url, &reference, &interrupt)
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

fn fetch_blocking(
    inner: &Inner,
    url: &str,
    reference: &GitReference,
    interrupt: &AtomicBool,
) -> Result<Fetched, FetchError> {
    let shown = redact_url(url);
    let artifacts = inner.root.join("artifacts");
    let repos = inner.root.join("repos");
    for dir in [&artifacts, &repos] {
        std::fs::create_dir_all(dir).map_err(|source| FetchError::Cache {
            path: dir.clone(),
            source,
        })?;
    }
    let repo_dir = repos.join(format!("{:016x}.git", fnv1a(url.as_bytes())));
    let repo = if repo_dir.join("HEAD").exists() {
        gix::open(&repo_dir).map_err(|e| open_err(&shown, e))?
    } else {
        gix::init_bare(&repo_dir).map_err(|e| open_err(&shown, e))?
    };

    let (refspec, shallow) = match reference.full_name() {
        Some(full) => (format!("+{full}:{full}"), true),
        // A bare commit cannot be asked for by name; take every branch, full depth.
        None => ("+refs/heads/*:refs/remotes/origin/*".to_owned(), false),
    };
    let list_err = |e: BoxError| FetchError::ListRefs {
        url: shown.clone(),
        source: e,
    };
    let remote = repo
        .remote_at(url)
        .map_err(|e| list_err(e.into()))?
        .with_refspecs([refspec.as_str()], gix::remote::Direction::Fetch)
        .map_err(|e| list_err(e.into()))?;
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(|e| list_err(e.into()))?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| list_err(e.into()))?;

    // ls-remote: resolve the revision before asking for any objects.
    let (commit, revision) = match reference {
        GitReference::Commit(hex) => (
            hex.to_ascii_lowercase(),
            format!("sha1:{}", hex.to_ascii_lowercase()),
        ),
        _ => {
            let full = reference.full_name().unwrap_or_default();
            let found = prepare.ref_map().remote_refs.iter().find_map(|r| {
                let (name, target, peeled) = r.unpack();
                (name == full.as_str()).then(|| peeled.or(target).map(|id| id.to_string()))
            });
            let Some(Some(commit)) = found else {
                return Err(FetchError::RefNotFound {
                    url: shown,
                    reference: full,
                });
            };
            let revision = format!("{}@sha1:{commit}", reference.short_name());
            (commit, revision)
        }
    };
    let target = artifacts.join(&commit);
    if target.is_dir() {
        debug!(%revision, "revision already cached, no fetch");
        touch(&target);
        return Ok(Fetched {
            artifact: Artifact {
                revision,
                commit,
                path: target,
            },
            transferred: false,
            shallow: repo.is_shallow().unwrap_or(false),
        });
    }

    let prepare = if shallow {
        prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
    } else {
        prepare
    };
    prepare
        .receive(gix::progress::Discard, interrupt)
        .map_err(|e| FetchError::Receive {
            url: shown.clone(),
            reference: refspec.clone(),
            source: e.into(),
        })?;
    inner.transfers.fetch_add(1, Ordering::Relaxed);
    // Reopen so the new pack and shallow file are seen.
    let repo = gix::open(&repo_dir).map_err(|e| open_err(&shown, e))?;

    let id =
        gix::ObjectId::from_hex(commit.as_bytes()).map_err(|_| FetchError::CommitNotFound {
            url: shown.clone(),
            commit: commit.clone(),
        })?;
    let checkout_err = |e: BoxError| FetchError::Checkout {
        url: shown.clone(),
        revision: revision.clone(),
        source: e,
    };
    let commit_obj = match repo.find_commit(id) {
        Ok(c) => c,
        Err(_) if matches!(reference, GitReference::Commit(_)) => {
            return Err(FetchError::CommitNotFound { url: shown, commit });
        }
        Err(e) => return Err(checkout_err(e.into())),
    };
    let tree = commit_obj.tree().map_err(|e| checkout_err(e.into()))?;
    let staging = artifacts.join(format!(".tmp-{commit}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    write_tree(&tree, &staging).map_err(&checkout_err)?;
    match std::fs::rename(&staging, &target) {
        Ok(()) => {}
        // Someone else wrote the same commit meanwhile: theirs is as good as ours.
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(e) => return Err(checkout_err(e.into())),
    }
    evict(&artifacts, inner.keep, &target);
    Ok(Fetched {
        artifact: Artifact {
            revision,
            commit,
            path: target,
        },
        transferred: true,
        shallow: repo.is_shallow().unwrap_or(false),
    })
}

fn open_err(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> FetchError {
    FetchError::OpenRepository {
        url: url.to_owned(),
        source: Box::new(e),
    }
}

/// Writes blobs of `tree` (recursively) under `dir`; skips symlinks and submodules.
fn write_tree(tree: &gix::Tree<'_>, dir: &Path) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_string();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            continue;
        }
        let path = dir.join(&name);
        let mode = entry.mode();
        if mode.is_tree() {
            let sub = entry.object()?.into_tree();
            write_tree(&sub, &path)?;
        } else if mode.is_blob() {
            let blob = entry.object()?;
            std::fs::write(&path, &blob.data)?;
        }
    }
    Ok(())
}

/// Keeps the `keep` most recently used artifacts (by modification time), never `current`.
fn evict(artifacts: &Path, keep: usize, current: &Path) {
    let Ok(read) = std::fs::read_dir(artifacts) else {
        return;
    };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, path) in dirs.into_iter().skip(keep) {
        if path != current {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Marks an artifact as recently used.
fn touch(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// FNV-1a: a stable, dependency-free name for a URL's cache folder.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The URL with any `user:password@` removed, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(
            redact_url("https://user:s3cret@example.com/org/repo.git"),
            "https://example.com/org/repo.git"
        );
        assert_eq!(
            redact_url("git://127.0.0.1:9418/r.git"),
            "git://127.0.0.1:9418/r.git"
        );
        assert_eq!(redact_url("file:///tmp/a@b/r.git"), "file:///tmp/a@b/r.git");
    }
}

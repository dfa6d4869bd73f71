//! Helm charts from where charts are published: an HTTP repository ([`index`], `index.yaml`
//! and `.tgz` archives) or an OCI registry ([`oci`], `oci://` references, as `helm push`
//! stores them). Either way the chart's archive is checked against the digest its
//! publisher gave and unpacked into `charts/<sha256 of the archive>/<chart>/` of the
//! fetcher's cache, so a version already unpacked is not downloaded again.
//!
//! Archives are unpacked with Helm's limits (100 MiB in all, 5 MiB a file); only regular
//! files are written, and only below the chart's folder. The least recently used unpacked
//! charts beyond the fetcher's `keep`, and at least 256, are removed.

mod index;
mod oci;

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::blocking::Client;

use super::constraint::ConstraintError;
use super::{Artifact, Credentials, Fetcher, artifact, redact_url};
use crate::render::helm::{Dependency, missing_dependencies};

/// The largest chart archive downloaded (Flux's default).
const MAX_CHART_BYTES: usize = 10 << 20;
/// The fewest unpacked charts the cache keeps, whatever the fetcher's `keep` (which counts
/// Git revisions): charts are small, and every release in use needs its own at hand —
/// evicting one that a render is reading would fail that render.
const MIN_CHARTS_KEPT: usize = 256;
/// The most a chart may unpack to, and the most one of its files may (Helm's limits).
const MAX_UNPACKED_BYTES: u64 = 100 << 20;
const MAX_FILE_BYTES: u64 = 5 << 20;

/// A Helm repository (HTTP or OCI) and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct ChartRepository {
    /// The repository URL: the folder holding `index.yaml`, or `oci://<registry>/<path>`,
    /// under which the chart is `<path>/<chart>`.
    pub url: String,
    /// Basic credentials (a bearer token is sent as `Authorization: Bearer`).
    pub credentials: Option<Credentials>,
    /// PEM certificates to trust besides the system's roots.
    pub ca_certificate: Option<Vec<u8>>,
    /// Send the credentials to chart URLs on other hosts too.
    pub pass_credentials: bool,
    /// Budget for the index and the chart together; unset, the fetcher's.
    pub timeout: Option<Duration>,
    /// Reach an `oci://` registry over plain HTTP (Flux's `insecure`, Helm's
    /// `--plain-http`); otherwise HTTPS.
    pub insecure: bool,
}

/// Why a chart could not be had. Messages name the repository URL without credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The repository URL does not parse, or is not HTTP(S).
    #[error("{url} is not an http://, https:// or oci:// Helm repository URL")]
    Url {
        /// The URL, credentials removed.
        url: String,
    },
    /// The CA certificate is not PEM.
    #[error("the repository's ca.crt is not a PEM certificate bundle")]
    CaCertificate,
    /// A request failed (connection, TLS, timeout) or the server answered an error.
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL, credentials removed.
        url: String,
        /// The status or transport error.
        reason: String,
    },
    /// The index is not a Helm repository index.
    #[error("{url} is not a Helm repository index: {reason}")]
    Index {
        /// The index URL.
        url: String,
        /// What is wrong, without content.
        reason: String,
    },
    /// The index has no entry of the chart.
    #[error("chart {chart} is not in the index of {url}")]
    NoChart {
        /// The repository URL.
        url: String,
        /// The chart name.
        chart: String,
    },
    /// The constraint does not parse.
    #[error("chart version {version:?}: {source}")]
    Constraint {
        /// The constraint as written.
        version: String,
        /// Why.
        source: ConstraintError,
    },
    /// No version of the chart satisfies the constraint.
    #[error("no version of chart {chart} in {url} matches {version:?}")]
    NoVersion {
        /// The repository URL.
        url: String,
        /// The chart name.
        chart: String,
        /// The constraint.
        version: String,
    },
    /// The download's SHA-256 is not the one the index or the manifest gives.
    #[error(
        "chart {chart} {version} from {url} has digest sha256:{actual}, its publisher says \
         sha256:{expected}"
    )]
    Digest {
        /// The chart URL.
        url: String,
        /// The chart name.
        chart: String,
        /// The version.
        version: String,
        /// The digest the index or manifest gives.
        expected: String,
        /// The download's.
        actual: String,
    },
    /// What an `oci://` reference names is not a Helm chart (another artifact, or a
    /// manifest Helm would refuse).
    #[error("{reference} is not a Helm chart: {reason}")]
    NotAChart {
        /// The reference, `oci://<registry>/<name>:<tag>` or `@<digest>`.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// What an `oci://` reference names has no layer to extract as files.
    #[error("{reference} cannot be extracted: {reason}")]
    NotContent {
        /// The reference, `oci://<registry>/<name>:<tag>` or `@<digest>`.
        reference: String,
        /// What is wrong.
        reason: String,
    },
    /// The archive is not a gzipped tar of one chart folder, or breaks a limit.
    #[error("chart {chart} {version} is not a valid chart archive: {reason}")]
    Archive {
        /// The chart name.
        chart: String,
        /// The version.
        version: String,
        /// What is wrong.
        reason: String,
    },
    /// The cache could not be written.
    #[error("cannot write the chart cache at {path}: {source}")]
    Cache {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The budget ran out.
    #[error("fetching chart {chart} from {url} did not finish within {after:?}")]
    Timeout {
        /// The repository URL.
        url: String,
        /// The chart name.
        chart: String,
        /// The budget.
        after: Duration,
    },
    /// The blocking task ended abnormally.
    #[error("the chart fetch task for {url} ended abnormally")]
    Task {
        /// The repository URL.
        url: String,
    },
}

/// One chart version, unpacked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedChart {
    /// The artifact: `path` holds the chart folder `<chart>/`; the revision is
    /// `<version>@sha256:<digest>` and `commit` the digest.
    pub artifact: Artifact,
    /// The chart version chosen.
    pub version: String,
    /// Whether the archive was downloaded (false: it was unpacked already).
    pub transferred: bool,
}

/// What is taken from an OCI artifact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OciContent {
    /// A Helm chart (Helm's config, one chart layer), unpacked under its name.
    Chart,
    /// The layer of this media type (unset: the first), unpacked at the artifact's root,
    /// as Flux's OCIRepository extracts it for a Kustomization (`flux push artifact`).
    Files(Option<String>),
    /// A chart when the config is Helm's, else [`OciContent::Files`]: what an
    /// OCIRepository's own status reads, whatever it holds.
    Any(Option<String>),
}

impl Fetcher {
    /// Fetches what `content` asks of the OCI artifact `reference` (`<name>`,
    /// `<name>:<tag>` or `<name>@sha256:<hex>`) names under `repository.url` (`oci://…`),
    /// at the tag `version` selects when it pins none; within the repository's timeout,
    /// else the fetcher's. The revision is `<version>@sha256:<manifest digest>` (a chart's
    /// version, else the tag; `sha256:<digest>` alone for a digest pin of files).
    ///
    /// # Errors
    /// [`ChartError`], naming the repository URL without credentials and the step.
    pub async fn fetch_oci(
        &self,
        repository: &ChartRepository,
        reference: &str,
        version: &str,
        content: OciContent,
    ) -> Result<FetchedChart, ChartError> {
        let (reference, version) = (reference.to_owned(), version.to_owned());
        let what = reference.clone();
        let fetch = move |root: &Path, keep, repository: &ChartRepository, timeout| {
            oci::fetch(
                root, keep, repository, &reference, &version, &content, timeout,
            )
        };
        self.blocking(repository, what, fetch).await
    }

    /// Fetches the version of `chart` that `version` selects (empty: the highest release)
    /// from `repository`, within the repository's timeout, else the fetcher's. From an
    /// `oci://` repository, `chart` may pin a manifest digest (`app@sha256:<hex>`) or a
    /// tag (`app:1.2.3`, as Flux's OCIRepository `ref.tag`), which then wins over
    /// `version`.
    ///
    /// # Errors
    /// [`ChartError`], naming the repository URL without credentials, the chart and the
    /// step.
    pub async fn fetch_chart(
        &self,
        repository: &ChartRepository,
        chart: &str,
        version: &str,
    ) -> Result<FetchedChart, ChartError> {
        if repository.url.starts_with("oci://") {
            return self
                .fetch_oci(repository, chart, version, OciContent::Chart)
                .await;
        }
        let (chart, version) = (chart.to_owned(), version.to_owned());
        let what = chart.clone();
        let fetch = move |root: &Path, keep, repository: &ChartRepository, timeout| {
            index::fetch(root, keep, repository, &chart, &version, timeout)
        };
        self.blocking(repository, what, fetch).await
    }
}

impl Fetcher {
    /// Runs `fetch` (given the cache root, how many artifacts to keep, `repository` and
    /// its budget) on the blocking pool within the repository's timeout, else the
    /// fetcher's; the URL (without credentials) and `what` name it when it does not finish.
    async fn blocking<T, F>(
        &self,
        repository: &ChartRepository,
        what: String,
        fetch: F,
    ) -> Result<T, ChartError>
    where
        T: Send + 'static,
        F: FnOnce(&Path, usize, &ChartRepository, Duration) -> Result<T, ChartError>
            + Send
            + 'static,
    {
        let shown = redact_url(&repository.url);
        let timeout = repository.timeout.unwrap_or(self.timeout);
        let (inner, repository) = (Arc::clone(&self.inner), repository.clone());
        let task = tokio::task::spawn_blocking(move || {
            fetch(&inner.root, inner.keep, &repository, timeout)
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ChartError::Task { url: shown }),
            Err(_) => Err(ChartError::Timeout {
                url: shown,
                chart: what,
                after: timeout,
            }),
        }
    }
}

/// A dependency of a chart that could not be fetched, named as `Chart.yaml` names it.
#[derive(Debug, thiserror::Error)]
#[error("the dependency {name} {version} of Chart.yaml: {source}")]
pub struct DependencyError {
    /// The dependency's name.
    pub name: String,
    /// Its version constraint.
    pub version: String,
    /// Why it could not be fetched.
    pub source: ChartError,
}

impl Fetcher {
    /// Fetches, as `helm dependency build` would, the dependencies of the chart folder
    /// `chart` of the source at `root` that its `charts/` lacks and a Helm repository or OCI
    /// registry serves ([`missing_dependencies`]), anonymously ([`Self::fetch_missing`]).
    ///
    /// # Errors
    /// [`DependencyError`] for the first dependency that could not be fetched.
    pub async fn fetch_dependencies(
        &self,
        root: &Path,
        chart: &str,
    ) -> Result<Vec<PathBuf>, DependencyError> {
        let (root, chart) = (root.to_path_buf(), chart.to_owned());
        let missing = tokio::task::spawn_blocking(move || missing_dependencies(&root, &chart))
            .await
            .unwrap_or_default();
        self.fetch_missing(missing, &[]).await
    }

    /// Fetches the `missing` dependencies of a chart; their unpacked folders, for
    /// [`crate::render::helm::Chart::dependencies`]. One whose repository is one of `known`
    /// (the same URL, a trailing `/` aside) is read with its credentials, CA and settings,
    /// as Flux reads a matching `HelmRepository`'s; the others anonymously.
    ///
    /// # Errors
    /// [`DependencyError`] for the first dependency that could not be fetched.
    pub async fn fetch_missing(
        &self,
        missing: Vec<Dependency>,
        known: &[ChartRepository],
    ) -> Result<Vec<PathBuf>, DependencyError> {
        let mut folders = Vec::with_capacity(missing.len());
        for dependency in missing {
            let same = |r: &&ChartRepository| {
                r.url.trim_end_matches('/') == dependency.repository.trim_end_matches('/')
            };
            let repository = known.iter().find(same).cloned().unwrap_or(ChartRepository {
                url: dependency.repository,
                ..ChartRepository::default()
            });
            let fetched = self
                .fetch_chart(&repository, &dependency.name, &dependency.version)
                .await
                .map_err(|source| DependencyError {
                    name: dependency.name.clone(),
                    version: dependency.version,
                    source,
                })?;
            folders.push(fetched.artifact.path.join(&dependency.name));
        }
        Ok(folders)
    }
}

/// What a repository's index holds, as Flux's HelmRepository reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexSummary {
    /// The SHA-256 of `index.yaml`, in hex: the repository's revision.
    pub digest: String,
    /// How many charts it lists.
    pub charts: usize,
}

impl Fetcher {
    /// Reads `repository`'s `index.yaml` (a HelmRepository's own reconcile), within the
    /// repository's timeout, else the fetcher's.
    ///
    /// # Errors
    /// [`ChartError`], naming the URL without credentials and the step.
    pub async fn fetch_index(
        &self,
        repository: &ChartRepository,
    ) -> Result<IndexSummary, ChartError> {
        let fetch = |_: &Path, _, repository: &ChartRepository, timeout| {
            index::summary(repository, timeout)
        };
        self.blocking(repository, "index.yaml".into(), fetch).await
    }
}

fn fetched(path: PathBuf, version: &str, digest: &str, transferred: bool) -> FetchedChart {
    let revision = match version {
        "" => format!("sha256:{digest}"),
        version => format!("{version}@sha256:{digest}"),
    };
    FetchedChart {
        artifact: Artifact {
            revision,
            commit: digest.to_owned(),
            path,
            about: None,
        },
        version: version.to_owned(),
        transferred,
    }
}

/// The cache's folder of unpacked charts under the fetcher's `root`, made if missing.
fn charts_dir(root: &Path) -> Result<PathBuf, ChartError> {
    let charts = root.join("charts");
    std::fs::create_dir_all(&charts).map_err(|source| ChartError::Cache {
        path: charts.clone(),
        source,
    })?;
    Ok(charts)
}

/// The unpacked chart of the archive with SHA-256 `digest`, if its folder is there
/// (marked used, so eviction spares it).
fn cached(charts: &Path, digest: &str, chart: &str) -> Option<PathBuf> {
    let dir = charts.join(digest);
    let found = dir.join(chart).join("Chart.yaml").is_file();
    found.then(|| {
        artifact::touch(&dir);
        dir
    })
}

/// How an archive is laid out, and so unpacked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    /// `helm package` output: one top folder holding `Chart.yaml`, unpacked as the
    /// chart's own folder.
    Chart,
    /// Files at the root (`flux push artifact`), unpacked as they are.
    Root,
}

/// Unpacks `archive` (whose SHA-256 is `digest`, checked by the caller) into
/// `charts/<digest>/<chart>/` (a [`Layout::Root`] archive: into `charts/<digest>/` itself)
/// through a staging folder, so a reader never sees half of it, and evicts the least
/// recently used beyond `keep`; the `charts/<digest>` folder.
fn store(
    charts: &Path,
    keep: usize,
    archive: &[u8],
    (digest, layout): (&str, Layout),
    chart: &str,
    version: &str,
) -> Result<PathBuf, ChartError> {
    let target = charts.join(digest);
    let staging = charts.join(format!(".tmp-{digest}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let into = match layout {
        Layout::Chart => staging.join(chart),
        Layout::Root => staging.clone(),
    };
    unpack(archive, &into, layout).map_err(|reason| {
        let _ = std::fs::remove_dir_all(&staging);
        ChartError::Archive {
            chart: chart.to_owned(),
            version: version.to_owned(),
            reason,
        }
    })?;
    match std::fs::rename(&staging, &target) {
        Ok(()) => {}
        Err(_) if target.is_dir() => {
            let _ = std::fs::remove_dir_all(&staging);
        }
        Err(source) => {
            return Err(ChartError::Cache {
                path: target,
                source,
            });
        }
    }
    artifact::evict(charts, keep.max(MIN_CHARTS_KEPT), &target);
    Ok(target)
}

fn client(repository: &ChartRepository, timeout: Duration) -> Result<Client, ChartError> {
    let mut builder = Client::builder().timeout(timeout);
    if let Some(pem) = &repository.ca_certificate {
        let roots =
            reqwest::Certificate::from_pem_bundle(pem).map_err(|_| ChartError::CaCertificate)?;
        builder = roots
            .into_iter()
            .fold(builder, |b, cert| b.add_root_certificate(cert));
    }
    builder.build().map_err(|e| ChartError::Http {
        url: redact_url(&repository.url),
        reason: first_line(&e.to_string()),
    })
}

/// A transport error's causes, joined, without the URL reqwest puts in its own message.
fn transport(err: &reqwest::Error) -> String {
    let mut reasons = Vec::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reasons.push(cause.to_string());
        source = cause.source();
    }
    if err.is_timeout() {
        reasons.insert(0, "timed out".into());
    }
    if reasons.is_empty() {
        reasons.push("request failed".into());
    }
    first_line(&reasons.join(": "))
}

/// Unpacks a gzipped archive into `dir`: for a chart, the archive's top folder (the
/// chart's name in `helm package` output) becomes `dir`; only regular files and folders,
/// only inside it, within Helm's size limits.
fn unpack(archive: &[u8], dir: &Path, layout: Layout) -> Result<(), String> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut total = 0u64;
    let mut files = 0usize;
    let entries = tar.entries().map_err(|e| e.to_string())?;
    for entry in entries {
        let mut entry = entry.map_err(|e| e.to_string())?;
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            continue;
        }
        let path = entry.path().map_err(|e| e.to_string())?.into_owned();
        let mut parts = path.components();
        let inside = match layout {
            Layout::Chart => match parts.next() {
                Some(Component::Normal(_)) => parts.as_path().to_path_buf(),
                _ => return Err(format!("{} is outside the chart folder", path.display())),
            },
            // `./a.yaml` is `a.yaml`; the root itself is no file.
            Layout::Root => path.strip_prefix(".").unwrap_or(&path).to_path_buf(),
        };
        if inside.as_os_str().is_empty() && layout == Layout::Root {
            continue;
        }
        if inside
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(format!("{} is outside the chart folder", path.display()));
        }
        let out = dir.join(&inside);
        if kind.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
            continue;
        }
        let size = entry.header().size().map_err(|e| e.to_string())?;
        total += size;
        if size > MAX_FILE_BYTES || total > MAX_UNPACKED_BYTES {
            return Err(format!(
                "{} makes it larger than Helm's limits (5 MiB a file, 100 MiB in all)",
                path.display()
            ));
        }
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| e.to_string())?;
        std::fs::write(&out, data).map_err(|e| e.to_string())?;
        files += 1;
    }
    if layout == Layout::Chart && (files == 0 || !dir.join("Chart.yaml").is_file()) {
        return Err("it holds no Chart.yaml in its top folder".into());
    }
    if files == 0 {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, data) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`: write the name bytes as a hostile archive would.
            header.as_gnu_mut().unwrap().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, *data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    /// Files at the root (`flux push artifact`) are unpacked as they are, `./` or not, and
    /// never outside.
    #[test]
    fn unpacks_files_at_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let files = archive(&[
            ("./app/cm.yaml", b"kind: ConfigMap\n"),
            ("top.yaml", b"a\n"),
        ]);
        unpack(&files, &dir.path().join("ok"), Layout::Root).unwrap();
        assert!(dir.path().join("ok/app/cm.yaml").is_file());
        assert!(dir.path().join("ok/top.yaml").is_file());
        let escape = archive(&[("a.yaml", b"x"), ("../evil", b"x")]);
        let err = unpack(&escape, &dir.path().join("bad"), Layout::Root).unwrap_err();
        assert!(err.contains("outside"), "{err}");
        assert!(!dir.path().join("evil").exists());
    }

    #[test]
    fn unpacks_only_inside_the_chart_folder() {
        let dir = tempfile::tempdir().unwrap();
        let good = archive(&[
            ("app/Chart.yaml", b"name: app\n"),
            ("app/templates/cm.yaml", b"kind: ConfigMap\n"),
        ]);
        unpack(&good, &dir.path().join("ok"), Layout::Chart).unwrap();
        assert!(dir.path().join("ok/templates/cm.yaml").is_file());

        let escape = archive(&[("app/Chart.yaml", b"x"), ("app/../../evil", b"x")]);
        let err = unpack(&escape, &dir.path().join("bad"), Layout::Chart).unwrap_err();
        assert!(err.contains("outside the chart folder"), "{err}");
        assert!(!dir.path().join("evil").exists());

        let empty = archive(&[("app/values.yaml", b"a: 1\n")]);
        assert!(
            unpack(&empty, &dir.path().join("none"), Layout::Chart)
                .unwrap_err()
                .contains("Chart.yaml")
        );
    }
}

//! Charts from a Helm HTTP repository, as `helm pull` and Flux's source-controller get
//! them: the repository's `index.yaml` is read, the chart's version chosen (an exact
//! version string first, else the highest inside the constraint, [`Constraint`]), its
//! `.tgz` downloaded from the entry's first URL (relative URLs resolved against the
//! repository's), checked against the index's SHA-256 digest and unpacked into
//! `charts/<digest>/<chart>/` of the fetcher's cache. A version already unpacked is not
//! downloaded again: after the first reconcile only the index is read.
//!
//! Credentials go only to the repository's own scheme, host and port unless
//! `pass_credentials` is set (Flux's `passCredentials`), so a chart hosted elsewhere never
//! sees them. Archives are unpacked with Helm's limits (100 MiB in all, 5 MiB a file);
//! only regular files are written, and only below the chart's folder. The least recently
//! used unpacked charts beyond the fetcher's `keep`, and at least 256, are removed.

use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::Client;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::constraint::{Constraint, ConstraintError, parse_version};
use super::{Artifact, Credentials, Fetcher, artifact, redact_url};
use crate::render::helm::missing_dependencies;

/// The largest `index.yaml` read (Flux's default).
const MAX_INDEX_BYTES: usize = 50 << 20;
/// The largest chart archive downloaded (Flux's default).
const MAX_CHART_BYTES: usize = 10 << 20;
/// The fewest unpacked charts the cache keeps, whatever the fetcher's `keep` (which counts
/// Git revisions): charts are small, and every release in use needs its own at hand —
/// evicting one that a render is reading would fail that render.
const MIN_CHARTS_KEPT: usize = 256;
/// The most a chart may unpack to, and the most one of its files may (Helm's limits).
const MAX_UNPACKED_BYTES: u64 = 100 << 20;
const MAX_FILE_BYTES: u64 = 5 << 20;

/// A Helm HTTP repository and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct ChartRepository {
    /// The repository URL, the folder holding `index.yaml`.
    pub url: String,
    /// Basic credentials (a bearer token is sent as `Authorization: Bearer`).
    pub credentials: Option<Credentials>,
    /// PEM certificates to trust besides the system's roots.
    pub ca_certificate: Option<Vec<u8>>,
    /// Send the credentials to chart URLs on other hosts too.
    pub pass_credentials: bool,
    /// Budget for the index and the chart together; unset, the fetcher's.
    pub timeout: Option<Duration>,
}

/// Why a chart could not be had. Messages name the repository URL without credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChartError {
    /// The repository URL does not parse, or is not HTTP(S).
    #[error("{url} is not an http:// or https:// Helm repository URL")]
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
    /// The download's SHA-256 is not the index's.
    #[error(
        "chart {chart} {version} from {url} has digest sha256:{actual}, the index says \
         sha256:{expected}"
    )]
    Digest {
        /// The chart URL.
        url: String,
        /// The chart name.
        chart: String,
        /// The version.
        version: String,
        /// The index's digest.
        expected: String,
        /// The download's.
        actual: String,
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

#[derive(Deserialize)]
struct Index {
    #[serde(default, rename = "apiVersion")]
    api_version: Option<String>,
    #[serde(default)]
    entries: std::collections::BTreeMap<String, Vec<Entry>>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

impl Fetcher {
    /// Fetches the version of `chart` that `version` selects (empty: the highest release)
    /// from `repository`, within the repository's timeout, else the fetcher's.
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
        let shown = redact_url(&repository.url);
        let timeout = repository.timeout.unwrap_or(self.timeout);
        let task = {
            let inner = Arc::clone(&self.inner);
            let (repository, chart, version) =
                (repository.clone(), chart.to_owned(), version.to_owned());
            tokio::task::spawn_blocking(move || {
                fetch_chart_blocking(
                    &inner.root,
                    inner.keep,
                    &repository,
                    &chart,
                    &version,
                    timeout,
                )
            })
        };
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ChartError::Task { url: shown }),
            Err(_) => Err(ChartError::Timeout {
                url: shown,
                chart: chart.to_owned(),
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
    /// `chart` of the source at `root` that its `charts/` lacks and an HTTP(S) repository
    /// serves ([`missing_dependencies`]); their unpacked folders, for
    /// [`crate::render::helm::Chart::dependencies`].
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
        let mut folders = Vec::with_capacity(missing.len());
        for dependency in missing {
            let repository = ChartRepository {
                url: dependency.repository,
                ..ChartRepository::default()
            };
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
        let shown = redact_url(&repository.url);
        let timeout = repository.timeout.unwrap_or(self.timeout);
        let repository = repository.clone();
        let task = tokio::task::spawn_blocking(move || {
            read_index(&repository, timeout).map(|(index, digest, _, _)| IndexSummary {
                digest,
                charts: index.entries.len(),
            })
        });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ChartError::Task { url: shown }),
            Err(_) => Err(ChartError::Timeout {
                url: shown,
                chart: "index.yaml".into(),
                after: timeout,
            }),
        }
    }
}

fn fetch_chart_blocking(
    root: &Path,
    keep: usize,
    repository: &ChartRepository,
    chart: &str,
    version: &str,
    timeout: Duration,
) -> Result<FetchedChart, ChartError> {
    let shown = redact_url(&repository.url);
    let (index, _, client, base) = read_index(repository, timeout)?;
    let entries = index
        .entries
        .get(chart)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| ChartError::NoChart {
            url: shown.clone(),
            chart: chart.to_owned(),
        })?;
    let entry = choose(entries, version).map_err(|err| match err {
        Some(source) => ChartError::Constraint {
            version: version.to_owned(),
            source,
        },
        None => ChartError::NoVersion {
            url: shown.clone(),
            chart: chart.to_owned(),
            version: version.to_owned(),
        },
    })?;
    let archive_err = |reason: String| ChartError::Archive {
        chart: chart.to_owned(),
        version: entry.version.clone(),
        reason,
    };
    let charts = root.join("charts");
    std::fs::create_dir_all(&charts).map_err(|source| ChartError::Cache {
        path: charts.clone(),
        source,
    })?;
    let expected = entry.digest.as_deref().map(str::to_ascii_lowercase);
    if let Some(digest) = &expected
        && let Some(found) = cached(&charts, digest, chart)
    {
        artifact::touch(&found);
        return Ok(fetched(found, &entry.version, digest, false));
    }
    let chart_url = entry
        .urls
        .first()
        .and_then(|u| base.join(u).ok())
        .ok_or_else(|| archive_err("its index entry has no usable URL".into()))?;
    let archive = get(&client, &chart_url, repository, &base, MAX_CHART_BYTES)?;
    let actual = hex(&Sha256::digest(&archive[..]));
    if let Some(expected) = &expected
        && *expected != actual
    {
        return Err(ChartError::Digest {
            url: redact_url(chart_url.as_str()),
            chart: chart.to_owned(),
            version: entry.version.clone(),
            expected: expected.clone(),
            actual,
        });
    }
    let target = charts.join(&actual);
    let staging = charts.join(format!(".tmp-{actual}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    unpack(&archive, &staging.join(chart)).map_err(|reason| {
        let _ = std::fs::remove_dir_all(&staging);
        archive_err(reason)
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
    artifact::evict(&charts, keep.max(MIN_CHARTS_KEPT), &target);
    Ok(fetched(target, &entry.version, &actual, true))
}

/// Reads the repository's `index.yaml`: the parsed index, the SHA-256 of its bytes, and
/// the client and base URL that read it.
fn read_index(
    repository: &ChartRepository,
    timeout: Duration,
) -> Result<(Index, String, Client, Url), ChartError> {
    let shown = redact_url(&repository.url);
    let base = base_url(&repository.url).ok_or_else(|| ChartError::Url { url: shown.clone() })?;
    let client = client(repository, timeout)?;
    let index_url = base
        .join("index.yaml")
        .map_err(|_| ChartError::Url { url: shown.clone() })?;
    let body = get(&client, &index_url, repository, &base, MAX_INDEX_BYTES)?;
    let index_err = |reason: String| ChartError::Index {
        url: redact_url(index_url.as_str()),
        reason,
    };
    let text = std::str::from_utf8(&body).map_err(|_| index_err("not UTF-8".into()))?;
    let index: Index = serde_saphyr::from_str_with_options(text, lockstep_limits::yaml_options())
        .map_err(|e| index_err(first_line(&e.to_string())))?;
    if index.api_version.is_none() {
        return Err(index_err("no apiVersion".into()));
    }
    Ok((index, hex(&Sha256::digest(&body)), client, base))
}

fn fetched(path: PathBuf, version: &str, digest: &str, transferred: bool) -> FetchedChart {
    FetchedChart {
        artifact: Artifact {
            revision: format!("{version}@sha256:{digest}"),
            commit: digest.to_owned(),
            path,
        },
        version: version.to_owned(),
        transferred,
    }
}

/// The unpacked chart of `digest`, if its folder is there.
fn cached(charts: &Path, digest: &str, chart: &str) -> Option<PathBuf> {
    let dir = charts.join(digest);
    dir.join(chart).join("Chart.yaml").is_file().then_some(dir)
}

/// The entry `version` selects, as Helm does: the entry whose version is exactly the
/// text, else the highest inside the constraint (`*` when empty). `Err(Some)` when the
/// constraint does not parse, `Err(None)` when nothing matches.
fn choose<'a>(entries: &'a [Entry], version: &str) -> Result<&'a Entry, Option<ConstraintError>> {
    if let Some(exact) = entries
        .iter()
        .find(|e| !version.is_empty() && e.version == version)
    {
        return Ok(exact);
    }
    let constraint =
        Constraint::parse(if version.is_empty() { "*" } else { version }).map_err(Some)?;
    let parsed = entries
        .iter()
        .filter_map(|e| Some((e, parse_version(&e.version)?)))
        .collect::<Vec<_>>();
    constraint
        .highest(parsed.iter().map(|(e, v)| (*e, v)))
        .ok_or(None)
}

/// The repository URL as a folder (ending in `/`), so `index.yaml` and relative chart
/// URLs resolve inside it.
fn base_url(url: &str) -> Option<Url> {
    let mut base = Url::parse(url).ok()?;
    if !matches!(base.scheme(), "http" | "https") {
        return None;
    }
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Some(base)
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

/// GETs `url` (at most `limit` bytes), with the credentials when it is on the
/// repository's own origin or `pass_credentials` is set.
fn get(
    client: &Client,
    url: &Url,
    repository: &ChartRepository,
    base: &Url,
    limit: usize,
) -> Result<Vec<u8>, ChartError> {
    let shown = redact_url(url.as_str());
    let http_err = |reason: String| ChartError::Http {
        url: shown.clone(),
        reason,
    };
    let mut clean = url.clone();
    let _ = clean.set_username("");
    let _ = clean.set_password(None);
    let mut request = client.get(clean);
    let same_origin = url.origin() == base.origin();
    match repository
        .credentials
        .as_ref()
        .filter(|_| same_origin || repository.pass_credentials)
    {
        Some(Credentials::Basic { username, password }) => {
            request = request.basic_auth(username, Some(password.expose_secret()));
        }
        Some(Credentials::Bearer(token)) => {
            request = request.bearer_auth(token.expose_secret());
        }
        _ if same_origin && !base.username().is_empty() => {
            request = request.basic_auth(base.username(), base.password());
        }
        _ => {}
    }
    let response = request.send().map_err(|e| http_err(transport(&e)))?;
    let status = response.status();
    if !status.is_success() {
        return Err(http_err(status.to_string()));
    }
    let body = lockstep_limits::read_bounded(response.take(limit as u64 + 1), limit)
        .map_err(|e| http_err(e.to_string()))?;
    Ok(body.to_vec())
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

/// Unpacks a gzipped chart archive into `dir`: the archive's top folder (the chart's name
/// in `helm package` output) becomes `dir`; only regular files and folders, only inside
/// it, within Helm's size limits.
fn unpack(archive: &[u8], dir: &Path) -> Result<(), String> {
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
        let inside = match parts.next() {
            Some(Component::Normal(_)) => parts.as_path().to_path_buf(),
            _ => return Err(format!("{} is outside the chart folder", path.display())),
        };
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
    if files == 0 || !dir.join("Chart.yaml").is_file() {
        return Err("it holds no Chart.yaml in its top folder".into());
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

    fn entry(version: &str) -> Entry {
        Entry {
            version: version.to_owned(),
            urls: vec![format!("app-{version}.tgz")],
            digest: None,
        }
    }

    #[test]
    fn chooses_as_helm_does() {
        let entries = ["1.10.0", "1.2.0", "2.0.0-rc.1", "1.2.7", "weird"].map(entry);
        let pick = |v: &str| choose(&entries, v).map(|e| e.version.as_str());
        assert_eq!(pick(""), Ok("1.10.0"));
        assert_eq!(pick("1.2"), Ok("1.2.7"));
        assert_eq!(pick("1.2.0"), Ok("1.2.0"));
        assert_eq!(pick("weird"), Ok("weird"));
        assert_eq!(pick(">=2.0.0-0"), Ok("2.0.0-rc.1"));
        assert!(matches!(pick(">=3"), Err(None)));
        assert!(matches!(pick("one"), Err(Some(_))));
    }

    #[test]
    fn relative_urls_resolve_inside_the_repository() {
        let base = base_url("https://user:pw@charts.example/team").unwrap();
        assert_eq!(base.join("index.yaml").unwrap().path(), "/team/index.yaml");
        assert_eq!(
            base.join("app-1.0.0.tgz").unwrap().path(),
            "/team/app-1.0.0.tgz"
        );
        assert_eq!(
            base.join("/other/app.tgz").unwrap().path(),
            "/other/app.tgz"
        );
        assert!(base_url("oci://registry.example/charts").is_none());
    }

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

    #[test]
    fn unpacks_only_inside_the_chart_folder() {
        let dir = tempfile::tempdir().unwrap();
        let good = archive(&[
            ("app/Chart.yaml", b"name: app\n"),
            ("app/templates/cm.yaml", b"kind: ConfigMap\n"),
        ]);
        unpack(&good, &dir.path().join("ok")).unwrap();
        assert!(dir.path().join("ok/templates/cm.yaml").is_file());

        let escape = archive(&[("app/Chart.yaml", b"x"), ("app/../../evil", b"x")]);
        let err = unpack(&escape, &dir.path().join("bad")).unwrap_err();
        assert!(err.contains("outside the chart folder"), "{err}");
        assert!(!dir.path().join("evil").exists());

        let empty = archive(&[("app/values.yaml", b"a: 1\n")]);
        assert!(
            unpack(&empty, &dir.path().join("none"))
                .unwrap_err()
                .contains("Chart.yaml")
        );
    }
}

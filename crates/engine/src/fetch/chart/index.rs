//! Charts from a Helm HTTP repository, as `helm pull` and Flux's source-controller get
//! them: the repository's `index.yaml` is read, the chart's version chosen (an exact
//! version string first, else the highest inside the constraint, [`Constraint`]), its
//! `.tgz` downloaded from the entry's first URL (relative URLs resolved against the
//! repository's) and checked against the index's SHA-256 digest. A version already
//! unpacked is not downloaded again: after the first reconcile only the index is read.
//!
//! Credentials go only to the repository's own scheme, host and port unless
//! `pass_credentials` is set (Flux's `passCredentials`), so a chart hosted elsewhere never
//! sees them.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::Client;
use secrecy::ExposeSecret;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{
    ChartError, ChartRepository, FetchedChart, IndexSummary, MAX_CHART_BYTES, client, first_line,
    hex, transport,
};
use crate::fetch::constraint::{Constraint, ConstraintError, parse_version};
use crate::fetch::{Credentials, redact_url};

/// The largest `index.yaml` read (Flux's default).
const MAX_INDEX_BYTES: usize = 50 << 20;

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

pub(super) fn fetch(
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
    let charts = super::charts_dir(root)?;
    let expected = entry.digest.as_deref().map(str::to_ascii_lowercase);
    if let Some(digest) = &expected
        && let Some(found) = super::cached(&charts, digest, chart)
    {
        return Ok(super::fetched(found, &entry.version, digest, false));
    }
    let chart_url = entry
        .urls
        .first()
        .and_then(|u| base.join(u).ok())
        .ok_or_else(|| ChartError::Archive {
            chart: chart.to_owned(),
            version: entry.version.clone(),
            reason: "its index entry has no usable URL".into(),
        })?;
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
    let target = super::store(
        &charts,
        keep,
        &archive,
        (&actual, super::Layout::Chart),
        chart,
        &entry.version,
    )?;
    Ok(super::fetched(target, &entry.version, &actual, true))
}

/// What the repository's `index.yaml` holds.
pub(super) fn summary(
    repository: &ChartRepository,
    timeout: Duration,
) -> Result<IndexSummary, ChartError> {
    let (index, digest, _, _) = read_index(repository, timeout)?;
    Ok(IndexSummary {
        digest,
        charts: index.entries.len(),
    })
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
pub(super) fn base_url(url: &str) -> Option<Url> {
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
}

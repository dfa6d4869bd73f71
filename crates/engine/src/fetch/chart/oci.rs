//! Charts from an OCI registry, as `helm pull oci://…` and Flux's source-controller get
//! them, through the OCI distribution API: the repository `<path>/<chart>`'s tags are
//! listed and the version chosen as from an index (Helm writes a version's `+` as `_` in
//! the tag), or a manifest digest pins it; the manifest is read and must be a Helm chart's
//! (Helm's config media type, one chart layer); the layer is downloaded, checked against
//! the manifest's SHA-256 digest and unpacked like an archive from an index. The revision
//! is `<version>@<manifest digest>`, the digest `helm push` prints and a pin names.
//!
//! Any other artifact (`flux push artifact`'s, for a Flux Kustomization) is read the same
//! way up to the manifest; then one layer — the first, or the first of the media type a
//! `layerSelector` names — must be a gzipped tar, checked against its digest and unpacked
//! at the artifact's root, as Flux's OCIRepository extracts it. Its revision is
//! `<tag>@<manifest digest>`.
//!
//! Authentication follows the registry's challenge, as Docker clients do: anonymous first;
//! on `401` with `WWW-Authenticate: Basic`, the credentials; with `Bearer realm=…`, a pull
//! token for the repository from the realm, asked with the credentials when there are
//! some. Credentials go only to the registry and the realm it names; a redirected blob
//! download (to a storage bucket) carries none.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use reqwest::Url;
use reqwest::blocking::{Client, RequestBuilder};
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, LINK, WWW_AUTHENTICATE};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{
    ChartError, ChartRepository, FetchedChart, Layout, MAX_CHART_BYTES, MAX_UNPACKED_BYTES,
    OciContent, cached, charts_dir, client, fetched, first_line, hex, store, transport,
};
use crate::fetch::Credentials;
use crate::fetch::constraint::{Constraint, parse_version};

const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// The config media type `helm push` writes; Helm refuses another.
const CONFIG_MEDIA_TYPE: &str = "application/vnd.cncf.helm.config.v1+json";
/// The chart layer's media type, and the legacy one Helm still reads.
const CHART_MEDIA_TYPES: [&str; 2] = [
    "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    "application/tar+gzip",
];
/// The manifest annotation `helm push` writes the chart version into.
const VERSION_ANNOTATION: &str = "org.opencontainers.image.version";
const MAX_MANIFEST_BYTES: usize = 4 << 20;
const MAX_SMALL_BYTES: usize = 1 << 20;
/// The most pages of tags listed (a thousand tags each).
const MAX_TAG_PAGES: usize = 100;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Manifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
    #[serde(default)]
    annotations: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Descriptor {
    #[serde(default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
}

#[derive(Deserialize)]
struct Tags {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ChartConfig {
    #[serde(default)]
    version: String,
}

/// Fetches what `content` asks of `chart` (`<name>`, `<name>:<tag>` or
/// `<name>@sha256:<hex>`) at the version `version` selects from the registry repository
/// `repository.url` names.
pub(super) fn fetch(
    root: &Path,
    keep: usize,
    repository: &ChartRepository,
    chart: &str,
    version: &str,
    content: &OciContent,
    timeout: Duration,
) -> Result<FetchedChart, ChartError> {
    let (name, pinned) = match chart.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (chart, None),
    };
    let (name, tag) = match name.split_once(':') {
        Some((name, tag)) => (name, Some(tag)),
        None => (name, None),
    };
    let mut registry = Registry::new(repository, name, timeout)?;
    let reference = match (pinned, tag) {
        (Some(digest), _) => {
            sha256_hex(digest).ok_or_else(|| {
                registry.not_a_chart(
                    &format!("@{digest}"),
                    "a pinned digest is sha256:<64 hex digits>",
                )
            })?;
            digest.to_owned()
        }
        (None, Some(tag)) => {
            // The distribution spec's tag grammar, so a tag never reaches a URL as a path.
            let valid = tag.len() <= 128
                && tag.bytes().enumerate().all(|(i, b)| {
                    b.is_ascii_alphanumeric() || b == b'_' || (i > 0 && b".-".contains(&b))
                });
            if !valid {
                return Err(registry.not_a_chart(
                    &format!(":{tag}"),
                    "a tag is up to 128 letters, digits, '_', '.' and '-', not starting with \
                     '.' or '-'",
                ));
            }
            tag.to_owned()
        }
        (None, None) => registry.choose_tag(version)?,
    };
    let shown = registry.shown(&reference);
    let (manifest, digest) = registry.manifest(&reference)?;
    if let Some(pinned) = pinned
        && pinned != digest
    {
        return Err(registry.digest_error(version, pinned, &digest));
    }
    let files = match content {
        OciContent::Chart => None,
        OciContent::Files(media_type) => Some(media_type),
        OciContent::Any(media_type) => {
            (manifest.config.media_type != CONFIG_MEDIA_TYPE).then_some(media_type)
        }
    };
    if let Some(media_type) = files {
        let tag = if pinned.is_some() { "" } else { &reference };
        let media_type = media_type.as_deref();
        return registry.files(root, keep, &manifest, (&digest, tag), media_type);
    }
    if manifest.config.media_type != CONFIG_MEDIA_TYPE {
        return Err(registry.not_a_chart(
            &shown,
            &format!(
                "its config is {:?}, not Helm's {CONFIG_MEDIA_TYPE}",
                manifest.config.media_type
            ),
        ));
    }
    let layers: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|l| CHART_MEDIA_TYPES.contains(&l.media_type.as_str()))
        .collect();
    let [layer] = layers[..] else {
        return Err(registry.not_a_chart(
            &shown,
            &format!(
                "it has {} chart layers, Helm reads exactly one",
                layers.len()
            ),
        ));
    };
    let layer_hex = sha256_hex(&layer.digest)
        .ok_or_else(|| registry.not_a_chart(&shown, "its chart layer's digest is not sha256"))?;
    let chart_version = match manifest.annotations.get(VERSION_ANNOTATION) {
        Some(found) => found.clone(),
        None => registry.config_version(&manifest.config)?,
    };
    let manifest_hex = digest.trim_start_matches("sha256:");
    let charts = charts_dir(root)?;
    if let Some(found) = cached(&charts, layer_hex, name) {
        return Ok(fetched(found, &chart_version, manifest_hex, false));
    }
    if layer.size > MAX_CHART_BYTES as u64 {
        return Err(ChartError::Archive {
            chart: name.to_owned(),
            version: chart_version,
            reason: format!("its layer is {} bytes, more than 10 MiB", layer.size),
        });
    }
    let archive = registry.blob(&layer.digest, MAX_CHART_BYTES)?;
    let actual = hex(&Sha256::digest(&archive));
    if actual != layer_hex {
        return Err(registry.digest_error(&chart_version, &layer.digest, &actual));
    }
    let stored = (layer_hex, Layout::Chart);
    let target = store(&charts, keep, &archive, stored, name, &chart_version)?;
    Ok(fetched(target, &chart_version, manifest_hex, true))
}

/// One registry repository and the authorization it has granted so far.
struct Registry<'a> {
    client: Client,
    /// `https://<registry>/` (or `http://` when insecure).
    base: Url,
    /// The repository: `<path>/<chart>`.
    name: String,
    /// `oci://<registry>/<name>`, for messages.
    oci: String,
    chart: String,
    repository: &'a ChartRepository,
    authorization: Option<SecretString>,
}

impl<'a> Registry<'a> {
    fn new(
        repository: &'a ChartRepository,
        chart: &str,
        timeout: Duration,
    ) -> Result<Self, ChartError> {
        let url_err = || ChartError::Url {
            url: crate::fetch::redact_url(&repository.url),
        };
        let rest = repository.url.strip_prefix("oci://").ok_or_else(url_err)?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        let scheme = if repository.insecure { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|_| url_err())?;
        if host.is_empty() || base.path() != "/" {
            return Err(url_err());
        }
        let path = path.trim_matches('/');
        let name = if path.is_empty() {
            chart.to_owned()
        } else {
            format!("{path}/{chart}")
        };
        let valid = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if !name.split('/').all(valid) {
            return Err(ChartError::NotAChart {
                reference: format!("oci://{host}/{name}"),
                reason: "an OCI repository name is lowercase letters, digits, '.', '_', '-' \
                         and '/'"
                    .into(),
            });
        }
        Ok(Self {
            client: client(repository, timeout)?,
            oci: format!("oci://{host}/{name}"),
            base,
            name,
            chart: chart.to_owned(),
            repository,
            authorization: None,
        })
    }

    /// `oci://<registry>/<name>:<tag>`, or `@<digest>`.
    fn shown(&self, reference: &str) -> String {
        let separator = if reference.starts_with("sha256:") {
            '@'
        } else {
            ':'
        };
        format!("{}{separator}{reference}", self.oci)
    }

    /// The repository holds no readable chart, for `reason` (about the repository as a
    /// whole, or a blob of it).
    fn repository_error(&self, reason: &str) -> ChartError {
        self.not_a_chart(&self.oci, reason)
    }

    /// `reference` (a whole `oci://` one, or what follows the repository: `:<tag>`,
    /// `@<digest>`) is not a chart Helm would read, for `reason`.
    fn not_a_chart(&self, reference: &str, reason: &str) -> ChartError {
        let reference = if reference.starts_with("oci://") {
            reference.to_owned()
        } else {
            format!("{}{reference}", self.oci)
        };
        ChartError::NotAChart {
            reference,
            reason: reason.to_owned(),
        }
    }

    fn digest_error(&self, version: &str, expected: &str, actual: &str) -> ChartError {
        ChartError::Digest {
            url: self.oci.clone(),
            chart: self.chart.clone(),
            version: version.to_owned(),
            expected: expected.trim_start_matches("sha256:").to_owned(),
            actual: actual.trim_start_matches("sha256:").to_owned(),
        }
    }

    /// The layer of `media_type` (unset: the first) of `manifest` (whose digest is
    /// `digest`, read for `tag`), unpacked at the root of its artifact.
    fn files(
        &mut self,
        root: &Path,
        keep: usize,
        manifest: &Manifest,
        (digest, tag): (&str, &str),
        media_type: Option<&str>,
    ) -> Result<FetchedChart, ChartError> {
        let shown = self.shown(if tag.is_empty() { digest } else { tag });
        let refuse = |reason: String| ChartError::NotContent {
            reference: shown.clone(),
            reason,
        };
        let layer = match media_type {
            Some(wanted) => manifest.layers.iter().find(|l| l.media_type == wanted),
            None => manifest.layers.first(),
        };
        let layer = layer.ok_or_else(|| {
            refuse(match media_type {
                Some(wanted) => format!("it has no layer of media type {wanted:?}"),
                None => "it has no layers".into(),
            })
        })?;
        let layer_hex = sha256_hex(&layer.digest)
            .ok_or_else(|| refuse("its layer's digest is not sha256".into()))?;
        let manifest_hex = digest.trim_start_matches("sha256:");
        let charts = charts_dir(root)?;
        let folder = format!("files-{layer_hex}");
        let dir = charts.join(&folder);
        if dir.is_dir() {
            super::artifact::touch(&dir);
            return Ok(fetched(dir, tag, manifest_hex, false));
        }
        if layer.size > MAX_UNPACKED_BYTES {
            return Err(refuse(format!(
                "its layer is {} bytes, more than 100 MiB",
                layer.size
            )));
        }
        let archive = self.blob(&layer.digest, MAX_UNPACKED_BYTES as usize)?;
        let actual = hex(&Sha256::digest(&archive));
        if actual != layer_hex {
            return Err(self.digest_error(tag, &layer.digest, &actual));
        }
        let target = store(&charts, keep, &archive, (&folder, Layout::Root), "", tag)?;
        Ok(fetched(target, tag, manifest_hex, true))
    }

    /// The tag of the version `version` selects among the repository's tags: the tag
    /// that is exactly it, else the highest inside the constraint (`*` when empty).
    fn choose_tag(&mut self, version: &str) -> Result<String, ChartError> {
        let tags = self.tags()?;
        if tags.is_empty() {
            return Err(ChartError::NoChart {
                url: self.oci.clone(),
                chart: self.chart.clone(),
            });
        }
        let as_version = |tag: &str| tag.replace('_', "+");
        if !version.is_empty()
            && let Some(exact) = tags.iter().find(|t| as_version(t) == version)
        {
            return Ok(exact.clone());
        }
        let constraint = Constraint::parse(if version.is_empty() { "*" } else { version })
            .map_err(|source| ChartError::Constraint {
                version: version.to_owned(),
                source,
            })?;
        let parsed = tags
            .iter()
            .filter_map(|t| Some((t, parse_version(&as_version(t))?)))
            .collect::<Vec<_>>();
        constraint
            .highest(parsed.iter().map(|(t, v)| (*t, v)))
            .cloned()
            .ok_or_else(|| ChartError::NoVersion {
                url: self.oci.clone(),
                chart: self.chart.clone(),
                version: version.to_owned(),
            })
    }

    /// Every tag of the repository, following the registry's `Link` pages; none when the
    /// repository does not exist.
    fn tags(&mut self) -> Result<Vec<String>, ChartError> {
        let mut url = self.url("tags/list?n=1000")?;
        let mut all = Vec::new();
        for _ in 0..MAX_TAG_PAGES {
            let Some(page) = self.get_optional(&url, None, MAX_SMALL_BYTES)? else {
                return Ok(all);
            };
            let tags: Tags = serde_json::from_slice(&page.body)
                .map_err(|e| self.repository_error(&format!("its tag list: {e}")))?;
            all.extend(tags.tags.unwrap_or_default());
            match page.next {
                Some(next) => url = next,
                None => return Ok(all),
            }
        }
        Ok(all)
    }

    /// The manifest `reference` (a tag or digest) names, and its digest
    /// (`sha256:<hex>` of the bytes read).
    fn manifest(&mut self, reference: &str) -> Result<(Manifest, String), ChartError> {
        let url = self.url(&format!("manifests/{reference}"))?;
        let page = self
            .get_optional(&url, Some(MANIFEST_MEDIA_TYPE), MAX_MANIFEST_BYTES)?
            .ok_or_else(|| ChartError::NoVersion {
                url: self.oci.clone(),
                chart: self.chart.clone(),
                version: reference.to_owned(),
            })?;
        let digest = format!("sha256:{}", hex(&Sha256::digest(&page.body)));
        let manifest = serde_json::from_slice(&page.body).map_err(|e| {
            self.not_a_chart(
                &self.shown(reference),
                &format!("its manifest is not an OCI image manifest: {e}"),
            )
        })?;
        Ok((manifest, digest))
    }

    /// The chart version from the chart's config blob (for a manifest without Helm's
    /// version annotation).
    fn config_version(&mut self, config: &Descriptor) -> Result<String, ChartError> {
        let body = self.blob(&config.digest, MAX_SMALL_BYTES)?;
        let parsed: ChartConfig = serde_json::from_slice(&body)
            .map_err(|e| self.repository_error(&format!("its chart config: {e}")))?;
        Ok(parsed.version)
    }

    fn blob(&mut self, digest: &str, limit: usize) -> Result<Vec<u8>, ChartError> {
        let url = self.url(&format!("blobs/{digest}"))?;
        self.get_optional(&url, None, limit)?
            .map(|page| page.body)
            .ok_or_else(|| self.repository_error(&format!("its blob {digest} is missing")))
    }

    fn url(&self, rest: &str) -> Result<Url, ChartError> {
        self.base
            .join(&format!("v2/{}/{rest}", self.name))
            .map_err(|_| ChartError::Url {
                url: self.oci.clone(),
            })
    }

    /// GETs `url`, authorizing once if the registry challenges; `None` on `404`.
    fn get_optional(
        &mut self,
        url: &Url,
        accept: Option<&str>,
        limit: usize,
    ) -> Result<Option<Page>, ChartError> {
        let http_err = |reason: String| ChartError::Http {
            url: url.to_string(),
            reason,
        };
        let mut challenged = false;
        loop {
            let mut request = self.client.get(url.clone());
            if let Some(accept) = accept {
                request = request.header(ACCEPT, accept);
            }
            request = self.authorize(request);
            let response = request.send().map_err(|e| http_err(transport(&e)))?;
            let status = response.status();
            if status == reqwest::StatusCode::UNAUTHORIZED && !challenged {
                challenged = true;
                let challenge = response
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                if self.answer(&challenge)? {
                    continue;
                }
            }
            if status == reqwest::StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !status.is_success() {
                return Err(http_err(status.to_string()));
            }
            let next = response
                .headers()
                .get(LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(next_link)
                .and_then(|link| response.url().join(&link).ok());
            let body = lockstep_limits::read_bounded(response.take(limit as u64 + 1), limit)
                .map_err(|e| http_err(e.to_string()))?;
            return Ok(Some(Page {
                body: body.to_vec(),
                next,
            }));
        }
    }

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.authorization {
            Some(value) => match HeaderValue::from_str(value.expose_secret()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request.header(AUTHORIZATION, value)
                }
                Err(_) => request,
            },
            None => request,
        }
    }

    /// Takes up the registry's `WWW-Authenticate` challenge; whether there is now
    /// something new to send.
    fn answer(&mut self, challenge: &str) -> Result<bool, ChartError> {
        let (scheme, params) = parse_challenge(challenge);
        let credentials = self.repository.credentials.as_ref();
        let granted = match (scheme.to_ascii_lowercase().as_str(), credentials) {
            ("basic", Some(Credentials::Basic { username, password })) => {
                Some(basic(username, password.expose_secret()))
            }
            ("bearer", Some(Credentials::Bearer(token))) => Some(SecretString::from(format!(
                "Bearer {}",
                token.expose_secret()
            ))),
            ("bearer", _) => Some(self.token(&params)?),
            _ => None,
        };
        let answered = granted.is_some();
        self.authorization = granted.or(self.authorization.take());
        Ok(answered)
    }

    /// A pull token from the challenge's realm, asked with the credentials when there
    /// are some (anonymous pulls get one without).
    fn token(&self, params: &[(String, String)]) -> Result<SecretString, ChartError> {
        let param = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        let realm = param("realm").unwrap_or_default();
        let mut url = Url::parse(realm).map_err(|_| ChartError::Http {
            url: self.oci.clone(),
            reason: format!("the registry's token realm {realm:?} is not a URL"),
        })?;
        let scope = param("scope")
            .map(str::to_owned)
            .unwrap_or_else(|| format!("repository:{}:pull", self.name));
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = param("service") {
                query.append_pair("service", service);
            }
            query.append_pair("scope", &scope);
        }
        let shown = format!("{}{}", url.origin().ascii_serialization(), url.path());
        let http_err = |reason: String| ChartError::Http {
            url: shown.clone(),
            reason,
        };
        let mut request = self.client.get(url.clone());
        if let Some(Credentials::Basic { username, password }) = &self.repository.credentials {
            request = request.basic_auth(username, Some(password.expose_secret()));
        }
        let response = request.send().map_err(|e| http_err(transport(&e)))?;
        if !response.status().is_success() {
            return Err(http_err(response.status().to_string()));
        }
        let body = lockstep_limits::read_bounded(
            response.take(MAX_SMALL_BYTES as u64 + 1),
            MAX_SMALL_BYTES,
        )
        .map_err(|e| http_err(e.to_string()))?;
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            token: Option<Zeroizing<String>>,
            #[serde(default)]
            access_token: Option<Zeroizing<String>>,
        }
        let token: Token = serde_json::from_slice(&body).map_err(|e| {
            http_err(format!(
                "not a token response: {}",
                first_line(&e.to_string())
            ))
        })?;
        token
            .token
            .or(token.access_token)
            .map(|t| SecretString::from(format!("Bearer {}", t.as_str())))
            .ok_or_else(|| http_err("the token response holds no token".into()))
    }
}

struct Page {
    body: Vec<u8>,
    next: Option<Url>,
}

fn basic(username: &str, password: &str) -> SecretString {
    use base64::Engine as _;
    let plain = Zeroizing::new(format!("{username}:{password}"));
    let encoded =
        Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(plain.as_bytes()));
    SecretString::from(format!("Basic {}", encoded.as_str()))
}

/// The 64 hex digits of a `sha256:<hex>` digest.
fn sha256_hex(digest: &str) -> Option<&str> {
    digest.strip_prefix("sha256:").filter(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A `WWW-Authenticate` challenge's scheme and parameters (`realm="…",service="…"`),
/// commas inside quotes kept.
fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        params.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    (scheme.to_owned(), params)
}

/// The target of a `Link: <…>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|link| {
        let (target, params) = link.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_challenges_as_registries_write_them() {
        let (scheme, params) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull,push""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(
            params,
            [
                ("realm".into(), "https://auth.example/token".into()),
                ("service".into(), "registry.example".into()),
                ("scope".into(), "repository:team/app:pull,push".into()),
            ]
        );
        let (scheme, params) = parse_challenge(r#"Basic realm="lockstep-test""#);
        assert_eq!(scheme, "Basic");
        assert_eq!(params, [("realm".into(), "lockstep-test".into())]);
        assert_eq!(parse_challenge("").1, []);
    }

    #[test]
    fn follows_only_the_next_link() {
        assert_eq!(
            next_link(r#"</v2/charts/app/tags/list?last=1.0.0&n=1000>; rel="next""#).as_deref(),
            Some("/v2/charts/app/tags/list?last=1.0.0&n=1000")
        );
        assert_eq!(next_link(r#"</v2/x>; rel="prev""#), None);
    }

    #[test]
    fn names_the_repository_under_the_registry_path() {
        let repository = |url: &str, insecure| ChartRepository {
            url: url.into(),
            insecure,
            ..ChartRepository::default()
        };
        let plain = repository("oci://127.0.0.1:5000/charts/team", true);
        let registry = Registry::new(&plain, "app", Duration::from_secs(1)).unwrap();
        assert_eq!(registry.name, "charts/team/app");
        assert_eq!(registry.base.as_str(), "http://127.0.0.1:5000/");
        assert_eq!(
            registry.shown("1.0.0"),
            "oci://127.0.0.1:5000/charts/team/app:1.0.0"
        );
        let tls = repository("oci://user:pw@ghcr.io", false);
        let registry = Registry::new(&tls, "app", Duration::from_secs(1)).unwrap();
        assert_eq!(registry.base.as_str(), "https://ghcr.io/");
        assert!(!registry.oci.contains("pw"));
        assert!(matches!(
            Registry::new(&tls, "App", Duration::from_secs(1)),
            Err(ChartError::NotAChart { .. })
        ));
        assert!(sha256_hex(&format!("sha256:{}", "a".repeat(64))).is_some());
        assert!(sha256_hex("sha256:ABC").is_none());
    }
}

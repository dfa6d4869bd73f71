//! The chart repositories a Sync reads, as Flux's source-controller reads them: a
//! `HelmRepository` (HTTP(S) or `type: oci`) or an `OCIRepository`, their Secrets
//! (`username`/`password`, a `.dockerconfigjson`, `ca.crt`) read into the engine's
//! [`ChartRepository`], every value learnt by the caller's redactor; and the
//! HelmRepositories whose credentials a chart's dependencies are fetched with.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::flux::{HelmRepository, OCIRepository};
use lockstep_api::{LocalObjectReference, ObjectKey, parse_duration};
use lockstep_engine::fetch::{ChartRepository, Credentials, redact_url, url_secrets};
use lockstep_engine::redact::Redactor;
use lockstep_engine::render::helm::{Dependency, missing_dependencies};

use crate::context::Namespaced;
use crate::sync::SyncCtx;
use crate::sync::source::secret_data;

/// Why a repository cannot be read: `Stalled` until it is edited, or `Waiting` for it.
pub(crate) enum Refusal {
    Stalled(String),
    Waiting(String),
}

/// HelmRepository `key`: where and how to reach it for `chart` at `version`.
pub(super) async fn read_helm_repository(
    ctx: &SyncCtx,
    key: &ObjectKey,
    chart: &str,
    version: &str,
    redactor: &mut Redactor,
) -> Result<Found, Refusal> {
    let repository: HelmRepository = get(ctx, key).await?;
    let unserved = repository.unserved();
    if !unserved.is_empty() {
        return Err(Refusal::Stalled(format!(
            "spec.{} not served by Lockstep",
            unserved.join(", spec.")
        )));
    }
    let mut target = read_repository(ctx, &repository, &key.namespace, redactor)
        .await
        .map_err(Refusal::Waiting)?;
    target.timeout = timeout(repository.spec.timeout.as_deref())?;
    Ok(Found {
        target,
        chart: chart.to_owned(),
        version: version.to_owned(),
        folder: None,
        layer_media_type: None,
        suspended: repository.spec.suspend,
    })
}

/// A chart to fetch, and from where.
pub(crate) struct Found {
    pub target: ChartRepository,
    /// What the fetcher is asked for: a chart name, maybe pinned (`web:1.0.0`).
    pub chart: String,
    pub version: String,
    /// The chart's folder in the artifact, when the artifact should be that folder (an
    /// OCIRepository names one chart, as a GitSource chart's `path` does).
    pub folder: Option<String>,
    /// An OCIRepository's `layerSelector.mediaType`: the layer read as files.
    pub layer_media_type: Option<String>,
    pub suspended: bool,
}

/// OCIRepository `key`: where and how to reach it and what the fetcher is asked for
/// ([`OCIRepository::selector`]).
pub(crate) async fn read_oci_repository(
    ctx: &SyncCtx,
    key: &ObjectKey,
    redactor: &mut Redactor,
) -> Result<Found, Refusal> {
    let repository: OCIRepository = get(ctx, key).await?;
    oci_target(ctx, &repository, &key.namespace, redactor).await
}

/// Repository `key`, read now.
async fn get<K>(ctx: &SyncCtx, key: &ObjectKey) -> Result<K, Refusal>
where
    K: Namespaced,
{
    let repositories: Api<K> = Api::namespaced(ctx.shared.client.clone(), &key.namespace);
    repositories
        .get_opt(&key.name)
        .await
        .map_err(|err| Refusal::Waiting(format!("reading it: {err}")))?
        .ok_or_else(|| Refusal::Waiting("not found".into()))
}

/// Where and how to reach `repository`'s registry, and what to fetch from it.
pub(crate) async fn oci_target(
    ctx: &SyncCtx,
    repository: &OCIRepository,
    namespace: &str,
    redactor: &mut Redactor,
) -> Result<Found, Refusal> {
    let unserved = repository.unserved();
    if !unserved.is_empty() {
        return Err(Refusal::Stalled(format!(
            "spec.{} not served by Lockstep",
            unserved.join(", spec.")
        )));
    }
    let spec = &repository.spec;
    let Some((url, chart)) = repository.chart() else {
        return Err(Refusal::Stalled(format!(
            "spec.url {} names no chart: oci://<registry>/<path>/<chart>",
            redact_url(&spec.url)
        )));
    };
    let access = Access {
        url,
        secret_ref: spec.secret_ref.as_ref(),
        cert_secret_ref: spec.cert_secret_ref.as_ref(),
        pass_credentials: false,
        insecure: spec.insecure,
        oci: true,
    };
    let mut target = read_access(ctx, &access, namespace, redactor)
        .await
        .map_err(Refusal::Waiting)?;
    target.timeout = timeout(spec.timeout.as_deref())?;
    let (reference, version) = repository.selector(chart);
    Ok(Found {
        target,
        chart: reference,
        version,
        folder: Some(chart.to_owned()),
        layer_media_type: spec
            .layer_selector
            .as_ref()
            .and_then(|l| l.media_type.clone()),
        suspended: spec.suspend,
    })
}

/// A repository's `spec.timeout`, read.
fn timeout(timeout: Option<&str>) -> Result<Option<Duration>, Refusal> {
    timeout
        .map(parse_duration)
        .transpose()
        .map_err(|err| Refusal::Stalled(format!("spec.timeout: {err}")))
}

/// The dependencies the chart folder `path` of the source at `root` lacks
/// ([`missing_dependencies`]), read off the async runtime.
pub async fn missing(root: &std::path::Path, path: &str) -> Vec<Dependency> {
    let (root, path) = (root.to_path_buf(), path.to_owned());
    tokio::task::spawn_blocking(move || missing_dependencies(&root, &path))
        .await
        .unwrap_or_default()
}

/// The HelmRepositories of `namespace` that `missing` dependencies name as their
/// repository, with their credentials, as Flux's source-controller reads them for `helm
/// dependency build`; none when nothing is missing (nothing is listed then) or the
/// HelmRepository kind is not installed. Every Secret value read is added to `redactor`.
///
/// # Errors
/// What failed: listing the HelmRepositories, or reading a matching one's Secrets.
pub async fn dependency_repositories(
    ctx: &SyncCtx,
    namespace: &str,
    missing: &[Dependency],
    redactor: &mut Redactor,
) -> Result<Vec<ChartRepository>, String> {
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let repositories: Api<HelmRepository> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let listed = match repositories.list(&Default::default()).await {
        Ok(listed) => listed.items,
        Err(kube::Error::Api(status)) if status.code == 404 => return Ok(Vec::new()),
        Err(err) => {
            return Err(format!(
                "listing the HelmRepositories of {namespace} for the chart's dependencies: {err}"
            ));
        }
    };
    let named = |url: &str| {
        missing
            .iter()
            .any(|d| d.repository.trim_end_matches('/') == url.trim_end_matches('/'))
    };
    let mut found = Vec::new();
    for repository in listed.iter().filter(|r| named(&r.spec.url)) {
        if !repository.unserved().is_empty() || repository.spec.suspend {
            continue;
        }
        let mut target = read_repository(ctx, repository, namespace, redactor)
            .await
            .map_err(|err| {
                format!(
                    "HelmRepository {namespace}/{}: {err}",
                    repository.name_any()
                )
            })?;
        target.timeout = timeout(repository.spec.timeout.as_deref()).ok().flatten();
        found.push(target);
    }
    Ok(found)
}

/// How a repository is reached: the fields HelmRepository and OCIRepository share.
struct Access<'a> {
    url: &'a str,
    secret_ref: Option<&'a LocalObjectReference>,
    cert_secret_ref: Option<&'a LocalObjectReference>,
    pass_credentials: bool,
    insecure: bool,
    /// An OCI registry: a `.dockerconfigjson` Secret is read for its host.
    oci: bool,
}

/// The repository's URL, credentials and CA; every Secret value read and every secret of
/// the URL is added to `redactor`.
pub(crate) async fn read_repository(
    ctx: &SyncCtx,
    repository: &HelmRepository,
    namespace: &str,
    redactor: &mut Redactor,
) -> Result<ChartRepository, String> {
    let spec = &repository.spec;
    let access = Access {
        url: &spec.url,
        secret_ref: spec.secret_ref.as_ref(),
        cert_secret_ref: spec.cert_secret_ref.as_ref(),
        pass_credentials: spec.pass_credentials,
        insecure: repository.is_oci() && spec.insecure,
        oci: repository.is_oci(),
    };
    read_access(ctx, &access, namespace, redactor).await
}

async fn read_access(
    ctx: &SyncCtx,
    access: &Access<'_>,
    namespace: &str,
    redactor: &mut Redactor,
) -> Result<ChartRepository, String> {
    for secret in url_secrets(access.url) {
        redactor.add(secret.as_bytes());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let mut target = ChartRepository {
        url: access.url.to_owned(),
        pass_credentials: access.pass_credentials,
        insecure: access.insecure,
        ..ChartRepository::default()
    };
    if let Some(secret_ref) = access.secret_ref {
        let data = secret_data(&secrets, &secret_ref.name, &[], redactor).await?;
        let docker_config = data.get(".dockerconfigjson").filter(|_| access.oci);
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        target.credentials = match docker_config {
            Some(config) => Credentials::from_docker_config(&config.0, registry_host(access.url)),
            None => Credentials::from_entries(entries),
        }
        .map_err(|err| format!("Secret {}: {err}", secret_ref.name))?;
        target.ca_certificate = data.get("ca.crt").map(|v| v.0.clone());
    }
    if let Some(cert_ref) = access.cert_secret_ref {
        let data = secret_data(&secrets, &cert_ref.name, &[], redactor).await?;
        if data.contains_key("tls.crt") || data.contains_key("tls.key") {
            return Err(format!(
                "Secret {}: client certificates (tls.crt, tls.key) are not served by Lockstep",
                cert_ref.name
            ));
        }
        let ca = data.get("ca.crt").map(|v| v.0.clone());
        target.ca_certificate =
            Some(ca.ok_or_else(|| format!("Secret {} has no ca.crt", cert_ref.name))?);
    }
    Ok(target)
}

/// The `host[:port]` of an `oci://` URL, as Docker configs name registries.
fn registry_host(url: &str) -> &str {
    let rest = url.strip_prefix("oci://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

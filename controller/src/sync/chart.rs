//! A Sync whose source is a chart of a Helm repository: `sourceRef` names a Flux
//! `HelmRepository` (`source.toolkit.fluxcd.io/v1`, the kind Lockstep's own Syncs and
//! Flux's HelmReleases both read) and `helm.chart`/`helm.version` the chart. Before each
//! reconcile that is due, the repository is read, its credentials (`secretRef`:
//! `username`/`password`) and CA (`certSecretRef`: `ca.crt`) from Secrets of its namespace,
//! and the engine fetches the chart version ([`Fetcher::fetch_chart`]) into an in-memory
//! artifact of the Sync's own ([`source_key`]); the render reads it like any other. Only the
//! index is read again once a version is unpacked, and a wake-up within the interval (the
//! Sync's own status write) does not read even that.
//!
//! An Argo CD Application's `source.chart` is fetched by [`fetch_into`] too, with its
//! repository Secret's credentials.
//!
//! What cannot be fetched leaves the last artifact and what is applied in place: the Sync
//! is `Ready=False ArtifactFailed` naming the repository (URL without credentials, every
//! Secret value scrubbed) and the step.
//!
//! [`Fetcher::fetch_chart`]: lockstep_engine::fetch::Fetcher::fetch_chart

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::flux::HelmRepository;
use lockstep_api::{ObjectKey, REQUESTED_AT_ANNOTATION, Sync, parse_duration};
use lockstep_engine::fetch::{ChartRepository, Credentials, url_secrets};
use lockstep_engine::redact::Redactor;

use super::conditions::Reason;
use super::record::Verdict;
use super::source::secret_data;
use super::{ChartRequest, SyncCtx};

/// The `sourceRef.kind` of a chart of a Helm repository.
pub const HELM_REPOSITORY: &str = "HelmRepository";

/// Whether `sync` takes a chart of a Helm repository.
pub fn from_repository(sync: &Sync) -> bool {
    sync.spec.source_ref.kind == HELM_REPOSITORY
}

/// The in-memory source a repository chart's artifact is kept under: named after the
/// Sync with a `/`, which no object name has, so it never meets a GitSource's.
pub fn source_key(sync: &Sync) -> ObjectKey {
    ObjectKey::new(
        sync.namespace().unwrap_or_default(),
        format!("{}/chart", sync.name_any()),
    )
}

/// Fetches `sync`'s repository chart into its artifact, unless it takes none or it was
/// fetched for this generation and reconcile request within `interval`.
///
/// # Errors
/// The [`Verdict`] to record instead of applying: `Stalled` for what only an edit fixes
/// (an unserved field, a refused cross-namespace reference, no chart named), `Waiting` for
/// the rest.
pub async fn fetch(sync: &Sync, ctx: &SyncCtx, interval: Duration) -> Result<(), Verdict> {
    if !from_repository(sync) {
        return Ok(());
    }
    let key = source_key(sync);
    let requested = sync.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let request = (sync.metadata.generation, requested);
    if ctx.artifact(&key).is_some() && ctx.chart_fresh(&key, &request, interval) {
        return Ok(());
    }
    let helm = sync.spec.helm.as_ref();
    let Some(chart) = helm
        .and_then(|h| h.chart.as_deref())
        .filter(|c| !c.is_empty())
    else {
        return Err(Verdict::Stalled(
            "sourceRef is a HelmRepository: spec.helm.chart must name the chart".into(),
        ));
    };
    let namespace = sync.namespace().unwrap_or_default();
    let reference = &sync.spec.source_ref;
    let repo_namespace = reference.namespace.clone().unwrap_or(namespace.clone());
    let repo_key = ObjectKey::new(&repo_namespace, &reference.name);
    if ctx.no_cross_namespace_refs && repo_namespace != namespace {
        return Err(Verdict::Stalled(format!(
            "sourceRef HelmRepository {repo_key} is in another namespace, which this \
             controller refuses"
        )));
    }
    let waiting = |message: String| Verdict::Waiting {
        reason: Reason::ArtifactFailed,
        message: format!("HelmRepository {repo_key}: {message}"),
    };
    let repositories: Api<HelmRepository> =
        Api::namespaced(ctx.shared.client.clone(), &repo_namespace);
    let repository = repositories
        .get_opt(&reference.name)
        .await
        .map_err(|err| waiting(format!("reading it: {err}")))?
        .ok_or_else(|| waiting("not found".into()))?;
    let unserved = repository.unserved();
    if !unserved.is_empty() {
        return Err(Verdict::Stalled(format!(
            "HelmRepository {repo_key}: spec.{} not served by Lockstep",
            unserved.join(", spec.")
        )));
    }
    if repository.spec.suspend {
        return match ctx.artifact(&key) {
            Some(_) => Ok(()),
            None => Err(waiting("suspended".into())),
        };
    }
    let mut redactor = Redactor::new();
    let mut target = read_repository(ctx, &repository, &repo_namespace, &mut redactor)
        .await
        .map_err(waiting)?;
    target.timeout = match repository.spec.timeout.as_deref().map(parse_duration) {
        Some(Ok(timeout)) => Some(timeout),
        Some(Err(err)) => {
            return Err(Verdict::Stalled(format!(
                "HelmRepository {repo_key}: spec.timeout: {err}"
            )));
        }
        None => None,
    };
    let version = helm.and_then(|h| h.version.as_deref()).unwrap_or("*");
    fetch_into(ctx, key, request, &target, chart, version, &redactor)
        .await
        .map_err(waiting)
}

/// Fetches `chart` at `version` from `repository` as the artifact of `key`, for
/// `request`.
///
/// # Errors
/// What failed, naming the repository URL without credentials; every value `redactor`
/// knows is scrubbed from it.
pub async fn fetch_into(
    ctx: &SyncCtx,
    key: ObjectKey,
    request: ChartRequest,
    repository: &ChartRepository,
    chart: &str,
    version: &str,
    redactor: &Redactor,
) -> Result<(), String> {
    let fetched = ctx
        .fetcher
        .fetch_chart(repository, chart, version)
        .await
        .map_err(|err| redactor.scrub(&err.to_string()))?;
    ctx.set_artifact(key.clone(), fetched.artifact);
    ctx.chart_fetched(key, request);
    Ok(())
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
    for secret in url_secrets(&spec.url) {
        redactor.add(secret.as_bytes());
    }
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let mut target = ChartRepository {
        url: spec.url.clone(),
        pass_credentials: spec.pass_credentials,
        insecure: repository.is_oci() && spec.insecure,
        ..ChartRepository::default()
    };
    if let Some(secret_ref) = &spec.secret_ref {
        let data = secret_data(&secrets, &secret_ref.name, &[], redactor).await?;
        let docker_config = data
            .get(".dockerconfigjson")
            .filter(|_| repository.is_oci());
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        target.credentials = match docker_config {
            Some(config) => Credentials::from_docker_config(&config.0, registry_host(&spec.url)),
            None => Credentials::from_entries(entries),
        }
        .map_err(|err| format!("Secret {}: {err}", secret_ref.name))?;
        target.ca_certificate = data.get("ca.crt").map(|v| v.0.clone());
    }
    if let Some(cert_ref) = &spec.cert_secret_ref {
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

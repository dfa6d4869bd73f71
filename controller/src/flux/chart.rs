//! A HelmRelease's chart from a Flux `HelmRepository`: the repository is read at each
//! reconcile, its credentials (`secretRef`: `username`/`password`) and CA
//! (`certSecretRef`: `ca.crt`) from Secrets of its namespace, and the chart version the
//! HelmRelease asks for is fetched by the engine ([`Fetcher::fetch_chart`]) into the
//! in-memory artifact the HelmRelease's Sync reads ([`convert::chart_source`]). Only the
//! index is read again once a version is unpacked; a HelmRelease woken by its own status
//! write within its interval does not even read that.
//!
//! What cannot be fetched leaves the last artifact in place and nothing is applied: the
//! HelmRelease is `Ready=False ArtifactFailed` naming the repository (URL without
//! credentials, every Secret value scrubbed) and the step, as Flux reports a chart that is
//! not ready.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::ObjectKey;
use lockstep_api::flux::{HelmRelease, HelmRepository, REQUESTED_AT_ANNOTATION};
use lockstep_api::parse_duration;
use lockstep_engine::fetch::{ChartRepository, Credentials, url_secrets};
use lockstep_engine::redact::Redactor;

use super::convert::{self, ChartPath};
use crate::sync::conditions::Reason;
use crate::sync::record::Verdict;
use crate::sync::source::secret_data;
use crate::sync::{SyncCtx, chart};

/// Fetches `hr`'s repository chart into its in-memory artifact, unless it is not a
/// repository chart or was fetched for this generation within `interval`.
///
/// # Errors
/// The [`Verdict`] to record instead of applying: `Stalled` for what only an edit fixes
/// (an unserved field, a refused cross-namespace reference), `Waiting` for the rest.
pub async fn fetch(hr: &HelmRelease, ctx: &SyncCtx, interval: Duration) -> Result<(), Verdict> {
    let ChartPath::Repository(chart) = convert::chart_path(hr) else {
        return Ok(());
    };
    let Some(spec) = hr.spec.chart.as_ref().map(|c| &c.spec) else {
        return Ok(());
    };
    let namespace = hr.metadata.namespace.clone().unwrap_or_default();
    let source = convert::chart_source(hr);
    let key = ObjectKey::new(&namespace, &source.name);
    let requested = hr.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let wanted = (hr.metadata.generation, requested);
    if ctx.artifact(&key).is_some() && ctx.chart_fresh(&key, &wanted, interval) {
        return Ok(());
    }
    let repo_namespace = spec
        .source_ref
        .namespace
        .clone()
        .unwrap_or(namespace.clone());
    let repo_key = ObjectKey::new(&repo_namespace, &spec.source_ref.name);
    if ctx.no_cross_namespace_refs && repo_namespace != namespace {
        return Err(Verdict::Stalled(format!(
            "spec.chart.spec.sourceRef HelmRepository {repo_key} is in another namespace, \
             which this controller refuses"
        )));
    }
    let waiting = |message: String| Verdict::Waiting {
        reason: Reason::ArtifactFailed,
        message,
    };
    let repositories: Api<HelmRepository> =
        Api::namespaced(ctx.shared.client.clone(), &repo_namespace);
    let repository = repositories
        .get_opt(&spec.source_ref.name)
        .await
        .map_err(|err| waiting(format!("reading HelmRepository {repo_key}: {err}")))?
        .ok_or_else(|| waiting(format!("HelmRepository {repo_key} not found")))?;
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
            None => Err(waiting(format!("HelmRepository {repo_key} is suspended"))),
        };
    }
    let mut redactor = Redactor::new();
    for secret in url_secrets(&repository.spec.url) {
        redactor.add(secret.as_bytes());
    }
    let mut target = read_repository(ctx, &repository, &repo_namespace, &mut redactor)
        .await
        .map_err(|message| waiting(format!("HelmRepository {repo_key}: {message}")))?;
    let timeout = match repository.spec.timeout.as_deref().map(parse_duration) {
        Some(Ok(timeout)) => Some(timeout),
        Some(Err(err)) => {
            return Err(Verdict::Stalled(format!(
                "HelmRepository {repo_key}: spec.timeout: {err}"
            )));
        }
        None => None,
    };
    target.timeout = timeout;
    let version = spec.version.as_deref().unwrap_or("*");
    chart::fetch_into(ctx, key, wanted, &target, &chart, version, &redactor)
        .await
        .map_err(|message| waiting(format!("HelmRepository {repo_key}: {message}")))
}

/// The repository's URL, credentials and CA; every Secret value read is added to
/// `redactor`.
async fn read_repository(
    ctx: &SyncCtx,
    repository: &HelmRepository,
    namespace: &str,
    redactor: &mut Redactor,
) -> Result<ChartRepository, String> {
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let spec = &repository.spec;
    let mut target = ChartRepository {
        url: spec.url.clone(),
        pass_credentials: spec.pass_credentials,
        ..ChartRepository::default()
    };
    if let Some(secret_ref) = &spec.secret_ref {
        let data = secret_data(&secrets, &secret_ref.name, &[], redactor).await?;
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        target.credentials = Credentials::from_entries(entries)
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
        target.ca_certificate = Some(
            data.get("ca.crt")
                .map(|v| v.0.clone())
                .ok_or_else(|| format!("Secret {} has no ca.crt", cert_ref.name))?,
        );
    }
    Ok(target)
}

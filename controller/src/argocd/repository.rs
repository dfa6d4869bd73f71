//! Argo CD's repository credentials: Secrets labelled
//! `argocd.argoproj.io/secret-type: repository` whose `url` is the Application's
//! `repoURL`, in the Application's namespace. Their `username`/`password` (HTTPS) or
//! `sshPrivateKey` (SSH, with a `known_hosts` entry, which Argo CD keeps elsewhere) are
//! read as a GitSource's `secretRef` is, by the same code. For a `source.chart`, the
//! Secret of the Helm repository's URL gives its `username`/`password` the same way.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use lockstep_engine::fetch::{ChartRepository, Credentials, url_secrets};
use lockstep_engine::redact::Redactor;

use crate::sync::SyncCtx;
use crate::sync::source::secret_data;

/// The label Argo CD selects its repository Secrets by, and the value.
const SECRET_TYPE: &str = "argocd.argoproj.io/secret-type=repository";

/// The name of the repository Secret of `repo_url` in `namespace`, if there is one.
///
/// # Errors
/// The API error of listing the Secrets.
pub async fn secret_for(
    ctx: &SyncCtx,
    namespace: &str,
    repo_url: &str,
) -> Result<Option<String>, kube::Error> {
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let listed = secrets
        .list(&ListParams::default().labels(SECRET_TYPE))
        .await?;
    let wanted = normalize(repo_url);
    Ok(listed.items.into_iter().find_map(|secret| {
        let url = secret.data.as_ref()?.get("url")?;
        let url = std::str::from_utf8(&url.0).ok()?;
        (normalize(url) == wanted).then(|| secret.metadata.name.unwrap_or_default())
    }))
}

/// The Helm repository at `repo_url` with the credentials of its repository Secret in
/// `namespace`, if there is one; every value read is added to `redactor`. A `repo_url`
/// without a scheme is an OCI registry, as Argo CD reads it (`oci://` may be written too);
/// its Secret's `insecureOCIForceHttp: "true"` reaches it over plain HTTP.
///
/// # Errors
/// What failed: listing or reading the Secret, or its entries.
pub async fn helm_repository(
    ctx: &SyncCtx,
    namespace: &str,
    repo_url: &str,
    redactor: &mut Redactor,
) -> Result<ChartRepository, String> {
    for secret in url_secrets(repo_url) {
        redactor.add(secret.as_bytes());
    }
    let listing = |err| {
        format!(
            "listing the repository Secrets (argocd.argoproj.io/secret-type: repository) of \
             namespace {namespace}: {err}"
        )
    };
    let name = secret_for(ctx, namespace, repo_url)
        .await
        .map_err(listing)?;
    let oci = !repo_url.contains("://") || repo_url.starts_with("oci://");
    let mut repository = ChartRepository {
        url: match repo_url.strip_prefix("oci://") {
            None if oci => format!("oci://{repo_url}"),
            _ => repo_url.to_owned(),
        },
        ..ChartRepository::default()
    };
    if let Some(name) = name {
        let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), namespace);
        let readable = ctx.front.readable_entries();
        let data = secret_data(&secrets, &name, readable, redactor).await?;
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        repository.credentials =
            Credentials::from_entries(entries).map_err(|err| format!("Secret {name}: {err}"))?;
        repository.insecure = oci
            && data
                .get("insecureOCIForceHttp")
                .is_some_and(|v| v.0 == b"true");
    }
    Ok(repository)
}

/// A repository URL compared as Argo CD compares them: without a trailing `/` or `.git`,
/// case-insensitively; an OCI registry's with or without `oci://`.
fn normalize(url: &str) -> String {
    let url = url.trim().trim_end_matches('/');
    let url = url.strip_prefix("oci://").unwrap_or(url);
    url.strip_suffix(".git").unwrap_or(url).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn urls_match_without_suffix_or_case() {
        assert_eq!(
            normalize("https://Git.example.invalid/team/web.git/"),
            normalize("https://git.example.invalid/team/web")
        );
        assert_ne!(
            normalize("https://git.example.invalid/team/web"),
            normalize("https://git.example.invalid/team/api")
        );
        assert_eq!(
            normalize("oci://registry.example.invalid/charts/"),
            normalize("registry.example.invalid/charts")
        );
    }
}

//! A Flux Kustomization's `postBuild` variables, substituted into what it renders before
//! anything is decrypted ([`lockstep_engine::render::variables`]).
//!
//! They are read as kustomize-controller reads them: the `substituteFrom` ConfigMaps'
//! `data` and Secrets' `data`, from the Kustomization's own namespace, with the
//! controller's identity, in order (a later source wins), then `substitute` over all of
//! them. A missing source fails the reconcile unless it is `optional`. Values read from
//! Secrets are never shown: they go to the redactor, and an object that receives one is
//! treated as holding secrets.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::Sync;
use lockstep_api::flux::{PostBuild, SubstituteKind, SubstituteStrategy};
use lockstep_engine::redact::Redactor;
use lockstep_engine::render::Manifest;
use lockstep_engine::render::variables::Variables;
use zeroize::Zeroizing;

/// Substitutes `post_build`'s variables into `manifests`; returns the values to redact.
///
/// # Errors
/// The message for a `BuildFailed` condition: the source that cannot be read, the
/// variable name that is invalid, or the object, field and variable that do not expand.
/// Never a value.
pub(super) async fn substitute(
    client: &kube::Client,
    sync: &Sync,
    post_build: &PostBuild,
    manifests: &mut [Manifest],
) -> Result<Redactor, String> {
    let variables = load(client, sync, post_build).await?;
    let mut redactor = Redactor::new();
    variables.redact(&mut redactor);
    let always = post_build.substitute_strategy == Some(SubstituteStrategy::Always);
    variables
        .substitute(manifests, always)
        .map_err(|err| format!("postBuild: {err}"))?;
    Ok(redactor)
}

async fn load(
    client: &kube::Client,
    sync: &Sync,
    post_build: &PostBuild,
) -> Result<Variables, String> {
    let namespace = sync.namespace().unwrap_or_default();
    let mut variables = Variables::new();
    for source in &post_build.substitute_from {
        let name = &source.name;
        let secret = source.kind == SubstituteKind::Secret;
        let what = format!("{:?} {namespace}/{name}", source.kind);
        let failed = |err: kube::Error| format!("postBuild.substituteFrom {what}: {err}");
        let found: Option<Vec<(String, Vec<u8>)>> = if secret {
            let api = Api::<Secret>::namespaced(client.clone(), &namespace);
            api.get_opt(name).await.map_err(failed)?.map(|s| {
                let data = s.data.unwrap_or_default();
                data.into_iter().map(|(k, v)| (k, v.0)).collect()
            })
        } else {
            let api = Api::<ConfigMap>::namespaced(client.clone(), &namespace);
            api.get_opt(name).await.map_err(failed)?.map(|c| {
                let data = c.data.unwrap_or_default();
                data.into_iter().map(|(k, v)| (k, v.into_bytes())).collect()
            })
        };
        let entries = match found {
            Some(entries) => entries,
            None if source.optional => continue,
            None => {
                return Err(format!(
                    "postBuild.substituteFrom {what} not found: create it in the Kustomization's \
                     namespace, or mark it optional: true"
                ));
            }
        };
        for (key, value) in entries {
            let value = Zeroizing::new(value);
            let text = std::str::from_utf8(&value).map_err(|_| {
                format!("postBuild.substituteFrom {what}: the value of {key} is not UTF-8 text")
            })?;
            variables
                .define(&key, text, secret)
                .map_err(|err| format!("postBuild.substituteFrom {what}: {err}"))?;
        }
    }
    for (name, value) in &post_build.substitute {
        variables
            .define(name, value, false)
            .map_err(|err| format!("postBuild.substitute: {err}"))?;
    }
    Ok(variables)
}

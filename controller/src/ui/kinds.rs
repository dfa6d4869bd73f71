//! The other objects the controller serves, listed beside the Syncs: SealedSecrets always,
//! ExternalSecrets with `--external-secrets`, Flux Kustomizations and HelmReleases with
//! `--flux`, Argo CD Applications with `--argocd`. Each is cached by a watch of its own,
//! keeping only what a row shows (metadata, `spec.suspend`, `status`): a SealedSecret's
//! ciphertext and an Application's manifests stay out of memory.

use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::json;

use super::html::Phase;
use crate::context::Ctx;

/// A kind listed beside the Syncs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `bitnami.com/v1alpha1` SealedSecret.
    SealedSecret,
    /// `external-secrets.io/v1` ExternalSecret.
    ExternalSecret,
    /// `kustomize.toolkit.fluxcd.io/v1` Kustomization.
    Kustomization,
    /// `helm.toolkit.fluxcd.io/v2` HelmRelease.
    HelmRelease,
    /// `argoproj.io/v1alpha1` Application.
    Application,
}

impl Kind {
    /// Every kind, in the order of the overview's tabs.
    const ALL: [Self; 5] = [
        Self::SealedSecret,
        Self::ExternalSecret,
        Self::Kustomization,
        Self::HelmRelease,
        Self::Application,
    ];

    /// The kinds a controller with these front-ends serves.
    pub fn served(external_secrets: bool, flux: bool, argocd: bool) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|kind| match kind {
                Self::SealedSecret => true,
                Self::ExternalSecret => external_secrets,
                Self::Kustomization | Self::HelmRelease => flux,
                Self::Application => argocd,
            })
            .collect()
    }

    /// The API group, version, kind and plural.
    pub fn resource(self) -> ApiResource {
        let (group, version, kind, plural) = match self {
            Self::SealedSecret => ("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets"),
            Self::ExternalSecret => (
                "external-secrets.io",
                "v1",
                "ExternalSecret",
                "externalsecrets",
            ),
            Self::Kustomization => (
                "kustomize.toolkit.fluxcd.io",
                "v1",
                "Kustomization",
                "kustomizations",
            ),
            Self::HelmRelease => (
                "helm.toolkit.fluxcd.io",
                "v2",
                "HelmRelease",
                "helmreleases",
            ),
            Self::Application => ("argoproj.io", "v1alpha1", "Application", "applications"),
        };
        ApiResource {
            group: group.to_owned(),
            version: version.to_owned(),
            api_version: format!("{group}/{version}"),
            kind: kind.to_owned(),
            plural: plural.to_owned(),
        }
    }

    /// The kind's plural, as the overview's `kind` filter names it.
    pub fn plural(self) -> String {
        self.resource().plural
    }

    /// How an object of this kind is doing, and the message that says why.
    pub fn phase(self, object: &DynamicObject) -> (Phase, String) {
        let status = &object.data["status"];
        if object.data["spec"]["suspend"].as_bool() == Some(true) {
            return (Phase::Suspended, String::new());
        }
        if self == Self::Application {
            let health = status["health"]["status"].as_str().unwrap_or_default();
            let sync = status["sync"]["status"].as_str().unwrap_or_default();
            let message = format!("{sync}, {health}");
            let phase = match (sync, health) {
                (_, "Degraded" | "Missing") => Phase::Failing,
                ("Synced", "Healthy") => Phase::Ready,
                _ => Phase::Progressing,
            };
            return (phase, message);
        }
        // SealedSecrets say `Synced`; the rest say `Ready`.
        let wanted = if self == Self::SealedSecret {
            "Synced"
        } else {
            "Ready"
        };
        let condition = status["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == wanted);
        let message = condition
            .and_then(|c| c["message"].as_str())
            .unwrap_or_default()
            .to_owned();
        let phase = match condition.and_then(|c| c["status"].as_str()) {
            Some("True") => Phase::Ready,
            Some("False") => Phase::Failing,
            _ => Phase::Progressing,
        };
        (phase, message)
    }

    /// The listed kind whose plural is `plural`.
    pub fn from_plural(plural: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.plural() == plural)
    }

    /// A store of every object of this kind the controller watches, calling `changed` for
    /// each object that was created, changed or deleted.
    pub fn watch(
        self,
        ctx: &Ctx,
        mut changed: impl FnMut(&DynamicObject) + Send + 'static,
    ) -> Store<DynamicObject> {
        let resource = self.resource();
        let api: Api<DynamicObject> = if ctx.all_namespaces {
            Api::all_with(ctx.client.clone(), &resource)
        } else {
            Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource)
        };
        let writer = reflector::store::Writer::new(resource);
        let store = writer.as_reader();
        let stream = watcher(api, watcher::Config::default().any_semantic())
            .default_backoff()
            .modify(|object| {
                object.metadata.managed_fields = None;
                object.metadata.annotations = None;
                let suspend = object.data["spec"]["suspend"].take();
                let status = object.data["status"].take();
                object.data = json!({"spec": {"suspend": suspend}, "status": status});
            })
            .reflect(writer)
            .touched_objects();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(object) => changed(&object),
                    Err(err) => crate::watch::failed(&err),
                }
            }
        });
        store
    }
}

/// The `Ready` condition's `lastTransitionTime` of an object, or nothing.
pub fn since(object: &DynamicObject) -> String {
    object.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready" || c["type"] == "Synced")
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(data: serde_json::Value) -> DynamicObject {
        let mut object = DynamicObject::new("x", &Kind::SealedSecret.resource());
        object.data = data;
        object
    }

    /// Each kind is judged by what it reports: a SealedSecret by `Synced`, the Flux and
    /// ESO kinds by `Ready`, an Application by its sync and health status.
    #[test]
    fn each_kind_is_judged_by_its_own_status() {
        let synced = object(json!({"status": {"conditions": [
            {"type": "Synced", "status": "False", "message": "no key could decrypt"}]}}));
        assert_eq!(
            Kind::SealedSecret.phase(&synced),
            (Phase::Failing, "no key could decrypt".to_owned())
        );
        assert_eq!(Kind::Kustomization.phase(&synced).0, Phase::Progressing);
        let app = |sync: &str, health: &str| {
            object(json!({"status": {"sync": {"status": sync}, "health": {"status": health}}}))
        };
        assert_eq!(
            Kind::Application.phase(&app("Synced", "Healthy")).0,
            Phase::Ready
        );
        assert_eq!(
            Kind::Application.phase(&app("OutOfSync", "Healthy")).0,
            Phase::Progressing
        );
        assert_eq!(
            Kind::Application.phase(&app("Synced", "Degraded")).0,
            Phase::Failing
        );
        let suspended = object(json!({"spec": {"suspend": true}}));
        assert_eq!(Kind::HelmRelease.phase(&suspended).0, Phase::Suspended);
    }
}

//! Which resources a [`super::SyncCtx`] serves: Lockstep's `GitSource`/`Sync`, Flux's
//! `GitRepository`/`Kustomization` or `HelmRelease` ([`crate::flux`]) or Argo CD's `Application`
//! ([`crate::argocd`]). All run the same reconcilers on the
//! same engine; the front decides only what the objects are labelled with, which resource
//! status, events and finalizers go to, and where dependencies are read.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::ApiResource;
use lockstep_api::Sync;
use lockstep_api::argocd::{self, Application, RESOURCES_FINALIZER};
use lockstep_api::flux::{
    FLUX_VERSION, HELM_GROUP, HELM_VERSION, HelmRelease, KUSTOMIZE_GROUP, Kustomization,
    SOURCE_GROUP,
};
use lockstep_engine::render::Owner;

/// The resources served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// `lockstep.dev/v1alpha1` `GitSource` and `Sync`.
    Lockstep,
    /// Flux's `GitRepository` and `Kustomization`, served unchanged.
    Flux,
    /// Flux's `HelmRelease` (of a chart in a `GitRepository`), served unchanged beside
    /// [`Front::Flux`], whose GitRepositories it reads.
    FluxHelm,
    /// Argo CD's `Application` (source and sync in one), served unchanged.
    ArgoCd,
}

impl Front {
    /// The owner of what the sync resource `namespace/name` applies.
    pub fn owner(self, name: String, namespace: String) -> Owner {
        match self {
            Self::Lockstep => Owner::lockstep(name, namespace),
            Self::Flux => Owner::flux(name, namespace),
            Self::FluxHelm => Owner::flux_helm(name, namespace),
            Self::ArgoCd => Owner::argocd(name, namespace),
        }
    }

    /// The finalizer the sync resource carries while the controller handles it (Flux's
    /// or Argo CD's own, so that either controller finalizes what the other started).
    pub fn finalizer(self) -> &'static str {
        match self {
            Self::Lockstep => "finalizers.lockstep.dev",
            Self::Flux | Self::FluxHelm => "finalizers.fluxcd.io",
            Self::ArgoCd => RESOURCES_FINALIZER,
        }
    }

    /// Whether the controller adds the finalizer. Argo CD's is the user's choice: with it
    /// a delete cascades, without it the objects are orphaned.
    pub fn adds_finalizer(self) -> bool {
        self != Self::ArgoCd
    }

    /// Entries of a source's credentials Secret that name the repository rather than hold
    /// a credential (Argo CD's repository Secrets), left readable in messages; every other
    /// value is scrubbed.
    pub fn readable_entries(self) -> &'static [&'static str] {
        match self {
            Self::ArgoCd => &[
                "url",
                "type",
                "project",
                "name",
                "enableOCI",
                "insecure",
                "insecureOCIForceHttp",
                "forceHttpBasicAuth",
            ],
            Self::Lockstep | Self::Flux | Self::FluxHelm => &[],
        }
    }

    /// The API of the resource a Sync is read from ([`Front::sync_kind`]).
    pub fn sync_resource(self) -> ApiResource {
        match self {
            Self::Lockstep => ApiResource::erase::<Sync>(&()),
            Self::Flux => ApiResource::erase::<Kustomization>(&()),
            Self::FluxHelm => ApiResource::erase::<HelmRelease>(&()),
            Self::ArgoCd => ApiResource::erase::<Application>(&()),
        }
    }

    /// The kind of the sync resource, for metrics and messages.
    pub fn sync_kind(self) -> &'static str {
        match self {
            Self::Lockstep => "Sync",
            Self::Flux => "Kustomization",
            Self::FluxHelm => "HelmRelease",
            Self::ArgoCd => "Application",
        }
    }

    /// `reference` (to the in-memory `Sync` or `GitSource` a reconcile works on) as a
    /// reference to the resource it was read from.
    pub fn reference(self, mut reference: ObjectReference) -> ObjectReference {
        let (group, version, kind) = match (self, reference.kind.as_deref()) {
            (Self::Lockstep, _) => return reference,
            (Self::Flux | Self::FluxHelm, Some("GitSource")) => {
                (SOURCE_GROUP, FLUX_VERSION, "GitRepository")
            }
            (Self::Flux, _) => (KUSTOMIZE_GROUP, FLUX_VERSION, "Kustomization"),
            (Self::FluxHelm, _) => (HELM_GROUP, HELM_VERSION, "HelmRelease"),
            // Both the source and the sync of an Application are the Application.
            (Self::ArgoCd, _) => (argocd::GROUP, argocd::VERSION, "Application"),
        };
        reference.api_version = Some(format!("{group}/{version}"));
        reference.kind = Some(kind.to_owned());
        reference
    }
}

//! Which resources a [`super::SyncCtx`] serves: Lockstep's `GitSource`/`Sync`, or Flux's
//! `GitRepository`/`Kustomization` ([`crate::flux`]). Both run the same reconcilers on the
//! same engine; the front decides only what the objects are labelled with, which resource
//! status, events and finalizers go to, and where dependencies are read.

use k8s_openapi::api::core::v1::ObjectReference;
use lockstep_api::flux::{FLUX_VERSION, KUSTOMIZE_GROUP, SOURCE_GROUP};
use lockstep_engine::render::Owner;

/// The resources served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Front {
    /// `lockstep.dev/v1alpha1` `GitSource` and `Sync`.
    Lockstep,
    /// Flux's `GitRepository` and `Kustomization`, served unchanged.
    Flux,
}

impl Front {
    /// The owner of what the sync resource `namespace/name` applies.
    pub fn owner(self, name: String, namespace: String) -> Owner {
        match self {
            Self::Lockstep => Owner::lockstep(name, namespace),
            Self::Flux => Owner::flux(name, namespace),
        }
    }

    /// The finalizer the sync resource carries while the controller handles it (Flux's
    /// own, so that either controller finalizes what the other started).
    pub fn finalizer(self) -> &'static str {
        match self {
            Self::Lockstep => "finalizers.lockstep.dev",
            Self::Flux => "finalizers.fluxcd.io",
        }
    }

    /// The kind of the sync resource, for metrics and messages.
    pub fn sync_kind(self) -> &'static str {
        match self {
            Self::Lockstep => "Sync",
            Self::Flux => "Kustomization",
        }
    }

    /// `reference` (to the in-memory `Sync` or `GitSource` a reconcile works on) as a
    /// reference to the resource it was read from.
    pub fn reference(self, mut reference: ObjectReference) -> ObjectReference {
        if self == Self::Flux {
            let (group, kind) = match reference.kind.as_deref() {
                Some("GitSource") => (SOURCE_GROUP, "GitRepository"),
                _ => (KUSTOMIZE_GROUP, "Kustomization"),
            };
            reference.api_version = Some(format!("{group}/{FLUX_VERSION}"));
            reference.kind = Some(kind.to_owned());
        }
        reference
    }
}

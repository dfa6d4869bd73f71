//! Flux's resources as the in-memory `GitSource` and `Sync` the reconcilers work on, and
//! their status back in Flux's format. Nothing here is written to the cluster as a
//! Lockstep resource: the conversions exist only for the length of a reconcile.

use kube::api::ObjectMeta;
use lockstep_api::flux::{
    Artifact, FluxInventory, GitRepository, GitRepositoryStatus, InventoryRef, Kustomization,
    KustomizationStatus, REQUESTED_AT_ANNOTATION as FLUX_REQUESTED_AT,
};
use lockstep_api::{
    CrossNamespaceObjectReference, Decryption, DependsOn, GitRef, GitSource, GitSourceSpec,
    GitSourceStatus, GitVerify, HealthCheck, KubeConfigRef, REQUESTED_AT_ANNOTATION, Sync,
    SyncSpec, SyncStatus, VerifyMode,
};

use crate::sync::conditions::{READY, STALLED};
use crate::sync::source::SOURCE_VERIFIED;

/// The GitRepository conditions Lockstep keeps up to date. Flux's source-controller also
/// writes conditions about its artifact storage (`ArtifactInStorage`, `ArtifactOutdated`,
/// `StorageOperationFailed`, …) and `FetchFailed`; left behind by Flux they would go on
/// describing the revision Flux last stored, so they are not carried over.
const SOURCE_CONDITIONS: [&str; 3] = [READY, STALLED, SOURCE_VERIFIED];

/// `meta` with Flux's reconcile request (`reconcile.fluxcd.io/requestedAt`, what
/// `flux reconcile` writes) under Lockstep's annotation, the one the reconcilers read.
fn metadata(meta: &ObjectMeta) -> ObjectMeta {
    let mut meta = meta.clone();
    let annotations = meta.annotations.get_or_insert_default();
    annotations.remove(REQUESTED_AT_ANNOTATION);
    if let Some(at) = annotations.remove(FLUX_REQUESTED_AT) {
        annotations.insert(REQUESTED_AT_ANNOTATION.to_owned(), at);
    }
    meta
}

/// Why Lockstep cannot serve `ks` as written, if it cannot: a source kind other than
/// `GitRepository`, or spec fields it does not implement yet (named, so nothing is
/// ignored in silence).
pub fn refusal(ks: &Kustomization) -> Option<String> {
    let kind = &ks.spec.source_ref.kind;
    if kind != "GitRepository" {
        return Some(format!(
            "spec.sourceRef.kind {kind} is not served by Lockstep; only GitRepository is"
        ));
    }
    let unserved = ks.unserved();
    (!unserved.is_empty()).then(|| {
        format!(
            "spec.{} not served by Lockstep yet; remove {} or keep this Kustomization on Flux \
             (docs/flux.md lists what is served)",
            unserved.join(", spec."),
            if unserved.len() == 1 { "it" } else { "them" }
        )
    })
}

/// The `Sync` that does what `ks` asks. Flux corrects drift at every interval, so
/// `selfHeal` is on.
pub fn sync(ks: &Kustomization) -> Sync {
    let spec = &ks.spec;
    let mut sync = Sync::new(
        ks.metadata.name.as_deref().unwrap_or_default(),
        SyncSpec {
            source_ref: CrossNamespaceObjectReference {
                kind: "GitSource".into(),
                name: spec.source_ref.name.clone(),
                namespace: spec.source_ref.namespace.clone(),
            },
            path: spec.path.clone(),
            interval: spec.interval.clone(),
            retry_interval: spec.retry_interval.clone(),
            prune: spec.prune,
            self_heal: true,
            target_namespace: spec.target_namespace.clone(),
            depends_on: spec
                .depends_on
                .iter()
                .map(|d| DependsOn {
                    name: d.name.clone(),
                    namespace: d.namespace.clone(),
                })
                .collect(),
            wait: spec.wait,
            deletion_policy: spec.deletion_policy,
            health_checks: health_checks(ks),
            kube_config: spec
                .kube_config
                .as_ref()
                .and_then(|k| k.secret_ref.clone())
                .map(|secret_ref| KubeConfigRef { secret_ref }),
            timeout: spec.timeout.clone(),
            suspend: spec.suspend,
            force: spec.force,
            service_account_name: spec.service_account_name.clone(),
            decryption: spec.decryption.as_ref().map(|d| Decryption {
                provider: d.provider.clone(),
                secret_ref: d.secret_ref.clone(),
            }),
            post_build: spec.post_build.clone(),
            overlay: ks.overlay(),
            common_metadata: spec.common_metadata.clone(),
            ..SyncSpec::default()
        },
    );
    sync.metadata = metadata(&ks.metadata);
    sync.status = ks.status.as_ref().map(sync_status);
    sync
}

/// `healthChecks` as Flux reads them: an empty `apiVersion` is `apps/v1`, and the
/// Kustomization itself is left out (it would wait for itself).
fn health_checks(ks: &Kustomization) -> Vec<HealthCheck> {
    ks.spec
        .health_checks
        .iter()
        .filter(|check| {
            !(check.kind == "Kustomization"
                && Some(&check.name) == ks.metadata.name.as_ref()
                && check.namespace == ks.metadata.namespace)
        })
        .map(|check| HealthCheck {
            api_version: check
                .api_version
                .clone()
                .filter(|v| !v.is_empty())
                .unwrap_or_else(|| "apps/v1".into()),
            kind: check.kind.clone(),
            name: check.name.clone(),
            namespace: check.namespace.clone().filter(|ns| !ns.is_empty()),
        })
        .collect()
}

fn sync_status(status: &KustomizationStatus) -> SyncStatus {
    SyncStatus {
        conditions: status.conditions.clone(),
        observed_generation: status.observed_generation,
        last_attempted_revision: status.last_attempted_revision.clone(),
        last_applied_revision: status.last_applied_revision.clone(),
        inventory: status
            .inventory
            .iter()
            .flat_map(|i| &i.entries)
            .filter_map(InventoryRef::entry)
            .collect(),
        last_handled_requested_at: status.last_handled_reconcile_at.clone(),
        ..SyncStatus::default()
    }
}

/// The Kustomization `sync` was read from (its metadata: what a status write names).
pub fn kustomization(sync: &Sync) -> Kustomization {
    let mut ks = Kustomization::new(
        sync.metadata.name.as_deref().unwrap_or_default(),
        Default::default(),
    );
    ks.metadata = sync.metadata.clone();
    ks
}

/// `status` as Flux writes a Kustomization's: the inventory as `<ns>_<name>_<group>_<kind>`
/// ids.
pub fn kustomization_status(status: &SyncStatus) -> KustomizationStatus {
    KustomizationStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions.clone(),
        last_applied_revision: status.last_applied_revision.clone(),
        last_attempted_revision: status.last_attempted_revision.clone(),
        last_handled_reconcile_at: status.last_handled_requested_at.clone(),
        inventory: (!status.inventory.is_empty()).then(|| FluxInventory {
            entries: status.inventory.iter().map(InventoryRef::from).collect(),
        }),
    }
}

/// The `GitSource` that fetches what `repo` asks, and why part of it cannot be served,
/// if it cannot. Flux's default ref is branch `master`.
pub fn git_source(repo: &GitRepository) -> (GitSource, Option<String>) {
    let spec = &repo.spec;
    let unserved = repo.unserved();
    let mut refusal = (!unserved.is_empty()).then(|| {
        format!(
            "spec.{} not served by Lockstep yet; remove {} or keep this GitRepository on Flux \
             (docs/flux.md lists what is served)",
            unserved.join(", spec."),
            if unserved.len() == 1 { "it" } else { "them" }
        )
    });
    let mut git_ref = GitRef::default();
    match &spec.reference {
        None => git_ref.branch = Some("master".into()),
        Some(r) => {
            git_ref.branch = r.branch.clone();
            git_ref.tag = r.tag.clone();
            git_ref.semver = r.semver.clone();
            git_ref.commit = r.commit.clone();
            if let Some(name) = &r.name {
                if let Some(branch) = name.strip_prefix("refs/heads/") {
                    git_ref.branch = Some(branch.to_owned());
                } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                    git_ref.tag = Some(tag.to_owned());
                } else {
                    refusal = refusal.or(Some(format!(
                        "spec.ref.name {name} is not served by Lockstep yet; only refs/heads/… \
                         and refs/tags/… are"
                    )));
                }
            }
        }
    }
    let verify = spec.verify.as_ref().map(|verify| GitVerify {
        mode: match verify.mode.as_deref() {
            None | Some("HEAD" | "head") => VerifyMode::Head,
            Some("Tag") => VerifyMode::Tag,
            Some("TagAndHEAD") => VerifyMode::TagAndHEAD,
            Some(mode) => {
                refusal.get_or_insert_with(|| {
                    format!("spec.verify.mode {mode} is not one of HEAD, Tag, TagAndHEAD")
                });
                VerifyMode::Head
            }
        },
        secret_ref: verify.secret_ref.clone(),
    });
    let mut source = GitSource::new(
        repo.metadata.name.as_deref().unwrap_or_default(),
        GitSourceSpec {
            url: spec.url.clone(),
            git_ref: Some(git_ref),
            interval: spec.interval.clone(),
            timeout: spec.timeout.clone(),
            secret_ref: spec.secret_ref.clone(),
            suspend: spec.suspend,
            ignore: spec.ignore.clone(),
            verify,
        },
    );
    source.metadata = metadata(&repo.metadata);
    source.status = repo.status.as_ref().map(|status| GitSourceStatus {
        conditions: status
            .conditions
            .iter()
            .filter(|c| SOURCE_CONDITIONS.contains(&c.type_.as_str()))
            .cloned()
            .collect(),
        observed_generation: status.observed_generation,
        last_attempted_revision: status.artifact.as_ref().map(|a| a.revision.clone()),
        last_handled_requested_at: status.last_handled_reconcile_at.clone(),
    });
    (source, refusal)
}

/// A JSON merge patch of `repo`'s status that replaces what Flux's source-controller left
/// there and Lockstep does not keep up to date — conditions outside [`SOURCE_CONDITIONS`],
/// and the artifact Flux stored (its URL, path, tarball digest, size and metadata) — or
/// `None` when Flux left nothing. Server-side apply cannot remove fields another field
/// manager owns, so this is done once, when Lockstep takes a GitRepository over.
pub fn flux_leftovers(repo: &GitRepository) -> Option<serde_json::Value> {
    let status = repo.status.as_ref()?;
    let kept: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| SOURCE_CONDITIONS.contains(&c.type_.as_str()))
        .collect();
    let stored = status.artifact.as_ref().filter(|a| !a.url.is_empty());
    if kept.len() == status.conditions.len() && stored.is_none() {
        return None;
    }
    let mut patch = serde_json::json!({"status": {"conditions": kept}});
    if let Some(artifact) = stored {
        patch["status"]["artifact"] = serde_json::json!({
            "url": "", "path": "", "digest": digest(&artifact.revision),
            "size": null, "metadata": null,
        });
    }
    Some(patch)
}

/// The artifact digest Lockstep writes: the commit's own (`sha1:<hex>`, Git's digest of the
/// commit and so of its tree), since it makes no tarball to digest. Flux's CRDs require one.
fn digest(revision: &str) -> String {
    revision
        .rsplit_once('@')
        .map_or(revision, |(_, digest)| digest)
        .to_owned()
}

/// The GitRepository `source` was read from (its metadata: what a status write names).
pub fn repository(source: &GitSource) -> GitRepository {
    let mut repo = GitRepository::new(
        source.metadata.name.as_deref().unwrap_or_default(),
        Default::default(),
    );
    repo.metadata = source.metadata.clone();
    repo
}

/// `status` as Flux writes a GitRepository's: the revision in `artifact`. The checkout
/// stays in this process, so the artifact names no URL to download it from; its time is
/// when `Ready` last changed.
pub fn repository_status(status: &GitSourceStatus) -> GitRepositoryStatus {
    let ready = status.conditions.iter().find(|c| c.type_ == READY);
    GitRepositoryStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions.clone(),
        artifact: status
            .last_attempted_revision
            .as_ref()
            .map(|revision| Artifact {
                path: String::new(),
                url: String::new(),
                revision: revision.clone(),
                digest: Some(digest(revision)),
                last_update_time: ready
                    .map(|c| c.last_transition_time.clone())
                    .unwrap_or_default(),
            }),
        last_handled_reconcile_at: status.last_handled_requested_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_api::InventoryEntry;
    use serde_json::json;

    fn repository(reference: serde_json::Value) -> GitRepository {
        serde_json::from_value(json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
            "metadata": {"name": "repo", "namespace": "flux-system",
                         "annotations": {"reconcile.fluxcd.io/requestedAt": "t1"}},
            "spec": {"url": "https://example.invalid/repo", "interval": "1m", "ref": reference},
        }))
        .unwrap()
    }

    /// Flux's refs map onto the GitSource's; a full ref that is neither a branch nor a tag
    /// is refused by name, and `flux reconcile`'s annotation is read as Lockstep's.
    #[test]
    fn git_repository_refs_and_requests() {
        let (source, refusal) = git_source(&repository(json!({"name": "refs/tags/v1.2.0"})));
        assert_eq!(refusal, None);
        assert_eq!(source.spec.git_ref.unwrap().tag.as_deref(), Some("v1.2.0"));
        let annotations = source.metadata.annotations.unwrap();
        assert_eq!(annotations[REQUESTED_AT_ANNOTATION], "t1");
        assert!(!annotations.contains_key(FLUX_REQUESTED_AT));
        let (_, refusal) = git_source(&repository(json!({"name": "refs/pull/7/head"})));
        assert!(refusal.unwrap().contains("refs/pull/7/head"));
        let mut unset = repository(json!({}));
        unset.spec.reference = None;
        let (source, _) = git_source(&unset);
        assert_eq!(
            source.spec.git_ref.unwrap().branch.as_deref(),
            Some("master")
        );
    }

    /// `verify` modes as Flux spells them (`head` is its older spelling of `HEAD`); any
    /// other mode is refused by name.
    #[test]
    fn verify_modes() {
        let mut repo = repository(json!({"branch": "main"}));
        for (mode, want) in [
            (None, VerifyMode::Head),
            (Some("head"), VerifyMode::Head),
            (Some("TagAndHEAD"), VerifyMode::TagAndHEAD),
        ] {
            repo.spec.verify = Some(
                serde_json::from_value(json!({"mode": mode, "secretRef": {"name": "keys"}}))
                    .unwrap(),
            );
            let (source, refusal) = git_source(&repo);
            assert_eq!((source.spec.verify.unwrap().mode, refusal), (want, None));
        }
        repo.spec.verify = Some(
            serde_json::from_value(json!({"mode": "Commit", "secretRef": {"name": "keys"}}))
                .unwrap(),
        );
        assert!(
            git_source(&repo)
                .1
                .unwrap()
                .contains("spec.verify.mode Commit")
        );
    }

    /// What Flux's source-controller left is replaced once; what Lockstep writes is left
    /// alone (so the patch cannot repeat at every reconcile).
    #[test]
    fn flux_leftovers_are_replaced_once() {
        let condition = |type_: &str| {
            json!({"type": type_, "status": "True", "reason": "Succeeded",
                   "message": "stored artifact for revision 'main@sha1:abc'",
                   "lastTransitionTime": "2026-12-04T20:00:00Z"})
        };
        let mut repo = repository(json!({"branch": "main"}));
        repo.status = serde_json::from_value(json!({
            "conditions": [condition("Ready"), condition("ArtifactInStorage")],
            "artifact": {"path": "gitrepository/ns/repo/abc.tar.gz",
                         "url": "http://source-controller/gitrepository/ns/repo/abc.tar.gz",
                         "revision": "main@sha1:abc", "digest": "sha256:f00", "size": 343,
                         "lastUpdateTime": "2026-12-04T20:00:00Z"},
        }))
        .unwrap();
        let patch = flux_leftovers(&repo).unwrap();
        assert_eq!(patch["status"]["conditions"], json!([condition("Ready")]));
        assert_eq!(
            patch["status"]["artifact"],
            json!({"url": "", "path": "", "digest": "sha1:abc", "size": null, "metadata": null})
        );
        let (source, _) = git_source(&repo);
        let status = source.status.unwrap();
        assert_eq!(status.conditions.len(), 1, "{status:?}");
        repo.status = Some(repository_status(&status));
        assert_eq!(flux_leftovers(&repo), None);
    }

    /// What a reconcile records reads back the same through Flux's status format.
    #[test]
    fn status_round_trips_through_flux_format() {
        let status = SyncStatus {
            observed_generation: Some(3),
            last_attempted_revision: Some("main@sha1:abc".into()),
            last_applied_revision: Some("main@sha1:abc".into()),
            inventory: vec![InventoryEntry {
                group: "apps".into(),
                version: "v1".into(),
                kind: "Deployment".into(),
                namespace: "web".into(),
                name: "front".into(),
            }],
            last_handled_requested_at: Some("t1".into()),
            ..SyncStatus::default()
        };
        let flux = kustomization_status(&status);
        assert_eq!(
            flux.inventory.as_ref().unwrap().entries[0].id,
            "web_front_apps_Deployment"
        );
        assert_eq!(sync_status(&flux), status);
    }

    /// A source kind or a field Lockstep does not serve is named.
    #[test]
    fn unserved_kustomizations_are_refused_by_name() {
        let ks = |spec: serde_json::Value| -> Kustomization {
            serde_json::from_value(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"name": "apps"}, "spec": spec,
            }))
            .unwrap()
        };
        let git = json!({"kind": "GitRepository", "name": "repo"});
        let served = ks(json!({"sourceRef": git, "interval": "1m", "prune": true}));
        assert_eq!(refusal(&served), None);
        let oci = ks(json!({"sourceRef": {"kind": "OCIRepository", "name": "r"},
                            "interval": "1m", "prune": true}));
        assert!(refusal(&oci).unwrap().contains("OCIRepository"));
        let checked = ks(json!({"sourceRef": git, "interval": "1m", "prune": true,
                                "healthCheckExprs": [], "kubeConfig": {}, "patches": []}));
        assert!(
            refusal(&checked)
                .unwrap()
                .starts_with("spec.healthCheckExprs, spec.kubeConfig not served")
        );
    }
}

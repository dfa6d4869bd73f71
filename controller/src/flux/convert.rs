//! Flux's resources as the in-memory `GitSource` and `Sync` the reconcilers work on, and
//! their status back in Flux's format. Nothing here is written to the cluster as a
//! Lockstep resource: the conversions exist only for the length of a reconcile.

use kube::api::ObjectMeta;
use lockstep_api::flux::{
    Artifact, FluxDependency, FluxInventory, GitRepository, GitRepositoryStatus, HelmRelease,
    HelmReleaseSpec, HelmReleaseStatus, InventoryRef, Kustomization, KustomizationStatus,
    REQUESTED_AT_ANNOTATION as FLUX_REQUESTED_AT,
};
use lockstep_api::{
    CrossNamespaceObjectReference, Decryption, DependsOn, GitRef, GitSource, GitSourceSpec,
    GitSourceStatus, GitVerify, HealthCheck, Helm, HelmStorage, InventoryEntry, KubeConfigRef,
    REQUESTED_AT_ANNOTATION, Sync, SyncSpec, SyncStatus, ValuesFrom, ValuesFromKind, VerifyMode,
};
use sha2::Digest as _;

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
/// `GitRepository` and `OCIRepository`, or spec fields it does not implement yet (named, so
/// nothing is ignored in silence).
pub fn refusal(ks: &Kustomization) -> Option<String> {
    let kind = &ks.spec.source_ref.kind;
    if kind != GIT_REPOSITORY && kind != OCI_REPOSITORY {
        return Some(format!(
            "spec.sourceRef.kind {kind} is not served by Lockstep; only GitRepository and \
             OCIRepository are"
        ));
    }
    unserved_refusal("Kustomization", &ks.unserved())
}

/// The `Sync` that does what `ks` asks. Flux corrects drift at every interval, so
/// `selfHeal` is on.
pub fn sync(ks: &Kustomization) -> Sync {
    let spec = &ks.spec;
    let mut sync = Sync::new(
        ks.metadata.name.as_deref().unwrap_or_default(),
        SyncSpec {
            source_ref: CrossNamespaceObjectReference {
                kind: match spec.source_ref.kind.as_str() {
                    OCI_REPOSITORY => OCI_REPOSITORY,
                    _ => "GitSource",
                }
                .into(),
                name: spec.source_ref.name.clone(),
                namespace: spec.source_ref.namespace.clone(),
            },
            path: spec.path.clone(),
            interval: spec.interval.clone(),
            retry_interval: spec.retry_interval.clone(),
            prune: spec.prune,
            self_heal: true,
            target_namespace: spec.target_namespace.clone(),
            depends_on: depends_on(&spec.depends_on),
            wait: spec.wait,
            deletion_policy: spec.deletion_policy,
            health_checks: health_checks(ks),
            health_check_exprs: spec.health_check_exprs.clone(),
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

fn depends_on(dependencies: &[FluxDependency]) -> Vec<DependsOn> {
    dependencies
        .iter()
        .map(|d| DependsOn {
            name: d.name.clone(),
            namespace: d.namespace.clone(),
            ready_expr: d.ready_expr.clone(),
        })
        .collect()
}

/// The refusal of a resource whose `unserved` spec fields are set, naming them.
fn unserved_refusal<S: AsRef<str>>(kind: &str, unserved: &[S]) -> Option<String> {
    let unserved: Vec<&str> = unserved.iter().map(AsRef::as_ref).collect();
    (!unserved.is_empty()).then(|| {
        format!(
            "spec.{} not served by Lockstep yet; remove {} or keep this {kind} on Flux \
             (docs/flux.md lists what is served)",
            unserved.join(", spec."),
            if unserved.len() == 1 { "it" } else { "them" }
        )
    })
}

/// `path` without `./` segments and trailing slashes (`./charts/app/` → `charts/app`).
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Why Lockstep cannot serve `hr` as written, if it cannot: no chart from a
/// GitRepository (`chartRef`, a HelmRepository, an OCIRepository, …), a field it does not
/// serve, a `crds` policy Flux does not know, a `valuesFrom` kind other than ConfigMap or
/// Secret, or `chart.spec.valuesFiles` that do not start with the chart's own `values.yaml`.
pub fn helm_refusal(hr: &HelmRelease) -> Option<String> {
    let spec = &hr.spec;
    match (&spec.chart, &spec.chart_ref) {
        (None, None) => return Some("neither spec.chart nor spec.chartRef is set".into()),
        (Some(_), Some(_)) => {
            return Some("spec.chart and spec.chartRef are both set; keep one".into());
        }
        (None, Some(reference)) if reference.kind != OCI_REPOSITORY => {
            return Some(format!(
                "spec.chartRef.kind {} is not served by Lockstep; only OCIRepository is",
                reference.kind
            ));
        }
        (Some(chart), None)
            if !matches!(
                chart.spec.source_ref.kind.as_str(),
                GIT_REPOSITORY | HELM_REPOSITORY
            ) =>
        {
            return Some(format!(
                "spec.chart.spec.sourceRef.kind {} is not served by Lockstep; only \
                 GitRepository and HelmRepository are (an OCI chart is a chartRef to an \
                 OCIRepository)",
                chart.spec.source_ref.kind
            ));
        }
        _ => {}
    }
    if let Some(refusal) = unserved_refusal("HelmRelease", &hr.unserved()) {
        return Some(refusal);
    }
    for (field, action) in [("install", &spec.install), ("upgrade", &spec.upgrade)] {
        let crds = action.as_ref().and_then(|a| a.crds.as_deref());
        if let Some(crds) = crds.filter(|c| !["Skip", "Create", "CreateReplace"].contains(c)) {
            return Some(format!(
                "spec.{field}.crds {crds} is not one of Skip, Create, CreateReplace"
            ));
        }
    }
    if disable_hooks(&spec.install) != disable_hooks(&spec.upgrade) {
        return Some(
            "spec.install.disableHooks and spec.upgrade.disableHooks differ: Lockstep serves \
             them only together (set both, or neither)"
                .into(),
        );
    }
    if let Some((i, from)) = spec
        .values_from
        .iter()
        .enumerate()
        .find(|(_, from)| !matches!(from.kind.as_str(), "ConfigMap" | "Secret"))
    {
        return Some(format!(
            "spec.valuesFrom[{i}].kind {} is not ConfigMap or Secret",
            from.kind
        ));
    }
    let own = match chart_path(hr) {
        ChartPath::Git(folder) => format!("{folder}/values.yaml"),
        ChartPath::Repository(_) | ChartPath::Oci => "values.yaml".to_owned(),
    };
    match spec
        .chart
        .as_ref()
        .and_then(|c| c.spec.values_files.first())
    {
        Some(first) if clean(first) != own.trim_start_matches('/') => Some(format!(
            "spec.chart.spec.valuesFiles must start with the chart's own {own}: Flux replaces \
             the chart's values with the files listed, Lockstep merges them over it"
        )),
        _ => None,
    }
}

/// A HelmRelease's `valuesFrom` as the helm block's (the kinds were checked by
/// [`helm_refusal`]: anything but a Secret is a ConfigMap here).
fn values_from(from: &[lockstep_api::flux::ValuesReference]) -> Vec<ValuesFrom> {
    from.iter()
        .map(|from| ValuesFrom {
            kind: if from.kind == "Secret" {
                ValuesFromKind::Secret
            } else {
                ValuesFromKind::ConfigMap
            },
            name: from.name.clone(),
            values_key: from.values_key.clone(),
            optional: from.optional,
            target_path: from.target_path.clone(),
        })
        .collect()
}

/// Whether `install` or `upgrade` says `disableHooks: true`.
fn disable_hooks(action: &Option<lockstep_api::flux::CrdAction>) -> bool {
    action.as_ref().is_some_and(|a| a.disable_hooks)
}

/// The kinds a HelmRelease's chart may come from.
pub const GIT_REPOSITORY: &str = "GitRepository";
pub use crate::sync::chart::HELM_REPOSITORY;

pub use crate::sync::chart::OCI_REPOSITORY;

/// Where a HelmRelease's chart is: a folder of a GitRepository, a chart (by name) of a
/// HelmRepository, or the chart an OCIRepository (`chartRef`) names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChartPath {
    /// The folder, cleaned (`charts/app`).
    Git(String),
    /// The chart name.
    Repository(String),
    /// The OCIRepository's chart: the artifact is its folder.
    Oci,
}

/// Where `hr`'s chart is.
pub fn chart_path(hr: &HelmRelease) -> ChartPath {
    let chart = hr.spec.chart.as_ref().map(|c| &c.spec);
    match chart {
        Some(c) if c.source_ref.kind == HELM_REPOSITORY => ChartPath::Repository(c.chart.clone()),
        None if hr.spec.chart_ref.is_some() => ChartPath::Oci,
        _ => ChartPath::Git(chart.map(|c| clean(&c.chart)).unwrap_or_default()),
    }
}

/// The `Sync` that does what `hr` asks: a `helm` Sync of the chart folder of the
/// GitRepository, or of the chart of the HelmRepository (fetched by the Sync path,
/// [`crate::sync::chart`]), pruning (Flux uninstalls what a release no longer renders),
/// waiting for what it applied to be healthy (helm-controller installs and upgrades with
/// `--wait` unless `disableWait`, which is refused by name) and correcting drift at every
/// interval.
/// Its `valuesFrom` is read by the Sync path ([`crate::sync`]'s values) at each render.
pub fn helm_sync(hr: &HelmRelease) -> Sync {
    let spec = &hr.spec;
    let name = hr.metadata.name.as_deref().unwrap_or_default();
    let chart = spec.chart.as_ref().map(|c| &c.spec);
    let (chart_path, up, kind) = match chart_path(hr) {
        // Flux's values files are relative to the source root; the engine's to the chart.
        ChartPath::Git(path) => (
            Some(path.clone()),
            "../".repeat(path.split('/').filter(|p| !p.is_empty()).count()),
            "GitSource",
        ),
        // A repository chart's values files are inside the chart already.
        ChartPath::Repository(name) => (Some(name), String::new(), HELM_REPOSITORY),
        // The OCIRepository names the chart; its artifact is the chart folder.
        ChartPath::Oci => (None, String::new(), OCI_REPOSITORY),
    };
    let reference = chart.map(|c| &c.source_ref).or(spec.chart_ref.as_ref());
    let source_ref = CrossNamespaceObjectReference {
        kind: kind.into(),
        name: reference.map(|r| r.name.clone()).unwrap_or_default(),
        namespace: reference.and_then(|r| r.namespace.clone()),
    };
    let version = chart
        .filter(|_| kind == HELM_REPOSITORY)
        .and_then(|c| c.version.clone());
    let release_name =
        shorten(
            &spec
                .release_name
                .clone()
                .unwrap_or_else(|| match &spec.target_namespace {
                    Some(ns) => format!("{ns}-{name}"),
                    None => name.to_owned(),
                }),
        );
    let skip = |action: &Option<lockstep_api::flux::CrdAction>| {
        action.as_ref().and_then(|a| a.crds.as_deref()) == Some("Skip")
    };
    let mut sync = Sync::new(
        name,
        SyncSpec {
            source_ref,
            path: chart_path.clone(),
            interval: spec.interval.clone(),
            prune: true,
            self_heal: true,
            wait: true,
            target_namespace: spec.target_namespace.clone(),
            depends_on: depends_on(&spec.depends_on),
            timeout: spec.timeout.clone(),
            suspend: spec.suspend,
            service_account_name: spec.service_account_name.clone(),
            create_namespace: spec.install.as_ref().is_some_and(|i| i.create_namespace),
            helm: Some(Helm {
                chart: chart_path,
                release_name: Some(release_name),
                values_files: chart
                    .iter()
                    .flat_map(|c| &c.values_files)
                    .skip(1)
                    .map(|file| format!("{up}{}", clean(file)))
                    .collect(),
                ignore_missing_values_files: chart.is_some_and(|c| c.ignore_missing_values_files),
                values: spec.values.clone(),
                values_from: values_from(&spec.values_from),
                include_crds: Some(!skip(&spec.install)),
                disable_hooks: disable_hooks(&spec.install),
                post_renderers: spec.post_renderers.clone(),
                post_render_strategy: spec.post_render_strategy,
                version,
                // Flux's storage: the HelmRelease's namespace, five revisions.
                storage: Some(HelmStorage {
                    namespace: spec
                        .storage_namespace
                        .clone()
                        .or_else(|| hr.metadata.namespace.clone()),
                    max_history: Some(spec.max_history.unwrap_or(5)),
                }),
                ..Helm::default()
            }),
            ..SyncSpec::default()
        },
    );
    sync.metadata = metadata(&hr.metadata);
    sync.status = hr.status.as_ref().map(|status| SyncStatus {
        conditions: status.conditions.clone(),
        observed_generation: status.observed_generation,
        last_attempted_revision: match &status.last_attempted_revision_digest {
            Some(digest) => status
                .last_attempted_revision
                .as_ref()
                .map(|version| format!("{version}@{digest}")),
            None => status.last_attempted_revision.clone(),
        },
        inventory: entries(status.inventory.as_ref()),
        last_handled_requested_at: status.last_handled_reconcile_at.clone(),
        ..SyncStatus::default()
    });
    sync
}

/// The HelmRelease `sync` was read from (its metadata: what a status write names).
pub fn helm_release(sync: &Sync) -> HelmRelease {
    HelmRelease {
        metadata: sync.metadata.clone(),
        spec: HelmReleaseSpec::default(),
        status: None,
    }
}

/// The entries of Flux's `status.inventory`.
fn entries(inventory: Option<&FluxInventory>) -> Vec<InventoryEntry> {
    inventory
        .iter()
        .flat_map(|i| &i.entries)
        .filter_map(InventoryRef::entry)
        .collect()
}

/// `inventory` as Flux's `status.inventory`: `<ns>_<name>_<group>_<kind>` ids.
fn flux_inventory(inventory: &[InventoryEntry]) -> Option<FluxInventory> {
    (!inventory.is_empty()).then(|| FluxInventory {
        entries: inventory.iter().map(InventoryRef::from).collect(),
    })
}

/// A Helm release name as helm-controller shortens one over Helm's 53 characters: the
/// first 40, a dash, and the first 12 hex digits of the whole name's SHA-256.
fn shorten(name: &str) -> String {
    const MAX: usize = 53;
    const HASH: usize = 12;
    if name.len() <= MAX {
        return name.to_owned();
    }
    let sum = hex::encode(sha2::Sha256::digest(name.as_bytes()));
    let cut = name.get(..MAX - HASH - 1).unwrap_or(name);
    format!("{cut}-{}", &sum[..HASH])
}

/// `status` as Flux writes a HelmRelease's, plus the inventory pruning reads. Flux's
/// `history` (snapshots of the release records) is not written. The
/// revision of a repository chart is its version, as helm-controller writes it, and the
/// archive's digest goes into `lastAttemptedRevisionDigest` ([`helm_sync`] joins them
/// again); a chart of a GitRepository keeps the commit's revision, where Flux would write
/// the version in its `Chart.yaml`.
pub fn helm_release_status(status: &SyncStatus) -> HelmReleaseStatus {
    let attempted = status.last_attempted_revision.as_deref();
    let (revision, digest) = match attempted.and_then(|r| r.split_once("@sha256:")) {
        Some((version, hex)) => (Some(version.to_owned()), Some(format!("sha256:{hex}"))),
        None => (attempted.map(str::to_owned), None),
    };
    HelmReleaseStatus {
        observed_generation: status.observed_generation,
        conditions: status.conditions.clone(),
        last_attempted_revision: revision,
        last_attempted_revision_digest: digest,
        last_handled_reconcile_at: status.last_handled_requested_at.clone(),
        inventory: flux_inventory(&status.inventory),
    }
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
        inventory: entries(status.inventory.as_ref()),
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
        inventory: flux_inventory(&status.inventory),
        // Kept per Kustomization by the status writer (`crate::flux::history`).
        history: Vec::new(),
    }
}

/// The `GitSource` that fetches what `repo` asks, and why part of it cannot be served,
/// if it cannot. Flux's default ref is branch `master`.
pub fn git_source(repo: &GitRepository) -> (GitSource, Option<String>) {
    let spec = &repo.spec;
    let mut refusal = unserved_refusal("GitRepository", &repo.unserved());
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

    fn helm_release(spec: serde_json::Value) -> HelmRelease {
        serde_json::from_value(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web", "namespace": "apps"}, "spec": spec,
        }))
        .unwrap()
    }

    /// A HelmRelease is the helm Sync of its chart folder: Flux's default release name,
    /// values files made relative to the chart (the chart's own first, then dropped),
    /// `install.crds: Skip` leaving CRDs out.
    #[test]
    fn helm_releases_are_helm_syncs() {
        let hr = helm_release(json!({
            "interval": "5m", "targetNamespace": "web",
            "chart": {"spec": {"chart": "./charts/app/",
                               "sourceRef": {"kind": "GitRepository", "name": "repo"},
                               "valuesFiles": ["charts/app/values.yaml", "./env/prod.yaml"]}},
            "install": {"crds": "Skip"},
        }));
        assert_eq!(helm_refusal(&hr), None);
        let sync = helm_sync(&hr);
        assert_eq!(sync.spec.source_ref.name, "repo");
        let helm = sync.spec.helm.unwrap();
        assert_eq!(helm.chart.as_deref(), Some("charts/app"));
        assert_eq!(helm.release_name.as_deref(), Some("web-web"));
        assert_eq!(helm.values_files, ["../../env/prod.yaml"]);
        assert_eq!(helm.include_crds, Some(false));
        let storage = helm.storage.as_ref().unwrap();
        assert_eq!(
            storage.namespace.as_deref(),
            Some("apps"),
            "the HelmRelease's"
        );
        assert_eq!(storage.max_history, Some(5), "Flux's default");
        assert!(sync.spec.prune && sync.spec.wait);
        assert!(!helm.disable_hooks);
        let both = helm_release(json!({
            "interval": "1m",
            "chart": {"spec": {"chart": "app", "sourceRef": {"kind": "GitRepository", "name": "r"}}},
            "install": {"disableHooks": true}, "upgrade": {"disableHooks": true},
        }));
        assert_eq!(helm_refusal(&both), None);
        assert!(helm_sync(&both).spec.helm.unwrap().disable_hooks);
        let one = helm_release(json!({
            "interval": "1m",
            "chart": {"spec": {"chart": "app", "sourceRef": {"kind": "GitRepository", "name": "r"}}},
            "install": {"disableHooks": true},
        }));
        assert!(helm_refusal(&one).unwrap().contains("disableHooks"));
    }

    /// Release names over Helm's 53 characters are shortened as helm-controller shortens
    /// them (its own test vectors), whether defaulted or given.
    #[test]
    fn long_release_names_are_shortened_as_flux_does() {
        assert_eq!(shorten("release-name"), "release-name");
        let long = "release-name-with-very-long-name-which-is-longer-than-53-characters";
        assert_eq!(
            shorten(long),
            "release-name-with-very-long-name-which-i-788ca0d0d7b0"
        );
        let long = "another-release-name-with-very-long-name-which-is-longer-than-53-characters";
        assert_eq!(
            shorten(long),
            "another-release-name-with-very-long-name-7e72150d5a36"
        );
        let hr = helm_release(json!({
            "interval": "5m", "targetNamespace": "a-rather-long-target-namespace-name",
            "chart": {"spec": {"chart": "app", "sourceRef": {"kind": "GitRepository", "name": "r"}}},
        }));
        let name = helm_sync(&hr).spec.helm.unwrap().release_name.unwrap();
        assert_eq!(name, "a-rather-long-target-namespace-name-web");
        let hr = helm_release(json!({
            "interval": "5m", "releaseName": long,
            "chart": {"spec": {"chart": "app", "sourceRef": {"kind": "GitRepository", "name": "r"}}},
        }));
        let name = helm_sync(&hr).spec.helm.unwrap().release_name.unwrap();
        assert_eq!(name.len(), 53);
    }

    /// A repository chart is the helm Sync of that chart of the HelmRepository, and its
    /// values files are inside the chart.
    #[test]
    fn a_repository_chart_is_the_helm_sync_of_its_own_artifact() {
        let hr = helm_release(json!({
            "interval": "1m",
            "chart": {"spec": {"chart": "podinfo", "version": "6.x",
                               "sourceRef": {"kind": "HelmRepository", "name": "charts"},
                               "valuesFiles": ["values.yaml", "values-prod.yaml"],
                               "ignoreMissingValuesFiles": true}},
        }));
        assert_eq!(helm_refusal(&hr), None);
        assert_eq!(chart_path(&hr), ChartPath::Repository("podinfo".into()));
        let sync = helm_sync(&hr);
        assert_eq!(sync.spec.source_ref.kind, HELM_REPOSITORY);
        assert_eq!(sync.spec.source_ref.name, "charts");
        let helm = sync.spec.helm.unwrap();
        assert_eq!(helm.chart.as_deref(), Some("podinfo"));
        assert_eq!(helm.version.as_deref(), Some("6.x"));
        assert_eq!(helm.values_files, ["values-prod.yaml"]);
        assert!(helm.ignore_missing_values_files);

        // The status says the version, as Flux does, and keeps the digest apart; read back,
        // the Sync sees the revision it tried, so it does not try it again.
        let revision = "6.1.0@sha256:0a1b";
        let status = SyncStatus {
            last_attempted_revision: Some(revision.into()),
            ..SyncStatus::default()
        };
        let mut hr = hr;
        hr.status = Some(helm_release_status(&status));
        let written = hr.status.as_ref().unwrap();
        assert_eq!(written.last_attempted_revision.as_deref(), Some("6.1.0"));
        assert_eq!(
            written.last_attempted_revision_digest.as_deref(),
            Some("sha256:0a1b")
        );
        let read = helm_sync(&hr).status.unwrap();
        assert_eq!(read.last_attempted_revision.as_deref(), Some(revision));
    }

    /// Other chart sources, `chartRef`, unknown CRD policies, Secret values and values
    /// files that would replace the chart's own (a Git chart's `<folder>/values.yaml`, a
    /// repository chart's `values.yaml`) are refused by name.
    #[test]
    fn unserved_helm_releases_are_refused_by_name() {
        let chart = |kind: &str| json!({"spec": {"chart": "app", "sourceRef": {"kind": kind, "name": "r"}}});
        for (spec, named) in [
            (
                json!({"interval": "1m", "chartRef": {"kind": "HelmChart", "name": "r"}}),
                "spec.chartRef.kind HelmChart",
            ),
            (
                json!({"interval": "1m", "chart": chart("GitRepository"),
                    "chartRef": {"kind": "OCIRepository", "name": "r"}}),
                "both set",
            ),
            (
                json!({"interval": "1m"}),
                "neither spec.chart nor spec.chartRef",
            ),
            (
                json!({"interval": "1m", "chart": chart("OCIRepository")}),
                "a chartRef to an OCIRepository",
            ),
            (
                json!({"interval": "1m", "chart": {"spec": {"chart": "app",
                    "sourceRef": {"kind": "HelmRepository", "name": "r"},
                    "valuesFiles": ["app/values.yaml"]}}}),
                "the chart's own values.yaml",
            ),
            (
                json!({"interval": "1m", "chart": chart("GitRepository"),
                    "upgrade": {"crds": "Replace"}}),
                "spec.upgrade.crds Replace",
            ),
            (
                json!({"interval": "1m", "chart": chart("GitRepository"),
                    "valuesFrom": [{"kind": "Vault", "name": "s"}]}),
                "valuesFrom[0].kind",
            ),
            (
                json!({"interval": "1m", "chart": {"spec": {"chart": "app",
                    "sourceRef": {"kind": "GitRepository", "name": "r"},
                    "valuesFiles": ["prod.yaml"]}}}),
                "app/values.yaml",
            ),
        ] {
            let refusal = helm_refusal(&helm_release(spec)).unwrap();
            assert!(refusal.contains(named), "{refusal}");
        }
    }

    /// A `chartRef` to an OCIRepository is the Sync of that OCIRepository's chart: the
    /// artifact is the chart folder, so no path, chart or version is set.
    #[test]
    fn a_chart_ref_is_the_sync_of_its_oci_repository() {
        let hr = helm_release(json!({"interval": "1m", "chartRef": {
            "kind": "OCIRepository", "name": "web", "namespace": "charts"}}));
        assert_eq!(helm_refusal(&hr), None);
        let sync = helm_sync(&hr);
        let reference = &sync.spec.source_ref;
        assert_eq!(
            (reference.kind.as_str(), reference.name.as_str()),
            ("OCIRepository", "web")
        );
        assert_eq!(reference.namespace.as_deref(), Some("charts"));
        let helm = sync.spec.helm.unwrap();
        assert_eq!(
            (sync.spec.path, helm.chart, helm.version),
            (None, None, None)
        );
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
                            "interval": "1m", "prune": true, "path": "./app",
                            "dependsOn": [{"name": "infra", "readyExpr": "dep.spec.suspend"}],
                            "healthCheckExprs": [{"apiVersion": "v1", "current": "true"}]}));
        assert_eq!(refusal(&oci), None);
        let read = sync(&oci);
        assert_eq!(read.spec.source_ref.kind, OCI_REPOSITORY);
        let dependency = &read.spec.depends_on[0];
        assert_eq!(dependency.ready_expr.as_deref(), Some("dep.spec.suspend"));
        assert_eq!(read.spec.health_check_exprs[0].current, "true");
        assert_eq!(
            (read.spec.path.as_deref(), &read.spec.helm),
            (Some("./app"), &None)
        );
        let bucket = ks(json!({"sourceRef": {"kind": "Bucket", "name": "r"},
                               "interval": "1m", "prune": true}));
        assert!(
            refusal(&bucket)
                .unwrap()
                .contains("only GitRepository and OCIRepository")
        );
        let checked = ks(json!({"sourceRef": git, "interval": "1m", "prune": true,
                                "kubeConfig": {}, "patches": []}));
        assert!(
            refusal(&checked)
                .unwrap()
                .starts_with("spec.kubeConfig not served")
        );
    }

    /// Every Kustomization field the engine already serves for a Sync reaches the Sync as
    /// Flux means it; the end-to-end tests prove them through Lockstep's own Sync.
    #[test]
    fn kustomization_fields_reach_the_sync() {
        let ks: Kustomization = serde_json::from_value(json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {
                "sourceRef": {"kind": "GitRepository", "name": "repo"},
                "path": "./apps", "interval": "10m", "retryInterval": "2m", "timeout": "3m",
                "prune": true, "wait": true, "force": true, "suspend": true,
                "targetNamespace": "prod", "serviceAccountName": "deployer",
                "deletionPolicy": "Orphan",
                "kubeConfig": {"secretRef": {"name": "remote", "key": "value.yaml"}},
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}},
            },
        }))
        .unwrap();
        assert_eq!(refusal(&ks), None);
        let spec = serde_json::to_value(sync(&ks).spec).unwrap();
        for (field, want) in [
            ("interval", json!("10m")),
            ("retryInterval", json!("2m")),
            ("timeout", json!("3m")),
            ("prune", json!(true)),
            ("wait", json!(true)),
            ("force", json!(true)),
            ("suspend", json!(true)),
            ("targetNamespace", json!("prod")),
            ("serviceAccountName", json!("deployer")),
            ("deletionPolicy", json!("Orphan")),
            (
                "kubeConfig",
                json!({"secretRef": {"name": "remote", "key": "value.yaml"}}),
            ),
            (
                "decryption",
                json!({"provider": "sops", "secretRef": {"name": "sops-keys"}}),
            ),
        ] {
            assert_eq!(spec[field], want, "spec.{field}");
        }
    }
}

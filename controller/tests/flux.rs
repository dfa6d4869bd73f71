//! Flux's `GitRepository` and `Kustomization` served by the real `lockstep-controller`
//! (`--flux`) from a repository on the real Git HTTP server into the real kube-apiserver,
//! with Lockstep's generated subset of Flux's CRDs: objects get Flux's labels, status is
//! Flux's (revisions, inventory ids, reasons), objects Flux applied are taken over in place
//! and Flux's inventory is adopted (what left it is pruned), `flux reconcile`'s annotation
//! and deletion are handled with Flux's finalizer, and what is not served is refused by
//! name.

use crate::support;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::flux::{
    GitRepository, InventoryRef, Kustomization, KustomizationStatus, NAME_LABEL, NAMESPACE_LABEL,
};
use lockstep_api::{ConditionStatus, InventoryEntry};
use lockstep_testenv::{ControlPlane, GitHttpServer, Gpg, HttpAuth, manifests, need};
use serde_json::json;
use support::{Controller, eventually, install_sync_crds};

use crate::source::{gpg_commit, gpg_keys};

const TOKEN: &str = "fl0x-bearer-token";

pub(crate) async fn install_flux_crds(client: &kube::Client) {
    for text in [
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_gitrepositories.yaml"),
        include_str!("../../deploy/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml"),
        include_str!("../../deploy/crds/helm.toolkit.fluxcd.io_helmreleases.yaml"),
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    ] {
        manifests::apply_yaml(client, text).await.unwrap();
    }
}

/// GitRepository `repo` of `url` (branch `main`, every second), read with the bearer
/// `token` from Secret `git-auth`.
pub(crate) async fn git_repository(
    client: &kube::Client,
    ns: &str,
    url: &str,
    token: &str,
) -> Api<GitRepository> {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "git-auth"}, "stringData": {"bearerToken": token},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), ns);
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": url, "interval": "1s", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}},
    });
    let params = PatchParams::apply("flux-tests").force();
    repos
        .patch("repo", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    repos
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

fn id(ns: &str, name: &str) -> InventoryRef {
    InventoryRef::from(&InventoryEntry {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: ns.into(),
        name: name.into(),
    })
}

/// What Flux's kustomize-controller left: ConfigMaps with its labels and field manager.
async fn applied_by_flux(configmaps: &Api<ConfigMap>, ns: &str, name: &str) -> String {
    let object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {NAME_LABEL: "apps", NAMESPACE_LABEL: ns}},
        "data": {"v": "flux"},
    });
    let params = PatchParams::apply("kustomize-controller").force();
    let live = configmaps
        .patch(name, &params, &Patch::Apply(&object))
        .await
        .unwrap();
    live.metadata.uid.unwrap()
}

fn ready(status: Option<&KustomizationStatus>) -> Option<(ConditionStatus, String)> {
    let ready = status?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason.clone()))
}

#[tokio::test]
async fn a_kustomization_is_applied_with_flux_labels_status_and_inventory() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let (client, ns) = plane.namespace("flux-serve").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let repo = git.create_repo("apps", None).unwrap();
    repo.write("apps/web.yaml", cm("web", "git")).unwrap();
    repo.write("apps/extra.yaml", cm("extra", "git")).unwrap();
    let first = repo.commit("two objects").unwrap();

    // Flux applied `web` (still in Git) and `gone` (no longer in Git) before the switch.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let web_uid = applied_by_flux(&configmaps, &ns, "web").await;
    applied_by_flux(&configmaps, &ns, "gone").await;

    let repos = git_repository(&client, &ns, &git.url("apps"), TOKEN).await;
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("flux-tests").force();
    let kustomization = |suspend: bool| {
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps",
                     "interval": "1s", "prune": true, "targetNamespace": ns, "suspend": suspend},
        })
    };
    // Flux's status, as it left it: both objects in its inventory.
    kss.patch("apps", &params, &Patch::Apply(&kustomization(true)))
        .await
        .unwrap();
    let flux_status = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "status": {"inventory": {"entries": [id(&ns, "gone"), id(&ns, "web")]}},
    });
    let status_params = PatchParams::apply("gotk-kustomize-controller").force();
    kss.patch_status("apps", &status_params, &Patch::Apply(&flux_status))
        .await
        .unwrap();

    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;
    kss.patch("apps", &params, &Patch::Apply(&kustomization(false)))
        .await
        .unwrap();

    let revision = format!("main@sha1:{first}");
    eventually(
        "the Kustomization to be Ready at the first revision",
        async || {
            let ks = kss.get("apps").await.unwrap();
            ready(ks.status.as_ref())
                == Some((ConditionStatus::True, "ReconciliationSucceeded".into()))
                && ks.status.as_ref().unwrap().last_applied_revision.as_ref() == Some(&revision)
        },
    )
    .await;
    let ks = kss.get("apps").await.unwrap();
    let status = ks.status.unwrap();
    assert_eq!(status.last_attempted_revision.as_ref(), Some(&revision));
    assert_eq!(status.observed_generation, ks.metadata.generation);
    let mut ids: Vec<_> = status.inventory.unwrap().entries;
    ids.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(ids, [id(&ns, "extra"), id(&ns, "web")]);
    assert!(
        ks.metadata
            .finalizers
            .unwrap()
            .contains(&"finalizers.fluxcd.io".to_owned())
    );
    let source = repos.get("repo").await.unwrap().status.unwrap();
    assert_eq!(source.artifact.unwrap().revision, revision);

    // Taken over in place with Flux's labels; Flux's inventory adopted, so `gone` is pruned.
    let web = configmaps.get("web").await.unwrap();
    assert_eq!(web.metadata.uid.unwrap(), web_uid, "web was recreated");
    assert_eq!(web.data.unwrap()["v"], "git");
    let labels = web.metadata.labels.unwrap();
    assert_eq!(
        (&labels[NAME_LABEL][..], &labels[NAMESPACE_LABEL]),
        ("apps", &ns)
    );
    assert!(!labels.contains_key("lockstep.dev/name"), "{labels:?}");
    let managers: Vec<_> = web
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(
        managers,
        ["kustomize-controller"],
        "applied as Flux applies"
    );
    assert!(configmaps.get_opt("gone").await.unwrap().is_none());

    // An object removed from Git is pruned, and the inventory follows.
    repo.remove("apps/extra.yaml").unwrap();
    let second = repo.commit("extra removed").unwrap();
    let revision = format!("main@sha1:{second}");
    eventually("extra to be pruned at the second revision", async || {
        let ks = kss.get("apps").await.unwrap();
        let status = ks.status.unwrap_or_default();
        configmaps.get_opt("extra").await.unwrap().is_none()
            && status.last_applied_revision.as_ref() == Some(&revision)
            && status
                .inventory
                .is_some_and(|i| i.entries == [id(&ns, "web")])
    })
    .await;

    // `flux reconcile` (its annotation) is acted on and recorded as Flux records it.
    let requested =
        json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "now-1"}}});
    kss.patch("apps", &PatchParams::default(), &Patch::Merge(&requested))
        .await
        .unwrap();
    eventually("the reconcile request to be handled", async || {
        let status = kss.get("apps").await.unwrap().status.unwrap_or_default();
        status.last_handled_reconcile_at.as_deref() == Some("now-1")
    })
    .await;

    // `healthChecks` gate readiness: a checked object that is not there fails the health
    // check at the timeout, naming it; once Git brings it, the Kustomization is Healthy.
    repo.write("gated/a.yaml", cm("a", "git")).unwrap();
    repo.commit("gated").unwrap();
    let gated = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "gated"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./gated",
                 "interval": "1s", "timeout": "2s", "prune": true, "targetNamespace": ns,
                 "deletionPolicy": "Orphan",
                 "healthChecks": [
                     {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "namespace": ns},
                     {"apiVersion": "v1", "kind": "ConfigMap", "name": "late", "namespace": ns},
                     {"kind": "Kustomization", "name": "gated", "namespace": ns},
                 ]},
    });
    kss.patch("gated", &params, &Patch::Apply(&gated))
        .await
        .unwrap();
    eventually("the health check of gated to fail on late", async || {
        let ks = kss.get("gated").await.unwrap();
        let status = ks.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        ready.is_some_and(|c| {
            c.status == ConditionStatus::False
                && c.reason == "HealthCheckFailed"
                && c.message.contains("late")
        })
    })
    .await;
    repo.write("gated/late.yaml", cm("late", "git")).unwrap();
    repo.commit("late").unwrap();
    eventually("gated to be Ready and Healthy", async || {
        let status = kss.get("gated").await.unwrap().status.unwrap_or_default();
        let is_true = |kind: &str| {
            status
                .conditions
                .iter()
                .any(|c| c.type_ == kind && c.status == ConditionStatus::True)
        };
        is_true("Ready") && is_true("Healthy")
    })
    .await;
    // deletionPolicy Orphan: deleted with prune on, its objects stay.
    kss.delete("gated", &Default::default()).await.unwrap();
    eventually("gated to be deleted", async || {
        kss.get_opt("gated").await.unwrap().is_none()
    })
    .await;
    assert!(configmaps.get_opt("late").await.unwrap().is_some());

    // `healthCheckExprs` judge a kind by CEL: a ConfigMap, current for the built-in rules
    // as soon as it exists, fails while its `v` says so, and is healthy once it says ready.
    repo.write("cel/phase.yaml", cm("phase", "Broken")).unwrap();
    repo.write("after/after.yaml", cm("after", "git")).unwrap();
    repo.commit("phase broken").unwrap();
    let judged = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "judged"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./cel",
                 "interval": "1s", "timeout": "30s", "prune": true, "targetNamespace": ns,
                 "wait": true,
                 "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap",
                                       "current": "data.v == 'Ready'",
                                       "failed": "data.v == 'Broken'"}]},
    });
    kss.patch("judged", &params, &Patch::Apply(&judged))
        .await
        .unwrap();
    eventually("judged to fail by its failed expression", async || {
        let status = kss.get("judged").await.unwrap().status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        ready.is_some_and(|c| {
            c.status == ConditionStatus::False
                && c.reason == "HealthCheckFailed"
                && c.message.contains("ConfigMap")
                && c.message.contains("failed is true")
        })
    })
    .await;
    // A `readyExpr` decides alone whether a dependency is ready: here, that it has failed.
    let after = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "after"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./after",
                 "interval": "1s", "prune": true, "targetNamespace": ns,
                 "dependsOn": [{"name": "judged", "readyExpr":
                     "dep.status.conditions.exists(c, c.type == 'Ready' && c.status == 'False') \
                      && self.metadata.name == 'after'"}]},
    });
    kss.patch("after", &params, &Patch::Apply(&after))
        .await
        .unwrap();
    eventually("after to apply behind a failed dependency", async || {
        configmaps.get_opt("after").await.unwrap().is_some()
    })
    .await;
    repo.write("cel/phase.yaml", cm("phase", "Ready")).unwrap();
    repo.commit("phase ready").unwrap();
    eventually("judged to be Ready by its current expression", async || {
        let status = kss.get("judged").await.unwrap().status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        ready.is_some_and(|c| c.status == ConditionStatus::True)
    })
    .await;

    // Flux's rule for a dependency on the same source: it must have applied the revision
    // about to be applied. Suspended, `first` holds `second` at the revision both applied.
    repo.write("first/first.yaml", cm("first", "1")).unwrap();
    repo.write("second/second.yaml", cm("second", "1")).unwrap();
    repo.commit("first and second").unwrap();
    let ordered = |name: &str, depends_on: serde_json::Value, suspend: bool| {
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"},
                     "path": format!("./{name}"), "interval": "1s", "prune": true,
                     "targetNamespace": ns, "dependsOn": depends_on, "suspend": suspend},
        })
    };
    let value = async |name: &str| configmaps.get(name).await.unwrap().data.unwrap()["v"].clone();
    for (name, depends_on) in [("first", json!([])), ("second", json!([{"name": "first"}]))] {
        let ks = ordered(name, depends_on, false);
        kss.patch(name, &params, &Patch::Apply(&ks)).await.unwrap();
    }
    eventually("second to apply after first", async || {
        configmaps.get_opt("second").await.unwrap().is_some()
    })
    .await;
    let suspended = ordered("first", json!([]), true);
    kss.patch("first", &params, &Patch::Apply(&suspended))
        .await
        .unwrap();
    repo.write("second/second.yaml", cm("second", "2")).unwrap();
    repo.commit("second changed").unwrap();
    eventually("second to wait for first's revision", async || {
        let status = kss.get("second").await.unwrap().status.unwrap_or_default();
        status.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.reason == "DependencyNotReady"
                && c.message.contains("revision is not up to date")
        })
    })
    .await;
    assert_eq!(value("second").await, "1");
    let resumed = ordered("first", json!([]), false);
    kss.patch("first", &params, &Patch::Apply(&resumed))
        .await
        .unwrap();
    eventually("second to apply once first has", async || {
        value("second").await == "2"
    })
    .await;

    // A deleted Kustomization with prune deletes its objects, then lets go (Flux's finalizer).
    kss.delete("apps", &Default::default()).await.unwrap();
    eventually(
        "the Kustomization and its objects to be deleted",
        async || {
            kss.get_opt("apps").await.unwrap().is_none()
                && configmaps.get_opt("web").await.unwrap().is_none()
        },
    )
    .await;

    // A source kind Lockstep does not serve, or a health expression that does not parse, is
    // refused by name, nothing applied.
    let bucket = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "bucket"},
        "spec": {"sourceRef": {"kind": "Bucket", "name": "repo"}, "interval": "1m",
                 "prune": true},
    });
    kss.patch("bucket", &params, &Patch::Apply(&bucket))
        .await
        .unwrap();
    let checked = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "checked"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "interval": "1m",
                 "path": "./apps", "prune": true,
                 "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap",
                                       "current": "data.v == "}]},
    });
    kss.patch("checked", &params, &Patch::Apply(&checked))
        .await
        .unwrap();
    for (name, named) in [
        ("bucket", "sourceRef.kind Bucket is not served"),
        (
            "checked",
            "spec.healthCheckExprs[0].current: does not parse",
        ),
    ] {
        eventually(&format!("Kustomization {name} to be refused"), async || {
            let ks = kss.get(name).await.unwrap();
            let status = ks.status.unwrap_or_default();
            let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
            ready.is_some_and(|c| c.status == ConditionStatus::False && c.message.contains(named))
        })
        .await;
        let status = kss.get(name).await.unwrap().status.unwrap();
        assert!(status.inventory.is_none() && status.last_attempted_revision.is_none());
    }
}

/// `ignore` and `verify` on a GitRepository, with the keys in an entry of any name (Flux reads every
/// entry not named `*.sshpub` as OpenPGP keys) and Flux's older `head` spelling: a commit
/// signed by the trusted key is applied and `SourceVerified`; a forged one is refused with
/// Flux's reason, and what the trusted one applied stays.
#[tokio::test]
async fn a_verified_git_repository_takes_only_commits_signed_by_a_trusted_key() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let gpg = need!(Gpg::new());
    let (client, ns) = plane.namespace("flux-verify").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let (trusted, other) = gpg_keys(&gpg);
    let repo = git.create_repo("signed", None).unwrap();
    // Not a Kubernetes object: the build fails unless `ignore` leaves it out.
    repo.write("deploy/notes.yaml", "owner: platform-team\n")
        .unwrap();
    let good = gpg_commit(&repo, &gpg, &trusted, "trusted");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for secret in [
        json!({"metadata": {"name": "git-auth"}, "stringData": {"bearerToken": TOKEN}}),
        json!({"metadata": {"name": "pgp-keys"},
               "stringData": {"author": gpg.export(&trusted).unwrap()}}),
    ] {
        let secret: Secret = serde_json::from_value(secret).unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;
    let params = PatchParams::apply("flux-tests").force();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "signed"},
        "spec": {"url": git.url("signed"), "interval": "1s", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}, "ignore": "/deploy/notes.yaml",
                 "verify": {"mode": "head", "secretRef": {"name": "pgp-keys"}}},
    });
    repos
        .patch("signed", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let kustomization = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "signed"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "signed"}, "path": "./deploy",
                 "interval": "1s", "prune": true, "targetNamespace": ns},
    });
    kss.patch("signed", &params, &Patch::Apply(&kustomization))
        .await
        .unwrap();

    let condition = async |type_: &str| {
        let status = repos
            .get("signed")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        let found = status.conditions.into_iter().find(|c| c.type_ == type_);
        found.map(|c| (c.status, c.reason, c.message))
    };
    let good_revision = format!("main@sha1:{good}");
    eventually(
        "the trusted commit to be verified and applied",
        async || {
            let applied = kss.get("signed").await.unwrap().status.unwrap_or_default();
            applied.last_applied_revision.as_ref() == Some(&good_revision)
                && condition("SourceVerified")
                    .await
                    .is_some_and(|(status, _, message)| {
                        status == ConditionStatus::True && message.contains(&trusted)
                    })
        },
    )
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = async || {
        let live = configmaps.get_opt("signed").await.unwrap();
        live.and_then(|c| c.data)
            .and_then(|d| d.get("value").cloned())
    };
    assert_eq!(value().await.as_deref(), Some("trusted"));

    let forged = gpg_commit(&repo, &gpg, &other, "forged");
    eventually("the forged commit to be refused", async || {
        condition("Ready")
            .await
            .is_some_and(|(status, reason, message)| {
                status == ConditionStatus::False
                    && reason == "InvalidCommitSignature"
                    && message.contains(&forged)
            })
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let applied = kss.get("signed").await.unwrap().status.unwrap_or_default();
    assert_eq!(applied.last_applied_revision, Some(good_revision));
    assert_eq!(value().await.as_deref(), Some("trusted"));
}

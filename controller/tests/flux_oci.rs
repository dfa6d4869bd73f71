//! Flux's Helm charts from an OCI registry, served by Lockstep, against the real CNCF
//! `distribution` registry behind htpasswd, charts pushed with the real `helm push`: a
//! HelmRelease of a `type: oci` HelmRepository, one whose `chartRef` names an
//! OCIRepository and a Lockstep Sync of the same OCIRepository, all read with a
//! `kubernetes.io/dockerconfigjson` Secret; the OCIRepository's ref bumped from a tag to a
//! semver range upgrades and prunes at once (not at the HelmRelease's or the Sync's
//! interval); the
//! statuses are Flux's (the OCI HelmRepository's empty, the OCIRepository's revision
//! `<version>@sha256:<manifest>`); a wrong password and an unserved field are named, the
//! password in no status.
//!
//! A Kustomization of an OCIRepository holding what the real `flux push artifact` pushed:
//! applied from the artifact's files, at the OCIRepository's `<tag>@sha256:<manifest>`
//! revision; a new tag the semver range takes applies it (and prunes what it dropped) at
//! once; a layer media type the artifact lacks is named.

use base64::Engine;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::flux::{HelmRelease, HelmRepository, Kustomization, OCIRepository};
use lockstep_api::{ConditionStatus, Sync};
use lockstep_testenv::{ControlPlane, HttpAuth, OciRegistry, need, tool};
use serde_json::json;

use crate::flux::install_flux_crds;
use crate::flux_helm::{ready, web_chart};
use crate::support::{Controller, eventually, install_sync_crds};

const USER: &str = "puller";
const PASSWORD: &str = "0ci-regcred-secret";

/// The `Ready` condition of an OCIRepository: status, reason, message, and the artifact's
/// revision.
fn oci_ready(repo: &OCIRepository) -> Option<(ConditionStatus, String, String, String)> {
    let status = repo.status.as_ref()?;
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready")?;
    let revision = status.artifact.as_ref().map(|a| a.revision.clone());
    Some((
        ready.status,
        ready.reason.clone(),
        ready.message.clone(),
        revision.unwrap_or_default(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_releases_of_oci_charts_install_follow_their_oci_repository_and_name_failures() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let registry = need!(
        OciRegistry::start(Some(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    let mut digests = std::collections::BTreeMap::new();
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        let digest = registry.push(&web_chart(work.path(), version)).unwrap();
        digests.insert(version, digest);
    }
    let (client, ns) = plane.namespace("flux-oci").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let params = PatchParams::apply("flux-tests").force();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let base64 = base64::engine::general_purpose::STANDARD;
    for (name, password) in [("regcred", PASSWORD), ("wrongcred", "n0t-the-0ci-password")] {
        let auth = base64.encode(format!("{USER}:{password}"));
        let config = json!({"auths": {registry.host(): {"auth": auth}}}).to_string();
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                            "type": "kubernetes.io/dockerconfigjson",
                            "stringData": {".dockerconfigjson": config}});
        secrets
            .patch(name, &params, &Patch::Apply(&secret))
            .await
            .unwrap();
    }
    let helm_repositories: Api<HelmRepository> = Api::namespaced(client.clone(), &ns);
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "oci-charts"},
        "spec": {"type": "oci", "url": registry.url(), "insecure": true, "interval": "1m",
                 "secretRef": {"name": "regcred"}},
    });
    helm_repositories
        .patch("oci-charts", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let oci_repositories: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
    let oci_repository = |name: &str, reference: serde_json::Value, secret: &str| {
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name},
            "spec": {"url": format!("{}/web", registry.url()), "insecure": true,
                     "interval": "10m", "ref": reference, "secretRef": {"name": secret},
                     "layerSelector": {"mediaType":
                         "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                         "operation": "copy"}},
        })
    };
    for (name, reference, secret) in [
        ("web", json!({"tag": "1.0.0"}), "regcred"),
        ("locked", json!({"semver": "*"}), "wrongcred"),
    ] {
        oci_repositories
            .patch(
                name,
                &params,
                &Patch::Apply(&oci_repository(name, reference, secret)),
            )
            .await
            .unwrap();
    }
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
    // Long intervals: what happens within the test is what a change set off.
    let release = |name: &str, chart: serde_json::Value| {
        let mut hr = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {"interval": "10m", "releaseName": name, "values": {"color": "teal"}},
        });
        let field = if chart.get("kind").is_some() {
            "chartRef"
        } else {
            "chart"
        };
        hr["spec"][field] = chart;
        hr
    };
    for (name, chart) in [
        (
            "classic",
            json!({"spec": {"chart": "web", "version": "1.x",
                            "sourceRef": {"kind": "HelmRepository", "name": "oci-charts"}}}),
        ),
        ("referred", json!({"kind": "OCIRepository", "name": "web"})),
        ("locked", json!({"kind": "OCIRepository", "name": "locked"})),
    ] {
        releases
            .patch(name, &params, &Patch::Apply(&release(name, chart)))
            .await
            .unwrap();
    }
    // Lockstep's own Sync of the same OCIRepository.
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &ns);
    let sync = json!({
        "apiVersion": "lockstep.dev/v1alpha1", "kind": "Sync", "metadata": {"name": "own"},
        "spec": {"sourceRef": {"kind": "OCIRepository", "name": "web"}, "interval": "10m",
                 "prune": true, "helm": {"values": {"color": "plum"}}},
    });
    syncs
        .patch("own", &params, &Patch::Apply(&sync))
        .await
        .unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = async |name: &str| configmaps.get_opt(name).await.unwrap().and_then(|c| c.data);
    eventually("the three charts to be installed", async || {
        data("classic-v1")
            .await
            .is_some_and(|d| d["chart"] == "1.1.0")
            && data("referred-v1")
                .await
                .is_some_and(|d| d["chart"] == "1.0.0")
            && data("own-v1").await.is_some_and(|d| d["chart"] == "1.0.0")
    })
    .await;
    assert_eq!(data("referred-config").await.unwrap()["color"], "teal");
    assert_eq!(data("own-config").await.unwrap()["color"], "plum");
    eventually("the OCIRepository to be Ready at 1.0.0", async || {
        let repo = oci_repositories.get("web").await.unwrap();
        oci_ready(&repo).is_some_and(|(status, reason, _, revision)| {
            status == ConditionStatus::True
                && reason == "Succeeded"
                && revision == format!("1.0.0@{}", digests["1.0.0"])
        })
    })
    .await;
    eventually("the HelmRelease to be Ready at 1.0.0", async || {
        let hr = releases.get("referred").await.unwrap();
        let status = hr.status.as_ref();
        ready(status).is_some_and(|(s, _, _)| s == ConditionStatus::True)
            && status.and_then(|s| s.last_attempted_revision.as_deref()) == Some("1.0.0")
    })
    .await;
    // As Flux's source-controller, an OCI HelmRepository has no status of its own.
    let repository = helm_repositories.get("oci-charts").await.unwrap();
    assert!(
        repository.status.unwrap_or_default().conditions.is_empty(),
        "an OCI HelmRepository's status stays empty"
    );

    // The OCIRepository's ref moves from a tag to a range: the HelmRelease and the Sync
    // upgrade and prune what 1.x rendered, long before their own 10m interval.
    let uid = configmaps
        .get("referred-config")
        .await
        .unwrap()
        .metadata
        .uid;
    oci_repositories
        .patch(
            "web",
            &params,
            &Patch::Apply(&oci_repository(
                "web",
                json!({"semver": ">=2.0.0"}),
                "regcred",
            )),
        )
        .await
        .unwrap();
    eventually(
        "the HelmRelease and the Sync to follow it to 2.0.0",
        async || {
            data("referred-v2")
                .await
                .is_some_and(|d| d["chart"] == "2.0.0")
                && data("referred-v1").await.is_none()
                && data("own-v2").await.is_some_and(|d| d["chart"] == "2.0.0")
        },
    )
    .await;
    assert_eq!(
        configmaps
            .get("referred-config")
            .await
            .unwrap()
            .metadata
            .uid,
        uid
    );
    eventually("the OCIRepository to be Ready at 2.0.0", async || {
        let repo = oci_repositories.get("web").await.unwrap();
        oci_ready(&repo)
            .is_some_and(|(_, _, _, revision)| revision == format!("2.0.0@{}", digests["2.0.0"]))
    })
    .await;

    // A wrong password: the OCIRepository and the HelmRelease say so, without it.
    eventually("the wrong password to be reported", async || {
        let repo = oci_repositories.get("locked").await.unwrap();
        let hr = releases.get("locked").await.unwrap();
        oci_ready(&repo).is_some_and(|(status, reason, message, _)| {
            status == ConditionStatus::False
                && reason == "OCIArtifactPullFailed"
                && message.contains("401")
        }) && ready(hr.status.as_ref()).is_some_and(|(s, reason, message)| {
            s == ConditionStatus::False
                && reason == "ArtifactFailed"
                && message.contains(&format!("OCIRepository {ns}/locked"))
        })
    })
    .await;
    let repo = oci_repositories.get("locked").await.unwrap();
    let hr = releases.get("locked").await.unwrap();
    for text in [
        serde_json::to_string(&repo.status).unwrap(),
        serde_json::to_string(&hr.status).unwrap(),
    ] {
        assert!(
            !text.contains("n0t-the-0ci-password") && !text.contains(PASSWORD),
            "{text}"
        );
    }
    assert!(data("locked-config").await.is_none());

    // A field Lockstep does not serve (cosign verification) is named, nothing applied.
    let mut verified = oci_repository("verified", json!({"tag": "1.0.0"}), "regcred");
    verified["spec"]["verify"] = json!({"provider": "cosign"});
    oci_repositories
        .patch("verified", &params, &Patch::Apply(&verified))
        .await
        .unwrap();
    eventually("the unserved field to be named", async || {
        let repo = oci_repositories.get("verified").await.unwrap();
        let stalled = repo.status.as_ref().is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == ConditionStatus::True)
        });
        stalled
            && oci_ready(&repo).is_some_and(|(status, reason, message, _)| {
                status == ConditionStatus::False
                    && reason == "InvalidSpec"
                    && message.contains("spec.verify not served")
            })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomization_of_an_oci_artifact_applies_its_files_and_follows_new_tags() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("flux"));
    need!(tool("kustomize"));
    let registry = need!(OciRegistry::start(None).await);
    let work = tempfile::tempdir().unwrap();
    let push = |tag: &str, files: &[(&str, &str)]| {
        let dir = work.path().join(tag);
        for (path, text) in files {
            let file = dir.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, text).unwrap();
        }
        registry
            .push_artifact(&dir, "manifests/app", tag, &format!("main@sha1:{tag}"))
            .unwrap()
    };
    let config = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
        )
    };
    let first = push(
        "1.0.0",
        &[
            ("app/kustomization.yaml", "resources: [a.yaml, b.yaml]\n"),
            ("app/a.yaml", &config("a", "one")),
            ("app/b.yaml", &config("b", "one")),
        ],
    );
    let (client, ns) = plane.namespace("flux-oci-ks").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let params = PatchParams::apply("flux-tests").force();
    let oci_repositories: Api<OCIRepository> = Api::namespaced(client.clone(), &ns);
    let repository = |name: &str, layer: Option<&str>| {
        let mut repo = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
            "metadata": {"name": name},
            "spec": {"url": format!("oci://{}/manifests/app", registry.host()), "insecure": true,
                     "interval": "10m", "ref": {"semver": ">=1.0.0"}},
        });
        if let Some(layer) = layer {
            repo["spec"]["layerSelector"] = json!({"mediaType": layer, "operation": "extract"});
        }
        repo
    };
    for (name, layer) in [
        ("app", Some("application/vnd.cncf.flux.content.v1.tar+gzip")),
        ("wrong", Some("application/vnd.example.missing")),
    ] {
        oci_repositories
            .patch(name, &params, &Patch::Apply(&repository(name, layer)))
            .await
            .unwrap();
    }
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    for (name, source) in [("app", "app"), ("wrong", "wrong")] {
        let ks = json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {"sourceRef": {"kind": "OCIRepository", "name": source},
                     "path": "./app", "interval": "10m", "prune": true,
                     "targetNamespace": ns},
        });
        kustomizations
            .patch(name, &params, &Patch::Apply(&ks))
            .await
            .unwrap();
    }
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = async |name: &str| {
        let map = configmaps.get_opt(name).await.unwrap();
        map.and_then(|c| c.data).and_then(|mut d| d.remove("v"))
    };
    let applied = |revision: String| {
        let kustomizations = kustomizations.clone();
        async move {
            let ks = kustomizations.get("app").await.unwrap();
            let status = ks.status.unwrap_or_default();
            status.last_applied_revision.as_deref() == Some(revision.as_str())
                && status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == ConditionStatus::True)
        }
    };
    let revision = format!("1.0.0@{first}");
    eventually("the artifact to be applied", async || {
        applied(revision.clone()).await && value("a").await.as_deref() == Some("one")
    })
    .await;
    assert_eq!(value("b").await.as_deref(), Some("one"));
    // The Kustomization fetches the artifact itself, so the OCIRepository's own status may
    // be written a moment after the apply.
    eventually("the OCIRepository to report the artifact", async || {
        let repo = oci_repositories.get("app").await.unwrap();
        oci_ready(&repo).is_some_and(|(status, reason, _, artifact)| {
            (status, &reason[..], artifact)
                == (ConditionStatus::True, "Succeeded", revision.clone())
        })
    })
    .await;

    // A new tag inside the range: applied at once (the Kustomization's interval is 10m),
    // b pruned.
    let second = push(
        "1.1.0",
        &[
            ("app/kustomization.yaml", "resources: [a.yaml]\n"),
            ("app/a.yaml", &config("a", "two")),
        ],
    );
    oci_repositories
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "now"}}})),
        )
        .await
        .unwrap();
    let revision = format!("1.1.0@{second}");
    eventually("the new tag to be applied and b pruned", async || {
        applied(revision.clone()).await
            && value("a").await.as_deref() == Some("two")
            && value("b").await.is_none()
    })
    .await;

    // A layer the artifact does not have is named, on the OCIRepository and the
    // Kustomization; nothing of it is applied.
    eventually("the missing layer to be named", async || {
        let repo = oci_repositories.get("wrong").await.unwrap();
        oci_ready(&repo).is_some_and(|(status, _, message, _)| {
            status == ConditionStatus::False
                && message.contains("no layer of media type \"application/vnd.example.missing\"")
        })
    })
    .await;
    let wrong = kustomizations
        .get("wrong")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert!(wrong.last_applied_revision.is_none());
}

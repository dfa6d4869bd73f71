//! Flux's `HelmRelease` of a chart in a `GitRepository`, served by the real
//! `lockstep-controller` (`--flux`) with the real `helm template`: installed with its
//! `values` over a `valuesFrom` ConfigMap over the chart's own, under Flux's default
//! release name and with helm-controller's labels, status in Flux's format; upgraded when
//! its values change; a field Lockstep does not serve is refused by name. A HelmRelease of
//! a chart in a `HelmRepository` (the real `helm package` + `helm repo index` behind basic
//! auth): installed at the version its constraint picks, upgraded by a version bump that
//! drops an object (pruned), and refused with the repository named, never the password,
//! when the credentials are wrong; `valuesFrom` a Secret rendered, and scrubbed from a helm
//! error that quotes it.

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::ConditionStatus;
use lockstep_api::flux::{HELM_NAME_LABEL, HELM_NAMESPACE_LABEL, HelmRelease, HelmReleaseStatus};
use lockstep_testenv::{ControlPlane, GitHttpServer, HelmRepoServer, HttpAuth, need, tool};
use serde_json::json;

use crate::flux::{git_repository, install_flux_crds};
use crate::support::{Controller, eventually, install_sync_crds};

const TOKEN: &str = "h3lm-bearer-token";

pub(crate) fn ready(
    status: Option<&HelmReleaseStatus>,
) -> Option<(ConditionStatus, String, String)> {
    let ready = status?.conditions.iter().find(|c| c.type_ == "Ready")?;
    Some((ready.status, ready.reason.clone(), ready.message.clone()))
}

#[tokio::test]
async fn a_helm_release_of_a_git_chart_installs_upgrades_and_refuses_by_name() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let (client, ns) = plane.namespace("flux-helm").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let repo = git.create_repo("charts", None).unwrap();
    repo.write(
        "charts/app/Chart.yaml",
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    )
    .unwrap();
    repo.write(
        "charts/app/values.yaml",
        "color: blue\nteam: nobody\nsize: small\n",
    )
    .unwrap();
    repo.write(
        "charts/app/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\ndata:\n  \
         color: {{ .Values.color | quote }}\n  team: {{ .Values.team | quote }}\n  \
         size: {{ .Values.size | quote }}\n  namespace: {{ .Release.Namespace | quote }}\n",
    )
    .unwrap();
    let commit = repo.commit("the chart").unwrap();

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let values = serde_json::from_value(json!({
        "metadata": {"name": "web-values"},
        "data": {"values.yaml": "team: shop\nsize: large\n"},
    }))
    .unwrap();
    configmaps
        .create(&PostParams::default(), &values)
        .await
        .unwrap();
    git_repository(&client, &ns, &git.url("charts"), TOKEN).await;
    let params = PatchParams::apply("flux-tests").force();
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
    let release = |color: &str| {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "web"},
            "spec": {
                "interval": "1s", "targetNamespace": ns,
                "chart": {"spec": {"chart": "./charts/app",
                                   "sourceRef": {"kind": "GitRepository", "name": "repo"}}},
                "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"},
                               {"kind": "ConfigMap", "name": "absent", "optional": true}],
                "values": {"color": color, "size": "medium"},
                "install": {"crds": "Create"}, "upgrade": {"crds": "Skip"},
            },
        })
    };
    releases
        .patch("web", &params, &Patch::Apply(&release("green")))
        .await
        .unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    // Flux's default release name is `<targetNamespace>-<name>`; values merge as Flux
    // merges them: the chart's, then valuesFrom, then values.
    let config_name = format!("{ns}-web-config");
    let color = async |name: &str| {
        configmaps
            .get_opt(name)
            .await
            .unwrap()
            .and_then(|c| c.data)
            .map(|d| d["color"].clone())
    };
    eventually("the HelmRelease to install its chart", async || {
        color(&config_name).await.as_deref() == Some("green")
    })
    .await;
    let config = configmaps.get(&config_name).await.unwrap();
    let data = config.data.unwrap();
    assert_eq!(
        (&data["team"][..], &data["size"][..], &data["namespace"]),
        ("shop", "medium", &ns)
    );
    let labels = config.metadata.labels.unwrap();
    assert_eq!(
        (&labels[HELM_NAME_LABEL][..], &labels[HELM_NAMESPACE_LABEL]),
        ("web", &ns)
    );
    assert!(
        !labels.contains_key("kustomize.toolkit.fluxcd.io/name"),
        "{labels:?}"
    );
    let revision = format!("main@sha1:{commit}");
    eventually("the HelmRelease to be Ready", async || {
        let hr = releases.get("web").await.unwrap();
        let status = hr.status.as_ref();
        ready(status).is_some_and(|(s, _, _)| s == ConditionStatus::True)
            && status.unwrap().observed_generation == hr.metadata.generation
    })
    .await;
    let hr = releases.get("web").await.unwrap();
    let status = hr.status.unwrap();
    assert_eq!(status.last_attempted_revision.as_ref(), Some(&revision));
    assert_eq!(status.inventory.unwrap().entries.len(), 1);
    // Helm's release record, in the HelmRelease's namespace as helm-controller writes it.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let record = |version: u32| format!("sh.helm.release.v1.{ns}-web.v{version}");
    let first = secrets.get(&record(1)).await.unwrap();
    assert_eq!(first.type_.as_deref(), Some("helm.sh/release.v1"));
    assert!(
        hr.metadata
            .finalizers
            .unwrap()
            .contains(&"finalizers.fluxcd.io".to_owned())
    );

    // An upgrade: new values, the same object rewritten in place.
    let uid = configmaps.get(&config_name).await.unwrap().metadata.uid;
    releases
        .patch("web", &params, &Patch::Apply(&release("red")))
        .await
        .unwrap();
    eventually("the values change to be applied", async || {
        color(&config_name).await.as_deref() == Some("red")
    })
    .await;
    assert_eq!(
        configmaps.get(&config_name).await.unwrap().metadata.uid,
        uid
    );
    eventually("the upgrade's release record", async || {
        let status = |secret: Option<Secret>| {
            secret
                .and_then(|s| s.metadata.labels)
                .and_then(|l| l.get("status").cloned())
        };
        status(secrets.get_opt(&record(2)).await.unwrap()).as_deref() == Some("deployed")
            && status(secrets.get_opt(&record(1)).await.unwrap()).as_deref() == Some("superseded")
    })
    .await;

    // install.createNamespace: a targetNamespace that does not exist is created first.
    let made = format!("{ns}-made");
    let mut creating = release("teal");
    creating["metadata"]["name"] = json!("creating");
    creating["spec"]["targetNamespace"] = json!(made);
    creating["spec"]["install"]["createNamespace"] = json!(true);
    releases
        .patch("creating", &params, &Patch::Apply(&creating))
        .await
        .unwrap();
    let in_made: Api<ConfigMap> = Api::namespaced(client.clone(), &made);
    eventually(
        "the release to install into its new namespace",
        async || {
            in_made
                .get_opt(&format!("{made}-creating-config"))
                .await
                .unwrap()
                .is_some()
        },
    )
    .await;

    // A field Lockstep does not serve is named; nothing of that release is applied.
    let mut refused = release("blue");
    refused["metadata"]["name"] = json!("refused");
    refused["spec"]["driftDetection"] = json!({"mode": "enabled"});
    releases
        .patch("refused", &params, &Patch::Apply(&refused))
        .await
        .unwrap();
    eventually("the HelmRelease to be refused by name", async || {
        let hr = releases.get("refused").await.unwrap();
        ready(hr.status.as_ref()).is_some_and(|(s, reason, message)| {
            s == ConditionStatus::False
                && reason == "InvalidSpec"
                && message.contains("spec.driftDetection not served")
        })
    })
    .await;
    assert!(
        configmaps
            .get_opt(&format!("{ns}-refused-config"))
            .await
            .unwrap()
            .is_none()
    );
}

const REPO_USER: &str = "charts";
const REPO_PASSWORD: &str = "h3lm-rep0-secret";

/// Packages chart `web` at `version` into `server` ([`web_chart`]).
fn publish_web(server: &HelmRepoServer, work: &std::path::Path, version: &str) {
    server.publish(&web_chart(work, version)).unwrap();
}

/// Chart `web` at `version`, written under `work`: a ConfigMap of the values' color, and
/// one more ConfigMap named after the major version (`-v1`, `-v2`), so a bump drops one.
pub(crate) fn web_chart(work: &std::path::Path, version: &str) -> std::path::PathBuf {
    let major = version.split('.').next().unwrap();
    let chart = work.join(format!("{version}/web"));
    std::fs::create_dir_all(chart.join("templates")).unwrap();
    std::fs::write(
        chart.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\n"),
    )
    .unwrap();
    std::fs::write(chart.join("values.yaml"), "color: blue\n").unwrap();
    std::fs::write(
        chart.join("templates/config.yaml"),
        format!(
            "{{{{- if .Values.fail }}}}{{{{ fail (printf \"cannot paint %s\" .Values.color) }}}}{{{{- end }}}}\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\n\
             data:\n  color: {{{{ .Values.color | quote }}}}\n---\napiVersion: v1\nkind: ConfigMap\n\
             metadata:\n  name: {{{{ .Release.Name }}}}-v{major}\ndata:\n  chart: {{{{ .Chart.Version | quote }}}}\n"
        ),
    )
    .unwrap();
    chart
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_release_of_a_repository_chart_installs_bumps_prunes_and_names_bad_credentials() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let server = need!(
        HelmRepoServer::start(Some(HttpAuth::Basic {
            username: REPO_USER.into(),
            password: REPO_PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    for version in ["1.0.0", "1.2.0", "2.0.0", "2.1.0-rc.1"] {
        publish_web(&server, work.path(), version);
    }
    let (client, ns) = plane.namespace("flux-helmrepo").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    let params = PatchParams::apply("flux-tests").force();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for (name, password) in [
        ("charts-auth", REPO_PASSWORD),
        ("wrong-auth", "n0t-the-password"),
    ] {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                            "stringData": {"username": REPO_USER, "password": password}});
        secrets
            .patch(name, &params, &Patch::Apply(&secret))
            .await
            .unwrap();
    }
    let repositories: Api<lockstep_api::flux::HelmRepository> =
        Api::namespaced(client.clone(), &ns);
    for (name, secret) in [("charts", "charts-auth"), ("locked", "wrong-auth")] {
        let repository = json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
            "metadata": {"name": name},
            "spec": {"url": server.url(), "interval": "1m", "secretRef": {"name": secret}},
        });
        repositories
            .patch(name, &params, &Patch::Apply(&repository))
            .await
            .unwrap();
    }
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
    let release = |name: &str, repository: &str, version: &str| {
        json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {
                "interval": "1s", "releaseName": name,
                "chart": {"spec": {"chart": "web", "version": version,
                                   "sourceRef": {"kind": "HelmRepository", "name": repository}}},
                "values": {"color": "green"},
            },
        })
    };
    releases
        .patch(
            "web",
            &params,
            &Patch::Apply(&release("web", "charts", "1.x")),
        )
        .await
        .unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = async |name: &str| configmaps.get_opt(name).await.unwrap().and_then(|c| c.data);
    eventually("the highest 1.x chart to be installed", async || {
        data("web-v1").await.is_some_and(|d| d["chart"] == "1.2.0")
    })
    .await;
    assert_eq!(data("web-config").await.unwrap()["color"], "green");
    eventually("the HelmRelease to be Ready at 1.2.0", async || {
        let hr = releases.get("web").await.unwrap();
        let status = hr.status.as_ref();
        ready(status).is_some_and(|(s, _, _)| s == ConditionStatus::True)
            && status
                .and_then(|s| s.last_attempted_revision.as_deref())
                .is_some_and(|r| r == "1.2.0")
            && status
                .and_then(|s| s.last_attempted_revision_digest.as_deref())
                .is_some_and(|d| d.starts_with("sha256:"))
    })
    .await;
    let uid = configmaps.get("web-config").await.unwrap().metadata.uid;
    // The repository's own status, as Flux's source-controller writes it.
    eventually("the HelmRepositories' status", async || {
        let ready = |name: &str| {
            let repositories = &repositories;
            let name = name.to_owned();
            async move {
                let repo = repositories.get(&name).await.unwrap();
                let status = repo.status.unwrap_or_default();
                let ready = status
                    .conditions
                    .iter()
                    .find(|c| c.type_ == "Ready")
                    .cloned();
                (ready, status.artifact)
            }
        };
        let (charts, artifact) = ready("charts").await;
        let (locked, _) = ready("locked").await;
        charts.is_some_and(|c| c.status == ConditionStatus::True && c.reason == "Succeeded")
            && artifact.is_some_and(|a| a.revision.starts_with("sha256:"))
            && locked.is_some_and(|c| {
                c.status == ConditionStatus::False
                    && c.reason == "IndexationFailed"
                    && c.message.contains("401")
                    && !c.message.contains("n0t-the-password")
            })
    })
    .await;

    // A version bump: 2.x is 2.0.0 (the release candidate is not a release), -v1 is
    // pruned, the ConfigMap both versions render is rewritten in place.
    releases
        .patch(
            "web",
            &params,
            &Patch::Apply(&release("web", "charts", "2.x")),
        )
        .await
        .unwrap();
    eventually("the 2.x chart to replace 1.x", async || {
        data("web-v2").await.is_some_and(|d| d["chart"] == "2.0.0")
            && data("web-v1").await.is_none()
    })
    .await;
    assert_eq!(
        configmaps.get("web-config").await.unwrap().metadata.uid,
        uid
    );

    // A release reconciled every 10m follows its repository at once: a new version
    // published and the repository asked to reconcile (`flux reconcile source helm`), its
    // new index revision wakes the release, which upgrades.
    let mut slow = release("slow", "charts", "2.x");
    slow["spec"]["interval"] = json!("10m");
    releases
        .patch("slow", &params, &Patch::Apply(&slow))
        .await
        .unwrap();
    eventually("the slow release to install 2.0.0", async || {
        data("slow-v2").await.is_some_and(|d| d["chart"] == "2.0.0")
    })
    .await;
    publish_web(&server, work.path(), "2.2.0");
    let request = json!({"metadata": {"annotations": {
        "reconcile.fluxcd.io/requestedAt": "2026-12-05T18:00:00Z"}}});
    repositories
        .patch("charts", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    eventually(
        "the slow release to follow its repository to 2.2.0",
        async || data("slow-v2").await.is_some_and(|d| d["chart"] == "2.2.0"),
    )
    .await;

    // Wrong credentials: the repository and the answer named, the password nowhere.
    releases
        .patch(
            "locked",
            &params,
            &Patch::Apply(&release("locked", "locked", "*")),
        )
        .await
        .unwrap();
    eventually("the bad credentials to be reported", async || {
        let hr = releases.get("locked").await.unwrap();
        ready(hr.status.as_ref()).is_some_and(|(s, reason, message)| {
            s == ConditionStatus::False
                && reason == "ArtifactFailed"
                && message.contains(&format!("HelmRepository {ns}/locked"))
                && message.contains("401")
        })
    })
    .await;
    let hr = releases.get("locked").await.unwrap();
    let text = serde_json::to_string(&hr.status).unwrap();
    assert!(
        !text.contains("n0t-the-password") && !text.contains(REPO_PASSWORD),
        "{text}"
    );
    assert!(data("locked-config").await.is_none());

    // valuesFrom a Secret: its values rendered, and scrubbed from a helm error quoting one.
    let canary = "Fx-valuesfrom-secret-canary-7d1";
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "paint"},
                        "stringData": {"values.yaml": format!("color: {canary}\n"),
                                       "shade": canary, "split": "Fx-a,b"}});
    secrets
        .patch("paint", &params, &Patch::Apply(&secret))
        .await
        .unwrap();
    // With a targetPath, one key's content is set at a path, as `helm --set` sets it; a
    // comma Helm's parser would split at is refused by name, the value not shown.
    let from = |key: &str, path: Option<&str>| match path {
        Some(path) => json!([{"kind": "Secret", "name": "paint", "valuesKey": key,
                              "targetPath": path}]),
        None => json!([{"kind": "Secret", "name": "paint", "valuesKey": key}]),
    };
    for (name, fail, from) in [
        ("tinted", false, from("values.yaml", None)),
        ("leaky", true, from("values.yaml", None)),
        ("pathed", false, from("shade", Some("color"))),
        ("split", false, from("split", Some("color"))),
    ] {
        let mut hr = release(name, "charts", "1.x");
        hr["spec"]["values"] = json!({"fail": fail});
        hr["spec"]["valuesFrom"] = from;
        // A post-renderer patches what the chart rendered, the Secret's value kept.
        hr["spec"]["postRenderers"] = json!([{"kustomize": {"patches": [{
            "patch": "[{\"op\": \"add\", \"path\": \"/metadata/labels\", \"value\": {\"tier\": \"paint\"}}]",
            "target": {"kind": "ConfigMap"},
        }]}}]);
        releases
            .patch(name, &params, &Patch::Apply(&hr))
            .await
            .unwrap();
    }
    eventually("the Secret's values to be rendered", async || {
        data("tinted-config")
            .await
            .is_some_and(|d| d["color"] == canary)
    })
    .await;
    let tinted = configmaps.get("tinted-config").await.unwrap();
    assert_eq!(
        tinted.metadata.labels.unwrap()["tier"],
        "paint",
        "postRenderers"
    );
    eventually("the targetPath value to be rendered", async || {
        data("pathed-config")
            .await
            .is_some_and(|d| d["color"] == canary)
    })
    .await;
    eventually("the split value to be refused", async || {
        let hr = releases.get("split").await.unwrap();
        ready(hr.status.as_ref()).is_some_and(|(s, _, message)| {
            s == ConditionStatus::False
                && message.contains("targetPath \"color\"")
                && message.contains("`\\,`")
                && !message.contains("Fx-a")
        })
    })
    .await;
    eventually("the helm error to be reported", async || {
        let hr = releases.get("leaky").await.unwrap();
        ready(hr.status.as_ref()).is_some_and(|(s, _, message)| {
            s == ConditionStatus::False && message.contains("cannot paint")
        })
    })
    .await;
    let canaries = lockstep_testenv::Canaries::new([canary]);
    let hr = releases.get("leaky").await.unwrap();
    canaries.assert_absent(
        "the HelmRelease status",
        &serde_json::to_string(&hr.status).unwrap(),
    );
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(client.clone(), &ns);
    let events = events.list(&Default::default()).await.unwrap();
    canaries.assert_absent("the events", &serde_json::to_string(&events.items).unwrap());
    assert!(data("leaky-config").await.is_none());
}

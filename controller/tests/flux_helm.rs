//! Flux's `HelmRelease` of a chart in a `GitRepository`, served by the real
//! `lockstep-controller` (`--flux`) with the real `helm template`: installed with its
//! `values` over a `valuesFrom` ConfigMap over the chart's own, under Flux's default
//! release name and with helm-controller's labels, status in Flux's format; upgraded when
//! its values change; a field Lockstep does not serve is refused by name.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::ConditionStatus;
use lockstep_api::flux::{HELM_NAME_LABEL, HELM_NAMESPACE_LABEL, HelmRelease, HelmReleaseStatus};
use lockstep_testenv::{ControlPlane, GitHttpServer, HttpAuth, need, tool};
use serde_json::json;

use crate::flux::{git_repository, install_flux_crds};
use crate::support::{Controller, eventually, install_sync_crds};

const TOKEN: &str = "h3lm-bearer-token";

fn ready(status: Option<&HelmReleaseStatus>) -> Option<(ConditionStatus, String, String)> {
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

//! Argo CD's `Application` whose `spec.source.path` is a Helm chart in Git, served by the
//! real `lockstep-controller` (`--argocd`) with the real `helm template` into the real
//! kube-apiserver: installed with a values file and `valuesObject` (over the chart's
//! `values.yaml`), release name the Application's, objects with Argo CD's tracking label,
//! upgraded by a values change, a chart folder rendered without `source.helm` (as Argo CD
//! detects it by its Chart.yaml), `parameters` set over the values (`--set`,
//! `forceString`, Argo CD's build variables substituted, a new commit rendered with its
//! own) with a missing value file left out (`ignoreMissingValueFiles`), and an
//! unserved helm field refused by name. A `chart`
//! of a Helm repository, installed and upgraded by its `targetRevision`; one of an OCI
//! registry, with Argo CD's repository Secret.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::argocd::{Application, ApplicationConditionType, INSTANCE_LABEL};
use lockstep_testenv::{
    ControlPlane, GitServer, HelmRepoServer, HttpAuth, OciRegistry, need, tool,
};
use serde_json::json;

use crate::argocd::{install_argocd_crds, refused, synced_at};
use crate::flux_helm::web_chart;
use crate::support::{Controller, eventually};

#[tokio::test]
async fn a_chart_application_installs_upgrades_and_refuses_by_name() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-helm").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("shop", None).unwrap();
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    )
    .unwrap();
    repo.write("chart/values.yaml", "color: blue\nteam: none\nsize: tiny\n")
        .unwrap();
    repo.write("chart/prod.yaml", "team: payments\n").unwrap();
    repo.write("chart/files/team.txt", "from-a-file").unwrap();
    repo.write(
        "chart/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
         data:\n  color: {{ .Values.color | quote }}\n  team: {{ .Values.team | quote }}\n\
         \x20 size: {{ .Values.size | quote }}\n  namespace: {{ .Release.Namespace | quote }}\n\
         \x20 kube: {{ .Capabilities.KubeVersion.Version | quote }}\n",
    )
    .unwrap();
    let first = repo.commit("shop chart").unwrap();
    let url = repo.git_url().unwrap().to_owned();

    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("argocd-tests").force();
    let application = |name: &str, helm: serde_json::Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "main", "path": "chart",
                                "helm": helm},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": ns},
                     "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
        })
    };
    let shop = application(
        "shop",
        json!({"valueFiles": ["prod.yaml"], "values": "size: ignored",
               "valuesObject": {"size": "small"}}),
    );
    apps.patch("shop", &params, &Patch::Apply(&shop))
        .await
        .unwrap();
    let priced = application(
        "priced",
        json!({"valueFiles": ["/chart/prod.yaml", "missing-$ARGOCD_APP_NAME.yaml"],
               "ignoreMissingValueFiles": true,
               "valuesObject": {"size": "small"},
               "parameters": [{"name": "color", "value": "red-$ARGOCD_APP_REVISION_SHORT"},
                              {"name": "size", "value": "0042", "forceString": true}]}),
    );
    apps.patch("priced", &params, &Patch::Apply(&priced))
        .await
        .unwrap();
    let filed = application(
        "filed",
        json!({"fileParameters": [{"name": "team", "path": "files/team.txt"}],
               "kubeVersion": "1.29.0"}),
    );
    apps.patch("filed", &params, &Patch::Apply(&filed))
        .await
        .unwrap();
    let refused_app = application("versioned", json!({"version": "v2"}));
    apps.patch("versioned", &params, &Patch::Apply(&refused_app))
        .await
        .unwrap();

    // No `source.helm`: Argo CD still renders a folder holding a Chart.yaml with helm.
    let mut plain = application("plain", json!(null));
    plain["spec"]["source"]
        .as_object_mut()
        .unwrap()
        .remove("helm");
    apps.patch("plain", &params, &Patch::Apply(&plain))
        .await
        .unwrap();

    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    eventually(
        "the chart Application to be Synced and Healthy",
        async || synced_at(&apps.get("shop").await.unwrap(), &first),
    )
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let config = configmaps.get("shop-config").await.unwrap();
    let data = config.data.unwrap();
    // values.yaml < prod.yaml < valuesObject (which replaces `values`); release in the
    // destination namespace, named after the Application.
    assert_eq!(data["color"], "blue");
    assert_eq!(data["team"], "payments");
    assert_eq!(data["size"], "small");
    assert_eq!(data["namespace"], ns);
    let labels = config.metadata.labels.unwrap();
    assert_eq!(labels[INSTANCE_LABEL], "shop");
    let app = apps.get("shop").await.unwrap();
    let resources = &app.status.unwrap().resources;
    assert_eq!(resources.len(), 1, "{resources:?}");
    assert_eq!(resources[0].name, "shop-config");

    // An upgrade: a values change in the Application is rendered and applied in place.
    let uid = config.metadata.uid.unwrap();
    let upgraded = application(
        "shop",
        json!({"valueFiles": ["prod.yaml"], "valuesObject": {"size": "large"}}),
    );
    apps.patch("shop", &params, &Patch::Apply(&upgraded))
        .await
        .unwrap();
    eventually("the new values to be applied", async || {
        let data = configmaps.get("shop-config").await.unwrap().data.unwrap();
        data["size"] == "large"
    })
    .await;
    let config = configmaps.get("shop-config").await.unwrap();
    assert_eq!(config.metadata.uid.unwrap(), uid, "upgraded in place");
    assert_eq!(config.data.unwrap()["team"], "payments");

    eventually(
        "the Application without source.helm to render its chart",
        async || synced_at(&apps.get("plain").await.unwrap(), &first),
    )
    .await;
    let plain = configmaps.get("plain-config").await.unwrap().data.unwrap();
    assert_eq!(
        (&plain["color"][..], &plain["team"][..], &plain["namespace"]),
        ("blue", "none", &ns)
    );

    // Parameters win over valuesObject, with Argo CD's build variables substituted; a value
    // file from `/` is read from the repository's root; the missing one is left out.
    eventually("the Application with parameters to be Synced", async || {
        synced_at(&apps.get("priced").await.unwrap(), &first)
    })
    .await;
    let priced = configmaps.get("priced-config").await.unwrap().data.unwrap();
    assert_eq!(
        (
            &priced["color"][..],
            &priced["team"][..],
            &priced["size"][..]
        ),
        (&*format!("red-{}", &first[..7]), "payments", "0042")
    );

    // A file's content set at a path (`--set-file`), rendered for the Kubernetes version
    // the Application names rather than the cluster's.
    eventually(
        "the Application with fileParameters to be Synced",
        async || synced_at(&apps.get("filed").await.unwrap(), &first),
    )
    .await;
    let filed = configmaps.get("filed-config").await.unwrap().data.unwrap();
    assert_eq!(
        (&filed["team"][..], &filed["kube"][..]),
        ("from-a-file", "v1.29.0")
    );
    assert_ne!(
        data["kube"], "v1.29.0",
        "the others render for the cluster's version"
    );

    // `version` (Argo CD's helm binary) is not served: refused by name, nothing applied.
    eventually("helm.version to be refused by name", async || {
        let app = apps.get("versioned").await.unwrap();
        let invalid = ApplicationConditionType::InvalidSpecError;
        refused(&app, invalid, "spec.source.helm.version")
    })
    .await;
    assert!(
        configmaps
            .get_opt("versioned-config")
            .await
            .unwrap()
            .is_none()
    );

    // A new commit is rendered with its own revision in the build variables.
    repo.write("chart/NOTES.txt", "second\n").unwrap();
    let second = repo.commit("second").unwrap();
    eventually("the parameter to name the new commit", async || {
        let data = configmaps.get("priced-config").await.unwrap().data.unwrap();
        data["color"] == format!("red-{}", &second[..7])
    })
    .await;
}

/// An Application whose source is a `chart` of a Helm repository behind basic auth (its
/// credentials in an Argo CD repository Secret): the highest version inside
/// `targetRevision` installed, Synced at that version as Argo CD reports it, a bump of
/// `targetRevision` upgrading it and pruning what the new version dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_chart_application_installs_and_follows_its_target_revision() {
    const USER: &str = "argo";
    const PASSWORD: &str = "argo-h3lm-pass";
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let server = need!(
        HelmRepoServer::start(Some(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    for (version, extra) in [("1.0.0", "old"), ("1.3.0", "old"), ("2.0.0", "new")] {
        let chart = work.path().join(version).join("shop");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: shop\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(chart.join("values.yaml"), "color: blue\n").unwrap();
        std::fs::write(
            chart.join("templates/config.yaml"),
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\n\
                 data:\n  color: {{{{ .Values.color | quote }}}}\n  chart: {{{{ .Chart.Version | quote }}}}\n\
                 ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{extra}\n"
            ),
        )
        .unwrap();
        server.publish(&chart).unwrap();
    }
    let (client, ns) = plane.namespace("argocd-helmrepo").await.unwrap();
    install_argocd_crds(&client).await;
    let params = PatchParams::apply("argocd-tests").force();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "charts", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"type": "helm", "name": "charts", "url": server.url(),
                       "username": USER, "password": PASSWORD},
    });
    secrets
        .patch("charts", &params, &Patch::Apply(&secret))
        .await
        .unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let application = |revision: &str| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop"},
            "spec": {"project": "default",
                     "source": {"repoURL": server.url(), "chart": "shop",
                                "targetRevision": revision,
                                "helm": {"valuesObject": {"color": "green"}}},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": ns},
                     "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
        })
    };
    apps.patch("shop", &params, &Patch::Apply(&application("1.*")))
        .await
        .unwrap();
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    eventually("the 1.x chart to be Synced at 1.3.0", async || {
        synced_at(&apps.get("shop").await.unwrap(), "1.3.0")
    })
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = configmaps.get("shop-config").await.unwrap().data.unwrap();
    assert_eq!((&data["color"][..], &data["chart"][..]), ("green", "1.3.0"));
    assert!(configmaps.get_opt("shop-old").await.unwrap().is_some());

    apps.patch("shop", &params, &Patch::Apply(&application("2.0.0")))
        .await
        .unwrap();
    eventually(
        "2.0.0 to replace 1.3.0 and prune what it dropped",
        async || {
            synced_at(&apps.get("shop").await.unwrap(), "2.0.0")
                && configmaps.get_opt("shop-old").await.unwrap().is_none()
        },
    )
    .await;
    assert!(configmaps.get_opt("shop-new").await.unwrap().is_some());
    assert!(
        server.requests().iter().all(|r| r.authorized),
        "the repository Secret's credentials were sent"
    );
}

/// An Application whose `chart` is in an OCI registry, its `repoURL` without a scheme as
/// Argo CD writes one, read with an Argo CD repository Secret (`enableOCI`, plain HTTP by
/// `insecureOCIForceHttp`, basic auth) against the real `distribution` registry: the
/// highest version inside `targetRevision` installed and Synced at that version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oci_chart_application_installs_with_its_repository_secret() {
    const USER: &str = "argo-oci";
    const PASSWORD: &str = "argo-0ci-pass";
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
    for version in ["1.0.0", "1.1.0", "2.0.0"] {
        registry.push(&web_chart(work.path(), version)).unwrap();
    }
    let (client, ns) = plane.namespace("argocd-oci").await.unwrap();
    install_argocd_crds(&client).await;
    let params = PatchParams::apply("argocd-tests").force();
    let repo_url = format!("{}/charts", registry.host());
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "oci", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"type": "helm", "name": "oci", "url": repo_url, "enableOCI": "true",
                       "insecureOCIForceHttp": "true", "username": USER, "password": PASSWORD},
    });
    secrets
        .patch("oci", &params, &Patch::Apply(&secret))
        .await
        .unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let application = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"project": "default",
                 "source": {"repoURL": repo_url, "chart": "web", "targetRevision": "1.*",
                            "helm": {"valuesObject": {"color": "amber"}}},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                 "syncPolicy": {"automated": {"prune": true}}},
    });
    apps.patch("web", &params, &Patch::Apply(&application))
        .await
        .unwrap();
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    eventually("the 1.x OCI chart to be Synced at 1.1.0", async || {
        synced_at(&apps.get("web").await.unwrap(), "1.1.0")
    })
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let data = configmaps.get("web-config").await.unwrap().data.unwrap();
    assert_eq!(data["color"], "amber");
    let data = configmaps.get("web-v1").await.unwrap().data.unwrap();
    assert_eq!(data["chart"], "1.1.0");
    let status = serde_json::to_string(&apps.get("web").await.unwrap().status).unwrap();
    assert!(!status.contains(PASSWORD), "{status}");
}

//! The Application of Argo CD's own declarative-setup example, as published, against a copy
//! of the `guestbook` folder of argoproj/argocd-example-apps (Apache-2.0): only its
//! `repoURL` and the namespace it is created in (Argo CD's, here the controller's) differ.
//! As written it has no `automated` policy, so nothing is applied until a sync is asked
//! for, the way Argo CD's FAQ asks with `kubectl patch`; then the Deployment and Service
//! are applied into `guestbook` with Argo CD's tracking label. This control plane has no
//! node, so the Deployment's Pods never run: the Application is `Progressing`, then
//! `Degraded` past its sync's timeout (Argo CD, without a timeout of its own, stays
//! `Progressing` until the Deployment's progress deadline), and never `Healthy`.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::argocd::{Application, HealthCode, INSTANCE_LABEL, SyncCode};
use lockstep_testenv::{ControlPlane, GitServer, manifests, need};
use serde_json::json;

use crate::argocd::install_argocd_crds;
use crate::support::{Controller, eventually};

/// `guestbook/guestbook-ui-deployment.yaml` of argoproj/argocd-example-apps.
const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: guestbook-ui
spec:
  replicas: 1
  revisionHistoryLimit: 3
  selector:
    matchLabels:
      app: guestbook-ui
  template:
    metadata:
      labels:
        app: guestbook-ui
    spec:
      containers:
      - image: gcr.io/heptio-images/ks-guestbook-demo:0.2
        name: guestbook-ui
        ports:
        - containerPort: 80
";

/// `guestbook/guestbook-ui-svc.yaml` of argoproj/argocd-example-apps.
const SERVICE: &str = "\
apiVersion: v1
kind: Service
metadata:
  name: guestbook-ui
spec:
  ports:
  - port: 80
    targetPort: 80
  selector:
    app: guestbook-ui
";

/// The Application of Argo CD's declarative-setup guide.
const APPLICATION: &str = "\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: guestbook
  namespace: argocd
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
  destination:
    server: https://kubernetes.default.svc
    namespace: guestbook
";

#[tokio::test]
async fn the_published_guestbook_application_works_as_written() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-example").await.unwrap();
    install_argocd_crds(&client).await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt("guestbook").await.unwrap().is_none() {
        let guestbook = serde_json::from_value(json!({"metadata": {"name": "guestbook"}}));
        namespaces
            .create(&PostParams::default(), &guestbook.unwrap())
            .await
            .unwrap();
    }
    let repo = git.create_repo("argocd-example-apps", None).unwrap();
    repo.write("guestbook/guestbook-ui-deployment.yaml", DEPLOYMENT)
        .unwrap();
    repo.write("guestbook/guestbook-ui-svc.yaml", SERVICE)
        .unwrap();
    let head = repo.commit("guestbook").unwrap();

    let app = APPLICATION
        .replace(
            "https://github.com/argoproj/argocd-example-apps.git",
            repo.git_url().unwrap(),
        )
        .replace("namespace: argocd", &format!("namespace: {ns}"));
    manifests::apply_yaml(&client, &app).await.unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    // As written: compared, OutOfSync and Missing, nothing applied.
    let status = async || {
        let app = apps.get("guestbook").await.unwrap();
        app.status.unwrap_or_default()
    };
    eventually("the guestbook to be OutOfSync", async || {
        let status = status().await;
        status.sync.is_some_and(|s| s.status == SyncCode::OutOfSync)
            && status
                .health
                .is_some_and(|h| h.status == HealthCode::Missing)
    })
    .await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "guestbook");
    let services: Api<Service> = Api::namespaced(client.clone(), "guestbook");
    assert!(deployments.get_opt("guestbook-ui").await.unwrap().is_none());

    // Argo CD's FAQ: a sync asked for with kubectl.
    let sync = json!({"operation": {"initiatedBy": {"username": "admin"},
                                    "sync": {"syncStrategy": {"hook": {}}}}});
    apps.patch("guestbook", &PatchParams::default(), &Patch::Merge(&sync))
        .await
        .unwrap();
    // Applied and Synced at HEAD. No node runs the guestbook's Pod here, so its Deployment
    // never becomes available: Progressing, then Degraded once the sync's timeout is over,
    // naming it — never Healthy, even when the next look finds nothing to apply.
    eventually("the guestbook to be Synced at HEAD", async || {
        let status = status().await;
        status.sync.is_some_and(|s| {
            s.status == SyncCode::Synced && s.revision.as_deref() == Some(head.as_str())
        })
    })
    .await;
    let synced = status().await;
    let mut kinds: Vec<&str> = synced.resources.iter().map(|r| r.kind.as_str()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["Deployment", "Service"]);
    let mut looks = Vec::new();
    eventually("the guestbook to be Degraded", async || {
        let health = status().await.health.unwrap_or_default();
        looks.push(health.status);
        health.status == HealthCode::Degraded
            && health
                .message
                .is_some_and(|m| m.contains("Deployment/guestbook/guestbook-ui"))
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    looks.push(status().await.health.unwrap_or_default().status);
    assert!(
        looks
            .iter()
            .all(|h| matches!(h, HealthCode::Progressing | HealthCode::Degraded)),
        "{looks:?}"
    );
    for labels in [
        deployments
            .get("guestbook-ui")
            .await
            .unwrap()
            .metadata
            .labels,
        services.get("guestbook-ui").await.unwrap().metadata.labels,
    ] {
        assert_eq!(labels.unwrap()[INSTANCE_LABEL], "guestbook");
    }
    apps.delete("guestbook", &Default::default()).await.unwrap();
}

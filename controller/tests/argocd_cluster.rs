//! Argo CD's `Application` with another cluster as its destination, served by the real
//! `lockstep-controller` (`--argocd`): the cluster is a second real control plane, reached
//! only through an Argo CD cluster Secret (`argocd.argoproj.io/secret-type: cluster`) with
//! its server, CA and bearer token, as `argocd cluster add` writes it.

use base64::Engine;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use lockstep_api::argocd::{Application, ApplicationConditionType, RESOURCES_FINALIZER};
use lockstep_testenv::{ControlPlane, GitServer, need};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::argocd::{install_argocd_crds, refused, synced_at};
use crate::support::{Controller, eventually};

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

/// Applied in the remote cluster (by `server`, and by `name`), never in the local one;
/// the Secret's credentials are read at every sync, so a token without rights is refused
/// there naming its identity; a destination no Secret names is refused by name; deleting
/// an Application with the resources finalizer deletes its objects in the remote cluster,
/// except one marked `Delete=false` and its CRD.
#[tokio::test]
async fn a_cluster_secret_sends_an_application_to_another_cluster() {
    let plane = need!(ControlPlane::shared().await);
    let remote = need!(ControlPlane::start(Default::default()).await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-cluster").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("far", None).unwrap();
    repo.write("far/a.yaml", cm("far-a", "1")).unwrap();
    repo.write("named/b.yaml", cm("named-b", "1")).unwrap();
    // Kept when the Application is deleted: its own `Delete=false`, and a CRD (Argo CD
    // never deletes one with an Application).
    let retained = cm("named-retained", "1").replace(
        "metadata: {",
        "metadata: {annotations: {argocd.argoproj.io/sync-options: Delete=false}, ",
    );
    repo.write("named/retained.yaml", retained).unwrap();
    repo.write(
        "named/crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
         metadata: {name: gadgets.retain.lockstep.test}\nspec:\n  group: retain.lockstep.test\n  \
         names: {kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}\n  \
         scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    \
         schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}\n",
    )
    .unwrap();
    let head = repo.commit("far").unwrap();

    // The remote control plane's CA and admin token, as Argo CD keeps them.
    let kubeconfig = Kubeconfig::read_from(remote.kubeconfig_path()).unwrap();
    let cluster = kubeconfig.clusters[0].cluster.clone().unwrap();
    let ca = std::fs::read(cluster.certificate_authority.unwrap()).unwrap();
    let ca = base64::engine::general_purpose::STANDARD.encode(ca);
    let auth = kubeconfig.auth_infos[0].auth_info.clone().unwrap();
    let admin = auth.token.unwrap().expose_secret().to_owned();
    let server = remote.server_url().to_owned();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("argocd-tests").force();
    let use_token = async |token: &str| {
        let config =
            json!({"bearerToken": token, "tlsClientConfig": {"insecure": false, "caData": ca}});
        let secret = json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "cluster-prod",
                         "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
            "stringData": {"name": "prod", "server": server, "config": config.to_string()},
        });
        let patch = Patch::Apply(&secret);
        secrets
            .patch("cluster-prod", &params, &patch)
            .await
            .unwrap();
    };
    use_token(&admin).await;

    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let application = |name: &str, path: &str, destination: serde_json::Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "finalizers": [RESOURCES_FINALIZER]},
            "spec": {"project": "default",
                     "source": {"repoURL": repo.git_url().unwrap(), "path": path},
                     "destination": destination,
                     "syncPolicy": {"automated": {"prune": true}}},
        })
    };
    for (name, path, destination) in [
        (
            "far",
            "far",
            json!({"server": server, "namespace": "default"}),
        ),
        (
            "named",
            "named",
            json!({"name": "prod", "namespace": "default"}),
        ),
        (
            "nowhere",
            "far",
            json!({"server": "https://nowhere.invalid:6443", "namespace": "default"}),
        ),
    ] {
        let app = application(name, path, destination);
        apps.patch(name, &params, &Patch::Apply(&app))
            .await
            .unwrap();
    }

    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    let remote_client = remote.client().await.unwrap();
    let remote_cms: Api<ConfigMap> = Api::namespaced(remote_client.clone(), "default");
    let local_cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    for name in ["far", "named"] {
        eventually(&format!("{name} to be Synced"), async || {
            synced_at(&apps.get(name).await.unwrap(), &head)
        })
        .await;
    }
    for object in ["far-a", "named-b"] {
        assert!(
            remote_cms.get_opt(object).await.unwrap().is_some(),
            "{object} remote"
        );
        assert!(
            local_cms.get_opt(object).await.unwrap().is_none(),
            "{object} not local"
        );
    }
    eventually("a destination no Secret names to be refused", async || {
        let app = apps.get("nowhere").await.unwrap();
        let invalid = ApplicationConditionType::InvalidSpecError;
        refused(&app, invalid, "no cluster Secret")
    })
    .await;

    // The Secret now holds the token of a ServiceAccount with no rights in that cluster:
    // the next commit is refused by the remote API server, naming that identity.
    let accounts: Api<ServiceAccount> = Api::namespaced(remote_client.clone(), "default");
    let nobody = ServiceAccount {
        metadata: kube::api::ObjectMeta {
            name: Some("nobody".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    accounts
        .create(&PostParams::default(), &nobody)
        .await
        .unwrap();
    let token = accounts
        .create_token_request("nobody", &PostParams::default(), &TokenRequest::default())
        .await
        .unwrap();
    let token = token.status.unwrap().token;
    use_token(&token).await;
    repo.write("far/a.yaml", cm("far-a", "2")).unwrap();
    repo.commit("far-a 2").unwrap();
    eventually(
        "the remote API server to refuse the weak token",
        async || {
            let app = apps.get("far").await.unwrap();
            let state = app.status.and_then(|s| s.operation_state);
            let message = state.and_then(|s| s.message).unwrap_or_default();
            message.contains("system:serviceaccount:default:nobody")
        },
    )
    .await;
    let far = remote_cms.get("far-a").await.unwrap();
    assert_eq!(
        far.data.unwrap()["v"],
        "1",
        "nothing written with the weak token"
    );

    // Back to the admin token: deleting an Application deletes its objects over there.
    use_token(&admin).await;
    apps.delete("named", &DeleteParams::default())
        .await
        .unwrap();
    eventually("named-b to be deleted in the remote cluster", async || {
        remote_cms.get_opt("named-b").await.unwrap().is_none()
    })
    .await;
    eventually("the Application to be gone", async || {
        apps.get_opt("named").await.unwrap().is_none()
    })
    .await;
    assert!(
        remote_cms
            .get_opt("named-retained")
            .await
            .unwrap()
            .is_some()
    );
    let crds: Api<CustomResourceDefinition> = Api::all(remote_client.clone());
    let crd = crds.get_opt("gadgets.retain.lockstep.test").await.unwrap();
    assert!(crd.is_some(), "a CRD is never deleted with its Application");
}

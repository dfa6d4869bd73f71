//! Argo CD Application options end to end, each on an Application of its own reading one
//! repository: `directory.recurse` with `include` and `exclude`, `ignoreDifferences` with
//! `RespectIgnoreDifferences=true` under `selfHeal`, `revisionHistoryLimit`, and
//! `Validate=false` over an object with a field its kind does not declare: Argo CD's
//! client-side apply drops that field; Lockstep applies server-side, where the API server
//! refuses it whatever `Validate` says, so the sync fails naming the object and the field
//! and writes nothing (docs/argocd.md says so).

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::argocd::{Application, OperationPhase};
use lockstep_testenv::{ControlPlane, GitServer, need};
use serde_json::{Value, json};

use crate::argocd::{install_argocd_crds, synced_at};
use crate::support::{Controller, eventually};

fn cm(name: &str, data: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{{data}}}\n")
}

#[tokio::test]
async fn directory_ignore_differences_history_limit_and_validate_through_applications() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-options").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("options", None).unwrap();
    for (path, text) in [
        ("tree/top.yaml", cm("top", "v: '1'")),
        ("tree/nested/deep.yaml", cm("deep", "v: '1'")),
        ("tree/nested/skip.yaml", cm("skipped", "v: '1'")),
        ("picked/one.yaml", cm("picked-one", "v: '1'")),
        ("picked/two.yaml", cm("picked-two", "v: '1'")),
        ("tuned/tuned.yaml", cm("tuned", "replicas: '1', v: git")),
        ("hist/h.yaml", cm("hist", "v: '1'")),
        (
            "lenient/odd.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd}\ndata: {v: '1'}\nspec: {replicas: 2}\n"
                .to_owned(),
        ),
    ] {
        repo.write(path, text).unwrap();
    }
    let first = repo.commit("options").unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("argocd-options-tests").force();
    let create = async |name: &str, path: &str, extra: Value| {
        let mut app = json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "main", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": ns},
                     "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
        });
        for (key, value) in extra.as_object().unwrap() {
            match key.as_str() {
                "directory" => app["spec"]["source"]["directory"] = value.clone(),
                "syncOptions" => app["spec"]["syncPolicy"]["syncOptions"] = value.clone(),
                _ => app["spec"][key] = value.clone(),
            }
        }
        apps.patch(name, &params, &Patch::Apply(&app))
            .await
            .unwrap();
    };
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;
    create(
        "tree",
        "tree",
        json!({"directory": {"recurse": true, "exclude": "nested/skip.yaml"}}),
    )
    .await;
    create(
        "picked",
        "picked",
        json!({"directory": {"include": "two.yaml"}}),
    )
    .await;
    create(
        "tuned",
        "tuned",
        json!({
            "ignoreDifferences": [{"kind": "ConfigMap", "name": "tuned",
                                   "jsonPointers": ["/data/replicas"]}],
            "syncOptions": ["RespectIgnoreDifferences=true"],
        }),
    )
    .await;
    create("hist", "hist", json!({"revisionHistoryLimit": 1})).await;
    create(
        "lenient",
        "lenient",
        json!({"syncOptions": ["Validate=false"]}),
    )
    .await;
    for name in ["tree", "picked", "tuned", "hist"] {
        eventually(&format!("{name} to sync {first}"), async || {
            synced_at(&apps.get(name).await.unwrap(), &first)
        })
        .await;
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let exists = async |name: &str| configmaps.get_opt(name).await.unwrap().is_some();

    // Recursed, minus the excluded file; only the included file of the other folder.
    assert!(exists("top").await && exists("deep").await);
    assert!(!exists("skipped").await, "excluded, yet applied");
    assert!(exists("picked-two").await);
    assert!(!exists("picked-one").await, "not included, yet applied");
    // The field the ConfigMap kind does not declare is refused by the API server, named.
    let mut message = String::new();
    eventually("lenient to fail on its undeclared field", async || {
        let state = apps.get("lenient").await.unwrap().status;
        let state = state.and_then(|s| s.operation_state);
        message = state
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        state.is_some_and(|s| s.phase == OperationPhase::Failed)
    })
    .await;
    assert!(
        message.contains("ConfigMap/")
            && message.contains("/odd")
            && message.contains(".spec: field not declared in schema"),
        "{message}"
    );
    assert!(!exists("odd").await);

    // The ignored field edited by hand stays as edited under selfHeal, the Application
    // Synced; a new revision writes the rest and still leaves it.
    let by_hand = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"replicas": "5"}});
    configmaps
        .patch(
            "tuned",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(&by_hand),
        )
        .await
        .unwrap();
    repo.write("tuned/tuned.yaml", cm("tuned", "replicas: '1', v: git2"))
        .unwrap();
    repo.write("hist/h.yaml", cm("hist", "v: '2'")).unwrap();
    let second = repo.commit("tuned and hist changed").unwrap();
    for name in ["tuned", "hist"] {
        eventually(&format!("{name} to sync {second}"), async || {
            synced_at(&apps.get(name).await.unwrap(), &second)
        })
        .await;
    }
    let tuned = configmaps.get("tuned").await.unwrap().data.unwrap();
    assert_eq!(
        (tuned["v"].as_str(), tuned["replicas"].as_str()),
        ("git2", "5")
    );
    // One more interval of selfHeal: still as edited.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let tuned = configmaps.get("tuned").await.unwrap().data.unwrap();
    assert_eq!(tuned["replicas"], "5", "selfHeal reverted an ignored field");

    // `revisionHistoryLimit: 1`: only the latest sync is kept.
    let history = apps.get("hist").await.unwrap().status.unwrap().history;
    let revisions: Vec<&str> = history.iter().map(|h| h.revision.as_str()).collect();
    assert_eq!(revisions, [second.as_str()]);
}

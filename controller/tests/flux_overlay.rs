//! A Flux Kustomization's `namePrefix`, `nameSuffix`, `images`, `patches` (strategic-merge
//! and JSON 6902, with `target` selectors), `components` and `commonMetadata`, served by the
//! real `lockstep-controller` (`--flux`) into the real kube-apiserver, on a plain folder
//! (the kustomization generated, as Flux generates it) holding a SOPS-encrypted Secret that
//! still decrypts under its prefixed name.

use std::process::Command;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::ConditionStatus;
use lockstep_api::flux::{Kustomization, NAME_LABEL};
use lockstep_testenv::{ControlPlane, GitHttpServer, HttpAuth, need, tool};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::flux::install_flux_crds;
use crate::support::{Controller, eventually, install_sync_crds};

const TOKEN: &str = "0verlay-bearer-token";
/// The plaintext of the SOPS-encrypted Secret.
const PASSWORD: &str = "s3cret-under-a-prefix";

#[tokio::test]
async fn name_prefix_images_patches_components_and_common_metadata_are_applied() {
    let plane = need!(ControlPlane::shared().await);
    let sops = need!(tool("sops"));
    need!(tool("kustomize"));
    let (client, ns) = plane.namespace("flux-overlay").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;

    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let repo = git.create_repo("apps", None).unwrap();
    let files = [
        (
            "apps/web.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  \
             replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    \
             metadata: {labels: {app: web}}\n    spec:\n      containers:\n      \
             - {name: web, image: 'registry.invalid/web:1'}\n",
        ),
        (
            "apps/settings.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n",
        ),
        (
            "components/labelled/kustomization.yaml",
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n\
             commonAnnotations: {component: labelled}\n",
        ),
    ];
    for (path, text) in files {
        repo.write(path, text).unwrap();
    }
    repo.write(
        "apps/db.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\n\
             stringData: {{password: '{PASSWORD}'}}\n"
        ),
    )
    .unwrap();
    let (recipient, identity) = lockstep_keys::age::generate();
    let out = Command::new(sops)
        .current_dir(repo.work_tree())
        .env("HOME", repo.work_tree())
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .args(["--encrypted-regex", "^(data|stringData)$", "apps/db.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commit = repo.commit("plain folder").unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let post = PostParams::default();
    for secret in [
        json!({"metadata": {"name": "sops-age"},
               "stringData": {"age.agekey": identity.expose_secret()}}),
        json!({"metadata": {"name": "git-auth"}, "stringData": {"bearerToken": TOKEN}}),
    ] {
        let secret = serde_json::from_value(secret).unwrap();
        secrets.create(&post, &secret).await.unwrap();
    }
    let params = PatchParams::apply("flux-tests").force();
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": git.url("apps"), "interval": "1m", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}},
    });
    Api::<lockstep_api::flux::GitRepository>::namespaced(client.clone(), &ns)
        .patch("repo", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let kustomization = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {
            "sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps",
            "interval": "1m", "prune": true, "targetNamespace": ns,
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
            "namePrefix": "flux-", "nameSuffix": "-x",
            "images": [{"name": "registry.invalid/web", "newName": "mirror.invalid/web",
                        "newTag": "2"}],
            "patches": [
                {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: any}\n\
                           spec: {replicas: 3}\n",
                 "target": {"kind": "Deployment", "labelSelector": "!absent"}},
                {"patch": "- {op: add, path: /data/patched, value: 'yes'}\n",
                 "target": {"version": "v1", "kind": "ConfigMap", "name": "settings"}},
            ],
            "components": ["../components/labelled", "../components/missing"],
            "ignoreMissingComponents": true,
            "commonMetadata": {
                "labels": {"team": "a", NAME_LABEL: "someone-else"},
                "annotations": {"contact": "${cluster}"},
            },
            "postBuild": {"substitute": {"cluster": "prod"}},
        },
    });
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    kss.patch("apps", &params, &Patch::Apply(&kustomization))
        .await
        .unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    let revision = format!("main@sha1:{commit}");
    eventually("Kustomization apps to be Ready", async || {
        let status = kss.get("apps").await.unwrap().status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        status.last_applied_revision.as_ref() == Some(&revision)
            && ready.is_some_and(|c| c.status == ConditionStatus::True)
    })
    .await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let web = deployments.get("flux-web-x").await.unwrap();
    let spec = web.spec.clone().unwrap();
    assert_eq!(spec.replicas, Some(3), "strategic-merge patch by target");
    let image = spec.template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("mirror.invalid/web:2"));
    let labels = web.metadata.labels.clone().unwrap();
    assert_eq!(labels["team"], "a");
    assert_eq!(labels[NAME_LABEL], "apps", "the owner label is kept");
    let annotations = web.metadata.annotations.clone().unwrap();
    assert_eq!(
        annotations["contact"], "${cluster}",
        "set after postBuild, as Flux sets it"
    );
    assert_eq!(annotations["component"], "labelled");

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settings = configmaps.get("flux-settings-x").await.unwrap();
    let data = settings.data.unwrap();
    assert_eq!(data["patched"], "yes", "JSON 6902 patch by target");
    assert_eq!(settings.metadata.labels.unwrap()["team"], "a");

    let db = secrets.get("flux-db-x").await.unwrap();
    assert_eq!(db.data.unwrap()["password"].0, PASSWORD.as_bytes());
    assert_eq!(db.metadata.annotations.unwrap()["contact"], "${cluster}");

    let status = kss.get("apps").await.unwrap().status.unwrap();
    let mut ids: Vec<String> = status
        .inventory
        .unwrap()
        .entries
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            format!("{ns}_flux-db-x__Secret"),
            format!("{ns}_flux-settings-x__ConfigMap"),
            format!("{ns}_flux-web-x_apps_Deployment"),
        ]
    );
    let text = serde_json::to_string(&status.conditions).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    // Unprefixed names were never applied.
    assert!(configmaps.get_opt("settings").await.unwrap().is_none());
}

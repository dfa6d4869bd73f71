//! The committed CRDs under `deploy/crds/` are the ones the Rust types generate, and the
//! real apiserver accepts them.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::argocd::{AppProject, application_crd};
use lockstep_api::flux::{
    GitRepository, HelmRelease, HelmRepository, Kustomization, OCIRepository, Receiver, alert_crd,
    provider_crd,
};
use lockstep_api::{ClusterSecretStore, ExternalSecret, GitSource, SecretStore, Sync};
use lockstep_testenv::{ControlPlane, need};

fn crds() -> Vec<(PathBuf, CustomResourceDefinition)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    [
        GitSource::crd(),
        Sync::crd(),
        ExternalSecret::crd(),
        SecretStore::crd(),
        ClusterSecretStore::crd(),
        GitRepository::crd(),
        Kustomization::crd(),
        HelmRelease::crd(),
        HelmRepository::crd(),
        OCIRepository::crd(),
        Receiver::crd(),
        alert_crd(),
        provider_crd(),
        application_crd(),
        AppProject::crd(),
    ]
    .into_iter()
    .map(|crd| {
        let (group, plural) = (&crd.spec.group, &crd.spec.names.plural);
        (dir.join(format!("{group}_{plural}.yaml")), crd)
    })
    .collect()
}

fn render(crd: &CustomResourceDefinition) -> String {
    let body = serde_saphyr::to_string(crd).unwrap();
    format!(
        "# Generated from crates/api by `LOCKSTEP_BLESS=1 cargo test -p lockstep-api --test crds`; do not edit.\n{body}"
    )
}

#[test]
fn committed_crds_are_up_to_date() {
    let bless = std::env::var_os("LOCKSTEP_BLESS").is_some();
    for (path, crd) in crds() {
        let want = render(&crd);
        if bless {
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is stale; regenerate with LOCKSTEP_BLESS=1 cargo test -p lockstep-api --test crds",
            path.display()
        );
        // The committed YAML reads back as the same CRD.
        let parsed: CustomResourceDefinition = serde_saphyr::from_str(&have).unwrap();
        assert_eq!(parsed, crd);
    }
}

#[tokio::test]
async fn apiserver_accepts_the_crds_and_a_resource_of_each() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("api-crds").await.unwrap();
    let crd_api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, crd) in crds() {
        let name = crd.metadata.name.clone().unwrap();
        crd_api
            .patch(
                &name,
                &PatchParams::apply("lockstep").force(),
                &Patch::Apply(&crd),
            )
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let live = crd_api.get(&name).await.unwrap();
            let established = live
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} never established"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let source: GitSource = serde_json::from_value(serde_json::json!({
        "apiVersion": "lockstep.dev/v1alpha1",
        "kind": "GitSource",
        "metadata": {"name": "repo"},
        "spec": {"url": "git://127.0.0.1/repo.git", "ref": {"branch": "main"}, "interval": "1m"},
    }))
    .unwrap();
    let sync: Sync = serde_json::from_value(serde_json::json!({
        "apiVersion": "lockstep.dev/v1alpha1",
        "kind": "Sync",
        "metadata": {"name": "apps"},
        "spec": {
            "sourceRef": {"name": "repo"},
            "path": "apps",
            "interval": "5m",
            "prune": true,
            "mode": "manual",
            "decryption": {"provider": "sops", "secretRef": {"name": "keys"}},
        },
    }))
    .unwrap();
    let params = PatchParams::apply("lockstep").force();
    // The CRDs may be served a moment after Established; retry until created.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let sources: Api<GitSource> = Api::namespaced(client.clone(), &ns);
        let syncs: Api<Sync> = Api::namespaced(client.clone(), &ns);
        let a = sources.patch("repo", &params, &Patch::Apply(&source)).await;
        let b = syncs.patch("apps", &params, &Patch::Apply(&sync)).await;
        match (a, b) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.spec.url, "git://127.0.0.1/repo.git");
                assert!(b.spec.prune);
                assert_eq!(b.spec.mode, lockstep_api::SyncMode::Manual);
                break;
            }
            (a, b) => assert!(
                tokio::time::Instant::now() < deadline,
                "resources not accepted: {:?} {:?}",
                a.err(),
                b.err()
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Flux's GitRepository and Kustomization as Flux's docs write them.
    let repo: GitRepository = serde_json::from_value(serde_json::json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "podinfo"},
        "spec": {"url": "https://github.com/stefanprodan/podinfo", "interval": "5m",
                 "ref": {"branch": "master"}},
    }))
    .unwrap();
    let ks: Kustomization = serde_json::from_value(serde_json::json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "podinfo"},
        "spec": {"interval": "10m", "targetNamespace": "default", "path": "./kustomize",
                 "prune": true, "timeout": "1m",
                 "sourceRef": {"kind": "GitRepository", "name": "podinfo"}},
    }))
    .unwrap();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let stored = repos
        .patch("podinfo", &params, &Patch::Apply(&repo))
        .await
        .unwrap();
    assert_eq!(
        stored.spec, repo.spec,
        "nothing defaulted into a stored GitRepository"
    );
    let stored = kss
        .patch("podinfo", &params, &Patch::Apply(&ks))
        .await
        .unwrap();
    assert_eq!(
        stored.spec, ks.spec,
        "nothing defaulted into a stored Kustomization"
    );
    // Flux refuses scp-style URLs; so does the schema.
    let mut scp = repo.clone();
    scp.metadata.name = Some("scp".into());
    scp.spec.url = "git@github.com:stefanprodan/podinfo".into();
    let err = repos
        .patch("scp", &params, &Patch::Apply(&scp))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spec.url"), "{err}");

    // The schema rejects a URL of an unknown scheme.
    let syncs: Api<GitSource> = Api::namespaced(client, &ns);
    let mut bad = source.clone();
    bad.metadata.name = Some("bad".into());
    bad.spec.url = "ftp://example.invalid/repo".into();
    let err = syncs
        .patch("bad", &params, &Patch::Apply(&bad))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spec.url"), "{err}");
}

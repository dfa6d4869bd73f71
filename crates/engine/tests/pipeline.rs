//! The engine end to end: commits pushed to the real git daemon are fetched, rendered,
//! applied to the real apiserver and pruned — add, change, remove, `git revert`, and an
//! unchanged revision that fetches and writes nothing.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use lockstep_api::InventoryEntry;
use lockstep_engine::apply::{Action, ApplyOptions, ChangeSet, Protect, apply};
use lockstep_engine::fetch::{Fetched, Fetcher, GitReference};
use lockstep_engine::inventory;
use lockstep_engine::prune::{PruneOutcome, prune};
use lockstep_engine::render::{Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, GitServer, need};

struct Reconcile {
    fetched: Fetched,
    changes: ChangeSet,
    pruned: PruneOutcome,
}

async fn reconcile(
    client: &Client,
    fetcher: &Fetcher,
    url: &str,
    ns: &str,
    inventory: &mut Vec<InventoryEntry>,
) -> Reconcile {
    let owner = Owner::lockstep("apps", ns);
    let fetched = fetcher
        .fetch(url, &GitReference::Branch("main".into()))
        .await
        .unwrap();
    let manifests = render(
        &fetched.artifact.path,
        "deploy",
        &RenderOptions {
            owner: Some(owner.clone()),
            target_namespace: Some(ns.into()),
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests;
    let changes = apply(client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    let pruned = prune(
        client,
        inventory,
        &changes,
        &owner,
        &Protect::default(),
        false,
    )
    .await
    .unwrap();
    *inventory = inventory::from_change_set(&changes);
    Reconcile {
        fetched,
        changes,
        pruned,
    }
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

#[tokio::test]
async fn commits_are_applied_changed_pruned_and_reverted() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("pipeline").await.unwrap();
    let repo = git.create_repo("pipeline", None).unwrap();
    repo.write("deploy/a.yaml", cm("a", "1")).unwrap();
    repo.write("deploy/b.yaml", cm("b", "1")).unwrap();
    repo.write("README.md", "not a manifest").unwrap();
    let added = repo.commit("add a and b").unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 3);
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    let value = async |name: &str| {
        configmaps
            .get_opt(name)
            .await
            .unwrap()
            .map(|c| c.data.unwrap()["value"].clone())
    };
    let mut inv = Vec::new();

    let r = reconcile(&client, &fetcher, &url, &ns, &mut inv).await;
    assert_eq!(r.fetched.artifact.revision, format!("main@sha1:{added}"));
    assert_eq!(r.changes.writes(), 2);
    assert_eq!(value("a").await.as_deref(), Some("1"));

    // Same revision: no fetch, no write, nothing pruned.
    let r = reconcile(&client, &fetcher, &url, &ns, &mut inv).await;
    assert!(!r.fetched.transferred);
    assert_eq!(fetcher.transfers(), 1);
    assert_eq!(r.changes.writes(), 0);
    assert!(r.pruned.deleted.is_empty());

    // A changed field.
    repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    repo.commit("a = 2").unwrap();
    let r = reconcile(&client, &fetcher, &url, &ns, &mut inv).await;
    assert_eq!(
        r.changes.action_of(&format!("/ConfigMap/{ns}/a")),
        Some(Action::Configured)
    );
    assert_eq!(r.changes.writes(), 1);
    assert_eq!(value("a").await.as_deref(), Some("2"));

    // A removed file is pruned.
    repo.remove("deploy/b.yaml").unwrap();
    let removed = repo.commit("remove b").unwrap();
    let r = reconcile(&client, &fetcher, &url, &ns, &mut inv).await;
    assert_eq!(r.pruned.deleted.len(), 1);
    assert_eq!(r.pruned.deleted[0].name, "b");
    assert_eq!(value("b").await, None);

    // git revert brings it back.
    repo.git(&["revert", "--no-edit", &removed]).unwrap();
    repo.push().unwrap();
    let r = reconcile(&client, &fetcher, &url, &ns, &mut inv).await;
    assert_eq!(
        r.changes.action_of(&format!("/ConfigMap/{ns}/b")),
        Some(Action::Created)
    );
    assert_eq!(value("b").await.as_deref(), Some("1"));
    assert_eq!(inv.len(), 2);
}

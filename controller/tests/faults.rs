//! The fault matrix of the reliability probe (`shared/reviews/reliability-2026-12.md`, B2–B5),
//! kept as tests against the real servers: the API server restarted and etcd frozen under a
//! running controller, Git force-pushed to an unrelated history, a revision that renders
//! nothing, and Vault sealed while a reference is due for its refresh. Each fault must leave
//! the cluster as it was (nothing half-applied, nothing pruned that should stay) and heal by
//! itself once the fault is gone. ("Controller killed mid-apply" is in `sync.rs`.)

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use lockstep_api::{GitSource, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, Sync, SyncStatus};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, GitRepo, GitServer, Vault, http, need};
use serde_json::json;
use support::{Controller, create_lockstep, eventually, eventually_within, install_sync_crds};

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

/// A GitSource `repo` over `repo` and a pruning Sync `apps` of `path` into `ns`, polling
/// every second.
async fn source_and_sync(client: &kube::Client, ns: &str, repo: &GitRepo, path: &str) {
    create_lockstep(
        client,
        ns,
        "GitSource",
        json!({"metadata": {"name": "repo"}, "spec": {"url": repo.git_url().unwrap(), "interval": "1s"}}),
    )
    .await;
    create_lockstep(
        client,
        ns,
        "Sync",
        json!({"metadata": {"name": "apps"}, "spec": {
            "sourceRef": {"name": "repo"}, "path": path, "interval": "1s",
            "retryInterval": "1s", "prune": true, "targetNamespace": ns,
        }}),
    )
    .await;
}

async fn status(client: &kube::Client, ns: &str) -> SyncStatus {
    let api: Api<Sync> = Api::namespaced(client.clone(), ns);
    api.get("apps").await.unwrap().status.unwrap_or_default()
}

/// `Ready` as `(status, reason, message)`.
fn ready(status: &SyncStatus) -> Option<(String, String, String)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.to_string(), c.reason.clone(), c.message.clone()))
}

/// Waits (up to `within`) until Sync `apps` has applied `commit` and is Ready.
async fn applied(client: &kube::Client, ns: &str, commit: &str, within: Duration) -> SyncStatus {
    let want = format!("main@sha1:{commit}");
    let mut last = SyncStatus::default();
    eventually_within(&format!("Sync apps to apply {want}"), within, async || {
        last = status(client, ns).await;
        last.last_applied_revision.as_deref() == Some(want.as_str())
            && ready(&last).is_some_and(|(s, r, _)| s == "True" && r == "ReconciliationSucceeded")
    })
    .await;
    last
}

/// Waits until Sync `apps` is `Ready=False` for `reason` at `commit`; the message.
async fn failed(client: &kube::Client, ns: &str, commit: &str, reason: &str) -> String {
    let want = format!("main@sha1:{commit}");
    let mut last = SyncStatus::default();
    eventually(&format!("Sync apps to fail with {reason}"), async || {
        last = status(client, ns).await;
        last.last_attempted_revision.as_deref() == Some(want.as_str())
            && ready(&last).is_some_and(|(s, r, _)| s == "False" && r == reason)
    })
    .await;
    ready(&last).unwrap().2
}

/// Every ConfigMap of `ns` (but the API server's own root CA) as `name → (uid,
/// resourceVersion, value)`: what a fault must not change, or changes visibly.
async fn configmaps(client: &kube::Client, ns: &str) -> BTreeMap<String, (String, String, String)> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.metadata.name.as_deref() != Some("kube-root-ca.crt"))
        .map(|c| {
            let value = c
                .data
                .and_then(|d| d.get("value").cloned())
                .unwrap_or_default();
            (
                c.metadata.name.unwrap_or_default(),
                (
                    c.metadata.uid.unwrap_or_default(),
                    c.metadata.resource_version.unwrap_or_default(),
                    value,
                ),
            )
        })
        .collect()
}

/// `name → value` of [`configmaps`].
async fn values(client: &kube::Client, ns: &str) -> BTreeMap<String, String> {
    configmaps(client, ns)
        .await
        .into_iter()
        .map(|(name, (_, _, value))| (name, value))
        .collect()
}

/// Once converged, the controller writes nothing more: three more reconciles (every
/// second) leave every resourceVersion as it was. A controller that re-applies the same
/// revision after an outage, or keeps two applies going, bumps them.
async fn settled(client: &kube::Client, ns: &str) {
    let before = configmaps(client, ns).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        configmaps(client, ns).await,
        before,
        "objects kept changing"
    );
}

fn owned(values: &[(&str, &str)]) -> BTreeMap<String, String> {
    values
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// B2 and "etcd paused": the API server stopped for 10 s (a commit pushed meanwhile), then
/// etcd frozen for 10 s (another commit). The controller stays up, applies each commit once
/// the control plane answers again, prunes exactly what left, and then writes nothing more.
///
/// It runs without leader election here: with it, an outage longer than the Lease (15 s,
/// counted from the last renewal) ends the process by design — see
/// [`an_outage_longer_than_the_lease_ends_the_leader_and_its_successor_converges`].
#[tokio::test(flavor = "multi_thread")]
async fn the_controller_rides_out_an_apiserver_restart_and_a_frozen_etcd() {
    // A control plane of its own: stopping its API server must not break other tests.
    let mut plane = need!(ControlPlane::start(ControlPlaneOptions::default()).await);
    let (client, ns) = plane.namespace("faults-outage").await.unwrap();
    install_sync_crds(&client).await;
    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("outage", None).unwrap();
    repo.write("deploy/a.yaml", cm("a", "1")).unwrap();
    repo.write("deploy/b.yaml", cm("b", "1")).unwrap();
    let first = repo.commit("v1").unwrap();
    let controller = Controller::start_syncing(&plane, &ns, &["--leader-elect=false"]).await;
    source_and_sync(&client, &ns, &repo, "deploy").await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    assert_eq!(values(&client, &ns).await, owned(&[("a", "1"), ("b", "1")]));

    // The API server goes away; a commit lands while it is gone.
    plane.stop_apiserver();
    repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    repo.remove("deploy/b.yaml").unwrap();
    repo.write("deploy/c.yaml", cm("c", "1")).unwrap();
    let second = repo.commit("v2 while the API server is down").unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(
        http::is_ok(controller.api_port, "/healthz").await,
        "the controller stopped serving while the API server was down"
    );
    plane.start_apiserver().await.unwrap();
    // A new client: the old one's pooled connections died with the server.
    let client = plane.client().await.unwrap();
    let after = applied(&client, &ns, &second, Duration::from_secs(120)).await;
    assert_eq!(values(&client, &ns).await, owned(&[("a", "2"), ("c", "1")]));
    assert_eq!(after.inventory.len(), 2, "{:?}", after.inventory);
    settled(&client, &ns).await;

    // etcd freezes: the API server accepts requests and answers none of them.
    let uid_c = configmaps(&client, &ns).await["c"].0.clone();
    plane.pause_etcd().unwrap();
    repo.write("deploy/a.yaml", cm("a", "3")).unwrap();
    let third = repo.commit("v3 while etcd is frozen").unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let alive = http::is_ok(controller.api_port, "/healthz").await;
    plane.resume_etcd().unwrap();
    assert!(
        alive,
        "the controller stopped serving while etcd was frozen"
    );
    let after = applied(&client, &ns, &third, Duration::from_secs(120)).await;
    let now = configmaps(&client, &ns).await;
    assert_eq!(values(&client, &ns).await, owned(&[("a", "3"), ("c", "1")]));
    assert_eq!(now["c"].0, uid_c, "c was recreated");
    assert_eq!(after.inventory.len(), 2, "{:?}", after.inventory);
    settled(&client, &ns).await;

    let log = controller.log();
    assert!(!log.contains("panicked"), "{log}");
}

/// With leader election (the default), a leader that cannot renew its Lease for longer
/// than the lease duration exits (status 1), as controller-runtime's manager does for
/// Flux: it cannot tell an API server outage from a partition in which another replica
/// took over. Its Pod's restart brings a successor that converges on what was pushed
/// meanwhile, without recreating anything.
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_longer_than_the_lease_ends_the_leader_and_its_successor_converges() {
    let mut plane = need!(ControlPlane::start(ControlPlaneOptions::default()).await);
    let (client, ns) = plane.namespace("faults-lease").await.unwrap();
    install_sync_crds(&client).await;
    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("lease", None).unwrap();
    repo.write("deploy/a.yaml", cm("a", "1")).unwrap();
    repo.write("deploy/b.yaml", cm("b", "1")).unwrap();
    let first = repo.commit("v1").unwrap();
    let leader = Controller::start_syncing(&plane, &ns, &[]).await;
    source_and_sync(&client, &ns, &repo, "deploy").await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    let before = configmaps(&client, &ns).await;

    plane.stop_apiserver();
    repo.remove("deploy/b.yaml").unwrap();
    let second = repo
        .commit("b removed while the API server is down")
        .unwrap();
    assert!(
        leader.exits_within(Duration::from_secs(40)).await,
        "the leader kept acting without its Lease"
    );
    let log = leader.log();
    assert!(log.contains("lost leadership"), "{log}");
    assert!(!log.contains("panicked"), "{log}");

    plane.start_apiserver().await.unwrap();
    let client = plane.client().await.unwrap();
    let successor = Controller::start_syncing(&plane, &ns, &[]).await;
    let after = applied(&client, &ns, &second, Duration::from_secs(120)).await;
    let now = configmaps(&client, &ns).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(now["a"], before["a"], "a was rewritten or recreated");
    assert_eq!(after.inventory.len(), 1, "{:?}", after.inventory);
    assert!(!successor.log().contains("panicked"));
}

/// B4: `main` force-pushed to a history that shares nothing with the old one. Like Flux's
/// source-controller (which fetches the branch head, whatever its ancestry), the GitSource
/// follows; the Sync applies the new tree and prunes exactly the objects of its inventory
/// that left, never an object it does not own.
#[tokio::test]
async fn a_force_push_to_an_unrelated_history_is_followed_and_prunes_only_what_left() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("faults-force").await.unwrap();
    install_sync_crds(&client).await;
    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("force", None).unwrap();
    for name in ["a", "b", "c"] {
        repo.write(&format!("deploy/{name}.yaml"), cm(name, "1"))
            .unwrap();
    }
    let first = repo.commit("old history").unwrap();
    // Beside them: one made by hand, one carrying another Sync's labels.
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    for (name, labels) in [
        ("by-hand", json!({})),
        (
            "foreign",
            json!({OWNER_NAME_LABEL: "other", OWNER_NAMESPACE_LABEL: ns}),
        ),
    ] {
        let object = serde_json::from_value(json!({
            "metadata": {"name": name, "labels": labels}, "data": {"value": "kept"},
        }))
        .unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    source_and_sync(&client, &ns, &repo, "deploy").await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    let before = configmaps(&client, &ns).await;

    // A new root commit: `a` changed, `b` and `c` gone, `d` new.
    repo.git(&["checkout", "--quiet", "--orphan", "unrelated"])
        .unwrap();
    repo.git(&["rm", "-r", "-f", "--quiet", "."]).unwrap();
    repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    repo.write("deploy/d.yaml", cm("d", "1")).unwrap();
    repo.git(&["add", "--all"]).unwrap();
    repo.git(&["commit", "--quiet", "-m", "unrelated history"])
        .unwrap();
    repo.git(&["push", "--quiet", "--force", "origin", "unrelated:main"])
        .unwrap();
    let forced = repo.git(&["rev-parse", "HEAD"]).unwrap().trim().to_owned();
    assert!(
        repo.git(&["merge-base", &first, &forced]).is_err(),
        "the histories share a commit: nothing was tested"
    );

    let after = applied(&client, &ns, &forced, Duration::from_secs(60)).await;
    let sources: Api<GitSource> = Api::namespaced(client.clone(), &ns);
    let source = sources
        .get("repo")
        .await
        .unwrap()
        .status
        .unwrap_or_default();
    assert_eq!(
        source.last_attempted_revision.as_deref(),
        Some(format!("main@sha1:{forced}").as_str())
    );
    let now = configmaps(&client, &ns).await;
    assert_eq!(
        values(&client, &ns).await,
        owned(&[
            ("a", "2"),
            ("by-hand", "kept"),
            ("d", "1"),
            ("foreign", "kept")
        ])
    );
    assert_eq!(now["a"].0, before["a"].0, "a was recreated, not updated");
    for name in ["by-hand", "foreign"] {
        assert_eq!(now[name], before[name], "{name} was touched");
    }
    let mut inventory: Vec<&str> = after.inventory.iter().map(|e| e.name.as_str()).collect();
    inventory.sort_unstable();
    assert_eq!(inventory, ["a", "d"]);
}

/// B5: a revision whose path renders no object, then one without the path. Neither prunes
/// anything: the Sync fails saying why (there is no opt-in to prune everything; Flux would
/// prune all, which for a mistaken commit deletes a whole application). Restoring the files
/// applies again with every object still the one it was.
#[tokio::test]
async fn an_empty_render_or_a_missing_path_prunes_nothing_and_says_so() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("faults-empty").await.unwrap();
    install_sync_crds(&client).await;
    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("empty", None).unwrap();
    repo.write("deploy/a.yaml", cm("a", "1")).unwrap();
    repo.write("deploy/b.yaml", cm("b", "1")).unwrap();
    let first = repo.commit("two objects").unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    source_and_sync(&client, &ns, &repo, "deploy").await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    let before = configmaps(&client, &ns).await;

    repo.remove("deploy/a.yaml").unwrap();
    repo.remove("deploy/b.yaml").unwrap();
    repo.write("deploy/README.md", "Moved elsewhere.\n")
        .unwrap();
    let empty = repo.commit("the path renders nothing").unwrap();
    let message = failed(&client, &ns, &empty, "PruneFailed").await;
    assert!(
        message.contains("refusing to prune 2 object(s)"),
        "{message}"
    );
    assert_eq!(configmaps(&client, &ns).await, before);

    repo.remove("deploy/README.md").unwrap();
    repo.write("elsewhere/a.yaml", cm("a", "1")).unwrap();
    let gone = repo.commit("the path is gone").unwrap();
    let message = failed(&client, &ns, &gone, "BuildFailed").await;
    assert!(message.contains("deploy"), "{message}");
    assert_eq!(configmaps(&client, &ns).await, before);
    let st = status(&client, &ns).await;
    assert_eq!(st.inventory.len(), 2, "{:?}", st.inventory);
    assert_eq!(
        st.last_applied_revision.as_deref(),
        Some(format!("main@sha1:{first}").as_str())
    );

    // Back, with `b` dropped on purpose: an ordinary prune of one object.
    repo.write("deploy/a.yaml", cm("a", "1")).unwrap();
    let back = repo.commit("one object back").unwrap();
    applied(&client, &ns, &back, Duration::from_secs(60)).await;
    let now = configmaps(&client, &ns).await;
    assert_eq!(now.keys().collect::<Vec<_>>(), ["a"]);
    assert_eq!(now["a"], before["a"], "a was rewritten or recreated");
}

/// Vault sealed while a resolved reference waits for its refresh (no new commit): the
/// Secret keeps its previous value, the Sync says `ReferenceFailed` naming the reference
/// (not the value), and after the unseal the next refresh brings the rotated value.
#[tokio::test(flavor = "multi_thread")]
async fn vault_sealed_at_a_refresh_keeps_the_secret_and_recovers_after_the_unseal() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(Vault::start().await);
    let (client, ns) = plane.namespace("faults-vault").await.unwrap();
    install_sync_crds(&client).await;
    let write = async |value: &str| {
        let kv = json!({"data": {"password": value}}).to_string();
        vault.post("/v1/secret/data/faults/db", &kv).await.unwrap();
    };
    let (v1, v2) = ("faults-refresh-v1-5d0c2a", "faults-refresh-v2-9e7b41");
    write(v1).await;
    let keys: Secret = serde_json::from_value(json!({
        "metadata": {"name": "keys"},
        "stringData": {"sops.vault-token": vault.token(), "vault.address": vault.addr()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &keys)
        .await
        .unwrap();
    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("refs", None).unwrap();
    repo.write(
        "refs/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations:\n    lockstep.dev/resolve: enabled\n    lockstep.dev/refresh-interval: 2s\nstringData:\n  password: ref+vault://secret/faults/db#password\n",
    )
    .unwrap();
    let first = repo.commit("a reference").unwrap();
    let controller = Controller::start_syncing(plane, &ns, &[]).await;
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({"metadata": {"name": "repo"}, "spec": {"url": repo.git_url().unwrap(), "interval": "1m"}}),
    )
    .await;
    create_lockstep(
        &client,
        &ns,
        "Sync",
        json!({"metadata": {"name": "apps"}, "spec": {
            "sourceRef": {"name": "repo"}, "path": "refs", "interval": "1m",
            "retryInterval": "1s", "prune": true, "targetNamespace": ns,
            "decryption": {"provider": "sops", "secretRef": {"name": "keys"}},
        }}),
    )
    .await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let password = async || {
        let secret = secrets.get("db").await.unwrap();
        String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap()
    };
    assert_eq!(password().await, v1);

    vault.seal().await.unwrap();
    let message = failed(&client, &ns, &first, "ReferenceFailed").await;
    assert!(
        message.contains("password") && message.contains("ref+vault://secret/faults/db#password"),
        "{message}"
    );
    assert!(!message.contains(v1), "{message}");
    assert_eq!(password().await, v1, "the previous Secret was not kept");
    let st = status(&client, &ns).await;
    assert_eq!(st.inventory.len(), 1, "{:?}", st.inventory);

    vault.unseal().await.unwrap();
    write(v2).await;
    eventually("the refresh after the unseal", async || {
        password().await == v2
    })
    .await;
    applied(&client, &ns, &first, Duration::from_secs(60)).await;
    let log = controller.log();
    assert!(
        !log.contains(v1) && !log.contains(v2),
        "a value reached the log"
    );
}

//! Tenants against the real controller: a Sync in a tenant's namespace cannot write into
//! the controller's namespace, cannot plant or delete a sealing key. Each test has a
//! controller that handles only the Syncs carrying its own label, in any namespace; the
//! control plane belongs to this test binary alone (the controller's SealedSecret side
//! watches every namespace).

use crate::support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use lockstep_api::{Sync, SyncStatus};
use lockstep_keys::sealing::{GenerateOptions, RsaKeyBits, SealingKeyPair};
use lockstep_testenv::{ControlPlane, GitRepo, GitServer, need};
use serde_json::json;
use support::{Controller, create_lockstep, eventually, install_sync_crds, wait_for_event};

const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

/// A controller in namespace `ctl`, a tenant namespace, a repository and the tenant's
/// GitSource `repo` for it.
struct Tenancy {
    client: kube::Client,
    ctl: String,
    tenant: String,
    label: serde_json::Value,
    repo: GitRepo,
    controller: Controller,
    _git: GitServer,
}

async fn tenancy(plane: &ControlPlane, name: &str, files: &[(&str, String)]) -> Tenancy {
    let git = GitServer::start().await.unwrap();
    let (client, ctl) = plane.namespace(&format!("{name}-ctl")).await.unwrap();
    let (_, tenant) = plane.namespace(&format!("{name}-tenant")).await.unwrap();
    install_sync_crds(&client).await;
    let repo = git.create_repo(name, None).unwrap();
    for (path, text) in files {
        repo.write(path, text).unwrap();
    }
    repo.commit("tenant objects").unwrap();
    let selector = format!("lockstep.test/run={ctl}");
    let controller =
        Controller::start_cluster_wide(plane, &ctl, &selector, &["--requeue-dependency=1s"]).await;
    let label = json!({"lockstep.test/run": ctl});
    create_lockstep(
        &client,
        &tenant,
        "GitSource",
        json!({
            "metadata": {"name": "repo", "labels": label},
            "spec": {"url": repo.git_url().unwrap(), "interval": "1s"},
        }),
    )
    .await;
    Tenancy {
        client,
        ctl,
        tenant,
        label,
        repo,
        controller,
        _git: git,
    }
}

impl Tenancy {
    async fn sync(&self, name: &str, spec: serde_json::Value) {
        let mut full = json!({"sourceRef": {"name": "repo"}, "interval": "1s", "prune": true});
        for (k, v) in spec.as_object().unwrap() {
            full[k] = v.clone();
        }
        let body = json!({"metadata": {"name": name, "labels": self.label}, "spec": full});
        create_lockstep(&self.client, &self.tenant, "Sync", body).await;
    }

    async fn status(&self, name: &str) -> SyncStatus {
        let api: Api<Sync> = Api::namespaced(self.client.clone(), &self.tenant);
        api.get(name).await.unwrap().status.unwrap_or_default()
    }

    /// Waits until Ready is `ReconciliationFailed` with a message mentioning `what`, and
    /// returns the message.
    async fn ready_message(&self, name: &str, what: &str) -> String {
        let mut message = String::new();
        eventually(&format!("Sync {name} to fail on {what}"), async || {
            let status = self.status(name).await;
            let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready");
            match ready {
                Some(c) if c.reason == "ReconciliationFailed" && c.message.contains(what) => {
                    message = c.message;
                    true
                }
                _ => false,
            }
        })
        .await;
        message
    }

    /// Waits until Sync `name` has applied `commit`.
    async fn applied(&self, name: &str, commit: &str) {
        let want = format!("main@sha1:{commit}");
        eventually(&format!("Sync {name} to apply {want}"), async || {
            self.status(name).await.last_applied_revision.as_deref() == Some(want.as_str())
        })
        .await;
    }

    async fn key_secrets(&self) -> Vec<Secret> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ctl);
        api.list(&ListParams::default().labels(KEY_LABEL))
            .await
            .unwrap()
            .items
    }
}

fn cm(name: &str, namespace: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\n")
}

/// A key pair of the attacker's, newer than any key the controller made.
fn attacker_key() -> (String, String) {
    let mut options = GenerateOptions::default();
    options.bits = RsaKeyBits::Rsa2048;
    options.not_before = Some(SystemTime::now() + Duration::from_secs(3600));
    let pair = SealingKeyPair::generate(&options).unwrap();
    (pair.tls_key_pem().unwrap().to_string(), pair.tls_crt_pem())
}

fn key_secret_yaml(name: &str, namespace: &str, key: &str, crt: &str) -> String {
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {namespace}\n  labels: {{{KEY_LABEL}: active}}\ntype: kubernetes.io/tls\ndata:\n  tls.key: {}\n  tls.crt: {}\n",
        b64(key),
        b64(crt)
    )
}

#[tokio::test]
async fn a_tenant_cannot_plant_or_delete_a_sealing_key() {
    let plane = need!(ControlPlane::shared().await);
    let (key, crt) = attacker_key();
    let t = tenancy(plane, "keys", &[]).await;
    let cert = t.controller.cert().await;
    let real = t.key_secrets().await;
    assert_eq!(real.len(), 1);
    let real_name = real[0].metadata.name.clone().unwrap();

    // 1. A tenant's repository with an object for the controller's namespace, then with a
    //    key Secret: each revision is refused before anything of it is written.
    t.repo
        .write("tenant/marker.yaml", cm("marker", &t.tenant))
        .unwrap();
    t.repo
        .write("tenant/intruder.yaml", cm("intruder", &t.ctl))
        .unwrap();
    t.repo
        .commit("write into the controller's namespace")
        .unwrap();
    t.sync("t", json!({"path": "tenant"})).await;
    let message = t.ready_message("t", "intruder").await;
    assert!(
        message.contains(&format!("namespace {} is protected", t.ctl)),
        "{message}"
    );
    assert!(message.contains("nothing of revision"), "{message}");
    let tenant_cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), &t.tenant);
    assert!(tenant_cms.get_opt("marker").await.unwrap().is_none());

    t.repo.remove("tenant/intruder.yaml").unwrap();
    t.repo
        .write(
            "tenant/planted.yaml",
            key_secret_yaml("planted", &t.tenant, &key, &crt),
        )
        .unwrap();
    t.repo.commit("plant a key").unwrap();
    let message = t.ready_message("t", "planted").await;
    assert!(
        message.contains(&format!("{KEY_LABEL} are protected")),
        "{message}"
    );
    assert!(tenant_cms.get_opt("marker").await.unwrap().is_none());
    assert_eq!(t.key_secrets().await.len(), 1);
    assert_eq!(t.controller.cert().await, cert);

    // 2. A key written by a Sync's apply before this check existed (the same field
    //    manager): the keyring does not trust it, so cert.pem does not change.
    let planted: Secret =
        serde_saphyr::from_str(&key_secret_yaml("planted", &t.ctl, &key, &crt)).unwrap();
    Api::<Secret>::namespaced(t.client.clone(), &t.ctl)
        .patch(
            "planted",
            &PatchParams::apply("lockstep").force(),
            &Patch::Apply(&planted),
        )
        .await
        .unwrap();
    let note = wait_for_event(&t.client, &t.ctl, "planted", "ErrKeyUntrusted").await;
    assert!(note.contains("lockstep"), "{note}");
    assert_eq!(t.controller.cert().await, cert);

    // 3. Claim-then-drop: the real key once claimed by the tenant (its labels and its
    //    inventory, as before this fix) is not deleted when the tenant's Git drops it.
    t.repo.remove("tenant/planted.yaml").unwrap();
    t.repo
        .write("tenant/more.yaml", cm("more", &t.tenant))
        .unwrap();
    let clean = t.repo.commit("only the marker").unwrap();
    t.applied("t", &clean).await;
    assert!(tenant_cms.get_opt("marker").await.unwrap().is_some());
    let claim = json!({"metadata": {"labels": {
        "lockstep.dev/name": "t", "lockstep.dev/namespace": t.tenant}}});
    let secrets: Api<Secret> = Api::namespaced(t.client.clone(), &t.ctl);
    secrets
        .patch(&real_name, &PatchParams::default(), &Patch::Merge(&claim))
        .await
        .unwrap();
    let mut inventory = serde_json::to_value(t.status("t").await.inventory).unwrap();
    inventory.as_array_mut().unwrap().push(json!({
        "version": "v1", "kind": "Secret", "namespace": t.ctl, "name": real_name}));
    Api::<Sync>::namespaced(t.client.clone(), &t.tenant)
        .patch_status(
            "t",
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": {"inventory": inventory}})),
        )
        .await
        .unwrap();
    t.repo.remove("tenant/more.yaml").unwrap();
    let next = t.repo.commit("a new revision").unwrap();
    t.applied("t", &next).await;
    let kept = secrets.get_opt(&real_name).await.unwrap();
    assert!(kept.is_some(), "the real sealing key was pruned");
    assert_eq!(t.controller.cert().await, cert);
    let labels: BTreeMap<String, String> = kept.unwrap().metadata.labels.unwrap_or_default();
    assert_eq!(labels.get(KEY_LABEL).map(String::as_str), Some("active"));
}

fn cluster_admin_binding(name: &str, account_namespace: &str, account: &str) -> String {
    format!(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: {name}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\nsubjects: [{{kind: ServiceAccount, name: {account}, namespace: {account_namespace}}}]\n"
    )
}

/// Issue 13, tenancy: a Sync with `serviceAccountName` does only what that account may.
/// The tenant's account is `admin` of its own namespace; its repository also holds a
/// ClusterRoleBinding to cluster-admin, a ConfigMap in kube-system and one in another
/// tenant's namespace. Each is refused by the API server (the Sync names all three objects
/// and their denials at once) and nothing of the revision is written; the same objects under an account
/// bound to cluster-admin apply. Deleting the Sync (prune: true, its GitSource already
/// gone) deletes what it applied that still carries its labels; prune: false orphans.
#[tokio::test]
async fn a_service_account_sync_gets_only_what_its_bindings_allow() {
    let plane = need!(ControlPlane::shared().await);
    let t = tenancy(plane, "sa", &[]).await;
    let (_, victim) = plane.namespace("sa-victim").await.unwrap();
    let tenant = t.tenant.clone();
    let boss_binding = format!("{tenant}-boss");
    lockstep_testenv::manifests::apply_yaml(
        &t.client,
        &format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: tenant, namespace: {tenant}}}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: boss, namespace: {tenant}}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {{name: tenant-admin, namespace: {tenant}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}\nsubjects: [{{kind: ServiceAccount, name: tenant, namespace: {tenant}}}]\n---\n{}",
            cluster_admin_binding(&boss_binding, &tenant, "boss")
        ),
    )
    .await
    .unwrap();

    let grab = format!("{tenant}-grab");
    let system = format!("{tenant}-system");
    let foreign = format!("{tenant}-foreign");
    let files = [
        ("tenant/own.yaml", cm("own", &tenant)),
        (
            "tenant/grab.yaml",
            cluster_admin_binding(&grab, &tenant, "tenant"),
        ),
        ("tenant/system.yaml", cm(&system, "kube-system")),
        ("tenant/foreign.yaml", cm(&foreign, &victim)),
        ("keep/kept.yaml", cm("kept", &tenant)),
    ];
    for (path, text) in &files {
        t.repo.write(path, text).unwrap();
    }
    t.repo.commit("a tenant reaching out").unwrap();
    t.sync(
        "t",
        json!({"path": "tenant", "serviceAccountName": "tenant"}),
    )
    .await;

    let own: Api<ConfigMap> = Api::namespaced(t.client.clone(), &tenant);
    let system_cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), "kube-system");
    let victim_cms: Api<ConfigMap> = Api::namespaced(t.client.clone(), &victim);
    let bindings: Api<k8s_openapi::api::rbac::v1::ClusterRoleBinding> = Api::all(t.client.clone());
    let user = format!("system:serviceaccount:{tenant}:tenant");
    // Every denial of the revision at once, each naming its object.
    let refused = [
        ("tenant/grab.yaml", grab.clone()),
        ("tenant/system.yaml", system.clone()),
        ("tenant/foreign.yaml", foreign.clone()),
    ];
    let mut message = String::new();
    eventually("the Sync to name every refused object", async || {
        let status = t.status("t").await;
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready");
        message = ready
            .filter(|c| c.status == "False")
            .map(|c| c.message)
            .unwrap_or_default();
        refused
            .iter()
            .all(|(_, name)| message.contains(name.as_str()))
    })
    .await;
    assert!(message.starts_with("3 objects refused: "), "{message}");
    assert!(message.matches("forbidden").count() >= 3, "{message}");
    assert!(message.contains(&user), "{message}");
    assert!(message.contains("nothing of revision"), "{message}");
    assert!(own.get_opt("own").await.unwrap().is_none(), "{message}");
    for (path, _) in &refused {
        t.repo.remove(path).unwrap();
    }
    t.repo.commit("drop what was refused").unwrap();
    let allowed = t.repo.git(&["rev-parse", "HEAD"]).unwrap();
    t.applied("t", allowed.trim()).await;
    assert!(own.get_opt("own").await.unwrap().is_some());
    assert!(bindings.get_opt(&grab).await.unwrap().is_none());
    assert!(system_cms.get_opt(&system).await.unwrap().is_none());
    assert!(victim_cms.get_opt(&foreign).await.unwrap().is_none());

    // The same repository under an account bound to cluster-admin applies.
    Api::<Sync>::namespaced(t.client.clone(), &tenant)
        .patch(
            "t",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"serviceAccountName": "boss"}})),
        )
        .await
        .unwrap();
    for (path, text) in &files {
        t.repo.write(path, text).unwrap();
    }
    let everything = t.repo.commit("everything again").unwrap();
    t.applied("t", &everything).await;
    assert!(bindings.get_opt(&grab).await.unwrap().is_some());
    assert!(system_cms.get_opt(&system).await.unwrap().is_some());
    assert!(victim_cms.get_opt(&foreign).await.unwrap().is_some());
    t.sync(
        "keeper",
        json!({"path": "keep", "serviceAccountName": "boss", "prune": false}),
    )
    .await;
    t.applied("keeper", &everything).await;
    let syncs: Api<Sync> = Api::namespaced(t.client.clone(), &tenant);
    let finalizers = syncs.get("t").await.unwrap().metadata.finalizers;
    assert_eq!(finalizers, Some(vec!["finalizers.lockstep.dev".to_owned()]));

    // Deleted with prune: true and no source: what still carries its labels goes.
    let unlabel = json!({"metadata": {"labels": {
        "lockstep.dev/name": null, "lockstep.dev/namespace": null}}});
    victim_cms
        .patch(&foreign, &PatchParams::default(), &Patch::Merge(&unlabel))
        .await
        .unwrap();
    let sources = kube::Api::<kube::api::DynamicObject>::namespaced_with(
        t.client.clone(),
        &tenant,
        &kube::api::ApiResource::from_gvk_with_plural(
            &kube::api::GroupVersionKind::gvk("lockstep.dev", "v1alpha1", "GitSource"),
            "gitsources",
        ),
    );
    sources.delete("repo", &Default::default()).await.unwrap();
    syncs.delete("t", &Default::default()).await.unwrap();
    eventually("Sync t to be gone", async || {
        syncs.get_opt("t").await.unwrap().is_none()
    })
    .await;
    let note = wait_for_event(&t.client, &tenant, "t", "Finalized").await;
    assert!(note.contains("3 object(s) deleted, 1 left alone"), "{note}");
    eventually("the Sync's objects to be gone", async || {
        own.get_opt("own").await.unwrap().is_none()
            && bindings.get_opt(&grab).await.unwrap().is_none()
            && system_cms.get_opt(&system).await.unwrap().is_none()
    })
    .await;
    assert!(victim_cms.get_opt(&foreign).await.unwrap().is_some());

    // Deleted with prune: false: its objects stay.
    syncs.delete("keeper", &Default::default()).await.unwrap();
    eventually("Sync keeper to be gone", async || {
        syncs.get_opt("keeper").await.unwrap().is_none()
    })
    .await;
    assert!(own.get_opt("kept").await.unwrap().is_some());
    bindings
        .delete(&boss_binding, &Default::default())
        .await
        .unwrap();
}

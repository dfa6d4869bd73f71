//! Least privilege, proven: the real controller runs as the chart's ServiceAccount, with a
//! token of that account and exactly the chart's Roles and bindings, against an API server
//! that audits every request. It unseals a SealedSecret (and a changed one), renews its
//! key, and syncs a repository with a SOPS-encrypted Secret through a Sync that applies as
//! the tenant's own ServiceAccount, then deletes it. Every request the controller made as
//! itself must be allowed, and every verb the Roles grant must have been used, but for the
//! few listed in [`NOT_EXERCISED`] with the reason. A second scene does the same for the
//! chart's namespaced set (`watch.allNamespaces=false`), with the ExternalSecret side on.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use lockstep_api::Sync;
use lockstep_sealed::SealOptions;
use lockstep_testenv::{
    ControlPlane, ControlPlaneOptions, ExternalSecretsOperator, GitServer, Vault, need, tool,
};
use serde_json::json;

use crate::support::{
    Controller, create_lockstep, create_sealed, eventually, input, install_crd, install_sync_crds,
    seal_json, secret, value,
};
use crate::{documents, render};

/// Rights the Roles grant that this scene does not use, and why they are needed anyway.
const NOT_EXERCISED: &[(&str, &str, &str, &str)] = &[
    (
        "lockstep.dev",
        "syncs",
        "get",
        "a Sync's dependsOn and the ownership check (an object another Sync holds) read other \
         Syncs (controller/src/sync/reconcile.rs, crates/engine/src/ownership.rs); this scene \
         has neither",
    ),
    (
        "kustomize.toolkit.fluxcd.io",
        "kustomizations",
        "get",
        "the ownership check reads a Flux Kustomization's status.inventory when an object \
         carries Flux's labels, so a Sync never takes what Flux holds \
         (crates/engine/src/ownership.rs); this scene has no Flux-labelled object",
    ),
    (
        "helm.toolkit.fluxcd.io",
        "helmreleases",
        "get",
        "the ownership check reads a HelmRelease's status.inventory when an object carries \
         Flux helm-controller's labels (crates/engine/src/ownership.rs); this scene has no \
         such object",
    ),
    (
        "source.toolkit.fluxcd.io",
        "helmrepositories",
        "get",
        "a Sync whose sourceRef is a HelmRepository reads it before fetching its chart \
         (controller/src/sync/chart/repository.rs); this scene's Sync takes a GitSource",
    ),
    (
        "source.toolkit.fluxcd.io",
        "ocirepositories",
        "get",
        "a Sync whose sourceRef is an OCIRepository reads it before fetching its chart \
         (controller/src/sync/chart/repository.rs); this scene's Sync takes a GitSource",
    ),
    (
        "argoproj.io",
        "applications",
        "list",
        "the ownership check lists the Argo CD Applications named by an object's \
         app.kubernetes.io/instance label, so a Sync never takes what Argo CD holds \
         (crates/engine/src/ownership.rs); this scene has no object with that label",
    ),
];

/// One right: API group, resource (with `/subresource`), verb, and the namespace of the
/// Role granting it (`None` for a ClusterRole).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Right {
    group: String,
    resource: String,
    verb: String,
    namespace: Option<String>,
}

#[tokio::test]
async fn the_controller_needs_exactly_its_roles() {
    let plane = need!(
        // The controller-manager fills the aggregated `admin` role the tenant is bound to.
        ControlPlane::start(ControlPlaneOptions {
            audit: true,
            controller_manager: true,
            ..ControlPlaneOptions::default()
        })
        .await
    );
    let helm = need!(tool("helm"));
    need!(tool("sops"));
    let (recipient, identity) = need!(lockstep_testenv::age_keygen());
    let git = need!(GitServer::start().await);
    let (client, ctl) = plane.namespace("lockstep-system").await.unwrap();
    let (_, tenant) = plane.namespace("tenant").await.unwrap();
    install_crd(&client).await;
    install_sync_crds(&client).await;
    // The chart ships Flux's chart source kinds too: the Sync controller watches them.
    for text in [
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_ocirepositories.yaml"),
    ] {
        lockstep_testenv::manifests::apply_yaml(&client, text)
            .await
            .unwrap();
    }

    // The chart's ServiceAccount, Roles and bindings, as `helm install` creates them.
    let rendered = render(&helm, &ctl, &[]);
    let rbac = rbac_documents(&documents(&rendered));
    let granted = granted_rights(&rbac);
    apply_all(&client, &rbac).await;
    let kubeconfig = service_account_kubeconfig(&plane, &client, &ctl).await;

    // The tenant: an account bound to `admin` in its own namespace, the decryption key,
    // and a repository with a ConfigMap and a SOPS-encrypted Secret.
    crate::deployer(&client, &tenant).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &tenant);
    let keys: Secret = serde_json::from_value(json!({
        "metadata": {"name": "sops-keys"},
        "stringData": {"team.agekey": identity},
    }))
    .unwrap();
    secrets.create(&PostParams::default(), &keys).await.unwrap();
    let repo = git.create_repo("app", None).unwrap();
    repo.write(
        "app/config.yaml",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: app-config, namespace: {tenant}}}\n\
             data: {{greeting: hello}}\n"
        ),
    )
    .unwrap();
    repo.write(
        "app/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: app-secret, namespace: {tenant}}}\n\
             stringData: {{password: sealed-in-git}}\n"
        ),
    )
    .unwrap();
    let sops = Command::new(tool("sops").unwrap())
        .current_dir(repo.work_tree())
        .env_clear()
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .args([
            "--encrypted-regex",
            "^(data|stringData)$",
            "app/secret.yaml",
        ])
        .output()
        .unwrap();
    assert!(sops.status.success(), "sops: {sops:?}");
    repo.commit("app").unwrap();

    // The controller, as the chart runs it, but as a process here with the account's token.
    let selector = format!("lockstep.test/run={ctl}");
    let controller = Controller::start_cluster_wide_with_env(
        &plane,
        &ctl,
        &selector,
        &["--default-service-account=default"],
        &[("KUBECONFIG", kubeconfig.as_path())],
    )
    .await;
    let label = json!({"lockstep.test/run": ctl});

    // Unseal, then unseal a changed SealedSecret (the Secret is updated).
    unseal_then_change(&client, &controller.cert().await, &tenant).await;

    // A key renewal asked for as `lockstep keys renew` does.
    let ctl_secrets: Api<Secret> = Api::namespaced(client.clone(), &ctl);
    let key_label = "sealedsecrets.bitnami.com/sealed-secrets-key";
    let keys_now = || async {
        let list = ctl_secrets
            .list(&kube::api::ListParams::default().labels(key_label))
            .await
            .unwrap();
        list.items
    };
    let first_key = keys_now().await.remove(0).metadata.name.unwrap();
    ctl_secrets
        .patch(
            &first_key,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"annotations": {"lockstep.dev/renew-requested": "now"}}}),
            ),
        )
        .await
        .unwrap();
    eventually("a renewed key, and the request cleared", async || {
        let keys = keys_now().await;
        keys.len() == 2
            && keys.iter().all(|k| {
                !k.metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key("lockstep.dev/renew-requested"))
            })
    })
    .await;

    // A Sync applying as the tenant's account, decrypting with the tenant's key.
    create_lockstep(
        &client,
        &tenant,
        "GitSource",
        json!({
            "metadata": {"name": "repo", "labels": label},
            "spec": {"url": repo.git_url().unwrap(), "interval": "1m"},
        }),
    )
    .await;
    create_lockstep(
        &client,
        &tenant,
        "Sync",
        json!({
            "metadata": {"name": "app", "labels": label},
            "spec": {
                "sourceRef": {"name": "repo"}, "path": "app", "interval": "1m", "prune": true,
                "serviceAccountName": "deployer",
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-keys"}},
            },
        }),
    )
    .await;
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &tenant);
    let mut ready = None;
    let became_ready = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = syncs.get("app").await.unwrap().status.unwrap_or_default();
            ready = status.conditions.into_iter().find(|c| c.type_ == "Ready");
            if ready.as_ref().is_some_and(|c| c.status == "True") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(became_ready.is_ok(), "Sync app is not Ready: {ready:?}");
    let config: Api<ConfigMap> = Api::namespaced(client.clone(), &tenant);
    assert!(config.get_opt("app-config").await.unwrap().is_some());
    assert_eq!(
        value(&secrets.get("app-secret").await.unwrap(), "password"),
        "sealed-in-git"
    );

    // Deleting the Sync: its finalizer prunes (as the tenant) and lets it go.
    syncs.delete("app", &DeleteParams::default()).await.unwrap();
    eventually("Sync app to be deleted and pruned", async || {
        syncs.get_opt("app").await.unwrap().is_none()
            && config.get_opt("app-config").await.unwrap().is_none()
    })
    .await;
    // A clean stop gives the Lease up.
    assert!(controller.terminate(Duration::from_secs(20)).await);

    let user = format!("system:serviceaccount:{ctl}:lockstep-controller");
    let (used, refused) = used_rights(plane.audit_log().unwrap(), &user);
    for right in &used {
        let scope = right.namespace.as_deref().unwrap_or("(all namespaces)");
        eprintln!(
            "used: {} {}/{} in {scope}",
            right.verb, right.group, right.resource
        );
    }
    assert_all_granted(&granted, &used, &refused);
    let unused = granted
        .iter()
        .filter(|g| !used.iter().any(|u| covers(g, u)))
        .filter(|g| {
            !NOT_EXERCISED.iter().any(|(group, resource, verb, _)| {
                g.group == *group && g.resource == *resource && g.verb == *verb
            })
        })
        .collect::<Vec<_>>();
    assert!(
        unused.is_empty(),
        "granted but never used (remove it from the Role, or say in NOT_EXERCISED why it \
         is needed): {unused:#?}\nused: {used:#?}"
    );
}

/// Rights the namespaced scene's Roles grant that it does not use, and why they are needed.
const NOT_EXERCISED_NAMESPACED: &[(&str, &str, &str, &str)] = &[
    (
        "external-secrets.io",
        "secretstores",
        "get",
        "a store the watch has not delivered yet is read (controller/src/externalsecret/\
         stores.rs); whether this scene's is depends on which comes first",
    ),
    (
        "external-secrets.io",
        "clustersecretstores",
        "get",
        "a store the watch has not delivered yet is read (controller/src/externalsecret/\
         stores.rs); whether this scene's is depends on which comes first",
    ),
    (
        "",
        "serviceaccounts/token",
        "create",
        "a Vault store's Kubernetes auth requests a token for the ServiceAccount it names \
         (crates/eso/src/vault.rs); this scene's stores use a token",
    ),
    (
        "",
        "configmaps",
        "get",
        "an ExternalSecret's templateFrom reads a ConfigMap (crates/eso/src/template.rs); \
         this scene has no template",
    ),
];

/// With `watch.allNamespaces=false`, the chart grants the SealedSecret and ExternalSecret
/// sides Roles in the watched namespaces only, and the controller it configures needs no
/// more: it unseals and syncs ExternalSecrets (from a SecretStore and a ClusterSecretStore)
/// in an additional namespace, never touches another namespace, is refused nothing, and
/// uses every right of those Roles in at least one of the namespaces they are repeated in.
#[tokio::test]
async fn a_controller_of_some_namespaces_needs_only_roles_there() {
    let plane = need!(
        ControlPlane::start(ControlPlaneOptions {
            audit: true,
            ..ControlPlaneOptions::default()
        })
        .await
    );
    let helm = need!(tool("helm"));
    let vault = need!(Vault::start().await);
    let (client, ctl) = plane.namespace("lockstep-system").await.unwrap();
    let (_, tenant) = plane.namespace("tenant").await.unwrap();
    let (_, other) = plane.namespace("other").await.unwrap();
    install_crd(&client).await;
    need!(ExternalSecretsOperator::install_crds(&client).await);

    let additional = format!("watch.additionalNamespaces={{{tenant}}}");
    let rendered = render(
        &helm,
        &ctl,
        &[
            "watch.allNamespaces=false",
            &additional,
            "sync.enabled=false",
            "externalSecrets.enabled=true",
        ],
    );
    let documents = documents(&rendered);
    let rbac = rbac_documents(&documents);
    let granted = granted_rights(&rbac);
    let cluster_wide = granted
        .iter()
        .filter(|r| r.namespace.is_none())
        .map(|r| format!("{} {}/{}", r.verb, r.group, r.resource))
        .collect::<BTreeSet<_>>();
    assert_eq!(
        cluster_wide,
        BTreeSet::from([
            "get external-secrets.io/clustersecretstores".to_owned(),
            "list external-secrets.io/clustersecretstores".to_owned(),
            "watch external-secrets.io/clustersecretstores".to_owned(),
            "list /namespaces".to_owned(),
        ]),
        "only the cluster-scoped reads are granted cluster-wide"
    );
    let args = documents
        .iter()
        .find(|d| d["kind"] == "Deployment")
        .map(|d| d["spec"]["template"]["spec"]["containers"][0]["args"].clone())
        .unwrap();
    let args = args
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        args.contains(&"--all-namespaces=false".to_owned()),
        "{args:?}"
    );
    let watched = format!("--additional-namespaces={tenant}");
    assert!(args.contains(&watched), "{args:?}");
    apply_all(&client, &rbac).await;
    let kubeconfig = service_account_kubeconfig(&plane, &client, &ctl).await;
    // The flags the chart passes; the harness passes --all-namespaces=false itself.
    let controller = Controller::start_with_env(
        &plane,
        &ctl,
        &["--sync=false", "--external-secrets=true", &watched],
        &[("KUBECONFIG", kubeconfig.as_path())],
    )
    .await;

    // Unseal in the watched namespace, then a change; a SealedSecret elsewhere is left.
    let cert = controller.cert().await;
    let elsewhere = seal_json(
        &cert,
        input(&other, "db", &[("password", "first")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &other, elsewhere).await;
    unseal_then_change(&client, &cert, &tenant).await;

    external_secrets_scene(&client, &tenant, &vault).await;

    // The namespace not watched: no Secret, whatever time the rest took.
    let others: Api<Secret> = Api::namespaced(client.clone(), &other);
    assert!(others.get_opt("db").await.unwrap().is_none());
    assert!(controller.terminate(Duration::from_secs(20)).await);

    let user = format!("system:serviceaccount:{ctl}:lockstep-controller");
    let (used, refused) = used_rights(plane.audit_log().unwrap(), &user);
    assert_all_granted(&granted, &used, &refused);
    assert!(
        !used
            .iter()
            .any(|u| u.namespace.as_deref() == Some(other.as_str())),
        "a request in the namespace not watched: {used:#?}"
    );
    // The keys Role is the cluster-wide scene's (a renewal); here, the Roles of the
    // namespaced sides, each right used in one of the namespaces it is granted in.
    let unused = granted
        .iter()
        .filter(|g| g.namespace.is_none() || g.namespace.as_deref() == Some(tenant.as_str()))
        .filter(|g| !used.iter().any(|u| covers(&in_any(g), u)))
        .filter(|g| {
            !NOT_EXERCISED_NAMESPACED
                .iter()
                .any(|(group, resource, verb, _)| {
                    g.group == *group && g.resource == *resource && g.verb == *verb
                })
        })
        .collect::<Vec<_>>();
    assert!(
        unused.is_empty(),
        "granted but never used (remove it from the Role, or say in NOT_EXERCISED_NAMESPACED \
         why it is needed): {unused:#?}\nused: {used:#?}"
    );
}

/// ExternalSecrets in `tenant` from a SecretStore and from a ClusterSecretStore whose
/// condition selects the namespace by label: synced, then a value changed in Vault and a
/// renamed target (the old Secret deleted).
async fn external_secrets_scene(client: &kube::Client, tenant: &str, vault: &Vault) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), tenant);
    let write = |value: &'static str| async move {
        let body = json!({"data": {"password": value}}).to_string();
        vault.post("/v1/secret/data/app", &body).await.unwrap();
    };
    write("from-vault").await;
    let post = PostParams::default();
    let token: Secret = serde_json::from_value(json!({
        "metadata": {"name": "vault-token"},
        "stringData": {"token": vault.token()},
    }))
    .unwrap();
    secrets.create(&post, &token).await.unwrap();
    let provider = |namespace: Option<&str>| {
        let mut reference = json!({"name": "vault-token", "key": "token"});
        if let Some(namespace) = namespace {
            reference["namespace"] = json!(namespace);
        }
        json!({"vault": {"server": vault.addr(), "path": "secret", "version": "v2",
                         "auth": {"tokenSecretRef": reference}}})
    };
    let dynamic = |kind: kube::api::ApiResource, namespace: Option<&str>| match namespace {
        Some(namespace) => {
            Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), namespace, &kind)
        }
        None => Api::<kube::api::DynamicObject>::all_with(client.clone(), &kind),
    };
    let object = |value: serde_json::Value| -> kube::api::DynamicObject {
        serde_json::from_value(value).unwrap()
    };
    dynamic(
        kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
        Some(tenant),
    )
    .create(
        &post,
        &object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": "vault"}, "spec": {"provider": provider(None)},
        })),
    )
    .await
    .unwrap();
    dynamic(
        kube::api::ApiResource::erase::<lockstep_api::external_secrets::ClusterSecretStore>(&()),
        None,
    )
    .create(
        &post,
        &object(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": format!("{tenant}-vault")},
            "spec": {"provider": provider(Some(tenant)), "conditions": [{"namespaceSelector":
                {"matchLabels": {"kubernetes.io/metadata.name": tenant}}}]},
        })),
    )
    .await
    .unwrap();
    let externalsecrets = dynamic(
        kube::api::ApiResource::erase::<lockstep_api::ExternalSecret>(&()),
        Some(tenant),
    );
    for (name, kind, store) in [
        ("app", "SecretStore", "vault".to_owned()),
        ("shared", "ClusterSecretStore", format!("{tenant}-vault")),
    ] {
        externalsecrets
            .create(
                &post,
                &object(json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": name},
                    "spec": {"refreshInterval": "1h",
                             "secretStoreRef": {"name": store, "kind": kind},
                             "data": [{"secretKey": "password",
                                       "remoteRef": {"key": "app", "property": "password"}}]},
                })),
            )
            .await
            .unwrap();
    }
    for name in ["app", "shared"] {
        assert_eq!(
            value(&secret(client, tenant, name).await, "password"),
            "from-vault"
        );
    }
    write("changed-in-vault").await;
    externalsecrets
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"force-sync": "1"}},
                                 "spec": {"target": {"name": "app-renamed"}}})),
        )
        .await
        .unwrap();
    eventually("the renamed target, and the old one deleted", async || {
        secrets.get_opt("app").await.unwrap().is_none()
            && secrets
                .get_opt("app-renamed")
                .await
                .unwrap()
                .is_some_and(|s| value(&s, "password") == "changed-in-vault")
    })
    .await;
    externalsecrets
        .patch(
            "shared",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {"force-sync": "1"}}})),
        )
        .await
        .unwrap();
    eventually("the changed value in the existing Secret", async || {
        value(&secrets.get("shared").await.unwrap(), "password") == "changed-in-vault"
    })
    .await;
}

/// `right` in any namespace: a namespaced side's Roles repeat the same rules in each
/// watched namespace, and a right is needed when it is used in one of them.
fn in_any(right: &Right) -> Right {
    Right {
        namespace: None,
        ..right.clone()
    }
}

/// Seals and creates SealedSecret `db` in `namespace`, waits for its Secret, then changes
/// it and waits for the Secret to be updated.
async fn unseal_then_change(client: &kube::Client, cert: &str, namespace: &str) {
    let sealed = |password: &str| {
        seal_json(
            cert,
            input(namespace, "db", &[("password", password)]),
            &SealOptions::default(),
        )
    };
    create_sealed(client, namespace, sealed("first")).await;
    assert_eq!(
        value(&secret(client, namespace, "db").await, "password"),
        "first"
    );
    let sealed_api: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &crate::support::sealed_resource(),
    );
    sealed_api
        .patch(
            "db",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": sealed("second")["spec"]})),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    eventually("the changed SealedSecret to be unsealed", async || {
        value(&secrets.get("db").await.unwrap(), "password") == "second"
    })
    .await;
}

/// The ServiceAccount, Roles and bindings among the chart's rendered `documents`.
fn rbac_documents(documents: &[serde_json::Value]) -> Vec<serde_json::Value> {
    let kinds = [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
    ];
    documents
        .iter()
        .filter(|d| kinds.iter().any(|k| d["kind"] == *k))
        .cloned()
        .collect()
}

/// Creates `documents` as `helm install` would.
async fn apply_all(client: &kube::Client, documents: &[serde_json::Value]) {
    for document in documents {
        let text = serde_json::to_string(document).unwrap();
        lockstep_testenv::manifests::apply_yaml(client, &text)
            .await
            .unwrap();
    }
}

/// Nothing the controller asked was refused, and everything it used is `granted`.
fn assert_all_granted(granted: &BTreeSet<Right>, used: &BTreeSet<Right>, refused: &[String]) {
    assert!(
        refused.is_empty(),
        "the controller was refused (a right missing from its Roles): {refused:#?}"
    );
    let ungranted = used
        .iter()
        .filter(|u| !granted.iter().any(|g| covers(g, u)))
        .collect::<Vec<_>>();
    assert!(
        ungranted.is_empty(),
        "used but granted by no Role: {ungranted:#?}"
    );
}

/// Every (group, resource, verb) the chart's Roles and ClusterRoles bound to the
/// controller grant.
fn granted_rights(rbac: &[serde_json::Value]) -> BTreeSet<Right> {
    let mut rights = BTreeSet::new();
    for role in rbac
        .iter()
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
    {
        let namespace = role["metadata"]["namespace"].as_str().map(str::to_owned);
        for rule in role["rules"].as_array().unwrap() {
            let strings = |key: &str| {
                rule[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_owned())
                    .collect::<Vec<_>>()
            };
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for verb in strings("verbs") {
                        rights.insert(Right {
                            group: group.clone(),
                            resource: resource.clone(),
                            verb,
                            namespace: namespace.clone(),
                        });
                    }
                }
            }
        }
    }
    rights
}

/// Whether `granted` allows the request `used` (made in `used.namespace`, if any).
fn covers(granted: &Right, used: &Right) -> bool {
    granted.group == used.group
        && granted.resource == used.resource
        && granted.verb == used.verb
        && (granted.namespace.is_none() || granted.namespace == used.namespace)
}

/// From the audit log: the rights `user` used acting as itself (requests it made
/// impersonating a tenant are authorized as the tenant), and the requests refused.
fn used_rights(log: &Path, user: &str) -> (BTreeSet<Right>, Vec<String>) {
    let text = std::fs::read_to_string(log).unwrap();
    let mut used = BTreeSet::new();
    let mut refused = Vec::new();
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["user"]["username"] != user {
            continue;
        }
        let code = event["responseStatus"]["code"].as_u64().unwrap_or_default();
        let decision = &event["annotations"]["authorization.k8s.io/decision"];
        if code == 403 || decision == "forbid" {
            refused.push(format!(
                "{} {} ({})",
                event["verb"], event["requestURI"], event["responseStatus"]["message"]
            ));
        }
        if event["impersonatedUser"].is_object() {
            // The impersonation itself was allowed (else 403 above); the request is the
            // tenant's.
            used.insert(Right {
                group: String::new(),
                resource: "serviceaccounts".into(),
                verb: "impersonate".into(),
                namespace: None,
            });
            continue;
        }
        let object = &event["objectRef"];
        let Some(resource) = object["resource"].as_str() else {
            continue; // discovery and other non-resource URLs: every user may
        };
        let resource = match object["subresource"].as_str() {
            Some(sub) => format!("{resource}/{sub}"),
            None => resource.to_owned(),
        };
        used.insert(Right {
            group: object["apiGroup"].as_str().unwrap_or_default().to_owned(),
            resource,
            verb: event["verb"].as_str().unwrap_or_default().to_owned(),
            namespace: object["namespace"].as_str().map(str::to_owned),
        });
    }
    (used, refused)
}

/// A kubeconfig for the chart's ServiceAccount in `namespace`: the admin's, with a token
/// the API server issued for that account (a `TokenRequest`, as the kubelet gets for a Pod).
async fn service_account_kubeconfig(
    plane: &ControlPlane,
    client: &kube::Client,
    namespace: &str,
) -> std::path::PathBuf {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), namespace);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(3600),
            ..TokenRequestSpec::default()
        },
        ..TokenRequest::default()
    };
    let issued = accounts
        .create_token_request("lockstep-controller", &PostParams::default(), &request)
        .await
        .unwrap();
    let token = issued.status.unwrap().token;
    let admin = std::fs::read_to_string(plane.kubeconfig_path()).unwrap();
    let text = admin
        .lines()
        .map(|line| match line.trim_start().strip_prefix("token: ") {
            Some(_) => format!("    token: {token}"),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = plane.logs().join("lockstep-controller.kubeconfig");
    std::fs::write(&path, text + "\n").unwrap();
    path
}

//! Lockstep against the real Flux (source-controller and kustomize-controller v1.9.6, the
//! `flux` CLI v2.9.5, Flux's own CRDs), on one repository and one cluster: Flux syncs it;
//! Flux stops and `lockstep-controller --flux` takes over (same objects, same uids, same
//! inventory ids, the same Ready reasons, applied as `kustomize-controller`, nothing
//! recreated), follows Git (a change applied, a removal pruned), corrects drift and answers
//! the `flux` CLI (`get`, `reconcile [--with-source]`, `suspend`, `resume`); then Lockstep
//! stops and Flux takes the same cluster back, again without recreating anything. A second
//! Kustomization sets `namePrefix`, `commonMetadata`, `images` and `patches`: Lockstep's
//! build of it is Flux's, to the resourceVersion.
//!
//! A control plane of its own: Flux's CRDs replace Lockstep's generated subset, which the
//! other Flux test installs on the shared one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, PodTemplate, Secret};
use k8s_openapi::api::rbac::v1::Role;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use lockstep_testenv::{ControlPlane, Flux, GitHttpServer, GitRepo, HttpAuth, flux_cli, need};
use serde_json::{Value, json};

use crate::support::{Controller, eventually, install_sync_crds};

const USER: &str = "flux-user";
const PASSWORD: &str = "sw1tch-pa55word";

fn resource(group: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

/// The cluster as one controller left it: what the other must find unchanged.
#[derive(Debug, PartialEq)]
struct Applied {
    /// `kind/name` → (uid, resourceVersion) of every object the Kustomization applied.
    objects: BTreeMap<String, (String, String)>,
    /// `(id, v)` of every `status.inventory` entry, sorted.
    inventory: Vec<(String, String)>,
    /// Field managers of every applied object.
    managers: BTreeMap<String, Vec<String>>,
}

struct Cluster {
    kss: Api<DynamicObject>,
    repos: Api<DynamicObject>,
    configmaps: Api<ConfigMap>,
    roles: Api<Role>,
    podtemplates: Api<PodTemplate>,
}

impl Cluster {
    async fn kustomization(&self) -> Value {
        self.kustomization_named("apps").await
    }

    async fn kustomization_named(&self, name: &str) -> Value {
        serde_json::to_value(self.kss.get(name).await.unwrap()).unwrap()
    }

    async fn repository(&self) -> Value {
        serde_json::to_value(self.repos.get("repo").await.unwrap()).unwrap()
    }

    /// Asks for a reconcile of every resource, as `flux reconcile` does.
    async fn request(&self, token: &str) {
        let patch =
            json!({"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}}});
        for (api, name) in [
            (&self.repos, "repo"),
            (&self.kss, "apps"),
            (&self.kss, "dressed"),
            (&self.kss, "judged"),
        ] {
            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .unwrap();
        }
    }

    /// Waits until Kustomization `name` has handled request `token` and is Ready at
    /// `revision`; panics with both statuses if it does not within two minutes.
    async fn handled(&self, who: &str, name: &str, token: &str, revision: &str) -> Value {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let ks = self.kustomization_named(name).await;
            let status = &ks["status"];
            if status["lastHandledReconcileAt"] == token
                && status["lastAppliedRevision"] == revision
                && status["observedGeneration"] == ks["metadata"]["generation"]
                && ready(&ks).0 == "True"
            {
                return ks;
            }
            if tokio::time::Instant::now() > deadline {
                let repo = self.repository().await;
                panic!(
                    "{who} did not handle request {token} at {revision}:\nKustomization {:#}\nGitRepository {:#}",
                    ks["status"], repo["status"]
                );
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    /// Waits until Kustomization `judged` has handled request `token` and is not Ready;
    /// returns its Ready condition.
    async fn judged(&self, who: &str, token: &str) -> (String, String, String) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let ks = self.kustomization_named("judged").await;
            if ks["status"]["lastHandledReconcileAt"] == token && ready(&ks).0 == "False" {
                return ready(&ks);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{who} did not fail judged for request {token}: {:#}",
                ks["status"]
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }

    async fn applied(&self, ks: &Value) -> Applied {
        let mut objects = BTreeMap::new();
        let mut managers = BTreeMap::new();
        let mut metas = Vec::new();
        for cm in self.configmaps.list(&Default::default()).await.unwrap() {
            metas.push((
                format!("ConfigMap/{}", cm.metadata.name.clone().unwrap()),
                cm.metadata,
            ));
        }
        for role in self.roles.list(&Default::default()).await.unwrap() {
            metas.push((
                format!("Role/{}", role.metadata.name.clone().unwrap()),
                role.metadata,
            ));
        }
        for template in self.podtemplates.list(&Default::default()).await.unwrap() {
            metas.push((
                format!("PodTemplate/{}", template.metadata.name.clone().unwrap()),
                template.metadata,
            ));
        }
        for (key, meta) in metas {
            let labels = meta.labels.unwrap_or_default();
            if labels
                .get("kustomize.toolkit.fluxcd.io/name")
                .map(String::as_str)
                != ks["metadata"]["name"].as_str()
            {
                continue;
            }
            objects.insert(
                key.clone(),
                (meta.uid.unwrap(), meta.resource_version.unwrap()),
            );
            let names = meta.managed_fields.unwrap_or_default();
            managers.insert(key, names.into_iter().filter_map(|m| m.manager).collect());
        }
        let mut inventory: Vec<(String, String)> = ks["status"]["inventory"]["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                (
                    e["id"].as_str().unwrap().to_owned(),
                    e["v"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        inventory.sort();
        Applied {
            objects,
            inventory,
            managers,
        }
    }
}

/// `status.history`, newest first, each snapshot checked for the fields Flux requires.
fn history(ks: &Value) -> Vec<Value> {
    let history = ks["status"]["history"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!history.is_empty(), "no history: {:#}", ks["status"]);
    for snapshot in &history {
        let digest = snapshot["digest"].as_str().unwrap_or_default();
        assert!(digest.starts_with("sha256:"), "{snapshot:#}");
        assert!(snapshot["totalReconciliations"].as_i64() >= Some(1));
        for time in ["firstReconciled", "lastReconciled"] {
            let time = snapshot[time].as_str().unwrap_or_default();
            assert!(time.parse::<jiff::Timestamp>().is_ok(), "{snapshot:#}");
        }
        assert!(snapshot["lastReconciledDuration"].is_string());
    }
    history
}

/// `(lastReconciledStatus, metadata.revision)` of a snapshot.
fn outcome(snapshot: &Value) -> (&str, &str) {
    let status = snapshot["lastReconciledStatus"]
        .as_str()
        .unwrap_or_default();
    (
        status,
        snapshot["metadata"]["revision"]
            .as_str()
            .unwrap_or_default(),
    )
}

/// `(status, reason, message)` of the Ready condition.
fn ready(object: &Value) -> (String, String, String) {
    let conditions = object["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let ready = conditions.iter().find(|c| c["type"] == "Ready");
    let field = |name: &str| {
        ready
            .and_then(|c| c[name].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    (field("status"), field("reason"), field("message"))
}

fn write_apps(repo: &GitRepo, web: &str, extra: bool) {
    let cm = |name: &str, value: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
        )
    };
    // Flux's post-build variables: substituted by each controller in turn, to the same
    // object (the take-over below finds it unchanged, resourceVersion included).
    let web = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata:\n  v: \"{web}\"\n  \
         cluster: ${{cluster}}\n  region: ${{region}}\n  host: https://${{host}}/\n  \
         tier: ${{tier:=gold}}\n  escaped: $${{cluster}}\n  shell: echo $HOME\n"
    );
    repo.write("apps/web.yaml", web).unwrap();
    if extra {
        repo.write("apps/extra.yaml", cm("extra", "x")).unwrap();
    } else if repo.work_tree().join("apps/extra.yaml").exists() {
        repo.remove("apps/extra.yaml").unwrap();
    }
    repo.write(
        "apps/role.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: reader}\n\
         rules: [{apiGroups: [\"\"], resources: [configmaps], verbs: [get]}]\n",
    )
    .unwrap();
}

/// A GitRepository's status as Lockstep leaves it: none of the conditions about Flux's
/// artifact storage (`ArtifactInStorage`), and no URL, size or digest of a tarball Flux
/// made (they would go on describing the revision Flux last stored) but the commit's own
/// digest, which Flux's CRD requires.
fn only_what_lockstep_keeps(repo: &Value) {
    let status = &repo["status"];
    for condition in status["conditions"].as_array().unwrap() {
        assert!(
            ["Ready", "Stalled", "SourceVerified"].contains(&condition["type"].as_str().unwrap()),
            "{status:#}"
        );
    }
    let artifact = &status["artifact"];
    let revision = artifact["revision"].as_str().unwrap();
    assert_eq!(
        artifact["digest"].as_str(),
        revision.rsplit_once('@').map(|(_, commit)| commit),
        "{status:#}"
    );
    assert!(
        artifact["size"].is_null() && artifact["url"] == "",
        "{status:#}"
    );
}

/// The columns of `name`'s row in a `flux get … -n <ns>` table: name, revision, suspended,
/// ready, message.
fn row(table: &str, name: &str) -> Vec<String> {
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name));
    let row = row.unwrap_or_else(|| panic!("no row {name} in:\n{table}"));
    row.split_whitespace().map(str::to_owned).collect()
}

/// A revision as `flux get` prints it: `main@sha1:` and 8 hex digits.
fn short(revision: &str) -> &str {
    &revision[..revision.find(':').unwrap() + 9]
}

fn ids(ns: &str, names: &[&str]) -> Vec<(String, String)> {
    let mut ids: Vec<_> = names
        .iter()
        .map(|name| match *name {
            "reader" => (
                format!("{ns}_reader_rbac.authorization.k8s.io_Role"),
                "v1".to_owned(),
            ),
            cm => (format!("{ns}_{cm}__ConfigMap"), "v1".to_owned()),
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn flux_to_lockstep_and_back_recreates_nothing() {
    let plane = need!(ControlPlane::start(Default::default()).await);
    need!(Flux::crds());
    let git = need!(
        GitHttpServer::start_tls(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        })
        .await
    );
    let (client, ns) = plane.namespace("flux-switch").await.unwrap();
    need!(Flux::install_crds(&client).await);
    install_sync_crds(&client).await;

    let repo = git.create_repo("apps", None).unwrap();
    write_apps(&repo, "one", true);
    repo.write(
        "dressed/worker.yaml",
        "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: worker}\ntemplate:\n  \
         metadata: {labels: {app: worker}}\n  spec:\n    containers:\n    \
         - {name: worker, image: 'registry.invalid/worker:1'}\n",
    )
    .unwrap();
    repo.write(
        "dressed/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n",
    )
    .unwrap();
    repo.write(
        "judged/phase.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: phase}\ndata: {v: Broken}\n",
    )
    .unwrap();
    let first = format!("main@sha1:{}", repo.commit("web, extra, reader").unwrap());

    let secret = serde_json::from_value(json!({
        "metadata": {"name": "git-auth"},
        "stringData": {"username": USER, "password": PASSWORD, "ca.crt": git.ca_pem().unwrap()},
    }))
    .unwrap();
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let vars = json!({"metadata": {"name": "secret-vars"}, "stringData": {"host": "db.internal"}});
    let vars = serde_json::from_value(vars).unwrap();
    secrets.create(&PostParams::default(), &vars).await.unwrap();
    let vars = json!({"metadata": {"name": "vars"},
                      "data": {"cluster": "staging", "region": "eu-west-1", "host": "earlier"}});
    let vars = serde_json::from_value(vars).unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &vars)
        .await
        .unwrap();
    let cluster = Cluster {
        kss: Api::namespaced_with(
            client.clone(),
            &ns,
            &resource(
                "kustomize.toolkit.fluxcd.io",
                "Kustomization",
                "kustomizations",
            ),
        ),
        repos: Api::namespaced_with(
            client.clone(),
            &ns,
            &resource(
                "source.toolkit.fluxcd.io",
                "GitRepository",
                "gitrepositories",
            ),
        ),
        configmaps: Api::namespaced(client.clone(), &ns),
        roles: Api::namespaced(client.clone(), &ns),
        podtemplates: Api::namespaced(client.clone(), &ns),
    };
    // As a user writes them for Flux: long intervals, so that every reconcile after the
    // first is one the test asks for.
    let params = PatchParams::apply("flux-switch-test");
    let repository: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": git.url("apps"), "interval": "10m", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}},
    }))
    .unwrap();
    cluster
        .repos
        .patch("repo", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let kustomization: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps",
                 "interval": "10m", "prune": true, "targetNamespace": ns,
                 "postBuild": {"substitute": {"cluster": "prod"},
                               "substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                                                  {"kind": "Secret", "name": "secret-vars"}]}},
    }))
    .unwrap();
    cluster
        .kss
        .patch("apps", &params, &Patch::Apply(&kustomization))
        .await
        .unwrap();
    let dressed: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "dressed"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./dressed",
                 "interval": "10m", "prune": true, "targetNamespace": ns,
                 "namePrefix": "dressed-",
                 "commonMetadata": {"labels": {"team": "a"}, "annotations": {"contact": "ops"}},
                 "images": [{"name": "registry.invalid/worker", "newTag": "2"}],
                 "patches": [
                     {"patch": "- {op: add, path: /data/patched, value: 'yes'}\n",
                      "target": {"kind": "ConfigMap", "name": "settings"}},
                     {"patch": "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: worker}\n\
                                template: {metadata: {labels: {patched: 'yes'}}}\n"},
                 ]},
    }))
    .unwrap();
    cluster
        .kss
        .patch("dressed", &params, &Patch::Apply(&dressed))
        .await
        .unwrap();
    // Health told by CEL: the ConfigMap says it is broken, which only the expression knows.
    let judged: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "judged"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./judged",
                 "interval": "10m", "prune": true, "targetNamespace": ns, "wait": true,
                 "timeout": "5s",
                 "healthCheckExprs": [{"apiVersion": "v1", "kind": "ConfigMap",
                                       "current": "data.v == 'Ready'",
                                       "failed": "data.v == 'Broken'"}]},
    }))
    .unwrap();
    cluster
        .kss
        .patch("judged", &params, &Patch::Apply(&judged))
        .await
        .unwrap();

    // (a) Flux syncs the repository.
    let flux = need!(Flux::start(&plane, &ns).await);
    cluster.request("flux-1").await;
    let by_flux = cluster.handled("Flux", "apps", "flux-1", &first).await;
    let flux_applied = cluster.applied(&by_flux).await;
    let dressed_by_flux = cluster.handled("Flux", "dressed", "flux-1", &first).await;
    let flux_dressed = cluster.applied(&dressed_by_flux).await;
    assert_eq!(
        flux_dressed.objects.keys().collect::<Vec<_>>(),
        ["ConfigMap/dressed-settings", "PodTemplate/dressed-worker"]
    );
    let settings = cluster.configmaps.get("dressed-settings").await.unwrap();
    assert_eq!(settings.data.unwrap()["patched"], "yes");
    assert_eq!(settings.metadata.labels.unwrap()["team"], "a");
    let worker = cluster.podtemplates.get("dressed-worker").await.unwrap();
    assert_eq!(worker.metadata.annotations.unwrap()["contact"], "ops");
    let template = worker.template.unwrap();
    assert_eq!(template.metadata.unwrap().labels.unwrap()["patched"], "yes");
    let image = template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("registry.invalid/worker:2"));
    assert_eq!(
        flux_applied.inventory,
        ids(&ns, &["extra", "reader", "web"])
    );
    assert_eq!(flux_applied.objects.len(), 3, "{flux_applied:?}");
    let flux_judged = cluster.judged("Flux", "flux-1").await;
    assert_eq!(flux_judged.1, "HealthCheckFailed", "{flux_judged:?}");
    let flux_ready = ready(&by_flux);
    let flux_repo_ready = ready(&cluster.repository().await);
    let flux_history = history(&by_flux);
    assert_eq!(
        outcome(&flux_history[0]),
        ("ReconciliationSucceeded", first.as_str()),
        "{flux_history:#?}"
    );
    assert_eq!(
        flux_ready,
        (
            "True".to_owned(),
            "ReconciliationSucceeded".to_owned(),
            format!("Applied revision: {first}")
        )
    );
    let web = cluster.configmaps.get("web").await.unwrap().data.unwrap();
    let substituted = ["cluster", "region", "host", "tier", "escaped", "shell"].map(|k| &web[k]);
    assert_eq!(
        substituted,
        [
            "prod",
            "eu-west-1",
            "https://db.internal/",
            "gold",
            "${cluster}",
            "echo $HOME"
        ],
        "as Flux substitutes"
    );
    drop(flux);

    // (b) Lockstep takes over: the same objects untouched, the same inventory and reasons.
    cluster.request("lockstep-1").await;
    let lockstep = Controller::start_syncing(&plane, &ns, &["--flux=true"]).await;
    let by_lockstep = cluster
        .handled("Lockstep", "apps", "lockstep-1", &first)
        .await;
    let lockstep_applied = cluster.applied(&by_lockstep).await;
    assert_eq!(
        lockstep_applied, flux_applied,
        "Lockstep changed what Flux applied"
    );
    let dressed_by_lockstep = cluster
        .handled("Lockstep", "dressed", "lockstep-1", &first)
        .await;
    assert_eq!(
        cluster.applied(&dressed_by_lockstep).await,
        flux_dressed,
        "Lockstep built namePrefix, commonMetadata, images or patches otherwise than Flux"
    );
    assert_eq!(ready(&dressed_by_lockstep), ready(&dressed_by_flux));
    assert_eq!(ready(&by_lockstep), flux_ready, "Ready as Flux words it");
    let lockstep_judged = cluster.judged("Lockstep", "lockstep-1").await;
    assert_eq!(lockstep_judged.1, flux_judged.1, "{lockstep_judged:?}");
    assert!(lockstep_judged.2.contains("phase"), "{lockstep_judged:?}");
    // Lockstep's snapshot of the build in front of Flux's, which stay as Flux wrote them.
    let taken_over = history(&by_lockstep);
    assert_eq!(
        outcome(&taken_over[0]),
        ("ReconciliationSucceeded", first.as_str())
    );
    assert_eq!(taken_over[1..], flux_history[..], "{taken_over:#?}");
    let repo_status = cluster.repository().await;
    assert_eq!(ready(&repo_status), flux_repo_ready);
    assert_eq!(repo_status["status"]["artifact"]["revision"], first);
    only_what_lockstep_keeps(&repo_status);

    // The flux CLI reads Lockstep's status as Flux's.
    let listed = need!(flux_cli(&plane, &["get", "kustomizations", "-A"]).await);
    let all = listed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some("apps"));
    assert!(all.is_some_and(|l| l.starts_with(&ns)), "{listed}");
    let listed = need!(flux_cli(&plane, &["get", "kustomizations", "-n", &ns]).await);
    assert_eq!(
        row(&listed, "apps")[1..4],
        [short(&first), "False", "True"],
        "{listed}"
    );
    let sources = need!(flux_cli(&plane, &["get", "sources", "git", "-n", &ns]).await);
    assert_eq!(
        row(&sources, "repo")[1..4],
        [short(&first), "False", "True"],
        "{sources}"
    );

    // A change in Git is applied and a removal pruned, on `flux reconcile --with-source`,
    // which returns once Lockstep has handled both requests.
    write_apps(&repo, "two", false);
    let second = format!(
        "main@sha1:{}",
        repo.commit("web changed, extra removed").unwrap()
    );
    need!(
        flux_cli(
            &plane,
            &[
                "reconcile",
                "kustomization",
                "apps",
                "--with-source",
                "-n",
                &ns,
                "--timeout=2m"
            ],
        )
        .await
    );
    let ks = cluster.kustomization().await;
    assert_eq!(ks["status"]["lastAppliedRevision"], second);
    let after_change = history(&ks);
    assert_eq!(
        outcome(&after_change[0]),
        ("ReconciliationSucceeded", second.as_str())
    );
    let digests =
        |history: &[Value]| -> Vec<Value> { history.iter().map(|s| s["digest"].clone()).collect() };
    assert_eq!(
        digests(&after_change[1..]),
        digests(&taken_over),
        "{after_change:#?}"
    );
    let web = cluster.configmaps.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["v"], "two");
    assert_eq!(
        web.metadata.uid.as_ref(),
        Some(&flux_applied.objects["ConfigMap/web"].0)
    );
    assert!(cluster.configmaps.get_opt("extra").await.unwrap().is_none());
    assert_eq!(ready(&ks).2, format!("Applied revision: {second}"));
    let repo_status = cluster.repository().await;
    assert_eq!(
        ready(&repo_status).2,
        format!("stored artifact for revision '{second}'")
    );
    only_what_lockstep_keeps(&repo_status);
    // `flux tree` reads the inventory Lockstep wrote.
    let tree = need!(flux_cli(&plane, &["tree", "kustomization", "apps", "-n", &ns]).await);
    for (object, listed) in [
        ("ConfigMap/web", true),
        ("Role/reader", true),
        ("ConfigMap/extra", false),
    ] {
        let (kind, name) = object.split_once('/').unwrap();
        assert_eq!(
            tree.contains(&format!("{kind}/{ns}/{name}")),
            listed,
            "{tree}"
        );
    }
    let changed = cluster.applied(&ks).await;
    assert_eq!(changed.inventory, ids(&ns, &["reader", "web"]));
    assert_eq!(
        changed.objects["Role/reader"], flux_applied.objects["Role/reader"],
        "an unchanged object was written"
    );
    for managers in changed.managers.values() {
        assert_eq!(managers, &["kustomize-controller"]);
    }

    // Suspended, a new commit is not applied even when asked; resumed, it is.
    need!(flux_cli(&plane, &["suspend", "kustomization", "apps", "-n", &ns]).await);
    write_apps(&repo, "three", false);
    let third = format!("main@sha1:{}", repo.commit("web changed again").unwrap());
    cluster.request("while-suspended").await;
    eventually(
        "the GitRepository to fetch the third revision",
        async || cluster.repository().await["status"]["artifact"]["revision"] == third,
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let web = cluster.configmaps.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["v"], "two", "applied while suspended");
    let listed = need!(flux_cli(&plane, &["get", "kustomizations", "-n", &ns]).await);
    assert_eq!(
        row(&listed, "apps")[1..4],
        [short(&second), "True", "True"],
        "{listed}"
    );
    need!(
        flux_cli(
            &plane,
            &["resume", "kustomization", "apps", "-n", &ns, "--timeout=2m"]
        )
        .await
    );
    let ks = cluster.kustomization().await;
    assert_eq!(ks["status"]["lastAppliedRevision"], third);
    let web = cluster.configmaps.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["v"], "three");

    // Drift is corrected as Flux corrects it: the value back, the drifting manager gone.
    let drift = json!({"data": {"v": "drifted"}});
    let by_hand = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    cluster
        .configmaps
        .patch("web", &by_hand, &Patch::Merge(&drift))
        .await
        .unwrap();
    need!(flux_cli(&plane, &["reconcile", "kustomization", "apps", "-n", &ns]).await);
    let web = cluster.configmaps.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["v"], "three", "drift not corrected");
    let ks = cluster.kustomization().await;
    let before_give_back = cluster.applied(&ks).await;
    let lockstep_history = history(&ks);
    assert_eq!(
        before_give_back.managers["ConfigMap/web"],
        ["kustomize-controller"]
    );
    drop(lockstep);

    // (c) Flux takes the cluster back: nothing recreated, its inventory the same.
    cluster.request("flux-2").await;
    let flux = need!(Flux::start(&plane, &ns).await);
    let by_flux = cluster.handled("Flux", "apps", "flux-2", &third).await;
    let given_back = cluster.applied(&by_flux).await;
    assert_eq!(given_back.inventory, ids(&ns, &["reader", "web"]));
    assert_eq!(
        given_back.objects, before_give_back.objects,
        "Flux recreated or rewrote"
    );
    assert_eq!(ready(&by_flux).1, flux_ready.1);
    // Flux reads the history Lockstep wrote and adds to it.
    let given_back_history = history(&by_flux);
    assert!(
        given_back_history
            .iter()
            .any(|s| s["digest"] == lockstep_history[0]["digest"]),
        "{given_back_history:#?}"
    );
    let repo_status = cluster.repository().await;
    assert_eq!(ready(&repo_status).0, "True");
    assert_eq!(repo_status["status"]["artifact"]["revision"], third);
    for managers in given_back.managers.values() {
        assert_eq!(managers, &["kustomize-controller"]);
    }
    drop(flux);
}

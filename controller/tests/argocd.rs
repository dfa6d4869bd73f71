//! Argo CD's `Application` served by the real `lockstep-controller` (`--argocd`) from a
//! repository on the real Git daemon into the real kube-apiserver, with Lockstep's
//! generated subset of Argo CD's CRDs: objects get Argo CD's tracking label, status is
//! Argo CD's (sync, health, resources, operationState, conditions), objects Argo CD
//! applied are taken over in place and its `status.resources` adopted (what left it is
//! pruned), drift is healed, `Prune=false` is honoured, a sync without `automated` waits
//! for `operation.sync` (written as Argo CD's API server writes a sync and a rollback, and
//! retried by its own `retry`), a private repository is read with Argo CD's repository
//! Secret, the resources finalizer cascades, and what is not served or not allowed by an
//! AppProject (a named one, or a `default` that exists) is refused by name.

use crate::support;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, PodTemplate, Secret};
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::argocd::{
    AppProject, Application, ApplicationConditionType, ApplicationSpec, HealthCode, INSTANCE_LABEL,
    OperationPhase, ResourceStatus, SyncCode,
};
use lockstep_testenv::{ControlPlane, GitHttpServer, GitServer, HttpAuth, manifests, need};
use serde_json::json;
use support::{Controller, eventually};

const TOKEN: &str = "argo-repo-t0ken";

pub(crate) async fn install_argocd_crds(client: &kube::Client) {
    for text in [
        include_str!("../../deploy/crds/argoproj.io_applications.yaml"),
        include_str!("../../deploy/crds/argoproj.io_appprojects.yaml"),
    ] {
        manifests::apply_yaml(client, text).await.unwrap();
    }
}

fn cm(name: &str, value: &str, annotations: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, annotations: {{{annotations}}}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

fn resource(ns: &str, name: &str) -> ResourceStatus {
    ResourceStatus {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: ns.into(),
        name: name.into(),
        status: Some(SyncCode::Synced),
        health: None,
    }
}

fn names(app: &Application) -> Vec<String> {
    let resources = app.status.iter().flat_map(|s| &s.resources);
    let mut names: Vec<String> = resources.map(|r| r.name.clone()).collect();
    names.sort();
    names
}

/// What Argo CD's application controller left: a ConfigMap with its tracking label,
/// applied as it applies.
async fn applied_by_argocd(configmaps: &Api<ConfigMap>, name: &str) -> String {
    let object = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {INSTANCE_LABEL: "guestbook"}},
        "data": {"v": "argocd"},
    });
    let params = PatchParams::apply("argocd-controller").force();
    let live = configmaps
        .patch(name, &params, &Patch::Apply(&object))
        .await
        .unwrap();
    live.metadata.uid.unwrap()
}

/// Creates namespace `name` as a person would, outside any Application.
async fn made_by_hand(namespaces: &Api<Namespace>, name: &str) {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    let params = PatchParams::apply("by-hand");
    namespaces
        .patch(name, &params, &Patch::Apply(&namespace))
        .await
        .unwrap();
}

pub(crate) fn synced_at(app: &Application, commit: &str) -> bool {
    let Some(status) = &app.status else {
        return false;
    };
    let sync = status.sync.as_ref();
    let health = status.health.as_ref().map(|h| h.status);
    let phase = status.operation_state.as_ref().map(|o| o.phase);
    sync.is_some_and(|s| s.status == SyncCode::Synced && s.revision.as_deref() == Some(commit))
        && health == Some(HealthCode::Healthy)
        && phase == Some(OperationPhase::Succeeded)
}

pub(crate) fn refused(app: &Application, type_: ApplicationConditionType, named: &str) -> bool {
    let status = app.status.clone().unwrap_or_default();
    status
        .conditions
        .iter()
        .any(|c| c.type_ == type_ && c.message.contains(named))
        && status.resources.is_empty()
}

#[tokio::test]
async fn an_application_is_applied_healed_pruned_and_refused_as_argo_cd_would() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-serve").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("guestbook", None).unwrap();
    repo.write("apps/web.yaml", cm("web", "git", "")).unwrap();
    // A sub-folder Argo CD does not read without `directory.recurse`.
    repo.write("apps/nested/deep.yaml", cm("deep", "git", ""))
        .unwrap();
    repo.write("apps/tracked.yaml", cm("tracked", "git", ""))
        .unwrap();
    repo.write("apps/extra.yaml", cm("extra", "git", ""))
        .unwrap();
    let keep = cm(
        "keep",
        "git",
        "argocd.argoproj.io/sync-options: Prune=false",
    );
    repo.write("apps/keep.yaml", keep).unwrap();
    repo.write("manual/manual.yaml", cm("manual", "git", ""))
        .unwrap();
    let first = repo.commit("guestbook").unwrap();
    let url = repo.git_url().unwrap().to_owned();

    // Argo CD applied `web` (still in Git) and `gone` (no longer in Git) before the switch,
    // and its status.resources lists both.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let web_uid = applied_by_argocd(&configmaps, "web").await;
    applied_by_argocd(&configmaps, "gone").await;
    // Argo CD with annotation tracking: no label, a tracking-id naming the object.
    let tracked: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "tracked", "annotations": {
            "argocd.argoproj.io/tracking-id": format!("guestbook:/ConfigMap:{ns}/tracked")}},
        "data": {"v": "argocd"},
    }))
    .unwrap();
    let tracked_uid = configmaps
        .create(&PostParams::default(), &tracked)
        .await
        .unwrap()
        .metadata
        .uid
        .unwrap();
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("argocd-tests").force();
    let application = |name: &str, path: &str, policy: serde_json::Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "targetRevision": "main", "path": path},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": ns},
                     "syncPolicy": policy},
        })
    };
    let automated = json!({"automated": {"prune": true, "selfHeal": true}});
    // As Argo CD's examples write it: no targetRevision, so HEAD, the default branch.
    let mut guestbook = application("guestbook", "apps", automated.clone());
    let source = guestbook["spec"]["source"].as_object_mut().unwrap();
    source.remove("targetRevision");
    guestbook["metadata"]["finalizers"] = json!(["resources-finalizer.argocd.argoproj.io"]);
    let stored = apps
        .patch("guestbook", &params, &Patch::Apply(&guestbook))
        .await
        .unwrap();
    let spec: ApplicationSpec = serde_json::from_value(guestbook["spec"].clone()).unwrap();
    assert_eq!(
        stored.spec, spec,
        "nothing defaulted into a stored Application"
    );
    let argocd_status = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "status": {"resources": [resource(&ns, "gone"), resource(&ns, "tracked"),
                                 resource(&ns, "web")],
                   "sync": {"status": "Synced", "revision": "0000000"}},
    });
    let status_params = PatchParams::apply("argocd-application-controller").force();
    // Argo CD's Application CRD has no status subresource; it writes status with the object.
    apps.patch("guestbook", &status_params, &Patch::Apply(&argocd_status))
        .await
        .unwrap();

    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    eventually(
        "the Application to be Synced and Healthy at the first commit",
        async || synced_at(&apps.get("guestbook").await.unwrap(), &first),
    )
    .await;
    let app = apps.get("guestbook").await.unwrap();
    assert_eq!(names(&app), ["extra", "keep", "tracked", "web"]);
    assert!(
        configmaps.get_opt("deep").await.unwrap().is_none(),
        "not recursed"
    );
    let status = app.status.unwrap();
    assert!(status.conditions.is_empty(), "{:?}", status.conditions);
    let state = status.operation_state.unwrap();
    assert_eq!(state.sync_result.unwrap().revision, first);
    assert!(status.reconciled_at.is_some());

    // Taken over in place with Argo CD's label; its resources adopted, so `gone` is pruned.
    let web = configmaps.get("web").await.unwrap();
    assert_eq!(web.metadata.uid.unwrap(), web_uid, "web was recreated");
    assert_eq!(web.data.unwrap()["v"], "git");
    let labels = web.metadata.labels.unwrap();
    assert_eq!(labels[INSTANCE_LABEL], "guestbook");
    assert!(!labels.contains_key("lockstep.dev/name"), "{labels:?}");
    assert!(configmaps.get_opt("gone").await.unwrap().is_none());
    let tracked = configmaps.get("tracked").await.unwrap();
    assert_eq!(
        tracked.metadata.uid.unwrap(),
        tracked_uid,
        "tracked was recreated"
    );
    assert_eq!(tracked.data.unwrap()["v"], "git");

    // Drift is healed (selfHeal).
    let drift = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"v": "drifted"}});
    configmaps
        .patch(
            "web",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(&drift),
        )
        .await
        .unwrap();
    eventually("the drift on web to be healed", async || {
        let web = configmaps.get("web").await.unwrap();
        web.data.unwrap_or_default().get("v").map(String::as_str) == Some("git")
    })
    .await;

    // Removed from Git: pruned, except the object marked Prune=false.
    repo.remove("apps/extra.yaml").unwrap();
    repo.remove("apps/keep.yaml").unwrap();
    // A hook of the manual Application below, recreated at each run (BeforeHookCreation).
    let hook = cm("manual-hook", "git", "argocd.argoproj.io/hook: PreSync");
    repo.write("manual/hook.yaml", hook).unwrap();
    let second = repo.commit("extra and keep removed").unwrap();
    eventually("extra to be pruned at the second commit", async || {
        let app = apps.get("guestbook").await.unwrap();
        synced_at(&app, &second)
            && names(&app) == ["tracked", "web"]
            && configmaps.get_opt("extra").await.unwrap().is_none()
    })
    .await;
    assert!(
        configmaps.get_opt("keep").await.unwrap().is_some(),
        "Prune=false was pruned"
    );
    // Each revision synced is in status.history, as `argocd app history` lists it.
    let history = apps.get("guestbook").await.unwrap().status.unwrap().history;
    let revisions: Vec<(i64, &str)> = history.iter().map(|h| (h.id, &h.revision[..])).collect();
    assert_eq!(revisions, [(0, &first[..]), (1, &second[..])]);
    assert!(
        history
            .iter()
            .all(|h| h.source.is_some() && !h.deployed_at.is_empty())
    );

    // Without `automated`, nothing is applied until a sync is requested (operation.sync).
    let options = json!(["ApplyOutOfSyncOnly=true"]);
    let manual = application("manual", "manual", json!({"syncOptions": options}));
    apps.patch("manual", &params, &Patch::Apply(&manual))
        .await
        .unwrap();
    eventually("the manual Application to be OutOfSync", async || {
        let status = apps.get("manual").await.unwrap().status.unwrap_or_default();
        status.sync.is_some_and(|s| s.status == SyncCode::OutOfSync)
            && status
                .health
                .is_some_and(|h| h.status == HealthCode::Missing)
    })
    .await;
    assert!(configmaps.get_opt("manual").await.unwrap().is_none());
    // The widely copied `kubectl patch` recipe: the hook strategy, by a user.
    let operation = json!({"operation": {"initiatedBy": {"username": "admin"},
                                         "sync": {"syncStrategy": {"hook": {}}}}});
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&operation))
        .await
        .unwrap();
    eventually(
        "the requested sync to run and its operation to go",
        async || {
            let app = apps.get("manual").await.unwrap();
            synced_at(&app, &second) && app.operation.is_none()
        },
    )
    .await;
    assert!(configmaps.get_opt("manual").await.unwrap().is_some());
    let hook_uid = async || {
        let hook = configmaps.get_opt("manual-hook").await.unwrap();
        hook.and_then(|h| h.metadata.uid).unwrap_or_default()
    };
    let ran = hook_uid().await;
    assert!(!ran.is_empty(), "the PreSync hook did not run");

    // What Argo CD's API server writes for `argocd app sync` (its `Sync`): the commit the
    // target resolves to, the spec's source and sync options, the hook strategy, who asked
    // and an empty retry. Hooks run.
    repo.write("manual/manual.yaml", cm("manual", "third", ""))
        .unwrap();
    let third = repo.commit("manual changed").unwrap();
    let value = async || {
        let map = configmaps.get("manual").await.unwrap();
        map.data.and_then(|mut d| d.remove("v")).unwrap_or_default()
    };
    let source = apps.get("manual").await.unwrap().spec.source;
    let sync = json!({"operation": {
        "sync": {"revision": third, "source": source, "syncOptions": options,
                 "syncStrategy": {"hook": {}}},
        "initiatedBy": {"username": "admin"}, "retry": {}}});
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&sync))
        .await
        .unwrap();
    eventually("the third commit to be synced on request", async || {
        let app = apps.get("manual").await.unwrap();
        synced_at(&app, &third) && app.operation.is_none() && value().await == "third"
    })
    .await;
    let ran_again = hook_uid().await;
    assert_ne!(ran_again, ran, "the PreSync hook did not run again");

    // What it writes for `argocd app rollback` (its `Rollback`): a history entry's revision
    // and source, the spec's sync options, the apply strategy, which leaves hooks out. The
    // earlier commit is applied, and it stays, the Application not being automated.
    let history = apps.get("manual").await.unwrap().status.unwrap().history;
    let back = history.iter().find(|h| h.revision == second).unwrap();
    let rollback = json!({"operation": {
        "sync": {"revision": back.revision, "source": back.source, "syncOptions": options,
                 "syncStrategy": {"apply": {}}},
        "initiatedBy": {"username": "admin"}, "retry": {}}});
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&rollback))
        .await
        .unwrap();
    eventually("the rollback to apply the second commit", async || {
        let app = apps.get("manual").await.unwrap();
        let history = app.status.unwrap_or_default().history;
        app.operation.is_none()
            && history
                .last()
                .is_some_and(|h| h.revision == second && h.id == back.id + 2)
            && value().await == "git"
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(value().await, "git", "the rollback stays");
    assert_eq!(hook_uid().await, ran_again, "the apply strategy ran a hook");
    let status = apps.get("manual").await.unwrap().status.unwrap();
    assert_eq!(
        status.sync.map(|s| (s.status, s.revision)),
        Some((SyncCode::OutOfSync, Some(third.clone()))),
        "HEAD is the third commit, not applied"
    );
    // The rollback's outcome stays in operationState while the Application waits.
    let state = status.operation_state.unwrap();
    assert_eq!(
        (state.phase, state.sync_result.map(|r| r.revision)),
        (OperationPhase::Succeeded, Some(second.clone()))
    );
    // `automated` on again: back to targetRevision.
    let automate = json!({"spec": {"syncPolicy": {"automated": {}}}});
    apps.patch("manual", &PatchParams::default(), &Patch::Merge(&automate))
        .await
        .unwrap();
    eventually("the automated Application to return to HEAD", async || {
        synced_at(&apps.get("manual").await.unwrap(), &third) && value().await == "third"
    })
    .await;

    // Unserved fields are refused by name, nothing applied.
    let mut helm = application("helm", "apps", automated.clone());
    helm["spec"]["source"]["chart"] = json!("guestbook");
    helm["spec"]["source"]["helm"] = json!({"releaseName": "gb", "passCredentials": true});
    apps.patch("helm", &params, &Patch::Apply(&helm))
        .await
        .unwrap();
    eventually("the Helm Application to be refused by name", async || {
        let app = apps.get("helm").await.unwrap();
        let invalid = ApplicationConditionType::InvalidSpecError;
        refused(&app, invalid, "spec.source.helm.passCredentials not served")
    })
    .await;
    // A sync requested of a refused Application does not wait to run: it is removed.
    let operation = json!({"operation": {"sync": {"prune": true}}});
    apps.patch("helm", &PatchParams::default(), &Patch::Merge(&operation))
        .await
        .unwrap();
    eventually(
        "the refused Application's operation to be removed",
        async || apps.get("helm").await.unwrap().operation.is_none(),
    )
    .await;
    let app = apps.get("helm").await.unwrap();
    let invalid = ApplicationConditionType::InvalidSpecError;
    assert!(refused(&app, invalid, "spec.source.helm.passCredentials"));

    // A named AppProject that does not allow the repository refuses it.
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    let project = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": "team"},
        "spec": {"sourceRepos": ["https://git.example.invalid/team/*"],
                 "destinations": [{"server": "*", "namespace": "*"}]},
    });
    projects
        .patch("team", &params, &Patch::Apply(&project))
        .await
        .unwrap();
    let mut team = application("team-app", "manual", automated.clone());
    team["spec"]["project"] = json!("team");
    apps.patch("team-app", &params, &Patch::Apply(&team))
        .await
        .unwrap();
    eventually(
        "the Application of project team to be refused",
        async || {
            let app = apps.get("team-app").await.unwrap();
            let invalid = ApplicationConditionType::InvalidSpecError;
            refused(
                &app,
                invalid,
                &format!("repo {url} is not permitted in project 'team'"),
            )
        },
    )
    .await;

    // A project's resource rules judge every object before anything is written: a
    // ClusterRole is refused until clusterResourceWhitelist lists it, an object in a
    // namespace outside the destinations always.
    let role = format!("{ns}-reader");
    repo.write(
        "scoped/role.yaml",
        format!("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role}}}\nrules: []\n"),
    )
    .unwrap();
    repo.write("scoped/cm.yaml", cm("scoped", "git", ""))
        .unwrap();
    let scoped_commit = repo.commit("scoped").unwrap();
    let rules = |whitelist: serde_json::Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "rules"},
            "spec": {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": ns}],
                     "clusterResourceWhitelist": whitelist},
        })
    };
    projects
        .patch("rules", &params, &Patch::Apply(&rules(json!([]))))
        .await
        .unwrap();
    let mut scoped = application("scoped", "scoped", automated.clone());
    scoped["spec"]["project"] = json!("rules");
    apps.patch("scoped", &params, &Patch::Apply(&scoped))
        .await
        .unwrap();
    let sync_error = ApplicationConditionType::SyncError;
    eventually("the ClusterRole to be refused by the project", async || {
        let app = apps.get("scoped").await.unwrap();
        refused(
            &app,
            sync_error,
            "resource rbac.authorization.k8s.io:ClusterRole",
        )
    })
    .await;
    assert!(
        configmaps.get_opt("scoped").await.unwrap().is_none(),
        "nothing applied"
    );
    let listed = json!([{"group": "rbac.authorization.k8s.io", "kind": "ClusterRole"}]);
    projects
        .patch("rules", &params, &Patch::Apply(&rules(listed)))
        .await
        .unwrap();
    eventually("the whitelisted ClusterRole to sync", async || {
        synced_at(&apps.get("scoped").await.unwrap(), &scoped_commit)
    })
    .await;
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(client.clone());
    assert!(roles.get_opt(&role).await.unwrap().is_some());
    repo.write(
        "scoped/cm.yaml",
        cm("scoped", "git", "").replace("metadata: {", "metadata: {namespace: kube-system, "),
    )
    .unwrap();
    repo.commit("scoped into kube-system").unwrap();
    eventually("kube-system to be refused by the project", async || {
        let status = apps.get("scoped").await.unwrap().status.unwrap_or_default();
        status
            .conditions
            .iter()
            .any(|c| c.type_ == sync_error && c.message.contains("namespace kube-system"))
    })
    .await;
    let system: Api<ConfigMap> = Api::namespaced(client.clone(), "kube-system");
    assert!(system.get_opt("scoped").await.unwrap().is_none());
    apps.delete("scoped", &Default::default()).await.unwrap();
    roles.delete(&role, &Default::default()).await.unwrap();

    // A private repository: a ComparisonError until Argo CD's repository Secret is there.
    let http = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let private = http.create_repo("private", None).unwrap();
    private
        .write("private/cm.yaml", cm("private", "git", ""))
        .unwrap();
    let private_head = private.commit("private").unwrap();
    let private_url = http.url("private");
    let mut app = application("private", "private", json!({"automated": {}}));
    app["spec"]["source"]["repoURL"] = json!(private_url);
    apps.patch("private", &params, &Patch::Apply(&app))
        .await
        .unwrap();
    eventually(
        "the private repository to be a ComparisonError",
        async || {
            let app = apps.get("private").await.unwrap();
            refused(
                &app,
                ApplicationConditionType::ComparisonError,
                &private_url,
            )
        },
    )
    .await;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "private-repo",
                     "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "stringData": {"type": "git", "url": private_url, "bearerToken": TOKEN},
    }))
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    eventually("the private Application to be Synced", async || {
        synced_at(&apps.get("private").await.unwrap(), &private_head)
    })
    .await;
    assert!(configmaps.get_opt("private").await.unwrap().is_some());
    let status = apps.get("private").await.unwrap().status.unwrap();
    assert!(!serde_json::to_string(&status).unwrap().contains(TOKEN));

    // Drift without selfHeal: OutOfSync, naming the object, and the edit stays.
    let edit = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"v": "edited"}});
    configmaps
        .patch(
            "private",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(&edit),
        )
        .await
        .unwrap();
    eventually("the drifted Application to be OutOfSync", async || {
        let status = apps
            .get("private")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        let resource = status.resources.iter().find(|r| r.name == "private");
        status.sync.is_some_and(|s| s.status == SyncCode::OutOfSync)
            && resource.is_some_and(|r| r.status == Some(SyncCode::OutOfSync))
    })
    .await;
    let live = configmaps.get("private").await.unwrap();
    assert_eq!(
        live.data.unwrap()["v"],
        "edited",
        "reverted without selfHeal"
    );

    // A revision that renders nothing never prunes everything (Argo CD's allowEmpty
    // unset): a SyncError, the objects kept; with allowEmpty they are pruned.
    repo.write("emptied/one.yaml", cm("emptied", "x", ""))
        .unwrap();
    repo.write("emptied/README.md", "no manifests but one")
        .unwrap();
    let with_one = repo.commit("emptied holds one").unwrap();
    let emptied = application("emptied", "emptied", automated.clone());
    apps.patch("emptied", &params, &Patch::Apply(&emptied))
        .await
        .unwrap();
    eventually("the emptied Application to be Synced", async || {
        synced_at(&apps.get("emptied").await.unwrap(), &with_one)
    })
    .await;
    repo.remove("emptied/one.yaml").unwrap();
    repo.commit("emptied holds none").unwrap();
    eventually("the empty revision to be refused", async || {
        let status = apps
            .get("emptied")
            .await
            .unwrap()
            .status
            .unwrap_or_default();
        status.conditions.iter().any(|c| {
            c.type_ == ApplicationConditionType::SyncError
                && c.message.contains("renders no objects")
        })
    })
    .await;
    assert!(
        configmaps.get_opt("emptied").await.unwrap().is_some(),
        "kept"
    );
    let mut allowed = emptied.clone();
    allowed["spec"]["syncPolicy"]["automated"]["allowEmpty"] = json!(true);
    apps.patch("emptied", &params, &Patch::Apply(&allowed))
        .await
        .unwrap();
    eventually("allowEmpty to prune the object", async || {
        configmaps.get_opt("emptied").await.unwrap().is_none()
    })
    .await;

    // CreateNamespace=true makes the destination namespace, with managedNamespaceMetadata's
    // labels and annotations applied server-side: a label added by hand stays, a changed
    // one follows the Application.
    let made = format!("{ns}-made");
    let mut creating = application("creating", "emptied", automated.clone());
    creating["spec"]["destination"]["namespace"] = json!(made);
    creating["spec"]["syncPolicy"]["syncOptions"] = json!(["CreateNamespace=true"]);
    let metadata =
        |team: &str| json!({"labels": {"team": team}, "annotations": {"owner": "platform"}});
    creating["spec"]["syncPolicy"]["managedNamespaceMetadata"] = metadata("a");
    apps.patch("creating", &params, &Patch::Apply(&creating))
        .await
        .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let labelled = |team: &'static str| {
        let namespaces = namespaces.clone();
        let made = made.clone();
        async move {
            let Some(live) = namespaces.get_opt(&made).await.unwrap() else {
                return false;
            };
            let labels = live.metadata.labels.unwrap_or_default();
            let annotations = live.metadata.annotations.unwrap_or_default();
            labels.get("team").map(String::as_str) == Some(team)
                && annotations.get("owner").map(String::as_str) == Some("platform")
        }
    };
    eventually("the namespace to be made with its metadata", async || {
        labelled("a").await
    })
    .await;
    let by_hand = json!({"metadata": {"labels": {"by-hand": "yes"}}});
    namespaces
        .patch(&made, &PatchParams::default(), &Patch::Merge(&by_hand))
        .await
        .unwrap();
    creating["spec"]["syncPolicy"]["managedNamespaceMetadata"] = metadata("b");
    apps.patch("creating", &params, &Patch::Apply(&creating))
        .await
        .unwrap();
    eventually("the namespace's label to follow", async || {
        labelled("b").await
    })
    .await;
    let live = namespaces.get(&made).await.unwrap();
    assert_eq!(live.metadata.labels.unwrap()["by-hand"], "yes");

    // syncPolicy.retry backs a failed sync off: its destination namespace missing, the
    // sync fails; the namespace made by hand, it is not retried before the backoff (an
    // hour here, though the interval is a second), but a new revision syncs at once.
    let later = format!("{ns}-later");
    repo.write("later/one.yaml", cm("later", "git", ""))
        .unwrap();
    repo.commit("later").unwrap();
    let mut retrying = application("retrying", "later", automated.clone());
    retrying["spec"]["destination"]["namespace"] = json!(later);
    retrying["spec"]["syncPolicy"]["retry"] =
        json!({"limit": 3, "backoff": {"duration": "1h", "factor": 2, "maxDuration": "2h"}});
    apps.patch("retrying", &params, &Patch::Apply(&retrying))
        .await
        .unwrap();
    let sync_error = async || {
        let app = apps.get("retrying").await.unwrap();
        let status = app.status.unwrap_or_default();
        status
            .conditions
            .iter()
            .any(|c| c.type_ == ApplicationConditionType::SyncError)
    };
    eventually("the sync to fail without its namespace", sync_error).await;
    made_by_hand(&namespaces, &later).await;
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(sync_error().await, "retried before its backoff");
    let in_later: Api<ConfigMap> = Api::namespaced(client.clone(), &later);
    assert!(in_later.get_opt("later").await.unwrap().is_none());
    repo.write("later/README.md", "a new revision").unwrap();
    let newer = repo.commit("a new revision").unwrap();
    eventually("the new revision to sync at once", async || {
        synced_at(&apps.get("retrying").await.unwrap(), &newer)
    })
    .await;
    assert!(in_later.get_opt("later").await.unwrap().is_some());

    // A requested sync's own retry (`operation.retry`, which Argo CD's API server copies
    // from syncPolicy.retry): its one retry spent, the failed operation goes; without a
    // limit it is kept, and run again after each wait until it succeeds.
    let asked_ns = format!("{ns}-asked");
    let mut asked = application("asked", "later", json!({}));
    asked["spec"]["destination"]["namespace"] = json!(asked_ns);
    apps.patch("asked", &params, &Patch::Apply(&asked))
        .await
        .unwrap();
    let request = |retry: serde_json::Value| {
        json!({"operation": {"sync": {"syncStrategy": {"hook": {}}},
                             "initiatedBy": {"username": "admin"}, "retry": retry}})
    };
    let failed_sync = async || {
        let app = apps.get("asked").await.unwrap();
        let status = app.status.clone().unwrap_or_default();
        let failed = status
            .conditions
            .iter()
            .any(|c| c.type_ == ApplicationConditionType::SyncError);
        (failed, app.operation.is_some())
    };
    let once = request(json!({"limit": 1, "backoff": {"duration": "1s"}}));
    apps.patch("asked", &PatchParams::default(), &Patch::Merge(&once))
        .await
        .unwrap();
    eventually("the request to fail and, retried once, go", async || {
        failed_sync().await == (true, false)
    })
    .await;
    let unlimited = request(json!({"limit": -1, "backoff": {"duration": "1s", "factor": 1}}));
    apps.patch("asked", &PatchParams::default(), &Patch::Merge(&unlimited))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert_eq!(failed_sync().await, (true, true), "kept for its retries");
    made_by_hand(&namespaces, &asked_ns).await;
    eventually("the kept request to be retried and go", async || {
        let app = apps.get("asked").await.unwrap();
        synced_at(&app, &newer) && app.operation.is_none()
    })
    .await;

    // Deleting with the resources finalizer cascades; without it, objects are orphaned.
    apps.delete("guestbook", &Default::default()).await.unwrap();
    eventually("guestbook and its objects to be deleted", async || {
        apps.get_opt("guestbook").await.unwrap().is_none()
            && configmaps.get_opt("web").await.unwrap().is_none()
    })
    .await;
    assert!(configmaps.get_opt("keep").await.unwrap().is_some());
    apps.delete("manual", &Default::default()).await.unwrap();
    eventually("the manual Application to be deleted", async || {
        apps.get_opt("manual").await.unwrap().is_none()
    })
    .await;
    assert!(
        configmaps.get_opt("manual").await.unwrap().is_some(),
        "deleted without the finalizer, its objects stay"
    );
}

/// The `default` AppProject is read like any other when it exists: restricted, it refuses
/// an Application outside its `sourceRepos`, then outside its `destinations`, with Argo
/// CD's `InvalidSpecError` messages and nothing applied; relaxed as Argo CD's install
/// writes it, the Application syncs; deleted, everything is allowed again.
#[tokio::test]
async fn a_restricted_default_project_refuses_until_relaxed() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-default").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("restricted", None).unwrap();
    repo.write("app/web.yaml", cm("web", "git", "")).unwrap();
    let head = repo.commit("web").unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let params = PatchParams::apply("argocd-tests").force();
    let projects: Api<AppProject> = Api::namespaced(client.clone(), &ns);
    let restrict = async |spec: serde_json::Value| {
        let project = json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                             "metadata": {"name": "default"}, "spec": spec});
        projects
            .patch("default", &params, &Patch::Apply(&project))
            .await
            .unwrap();
    };
    let anywhere = json!([{"server": "*", "namespace": "*"}]);
    restrict(json!({"sourceRepos": ["https://git.example.invalid/*"], "destinations": anywhere}))
        .await;
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"project": "default", "source": {"repoURL": url, "path": "app"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                 "syncPolicy": {"automated": {"prune": true}}},
    });
    apps.patch("web", &params, &Patch::Apply(&app))
        .await
        .unwrap();
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let refused_by = async |message: &str| {
        let app = apps.get("web").await.unwrap();
        refused(&app, ApplicationConditionType::InvalidSpecError, message)
    };
    let repo_refused = format!("application repo {url} is not permitted in project 'default'");
    eventually(
        "the restricted default project to refuse the repository",
        async || refused_by(&repo_refused).await,
    )
    .await;
    assert!(configmaps.get_opt("web").await.unwrap().is_none());
    let elsewhere = json!([{"server": "*", "namespace": "elsewhere"}]);
    restrict(json!({"sourceRepos": ["*"], "destinations": elsewhere})).await;
    let destination_refused = format!(
        "application destination server 'https://kubernetes.default.svc' and namespace '{ns}' \
         do not match any of the allowed destinations in project 'default'"
    );
    eventually(
        "the default project to refuse the destination",
        async || refused_by(&destination_refused).await,
    )
    .await;
    assert!(configmaps.get_opt("web").await.unwrap().is_none());

    // As Argo CD's install writes it: everything allowed.
    let every_kind = json!([{"group": "*", "kind": "*"}]);
    restrict(json!({"sourceRepos": ["*"], "destinations": anywhere,
                    "clusterResourceWhitelist": every_kind}))
    .await;
    eventually("the relaxed default project to let it sync", async || {
        synced_at(&apps.get("web").await.unwrap(), &head)
    })
    .await;
    assert!(configmaps.get_opt("web").await.unwrap().is_some());
    projects
        .delete("default", &Default::default())
        .await
        .unwrap();
    repo.write("app/more.yaml", cm("more", "git", "")).unwrap();
    let more = repo.commit("more").unwrap();
    eventually("a commit to sync without a default project", async || {
        synced_at(&apps.get("web").await.unwrap(), &more)
    })
    .await;
    assert!(configmaps.get_opt("more").await.unwrap().is_some());
}

/// `Replace=true`, an object's own sync option and then the Application's: a changed
/// object is written whole (a `PUT`, as `kubectl replace`), so a label another manager
/// added goes with the write, where a server-side apply keeps it; and what Git did not
/// change is never written, so another manager's label alone does not make it differ.
/// `Force=true` as well recreates what changed.
#[tokio::test]
async fn replace_true_writes_a_changed_object_whole() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-replace").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("replace", None).unwrap();
    let replace = "argocd.argoproj.io/sync-options: Replace=true";
    let write = |value: &str| {
        repo.write("app/whole.yaml", cm("whole", value, replace))
            .unwrap();
        repo.write("app/merged.yaml", cm("merged", value, ""))
            .unwrap();
        repo.commit(value).unwrap()
    };
    let first = write("one");
    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"project": "default",
                 "source": {"repoURL": repo.git_url().unwrap(), "path": "app"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": &ns},
                 "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
    });
    let params = PatchParams::apply("argocd-tests").force();
    apps.patch("web", &params, &Patch::Apply(&app))
        .await
        .unwrap();
    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;
    let synced = async |commit: &str| {
        eventually("the Application to be Synced", async || {
            synced_at(&apps.get("web").await.unwrap(), commit)
        })
        .await;
    };
    synced(&first).await;

    // Another manager labels both objects.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let label = async |name: &str| {
        let object = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": name, "labels": {"team": "ops"}}});
        let params = PatchParams::apply("someone");
        configmaps
            .patch(name, &params, &Patch::Apply(&object))
            .await
            .unwrap();
    };
    label("whole").await;
    label("merged").await;
    let before = configmaps
        .get("whole")
        .await
        .unwrap()
        .metadata
        .resource_version;
    // Several intervals with selfHeal: Git's fields all match, nothing is written.
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    let whole = configmaps.get("whole").await.unwrap();
    assert_eq!(
        whole.metadata.resource_version, before,
        "written with no change"
    );
    assert_eq!(whole.labels().get("team").map(String::as_str), Some("ops"));

    let second = write("two");
    synced(&second).await;
    let whole = configmaps.get("whole").await.unwrap();
    assert_eq!(whole.data.as_ref().unwrap()["v"], "two");
    assert_eq!(
        whole.labels().get("team"),
        None,
        "replaced whole: {:?}",
        whole.labels()
    );
    assert_eq!(
        whole.labels().get(INSTANCE_LABEL).map(String::as_str),
        Some("web")
    );
    let fields = whole.metadata.managed_fields.unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.manager.as_deref() == Some("argocd-controller")
                && f.operation.as_deref() == Some("Update")),
        "written by an update as argocd-controller: {fields:?}"
    );
    let merged = configmaps.get("merged").await.unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["v"], "two");
    assert_eq!(
        merged.labels().get("team").map(String::as_str),
        Some("ops"),
        "applied"
    );

    // The Application's own option replaces every object (set well before the commit, so
    // the controller has seen it when the commit comes).
    let options = json!({"spec": {"syncPolicy": {"syncOptions": ["Replace=true"]}}});
    apps.patch("web", &PatchParams::default(), &Patch::Merge(&options))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let third = write("three");
    synced(&third).await;
    let merged = configmaps.get("merged").await.unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["v"], "three");
    assert_eq!(
        merged.labels().get("team"),
        None,
        "replaced whole: {:?}",
        merged.labels()
    );

    // With `Force=true` as well (here the objects' own), a replaced object that changed is
    // deleted and created again (`kubectl replace --force`), and so is one whose change no
    // update could write (an immutable ConfigMap). Without it the object is updated in place.
    let locked = |value: &str| {
        for (name, immutable) in [("locked", "true"), ("renewed", "false")] {
            let text = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, annotations: \
                 {{argocd.argoproj.io/sync-options: Force=true}}}}\nimmutable: {immutable}\n\
                 data: {{v: \"{value}\"}}\n"
            );
            repo.write(&format!("app/{name}.yaml"), &text).unwrap();
        }
        write(value)
    };
    let uid = async |name: &str| configmaps.get(name).await.unwrap().metadata.uid.unwrap();
    let fourth = locked("four");
    synced(&fourth).await;
    let before = [
        uid("locked").await,
        uid("renewed").await,
        uid("whole").await,
    ];
    let fifth = locked("five");
    synced(&fifth).await;
    for (name, old) in ["locked", "renewed"].iter().zip(&before) {
        let recreated = configmaps.get(name).await.unwrap();
        assert_eq!(recreated.data.as_ref().unwrap()["v"], "five");
        assert_ne!(
            recreated.metadata.uid.as_ref(),
            Some(old),
            "{name} not recreated"
        );
    }
    assert_eq!(uid("whole").await, before[2], "replaced in place");
}

/// `spec.source.kustomize` written into the kustomization at the path, as
/// `argocd-repo-server` does before `kustomize build`: the Application's prefix and suffix
/// replace the file's, its image tag is merged with the file's `newName`, its patch and
/// component are added (a missing component ignored), Argo CD's build variables are
/// substituted into the image tag, labels and annotations; unserved kustomize fields and an
/// image `kustomize edit set image` would refuse are refused by name, nothing applied.
#[tokio::test]
async fn kustomize_options_are_built_as_argo_cd_builds_them() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-kustomize").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("kustomized", None).unwrap();
    let kustomization = "resources: [settings.yaml, runner.yaml]\nnamePrefix: file-\n\
                         images: [{name: worker, newName: registry.example/worker}]\n\
                         commonLabels: {tier: file}\n";
    repo.write("overlay/kustomization.yaml", kustomization)
        .unwrap();
    repo.write(
        "overlay/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {v: git, x: drop}\n",
    )
    .unwrap();
    repo.write(
        "overlay/runner.yaml",
        "apiVersion: v1\nkind: PodTemplate\nmetadata: {name: runner}\ntemplate:\n  \
         spec: {containers: [{name: w, image: \"worker:1\"}]}\n",
    )
    .unwrap();
    repo.write(
        "components/extra/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [extra.yaml]\n",
    )
    .unwrap();
    repo.write("components/extra/extra.yaml", cm("extra", "component", ""))
        .unwrap();
    let head = repo.commit("kustomized").unwrap();
    let url = repo.git_url().unwrap().to_owned();

    let apps: Api<Application> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("argocd-tests").force();
    let application = |name: &str, kustomize: serde_json::Value| {
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name},
            "spec": {"project": "default",
                     "source": {"repoURL": url, "path": "overlay", "kustomize": kustomize},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": ns},
                     "syncPolicy": {"automated": {"prune": true}}},
        })
    };
    let kustomize = json!({
        "namePrefix": "argo-", "nameSuffix": "-v1", "namespace": ns,
        "images": ["worker:2-${ARGOCD_APP_REVISION_SHORT}"],
        "patches": [{"patch": "- op: remove\n  path: /data/x",
                     "target": {"kind": "ConfigMap", "name": "settings"}}],
        "components": ["../components/extra", "../components/missing"],
        "ignoreMissingComponents": true,
        "commonLabels": {"team": "argo", "tier": "app", "app": "$ARGOCD_APP_NAME"},
        "forceCommonLabels": true,
        "commonAnnotations": {"note": "argo", "revision": "$ARGOCD_APP_REVISION"},
        "commonAnnotationsEnvsubst": true,
    });
    let app = application("kustomized", kustomize);
    apps.patch("kustomized", &params, &Patch::Apply(&app))
        .await
        .unwrap();
    let bad_image = application("bad-image", json!({"images": ["worker:3", "nginx"]}));
    apps.patch("bad-image", &params, &Patch::Apply(&bad_image))
        .await
        .unwrap();
    let labels = application(
        "labels",
        json!({"labelWithoutSelector": true, "replicas": []}),
    );
    apps.patch("labels", &params, &Patch::Apply(&labels))
        .await
        .unwrap();
    // Without forceCommonLabels, a key the file sets is an error, as `kustomize edit add
    // label` makes it.
    let conflict = application("conflict", json!({"commonLabels": {"tier": "app"}}));
    apps.patch("conflict", &params, &Patch::Apply(&conflict))
        .await
        .unwrap();

    let _controller =
        Controller::start_syncing(plane, &ns, &["--argocd=true", "--argocd-interval=1s"]).await;

    eventually("the kustomized Application to be Synced", async || {
        synced_at(&apps.get("kustomized").await.unwrap(), &head)
    })
    .await;
    let app = apps.get("kustomized").await.unwrap();
    assert_eq!(
        names(&app),
        ["argo-extra-v1", "argo-runner-v1", "argo-settings-v1"]
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settings = configmaps.get("argo-settings-v1").await.unwrap();
    let data = settings.data.unwrap();
    assert_eq!(data.get("v").map(String::as_str), Some("git"));
    assert!(
        !data.contains_key("x"),
        "the patch was not applied: {data:?}"
    );
    let labels = settings.metadata.labels.unwrap();
    assert_eq!(labels[INSTANCE_LABEL], "kustomized");
    assert_eq!(labels["team"], "argo");
    assert_eq!(
        labels["tier"], "app",
        "forceCommonLabels replaces the file's"
    );
    assert_eq!(labels["app"], "kustomized");
    let annotations = settings.metadata.annotations.unwrap();
    assert_eq!(annotations["note"], "argo");
    assert_eq!(annotations["revision"], head, "commonAnnotationsEnvsubst");
    let extra = configmaps.get("argo-extra-v1").await.unwrap();
    assert_eq!(extra.data.unwrap()["v"], "component");
    let templates: Api<PodTemplate> = Api::namespaced(client.clone(), &ns);
    let runner = templates.get("argo-runner-v1").await.unwrap();
    let containers = runner.template.unwrap().spec.unwrap().containers;
    assert_eq!(
        containers[0].image.as_deref(),
        Some(&*format!("registry.example/worker:2-{}", &head[..7]))
    );
    for unprefixed in ["settings", "file-settings", "argo-settings"] {
        assert!(configmaps.get_opt(unprefixed).await.unwrap().is_none());
    }

    let invalid = ApplicationConditionType::InvalidSpecError;
    eventually("the unreadable image to be refused by place", async || {
        let app = apps.get("bad-image").await.unwrap();
        refused(&app, invalid, "spec.source.kustomize.images[1] \"nginx\"")
    })
    .await;
    eventually(
        "unserved kustomize fields to be refused by name",
        async || {
            let app = apps.get("labels").await.unwrap();
            refused(
                &app,
                invalid,
                "spec.source.kustomize.labelWithoutSelector, spec.source.kustomize.replicas",
            )
        },
    )
    .await;
    eventually(
        "a commonLabels key the file sets to be refused",
        async || {
            let app = apps.get("conflict").await.unwrap();
            let comparison = ApplicationConditionType::ComparisonError;
            refused(&app, comparison, "set forceCommonLabels to replace it")
        },
    )
    .await;
}

//! Hooks around the apply. A chart's Helm hooks, seen through a watch of the namespace's
//! ConfigMaps (the API server's order of writes): on install the `pre-install` hooks by
//! weight, then the chart's objects, then the `post-install` hook, deleted once it
//! succeeded (`hook-succeeded`); on upgrade the `pre-upgrade` hooks recreated
//! (`before-hook-creation`, Helm's default) and an install-only hook left alone; a pass
//! that writes nothing runs no hook; a test hook never appears; hooks stay out of the
//! inventory; an object annotated `helm.sh/resource-policy: keep` is not pruned when the
//! chart drops it. A pre-upgrade Job that cannot finish in time (no node runs it) fails the
//! Sync naming the hook, nothing of the revision is applied, and `hook-failed` deletes it.
//! On the test node, Job hooks run for real. An Argo CD Application's own hooks
//! (`argocd.argoproj.io/hook`) run in Argo CD's phases, by wave, `Skip` left out, and a
//! failed `PreSync` hook runs the `SyncFail` hook.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, WatchEvent, WatchParams};
use lockstep_api::argocd::{Application, OperationPhase};
use lockstep_testenv::{ControlPlane, GitServer, need, tool};
use serde_json::json;

use crate::argocd::{install_argocd_crds, synced_at};
use crate::support::{Controller, create_lockstep, eventually};
use crate::sync::{applied, failed, ready, setup, status, sync_spec};

/// A ConfigMap template, a hook when `annotations` is not empty.
fn config_map(name: &str, annotations: &[(&str, &str)]) -> String {
    let annotations: String = annotations
        .iter()
        .map(|(k, v)| format!("    {k}: {v:?}\n"))
        .collect();
    let annotations = if annotations.is_empty() {
        String::new()
    } else {
        format!("  annotations:\n{annotations}")
    };
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n\
         {annotations}data:\n  color: {{{{ .Values.color | quote }}}}\n"
    )
}

fn chart() -> Vec<(&'static str, String)> {
    const HOOK: &str = "helm.sh/hook";
    const WEIGHT: &str = "helm.sh/hook-weight";
    vec![
        (
            "chart/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_owned(),
        ),
        ("chart/values.yaml", "color: blue\n".to_owned()),
        ("chart/templates/config.yaml", config_map("config", &[])),
        (
            "chart/templates/kept.yaml",
            config_map("kept", &[("helm.sh/resource-policy", "keep")]),
        ),
        (
            "chart/templates/pre-a.yaml",
            config_map("pre-a", &[(HOOK, "pre-install,pre-upgrade"), (WEIGHT, "5")]),
        ),
        (
            "chart/templates/pre-b.yaml",
            config_map(
                "pre-b",
                &[(HOOK, "pre-upgrade, pre-install"), (WEIGHT, "-5")],
            ),
        ),
        (
            "chart/templates/install.yaml",
            config_map("install", &[(HOOK, "pre-install")]),
        ),
        (
            "chart/templates/post.yaml",
            config_map(
                "post",
                &[
                    (HOOK, "post-install,post-upgrade"),
                    ("helm.sh/hook-delete-policy", "hook-succeeded"),
                ],
            ),
        ),
        (
            "chart/templates/test.yaml",
            config_map("test", &[(HOOK, "test")]),
        ),
    ]
}

/// Every ConfigMap write in `ns` from now on, as `ADDED web-x` / `MODIFIED …` / `DELETED …`.
fn record_writes(client: &kube::Client, ns: &str) -> Arc<Mutex<Vec<String>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let writes = seen.clone();
    tokio::spawn(async move {
        let params = WatchParams::default().timeout(290);
        let mut stream = api.watch(&params, "0").await.unwrap().boxed();
        while let Some(Ok(event)) = stream.next().await {
            let (what, object) = match event {
                WatchEvent::Added(o) => ("ADDED", o),
                WatchEvent::Modified(o) => ("MODIFIED", o),
                WatchEvent::Deleted(o) => ("DELETED", o),
                _ => continue,
            };
            let name = object.metadata.name.unwrap_or_default();
            if name.starts_with("web-") {
                writes.lock().unwrap().push(format!("{what} {name}"));
            }
        }
    });
    seen
}

fn since(writes: &Mutex<Vec<String>>, from: usize) -> Vec<String> {
    writes.lock().unwrap()[from..].to_vec()
}

#[tokio::test]
async fn hooks_run_before_and_after_the_apply_in_helm_order() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let s = setup(plane, "helm-hooks", &[("README", "hooks\n".to_owned())]).await;
    for (path, text) in chart() {
        s.repo.write(path, text).unwrap();
    }
    let installed = s.repo.commit("the chart and its hooks").unwrap();
    let writes = record_writes(&s.client, &s.ns);
    let spec = sync_spec(
        "chart",
        json!({"helm": {}, "retryInterval": "1s", "timeout": "5s"}),
    );
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": spec}),
    )
    .await;

    // Install: pre-install hooks by weight, the chart, the post-install hook, which
    // `hook-succeeded` then deletes.
    let first = applied(&s, "web", &installed).await;
    let names: Vec<&str> = first.inventory.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["web-config", "web-kept"],
        "hooks are not in the inventory"
    );
    let install = [
        "ADDED web-pre-b",
        "ADDED web-install",
        "ADDED web-pre-a",
        "ADDED web-config",
        "ADDED web-kept",
        "ADDED web-post",
        "DELETED web-post",
    ];
    assert_eq!(since(&writes, 0), install);

    // Upgrade: the pre-upgrade hooks deleted and made again, the install-only hook left
    // alone, the chart's ConfigMap written, the post-upgrade hook run and deleted.
    s.repo.write("chart/values.yaml", "color: red\n").unwrap();
    s.repo.remove("chart/templates/kept.yaml").unwrap();
    let upgraded = s.repo.commit("red, without the kept ConfigMap").unwrap();
    let second = applied(&s, "web", &upgraded).await;
    let names: Vec<&str> = second.inventory.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["web-config"]);
    let upgrade = [
        "DELETED web-pre-b",
        "ADDED web-pre-b",
        "DELETED web-pre-a",
        "ADDED web-pre-a",
        "MODIFIED web-config",
        "ADDED web-post",
        "DELETED web-post",
    ];
    assert_eq!(since(&writes, install.len()), upgrade);
    let configs: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let pre_a = configs.get("web-pre-a").await.unwrap();
    assert_eq!(pre_a.data.unwrap()["color"], "red", "the hook as rendered");
    let install_hook = configs.get("web-install").await.unwrap();
    assert_eq!(install_hook.data.unwrap()["color"], "blue", "not run again");
    assert!(configs.get_opt("web-test").await.unwrap().is_none());
    let kept = configs.get("web-kept").await.unwrap();
    assert_eq!(
        kept.data.unwrap()["color"],
        "blue",
        "resource-policy keep: not pruned"
    );

    // Passes that write nothing (every second) run no hook.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = install.len() + upgrade.len();
    assert_eq!(since(&writes, seen), Vec::<String>::new());

    // A pre-upgrade Job no node runs: the hook times out, the Sync says which, nothing
    // of the revision is applied, and `hook-failed` deletes the Job.
    s.repo
        .write(
            "chart/templates/migrate.yaml",
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: web-migrate\n  annotations:\n    \
             helm.sh/hook: pre-upgrade\n    helm.sh/hook-delete-policy: hook-failed\nspec:\n  \
             backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      \
             containers: [{name: migrate, image: lockstep.test/none:1}]\n",
        )
        .unwrap();
    s.repo.write("chart/values.yaml", "color: green\n").unwrap();
    let blocked = s.repo.commit("a migration that never runs").unwrap();
    let message = failed(&s, "web", &blocked, "HookFailed", Duration::from_secs(60)).await;
    assert!(
        message.contains(&format!("pre-upgrade hook Job/{}/web-migrate", s.ns))
            && message.contains("timed out")
            && message.contains("nothing of revision"),
        "{message}"
    );
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(config.data.unwrap()["color"], "red", "nothing applied");
    let jobs: Api<Job> = Api::namespaced(s.client.clone(), &s.ns);
    eventually("the failed hook deleted", async || {
        jobs.get_opt("web-migrate").await.unwrap().is_none()
    })
    .await;
}

/// Requests the hooks' Jobs make, with the Deployment's ready replicas when each came.
type Calls = Arc<Mutex<Vec<(String, i32)>>>;

/// An HTTP server on the node's host address answering every request `200 ok`, noting its
/// path and how many replicas of Deployment `web` in `ns` were ready then.
async fn serve_calls(address: std::net::Ipv4Addr, client: kube::Client, ns: &str) -> (u16, Calls) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind((address, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Calls::default();
    let (seen, deployments) = (calls.clone(), Api::namespaced(client, ns));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut request = vec![0; 1024];
            let n = stream.read(&mut request).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&request[..n]).into_owned();
            let path = request.split(' ').nth(1).unwrap_or_default().to_owned();
            let web: Option<k8s_openapi::api::apps::v1::Deployment> =
                deployments.get_opt("web").await.unwrap();
            let ready = web
                .and_then(|d| d.status)
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0);
            seen.lock().unwrap().push((path, ready));
            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (port, calls)
}

fn job_hook(name: &str, hook: &str, policy: &str, args: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    \
         helm.sh/hook: {hook}\n    helm.sh/hook-delete-policy: {policy}\nspec:\n  \
         backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      \
         containers:\n      - name: hook\n        image: {image}\n        \
         imagePullPolicy: Never\n        args: {args}\n",
        image = lockstep_testenv::TESTPOD_IMAGE,
    )
}

/// Job hooks on a real node: the pre-install Job runs to completion before the chart's
/// Deployment exists, the post-install Job only once the Deployment is ready (`wait`), a
/// `hook-succeeded` Job is deleted and a `before-hook-creation` one kept; a pre-upgrade
/// Job that fails stops the upgrade, named in the Sync, the Deployment as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_hooks_run_on_the_node_and_a_failed_one_stops_the_upgrade() {
    need!(tool("helm"));
    let plane = need!(
        ControlPlane::start(lockstep_testenv::ControlPlaneOptions {
            node: true,
            ..Default::default()
        })
        .await
    );
    let host = plane.node().unwrap().host_address();
    let s = setup(&plane, "job-hooks", &[("README", "hooks\n".to_owned())]).await;
    let (port, calls) = serve_calls(host, s.client.clone(), &s.ns).await;
    let url = |path: &str| format!("[get, \"http://{host}:{port}/{path}\"]");
    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  \
         replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      - name: web\n        \
         image: {image}\n        imagePullPolicy: Never\n        \
         args: [serve, \":8080\", {{{{ .Values.text | quote }}}}]\n        \
         readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}\n",
        image = lockstep_testenv::TESTPOD_IMAGE,
    );
    let files = [
        (
            "chart/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_owned(),
        ),
        ("chart/values.yaml", "text: one\n".to_owned()),
        ("chart/templates/web.yaml", deployment),
        (
            "chart/templates/pre.yaml",
            job_hook("web-pre", "pre-install", "hook-succeeded", &url("pre")),
        ),
        (
            "chart/templates/post.yaml",
            job_hook(
                "web-post",
                "post-install",
                "before-hook-creation",
                &url("post"),
            ),
        ),
    ];
    for (path, text) in &files {
        s.repo.write(path, text).unwrap();
    }
    let installed = s.repo.commit("a chart with Job hooks").unwrap();
    let spec = sync_spec(
        "chart",
        json!({"helm": {}, "wait": true, "retryInterval": "2s", "timeout": "2m"}),
    );
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": spec}),
    )
    .await;
    crate::support::eventually_within("the install", Duration::from_secs(240), async || {
        let st = status(&s.client, &s.ns, "web").await;
        st.last_applied_revision == Some(format!("main@sha1:{installed}"))
            && ready(&st) == Some(("True", "ReconciliationSucceeded"))
    })
    .await;
    let seen = calls.lock().unwrap().clone();
    assert_eq!(
        seen,
        [("/pre".to_owned(), 0), ("/post".to_owned(), 1)],
        "pre-install before the Deployment, post-install once it is ready"
    );
    let jobs: Api<Job> = Api::namespaced(s.client.clone(), &s.ns);
    assert!(
        jobs.get_opt("web-pre").await.unwrap().is_none(),
        "hook-succeeded"
    );
    let post = jobs.get("web-post").await.unwrap();
    assert_eq!(post.status.unwrap().succeeded, Some(1), "kept, complete");

    // A pre-upgrade Job that exits non-zero: the Sync names it; the Deployment stays.
    s.repo
        .write(
            "chart/templates/check.yaml",
            job_hook(
                "web-check",
                "pre-upgrade",
                "before-hook-creation",
                "[nonsense]",
            ),
        )
        .unwrap();
    s.repo.write("chart/values.yaml", "text: two\n").unwrap();
    let failing = s.repo.commit("a check that fails").unwrap();
    let message = failed(&s, "web", &failing, "HookFailed", Duration::from_secs(120)).await;
    assert!(
        message.contains(&format!("pre-upgrade hook Job/{}/web-check", s.ns))
            && message.contains("Job failed"),
        "{message}"
    );
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(s.client.clone(), &s.ns);
    let web = deployments.get("web").await.unwrap();
    let args = &web.spec.unwrap().template.spec.unwrap().containers[0].args;
    assert_eq!(
        args.as_deref().unwrap()[2],
        "one",
        "the upgrade was not applied"
    );
    assert_eq!(
        calls.lock().unwrap().len(),
        2,
        "no post hook after a failed pre hook"
    );
}

/// Application `web` of `repo`'s `app` folder into `ns`, auto-synced by a controller
/// serving Argo CD's API, once Synced at `head`; the controller stops when dropped.
async fn synced_application(
    plane: &ControlPlane,
    client: &kube::Client,
    ns: &str,
    repo: &lockstep_testenv::GitRepo,
    head: &str,
) -> (Api<Application>, Controller) {
    let apps: Api<Application> = Api::namespaced(client.clone(), ns);
    let app = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "web"},
        "spec": {"project": "default",
                 "source": {"repoURL": repo.git_url().unwrap(), "path": "app"},
                 "destination": {"server": "https://kubernetes.default.svc", "namespace": ns},
                 "syncPolicy": {"automated": {"prune": true}}},
    });
    let params = PatchParams::apply("argocd-tests").force();
    apps.patch("web", &params, &Patch::Apply(&app))
        .await
        .unwrap();
    let controller =
        Controller::start_syncing(plane, ns, &["--argocd=true", "--argocd-interval=1s"]).await;
    eventually("the Application to be Synced", async || {
        synced_at(&apps.get("web").await.unwrap(), head)
    })
    .await;
    (apps, controller)
}

/// An Argo CD Application's plain manifests with Argo CD's hook annotations: `PreSync`
/// hooks by `sync-wave`, the objects, the `Sync` hook, the `PostSync` hook (deleted by
/// `HookSucceeded`), a `Skip`ped object never applied; then a `PreSync` hook the API server
/// refuses fails the sync by name, runs the `SyncFail` hook, and applies nothing.
#[tokio::test]
async fn an_application_runs_argo_cd_hooks_in_their_phases() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-hooks").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("hooks", None).unwrap();
    let cm = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-{name}\n  \
             annotations: {{{annotations}}}\ndata: {{v: one}}\n"
        )
    };
    let hook = "argocd.argoproj.io/hook";
    let files = [
        ("app/settings.yaml", cm("settings", "")),
        (
            "app/pre-a.yaml",
            cm(
                "pre-a",
                &format!("{hook}: PreSync, argocd.argoproj.io/sync-wave: \"1\""),
            ),
        ),
        (
            "app/pre-b.yaml",
            cm(
                "pre-b",
                &format!("{hook}: PreSync, argocd.argoproj.io/sync-wave: \"-1\""),
            ),
        ),
        ("app/sync.yaml", cm("sync", &format!("{hook}: Sync"))),
        (
            "app/post.yaml",
            cm(
                "post",
                &format!("{hook}: PostSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded"),
            ),
        ),
        ("app/skipped.yaml", cm("skipped", &format!("{hook}: Skip"))),
        ("app/fail.yaml", cm("fail", &format!("{hook}: SyncFail"))),
    ];
    for (path, text) in &files {
        repo.write(path, text).unwrap();
    }
    let head = repo.commit("hooks").unwrap();
    let writes = record_writes(&client, &ns);
    let (apps, _controller) = synced_application(plane, &client, &ns, &repo, &head).await;
    let first = [
        "ADDED web-pre-b",
        "ADDED web-pre-a",
        "ADDED web-settings",
        "ADDED web-sync",
        "ADDED web-post",
        "DELETED web-post",
    ];
    assert_eq!(since(&writes, 0), first);
    let resources = apps.get("web").await.unwrap().status.unwrap().resources;
    let names: Vec<&str> = resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["web-settings"],
        "hooks are not resources of the app"
    );

    // A PreSync hook the API server refuses (a number where a string must be).
    repo.write(
        "app/bad.yaml",
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-bad\n  \
             annotations: {{{hook}: PreSync}}\ndata: {{n: 1}}\n"
        ),
    )
    .unwrap();
    repo.write(
        "app/settings.yaml",
        cm("settings", "").replace("one", "two"),
    )
    .unwrap();
    repo.commit("a hook that cannot be applied").unwrap();
    let mut message = String::new();
    eventually("the sync to fail on the hook", async || {
        let app = apps.get("web").await.unwrap();
        let state = app.status.and_then(|s| s.operation_state);
        let failed = state
            .as_ref()
            .is_some_and(|s| s.phase == OperationPhase::Failed);
        message = state.and_then(|s| s.message).unwrap_or_default();
        failed && message.contains("PreSync hook ConfigMap")
    })
    .await;
    assert!(
        message.contains(&format!("ConfigMap/{ns}/web-bad")),
        "{message}"
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settings = configmaps.get("web-settings").await.unwrap();
    assert_eq!(settings.data.unwrap()["v"], "one", "nothing applied");
    assert!(
        configmaps.get_opt("web-fail").await.unwrap().is_some(),
        "SyncFail ran"
    );
    assert!(configmaps.get_opt("web-skipped").await.unwrap().is_none());
}

/// An Application's objects go in Argo CD's sync waves: lowest wave first, whatever their
/// names; a wave whose Job fails (past its deadline) stops the sync, naming the wave and the
/// Job, and the later wave is not written. With `PruneLast=true`, what left Git is pruned
/// only once everything applied is healthy: the failed Job in the last wave keeps it.
#[tokio::test]
async fn an_application_applies_its_sync_waves_in_order_each_healthy_first() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("argocd-waves").await.unwrap();
    install_argocd_crds(&client).await;
    let repo = git.create_repo("waves", None).unwrap();
    let cm = |name: &str, wave: Option<&str>, value: &str| {
        let annotations = wave.map_or(String::new(), |w| {
            format!("argocd.argoproj.io/sync-wave: \"{w}\"")
        });
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-{name}\n  \
             annotations: {{{annotations}}}\ndata: {{v: {value}}}\n"
        )
    };
    repo.write("app/a.yaml", cm("a", Some("2"), "one")).unwrap();
    repo.write("app/b.yaml", cm("b", Some("1"), "one")).unwrap();
    repo.write("app/c.yaml", cm("c", None, "one")).unwrap();
    let head = repo.commit("three waves").unwrap();
    let writes = record_writes(&client, &ns);
    let (apps, _controller) = synced_application(plane, &client, &ns, &repo, &head).await;
    assert_eq!(
        since(&writes, 0),
        ["ADDED web-c", "ADDED web-b", "ADDED web-a"],
        "by wave, not by name"
    );

    let prune_last = json!({"spec": {"syncPolicy": {"syncOptions": ["PruneLast=true"]}}});
    apps.patch("web", &PatchParams::default(), &Patch::Merge(&prune_last))
        .await
        .unwrap();
    // Wave 1 gains a Job that fails past its deadline (no node runs it): wave 2 waits.
    repo.write(
        "app/job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: web-stuck\n  annotations: \
         {argocd.argoproj.io/sync-wave: \"1\"}\nspec:\n  activeDeadlineSeconds: 1\n  template:\n    \
         spec:\n      restartPolicy: Never\n      containers: [{name: s, image: lockstep.test/none:1}]\n",
    )
    .unwrap();
    repo.write("app/a.yaml", cm("a", Some("2"), "two")).unwrap();
    repo.commit("a Job that fails in wave 1").unwrap();
    let mut message = String::new();
    let failed = async |message: &mut String, expected: &str| {
        let state = apps.get("web").await.unwrap().status;
        let state = state.and_then(|s| s.operation_state);
        *message = state
            .as_ref()
            .and_then(|s| s.message.clone())
            .unwrap_or_default();
        state.is_some_and(|s| s.phase == OperationPhase::Failed) && message.contains(expected)
    };
    eventually("the sync to fail on wave 1", async || {
        failed(&mut message, "wave 1").await
    })
    .await;
    assert!(
        message.contains("sync wave 1 not healthy") && message.contains("web-stuck"),
        "{message}"
    );
    let configs: Api<ConfigMap> = Api::namespaced(client, &ns);
    let a = configs.get("web-a").await.unwrap();
    assert_eq!(a.data.unwrap()["v"], "one", "wave 2 not written");

    // PruneLast (set before the failing wave, so that the controller has long seen it):
    // the failed Job moves to the last wave (never waited for before the end), web-c
    // leaves Git. Every wave is written, but nothing is pruned.
    let job = std::fs::read_to_string(repo.work_tree().join("app/job.yaml")).unwrap();
    repo.write(
        "app/job.yaml",
        job.replace("sync-wave: \"1\"", "sync-wave: \"3\""),
    )
    .unwrap();
    repo.remove("app/c.yaml").unwrap();
    let last_wave = repo.commit("the failed Job last, web-c gone").unwrap();
    eventually("the sync to fail before pruning", async || {
        failed(&mut message, "nothing pruned").await
    })
    .await;
    assert!(message.contains("web-stuck"), "{message}");
    let a = configs.get("web-a").await.unwrap();
    assert_eq!(
        a.data.unwrap()["v"],
        "two",
        "every wave written at {last_wave}"
    );
    assert!(
        configs.get_opt("web-c").await.unwrap().is_some(),
        "web-c kept"
    );

    // Without the failed Job, everything is healthy: web-c and the Job are pruned.
    repo.remove("app/job.yaml").unwrap();
    repo.commit("no Job").unwrap();
    eventually("web-c to be pruned last", async || {
        configs.get_opt("web-c").await.unwrap().is_none()
    })
    .await;
}

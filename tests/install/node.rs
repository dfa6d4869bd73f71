//! The README's "Install in a cluster", on the test node: the image built by
//! `scripts/controller-image.sh` (no daemon, no registry) is loaded into the node's
//! containerd, `helm install` of the chart brings two controller Pods to Ready, the real
//! `kubeseal --format yaml` (no other flag: the API server's service proxy → the Service
//! `sealed-secrets-controller` in kube-system → a Pod) fetches the certificate and seals,
//! a Pod unseals; a GitSource and Sync from a git daemon on the node's host address sync a
//! Deployment that runs, as the tenant's ServiceAccount, and a chart Sync renders with the
//! image's helm (and post-renders with its kustomize), and `lockstep logs` reads the Pods'
//! lines about the Sync; an `ssh://` GitSource is fetched
//! with the image's OpenSSH client; `helm upgrade` to another image tag rolls both Pods
//! with `kubeseal --fetch-cert` answering throughout, the Sync still Ready and no Warning
//! event; SIGKILLing the leader hands the Lease to the other once it expires; `helm
//! uninstall` leaves the sealing keys and the CRDs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Pod, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use lockstep_api::{GitSource, Sync};
use lockstep_testenv::{
    ControlPlane, ControlPlaneOptions, GitServer, GitSshServer, TESTPOD_IMAGE, need, tool,
};
use serde_json::json;

use crate::support::{create_lockstep, eventually_within, secret, value};
use crate::{built_binary, chart, controller_binary, helm, repo};

const IMAGE: &str = "lockstep.test/lockstep-controller";
const NAMESPACE: &str = "kube-system";
const LEASE: &str = "lockstep-controller-leader";

/// The controller image from the binaries this test run built, cached under
/// `~/.cache/lockstep/images` by the hash of everything in it.
fn controller_image(kustomize: &Path, helm: &Path) -> PathBuf {
    let cache = lockstep_testenv::bin_dir().join("../images");
    let out = Command::new(repo().join("scripts/controller-image.sh"))
        .arg("--controller")
        .arg(controller_binary())
        .arg("--cli")
        .arg(built_binary("lockstep"))
        .arg("--kustomize")
        .arg(kustomize)
        .arg("--helm")
        .arg(helm)
        .args(["--name", &format!("{IMAGE}:1")])
        .arg("--cache")
        .arg(&cache)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "controller-image.sh failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

#[tokio::test]
async fn helm_install_kubeseal_sync_upgrade_failover_uninstall() {
    let helm_bin = need!(tool("helm"));
    let kubeseal = need!(tool("kubeseal"));
    let kustomize = need!(tool("kustomize"));
    let plane = need!(
        ControlPlane::start(ControlPlaneOptions {
            node: true,
            ..ControlPlaneOptions::default()
        })
        .await
    );
    let node = plane.node().unwrap();
    let kubeconfig = plane.kubeconfig_path();
    let client = plane.client().await.unwrap();

    let image = controller_image(&kustomize, &helm_bin);
    eprintln!(
        "controller image: {} ({} bytes)",
        image.display(),
        std::fs::metadata(&image).unwrap().len()
    );
    node.import_image(&image).unwrap();
    node.tag_image(&format!("{IMAGE}:1"), &format!("{IMAGE}:2"))
        .unwrap();

    // helm install: the CRDs and two Ready controller Pods.
    let started = Instant::now();
    let chart = chart();
    let chart = chart.to_str().unwrap();
    let image_values = [
        "--set",
        &format!("image.repository={IMAGE}"),
        "--set",
        "image.pullPolicy=Never",
    ];
    let install = [
        &[
            "install",
            "lockstep-controller",
            chart,
            "--namespace",
            NAMESPACE,
        ][..],
        &image_values,
        &["--set", "image.tag=1", "--wait", "--timeout", "5m"],
    ]
    .concat();
    helm(&helm_bin, &install, Some(kubeconfig));
    eprintln!("helm install --wait took {:?}", started.elapsed());
    let pods: Api<Pod> = Api::namespaced(client.clone(), NAMESPACE);
    let selector = ListParams::default().labels("app.kubernetes.io/name=lockstep-controller");
    assert_eq!(ready_pods(&pods, &selector).await.len(), 2);

    // kubeseal with its defaults, through the API server's service proxy to a Pod.
    let (_, tenant) = plane.namespace("shop").await.unwrap();
    let sealed = Command::new(&kubeseal)
        .args(["--format", "yaml"])
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let input = format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: db, namespace: {tenant}}}\n\
                 stringData: {{password: from-kubeseal}}\n"
            );
            child.stdin.take().unwrap().write_all(input.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(
        sealed.status.success(),
        "kubeseal: {}",
        String::from_utf8_lossy(&sealed.stderr)
    );
    lockstep_testenv::manifests::apply_yaml(&client, &String::from_utf8(sealed.stdout).unwrap())
        .await
        .unwrap();
    assert_eq!(
        value(&secret(&client, &tenant, "db").await, "password"),
        "from-kubeseal"
    );

    // A Sync, applying as the tenant's account, of a Deployment that runs on the node.
    let git = GitServer::start_on(node.host_address().into())
        .await
        .unwrap();
    let repo = git.create_repo("shop", None).unwrap();
    crate::deployer(&client, &tenant).await;
    repo.write("app/web.yaml", web_yaml(&tenant, "one"))
        .unwrap();
    repo.write(
        "chart/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 1.0.0\n",
    )
    .unwrap();
    repo.write(
        "chart/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: '{{ .Release.Name }}-config'}\n\
         data: {greeting: '{{ .Values.greeting }}'}\n",
    )
    .unwrap();
    let first = repo.commit("web").unwrap();
    create_lockstep(
        &client,
        &tenant,
        "GitSource",
        json!({"metadata": {"name": "shop"}, "spec": {"url": repo.git_url().unwrap(), "interval": "2s"}}),
    )
    .await;
    create_lockstep(
        &client,
        &tenant,
        "Sync",
        json!({
            "metadata": {"name": "shop"},
            "spec": {"sourceRef": {"name": "shop"}, "path": "app", "interval": "1m",
                     "prune": true, "wait": true, "timeout": "3m",
                     "serviceAccountName": "deployer"},
        }),
    )
    .await;
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &tenant);
    applied(&syncs, &first).await;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &tenant);
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.status.and_then(|s| s.ready_replicas), Some(1));

    // `lockstep logs`: the Pods' log lines about this Sync, through the API server.
    let logs = Command::new(built_binary("lockstep"))
        .args(["logs", "shop", "-n", &tenant, "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&logs.stdout);
    assert!(
        logs.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&logs.stderr)
    );
    assert!(
        printed
            .lines()
            .any(|l| l.contains("applied") && l.contains(&format!("revision=main@sha1:{first}"))),
        "{printed}"
    );
    assert!(
        !printed.contains("sync="),
        "only this Sync's lines, its own field left out: {printed}"
    );
    // `-f`: a reconcile asked for after it started shows up while it follows.
    let mut following = Command::new(built_binary("lockstep"))
        .args([
            "logs",
            "shop",
            "-n",
            &tenant,
            "-f",
            "--since",
            "1s",
            "--kubeconfig",
        ])
        .arg(kubeconfig)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, followed) = std::sync::mpsc::channel();
    let stdout = following.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let request = lockstep_api::steer::requested(json!({}), "follow-the-logs");
    syncs
        .patch("shop", &PatchParams::default(), &Patch::Merge(&request))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut seen = Vec::new();
    while !seen.iter().any(|l: &String| l.contains("applied")) {
        assert!(
            Instant::now() < deadline,
            "lockstep logs -f printed no new line: {seen:?}"
        );
        match followed.try_recv() {
            Ok(line) => seen.push(line),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    following.kill().unwrap();
    following.wait().unwrap();

    // A chart: the image's helm renders it, its kustomize post-renders it.
    create_lockstep(
        &client,
        &tenant,
        "Sync",
        json!({
            "metadata": {"name": "chart"},
            "spec": {"sourceRef": {"name": "shop"}, "path": "chart", "interval": "1m",
                     "serviceAccountName": "deployer",
                     "helm": {"values": {"greeting": "from the chart"},
                              "postRenderers": [{"kustomize": {"patches": [{
                                  "patch": "[{\"op\": \"add\", \"path\": \"/metadata/labels\", \"value\": {\"rendered-in\": \"pod\"}}]",
                                  "target": {"kind": "ConfigMap"}}]}}]}},
        }),
    )
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &tenant);
    eventually_within(
        "the chart Sync to render and apply in the Pod",
        Duration::from_secs(120),
        async || {
            configmaps
                .get_opt("chart-config")
                .await
                .unwrap()
                .is_some_and(|c| {
                    let greeting = c.data.and_then(|mut d| d.remove("greeting"));
                    let label = c.metadata.labels.and_then(|mut l| l.remove("rendered-in"));
                    greeting.as_deref() == Some("from the chart") && label.as_deref() == Some("pod")
                })
        },
    )
    .await;

    // An SSH GitSource: the image's ssh, ssh-agent, ssh-add and sh fetch it.
    let ssh = GitSshServer::start_on(node.host_address().into())
        .await
        .unwrap();
    let ssh_repo = ssh.create_repo("shop-ssh", None).unwrap();
    ssh_repo
        .write("app/web.yaml", web_yaml(&tenant, "ssh"))
        .unwrap();
    let ssh_commit = ssh_repo.commit("over ssh").unwrap();
    let credentials: Secret = serde_json::from_value(json!({
        "metadata": {"name": "shop-ssh"},
        "stringData": {"identity": ssh.client_key().unwrap(), "known_hosts": ssh.known_hosts().unwrap()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &tenant)
        .create(&Default::default(), &credentials)
        .await
        .unwrap();
    create_lockstep(
        &client,
        &tenant,
        "GitSource",
        json!({"metadata": {"name": "shop-ssh"},
               "spec": {"url": ssh.url("shop-ssh"), "interval": "1m", "secretRef": {"name": "shop-ssh"}}}),
    )
    .await;
    let sources: Api<GitSource> = Api::namespaced(client.clone(), &tenant);
    let want = format!("main@sha1:{ssh_commit}");
    eventually_within(
        "the SSH GitSource to fetch",
        Duration::from_secs(60),
        async || {
            let status = sources
                .get("shop-ssh")
                .await
                .unwrap()
                .status
                .unwrap_or_default();
            status.last_attempted_revision.as_deref() == Some(want.as_str())
                && status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        },
    )
    .await;

    // helm upgrade to another tag: both Pods replaced, the Sync never fails, and the new
    // leader applies the next commit.
    let upgrade = [
        &[
            "upgrade",
            "lockstep-controller",
            chart,
            "--namespace",
            NAMESPACE,
        ][..],
        &image_values,
        &["--set", "image.tag=2", "--wait", "--timeout", "5m"],
    ]
    .concat();
    let started = Instant::now();
    // Meanwhile kubeseal's path to the certificate is asked every 100 ms, from a thread of
    // its own: this one waits for helm.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (kubeconfig, stop) = (kubeconfig.to_owned(), stop.clone());
        std::thread::spawn(move || probe_cert(&kubeconfig, &stop))
    };
    helm(&helm_bin, &upgrade, Some(kubeconfig));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (answered, failed) = prober.join().unwrap();
    eprintln!(
        "helm upgrade --wait took {:?}; the certificate answered {answered} times meanwhile",
        started.elapsed()
    );
    assert!(answered > 0);
    assert!(
        failed.is_empty(),
        "kubeseal's certificate path failed during the upgrade: {failed:#?}"
    );
    eventually_within(
        "only tag-2 controller Pods",
        Duration::from_secs(120),
        async || {
            let ready = ready_pods(&pods, &selector).await;
            ready.len() == 2 && ready.iter().all(|image| image.ends_with(":2"))
        },
    )
    .await;
    repo.write("app/web.yaml", web_yaml(&tenant, "two"))
        .unwrap();
    let second = repo.commit("web two").unwrap();
    applied(&syncs, &second).await;
    assert_no_failure(&client, &tenant).await;

    // SIGKILL the leader: once its Lease expires the other Pod takes it over and applies the
    // next commit.
    let leases: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let leader = holder(&leases).await.expect("a leader");
    kill_hard(&leader);
    let killed = Instant::now();
    // The Pod goes too, or kubelet would restart its container, which would take the Lease
    // back under the same name.
    pods.delete(&leader, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    let mut next = None;
    eventually_within(
        "another Pod to take the Lease",
        // The Lease lasts 15 s without renewal; candidates look every 2 s.
        Duration::from_secs(30),
        async || {
            next = holder(&leases).await.filter(|h| *h != leader);
            next.is_some()
        },
    )
    .await;
    let next = next.unwrap();
    eprintln!(
        "leader {leader} killed; {next} took over after {:?}",
        killed.elapsed()
    );
    // The new leader is a live Pod of the upgraded Deployment, not one still terminating.
    let live = pods.get(&next).await.unwrap();
    assert!(
        live.metadata.deletion_timestamp.is_none(),
        "{next} is terminating"
    );
    assert!(
        live.spec.unwrap().containers[0]
            .image
            .as_deref()
            .unwrap()
            .ends_with(":2")
    );
    repo.write("app/web.yaml", web_yaml(&tenant, "three"))
        .unwrap();
    let third = repo.commit("web three").unwrap();
    applied(&syncs, &third).await;
    assert_no_failure(&client, &tenant).await;

    // helm uninstall: the controller goes, the keys, CRDs and SealedSecrets stay.
    helm(
        &helm_bin,
        &[
            "uninstall",
            "lockstep-controller",
            "--namespace",
            NAMESPACE,
            "--wait",
        ],
        Some(kubeconfig),
    );
    let deployments_ctl: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    assert!(
        deployments_ctl
            .get_opt("lockstep-controller")
            .await
            .unwrap()
            .is_none()
    );
    let keys: Api<Secret> = Api::namespaced(client.clone(), NAMESPACE);
    let keys = keys
        .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
        .await
        .unwrap();
    assert!(!keys.items.is_empty(), "the sealing keys were deleted");
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "sealedsecrets.bitnami.com",
        "gitsources.lockstep.dev",
        "syncs.lockstep.dev",
    ] {
        assert!(
            crds.get_opt(name).await.unwrap().is_some(),
            "{name} was deleted"
        );
    }
    assert_eq!(
        value(&secret(&client, &tenant, "db").await, "password"),
        "from-kubeseal"
    );
}

/// GETs the certificate with `kubeseal --fetch-cert` (no other flag: the API server's
/// service proxy to `sealed-secrets-controller`) until `stop`; the answers and the failures.
fn probe_cert(kubeconfig: &Path, stop: &std::sync::atomic::AtomicBool) -> (usize, Vec<String>) {
    let kubeseal = tool("kubeseal").unwrap();
    let (mut answered, mut failed) = (0, Vec::new());
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let out = Command::new(&kubeseal)
            .arg("--fetch-cert")
            .env("KUBECONFIG", kubeconfig)
            .output()
            .unwrap();
        if out.status.success()
            && String::from_utf8_lossy(&out.stdout).contains("BEGIN CERTIFICATE")
        {
            answered += 1;
        } else {
            failed.push(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    (answered, failed)
}

/// SIGKILLs the controller process of Pod `pod` (found by the `POD_NAME` in its
/// environment): no shutdown, no Lease given up.
fn kill_hard(pod: &str) {
    let marker = format!("POD_NAME={pod}\0");
    let pid = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            environ
                .windows(marker.len())
                .any(|w| w == marker.as_bytes())
        })
        .unwrap_or_else(|| panic!("no process of Pod {pod}"));
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The images of the Ready controller Pods.
async fn ready_pods(pods: &Api<Pod>, selector: &ListParams) -> Vec<String> {
    let list = pods.list(selector).await.unwrap();
    list.items
        .into_iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .filter(|pod| {
            pod.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
        .map(|pod| {
            pod.spec.unwrap().containers[0]
                .image
                .clone()
                .unwrap_or_default()
        })
        .collect()
}

/// The Lease's holder, if any.
async fn holder(leases: &Api<Lease>) -> Option<String> {
    let lease = leases.get_opt(LEASE).await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// Waits until Sync `shop` is Ready with `commit` applied (its Deployment healthy).
async fn applied(syncs: &Api<Sync>, commit: &str) {
    let want = format!("main@sha1:{commit}");
    eventually_within(
        &format!("Sync shop to apply {want}"),
        Duration::from_secs(180),
        async || {
            let status = syncs.get("shop").await.unwrap().status.unwrap_or_default();
            status.last_applied_revision.as_deref() == Some(want.as_str())
                && status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        },
    )
    .await;
}

/// No Warning event in `namespace`: no reconcile failed, no unseal failed.
async fn assert_no_failure(client: &kube::Client, namespace: &str) {
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let warnings = events
        .list(&ListParams::default().fields("type=Warning"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            let kind = e.involved_object.kind.as_deref().unwrap_or_default();
            ["Sync", "GitSource", "SealedSecret"].contains(&kind)
        })
        .map(|e| format!("{:?}: {:?}", e.reason, e.message))
        .collect::<Vec<_>>();
    assert!(warnings.is_empty(), "failures: {warnings:#?}");
}

/// The app: a Deployment of the test image answering `text`, Ready when its Pod is.
fn web_yaml(namespace: &str, text: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {namespace}}}\n\
         spec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        \
         - name: web\n          image: {TESTPOD_IMAGE}\n          imagePullPolicy: Never\n          \
         args: [serve, \":8080\", {text}]\n          \
         readinessProbe: {{httpGet: {{path: /, port: 8080}}, periodSeconds: 1}}\n"
    )
}

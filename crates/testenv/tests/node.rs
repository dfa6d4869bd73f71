//! The test node is a real node: the scheduler places a Deployment's Pod on it, containerd
//! runs it from an imported image, its readiness probe passes, the API server's service
//! proxy reaches it, another Pod reaches it through a ClusterIP Service (kube-proxy), and
//! `kubectl logs`' path (API server → kubelet) works. Dropping the control plane leaves no
//! process, cgroup or interface behind.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Api, LogParams, PostParams};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, TESTPOD_IMAGE, need};
use serde_json::json;

#[tokio::test]
async fn pods_run_and_services_route_on_the_node() {
    let started = Instant::now();
    let plane = need!(
        ControlPlane::start(ControlPlaneOptions {
            node: true,
            ..ControlPlaneOptions::default()
        })
        .await
    );
    eprintln!("control plane and node ready after {:?}", started.elapsed());
    let node = plane.node().expect("started with a node");
    let node_name = node.name().to_owned();
    let node_dir = node.logs().path().to_owned();
    let (client, ns) = plane.namespace("node").await.unwrap();

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let web = json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{
                    "name": "web",
                    "image": TESTPOD_IMAGE,
                    "imagePullPolicy": "Never",
                    "args": ["serve", ":8080", "hello from the node"],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1},
                }]},
            },
        },
    });
    deployments
        .create(
            &PostParams::default(),
            &serde_json::from_value(web).unwrap(),
        )
        .await
        .unwrap();
    let services: Api<Service> = Api::namespaced(client.clone(), &ns);
    let service = json!({
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    });
    let service = services
        .create(
            &PostParams::default(),
            &serde_json::from_value(service).unwrap(),
        )
        .await
        .unwrap();
    let cluster_ip = service.spec.unwrap().cluster_ip.unwrap();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let live = deployments.get("web").await.unwrap();
        if live.status.and_then(|s| s.ready_replicas) == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "web never became ready; node logs in {}",
            node_dir.display()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let web_pod = pods
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(
        web_pod.spec.unwrap().node_name.as_deref(),
        Some(node_name.as_str())
    );

    // The API server's service proxy → the Pod IP, through the host's route to the node.
    let request = kube::core::Request::new(format!("/api/v1/namespaces/{ns}/services"))
        .get_subresource("proxy/", "http:web:http")
        .unwrap();
    let body = client.request_text(request).await.unwrap();
    assert_eq!(body.trim(), "hello from the node");

    // Another Pod → the ClusterIP → kube-proxy's rules → the web Pod. kube-proxy programs the
    // Service a moment after its endpoints are ready — later on a busy machine — so the client
    // is restarted until it gets through, as any client of a new Service must retry.
    let client_pod = json!({
        "metadata": {"name": "client"},
        "spec": {
            "restartPolicy": "OnFailure",
            "containers": [{
                "name": "get",
                "image": TESTPOD_IMAGE,
                "imagePullPolicy": "Never",
                "args": ["get", format!("http://{cluster_ip}/")],
            }],
        },
    });
    pods.create(
        &PostParams::default(),
        &serde_json::from_value(client_pod).unwrap(),
    )
    .await
    .unwrap();
    loop {
        let phase = pods
            .get("client")
            .await
            .unwrap()
            .status
            .and_then(|s| s.phase);
        if phase.as_deref() == Some("Succeeded") {
            break;
        }
        if Instant::now() >= deadline {
            let last = LogParams {
                previous: true,
                ..LogParams::default()
            };
            let output = pods.logs("client", &last).await.unwrap_or_default();
            panic!("the client Pod never reached the ClusterIP ({phase:?}); last try: {output}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Its output, read the way `kubectl logs` reads it: API server → kubelet.
    let output = pods.logs("client", &LogParams::default()).await.unwrap();
    assert_eq!(output.trim(), "hello from the node");

    drop(client);
    drop(pods);
    drop(deployments);
    drop(services);
    drop(plane);
    let cgroup = std::path::Path::new("/sys/fs/cgroup/pids").join(&node_name);
    assert!(!cgroup.exists(), "{} is left", cgroup.display());
    let links = std::process::Command::new("ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    let veth = node_name.replace("lockstep-node-", "lsnode");
    let links = String::from_utf8_lossy(&links.stdout);
    assert!(
        !links.contains(&format!(" {veth}@")),
        "{veth} is left: {links}"
    );
    let processes = std::process::Command::new("pgrep")
        .arg("-f")
        .arg(node_dir.display().to_string())
        .output()
        .unwrap();
    assert!(
        processes.stdout.is_empty(),
        "processes left: {}",
        String::from_utf8_lossy(&processes.stdout)
    );
}

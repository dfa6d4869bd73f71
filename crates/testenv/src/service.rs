//! Putting a process of this machine behind a Kubernetes Service, so that the API server's
//! service proxy (`/api/v1/namespaces/{ns}/services/{scheme}:{name}:{port}/proxy/…`, what
//! `kubeseal --fetch-cert` uses) reaches it.
//!
//! kube-apiserver 1.34 resolves a proxied Service through its v1 `Endpoints` (not its
//! EndpointSlices), and only to an address whose `targetRef` is a Pod of the same namespace
//! that lists that IP in `status.podIPs` (`ResourceLocation` in
//! `pkg/registry/core/service/storage`). Endpoints validation refuses loopback and
//! link-local IPs, so the process must listen on a routable address of this machine
//! ([`host_ip`]). [`expose`] then creates a stand-in Pod (never scheduled: the test control
//! plane has no scheduler or kubelet), sets its pod IP, and creates a selector-less Service
//! and its Endpoints.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Endpoints, Pod, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

use crate::{Error, REQUIRE_SERVERS_ENV, Result, servers_required};

/// A non-loopback IPv4 address of this machine: the source address the routing table picks
/// for an outside destination (no packet is sent). `None` when there is none (no default
/// route, loopback only).
pub fn host_ip() -> Option<IpAddr> {
    let socket = UdpSocket::bind(("0.0.0.0", 0)).ok()?;
    // TEST-NET-3 (RFC 5737): never answered, only used to ask the kernel for a route.
    socket.connect(("203.0.113.1", 9)).ok()?;
    let ip = socket.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// [`host_ip`] for a test that cannot run without one: when there is none, panics under CI
/// (`LOCKSTEP_REQUIRE_SERVERS=1`) and otherwise prints a loud skip banner and returns `None`.
pub fn need_host_ip() -> Option<IpAddr> {
    if let Some(ip) = host_ip() {
        return Some(ip);
    }
    let reason = "this machine has no non-loopback IPv4 address with a route, and the API \
                  server's service proxy refuses loopback endpoints";
    assert!(!servers_required(), "{reason}");
    eprintln!(
        "\n!!!!! SKIPPED: {reason}\n!!!!! set {REQUIRE_SERVERS_ENV}=1 to make this a failure\n"
    );
    None
}

/// Makes Service `name` in `namespace`, with one port named `port_name` (port 80), lead to
/// `target` — a process of this machine listening on [`host_ip`] (or on all addresses).
/// Returns once the API server proxies to it (a GET of `probe_path` through the proxy
/// succeeds).
///
/// # Errors
/// [`Error::Kube`] when an object cannot be created; [`Error::Setup`] when the proxy does
/// not reach `target` within 60 s.
pub async fn expose(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    port_name: &str,
    target: SocketAddr,
    probe_path: &str,
) -> Result<()> {
    let ip = target.ip().to_string();
    let pod_name = format!("{name}-host");
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let pod = serde_json::from_value(json!({
        "metadata": {"name": pod_name, "labels": {"lockstep.dev/stand-in": name}},
        "spec": {
            "automountServiceAccountToken": false,
            "containers": [{"name": "host", "image": "stand-in.invalid/host-process"}],
        },
    }))
    .map_err(json_error)?;
    // Pods wait for the namespace's default ServiceAccount, which the controller-manager
    // makes shortly after the namespace.
    retry("creating the stand-in Pod", async || {
        pods.create(&PostParams::default(), &pod).await.map(drop)
    })
    .await?;
    let status = json!({"status": {"podIP": ip, "podIPs": [{"ip": ip}]}});
    pods.patch_status(&pod_name, &PatchParams::default(), &Patch::Merge(&status))
        .await?;

    let service: Service = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"ports": [{"name": port_name, "port": 80, "targetPort": target.port()}]},
    }))
    .map_err(json_error)?;
    Api::<Service>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &service)
        .await?;
    let endpoints: Endpoints = serde_json::from_value(json!({
        "metadata": {"name": name},
        "subsets": [{
            "addresses": [{
                "ip": ip,
                "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod_name},
            }],
            "ports": [{"name": port_name, "port": target.port()}],
        }],
    }))
    .map_err(json_error)?;
    Api::<Endpoints>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &endpoints)
        .await?;

    let services = kube::core::Request::new(format!("/api/v1/namespaces/{namespace}/services"));
    let proxied = format!("proxy/{}", probe_path.trim_start_matches('/'));
    let target = format!("http:{name}:{port_name}");
    retry(
        "reaching the process through the service proxy",
        async || {
            let request = services
                .get_subresource(&proxied, &target)
                .map_err(kube::Error::BuildRequest)?;
            client.request_text(request).await.map(drop)
        },
    )
    .await
}

fn json_error(err: serde_json::Error) -> Error {
    Error::Setup {
        step: "building a stand-in object".to_owned(),
        detail: err.to_string(),
    }
}

/// Retries `attempt` every 250 ms for up to 60 s; the last error becomes [`Error::Setup`].
async fn retry(
    step: &str,
    mut attempt: impl AsyncFnMut() -> Result<(), kube::Error>,
) -> Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(err) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Setup {
                    step: step.to_owned(),
                    detail: err.to_string(),
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

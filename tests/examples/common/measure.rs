//! What the scale benchmarks measure: objects Ready, a process's CPU time and peak RSS from
//! `/proc`, and the API server's own count of requests and of writes to the applied kinds.

use std::collections::BTreeMap;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::{WatchStreamExt, watcher};

/// Waits until each of `api`'s `n` objects has been `Ready=True` at some point (for up to 30
/// minutes from `started`): a controller that sets `Ready=Unknown` while it reconciles again
/// (Flux does, every interval) still counts an object it has once made Ready. Any kind that
/// writes `status.conditions` the Kubernetes way: Syncs, Flux Kustomizations,
/// ExternalSecrets; `what` names them in the error.
///
/// It watches rather than lists: listing thousands of objects every half second cost the
/// API server more than some of the controllers it measures.
pub async fn wait_each_ready(
    api: &Api<DynamicObject>,
    n: u64,
    started: std::time::Instant,
    what: &str,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::from_std(started + std::time::Duration::from_secs(1800));
    let events = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .applied_objects();
    let mut events = std::pin::pin!(events);
    let mut seen = std::collections::HashSet::new();
    while (seen.len() as u64) < n {
        let Ok(next) = tokio::time::timeout_at(deadline, events.next()).await else {
            anyhow::bail!("only {} of {n} {what} Ready after 30 min", seen.len());
        };
        let object = match next {
            Some(Ok(object)) => object,
            // Retried with backoff.
            Some(Err(_)) => continue,
            None => anyhow::bail!("the watch of {what} ended"),
        };
        let ready = object.data["status"]["conditions"]
            .as_array()
            .is_some_and(|conditions| {
                conditions
                    .iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        if ready && let Some(name) = object.metadata.name {
            seen.insert(name);
        }
    }
    Ok(())
}

/// The kinds Flux's benchmark application is made of ([`app`]), as API resources.
pub const APP_RESOURCES: [&str; 4] = ["configmaps", "services", "serviceaccounts", "deployments"];

/// The API server's `apiserver_request_total` counters, each as its labels and value.
async fn request_counters(
    client: &kube::Client,
) -> anyhow::Result<Vec<(BTreeMap<String, String>, f64)>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut out = Vec::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels = labels
            .split("\",")
            .filter_map(|pair| pair.split_once("=\""))
            .map(|(name, value)| (name.to_owned(), value.trim_end_matches('"').to_owned()))
            .collect();
        out.push((labels, value.parse()?));
    }
    Ok(out)
}

/// Non-dry-run writes to `resources` (plural names), from the API server's own counters.
pub async fn writes(
    client: &kube::Client,
    resources: &[&str],
) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (labels, value) in request_counters(client).await? {
        let label = |name: &str| labels.get(name).map(String::as_str).unwrap_or_default();
        if ["POST", "PUT", "PATCH", "DELETE", "APPLY"].contains(&label("verb"))
            && resources.contains(&label("resource"))
            && label("dry_run").is_empty()
            && label("subresource").is_empty()
            && label("component") == "apiserver"
        {
            *out.entry(format!("{}/{}", label("verb"), label("resource")))
                .or_default() += value;
        }
    }
    Ok(out)
}

/// Every request the API server has served so far, by `verb/resource[/subresource]`, with
/// ` dry-run` after a dry run: what a controller costs the API server.
pub async fn requests(client: &kube::Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for (labels, value) in request_counters(client).await? {
        let label = |name: &str| labels.get(name).map(String::as_str).unwrap_or_default();
        let mut key = format!("{}/{}", label("verb"), label("resource"));
        if !label("subresource").is_empty() {
            key = format!("{key}/{}", label("subresource"));
        }
        if !label("dry_run").is_empty() {
            key.push_str(" dry-run");
        }
        *out.entry(key).or_default() += value;
    }
    Ok(out)
}

/// What grew between two [`writes`] readings, by verb and resource.
pub fn grown(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .filter_map(|(key, value)| {
            let change = value - before.get(key).copied().unwrap_or(0.0);
            (change > 0.0).then(|| (key.clone(), change))
        })
        .collect()
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// The process's peak resident set (`VmHWM`), in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmHWM:")
}

/// User + system CPU time of the process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

/// CPU seconds of the control plane's API server and etcd so far.
pub fn server_cpu_seconds(plane: &lockstep_testenv::ControlPlane) -> f64 {
    plane.server_pids().into_iter().map(cpu_seconds).sum()
}

/// What the API server and etcd had done at one moment: the requests served (as
/// [`requests`]) and their CPU seconds; [`ServerLoad::since`] is a side's cost to them.
pub struct ServerLoad {
    requests: BTreeMap<String, f64>,
    cpu: f64,
}

impl ServerLoad {
    pub async fn now(
        client: &kube::Client,
        plane: &lockstep_testenv::ControlPlane,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            requests: requests(client).await?,
            cpu: server_cpu_seconds(plane),
        })
    }

    /// The CPU seconds used and the requests served (by [`requests`]' key) since `self`.
    pub async fn since(
        &self,
        client: &kube::Client,
        plane: &lockstep_testenv::ControlPlane,
    ) -> anyhow::Result<(f64, BTreeMap<String, f64>)> {
        let later = Self::now(client, plane).await?;
        Ok((later.cpu - self.cpu, grown(&self.requests, &later.requests)))
    }
}

/// A knob from the environment, `default` when unset or not a number.
pub fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Flux's benchmark application, `i`-th copy: a ServiceAccount, a ConfigMap, a Service and
/// a Deployment with `replicas: 0` (Ready as soon as kube-controller-manager observes it).
pub fn app(i: u64) -> String {
    let name = format!("app-{i:04}");
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{index: \"{i}\"}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      serviceAccountName: {name}\n      containers: [{{name: app, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

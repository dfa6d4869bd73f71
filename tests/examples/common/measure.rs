//! What the scale benchmarks measure: objects Ready, a process's CPU time and peak RSS from
//! `/proc`, and the API server's own count of writes to the applied kinds.

use std::collections::BTreeMap;

use kube::api::{Api, DynamicObject, ListParams};

/// Waits until each of `api`'s `n` objects has been `Ready=True` at some poll (every
/// 500 ms, for up to 30 minutes from `started`): a controller that sets `Ready=Unknown`
/// while it reconciles again (Flux does, every interval) still counts an object it has once
/// made Ready. Any kind that writes `status.conditions` the Kubernetes way: Syncs, Flux
/// Kustomizations, ExternalSecrets; `what` names them in the error.
pub async fn wait_each_ready(
    api: &Api<DynamicObject>,
    n: u64,
    started: std::time::Instant,
    what: &str,
) -> anyhow::Result<()> {
    let mut seen = std::collections::HashSet::new();
    loop {
        for object in api.list(&ListParams::default()).await?.items {
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
        if seen.len() as u64 >= n {
            return Ok(());
        }
        anyhow::ensure!(
            started.elapsed() < std::time::Duration::from_secs(1800),
            "only {} of {n} {what} Ready after 30 min",
            seen.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

/// The kinds Flux's benchmark application is made of ([`app`]), as API resources.
pub const APP_RESOURCES: [&str; 4] = ["configmaps", "services", "serviceaccounts", "deployments"];

/// Non-dry-run writes to `resources` (plural names), from the API server's own counters.
pub async fn writes(
    client: &kube::Client,
    resources: &[&str],
) -> anyhow::Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        let verb = label("verb");
        let resource = label("resource");
        if ["POST", "PUT", "PATCH", "DELETE", "APPLY"].contains(&verb.as_str())
            && resources.contains(&resource.as_str())
            && label("dry_run").is_empty()
            && label("subresource").is_empty()
            && label("component") == "apiserver"
        {
            *out.entry(format!("{verb}/{resource}")).or_default() += value.parse::<f64>()?;
        }
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

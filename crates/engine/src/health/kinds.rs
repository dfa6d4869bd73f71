//! The rules of built-in kinds, after kstatus's `core.go` (Jobs after Flux's Job reader).
//!
//! Each rule reads the counters and conditions the kind's controller writes; `None`
//! means "no rule for this kind", and the generic rules decide.

use serde_json::Value;

use super::{Health, condition, conditions, describe, int, string};

/// The rule for `object`'s kind, if it has one.
pub(super) fn compute(object: &Value) -> Option<Health> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = object["kind"].as_str().unwrap_or_default();
    Some(match (group, kind) {
        ("apps", "Deployment") => deployment(object),
        ("apps", "StatefulSet") => stateful_set(object),
        ("apps", "DaemonSet") => daemon_set(object),
        ("apps", "ReplicaSet") => replica_set(object),
        ("batch", "Job") => job(object),
        ("", "Pod") => pod(object),
        ("", "PersistentVolumeClaim") => pvc(object),
        ("", "Service") => service(object),
        ("", "Namespace") => namespace(object),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(object),
        ("bitnami.com", "SealedSecret") => sealed_secret(object),
        ("external-secrets.io", "ExternalSecret") => external_secret(object),
        // Always current, whatever their status says.
        ("", "ConfigMap" | "Secret") | ("batch", "CronJob") | ("policy", "PodDisruptionBudget") => {
            Health::current("no status to wait for")
        }
        _ => return None,
    })
}

/// The first of `(counter, wanted)` pairs below what the rollout needs, as a message.
fn short_of(checks: &[(&str, i64, i64)]) -> Option<Health> {
    checks
        .iter()
        .find(|(_, have, want)| have < want)
        .map(|(what, have, want)| Health::in_progress(format!("{what}: {have}/{want}")))
}

fn deployment(d: &Value) -> Health {
    for c in conditions(d) {
        if c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded" {
            return Health::failed(describe("progress deadline exceeded", c));
        }
    }
    let spec = int(d, "/spec/replicas", 1);
    let replicas = int(d, "/status/replicas", 0);
    let updated = int(d, "/status/updatedReplicas", 0);
    let ready = int(d, "/status/readyReplicas", 0);
    let available = int(d, "/status/availableReplicas", 0);
    if let Some(short) = short_of(&[("Replicas", replicas, spec), ("Updated", updated, spec)]) {
        return short;
    }
    if replicas > spec {
        return Health::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if let Some(short) = short_of(&[("Available", available, updated), ("Ready", ready, spec)]) {
        return short;
    }
    // Without a deadline (the maximum value) the controller never reports progress done.
    let no_deadline = int(d, "/spec/progressDeadlineSeconds", 600) == i64::from(i32::MAX);
    let progressed = conditions(d).any(|c| {
        c["type"] == "Progressing"
            && c["status"] == "True"
            && c["reason"] == "NewReplicaSetAvailable"
    });
    if !no_deadline && !progressed {
        return Health::in_progress("new ReplicaSet not available yet");
    }
    if condition(d, "Available", "True").is_none() {
        return Health::in_progress("Deployment not Available");
    }
    Health::current(format!("rolled out: {replicas} replica(s)"))
}

fn stateful_set(s: &Value) -> Health {
    if string(s, "/spec/updateStrategy/type") == "OnDelete" {
        return Health::current("OnDelete update strategy: rollout is manual");
    }
    let spec = int(s, "/spec/replicas", 1);
    let replicas = int(s, "/status/replicas", 0);
    let ready = int(s, "/status/readyReplicas", 0);
    let current = int(s, "/status/currentReplicas", 0);
    let updated = int(s, "/status/updatedReplicas", 0);
    if let Some(short) = short_of(&[("Replicas", replicas, spec), ("Ready", ready, spec)]) {
        return short;
    }
    if replicas > spec {
        return Health::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if let Some(partition) = s
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
    {
        return short_of(&[("Updated", updated, spec - partition)])
            .unwrap_or_else(|| Health::current(format!("partitioned rollout done: {updated}")));
    }
    if let Some(short) = short_of(&[("Current", current, spec)]) {
        return short;
    }
    let (from, to) = (
        string(s, "/status/currentRevision"),
        string(s, "/status/updateRevision"),
    );
    if from != to {
        return Health::in_progress(format!("revision {to} replacing {from}"));
    }
    Health::current(format!("rolled out: {replicas} replica(s)"))
}

fn daemon_set(d: &Value) -> Health {
    // The controller always writes these; their absence means it has not seen the object.
    if d.pointer("/metadata/generation").is_none()
        || d.pointer("/status/observedGeneration").is_none()
    {
        return Health::in_progress("not observed by its controller yet");
    }
    let Some(desired) = d
        .pointer("/status/desiredNumberScheduled")
        .and_then(Value::as_i64)
    else {
        return Health::in_progress("no desiredNumberScheduled yet");
    };
    short_of(&[
        (
            "Current",
            int(d, "/status/currentNumberScheduled", 0),
            desired,
        ),
        (
            "Updated",
            int(d, "/status/updatedNumberScheduled", 0),
            desired,
        ),
        ("Available", int(d, "/status/numberAvailable", 0), desired),
        ("Ready", int(d, "/status/numberReady", 0), desired),
    ])
    .unwrap_or_else(|| Health::current(format!("rolled out: {desired} scheduled")))
}

fn replica_set(r: &Value) -> Health {
    if let Some(c) = condition(r, "ReplicaFailure", "True") {
        return Health::in_progress(describe("replica failure", c));
    }
    let spec = int(r, "/spec/replicas", 1);
    let replicas = int(r, "/status/replicas", 0);
    if let Some(short) = short_of(&[
        ("Labelled", int(r, "/status/fullyLabeledReplicas", 0), spec),
        ("Available", int(r, "/status/availableReplicas", 0), spec),
        ("Ready", int(r, "/status/readyReplicas", 0), spec),
    ]) {
        return short;
    }
    if replicas > spec {
        return Health::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    Health::current(format!("available: {replicas} replica(s)"))
}

/// Flux's rule, stricter than kstatus (which calls a started Job current): a Job is
/// current once complete (or suspended), failed once failed, in progress otherwise.
fn job(j: &Value) -> Health {
    if let Some(c) = condition(j, "Failed", "True") {
        return Health::failed(describe("Job failed", c));
    }
    if condition(j, "Complete", "True").is_some() {
        return Health::current(format!(
            "Job complete: {} succeeded",
            int(j, "/status/succeeded", 0)
        ));
    }
    if j["spec"]["suspend"] == true {
        return Health::current("Job suspended");
    }
    if string(j, "/status/startTime").is_empty() {
        return Health::in_progress("Job not started");
    }
    Health::in_progress(format!(
        "Job running: {} active, {} succeeded, {} failed",
        int(j, "/status/active", 0),
        int(j, "/status/succeeded", 0),
        int(j, "/status/failed", 0)
    ))
}

fn pod(p: &Value) -> Health {
    match string(p, "/status/phase") {
        "Succeeded" => Health::current("Pod succeeded"),
        "Failed" => Health::failed(format!(
            "Pod failed: {}",
            p["status"]["reason"]
                .as_str()
                .unwrap_or("containers exited with errors")
        )),
        "Running" if condition(p, "Ready", "True").is_some() => Health::current("Pod ready"),
        "Running" => {
            let crashing: Vec<&str> = p["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["state"]["waiting"]["reason"] == "CrashLoopBackOff")
                .filter_map(|s| s["name"].as_str())
                .collect();
            if crashing.is_empty() {
                Health::in_progress("Pod running, not ready")
            } else {
                Health::failed(format!(
                    "containers in CrashLoopBackOff: {}",
                    crashing.join(", ")
                ))
            }
        }
        "" => Health::in_progress("Pod not initialised yet"),
        phase => Health::in_progress(format!("Pod {phase}")),
    }
}

fn pvc(p: &Value) -> Health {
    match string(p, "/status/phase") {
        "Bound" => Health::current("Bound"),
        phase => Health::in_progress(format!("not Bound (phase {phase:?})")),
    }
}

/// As kstatus: a LoadBalancer Service needs its cluster IP. Waiting for an ingress address
/// would never end on clusters without a load-balancer controller.
fn service(s: &Value) -> Health {
    if string(s, "/spec/type") == "LoadBalancer" && string(s, "/spec/clusterIP").is_empty() {
        return Health::in_progress("LoadBalancer Service without a cluster IP yet");
    }
    Health::current("Service ready")
}

fn namespace(n: &Value) -> Health {
    match string(n, "/status/phase") {
        "Terminating" => Health::new(super::Status::Terminating, "Namespace terminating"),
        _ => Health::current("Namespace active"),
    }
}

fn crd(c: &Value) -> Health {
    if let Some(names) = condition(c, "NamesAccepted", "False") {
        return Health::failed(describe("names not accepted", names));
    }
    for cond in conditions(c).filter(|cond| cond["type"] == "Established") {
        if cond["status"] == "True" {
            return Health::current("Established");
        }
        if cond["status"] == "False" && cond["reason"] != "Installing" {
            return Health::failed(describe("not established", cond));
        }
    }
    Health::in_progress("not established yet")
}

/// Unsealed when the SealedSecret controller says `Synced=True`; `Synced=False` is its
/// unseal error (no key decrypts it, a Secret it may not overwrite), as Flux's documented
/// SealedSecret health check reads it.
/// ESO's `Ready` condition. ESO writes no `observedGeneration`; its
/// `syncedResourceVersion` (`<generation>-<hash>`) tells whether the last sync was of this
/// generation.
fn external_secret(e: &Value) -> Health {
    let generation = int(e, "/metadata/generation", 0).to_string();
    let synced = string(e, "/status/syncedResourceVersion");
    let current = synced.split_once('-').is_some_and(|(g, _)| g == generation);
    match conditions(e).find(|c| c["type"] == "Ready") {
        Some(c) if c["status"] == "False" => Health::failed(describe("not synced", c)),
        Some(c) if c["status"] == "True" && current => Health::current("synced"),
        _ => Health::in_progress("not synced yet"),
    }
}

fn sealed_secret(s: &Value) -> Health {
    match conditions(s).find(|c| c["type"] == "Synced") {
        Some(c) if c["status"] == "True" => Health::current("unsealed"),
        Some(c) if c["status"] == "False" => Health::failed(describe("not unsealed", c)),
        _ => Health::in_progress("not unsealed yet"),
    }
}

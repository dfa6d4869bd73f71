//! How each server of the control plane is started: etcd, kube-apiserver (its flags and
//! audit policy), kube-controller-manager and kube-scheduler.

use std::path::{Path, PathBuf};

use crate::process::{Process, free_port};
use crate::{LogDir, Result, node, pki};

pub(super) fn start_etcd(bin: &Path, port: u16, logs: &LogDir) -> Result<Process> {
    let peer = free_port()?;
    let data = logs.join("etcd-data");
    let args = [
        "--name=testenv".to_owned(),
        format!("--data-dir={}", data.display()),
        format!("--listen-client-urls=http://127.0.0.1:{port}"),
        format!("--advertise-client-urls=http://127.0.0.1:{port}"),
        format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
        format!("--initial-cluster=testenv=http://127.0.0.1:{peer}"),
        // Test data need not survive a power cut; fsync dominates etcd's latency.
        "--unsafe-no-fsync=true".to_owned(),
        "--log-level=warn".to_owned(),
    ];
    Process::start("etcd", bin, &args, &[], logs)
}

/// Where the API server listens, and whether nodes authenticate to it.
pub(super) struct ApiserverListen<'a> {
    pub(super) host: &'a str,
    pub(super) port: u16,
    pub(super) node_authorizer: bool,
    /// The audit policy and log files.
    pub(super) audit: Option<(&'a Path, &'a Path)>,
}

/// Writes an audit policy recording every request at level `Metadata`; returns it and the
/// log's path.
pub(super) fn write_audit_policy(logs: &LogDir) -> Result<(PathBuf, PathBuf)> {
    let policy = logs.join("audit-policy.yaml");
    pki::write_file(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Metadata\n",
    )?;
    Ok((policy, logs.join("audit.log")))
}

pub(super) fn apiserver_args(
    listen: &ApiserverListen<'_>,
    etcd_port: u16,
    pki: &pki::Pki,
    tokens: &Path,
) -> Vec<String> {
    let authorization = if listen.node_authorizer {
        "Node,RBAC"
    } else {
        "RBAC"
    };
    let mut args = vec![
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        format!("--bind-address={}", listen.host),
        // The `kubernetes` Service's endpoint: in-cluster clients reach the API server there.
        format!("--advertise-address={}", listen.host),
        format!("--secure-port={}", listen.port),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        format!("--token-auth-file={}", tokens.display()),
        format!("--authorization-mode={authorization}"),
        format!(
            "--kubelet-client-certificate={}",
            pki.kubelet_client_cert.display()
        ),
        format!("--kubelet-client-key={}", pki.kubelet_client_key.display()),
        "--kubelet-preferred-address-types=InternalIP".to_owned(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
        format!(
            "--service-account-key-file={}",
            pki.service_account_pub.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ),
        format!("--service-cluster-ip-range={}", node::SERVICE_RANGE),
        "--allow-privileged=true".to_owned(),
        // Stop at once on SIGTERM; there is no load balancer to drain.
        "--shutdown-delay-duration=0s".to_owned(),
        // Fairness queues cost CPU on a 2-core machine and change nothing for one client.
        "--enable-priority-and-fairness=false".to_owned(),
        "--profiling=false".to_owned(),
    ];
    if let Some((policy, log)) = listen.audit {
        args.push(format!("--audit-policy-file={}", policy.display()));
        args.push(format!("--audit-log-path={}", log.display()));
        args.push("--audit-log-format=json".to_owned());
    }
    args
}

pub(super) fn start_controller_manager(
    bin: &Path,
    kubeconfig: &Path,
    pki: &pki::Pki,
    logs: &LogDir,
) -> Result<Process> {
    let args = [
        format!("--kubeconfig={}", kubeconfig.display()),
        format!("--authentication-kubeconfig={}", kubeconfig.display()),
        format!("--authorization-kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".to_owned(),
        "--bind-address=127.0.0.1".to_owned(),
        format!("--secure-port={}", free_port()?),
        format!(
            "--cert-dir={}",
            logs.join("controller-manager-certs").display()
        ),
        format!(
            "--service-account-private-key-file={}",
            pki.service_account_key.display()
        ),
        format!("--root-ca-file={}", pki.ca_cert.display()),
        "--use-service-account-credentials=false".to_owned(),
        "--profiling=false".to_owned(),
        // Its client is limited to 20 requests/s by default: rolling out 1,000 Deployments
        // would then take minutes of the controller-manager's own time, and a benchmark of
        // our controller would measure that limit instead.
        "--kube-api-qps=1000".to_owned(),
        "--kube-api-burst=2000".to_owned(),
        "--concurrent-deployment-syncs=16".to_owned(),
        "--concurrent-replicaset-syncs=16".to_owned(),
    ];
    Process::start("kube-controller-manager", bin, &args, &[], logs)
}

pub(super) fn start_scheduler(bin: &Path, kubeconfig: &Path, logs: &LogDir) -> Result<Process> {
    let args = [
        format!("--kubeconfig={}", kubeconfig.display()),
        "--leader-elect=false".to_owned(),
        // No HTTPS endpoint (health, metrics): nothing here asks it.
        "--secure-port=0".to_owned(),
        "--profiling=false".to_owned(),
    ];
    Process::start("kube-scheduler", bin, &args, &[], logs)
}

//! Installing the controller the way users do: the Helm chart in `deploy/chart/` (and the
//! plain manifests rendered from it), its least-privilege roles, and the image built by
//! `scripts/controller-image.sh`. Each test that needs a cluster starts its own: the
//! controllers run cluster-wide, as installed.

mod built;
#[path = "install/manifests.rs"]
mod manifests;
#[path = "install/node.rs"]
mod node;
#[path = "install/rbac.rs"]
mod rbac;

// The controller harness is shared with the controller's own tests (it allows the items
// each binary leaves unused).
#[path = "../controller/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use built::{built_binary, controller_binary};

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `deploy/chart/`.
fn chart() -> PathBuf {
    repo().join("deploy/chart")
}

/// Runs the installed `helm` with `args`; its stdout, or a panic with its stderr.
fn helm(helm: &Path, args: &[&str], kubeconfig: Option<&Path>) -> String {
    let mut command = Command::new(helm);
    command.args(args);
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    // Helm's own cache and config stay out of the user's home.
    let home = std::env::temp_dir().join("lockstep-tests-helm");
    command
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_DATA_HOME", home.join("data"));
    let out = command.output().expect("running helm");
    assert!(
        out.status.success(),
        "helm {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("helm prints UTF-8")
}

/// The chart rendered as release `lockstep-controller` into `namespace`, with `--set`
/// values `set`.
fn render(helm_bin: &Path, namespace: &str, set: &[&str]) -> String {
    let chart = chart();
    let mut args = vec![
        "template",
        "lockstep-controller",
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    for value in set {
        args.extend(["--set", value]);
    }
    helm(helm_bin, &args, None)
}

/// The documents of a YAML stream, as JSON.
fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_saphyr::from_multiple::<serde_json::Value>(text)
        .unwrap()
        .into_iter()
        .filter(|d| !d.is_null())
        .collect()
}

/// ServiceAccount `deployer` in `namespace`, bound to the `admin` ClusterRole there: the
/// account a tenant's Sync applies as.
async fn deployer(client: &kube::Client, namespace: &str) {
    let objects = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: deployer, namespace: {namespace}}}\n\
         ---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\n\
         metadata: {{name: deployer-admin, namespace: {namespace}}}\n\
         roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}}\n\
         subjects: [{{kind: ServiceAccount, name: deployer, namespace: {namespace}}}]\n"
    );
    lockstep_testenv::manifests::apply_yaml(client, &objects)
        .await
        .unwrap();
}

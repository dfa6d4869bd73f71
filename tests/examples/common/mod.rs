//! What the runnable examples share: finding the built binaries and the repository,
//! installing the CRDs, and starting `lockstep-controller` against a cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::ApiResource;
use lockstep_testenv::{LogDir, Process, free_port, http};

/// The workspace root (the repository checkout).
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the workspace")
        .to_path_buf()
}

/// A binary of this workspace from the target folder this example was built into
/// (`<target>/<profile>/examples/<example>` → `<target>/<profile>/<name>`).
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the example's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("examples live in <target>/<profile>/examples")
        .join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo build -p lockstep-controller -p lockstep-cli` first",
        path.display()
    );
    path
}

/// Applies the lockstep and SealedSecret CRDs from `deploy/crds/` and waits until served.
pub async fn install_crds(client: &kube::Client) -> anyhow::Result<()> {
    install_crds_except(client, None).await
}

/// Applies the CRDs of `deploy/crds/` but those whose file name holds `except` (a group
/// whose peer's own CRDs are installed instead), and waits until served.
pub async fn install_crds_except(
    client: &kube::Client,
    except: Option<&str>,
) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(workspace().join("deploy/crds"))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|name| name.to_str());
        if except.is_some_and(|except| name.is_some_and(|name| name.contains(except))) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        lockstep_testenv::manifests::apply_yaml(client, &text).await?;
    }
    Ok(())
}

/// Starts `lockstep-controller` with `kubeconfig`, its keys and lease in `namespace`, and
/// waits until it serves its certificate.
pub async fn start_controller(
    kubeconfig: &Path,
    namespace: &str,
    extra: &[&str],
) -> anyhow::Result<Process> {
    let logs = LogDir::for_server("lockstep-controller")?;
    let api_port = free_port()?;
    let metrics_port = free_port()?;
    let cache = logs.join("artifacts");
    let mut args = vec![
        format!("--namespace={namespace}"),
        "--key-size=2048".to_owned(),
        format!("--listen-addr=127.0.0.1:{api_port}"),
        format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
        format!("--artifact-dir={}", cache.display()),
    ];
    args.extend(extra.iter().map(|a| (*a).to_owned()));
    let bin = built_binary("lockstep-controller");
    let mut process = Process::start(
        "lockstep-controller",
        &bin,
        &args,
        &[("KUBECONFIG", kubeconfig)],
        &logs,
    )?;
    process
        .wait_ready(Duration::from_secs(120), || {
            http::is_ok(api_port, "/v1/cert.pem")
        })
        .await?;
    Ok(process)
}

/// The CRDs installed, `namespace` created, and `lockstep-controller` started there with
/// `--concurrent=<concurrent>`, JSON logs, watching that namespace only, and `extra`.
pub async fn controller_in_namespace(
    kubeconfig: &Path,
    client: &kube::Client,
    namespace: &str,
    concurrent: u64,
    extra: &[&str],
) -> anyhow::Result<Process> {
    install_crds(client).await?;
    lockstep_testenv::manifests::apply_yaml(
        client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {namespace}}}\n"),
    )
    .await?;
    let concurrent = format!("--concurrent={concurrent}");
    let mut flags = vec!["--all-namespaces=false", &concurrent, "--log-format=json"];
    flags.extend_from_slice(extra);
    start_controller(kubeconfig, namespace, &flags).await
}

/// Creates a `lockstep.dev/v1alpha1` object of `kind` from JSON.
pub async fn create(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    mut body: serde_json::Value,
) -> anyhow::Result<()> {
    body["apiVersion"] = "lockstep.dev/v1alpha1".into();
    body["kind"] = kind.into();
    let resource = ApiResource {
        group: "lockstep.dev".into(),
        version: "v1alpha1".into(),
        api_version: "lockstep.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    api.create(&PostParams::default(), &serde_json::from_value(body)?)
        .await?;
    Ok(())
}

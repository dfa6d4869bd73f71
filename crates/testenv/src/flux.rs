//! Flux's source-controller and kustomize-controller (v1.9.6, built by the installer from
//! their Go modules), the reference Lockstep's Flux front-end is compared with, run against a
//! test control plane with Flux's own CRDs, and the `flux` CLI (v2.9.5).

use std::path::PathBuf;
use std::time::Duration;

use crate::kube::ControlPlane;
use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, http, manifests, tool};

/// The two controllers that serve `GitRepository` and `Kustomization`, stopped when dropped.
#[derive(Debug)]
pub struct Flux {
    // Dropped first: kustomize-controller reads what source-controller serves.
    kustomize: Process,
    source: Process,
    _storage: tempfile::TempDir,
}

impl Flux {
    /// Flux's CRDs as its releases ship them (`config/crd/bases` of both modules), one YAML
    /// stream: every source kind (source-controller watches them all) and `Kustomization`.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] when the installer has not put them in the bin directory.
    pub fn crds() -> Result<String> {
        let mut text = String::new();
        for dir in ["source-controller-crds", "kustomize-controller-crds"] {
            let dir = tool(dir)?;
            let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(Error::io(format!("listing {}", dir.display())))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
                .collect();
            files.sort();
            for path in files {
                let crd = std::fs::read_to_string(&path)
                    .map_err(Error::io(format!("reading {}", path.display())))?;
                text.push_str("---\n");
                text.push_str(&crd);
                text.push('\n');
            }
        }
        Ok(text)
    }

    /// Installs Flux's CRDs (server-side) and waits until they are served.
    ///
    /// # Errors
    /// As [`Self::crds`] and [`manifests::apply_yaml`].
    pub async fn install_crds(client: &kube::Client) -> Result<()> {
        manifests::apply_yaml(client, &Self::crds()?).await
    }

    /// Starts both controllers against `plane` (Flux's CRDs must be installed), watching
    /// only `namespace` (their `RUNTIME_NAMESPACE`), with leader election off, every port a
    /// free loopback one and the artifacts in a directory of their own, served and advertised
    /// on loopback. Waits until both answer `/readyz`.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without the binaries; [`Error::NotReady`] when one does not
    /// start.
    pub async fn start(plane: &ControlPlane, namespace: &str) -> Result<Self> {
        Self::start_with(plane, namespace, &[]).await
    }

    /// As [`Self::start`], with `extra` flags for both controllers after the test
    /// environment's own, so that they win (`--log-level=info`, `--concurrent=16` for a
    /// benchmark).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_with(plane: &ControlPlane, namespace: &str, extra: &[&str]) -> Result<Self> {
        let extra: Vec<String> = extra.iter().map(|flag| (*flag).to_owned()).collect();
        let storage = tempfile::tempdir().map_err(Error::io("creating Flux's storage dir"))?;
        let storage_port = free_port()?;
        let source = Self::controller(
            plane,
            namespace,
            "source-controller",
            &[
                format!("--storage-path={}", storage.path().display()),
                format!("--storage-addr=127.0.0.1:{storage_port}"),
                format!("--storage-adv-addr=127.0.0.1:{storage_port}"),
            ]
            .into_iter()
            .chain(extra.iter().cloned())
            .collect::<Vec<_>>(),
        )
        .await?;
        let kustomize = Self::controller(plane, namespace, "kustomize-controller", &extra).await?;
        Ok(Self {
            kustomize,
            source,
            _storage: storage,
        })
    }

    async fn controller(
        plane: &ControlPlane,
        namespace: &str,
        name: &str,
        extra: &[String],
    ) -> Result<Process> {
        let bin = tool(name)?;
        let logs = LogDir::for_server(name)?;
        let health = free_port()?;
        let mut args = vec![
            format!("--metrics-addr=127.0.0.1:{}", free_port()?),
            format!("--health-addr=127.0.0.1:{health}"),
            "--enable-leader-election=false".to_owned(),
            "--watch-all-namespaces=false".to_owned(),
            "--log-level=debug".to_owned(),
        ];
        args.extend_from_slice(extra);
        let runtime = PathBuf::from(namespace);
        let env = [
            ("KUBECONFIG", plane.kubeconfig_path()),
            ("RUNTIME_NAMESPACE", runtime.as_path()),
        ];
        let mut process = Process::start(name, &bin, &args, &env, &logs)?;
        process
            .wait_ready(Duration::from_secs(60), || http::is_ok(health, "/readyz"))
            .await?;
        Ok(process)
    }

    /// The process ids of source-controller and kustomize-controller (for a benchmark's
    /// CPU and memory readings).
    pub fn pids(&self) -> [Option<u32>; 2] {
        [self.source.pid(), self.kustomize.pid()]
    }

    /// The source-controller's log file.
    pub fn source_log(&self) -> &std::path::Path {
        self.source.log()
    }

    /// The kustomize-controller's log file.
    pub fn kustomize_log(&self) -> &std::path::Path {
        self.kustomize.log()
    }
}

/// Runs the real `flux` CLI with `args` against `plane` (as `KUBECONFIG`); its stdout, or
/// [`Error::Setup`] with its stderr when it fails.
///
/// # Errors
/// [`Error::NotInstalled`] without `flux`; [`Error::Setup`] when it exits non-zero.
pub async fn flux_cli(plane: &ControlPlane, args: &[&str]) -> Result<String> {
    let program = tool("flux")?;
    let out = tokio::process::Command::new(&program)
        .args(args)
        .env("KUBECONFIG", plane.kubeconfig_path())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(Error::io(format!("running {}", program.display())))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Setup {
            step: format!("flux {}", args.join(" ")),
            detail: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        })
    }
}

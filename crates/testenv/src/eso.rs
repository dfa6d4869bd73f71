//! The External Secrets Operator (v0.16.2, built by the installer from its Go module), the
//! reference Lockstep's ExternalSecret front-end is compared with, run against a test
//! control plane with ESO's own CRDs.

use std::time::Duration;

use crate::kube::ControlPlane;
use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, http, manifests, tool};

/// A running `external-secrets` controller.
#[derive(Debug)]
pub struct ExternalSecretsOperator {
    server: Process,
}

impl ExternalSecretsOperator {
    /// ESO's CRDs as its release ships them (`deploy/crds/bundle.yaml` of the module), for a
    /// cluster "switching from ESO".
    ///
    /// # Errors
    /// [`Error::NotInstalled`] when the installer has not put them in the bin directory.
    pub fn crds() -> Result<String> {
        let path = tool("external-secrets-crds")?.join("bundle.yaml");
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))
    }

    /// Installs ESO's CRDs (server-side, as `kubectl apply --server-side`; they exceed the
    /// client-side annotation limit) and waits until they are served.
    ///
    /// # Errors
    /// As [`Self::crds`] and [`manifests::apply_yaml`].
    pub async fn install_crds(client: &kube::Client) -> Result<()> {
        manifests::apply_yaml(client, &Self::crds()?).await
    }

    /// Starts ESO against `plane` (its CRDs must be installed) with leader election off and
    /// metrics on a free loopback port, watching only `namespace` when given, and waits
    /// until its metrics endpoint answers. It stops when dropped.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `external-secrets`; [`Error::NotReady`] when it does
    /// not start.
    pub async fn start(plane: &ControlPlane, namespace: Option<&str>) -> Result<Self> {
        Self::start_with_env(plane, namespace, &[]).await
    }

    /// [`Self::start`] with more environment (e.g. `AWS_SECRETSMANAGER_ENDPOINT`).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_with_env(
        plane: &ControlPlane,
        namespace: Option<&str>,
        env: &[(&str, &std::path::Path)],
    ) -> Result<Self> {
        Self::start_with(plane, namespace, env, &[]).await
    }

    /// [`Self::start_with_env`] with `extra` flags after the test environment's own, so
    /// that they win (`--loglevel=info`, `--concurrent=16` for a benchmark).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_with(
        plane: &ControlPlane,
        namespace: Option<&str>,
        env: &[(&str, &std::path::Path)],
        extra: &[&str],
    ) -> Result<Self> {
        let bin = tool("external-secrets")?;
        let logs = LogDir::for_server("external-secrets")?;
        let port = free_port()?;
        let mut args = vec![
            format!("--metrics-addr=127.0.0.1:{port}"),
            "--enable-leader-election=false".to_owned(),
            "--loglevel=debug".to_owned(),
        ];
        if let Some(namespace) = namespace {
            args.push(format!("--namespace={namespace}"));
        }
        args.extend(extra.iter().map(|flag| (*flag).to_owned()));
        let mut env = env.to_vec();
        env.push(("KUBECONFIG", plane.kubeconfig_path()));
        let mut server = Process::start("external-secrets", &bin, &args, &env, &logs)?;
        server
            .wait_ready(Duration::from_secs(60), || http::is_ok(port, "/metrics"))
            .await?;
        Ok(Self { server })
    }

    /// Its process id (for a benchmark's CPU and memory readings).
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// Its log file.
    pub fn log(&self) -> &std::path::Path {
        self.server.log()
    }
}

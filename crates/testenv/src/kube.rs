//! A local Kubernetes control plane: etcd, kube-apiserver and, on request,
//! kube-controller-manager, started the way controller-runtime's envtest starts them.
//!
//! The binaries are built by `scripts/install-testenv.sh` from the Go modules of one pinned
//! Kubernetes release. Authentication is a static admin token (group `system:masters`) in a
//! generated kubeconfig; the API server serves a certificate from a CA made for this control
//! plane, and signs service-account tokens with a key of its own.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, http, pki, tool};

/// What to start besides etcd and the API server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Also run kube-controller-manager, for tests that need Deployments rolled out,
    /// service accounts created or garbage collected owner references.
    pub controller_manager: bool,
}

/// A running control plane. Dropping it stops every process (see the `process` module).
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig_path: PathBuf,
    kubeconfig: Kubeconfig,
    server_url: String,
    logs: LogDir,
    // Dropped in reverse order of start: controller-manager, API server, then etcd.
    _controller_manager: Option<Process>,
    _apiserver: Process,
    _etcd: Process,
}

impl ControlPlane {
    /// Starts etcd and kube-apiserver (and kube-controller-manager if asked) on free
    /// loopback ports and waits until the API server serves the `default` namespace.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] if a binary is missing; [`Error::NotReady`] (naming the log)
    /// if a server does not come up within a minute.
    pub async fn start(options: Options) -> Result<Self> {
        let etcd_bin = tool("etcd")?;
        let apiserver_bin = tool("kube-apiserver")?;
        let controller_manager_bin = if options.controller_manager {
            Some(tool("kube-controller-manager")?)
        } else {
            None
        };
        let logs = LogDir::for_server("control-plane")?;
        let pki = pki::write(logs.path())?;

        let etcd_port = free_port()?;
        let mut etcd = start_etcd(&etcd_bin, etcd_port, &logs)?;
        etcd.wait_ready(Duration::from_secs(60), || {
            http::is_ok(etcd_port, "/health")
        })
        .await?;

        let token = random_token()?;
        let tokens = logs.join("tokens.csv");
        pki::write_file(
            &tokens,
            &format!("{token},lockstep-admin,lockstep-admin,system:masters\n"),
        )?;
        let port = free_port()?;
        let server_url = format!("https://127.0.0.1:{port}");
        let mut apiserver = start_apiserver(&apiserver_bin, port, etcd_port, &pki, &tokens, &logs)?;

        let kubeconfig_path = logs.join("admin.kubeconfig");
        let kubeconfig_yaml = kubeconfig(&server_url, &pki.ca_cert, &token);
        pki::write_file(&kubeconfig_path, &kubeconfig_yaml)?;
        let kubeconfig = Kubeconfig::from_yaml(&kubeconfig_yaml).map_err(|err| Error::Setup {
            step: "parsing the generated kubeconfig".into(),
            detail: err.to_string(),
        })?;
        let client = client_from(&kubeconfig).await?;
        apiserver
            .wait_ready(Duration::from_secs(90), || {
                let namespaces: Api<Namespace> = Api::all(client.clone());
                async move { namespaces.get_opt("default").await.ok().flatten().is_some() }
            })
            .await?;

        let controller_manager = match controller_manager_bin {
            Some(bin) => {
                let mut manager = start_controller_manager(&bin, &kubeconfig_path, &pki, &logs)?;
                // The service-account controller creating `default` in `default` is the
                // first visible sign that the controllers run.
                manager
                    .wait_ready(Duration::from_secs(90), || {
                        let accounts: Api<ServiceAccount> =
                            Api::namespaced(client.clone(), "default");
                        async move { accounts.get_opt("default").await.ok().flatten().is_some() }
                    })
                    .await?;
                Some(manager)
            }
            None => None,
        };

        Ok(Self {
            kubeconfig_path,
            kubeconfig,
            server_url,
            logs,
            _controller_manager: controller_manager,
            _apiserver: apiserver,
            _etcd: etcd,
        })
    }

    /// One control plane (with controller-manager) for every test in this test binary,
    /// started by the first test that asks. Tests keep apart by using [`Self::namespace`].
    /// Its processes stop when the test binary exits.
    ///
    /// # Errors
    /// As [`Self::start`]; a failed start is retried by the next test that asks.
    pub async fn shared() -> Result<&'static ControlPlane> {
        static SHARED: tokio::sync::OnceCell<ControlPlane> = tokio::sync::OnceCell::const_new();
        SHARED
            .get_or_try_init(|| {
                Self::start(Options {
                    controller_manager: true,
                })
            })
            .await
    }

    /// A new client for this control plane, bound to the caller's tokio runtime (a client
    /// must not outlive the runtime it was made in, so each test makes its own).
    ///
    /// # Errors
    /// [`Error::Kube`] when the kubeconfig cannot be turned into a client.
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// Creates a namespace of its own for one test: `<prefix>-<n>-<random>`, and returns
    /// a client and the namespace's name.
    ///
    /// # Errors
    /// [`Error::Kube`] when the namespace cannot be created.
    pub async fn namespace(&self, prefix: &str) -> Result<(kube::Client, String)> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let client = self.client().await?;
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let suffix = &random_token()?[..6];
        let name = format!("{prefix}-{n}-{suffix}");
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespace)
            .await?;
        Ok((client, name))
    }

    /// The admin kubeconfig file, for programs under test (`KUBECONFIG=...`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The API server's URL (`https://127.0.0.1:<port>`).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The folder with the servers' logs, certificates and kubeconfig.
    pub fn logs(&self) -> &LogDir {
        &self.logs
    }
}

async fn client_from(kubeconfig: &Kubeconfig) -> Result<kube::Client> {
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig.clone(), &KubeConfigOptions::default())
            .await
            .map_err(|err| Error::Setup {
                step: "reading the admin kubeconfig".into(),
                detail: err.to_string(),
            })?;
    Ok(kube::Client::try_from(config)?)
}

fn start_etcd(bin: &Path, port: u16, logs: &LogDir) -> Result<Process> {
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

fn start_apiserver(
    bin: &Path,
    port: u16,
    etcd_port: u16,
    pki: &pki::Pki,
    tokens: &Path,
    logs: &LogDir,
) -> Result<Process> {
    let args = [
        format!("--etcd-servers=http://127.0.0.1:{etcd_port}"),
        "--bind-address=127.0.0.1".to_owned(),
        "--advertise-address=127.0.0.1".to_owned(),
        format!("--secure-port={port}"),
        format!("--tls-cert-file={}", pki.serving_cert.display()),
        format!("--tls-private-key-file={}", pki.serving_key.display()),
        format!("--client-ca-file={}", pki.ca_cert.display()),
        format!("--token-auth-file={}", tokens.display()),
        "--authorization-mode=RBAC".to_owned(),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".to_owned(),
        format!(
            "--service-account-key-file={}",
            pki.service_account_pub.display()
        ),
        format!(
            "--service-account-signing-key-file={}",
            pki.service_account_key.display()
        ),
        "--service-cluster-ip-range=10.96.0.0/16".to_owned(),
        "--allow-privileged=true".to_owned(),
        // Stop at once on SIGTERM; there is no load balancer to drain.
        "--shutdown-delay-duration=0s".to_owned(),
        // Fairness queues cost CPU on a 2-core machine and change nothing for one client.
        "--enable-priority-and-fairness=false".to_owned(),
        "--profiling=false".to_owned(),
    ];
    Process::start("kube-apiserver", bin, &args, &[], logs)
}

fn start_controller_manager(
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

fn kubeconfig(server: &str, ca: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: lockstep-testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: lockstep-admin
  user:
    token: {token}
contexts:
- name: lockstep-testenv
  context:
    cluster: lockstep-testenv
    user: lockstep-admin
current-context: lockstep-testenv
",
        ca = ca.display()
    )
}

/// 32 hex characters from the OS's random source, for tokens and unique names.
pub(crate) fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

//! A local Kubernetes control plane: etcd, kube-apiserver and, on request,
//! kube-controller-manager, started the way controller-runtime's envtest starts them — or,
//! with [`Options::node`], a small whole cluster: the scheduler and a real [`Node`].
//!
//! The binaries are built by `scripts/install-testenv.sh` from the Go modules of one pinned
//! Kubernetes release. Authentication is a static admin token (group `system:masters`) in a
//! generated kubeconfig; the API server serves a certificate from a CA made for this control
//! plane, and signs service-account tokens with a key of its own. A node's kubelet,
//! kube-proxy and the scheduler get tokens of their real identities (`system:node:<name>`
//! under the Node authorizer, `system:kube-proxy`, `system:kube-scheduler`), so they have
//! exactly the rights the built-in RBAC roles give them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::node::{self, Node, Slot};
use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, http, pki, tool};

use credentials::Identities;
pub(crate) use credentials::{kubeconfig, random_token};
use servers::{
    ApiserverListen, apiserver_args, start_controller_manager, start_etcd, start_scheduler,
    write_audit_policy,
};

mod credentials;
mod servers;

/// What to start besides etcd and the API server.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Also run kube-controller-manager, for tests that need Deployments rolled out,
    /// service accounts created or garbage collected owner references.
    pub controller_manager: bool,
    /// Also run kube-scheduler and a [`Node`] where Pods really run (implies
    /// `controller_manager`). The API server then listens on the node's host address
    /// instead of 127.0.0.1, so that Pods reach it.
    pub node: bool,
    /// Record every request in an audit log ([`ControlPlane::audit_log`], JSON lines at
    /// level `Metadata`: who, which verb on which resource, the response code), for tests
    /// of which rights a client uses.
    pub audit: bool,
}

/// A running control plane. Dropping it stops every process (see the `process` module).
#[derive(Debug)]
pub struct ControlPlane {
    kubeconfig_path: PathBuf,
    kubeconfig: Kubeconfig,
    server_url: String,
    logs: LogDir,
    audit_log: Option<PathBuf>,
    // Dropped in reverse order of start: node, scheduler, controller-manager, API server,
    // then etcd.
    node: Option<Node>,
    _scheduler: Option<Process>,
    _controller_manager: Option<Process>,
    /// `None` between [`ControlPlane::stop_apiserver`] and [`ControlPlane::start_apiserver`].
    apiserver: Option<Process>,
    /// How the API server was started, to start it again the same way.
    apiserver_command: (PathBuf, Vec<String>),
    etcd: Process,
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
        let controller_manager_bin = if options.controller_manager || options.node {
            Some(tool("kube-controller-manager")?)
        } else {
            None
        };
        let scheduler_bin = if options.node {
            Node::check()?;
            Some(tool("kube-scheduler")?)
        } else {
            None
        };
        let slot = options.node.then(Slot::reserve).transpose()?;
        let host = slot
            .as_ref()
            .map_or("127.0.0.1".to_owned(), |slot| slot.host_ip().to_string());
        let logs = LogDir::for_server("control-plane")?;
        let extra_names = slot.iter().map(|_| host.clone()).collect::<Vec<_>>();
        let pki = pki::write(logs.path(), &extra_names)?;

        let token = random_token()?;
        let identities = Identities::new()?;
        let tokens = logs.join("tokens.csv");
        let mut token_lines = format!("{token},lockstep-admin,lockstep-admin,system:masters\n");
        if let Some(slot) = &slot {
            token_lines.push_str(&identities.token_lines(&slot.name()));
        }
        pki::write_file(&tokens, &token_lines)?;
        let port = free_port()?;
        let server_url = format!("https://{host}:{port}");

        // The node first: the API server listens on the host end of its veth.
        let started = Instant::now();
        let mut node = match slot {
            Some(slot) => Some(Node::start(
                slot,
                &node::Access {
                    server_url: &server_url,
                    pki: &pki,
                    kubelet_token: &identities.kubelet,
                    proxy_token: &identities.proxy,
                },
            )?),
            None => None,
        };

        let etcd_port = free_port()?;
        let mut etcd = start_etcd(&etcd_bin, etcd_port, &logs)?;
        etcd.wait_ready(Duration::from_secs(60), || {
            http::is_ok(etcd_port, "/health")
        })
        .await?;

        let audit_log = options
            .audit
            .then(|| write_audit_policy(&logs))
            .transpose()?;
        let listen = ApiserverListen {
            host: &host,
            port,
            node_authorizer: node.is_some(),
            audit: audit_log
                .as_ref()
                .map(|(policy, log)| (policy.as_path(), log.as_path())),
        };
        let apiserver_args = apiserver_args(&listen, etcd_port, &pki, &tokens);
        let mut apiserver = Process::start(
            "kube-apiserver",
            &apiserver_bin,
            &apiserver_args,
            &[],
            &logs,
        )?;

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
        let scheduler = match scheduler_bin {
            Some(bin) => {
                let path = logs.join("kube-scheduler.kubeconfig");
                pki::write_file(
                    &path,
                    &self::kubeconfig(&server_url, &pki.ca_cert, &identities.scheduler),
                )?;
                Some(start_scheduler(&bin, &path, &logs)?)
            }
            None => None,
        };
        if let Some(node) = &mut node {
            node.wait_ready(&client, Duration::from_secs(120)).await?;
            tracing::info!(node = node.name(), after = ?started.elapsed(), "test node ready");
        }

        Ok(Self {
            kubeconfig_path,
            kubeconfig,
            server_url,
            logs,
            audit_log: audit_log.map(|(_, log)| log),
            node,
            _scheduler: scheduler,
            _controller_manager: controller_manager,
            apiserver: Some(apiserver),
            apiserver_command: (apiserver_bin, apiserver_args),
            etcd,
        })
    }

    /// Stops the API server (SIGTERM, as a rolling control-plane upgrade does), keeping
    /// etcd and its data: for tests of a controller that loses its API server. Clients get
    /// "connection refused" until [`Self::start_apiserver`].
    pub fn stop_apiserver(&mut self) {
        self.apiserver = None;
    }

    /// Starts the API server again after [`Self::stop_apiserver`], with the same flags,
    /// port, certificates and tokens, and waits until it serves the `default` namespace.
    ///
    /// # Errors
    /// [`Error::NotReady`] (naming the log) if it does not come up within 90 s.
    pub async fn start_apiserver(&mut self) -> Result<()> {
        if self.apiserver.is_some() {
            return Ok(());
        }
        let (bin, args) = &self.apiserver_command;
        let mut apiserver = Process::start("kube-apiserver-restarted", bin, args, &[], &self.logs)?;
        let client = self.client().await?;
        apiserver
            .wait_ready(Duration::from_secs(90), || {
                let namespaces: Api<Namespace> = Api::all(client.clone());
                async move { namespaces.get_opt("default").await.ok().flatten().is_some() }
            })
            .await?;
        self.apiserver = Some(apiserver);
        Ok(())
    }

    /// The process ids of the API server (while it runs) and etcd, for benchmarks that
    /// count what a controller costs the control plane.
    pub fn server_pids(&self) -> Vec<u32> {
        [self.apiserver.as_ref(), Some(&self.etcd)]
            .into_iter()
            .flatten()
            .filter_map(Process::pid)
            .collect()
    }

    /// Freezes etcd (SIGSTOP): it keeps its connections open and answers nothing, as a
    /// stalled disk or a paused VM makes it. [`Self::resume_etcd`] thaws it; a paused etcd
    /// must be resumed before the control plane is dropped, or dropping waits for the
    /// kill.
    ///
    /// # Errors
    /// [`Error::Setup`] when the signal cannot be sent.
    pub fn pause_etcd(&self) -> Result<()> {
        self.etcd.signal("STOP")
    }

    /// Thaws etcd after [`Self::pause_etcd`] (SIGCONT).
    ///
    /// # Errors
    /// [`Error::Setup`] when the signal cannot be sent.
    pub fn resume_etcd(&self) -> Result<()> {
        self.etcd.signal("CONT")
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
                    ..Options::default()
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

    /// The public key (PEM) ServiceAccount tokens are verified with, as a verifier outside
    /// the cluster needs it (OpenBao's JWT auth).
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be read.
    pub fn service_account_public_key(&self) -> Result<String> {
        let path = pki::service_account_public_key(self.logs.path());
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))
    }

    /// The folder with the servers' logs, certificates and kubeconfig.
    pub fn logs(&self) -> &LogDir {
        &self.logs
    }

    /// The audit log (JSON lines, one `audit.k8s.io/v1` Event per request), when started
    /// with [`Options::audit`].
    pub fn audit_log(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The node, when started with [`Options::node`].
    pub fn node(&self) -> Option<&Node> {
        self.node.as_ref()
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

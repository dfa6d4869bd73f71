//! `--kubeconfig` and `--context`: how every command that talks to a cluster (`seal`,
//! `keys`, `diff`, `apply`) finds its API server, with kubectl's defaults.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

/// The kubeconfig file and context to use.
#[derive(Debug, Args, Clone, Default)]
pub struct KubeFlags {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// service account).
    #[arg(long, value_name = "FILE", global = true)]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context (default: the current one).
    #[arg(long, value_name = "NAME", global = true)]
    pub context: Option<String>,
}

impl KubeFlags {
    /// The client configuration: the file and context given, else kubectl's inference
    /// (`KUBECONFIG`, `~/.kube/config`, then the in-cluster service account).
    ///
    /// # Errors
    /// When the kubeconfig cannot be read, or names no such context.
    pub async fn config(&self) -> anyhow::Result<kube::Config> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let file = Kubeconfig::read_from(path)
                    .with_context(|| format!("reading kubeconfig {}", path.display()))?;
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .with_context(|| format!("loading kubeconfig {}", path.display()))?
            }
            (None, Some(context)) => kube::Config::from_kubeconfig(&options)
                .await
                .with_context(|| format!("loading kubeconfig context {context}"))?,
            (None, None) => kube::Config::infer()
                .await
                .context("finding the cluster (KUBECONFIG, ~/.kube/config or in-cluster)")?,
        };
        Ok(config)
    }

    /// A client for the chosen cluster.
    ///
    /// # Errors
    /// As [`KubeFlags::config`], or when the client cannot be built.
    pub async fn client(&self) -> anyhow::Result<kube::Client> {
        kube::Client::try_from(self.config().await?).context("building the Kubernetes client")
    }
}

/// `-n`: the namespace of the object a command names, kubectl's way.
#[derive(Debug, Args, Clone, Default)]
pub struct Namespace {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short, long, value_name = "NS")]
    pub namespace: Option<String>,
}

impl Namespace {
    /// The namespace given, else the kubeconfig context's.
    pub fn chosen(&self, config: &kube::Config) -> String {
        self.namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone())
    }
}

/// `-n` or `-A`: the namespaces a command lists.
#[derive(Debug, Args, Clone, Default)]
pub struct Namespaces {
    #[command(flatten)]
    pub namespace: Namespace,

    /// Every namespace.
    #[arg(short = 'A', long, conflicts_with = "namespace")]
    pub all_namespaces: bool,
}

impl Namespaces {
    /// The namespace chosen; `None` for every namespace.
    pub fn chosen(&self, config: &kube::Config) -> Option<String> {
        (!self.all_namespaces).then(|| self.namespace.chosen(config))
    }
}

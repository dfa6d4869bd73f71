//! `--kubeconfig` and `--context`: how every command that talks to a cluster (`seal`,
//! `keys`, `diff`, `apply`) finds its API server, with kubectl's defaults.

use std::path::PathBuf;
use std::sync::OnceLock;

use anyhow::Context as _;
use clap::Args;
use kube::config::{KubeConfigOptions, Kubeconfig};

use super::report::{Code, Coded, Hint};

/// The API server the command talks to and how it was chosen, for an error that cannot
/// reach it: `https://10.0.0.1:6443 (kubeconfig context prod)`.
static SERVER: OnceLock<String> = OnceLock::new();

/// The API server this process talks to, once a command chose it.
pub fn server() -> Option<&'static str> {
    SERVER.get().map(String::as_str)
}

/// Why no cluster could be found without `--kubeconfig`, as kubectl users look for it.
fn no_config() -> anyhow::Error {
    let message = match std::env::var_os("KUBECONFIG") {
        Some(paths) => {
            let why = Kubeconfig::read().err().map_or_else(
                || "it names no usable context".to_owned(),
                |err| innermost(&err),
            );
            format!(
                "cannot read the kubeconfig KUBECONFIG names ({}): {why}",
                paths.to_string_lossy()
            )
        }
        None => "no Kubernetes config: KUBECONFIG is not set, ~/.kube/config cannot be read, \
                 and this is not a Pod with a service account"
            .to_owned(),
    };
    Coded::new(Code::Generic, message)
        .hint(Hint::new(
            "pass --kubeconfig FILE, or set KUBECONFIG to a kubeconfig file (as kubectl reads it)",
        ))
        .into()
}

/// The namespace of the current kubeconfig context, read from the file without contacting
/// the cluster, else `default` (kubectl's): `render`'s owner namespace, the one `diff`
/// and `apply` take from the context.
pub fn context_namespace() -> String {
    Kubeconfig::read()
        .ok()
        .and_then(|config| {
            let current = config.current_context?;
            let named = config.contexts.into_iter().find(|c| c.name == current)?;
            named.context?.namespace
        })
        .unwrap_or_else(|| "default".to_owned())
}

/// The last cause of `err`: what actually failed (`No such file or directory (os error 2)`).
pub fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    let mut last = err;
    while let Some(source) = last.source() {
        last = source;
    }
    last.to_string()
}

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
            (None, None) => kube::Config::infer().await.map_err(|_| no_config())?,
        };
        let context = match (&self.context, &self.kubeconfig) {
            (Some(context), _) => Some(context.clone()),
            (None, Some(path)) => Kubeconfig::read_from(path)
                .ok()
                .and_then(|k| k.current_context),
            (None, None) => Kubeconfig::read().ok().and_then(|k| k.current_context),
        };
        let server = match context {
            Some(context) => format!("{} (kubeconfig context {context})", config.cluster_url),
            None => format!("{} (in-cluster service account)", config.cluster_url),
        };
        // One cluster per process: a later failure to reach it names it (`report`).
        let _ = SERVER.set(server);
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

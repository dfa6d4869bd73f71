//! Command-line flags. Names and defaults follow the Bitnami controller where they exist
//! (`--key-prefix`, `--key-renew-period`, `--listen-addr`, …), so its deployment manifests
//! translate one to one.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use lockstep_engine::redact;

/// The in-cluster controller: unseals SealedSecrets and owns the sealing keys.
#[derive(Debug, Parser)]
#[command(name = "lockstep-controller", version, about)]
pub struct Flags {
    /// Namespace holding the sealing key Secrets (the controller's own namespace).
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub namespace: String,

    /// Watch every namespace; `--all-namespaces=false` watches only `--namespace` (as the
    /// Bitnami flag of the same name), and for SealedSecrets and ExternalSecrets also
    /// `--additional-namespaces`. Scopes every kind served.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub all_namespaces: bool,

    /// With `--all-namespaces=false`, also watch these namespaces for SealedSecrets and
    /// ExternalSecrets (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub additional_namespaces: Vec<String>,

    /// Name prefix of the key Secrets (`generateName`), as the Bitnami controller's.
    #[arg(long, default_value = "sealed-secrets-key")]
    pub key_prefix: String,

    /// How often a new sealing key is made; `0s` disables renewal. Go duration syntax
    /// (`720h`), as the Bitnami controller takes it.
    #[arg(long, default_value = "720h", value_parser = parse_duration)]
    pub key_renew_period: Duration,

    /// Size of new RSA sealing keys in bits.
    #[arg(long, default_value_t = 4096)]
    pub key_size: usize,

    /// Address of the certificate / verify / re-encrypt API and `/healthz`.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen_addr: SocketAddr,

    /// The rate limit of `/v1/verify`.
    #[command(flatten)]
    pub verify_rate_limit: crate::http::RateLimitFlags,

    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub listen_metrics_addr: SocketAddr,

    /// Address of the web UI; off unless set. A user signs in with a Kubernetes bearer
    /// token, and what the UI reads and writes for them is what their RBAC allows.
    #[arg(long)]
    pub listen_ui_addr: Option<SocketAddr>,

    /// Run the Git sync controllers (`GitSource`, `Sync`) besides the SealedSecret one.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub sync: bool,

    /// Serve the External Secrets Operator's `external-secrets.io/v1` ExternalSecrets
    /// (Vault/OpenBao stores), in place of ESO. Needs ESO's CRDs or Lockstep's
    /// (`deploy/crds/external-secrets.io_*.yaml`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub external_secrets: bool,

    /// Serve Flux's `source.toolkit.fluxcd.io/v1` GitRepositories and
    /// `kustomize.toolkit.fluxcd.io/v1` Kustomizations with the Git sync controllers, in place
    /// of Flux's source- and kustomize-controller (needs `--sync`). Needs Flux's CRDs or
    /// Lockstep's (`deploy/crds/*.toolkit.fluxcd.io_*.yaml`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub flux: bool,

    /// Serve Argo CD's `argoproj.io/v1alpha1` Applications (and read their AppProjects)
    /// with the Git sync controllers, in place of Argo CD's application controller (needs
    /// `--sync`). Needs Argo CD's CRDs or Lockstep's (`deploy/crds/argoproj.io_*.yaml`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub argocd: bool,

    /// Serve Flux's `notification.toolkit.fluxcd.io/v1` Receivers: push webhooks on
    /// `--receiver-addr` ask for a reconcile of the GitSources and Syncs (and, with
    /// `--flux`, GitRepositories and Kustomizations) they name. Needs Flux's Receiver CRD
    /// or Lockstep's (`deploy/crds/notification.toolkit.fluxcd.io_receivers.yaml`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub receivers: bool,

    /// Send the events of this controller's objects to Flux's
    /// `notification.toolkit.fluxcd.io/v1beta3` Providers whose Alerts listen to them
    /// (`generic`, `generic-hmac`, `slack`, `github` commit status). Needs Flux's Alert and Provider CRDs or
    /// Lockstep's (`deploy/crds/notification.toolkit.fluxcd.io_{alerts,providers}.yaml`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set)]
    pub alerts: bool,

    /// Address of the Receivers' webhook endpoint (`/hook/…`), apart from the sealing API
    /// so that only it is exposed to the Git server; Flux's port.
    #[arg(long, default_value = "0.0.0.0:9292")]
    pub receiver_addr: SocketAddr,

    /// How often an Application is fetched and compared, which is also how soon drift
    /// is corrected with `selfHeal` (Argo CD's `timeout.reconciliation`).
    #[arg(long, default_value = "3m", value_parser = parse_duration)]
    pub argocd_interval: Duration,

    /// Take the `lockstep-controller-leader` Lease in `--namespace` before reconciling
    /// GitSources and Syncs, so that only one replica does.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Where fetched Git repositories and revision artifacts are cached.
    #[arg(long, default_value = "/tmp/lockstep-artifacts")]
    pub artifact_dir: std::path::PathBuf,

    /// How many revision artifacts the cache keeps.
    #[arg(long, default_value_t = 16)]
    pub artifact_keep: usize,

    /// How many Syncs, and SealedSecrets and ExternalSecrets of each watched namespace, are
    /// reconciled at once (Flux's and ESO's `--concurrent`).
    #[arg(long, default_value_t = 8)]
    pub concurrent: u16,

    /// How soon a Sync waiting for a dependency or a source artifact looks again.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub requeue_dependency: Duration,

    /// Refuse `sourceRef` and `dependsOn` entries that name another namespace (for
    /// multi-tenant clusters).
    #[arg(long)]
    pub no_cross_namespace_refs: bool,

    /// ServiceAccount (in each Sync's own namespace) to impersonate for Syncs that name
    /// none in `spec.serviceAccountName`, as Flux's flag of the same name: with it, no Sync
    /// applies with the controller's own identity unless it asks to by name.
    #[arg(long)]
    pub default_service_account: Option<String>,

    /// Kustomize remote bases and resources (`https://…`, `github.com/…`) are refused.
    /// Always on: Lockstep never fetches them (the source's own files only); the flag
    /// exists so Flux's lockdown arguments carry over, and `=false` is refused.
    #[arg(long = "no-remote-bases", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set,
          value_parser = remote_bases_refused)]
    pub _no_remote_bases: bool,

    /// How long stopping may take after SIGTERM before the process exits with reconciles
    /// still in flight (below Kubernetes' default 30 s grace period, so it exits on its
    /// own terms there too).
    #[arg(long, default_value = "25s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Handle only GitSources and Syncs matching this label selector (sharding across
    /// controller instances, e.g. `sharding.lockstep.dev/key=shard1`).
    #[arg(long)]
    pub watch_label_selector: Option<String>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,

    /// Level of Lockstep's own log lines; the libraries below log warnings only.
    /// `RUST_LOG`, when set, replaces both.
    #[arg(long, value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,
}

/// `--log-level`.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogLevel {
    /// Everything Lockstep traces.
    Trace,
    /// Decisions on the way (cached revisions, skipped writes).
    Debug,
    /// One line per reconcile outcome and per fetch, leadership, listeners.
    Info,
    /// What went wrong.
    Warn,
    /// Only failures of the controller itself.
    Error,
}

impl LogLevel {
    /// The `tracing` filter: this level for Lockstep's crates, warnings for the rest
    /// (hyper, rustls, kube-runtime's "press ctrl+c" lines).
    fn filter(self) -> String {
        let level = format!("{self:?}").to_lowercase();
        let ours = [
            "lockstep_controller",
            "lockstep_engine",
            "lockstep_keys",
            "lockstep_sops",
            "lockstep_sealed",
        ];
        let ours: Vec<String> = ours.iter().map(|t| format!("{t}={level}")).collect();
        format!("warn,{}", ours.join(","))
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Installs the global tracing subscriber: `RUST_LOG` if set, else `level`
/// ([`LogLevel::filter`]). Every line, whichever crate logs it and at whatever level, is
/// written through [`redact::scrubbed_stdout`], which hides the secret values reconciles
/// hold right now. Colours only on a terminal.
pub fn init_logging(format: LogFormat, level: LogLevel) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level.filter()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(redact::scrubbed_stdout);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// [`lockstep_api::parse_duration`], as clap wants it.
fn parse_duration(text: &str) -> Result<Duration, String> {
    lockstep_api::parse_duration(text).map_err(|e| e.to_string())
}

/// `--no-remote-bases` takes only `true`: remote bases are never fetched.
fn remote_bases_refused(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Err("Lockstep never fetches kustomize remote bases; \
             vendor them into the repository (the flag takes only true)"
            .to_owned()),
        other => Err(format!("expected true, not {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_bases_can_only_be_refused() {
        let parse = |args: &[&str]| {
            Flags::try_parse_from(
                std::iter::once("lockstep-controller").chain(args.iter().copied()),
            )
        };
        assert!(parse(&[]).is_ok());
        assert!(parse(&["--no-remote-bases"]).is_ok());
        assert!(parse(&["--no-remote-bases=true"]).is_ok());
        let err = parse(&["--no-remote-bases=false"]).unwrap_err().to_string();
        assert!(
            err.contains("never fetches kustomize remote bases"),
            "{err}"
        );
        let flags = parse(&["--default-service-account", "deployer"]).unwrap();
        assert_eq!(flags.default_service_account.as_deref(), Some("deployer"));
    }
}

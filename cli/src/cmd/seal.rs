//! `lockstep seal`: kubeseal's sealing mode, with kubeseal's flag names.
//!
//! Reads Secrets (YAML or JSON, `-f` or stdin) and writes SealedSecrets sealed to the
//! certificate given with `--cert`, or fetched from the controller through the API server
//! (see [`cluster`]); `--raw` seals one value; `--merge-into` adds items to an existing
//! sealed file. `--fetch-cert`, `--validate` and `--re-encrypt` ask the controller.

mod cluster;

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use lockstep_keys::sealing::Certificate;
use lockstep_sealed::{Format, Scope, SealOptions, manifest};

use super::cluster::KubeFlags;
use super::output::Output;

/// Seal Kubernetes Secrets into SealedSecrets (kubeseal-compatible flags).
#[derive(Debug, Args)]
pub struct SealArgs {
    /// Certificate to seal to: a local file, a `file://` URL or an `http(s)://` URL
    /// (proxy environment variables are not used). Without it, the certificate is fetched
    /// from the controller through the API server.
    #[arg(long, env = "SEALED_SECRETS_CERT", value_name = "FILE|URL")]
    cert: Option<String>,

    /// Print the certificate (from --cert, or from the controller) and exit.
    #[arg(long = "fetch-cert", conflicts_with_all = ["validate", "re_encrypt", "raw", "merge_into"])]
    fetch_cert: bool,

    /// Ask the controller whether it can unseal the input SealedSecret (POST /v1/verify).
    #[arg(long, conflicts_with_all = ["re_encrypt", "raw", "merge_into"])]
    validate: bool,

    /// Re-encrypt the input SealedSecret with the controller's newest key (POST /v1/rotate).
    #[arg(long = "re-encrypt", conflicts_with_all = ["raw", "merge_into"])]
    re_encrypt: bool,

    /// Name of the controller's Service.
    #[arg(
        long = "controller-name",
        env = "SEALED_SECRETS_CONTROLLER_NAME",
        default_value = "sealed-secrets-controller"
    )]
    controller_name: String,

    /// Namespace of the controller's Service.
    #[arg(
        long = "controller-namespace",
        env = "SEALED_SECRETS_CONTROLLER_NAMESPACE",
        default_value = "kube-system"
    )]
    controller_namespace: String,

    #[command(flatten)]
    kube: KubeFlags,

    /// Scope: strict (default), namespace-wide or cluster-wide. Without it, the scope
    /// annotations of the input Secret decide; with it, they are rewritten.
    #[arg(long, env = "SEALED_SECRETS_SCOPE", value_enum)]
    scope: Option<ScopeArg>,

    /// Output format (kubeseal's default is json). A `-w` file ending in .yaml/.yml is
    /// written as YAML.
    #[arg(short = 'o', long = "format", value_enum, default_value = "json")]
    format: FormatArg,

    /// Input Secret file (default: stdin).
    #[arg(short = 'f', long = "secret-file", value_name = "FILE")]
    secret_file: Option<PathBuf>,

    /// Write the output to this file (atomically, only on success) instead of stdout.
    #[arg(short = 'w', long = "sealed-secret-file", value_name = "FILE")]
    sealed_secret_file: Option<PathBuf>,

    /// Seal one raw value (stdin or --from-file) and print the bare base64, no newline.
    #[arg(long)]
    raw: bool,

    /// Name to seal for (overrides metadata.name; required by --raw with strict scope).
    #[arg(long)]
    name: Option<String>,

    /// Namespace to seal for (when the input has none; must match it otherwise).
    #[arg(short = 'n', long, env = "SEALED_SECRETS_NAMESPACE")]
    namespace: Option<String>,

    /// With --raw: read the value from this file (`[key=]path`; the key is ignored).
    #[arg(long = "from-file", value_name = "[KEY=]PATH", requires = "raw")]
    from_file: Option<String>,

    /// Seal the input for this existing SealedSecret file and add its items to it, in
    /// place. Other items keep their exact bytes; the file keeps its format.
    #[arg(long = "merge-into", value_name = "FILE", conflicts_with_all = ["raw", "sealed_secret_file"])]
    merge_into: Option<PathBuf>,

    /// Allow Secrets with neither data nor stringData.
    #[arg(long = "allow-empty-data")]
    allow_empty_data: bool,
}

/// `--scope` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum ScopeArg {
    Strict,
    NamespaceWide,
    ClusterWide,
}

impl From<ScopeArg> for Scope {
    fn from(s: ScopeArg) -> Self {
        match s {
            ScopeArg::Strict => Scope::Strict,
            ScopeArg::NamespaceWide => Scope::NamespaceWide,
            ScopeArg::ClusterWide => Scope::ClusterWide,
        }
    }
}

/// `-o/--format` values.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum FormatArg {
    Json,
    Yaml,
}

impl FormatArg {
    /// The format to write, where a `-w` file's extension wins as in kubeseal.
    pub(crate) fn for_output(self, file: Option<&Path>) -> Format {
        let ext = file.and_then(Path::extension).and_then(|e| e.to_str());
        match (ext, self) {
            (Some("yaml" | "yml"), _) | (_, Self::Yaml) => Format::Yaml,
            (_, Self::Json) => Format::Json,
        }
    }
}

/// Runs `lockstep seal`.
pub fn run(args: SealArgs) -> anyhow::Result<ExitCode> {
    if args.validate || args.re_encrypt {
        return ask_controller(&args);
    }
    let (pem, source) = match &args.cert {
        Some(source) => (read_cert(source)?, source.clone()),
        None => {
            let controller = cluster::Controller::connect(&controller_ref(&args))?;
            let source = format!(
                "service {}/{}",
                args.controller_namespace, args.controller_name
            );
            (controller.cert()?, source)
        }
    };
    if args.fetch_cert {
        write_output(args.sealed_secret_file.as_deref(), &pem)?;
        return Ok(ExitCode::SUCCESS);
    }
    let cert = parse_cert(&pem, &source)?;
    let key = cert.public_key();

    if args.raw {
        let value = match &args.from_file {
            Some(spec) => {
                let path = spec.split_once('=').map_or(spec.as_str(), |(_, p)| p);
                read_input(Some(Path::new(path)))?
            }
            None => read_input(args.secret_file.as_deref())?,
        };
        let scope = args.scope.map(Scope::from).unwrap_or_default();
        let sealed = lockstep_sealed::seal_raw(
            key,
            scope,
            args.namespace.as_deref(),
            args.name.as_deref(),
            &value,
        )
        .context("sealing the raw value")?;
        write_output(args.sealed_secret_file.as_deref(), sealed.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }

    let input = read_input(args.secret_file.as_deref())?;
    let mut secrets = manifest::parse_secrets(&input).context("reading the input Secret")?;
    drop(input);

    if let Some(target) = &args.merge_into {
        if secrets.len() != 1 {
            bail!(
                "--merge-into takes exactly one input Secret, got {}",
                secrets.len()
            );
        }
        let existing = super::input::read(Some(target))?;
        let (merged, _) =
            lockstep_sealed::merge_into(&existing, secrets.remove(0), key, args.allow_empty_data)
                .with_context(|| format!("merging into {}", target.display()))?;
        Output::InPlace(target).write(merged.as_bytes())?;
        return Ok(ExitCode::SUCCESS);
    }

    let options = SealOptions::default()
        .with_scope(args.scope.map(Scope::from))
        .with_name(args.name.clone())
        .with_namespace(args.namespace.clone())
        .with_allow_empty_data(args.allow_empty_data);
    let sealed = lockstep_sealed::seal_all(secrets, key, &options).context("sealing")?;
    let format = args.format.for_output(args.sealed_secret_file.as_deref());
    let text = manifest::sealed_secrets_to_string(&sealed, format)?;
    write_output(args.sealed_secret_file.as_deref(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// `--validate` and `--re-encrypt`: the input SealedSecret goes to the controller as read.
fn ask_controller(args: &SealArgs) -> anyhow::Result<ExitCode> {
    let input = read_input(args.secret_file.as_deref())?;
    let controller = cluster::Controller::connect(&controller_ref(args))?;
    if args.validate {
        controller.verify(input.to_vec())?;
        return Ok(ExitCode::SUCCESS);
    }
    let json = controller.rotate(input.to_vec())?;
    let mut sealed = manifest::parse_sealed_secret(json.as_bytes())
        .context("reading the controller's re-encrypted SealedSecret")?;
    // As kubeseal: the output is a manifest, not the server's copy of an object.
    sealed.metadata.creation_timestamp = None;
    sealed.metadata.deletion_timestamp = None;
    sealed.metadata.generation = None;
    let format = args.format.for_output(args.sealed_secret_file.as_deref());
    let text = manifest::sealed_secrets_to_string(std::slice::from_ref(&sealed), format)?;
    write_output(args.sealed_secret_file.as_deref(), text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn controller_ref(args: &SealArgs) -> cluster::ControllerRef<'_> {
    cluster::ControllerRef {
        namespace: &args.controller_namespace,
        name: &args.controller_name,
        kube: &args.kube,
    }
}

/// Reads `--cert`: a path, a `file://` URL, or an `http(s)://` URL.
fn read_cert(source: &str) -> anyhow::Result<Vec<u8>> {
    if let Some(path) = source.strip_prefix("file://") {
        std::fs::read(path).with_context(|| format!("reading --cert {path}"))
    } else if source.starts_with("http://") || source.starts_with("https://") {
        fetch(source).with_context(|| format!("fetching --cert {source}"))
    } else {
        std::fs::read(source).with_context(|| format!("reading --cert {source}"))
    }
}

/// Parses the certificate and refuses an expired one, as kubeseal does.
fn parse_cert(pem: &[u8], source: &str) -> anyhow::Result<Certificate> {
    let cert = Certificate::from_pem(pem)
        .with_context(|| format!("reading the certificate from {source}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    if cert.is_expired_at(now) {
        bail!(
            "failed to encrypt using an expired certificate (NotAfter {} seconds after the epoch); fetch the controller's current certificate",
            cert.not_after_unix()
        );
    }
    Ok(cert)
}

/// GETs a certificate the way kubeseal asks for one.
fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    let response = reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()?
        .get(url)
        .header("Accept", "application/x-pem-file, */*")
        .send()?
        .error_for_status()?;
    Ok(response.bytes()?.to_vec())
}

/// Reads a file, or stdin when `path` is `None` or `-` ([`super::input::read`]), saying
/// so as kubeseal does when stdin is a tty.
pub(crate) fn read_input(path: Option<&Path>) -> anyhow::Result<zeroize::Zeroizing<Vec<u8>>> {
    if path.is_none_or(|p| p == Path::new("-")) && std::io::stdin().is_terminal() {
        eprintln!("(tty detected: expecting json/yaml k8s resource in stdin)");
    }
    super::input::read(path)
}

/// Writes to `-w FILE` (atomically, permissions of an existing file kept) or stdout.
pub(crate) fn write_output(file: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match file {
        Some(path) => Output::File(path),
        None => Output::Stdout,
    }
    .write(bytes)
}

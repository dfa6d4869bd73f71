//! `lockstep render`: prints the objects a path or Git URL renders to, as `lockstep apply`
//! would apply them, with Secret values hidden. Also the source handling that `diff` and
//! `apply` share: a local folder or a fetched Git revision, rendered off the async runtime,
//! and for them SOPS-encrypted values decrypted in memory with the user's own keys.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use lockstep_engine::fetch::{Fetcher, GitReference, redact_url, scrub_url};
use lockstep_engine::hooks::Hook;
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::redact::{Redactor, redact_secret};
use lockstep_engine::render::helm::{Chart, render_chart};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, is_cluster_scoped_builtin, render};
use lockstep_engine::secrets::{self, Prepared, SecretsError};
use lockstep_keys::age::AgeIdentities;
use serde_json::Value;

/// Print the objects a folder or Git URL renders to (Secret values hidden).
#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    source: SourceArgs,

    /// Add the ownership labels of this name, as `lockstep apply --name` does.
    #[arg(long)]
    name: Option<String>,

    /// Namespace of the owner named by --name (default: the kubeconfig context's, as
    /// `diff` and `apply` take it; `default` without a kubeconfig).
    #[arg(long, value_name = "NS", requires = "name")]
    inventory_namespace: Option<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    output: Output,
}

/// How `render` prints objects.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum Output {
    /// One YAML document per object.
    Yaml,
    /// A `v1 List` holding the objects.
    Json,
}

/// Where manifests come from: shared by `render`, `diff` and `apply`.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// A local folder, or a Git URL (`git://`, `https://`, `http://`, `file://`, `ssh://`).
    #[arg(value_name = "PATH|URL")]
    source: String,

    /// For a URL: a branch, `refs/heads/NAME`, `refs/tags/NAME`, `semver:RANGE` (the highest
    /// matching tag) or a 40-hex commit.
    #[arg(long = "ref", value_name = "REF", default_value = "main")]
    reference: String,

    /// Folder inside the source to render (a kustomization is built with kustomize).
    #[arg(long, value_name = "DIR", default_value = "")]
    path: String,

    /// Namespace set on every namespaced object (overriding the manifests' own); with
    /// --helm, the release namespace (default `default`).
    #[arg(long, value_name = "NS")]
    target_namespace: Option<String>,

    /// Render --path as a Helm chart (a folder holding `Chart.yaml`) with the real `helm
    /// template`, as a Sync's `helm` block renders it.
    #[arg(long)]
    helm: bool,

    /// With --helm: the release name (default: the chart folder's name).
    #[arg(long, value_name = "NAME", requires = "helm")]
    release_name: Option<String>,

    /// With --helm: a values file, relative to the chart folder, merged over the chart's
    /// own in the order given; a SOPS-encrypted one is decrypted in memory with your keys.
    #[arg(long = "values", value_name = "FILE", requires = "helm")]
    values: Vec<String>,
}

/// Rendered objects and the revision they came from.
pub struct Rendered {
    /// The objects, in render order.
    pub manifests: Vec<Manifest>,
    /// `main@sha1:…` for a URL, `None` for a local folder.
    pub revision: Option<String>,
    /// Every value decrypted or resolved, to scrub from messages, diffs and output.
    pub redactor: Redactor,
    /// A chart's Helm hooks (`--helm`), run around the apply, never printed.
    pub hooks: Vec<Hook>,
    /// Keeps the values scrubbed from log lines while the objects are in use.
    _prepared: Option<Prepared>,
}

impl Rendered {
    /// The hooks as people read them: `Job/migrate (pre-install, pre-upgrade); …`.
    pub fn hook_list(&self) -> String {
        let hooks: Vec<String> = self.hooks.iter().map(describe_hook).collect();
        hooks.join("; ")
    }
}

impl SourceArgs {
    /// Fetches the source if it is a URL, then renders `--path` with `owner`'s labels;
    /// with `decrypt`, the engine's secrets stage runs with the user's own keys
    /// ([`Keys::own`]: every identity source `lockstep decrypt` reads, and `VAULT_ADDR` and
    /// the Vault token for references).
    pub async fn render(&self, owner: Option<Owner>, decrypt: bool) -> anyhow::Result<Rendered> {
        let (root, revision) = if self.source.contains("://") {
            let cache = cache_dir().join("cli-git");
            let fetched = Fetcher::new(&cache, 3)
                .fetch(&self.source, &parse_ref(&self.reference))
                .await
                // The error chain can quote the URL as given, credentials and all.
                .map_err(|err| {
                    anyhow::anyhow!("{}", scrub_url(&super::report::chain(&err), &self.source))
                })
                .with_context(|| format!("fetching {}", redact_url(&self.source)))?;
            (fetched.artifact.path, Some(fetched.artifact.revision))
        } else {
            (PathBuf::from(&self.source), None)
        };
        let (root, path) = self.local_file(root)?;
        let mut options = RenderOptions {
            owner,
            target_namespace: self.target_namespace.clone(),
            overlay: None,
            directory: None,
        };
        // A chart's values files are decrypted before it renders, so its keys come first.
        let (rendered, keys) = if self.helm {
            let (keys, problems) = own_keys()?;
            let mut chart = self.chart(&path, options.target_namespace.take());
            // As `helm dependency build` would, into `$XDG_CACHE_HOME/lockstep/cli-charts`.
            chart.dependencies = Fetcher::new(cache_dir().join("cli-charts"), 3)
                .fetch_dependencies(&root, &path)
                .await
                .map_err(|err| anyhow::anyhow!("{path}: {err}"))?;
            let chart_keys = keys.clone();
            let task = tokio::task::spawn_blocking(move || {
                render_chart(&root, &chart, &chart_keys, &options)
            });
            (task.await, Some((keys, problems)))
        } else {
            let task = tokio::task::spawn_blocking(move || render(&root, &path, &options));
            (task.await, None)
        };
        let rendered = rendered
            .context("render task")?
            .with_context(|| format!("rendering {}", self.describe()))?;
        if !decrypt {
            return Ok(Rendered {
                manifests: rendered.manifests,
                revision,
                // A chart's decrypted values files: hidden in what render prints.
                redactor: rendered.redactor,
                hooks: rendered.hooks,
                _prepared: None,
            });
        }
        let (keys, problems) = match keys {
            Some(keys) => keys,
            None => own_keys()?,
        };
        let mut prepared = secrets::prepare(rendered, &keys, Redactor::new())
            .await
            .map_err(|err| {
                let mut what = match err {
                    SecretsError::Reference(_) => "resolving the references of",
                    _ => "decrypting",
                }
                .to_owned();
                what += &format!(" {}", self.describe());
                if !problems.is_empty() {
                    what += &format!(" (identity sources with problems: {})", problems.join("; "));
                }
                anyhow::Error::new(err).context(what)
            })?;
        Ok(Rendered {
            manifests: std::mem::take(&mut prepared.manifests),
            revision,
            redactor: std::mem::take(&mut prepared.redactor),
            hooks: std::mem::take(&mut prepared.hooks),
            _prepared: Some(prepared),
        })
    }

    /// The chart `--helm` names: `path` (the folder inside the source), released in
    /// `namespace` (default `default`) under `--release-name` or the folder's name.
    fn chart(&self, path: &str, namespace: Option<String>) -> Chart {
        let folder = path
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default();
        let fallback = if folder.is_empty() { "release" } else { folder };
        Chart {
            path: path.to_owned(),
            release_name: self
                .release_name
                .clone()
                .unwrap_or_else(|| fallback.to_owned()),
            namespace: namespace.unwrap_or_else(|| "default".to_owned()),
            values_files: self.values.clone(),
            include_crds: true,
            ..Chart::default()
        }
    }

    /// A local source that is one manifest file renders as its folder with `--path` the
    /// file, as `kubectl apply -f FILE` takes it; a local source that does not exist is
    /// named as such.
    fn local_file(&self, root: PathBuf) -> anyhow::Result<(PathBuf, String)> {
        if self.source.contains("://") {
            return Ok((root, self.path.clone()));
        }
        let meta = std::fs::metadata(&root).map_err(|err| {
            anyhow::anyhow!(
                "{}: {err}; give a folder, a manifest file or a Git URL",
                self.source
            )
        })?;
        if !meta.is_file() {
            return Ok((root, self.path.clone()));
        }
        anyhow::ensure!(
            self.path.is_empty(),
            "{} is a file: --path names a folder inside a folder or Git source",
            self.source
        );
        let name = root.file_name().map(|n| n.to_string_lossy().into_owned());
        let folder = root
            .parent()
            .map(PathBuf::from)
            .filter(|p| !p.as_os_str().is_empty());
        Ok((
            folder.unwrap_or_else(|| PathBuf::from(".")),
            name.unwrap_or_default(),
        ))
    }

    /// The source and path, for messages.
    pub fn describe(&self) -> String {
        let source = redact_url(&self.source);
        if self.path.is_empty() {
            source
        } else {
            format!("{source} (path {})", self.path)
        }
    }
}

/// The user's own keys ([`Keys::own`]: every identity source `lockstep decrypt` reads, and
/// `VAULT_ADDR` and the Vault token for references), and the identity sources that had
/// problems, for an error to name.
fn own_keys() -> anyhow::Result<(Keys, Vec<String>)> {
    let identities = AgeIdentities::from_process_env();
    let problems = identities
        .problems()
        .iter()
        .map(|e| e.to_string())
        .collect();
    let keys = Keys::own(identities, Ambient::from_process()).context("loading your keys")?;
    Ok((keys, problems))
}

/// `Job/migrate (pre-install, pre-upgrade)`: a hook as a person reads it.
fn describe_hook(hook: &Hook) -> String {
    let events: Vec<&str> = hook.events().iter().map(|e| e.as_str()).collect();
    let manifest = &hook.manifest;
    format!(
        "{}/{} ({})",
        manifest.kind(),
        manifest.name(),
        events.join(", ")
    )
}

/// `$XDG_CACHE_HOME/lockstep`, else `~/.cache/lockstep`.
fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("lockstep")
}

fn parse_ref(reference: &str) -> GitReference {
    if let Some(tag) = reference.strip_prefix("refs/tags/") {
        GitReference::Tag(tag.to_owned())
    } else if let Some(range) = reference.strip_prefix("semver:") {
        GitReference::Semver(range.to_owned())
    } else if reference.len() == 40 && reference.bytes().all(|b| b.is_ascii_hexdigit()) {
        GitReference::Commit(reference.to_ascii_lowercase())
    } else {
        let branch = reference.strip_prefix("refs/heads/").unwrap_or(reference);
        GitReference::Branch(branch.to_owned())
    }
}

/// Puts objects without a namespace into `namespace`, as kubectl does with the context's
/// namespace. Cluster-scoped kinds keep none (apply drops it again for custom kinds that
/// discovery says are cluster-scoped).
pub fn default_namespace(manifests: &mut [Manifest], namespace: &str) {
    for manifest in manifests {
        if manifest.namespace().is_none() && !is_cluster_scoped_builtin(manifest.kind()) {
            manifest.object["metadata"]["namespace"] = Value::String(namespace.to_owned());
        }
    }
}

/// Runs `lockstep render`.
pub fn run(args: RenderArgs) -> anyhow::Result<ExitCode> {
    let owner = args.name.map(|name| {
        let namespace = args
            .inventory_namespace
            .unwrap_or_else(super::cluster::context_namespace);
        Owner::lockstep(name, namespace)
    });
    let rendered = runtime()?.block_on(args.source.render(owner, false))?;
    if !rendered.hooks.is_empty() {
        eprintln!(
            "lockstep: {} Helm hook(s) not shown, run by a Sync around the apply: {}",
            rendered.hooks.len(),
            rendered.hook_list()
        );
    }
    if rendered.manifests.is_empty() {
        eprintln!(
            "lockstep: warning: {} renders no objects",
            args.source.describe()
        );
    }
    let mut objects: Vec<Value> = rendered.manifests.into_iter().map(|m| m.object).collect();
    for object in &mut objects {
        redact_secret(object);
        // Values a chart's SOPS values files gave, wherever a template put them.
        rendered.redactor.scrub_value(object);
    }
    let text = match args.output {
        Output::Yaml => {
            let mut text = String::new();
            for object in &objects {
                text.push_str("---\n");
                text.push_str(&serde_saphyr::to_string(object).context("writing YAML")?);
                if !text.ends_with('\n') {
                    text.push('\n');
                }
            }
            text
        }
        Output::Json => {
            let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": objects});
            serde_json::to_string_pretty(&list)? + "\n"
        }
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// The runtime the cluster commands run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_like_the_docs_say() {
        assert_eq!(parse_ref("main"), GitReference::Branch("main".into()));
        assert_eq!(parse_ref("refs/tags/v1"), GitReference::Tag("v1".into()));
        assert_eq!(
            parse_ref("semver:>=1.0.0 <2.0.0"),
            GitReference::Semver(">=1.0.0 <2.0.0".into())
        );
        let sha = "0123456789abcdef0123456789ABCDEF01234567";
        assert_eq!(
            parse_ref(sha),
            GitReference::Commit(sha.to_ascii_lowercase())
        );
    }
}

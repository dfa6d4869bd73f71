//! Rendering a Helm chart of the source with the external `helm template`, the way Argo CD
//! renders `source.helm`: the chart folder (one holding `Chart.yaml`) inside the source,
//! its dependencies only from its vendored `charts/` folder (nothing is downloaded, and
//! `helm dependency build` is never run), rendered client-side, so `lookup` answers
//! empty.
//!
//! Values are the chart's own `values.yaml`, then the Sync's values files in order, then
//! the values a front-end read from Secrets (a HelmRelease's `valuesFrom`, every value
//! learnt by the redactor), then its inline values, merged as Helm merges `-f` files. A values file may be
//! SOPS-encrypted: it is decrypted in memory with the Sync's keys
//! ([`crate::decrypt::decrypt_whole`]), every value learnt by the render's redactor, and
//! the merged values reach helm on its standard input (`--values -`), never on disk.
//!
//! `helm` is found and sandboxed as kustomize is ([`super::program`]). Its error line
//! names the template file and line; only that first line is kept, sanitized as
//! kustomize's is, and scrubbed of every decrypted value.
//!
//! Hooks (`helm.sh/hook`) are handed over in [`Rendered::hooks`], labelled and namespaced
//! as the other objects, to run around the apply ([`crate::hooks`]); they are never
//! applied with the objects. Objects that name no namespace get the release namespace, and
//! every object but hooks and `crds/` carries Helm's ownership label and annotations, as
//! `helm install` writes them, so Helm and Flux adopt what Lockstep applied.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lockstep_api::SopsFileUsed;
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::post_render::post_render;
use super::program::{self, RunError};
use super::sanitize::sanitize;
use super::{
    Inputs, Manifest, RenderError, RenderOptions, Rendered, decorate, files, overlay, yaml,
};
use crate::decrypt::decrypt_whole;
use crate::hooks;
use crate::keys::Keys;
use crate::redact::Redactor;
use crate::release::ReleaseParts;

pub use super::set_path::{set_parameter, set_path, set_string};

/// How long one `helm template` may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A chart to render: a Sync's `helm` block with its defaults resolved.
#[derive(Clone, Debug, Default)]
pub struct Chart {
    /// The chart folder inside the source.
    pub path: String,
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`, and the namespace of objects that name none.
    pub namespace: String,
    /// Values files, relative to the chart folder, merged in order.
    pub values_files: Vec<String>,
    /// Leave out a values file that does not exist instead of failing.
    pub ignore_missing_values_files: bool,
    /// Values read from Secrets (JSON of a map), merged after the files, before `values`;
    /// every value in them is learnt by the render's redactor.
    pub secret_values: lockstep_api::SecretValues,
    /// Values merged last.
    pub values: Map<String, Value>,
    /// Values read from files of the source, set over everything (`--set-file`).
    pub file_parameters: Vec<lockstep_api::FileParameter>,
    /// `--skip-schema-validation`.
    pub skip_schema_validation: bool,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--kube-version` (`.Capabilities.KubeVersion`); unset, helm's own default.
    pub kube_version: Option<String>,
    /// `--api-versions` (`group/version`s the cluster serves, added to helm's built-in
    /// list in `.Capabilities.APIVersions`).
    pub api_versions: Vec<String>,
    /// `--is-upgrade`: `.Release.IsUpgrade` true and `.Release.IsInstall` false, for a
    /// release its owner has applied before (the hooks that run are then the upgrade's).
    pub is_upgrade: bool,
    /// `--no-hooks`: hook templates are not rendered at all.
    pub no_hooks: bool,
    /// Kustomizations built, in order, over the rendered objects ([`post_render`]).
    pub post_renderers: Vec<lockstep_api::PostRenderer>,
    /// Which rendered objects go through `post_renderers`.
    pub post_render_strategy: lockstep_api::PostRenderStrategy,
    /// Dependencies fetched from their repositories ([`missing_dependencies`]): unpacked
    /// chart folders, placed in `charts/` of a private copy of the source for the render.
    pub dependencies: Vec<PathBuf>,
    /// Keep what Helm's release record holds besides the objects ([`Rendered::release`]).
    pub record: bool,
}

/// A dependency `Chart.yaml` names from a Helm HTTP(S) repository that its `charts/`
/// folder lacks: what `helm dependency build` would download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The chart's name in the repository.
    pub name: String,
    /// The version or constraint (`*` when `Chart.yaml` gives none).
    pub version: String,
    /// The repository URL.
    pub repository: String,
}

/// The dependencies of the chart at `path` of the source at `root` (found as render finds
/// it, `Chart.yaml` read within the render's limits) that are neither a folder
/// `charts/<name>` nor an archive `charts/<name>-<version>.tgz`, and whose repository is
/// an `http://`, `https://` or `oci://` URL. Others (`file://`, `@alias` repositories) are
/// left to helm, which names what is missing; so is a path or `Chart.yaml` render refuses.
pub fn missing_dependencies(root: &Path, path: &str) -> Vec<Dependency> {
    #[derive(serde::Deserialize)]
    struct ChartYaml {
        #[serde(default)]
        dependencies: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        name: String,
        #[serde(default)]
        version: Option<String>,
        #[serde(default)]
        repository: Option<String>,
    }
    let read = || -> Option<(PathBuf, ChartYaml)> {
        let root = root.canonicalize().ok()?;
        let files::Target::Folder(dir) = files::target(&root, path).ok()? else {
            return None;
        };
        let file = dir.join("Chart.yaml").canonicalize().ok()?;
        if !file.starts_with(&root) {
            return None;
        }
        let bytes =
            lockstep_limits::read_file(&file, lockstep_limits::LIMITS.max_input_bytes).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let chart = serde_saphyr::from_str_with_options(text, lockstep_limits::yaml_options());
        Some((dir, chart.ok()?))
    };
    let Some((dir, chart)) = read() else {
        return Vec::new();
    };
    let vendored: Vec<String> = std::fs::read_dir(dir.join("charts"))
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let has = |name: &str| {
        vendored.iter().any(|file| {
            file == name
                || file
                    .strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix('-'))
                    .is_some_and(|rest| rest.ends_with(".tgz"))
        })
    };
    chart
        .dependencies
        .into_iter()
        .filter_map(|entry| {
            let repository = entry.repository?;
            let fetched = ["http://", "https://", "oci://"]
                .iter()
                .any(|scheme| repository.starts_with(scheme));
            (fetched && !has(&entry.name)).then(|| Dependency {
                version: entry.version.unwrap_or_else(|| "*".to_owned()),
                name: entry.name,
                repository,
            })
        })
        .collect()
}

impl Chart {
    /// The chart a Sync's `helm` block names: the chart folder defaults to the Sync's
    /// `path`, the release name to the Sync's `name`, CRDs are included unless turned off.
    pub fn new(
        helm: &lockstep_api::Helm,
        path: Option<&str>,
        name: &str,
        namespace: &str,
    ) -> Chart {
        Chart {
            path: helm
                .chart
                .as_deref()
                .or(path)
                .unwrap_or_default()
                .to_owned(),
            release_name: helm.release_name.as_deref().unwrap_or(name).to_owned(),
            namespace: namespace.to_owned(),
            values_files: helm.values_files.clone(),
            ignore_missing_values_files: helm.ignore_missing_values_files,
            secret_values: helm.secret_values.clone(),
            values: helm.values.clone().unwrap_or_default(),
            file_parameters: helm.file_parameters.clone(),
            skip_schema_validation: helm.skip_schema_validation,
            include_crds: helm.include_crds.unwrap_or(true),
            skip_tests: helm.skip_tests,
            kube_version: helm.kube_version.clone(),
            api_versions: helm.api_versions.clone(),
            is_upgrade: false,
            no_hooks: helm.disable_hooks,
            post_renderers: helm.post_renderers.clone(),
            post_render_strategy: helm.post_render_strategy.unwrap_or_default(),
            dependencies: Vec::new(),
            record: helm.storage.is_some(),
        }
    }
}

/// Renders `chart` of the source at `root`, its SOPS values files decrypted with `keys`.
/// Blocks (it runs helm): call it from `spawn_blocking` in async code.
///
/// # Errors
/// [`RenderError`] naming the chart, values file or template; nothing is returned on any
/// error.
pub fn render_chart(
    root: &Path,
    chart: &Chart,
    keys: &Keys,
    options: &RenderOptions,
) -> Result<Rendered, RenderError> {
    let root = root.canonicalize().map_err(|source| RenderError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    let dir = match files::target(&root, &chart.path)? {
        files::Target::Folder(dir) if dir.join("Chart.yaml").is_file() => dir,
        _ => {
            return Err(RenderError::InvalidPath {
                path: chart.path.clone(),
                reason: "is not a Helm chart: a folder holding Chart.yaml",
            });
        }
    };
    let shown = dir.strip_prefix(&root).unwrap_or(&dir).to_path_buf();
    // Fetched dependencies go into charts/ of a private copy; the source stays as fetched.
    let private = (!chart.dependencies.is_empty())
        .then(|| overlay::Private::new(&root))
        .transpose()?;
    let (root, dir) = match &private {
        None => (root, dir),
        Some(private) => {
            let copy = private.root().join(&shown);
            for dependency in &chart.dependencies {
                let name = dependency.file_name().unwrap_or_default();
                let target = copy.join("charts").join(name);
                std::fs::create_dir_all(&target).map_err(|source| RenderError::Read {
                    path: target.clone(),
                    source,
                })?;
                overlay::link_tree(dependency, &target)?;
            }
            (private.root().to_path_buf(), copy)
        }
    };
    let mut redactor = Redactor::new();
    let mut decrypted = Vec::new();
    let values = merged_values(&root, &dir, chart, keys, &mut redactor, &mut decrypted)?;
    let helm = program::find("helm").ok_or_else(|| RenderError::HelmMissing {
        chart: shown.clone(),
    })?;
    let mut command = program::sandboxed(&helm, &dir);
    command
        .args(["template", &chart.release_name])
        .arg(&dir)
        .args(["--namespace", &chart.namespace, "--values", "-"]);
    if let Some(version) = &chart.kube_version {
        command.args(["--kube-version", version]);
    }
    for version in &chart.api_versions {
        command.args(["--api-versions", version]);
    }
    if chart.include_crds {
        command.arg("--include-crds");
    }
    if chart.is_upgrade {
        command.arg("--is-upgrade");
    }
    if chart.no_hooks {
        command.arg("--no-hooks");
    }
    if chart.skip_tests {
        command.arg("--skip-tests");
    }
    if chart.skip_schema_validation {
        command.arg("--skip-schema-validation");
    }
    let release = if chart.record {
        let (name, namespace) = (&chart.release_name, &chart.namespace);
        Some(ReleaseParts::read(&dir, name, namespace, values.clone())?)
    } else {
        None
    };
    let output = program::run(command, Some(values), TIMEOUT).map_err(|err| match err {
        RunError::Timeout => RenderError::HelmTimeout {
            chart: shown.clone(),
            after: TIMEOUT,
        },
        RunError::Io(source) => RenderError::Read {
            path: shown.clone(),
            source,
        },
    })?;
    if !output.success {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let line = stderr.lines().next().unwrap_or("no message");
        if let Some((_, missing)) = line.split_once("missing in charts/ directory: ") {
            return Err(RenderError::HelmDependency {
                chart: shown,
                missing: sanitize(missing, &root),
            });
        }
        return Err(RenderError::Helm {
            chart: shown,
            reason: redactor.scrub(&sanitize(line, &root)),
        });
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| RenderError::Helm {
        chart: shown.clone(),
        reason: "output is not UTF-8".into(),
    })?;
    let mut manifests = Vec::new();
    for (template, text) in templates(&stdout) {
        yaml::parse_file(Path::new(template), text, false, &mut manifests)?;
    }
    if !chart.post_renderers.is_empty() {
        let strategy = chart.post_render_strategy;
        manifests = post_render(
            manifests,
            &chart.post_renderers,
            strategy,
            &shown,
            &redactor,
        )?;
    }
    let cluster_kinds = decorate::cluster_scoped_kinds(&manifests);
    for manifest in &mut manifests {
        if manifest.namespace().is_none()
            && !decorate::is_cluster_scoped(manifest, &cluster_kinds)
            && let Some(metadata) = manifest.object["metadata"].as_object_mut()
        {
            metadata.insert("namespace".into(), chart.namespace.clone().into());
        }
    }
    super::finish(&mut manifests, options)?;
    let (mut manifests, hooks) = hooks::split(manifests, hooks::Dialect::Helm);
    for manifest in manifests.iter_mut().filter(|m| !is_crd_file(m)) {
        claim_for_helm(manifest, chart);
    }
    Ok(Rendered {
        manifests,
        inputs: Inputs::new(root),
        redactor,
        decrypted,
        hooks,
        release,
    })
}

/// A file of the source as read: its path inside the source, and its bytes.
type SourceFile = (PathBuf, Zeroizing<Vec<u8>>);

/// The file `file` names relative to the chart folder `dir`, read within the render limits:
/// its path inside the source `root` and its bytes; `None` when it does not exist and
/// `ignore_missing`.
fn read_in_source(
    root: &Path,
    dir: &Path,
    file: &str,
    ignore_missing: bool,
) -> Result<Option<SourceFile>, RenderError> {
    let refuse = |reason| RenderError::ValuesFile {
        file: file.to_owned(),
        reason,
    };
    let path = match dir.join(file).canonicalize() {
        Ok(path) => path,
        Err(_) if ignore_missing => return Ok(None),
        Err(_) => {
            return Err(refuse(
                "does not exist in the source; add it, or set ignoreMissingValuesFiles to \
                 leave it out",
            ));
        }
    };
    if !path.starts_with(root) {
        return Err(refuse("leaves the source"));
    }
    let shown = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
    let bytes = lockstep_limits::read_file(&path, lockstep_limits::LIMITS.max_input_bytes)
        .map_err(|err| RenderError::Read {
            path: shown.clone(),
            source: err.into(),
        })?;
    Ok(Some((shown, bytes)))
}

/// The values handed to helm, as JSON: the values files in order, then the inline
/// values, each merged over what came before as Helm merges `-f` files (maps key by key,
/// anything else replaced). The SOPS-encrypted values files are decrypted in memory and
/// added to `decrypted`.
fn merged_values(
    root: &Path,
    dir: &Path,
    chart: &Chart,
    keys: &Keys,
    redactor: &mut Redactor,
    decrypted: &mut Vec<SopsFileUsed>,
) -> Result<Zeroizing<Vec<u8>>, RenderError> {
    let mut merged = Map::new();
    for file in &chart.values_files {
        let ignore = chart.ignore_missing_values_files;
        let Some((shown, bytes)) = read_in_source(root, dir, file, ignore)? else {
            continue;
        };
        let refuse = |reason| RenderError::ValuesFile {
            file: file.clone(),
            reason,
        };
        let read = |source: std::io::Error| RenderError::Read {
            path: shown.clone(),
            source,
        };
        let bytes = match decrypt_whole(shown.clone(), bytes.clone(), keys, redactor)
            .map_err(|err| RenderError::Values(Box::new(err)))?
        {
            Some((plain, used)) => {
                decrypted.push(used);
                plain
            }
            None => bytes,
        };
        let text = std::str::from_utf8(&bytes)
            .map_err(|err| read(std::io::Error::new(std::io::ErrorKind::InvalidData, err)))?;
        match yaml::parse_document(&shown, 0, text, 1)? {
            Value::Null => {}
            Value::Object(values) => merge(&mut merged, values),
            _ => return Err(refuse("is not a mapping of values")),
        }
    }
    if let Some(json) = &chart.secret_values.0 {
        let refuse = || RenderError::Helm {
            chart: PathBuf::from(&chart.path),
            reason: "the values read from Secrets are not a map".into(),
        };
        let Value::Object(values) = serde_json::from_slice(json).map_err(|_| refuse())? else {
            return Err(refuse());
        };
        learn(&Value::Object(values.clone()), redactor);
        merge(&mut merged, values);
    }
    merge(&mut merged, chart.values.clone());
    for parameter in &chart.file_parameters {
        let Some((shown, bytes)) = read_in_source(root, dir, &parameter.path, false)? else {
            continue;
        };
        let text = std::str::from_utf8(&bytes).map_err(|err| RenderError::Read {
            path: shown,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, err),
        })?;
        set_string(&mut merged, &parameter.name, text.to_owned()).map_err(|reason| {
            RenderError::Helm {
                chart: PathBuf::from(&chart.path),
                reason: format!("fileParameters {:?}: {reason}", parameter.name),
            }
        })?;
    }
    let json = serde_json::to_vec(&Value::Object(merged)).map_err(|_| RenderError::Helm {
        chart: PathBuf::from(&chart.path),
        reason: "the values do not serialize".into(),
    })?;
    Ok(Zeroizing::new(json))
}

/// Whether `manifest` came from a chart's `crds/` folder, which Helm installs apart from
/// the release.
pub(crate) fn is_crd_file(manifest: &Manifest) -> bool {
    let has = |name: &str| manifest.file.components().any(|c| c.as_os_str() == name);
    has("crds") && !has("templates")
}

/// Helm's claim on a release's object, as `helm install` writes it: the
/// `app.kubernetes.io/managed-by: Helm` label and the release's name and namespace in
/// `meta.helm.sh/*` annotations. `helm install`/`upgrade` and Flux's helm-controller adopt
/// objects that carry it, so a release Lockstep applied is handed to Helm without
/// recreating anything, and one Helm installed is taken over without a change.
fn claim_for_helm(manifest: &mut Manifest, chart: &Chart) {
    let Some(metadata) = manifest.object["metadata"].as_object_mut() else {
        return;
    };
    let mut set = |field: &str, key: &str, value: &str| {
        let map = metadata
            .entry(field)
            .or_insert_with(|| Value::Object(Map::new()));
        if !map.is_object() {
            *map = Value::Object(Map::new());
        }
        if let Some(map) = map.as_object_mut() {
            map.insert(key.to_owned(), value.into());
        }
    };
    set("labels", "app.kubernetes.io/managed-by", "Helm");
    set(
        "annotations",
        "meta.helm.sh/release-name",
        &chart.release_name,
    );
    set(
        "annotations",
        "meta.helm.sh/release-namespace",
        &chart.namespace,
    );
}

/// Teaches `redactor` every scalar under `value`.
fn learn(value: &Value, redactor: &mut Redactor) {
    match value {
        Value::Object(map) => map.values().for_each(|v| learn(v, redactor)),
        Value::Array(items) => items.iter().for_each(|v| learn(v, redactor)),
        scalar => redactor.add_scalar(scalar),
    }
}

/// Merges `over` into `base` as Helm merges values files: maps key by key, anything else
/// replaced.
pub fn merge(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(Value::Object(below)), Value::Object(above)) => merge(below, above),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// Helm's output split by template: each `# Source: <template>` comment starts the
/// documents of one template.
fn templates(output: &str) -> Vec<(&str, &str)> {
    const SOURCE: &str = "# Source: ";
    let mut found = Vec::new();
    let mut rest = output;
    while let Some(start) = rest.find(SOURCE) {
        let after = &rest[start + SOURCE.len()..];
        let name = after.lines().next().unwrap_or_default().trim();
        let body = &after[name.len().min(after.len())..];
        let end = body
            .find(&format!("\n{SOURCE}"))
            .map_or(body.len(), |e| e + 1);
        found.push((name, &body[..end]));
        rest = &body[end..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_merge_as_helm_merges_files() {
        let map = |v: Value| v.as_object().cloned().unwrap();
        let mut base = map(serde_json::json!({"a": {"b": 1, "c": [1]}, "d": "x"}));
        merge(
            &mut base,
            map(serde_json::json!({"a": {"c": [2], "e": 3}, "d": {"f": 4}})),
        );
        assert_eq!(
            Value::Object(base),
            serde_json::json!({"a": {"b": 1, "c": [2], "e": 3}, "d": {"f": 4}})
        );
    }

    #[test]
    fn only_unvendored_dependencies_of_http_and_oci_repositories_are_missing() {
        let root = tempfile::tempdir().unwrap();
        let chart = root.path().join("app");
        std::fs::create_dir_all(chart.join("charts/folder")).unwrap();
        std::fs::write(chart.join("charts/packed-1.2.0.tgz"), b"").unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n\
             - {name: folder, version: 1.x, repository: https://charts.example}\n\
             - {name: packed, version: 1.x, repository: https://charts.example}\n\
             - {name: local, repository: file://../local}\n\
             - {name: oci, version: '1', repository: oci://registry.example/charts}\n\
             - {name: fetched, repository: http://charts.example/sub}\n",
        )
        .unwrap();
        assert_eq!(
            missing_dependencies(root.path(), "app"),
            [
                Dependency {
                    name: "oci".into(),
                    version: "1".into(),
                    repository: "oci://registry.example/charts".into(),
                },
                Dependency {
                    name: "fetched".into(),
                    version: "*".into(),
                    repository: "http://charts.example/sub".into(),
                }
            ]
        );
        assert!(missing_dependencies(root.path(), "nowhere").is_empty());
    }

    #[test]
    fn output_is_split_by_template() {
        let output = "---\n# Source: c/templates/a.yaml\nkind: A\n---\n# Source: c/templates/a.yaml\nkind: B\n---\n# Source: c/crds/x.yaml\nkind: X\n";
        let found = templates(output);
        let names: Vec<_> = found.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["c/templates/a.yaml", "c/templates/a.yaml", "c/crds/x.yaml"]
        );
        assert!(found[1].1.contains("kind: B") && !found[1].1.contains("kind: X"));
    }
}

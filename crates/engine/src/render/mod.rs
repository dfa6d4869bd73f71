//! Rendering a directory of manifests into the objects to apply.
//!
//! A folder holding a `kustomization.yaml` (or `.yml`, or `Kustomization`) is built with
//! the external `kustomize` ([`kustomize`]); so is every sub-folder that holds one, the way
//! Flux generates a kustomization for a plain folder. Other files ending in `.yaml`,
//! `.yml` or `.json` are read recursively in path order, hidden files and folders (`.name`)
//! skipped. YAML files may hold several documents; a document may be a `List` whose `items`
//! are expanded. YAML is resolved the way kubectl resolves it (YAML 1.1 through
//! sigs.k8s.io/yaml): `on`/`yes`/`y` are booleans and `0644` is octal (420), while quoted
//! scalars stay strings — `serde-saphyr` with its default booleans and
//! `legacy_octal_numbers` ([`yaml`]).
//!
//! Every object gets the ownership labels of its `Sync`, and namespaced objects get the
//! target namespace. Whether a kind is namespaced is decided without the cluster: the
//! built-in cluster-scoped kinds, plus the kinds of CRDs in the same render that say
//! `scope: Cluster` (kustomize's approach). Apply checks again with discovery.
//!
//! Rendering reads files and may run `kustomize`, so it blocks: call it from
//! `spawn_blocking` in async code. Files are read as they are in the source: SOPS-encrypted
//! files stay encrypted here, and decryption happens on the rendered objects, in memory.

pub(crate) mod kustomize;
mod yaml;

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use tracing::instrument;

use lockstep_api::{OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};

/// Built-in kinds that are cluster-scoped (Kubernetes 1.34).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterTrustBundle",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "DeviceClass",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "StorageVersionMigration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "VolumeAttributesClass",
];

/// The `Sync` that owns the rendered objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Name of the Sync.
    pub name: String,
    /// Namespace of the Sync.
    pub namespace: String,
}

/// How to render.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Ownership labels to add; none when rendering for display only.
    pub owner: Option<Owner>,
    /// Namespace to set on every namespaced object.
    pub target_namespace: Option<String>,
}

/// One object to apply, with where it came from.
///
/// After the secrets stage it holds plaintext, so it cannot be cloned and its `Debug`
/// shows where it came from, never the object.
pub struct Manifest {
    /// The object as JSON, with `apiVersion`, `kind` and `metadata.name` present.
    pub object: Value,
    /// The file, relative to the rendered directory.
    pub file: PathBuf,
    /// Index of the document in the file, from 0.
    pub document: usize,
    /// Whether the secrets stage put plaintext into the object (decrypted SOPS values,
    /// resolved references). The API server's messages about such an object can quote
    /// those values, so they are never shown (see [`crate::apply`]).
    pub holds_secrets: bool,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("file", &self.file)
            .field("document", &self.document)
            .field("holds_secrets", &self.holds_secrets)
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// `metadata.namespace`, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
    /// The API group: the part of `apiVersion` before `/`, empty for core.
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}

/// Why rendering failed. Messages name the file (and document and line) but never quote
/// file contents, which may be Secret data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenderError {
    /// The path to render escapes the artifact or is not a folder.
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path asked for.
        path: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A folder or file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A kustomization names a base, component or resource that is not a folder or file
    /// inside the source (remote bases are not fetched).
    #[error("{path}: {entry:?} {reason}")]
    KustomizeReference {
        /// The kustomization file, relative to the rendered directory.
        path: PathBuf,
        /// The entry as written.
        entry: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A folder holds a kustomization, but neither `kustomize` nor `kubectl` was found.
    #[error(
        "{path} is a kustomization, but neither kustomize nor kubectl is on PATH or in ~/.cache/lockstep/bin"
    )]
    KustomizeMissing {
        /// The kustomization file, relative to the rendered directory.
        path: PathBuf,
    },
    /// `kustomize build` failed.
    #[error("{path}: kustomize build failed: {reason}")]
    Kustomize {
        /// The kustomization file, relative to the rendered directory.
        path: PathBuf,
        /// The first line kustomize printed, with anything that may be data removed.
        reason: String,
    },
    /// `kustomize build` did not finish in time and was killed.
    #[error("{path}: kustomize build did not finish within {after:?}")]
    KustomizeTimeout {
        /// The kustomization file, relative to the rendered directory.
        path: PathBuf,
        /// The budget.
        after: std::time::Duration,
    },
    /// A document is not valid YAML or JSON.
    #[error("{file}: document {document}, line {line}, column {column}: {reason}")]
    Syntax {
        /// The file, relative to the rendered directory.
        file: PathBuf,
        /// Index of the document in the file, from 0.
        document: usize,
        /// Line in the file, from 1.
        line: u64,
        /// Column, from 1.
        column: u64,
        /// What is wrong, with any quoted input removed.
        reason: String,
    },
    /// A document is valid YAML but not a Kubernetes object.
    #[error("{file}: document {document} (line {line}): {reason}")]
    NotAnObject {
        /// The file, relative to the rendered directory.
        file: PathBuf,
        /// Index of the document in the file, from 0.
        document: usize,
        /// Line in the file where the document starts, from 1.
        line: u64,
        /// What is missing.
        reason: &'static str,
    },
    /// Two documents describe the same object.
    #[error("{object} is defined twice: in {first} and in {second}")]
    Duplicate {
        /// `group/kind/namespace/name`.
        object: String,
        /// Where it first appears.
        first: String,
        /// Where it appears again.
        second: String,
    },
}

/// Renders the manifests under `root.join(path)`.
///
/// # Errors
/// [`RenderError`] naming the file, document and line; nothing is returned on any error.
#[instrument(skip_all, fields(path = %path))]
pub fn render(
    root: &Path,
    path: &str,
    options: &RenderOptions,
) -> Result<Vec<Manifest>, RenderError> {
    let dir = secure_join(root, path)?;
    if !dir.is_dir() {
        return Err(RenderError::InvalidPath {
            path: path.to_owned(),
            reason: "not a folder in the source",
        });
    }
    let Listing { files, skipped } = files(&dir)?;
    // Said aloud, since a file the user meant is missing.
    for (path, what) in skipped {
        tracing::warn!(
            "skipped {}: {what}, and render reads only the regular files and folders of the source",
            path.display()
        );
    }
    let mut manifests = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&dir).unwrap_or(&file).to_path_buf();
        if is_kustomization(&file) {
            kustomize::build(root, &file, &relative, &mut manifests)?;
            continue;
        }
        let text = std::fs::read_to_string(&file).map_err(|source| RenderError::Read {
            path: relative.clone(),
            source,
        })?;
        let is_json = file.extension().is_some_and(|e| e == "json");
        yaml::parse_file(&relative, &text, is_json, &mut manifests)?;
    }

    let cluster_kinds = cluster_scoped_kinds(&manifests);
    let mut seen = std::collections::HashMap::new();
    for manifest in &mut manifests {
        decorate(manifest, options, &cluster_kinds);
        let id = format!(
            "{}/{}/{}/{}",
            manifest.group(),
            manifest.kind(),
            manifest.namespace().unwrap_or_default(),
            manifest.name()
        );
        let here = format!("{} document {}", manifest.file.display(), manifest.document);
        if let Some(first) = seen.insert(id.clone(), here.clone()) {
            return Err(RenderError::Duplicate {
                object: id,
                first,
                second: here,
            });
        }
    }
    Ok(manifests)
}

/// Whether `kind` (of the given group) is cluster-scoped, judged without the cluster.
pub fn is_cluster_scoped_builtin(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

/// `root/path`, refusing a `path` that is absolute or climbs out with `..`: the one rule
/// for the folder a Sync or `lockstep apply --path` names (render and decrypt both join
/// with it).
pub(crate) fn secure_join(root: &Path, path: &str) -> Result<PathBuf, RenderError> {
    let relative = Path::new(path);
    let mut out = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir if path.starts_with("./") || path == "/" => {}
            _ => {
                return Err(RenderError::InvalidPath {
                    path: path.to_owned(),
                    reason: "must be relative and stay inside the source",
                });
            }
        }
    }
    Ok(out)
}

/// The file names kustomize accepts for a kustomization.
pub(crate) const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

pub(crate) fn is_kustomization(file: &Path) -> bool {
    file.file_name()
        .is_some_and(|name| KUSTOMIZATION_FILES.iter().any(|k| name == *k))
}

/// The files render reads under a folder, and what it skipped.
pub(crate) struct Listing {
    /// Manifests, and in place of a folder with a kustomization that kustomization
    /// (kustomize decides what belongs to its build; see [`kustomize::walk`]), sorted.
    pub files: Vec<PathBuf>,
    /// Entries that are neither regular files nor folders (symlinks, devices), relative to
    /// the folder, with what they are: never followed.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// The [`Listing`] of `dir`. Decrypt starts from the same list as render.
///
/// # Errors
/// [`RenderError::Read`] when a folder cannot be listed.
pub(crate) fn files(dir: &Path) -> Result<Listing, RenderError> {
    let mut listing = Listing {
        files: Vec::new(),
        skipped: Vec::new(),
    };
    collect(dir, dir, &mut listing)?;
    listing.files.sort();
    Ok(listing)
}

/// The files to read under `dir`, or its kustomization when it has one (then nothing
/// below it is read directly: kustomize decides what belongs to the build).
/// `base` is the listed folder, which skipped entries are named from.
fn collect(base: &Path, dir: &Path, listing: &mut Listing) -> Result<(), RenderError> {
    if let Some(kustomization) = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
    {
        listing.files.push(kustomization);
        return Ok(());
    }
    let read = std::fs::read_dir(dir).map_err(|source| RenderError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in read {
        let entry = entry.map_err(|source| RenderError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| RenderError::Read {
            path: path.clone(),
            source,
        })?;
        if kind.is_dir() {
            collect(base, &path, listing)?;
        } else if kind.is_file() {
            if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
                listing.files.push(path);
            }
        } else {
            // Never followed: a link could point out of the source (/etc/shadow), at a device
            // (/dev/zero) or at itself.
            let what = if kind.is_symlink() {
                "a symlink"
            } else {
                "not a regular file"
            };
            let shown = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            listing.skipped.push((shown, what));
        }
    }
    Ok(())
}

fn cluster_scoped_kinds(manifests: &[Manifest]) -> HashSet<(String, String)> {
    let mut kinds = HashSet::new();
    for m in manifests {
        if m.kind() == "CustomResourceDefinition" && m.object["spec"]["scope"] == "Cluster" {
            let group = m.object["spec"]["group"].as_str().unwrap_or_default();
            let kind = m.object["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default();
            kinds.insert((group.to_owned(), kind.to_owned()));
        }
    }
    kinds
}

fn decorate(manifest: &mut Manifest, options: &RenderOptions, cluster: &HashSet<(String, String)>) {
    let group = manifest.group();
    let builtin_group = !group.contains('.') || group.ends_with(".k8s.io");
    let cluster_scoped = (builtin_group && is_cluster_scoped_builtin(manifest.kind()))
        || cluster.contains(&(group.to_owned(), manifest.kind().to_owned()));
    let metadata = manifest
        .object
        .as_object_mut()
        .and_then(|o| o.get_mut("metadata"))
        .and_then(Value::as_object_mut);
    let Some(metadata) = metadata else {
        return;
    };
    if let Some(ns) = &options.target_namespace
        && !cluster_scoped
    {
        metadata.insert("namespace".into(), Value::String(ns.clone()));
    }
    if let Some(owner) = &options.owner {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Some(labels) = labels.as_object_mut() {
            labels.insert(OWNER_NAME_LABEL.into(), Value::String(owner.name.clone()));
            labels.insert(
                OWNER_NAMESPACE_LABEL.into(),
                Value::String(owner.namespace.clone()),
            );
        }
    }
}

//! [`RenderError`]: what can go wrong rendering, named by file, document and line.

use std::path::PathBuf;

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
    /// The kustomization at the path cannot take the fields a Flux Kustomization adds
    /// (`namePrefix`, `patches`, `images`, …).
    #[error(
        "{path}: cannot add the Kustomization's namePrefix, patches, images or components: {reason}"
    )]
    Overlay {
        /// The kustomization file, relative to the rendered directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A Helm values file is missing, leaves the source or is not a mapping.
    #[error("values file {file:?} {reason}")]
    ValuesFile {
        /// The file as the Sync names it.
        file: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A SOPS-encrypted Helm values file did not decrypt.
    #[error(transparent)]
    Values(Box<crate::decrypt::DecryptError>),
    /// A folder holds a Helm chart, but `helm` was found neither on PATH nor in the cache.
    #[error("{chart} is a Helm chart, but helm is neither on PATH nor in ~/.cache/lockstep/bin")]
    HelmMissing {
        /// The chart folder, relative to the source.
        chart: PathBuf,
    },
    /// `helm template` failed: a template did not render, or a rendered document is not
    /// YAML.
    #[error("{chart}: helm template failed: {reason}")]
    Helm {
        /// The chart folder, relative to the source.
        chart: PathBuf,
        /// The first line helm printed (it names the template file and line), with
        /// anything that may be data removed.
        reason: String,
    },
    /// A dependency of `Chart.yaml` is not vendored in the chart's `charts/` folder.
    #[error(
        "{chart}: the dependency {missing} of Chart.yaml is not in charts/; charts are \
         rendered offline, so run `helm dependency build` and commit charts/"
    )]
    HelmDependency {
        /// The chart folder, relative to the source.
        chart: PathBuf,
        /// The dependencies helm reported missing.
        missing: String,
    },
    /// `helm template` did not finish in time and was killed.
    #[error("{chart}: helm template did not finish within {after:?}")]
    HelmTimeout {
        /// The chart folder, relative to the source.
        chart: PathBuf,
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
        /// `Kind/namespace/name`.
        object: String,
        /// Where it first appears.
        first: String,
        /// Where it appears again.
        second: String,
    },
}

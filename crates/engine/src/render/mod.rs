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
//! files stay encrypted here, and decryption happens on the rendered objects, in memory
//! ([`crate::decrypt`]), from the [`Inputs`] render hands over with them: each file is read
//! once on the way from Git to the cluster.
//!
//! A Helm chart is rendered by [`helm::render_chart`] instead, with the external `helm
//! template`; its values files are the one input decrypted before rendering, since the
//! templates read them.

mod decorate;
mod error;
mod files;
pub mod helm;
mod inputs;
mod kustomize;
mod manifest;
mod overlay;
mod post_render;
mod program;
mod sanitize;
mod set_path;
pub mod variables;
pub(crate) mod yaml;

use std::path::Path;

use lockstep_api::SopsFileUsed;
use tracing::instrument;

use crate::ownership::{ARGOCD, FLUX, FLUX_HELM, LOCKSTEP, Mark};
use crate::redact::Redactor;

pub use decorate::is_cluster_scoped_builtin;
pub use error::RenderError;
pub use inputs::Inputs;
pub(crate) use inputs::mentions_sops;
pub use manifest::Manifest;

/// The resource that owns the rendered objects: a `Sync` (or `lockstep apply --name`), or
/// a Flux `Kustomization` or Argo CD `Application` served by Lockstep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Name of the owner.
    pub name: String,
    /// Namespace of the owner.
    pub namespace: String,
    /// The labels its objects carry, and the annotation that keeps one from being pruned.
    pub mark: &'static Mark,
}

impl Owner {
    /// A `Sync`, or `lockstep apply --name`: objects labelled `lockstep.dev/*`.
    pub fn lockstep(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            mark: &LOCKSTEP,
        }
    }

    /// A Flux `Kustomization`: objects labelled `kustomize.toolkit.fluxcd.io/*`, as Flux
    /// labels them, so either controller takes over what the other applied.
    pub fn flux(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            mark: &FLUX,
        }
    }

    /// A Flux `HelmRelease`: objects labelled `helm.toolkit.fluxcd.io/*`, as Flux's
    /// helm-controller labels them.
    pub fn flux_helm(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            mark: &FLUX_HELM,
        }
    }

    /// An Argo CD `Application`: objects labelled `app.kubernetes.io/instance: <name>`,
    /// Argo CD's default tracking, so either controller takes over what the other applied.
    pub fn argocd(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespace: namespace.into(),
            mark: &ARGOCD,
        }
    }
}

/// How to render.
#[derive(Clone, Debug, Default)]
pub struct RenderOptions {
    /// Ownership labels to add; none when rendering for display only.
    pub owner: Option<Owner>,
    /// Namespace to set on every namespaced object.
    pub target_namespace: Option<String>,
    /// Fields to write into the kustomization at the path before it is built (a Flux
    /// Kustomization's `namePrefix`, `patches`, `images`, …); the target namespace is then
    /// written there too. The build runs on a private copy of the source ([`overlay`]).
    pub overlay: Option<lockstep_api::flux::Overlay>,
    /// Which files of a plain folder are read ([`files::Filter`]); unset, all of them.
    pub directory: Option<lockstep_api::Directory>,
}

/// What a render gives the secrets stage: the objects, and the files they came from.
#[derive(Debug)]
pub struct Rendered {
    /// The objects, in render order.
    pub manifests: Vec<Manifest>,
    /// The files that may be SOPS-encrypted, as render read or named them.
    pub inputs: Inputs,
    /// Plaintext the render itself decrypted (a chart's SOPS values files), to scrub from
    /// messages.
    pub redactor: Redactor,
    /// The SOPS files the render itself decrypted (a chart's values files), with the keys
    /// each is encrypted to.
    pub decrypted: Vec<SopsFileUsed>,
    /// Hooks, run around the apply instead of applied with the objects: a chart's Helm
    /// hooks (the controller adds an Argo CD Application's own, [`crate::hooks::split`]).
    pub hooks: Vec<crate::hooks::Hook>,
    /// A chart's release, when its Helm release records are written ([`crate::release`]).
    pub release: Option<crate::release::ReleaseParts>,
}

/// Renders the manifests under `root.join(path)`, with the [`Inputs`] the secrets stage
/// decrypts from.
///
/// # Errors
/// [`RenderError`] naming the file, document and line; nothing is returned on any error.
#[instrument(skip_all, fields(path = %path))]
pub fn render(root: &Path, path: &str, options: &RenderOptions) -> Result<Rendered, RenderError> {
    let root = root.canonicalize().map_err(|source| RenderError::Read {
        path: root.to_path_buf(),
        source,
    })?;
    // The copy the overlay is written into, if any; removed when the render ends.
    let private = options
        .overlay
        .as_ref()
        .map(|_| overlay::Private::new(&root))
        .transpose()?;
    let source = private
        .as_ref()
        .map_or(root.as_path(), overlay::Private::root);
    let (dir, files::Listing { files, skipped }) = match files::target(source, path)? {
        files::Target::Folder(dir) => {
            let mut listing = files::files(&dir)?;
            if let Some(directory) = &options.directory {
                files::Filter::new(directory)?.apply(&dir, &mut listing.files);
            }
            match &options.overlay {
                None => (dir, listing),
                Some(fields) => {
                    let relative = dir.strip_prefix(source).unwrap_or(&dir);
                    let namespace = options.target_namespace.as_deref();
                    overlay::write(&dir, relative, &listing.files, fields, namespace)?;
                    let listing = files::files(&dir)?;
                    (dir, listing)
                }
            }
        }
        files::Target::File(_) if options.overlay.is_some() => {
            return Err(RenderError::InvalidPath {
                path: path.to_owned(),
                reason: "names a file; namePrefix, nameSuffix, patches, images and components \
                         are written into the kustomization of a folder",
            });
        }
        files::Target::File(file) => {
            let dir = file.parent().unwrap_or(&root).to_path_buf();
            let listing = files::Listing {
                files: vec![file],
                skipped: Vec::new(),
            };
            (dir, listing)
        }
    };
    // Said aloud, since a file the user meant is missing.
    for (path, what) in skipped {
        tracing::warn!(
            "skipped {}: {what}, and render reads only the regular files and folders of the source",
            path.display()
        );
    }
    let mut manifests = Vec::new();
    let mut walk = kustomize::Walk::new(source);
    for file in files {
        let relative = file.strip_prefix(&dir).unwrap_or(&file).to_path_buf();
        if files::is_kustomization(&file) {
            kustomize::build(&mut walk, &file, &relative, &mut manifests)?;
            continue;
        }
        let read = |source: std::io::Error| RenderError::Read {
            path: relative.clone(),
            source,
        };
        let bytes = lockstep_limits::read_file(&file, lockstep_limits::LIMITS.max_input_bytes)
            .map_err(|err| read(err.into()))?;
        let text = std::str::from_utf8(&bytes)
            .map_err(|err| read(std::io::Error::new(std::io::ErrorKind::InvalidData, err)))?;
        let is_json = file.extension().is_some_and(|e| e == "json");
        yaml::parse_file(&relative, text, is_json, &mut manifests)?;
        walk.inputs.read(&file, bytes);
    }

    finish(&mut manifests, options)?;
    let mut inputs = walk.inputs;
    if private.is_some() {
        // The same files at the same paths in the source: decryption reads those, after
        // the copy is gone.
        inputs.rebase(&root);
    }
    Ok(Rendered {
        manifests,
        inputs,
        redactor: Redactor::new(),
        decrypted: Vec::new(),
        hooks: Vec::new(),
        release: None,
    })
}

/// What every render does last: the ownership labels and target namespace set, and no
/// object defined twice.
fn finish(manifests: &mut [Manifest], options: &RenderOptions) -> Result<(), RenderError> {
    let cluster_kinds = decorate::cluster_scoped_kinds(manifests);
    let mut seen = std::collections::HashMap::new();
    for manifest in manifests {
        decorate::decorate(manifest, options, &cluster_kinds);
        let namespace = manifest.namespace().unwrap_or_default();
        let (kind, name) = (manifest.kind(), manifest.name());
        let key = format!("{}/{kind}/{namespace}/{name}", manifest.group());
        let here = format!("{} document {}", manifest.file.display(), manifest.document);
        if let Some(first) = seen.insert(key, here.clone()) {
            return Err(RenderError::Duplicate {
                object: crate::inventory::display(kind, namespace, name),
                first,
                second: here,
            });
        }
    }
    Ok(())
}

//! A Flux Kustomization's `namePrefix`, `nameSuffix`, `patches`, `components` and
//! `images` (and an Argo CD Application's, with its `commonLabels`/`commonAnnotations`),
//! built the way kustomize-controller builds them: written into the kustomization
//! at the path — or into one generated there that lists the manifests found, as Flux's
//! generator does — and that kustomization built.
//!
//! The artifact is shared by every Kustomization of a source, so the edit happens in a
//! [`Private`] copy of the source made for one render: folders are created, files are hard
//! links (copies where a link cannot be made), symlinks are left out as render never
//! follows them. SOPS files stay encrypted, as in Git; the only file written is the
//! kustomization, which holds no secret. The copy sits beside the source under a hidden
//! name and is removed when the render ends, whatever its outcome.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use lockstep_api::flux::{Common, Overlay};
use serde_json::{Map, Value};

use super::RenderError;
use super::files::KUSTOMIZATION_FILES;

/// A private copy of a source, removed when dropped.
pub(super) struct Private {
    dir: tempfile::TempDir,
}

impl Private {
    /// Copies `root` (a real path) beside itself.
    ///
    /// # Errors
    /// [`RenderError::Read`] naming the folder or file that could not be copied.
    pub fn new(root: &Path) -> Result<Private, RenderError> {
        let parent = root.parent().unwrap_or(root);
        let dir = tempfile::Builder::new()
            .prefix(".render-")
            .tempdir_in(parent)
            .map_err(|source| RenderError::Read {
                path: parent.to_path_buf(),
                source,
            })?;
        link_tree(root, dir.path())?;
        Ok(Private { dir })
    }

    /// The copy's root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }
}

/// Recreates the folders of `from` under `to` and links (or copies) its regular files.
pub(super) fn link_tree(from: &Path, to: &Path) -> Result<(), RenderError> {
    let read = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RenderError::Read { path, source }
    };
    for entry in std::fs::read_dir(from).map_err(read(from))? {
        let entry = entry.map_err(read(from))?;
        let source = entry.path();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().map_err(read(&source))?;
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(read(&target))?;
            link_tree(&source, &target)?;
        } else if kind.is_file() && std::fs::hard_link(&source, &target).is_err() {
            std::fs::copy(&source, &target).map_err(read(&source))?;
        }
    }
    Ok(())
}

/// Writes `overlay` (and `namespace`, the target namespace) into the kustomization in
/// `dir`, a folder of a [`Private`] copy; when there is none, first generates one listing
/// `listed` (render's listing of `dir`: manifests, and the kustomizations of sub-folders,
/// which stand for their folder).
///
/// # Errors
/// [`RenderError::Read`] when the kustomization cannot be read or written, and
/// [`RenderError::Overlay`] when it is not a mapping or a field to extend is not a list.
pub(super) fn write(
    dir: &Path,
    relative: &Path,
    listed: &[PathBuf],
    overlay: &Overlay,
    namespace: Option<&str>,
) -> Result<(), RenderError> {
    let existing = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file());
    let (file, mut kustomization) = match existing {
        Some(file) => {
            let shown = relative.join(file.file_name().unwrap_or_default());
            let bytes = lockstep_limits::read_file(&file, lockstep_limits::LIMITS.max_input_bytes)
                .map_err(|err| RenderError::Read {
                    path: shown.clone(),
                    source: err.into(),
                })?;
            let parsed = std::str::from_utf8(&bytes).ok().and_then(|text| {
                serde_saphyr::from_str_with_options::<Value>(text, lockstep_limits::yaml_options())
                    .ok()
            });
            let Some(Value::Object(map)) = parsed else {
                return Err(invalid(shown, "is not a YAML mapping"));
            };
            (file, map)
        }
        None => (dir.join(KUSTOMIZATION_FILES[0]), generated(dir, listed)),
    };
    let shown = relative.join(file.file_name().unwrap_or_default());
    kustomization
        .entry("apiVersion")
        .or_insert_with(|| "kustomize.config.k8s.io/v1beta1".into());
    kustomization
        .entry("kind")
        .or_insert_with(|| "Kustomization".into());
    if let Some(namespace) = namespace {
        kustomization.insert("namespace".into(), namespace.into());
    }
    if let Some(prefix) = &overlay.name_prefix {
        kustomization.insert("namePrefix".into(), prefix.as_str().into());
    }
    if let Some(suffix) = &overlay.name_suffix {
        kustomization.insert("nameSuffix".into(), suffix.as_str().into());
    }
    let patches = overlay.patches.iter().map(to_value);
    list(&mut kustomization, "patches", &shown)?.extend(patches);
    let components = overlay
        .components
        .iter()
        .filter(|c| !overlay.ignore_missing_components || dir.join(c).exists())
        .map(|c| Value::String(c.clone()));
    list(&mut kustomization, "components", &shown)?.extend(components);
    let images = list(&mut kustomization, "images", &shown)?;
    for image in &overlay.images {
        let found = images
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .find(|i| i.get("name").and_then(Value::as_str) == Some(&image.name));
        let Some(found) = found else {
            images.push(to_value(image));
            continue;
        };
        if let Some(name) = &image.new_name {
            found.insert("newName".into(), name.as_str().into());
        }
        // A tag and a digest both pick the version: setting either replaces both.
        if image.new_tag.is_some() || image.digest.is_some() {
            for (key, value) in [("newTag", &image.new_tag), ("digest", &image.digest)] {
                match value {
                    Some(value) => found.insert(key.into(), value.as_str().into()),
                    None => found.remove(key),
                };
            }
        }
    }
    for (field, common) in [
        ("commonLabels", &overlay.common_labels),
        ("commonAnnotations", &overlay.common_annotations),
    ] {
        merge(&mut kustomization, field, common, &shown)?;
    }
    for field in ["patches", "components", "images"] {
        if kustomization[field].as_array().is_some_and(Vec::is_empty) {
            kustomization.remove(field);
        }
    }
    // JSON is YAML, and kustomize reads it as such.
    let text = serde_json::to_vec_pretty(&Value::Object(kustomization))
        .expect("a JSON value always serializes");
    let io = |source| RenderError::Read {
        path: shown.clone(),
        source,
    };
    // The file may be a hard link to the artifact's: unlinked first, never written through.
    match std::fs::remove_file(&file) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(io(err)),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&file)
        .and_then(|mut f| f.write_all(&text))
        .map_err(io)
}

/// A kustomization listing the manifests and kustomization folders of `dir`, as `./path`
/// (Flux's generator). With nothing to list it sets a placeholder namespace, as Flux
/// does, since kustomize refuses an empty kustomization.
fn generated(dir: &Path, listed: &[PathBuf]) -> Map<String, Value> {
    let resources: Vec<Value> = listed
        .iter()
        .map(|file| {
            let entry = if super::files::is_kustomization(file) {
                file.parent().unwrap_or(dir)
            } else {
                file
            };
            let relative = entry.strip_prefix(dir).unwrap_or(entry);
            Value::String(format!("./{}", relative.display()))
        })
        .collect();
    let mut kustomization = Map::new();
    if resources.is_empty() {
        kustomization.insert("namespace".into(), "_placeholder".into());
    } else {
        kustomization.insert("resources".into(), Value::Array(resources));
    }
    kustomization
}

/// The list under `field`, created empty when absent.
fn list<'a>(
    kustomization: &'a mut Map<String, Value>,
    field: &'static str,
    shown: &Path,
) -> Result<&'a mut Vec<Value>, RenderError> {
    let value = kustomization
        .entry(field)
        .or_insert_with(|| Value::Array(Vec::new()));
    if value.is_null() {
        *value = Value::Array(Vec::new());
    }
    let reason = match field {
        "patches" => "`patches` is not a list",
        "components" => "`components` is not a list",
        _ => "`images` is not a list",
    };
    value
        .as_array_mut()
        .ok_or_else(|| invalid(shown.to_path_buf(), reason))
}

/// Merges `common` into the map under `field`, as `kustomize edit add label|annotation`
/// does: a key the file already sets is refused unless `force`.
fn merge(
    kustomization: &mut Map<String, Value>,
    field: &'static str,
    common: &Common,
    shown: &Path,
) -> Result<(), RenderError> {
    if common.values.is_empty() {
        return Ok(());
    }
    let value = kustomization
        .entry(field)
        .or_insert_with(|| Value::Object(Map::new()));
    if value.is_null() {
        *value = Value::Object(Map::new());
    }
    let (not_map, taken) = match field {
        "commonLabels" => (
            "`commonLabels` is not a mapping",
            "sets a commonLabels key the Application sets too; set forceCommonLabels to \
             replace it",
        ),
        _ => (
            "`commonAnnotations` is not a mapping",
            "sets a commonAnnotations key the Application sets too; set \
             forceCommonAnnotations to replace it",
        ),
    };
    let map = value
        .as_object_mut()
        .ok_or_else(|| invalid(shown.to_path_buf(), not_map))?;
    for (key, new) in &common.values {
        if !common.force && map.contains_key(key) {
            return Err(invalid(shown.to_path_buf(), taken));
        }
        map.insert(key.clone(), new.as_str().into());
    }
    Ok(())
}

fn invalid(path: PathBuf, reason: &'static str) -> RenderError {
    RenderError::Overlay { path, reason }
}

fn to_value<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("API types always serialize")
}

//! A chart's post-renderers (Flux's `postRenderers`): each a kustomization of patches and
//! images built with the one `kustomize` over what the chart rendered, in order, as
//! helm-controller builds them — the rendered objects as the one resource, the patches and
//! images as the kustomization's own.
//!
//! Kustomize reads files, and what a chart renders can hold secrets (values decrypted from
//! SOPS files or read from Secrets, a Secret's data). So nothing secret is written: before
//! the objects go to disk every Secret's `data`/`stringData` value, and every string that
//! holds a value the render's redactor knows, is replaced by a placeholder of its own, and
//! put back in what kustomize built. A patch therefore cannot read a masked value (a JSON
//! 6902 `test` of one fails), but it can replace it.
//!
//! Which objects go through follows [`PostRenderStrategy`], as Helm 4 sends them; the
//! chart's `crds/` are never post-rendered (Helm installs them apart). Each object keeps the
//! template it came from, carried through kustomize in an annotation, as Helm 4 does.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::io::Write;
use std::path::{Path, PathBuf};

use lockstep_api::{PostRenderStrategy, PostRenderer};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::helm::is_crd_file;
use super::kustomize::{self, Walk};
use super::{Manifest, RenderError};
use crate::hooks::HOOK;
use crate::redact::{Redactor, is_secret};

/// Carries an object's template file and document through kustomize.
const ORIGIN: &str = "post-render.lockstep.dev/origin";

/// The file the rendered objects are written to, the kustomization's one resource.
const INPUT: &str = "helm-output.yaml";

/// `manifests` after every post-renderer, in order; `chart` names the chart in errors. The
/// work folder, in the temporary folder, is removed whatever the outcome.
///
/// # Errors
/// [`RenderError::Kustomize`] (and the like) naming `<chart>/postRenderers[i]`.
pub(super) fn post_render(
    manifests: Vec<Manifest>,
    renderers: &[PostRenderer],
    strategy: PostRenderStrategy,
    chart: &Path,
    redactor: &Redactor,
) -> Result<Vec<Manifest>, RenderError> {
    let mut manifests = manifests;
    for (index, renderer) in renderers.iter().enumerate() {
        let Some(kustomization) = &renderer.kustomize else {
            continue;
        };
        let shown = chart.join(format!("postRenderers[{index}]"));
        let is_hook = |m: &Manifest| m.object["metadata"]["annotations"][HOOK].is_string();
        let (mut kept, mut templates, mut hooks) = (Vec::new(), Vec::new(), Vec::new());
        for manifest in manifests {
            match (is_crd_file(&manifest), is_hook(&manifest), strategy) {
                (true, _, _) | (false, true, PostRenderStrategy::NoHooks) => kept.push(manifest),
                (false, true, PostRenderStrategy::Separate) => hooks.push(manifest),
                _ => templates.push(manifest),
            }
        }
        let patches = serde_json::to_value(&kustomization.patches);
        let images = serde_json::to_value(&kustomization.images);
        let mut file = Map::new();
        file.insert(
            "apiVersion".into(),
            "kustomize.config.k8s.io/v1beta1".into(),
        );
        file.insert("kind".into(), "Kustomization".into());
        file.insert("resources".into(), Value::Array(vec![INPUT.into()]));
        for (field, value) in [("patches", patches), ("images", images)] {
            let value = value.expect("API types always serialize");
            if value.as_array().is_some_and(|list| !list.is_empty()) {
                file.insert(field.into(), value);
            }
        }
        for stream in [templates, hooks] {
            if !stream.is_empty() {
                kept.extend(build(stream, &file, &shown, redactor)?);
            }
        }
        manifests = kept;
    }
    Ok(manifests)
}

/// `manifests` built with the kustomization `file`, masked on disk.
fn build(
    manifests: Vec<Manifest>,
    file: &Map<String, Value>,
    shown: &Path,
    redactor: &Redactor,
) -> Result<Vec<Manifest>, RenderError> {
    let io = |source| RenderError::Read {
        path: shown.to_path_buf(),
        source,
    };
    let dir = tempfile::Builder::new()
        .prefix("lockstep-post-render-")
        .tempdir()
        .map_err(io)?;
    let mut mask = Mask::new();
    let mut origins: Vec<Origin> = Vec::with_capacity(manifests.len());
    let mut input = Zeroizing::new(Vec::new());
    for mut manifest in manifests {
        mask.hide(&mut manifest.object, redactor);
        let annotations = &mut manifest.object["metadata"]["annotations"];
        if !annotations.is_object() {
            *annotations = Value::Object(Map::new());
        }
        annotations[ORIGIN] = origins.len().to_string().into();
        input.extend_from_slice(b"---\n");
        serde_json::to_writer(&mut *input, &manifest.object).map_err(|_| RenderError::Helm {
            chart: shown.to_path_buf(),
            reason: "the rendered objects do not serialize".into(),
        })?;
        input.push(b'\n');
        origins.push((manifest.file, manifest.document, manifest.holds_secrets));
    }
    let write = |name: &str, bytes: &[u8]| {
        std::fs::File::create_new(dir.path().join(name)).and_then(|mut f| f.write_all(bytes))
    };
    write(INPUT, &input).map_err(io)?;
    let text = serde_json::to_vec(&Value::Object(file.clone())).expect("JSON serializes");
    write("kustomization.yaml", &text).map_err(io)?;
    let mut built = Vec::new();
    let mut walk = Walk::new(dir.path());
    kustomize::build(
        &mut walk,
        &dir.path().join("kustomization.yaml"),
        shown,
        &mut built,
    )?;
    for manifest in &mut built {
        mask.show(&mut manifest.object);
        let annotations = &mut manifest.object["metadata"]["annotations"];
        let origin = annotations[ORIGIN].as_str().and_then(|o| o.parse().ok());
        if let Some(map) = annotations.as_object_mut() {
            map.remove(ORIGIN);
            if map.is_empty() {
                manifest.object["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("annotations"));
            }
        }
        if let Some((file, document, holds_secrets)) =
            origin.and_then(|i: usize| origins.get(i)).cloned()
        {
            (manifest.file, manifest.document) = (file, document);
            manifest.holds_secrets = holds_secrets;
        }
    }
    Ok(built)
}

/// Where an object came from (its template file and document) and whether it holds
/// secrets, kept through kustomize.
type Origin = (PathBuf, usize, bool);

/// The values hidden from disk, each behind a placeholder of its own.
struct Mask {
    /// Random per render, so no rendered text can be mistaken for a placeholder.
    nonce: String,
    hidden: Vec<Zeroizing<String>>,
    by_placeholder: HashMap<String, usize>,
}

impl Mask {
    fn new() -> Mask {
        let random = RandomState::new().hash_one(std::process::id());
        Mask {
            nonce: format!("LSM{:09x}", random & 0xf_ffff_ffff),
            hidden: Vec::new(),
            by_placeholder: HashMap::new(),
        }
    }

    /// Replaces, in `object`, a Secret's data values and every string `redactor` would
    /// scrub with placeholders.
    fn hide(&mut self, object: &mut Value, redactor: &Redactor) {
        if is_secret(object) {
            for field in ["data", "stringData"] {
                if let Some(values) = object.get_mut(field) {
                    self.hide_all(values);
                }
            }
        }
        if !redactor.is_empty() {
            self.hide_known(object, redactor);
        }
    }

    fn hide_all(&mut self, value: &mut Value) {
        match value {
            Value::Object(map) => map.values_mut().for_each(|v| self.hide_all(v)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.hide_all(v)),
            Value::String(text) => *text = self.placeholder(std::mem::take(text)),
            _ => {}
        }
    }

    fn hide_known(&mut self, value: &mut Value, redactor: &Redactor) {
        match value {
            Value::Object(map) => map.values_mut().for_each(|v| self.hide_known(v, redactor)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.hide_known(v, redactor)),
            Value::String(text)
                if !self.by_placeholder.contains_key(text.as_str())
                    && redactor.scrub(text) != *text =>
            {
                *text = self.placeholder(std::mem::take(text));
            }
            _ => {}
        }
    }

    /// A placeholder for `text`: 16 letters and digits, so that it is base64 too (a
    /// Secret's `data` stays well-formed).
    fn placeholder(&mut self, text: String) -> String {
        let placeholder = format!("{}{:04}", self.nonce, self.hidden.len());
        self.by_placeholder
            .insert(placeholder.clone(), self.hidden.len());
        self.hidden.push(Zeroizing::new(text));
        placeholder
    }

    /// Puts every hidden value back in place of its placeholder.
    fn show(&self, value: &mut Value) {
        match value {
            Value::Object(map) => map.values_mut().for_each(|v| self.show(v)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.show(v)),
            Value::String(text) if text.contains(&self.nonce) => {
                if let Some(&i) = self.by_placeholder.get(text.as_str()) {
                    *text = self.hidden[i].to_string();
                    return;
                }
                let mut shown = text.clone();
                for (placeholder, &i) in &self.by_placeholder {
                    shown = shown.replace(placeholder.as_str(), &self.hidden[i]);
                }
                *text = shown;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A Secret's values and any string holding a known secret are masked, other text is
    /// left alone, and everything comes back.
    #[test]
    fn secrets_are_masked_and_put_back() {
        let mut redactor = Redactor::new();
        redactor.add(b"Pq8-canary-value");
        let mut secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                                "data": {"a": "c2VjcmV0"}, "stringData": {"b": "plain"}});
        let mut config = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
                                "data": {"url": "https://u:Pq8-canary-value@db", "n": "open"}});
        let (secret0, config0) = (secret.clone(), config.clone());
        let mut mask = Mask::new();
        mask.hide(&mut secret, &redactor);
        mask.hide(&mut config, &redactor);
        let text = format!("{secret}{config}");
        for hidden in ["c2VjcmV0", "plain", "Pq8"] {
            assert!(!text.contains(hidden), "{hidden} in {text}");
        }
        assert_eq!(config["data"]["n"], "open");
        let placeholder = secret["data"]["a"].as_str().unwrap();
        assert_eq!(placeholder.len(), 16);
        assert!(placeholder.chars().all(|c| c.is_ascii_alphanumeric()));
        // A placeholder kustomize moved into a longer string is put back too.
        let mut moved = json!({"x": format!("prefix-{placeholder}")});
        mask.show(&mut moved);
        assert_eq!(moved["x"], "prefix-c2VjcmV0");
        mask.show(&mut secret);
        mask.show(&mut config);
        assert_eq!((secret, config), (secret0, config0));
    }
}

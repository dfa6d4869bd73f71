//! An Application's `spec.source.kustomize` as the engine's render [`Overlay`]: the same
//! private copy and kustomization edit that serve a Flux Kustomization, fed with what
//! `argocd-repo-server` writes before `kustomize build` — `namePrefix`/`nameSuffix` set
//! (`kustomize edit set nameprefix`), images merged by name (`edit set image`), patches
//! and components added after the kustomization's own, common labels and annotations
//! merged (`kustomize edit add label|annotation`). Images and common labels (and common
//! annotations, with `commonAnnotationsEnvsubst`) carry Argo CD's build variables
//! substituted ([`Env`]).

use std::collections::BTreeMap;

use lockstep_api::argocd::KustomizeOptions;
use lockstep_api::flux::{Common, Image, Overlay, Patch};

use super::env::Env;

/// Why `spec.source.kustomize` cannot be built as Argo CD builds it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KustomizeError {
    /// An image `kustomize edit set image` would refuse (once variables are substituted).
    #[error(
        "spec.source.kustomize.images[{index}] {image:?} is not an image to set; write \
         name=newName:tag, name=newName@digest, name=newName, name:tag or name@digest"
    )]
    Image {
        /// Its place in the list.
        index: usize,
        /// The entry as written (an image reference, no secret).
        image: String,
    },
}

/// The overlay `kustomize` asks for, with `env`'s variables substituted.
///
/// # Errors
/// [`KustomizeError`] naming the first image that cannot be read.
pub fn overlay(kustomize: &KustomizeOptions, env: &Env) -> Result<Overlay, KustomizeError> {
    let images = kustomize
        .images
        .iter()
        .enumerate()
        .map(|(index, image)| {
            parse_image(&env.substitute(image)).ok_or_else(|| KustomizeError::Image {
                index,
                image: image.clone(),
            })
        })
        .collect::<Result<_, _>>()?;
    let substituted = |values: &BTreeMap<String, String>| {
        let value = |(key, value): (&String, &String)| (key.clone(), env.substitute(value));
        values.iter().map(value).collect()
    };
    let patches = kustomize
        .patches
        .iter()
        // A patch without `patch` is refused by name before (`Application::unserved`).
        .filter_map(|p| {
            Some(Patch {
                patch: p.patch.clone()?,
                target: p.target.clone(),
            })
        })
        .collect();
    Ok(Overlay {
        name_prefix: kustomize.name_prefix.clone().filter(|p| !p.is_empty()),
        name_suffix: kustomize.name_suffix.clone().filter(|s| !s.is_empty()),
        patches,
        images,
        components: kustomize.components.clone(),
        ignore_missing_components: kustomize.ignore_missing_components,
        common_labels: Common {
            values: substituted(&kustomize.common_labels),
            force: kustomize.force_common_labels,
        },
        common_annotations: Common {
            values: match kustomize.common_annotations_envsubst {
                true => substituted(&kustomize.common_annotations),
                false => kustomize.common_annotations.clone(),
            },
            force: kustomize.force_common_annotations,
        },
    })
}

/// Reads one argument of `kustomize edit set image`: `name=` followed by a new name with
/// an optional `:tag` or `@digest`, or a name with a `:tag` or `@digest` only. A `*` for
/// the new name or tag keeps the kustomization's own, as kustomize reads it.
fn parse_image(arg: &str) -> Option<Image> {
    let (name, new) = match arg.split_once('=') {
        Some((name, new)) if !new.contains('=') => (name, Some(new)),
        Some(_) => return None,
        None => ("", None),
    };
    let (reference, digest) = match new.unwrap_or(arg).split_once('@') {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (new.unwrap_or(arg), None),
    };
    let (reference, tag) = match reference.rsplit_once(':') {
        Some((reference, tag)) if digest.is_none() && is_tag(tag) => (reference, Some(tag)),
        _ => (reference, None),
    };
    let keep = |value: &str| (!value.is_empty() && value != "*").then(|| value.to_owned());
    let image = match new {
        Some(_) => Image {
            name: name.to_owned(),
            new_name: keep(reference),
            new_tag: tag.and_then(keep),
            digest: digest.map(str::to_owned),
        },
        // Without `=`, only a tag or a digest is set: a bare name sets nothing.
        None if tag.is_none() && digest.is_none() => return None,
        None => Image {
            name: reference.to_owned(),
            new_name: None,
            new_tag: tag.and_then(keep),
            digest: digest.map(str::to_owned),
        },
    };
    (!image.name.is_empty() && image.digest.as_deref() != Some("")).then_some(image)
}

/// A tag as kustomize matches it: letters, digits, `.`, `_`, `-`, or `*`.
fn is_tag(tag: &str) -> bool {
    tag == "*"
        || tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(name: &str, new_name: Option<&str>, tag: Option<&str>, digest: Option<&str>) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.map(Into::into),
            new_tag: tag.map(Into::into),
            digest: digest.map(Into::into),
        }
    }

    /// Every form `kustomize edit set image` reads, Argo CD's documented examples among
    /// them, and the ones it refuses.
    #[test]
    fn images_read_as_kustomize_edit_set_image() {
        let cases = [
            (
                "postgres=eu.gcr.io/my-project/postgres:latest",
                image(
                    "postgres",
                    Some("eu.gcr.io/my-project/postgres"),
                    Some("latest"),
                    None,
                ),
            ),
            (
                "my-app=my-registry/my-app@sha256:24a0c4b4",
                image(
                    "my-app",
                    Some("my-registry/my-app"),
                    None,
                    Some("sha256:24a0c4b4"),
                ),
            ),
            ("node:8.15.0", image("node", None, Some("8.15.0"), None)),
            ("mysql=mariadb", image("mysql", Some("mariadb"), None, None)),
            (
                "alpine@sha256:24a0c4b4",
                image("alpine", None, None, Some("sha256:24a0c4b4")),
            ),
            (
                "localhost:5000/app:v1",
                image("localhost:5000/app", None, Some("v1"), None),
            ),
            (
                "app=localhost:5000/app",
                image("app", Some("localhost:5000/app"), None, None),
            ),
            ("app=*:v2", image("app", None, Some("v2"), None)),
        ];
        for (arg, expected) in cases {
            assert_eq!(parse_image(arg), Some(expected), "{arg}");
        }
        for bad in ["nginx", "", "=x:1", "a=b=c", "x@", ":1"] {
            assert_eq!(parse_image(bad), None, "{bad}");
        }
    }

    /// The overlay carries each field; an unreadable image is named by its place.
    #[test]
    fn options_become_the_overlay() {
        let options: KustomizeOptions = serde_json::from_value(serde_json::json!({
            "namePrefix": "prod-", "nameSuffix": "", "images": ["web:2"],
            "patches": [{"patch": "- op: remove\n  path: /data/x", "target": {"kind": "ConfigMap"}}],
            "components": ["../extra"], "ignoreMissingComponents": true,
            "commonLabels": {"team": "a"}, "forceCommonLabels": true,
            "commonAnnotations": {"note": "b"},
        }))
        .unwrap();
        let overlay = overlay(&options, &Env::default()).unwrap();
        assert_eq!(overlay.name_prefix.as_deref(), Some("prod-"));
        assert_eq!(overlay.name_suffix, None);
        assert_eq!(overlay.images, [image("web", None, Some("2"), None)]);
        assert_eq!(overlay.patches.len(), 1);
        assert_eq!(
            overlay.patches[0].target.as_ref().unwrap().kind.as_deref(),
            Some("ConfigMap")
        );
        assert_eq!(overlay.components, ["../extra"]);
        assert!(overlay.ignore_missing_components);
        assert_eq!(overlay.common_labels.values["team"], "a");
        assert!(overlay.common_labels.force);
        assert_eq!(overlay.common_annotations.values["note"], "b");
        assert!(!overlay.common_annotations.force);

        let bad = KustomizeOptions {
            images: vec!["web:1".into(), "nginx".into()],
            ..KustomizeOptions::default()
        };
        let err = super::overlay(&bad, &Env::default()).unwrap_err();
        assert!(err.to_string().contains("images[1] \"nginx\""), "{err}");
    }

    /// Images and common labels take Argo CD's variables, common annotations only with
    /// `commonAnnotationsEnvsubst`; an image is read once substituted.
    #[test]
    fn build_variables_are_substituted_where_argo_cd_substitutes_them() {
        let app: lockstep_api::argocd::Application = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"project": "default", "destination": {"namespace": "shop"}},
        }))
        .unwrap();
        let env = Env::new(&app, "f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8");
        let mut options: KustomizeOptions = serde_json::from_value(serde_json::json!({
            "images": ["web=registry.example/web:${ARGOCD_APP_REVISION_SHORT_8}"],
            "commonLabels": {"rev": "$ARGOCD_APP_REVISION_SHORT"},
            "commonAnnotations": {"app": "$ARGOCD_APP_NAME-$ARGOCD_APP_NAMESPACE"},
        }))
        .unwrap();
        let overlay = overlay(&options, &env).unwrap();
        let tagged = image("web", Some("registry.example/web"), Some("f913b6cb"), None);
        assert_eq!(overlay.images, [tagged]);
        assert_eq!(overlay.common_labels.values["rev"], "f913b6c");
        assert_eq!(
            overlay.common_annotations.values["app"],
            "$ARGOCD_APP_NAME-$ARGOCD_APP_NAMESPACE"
        );
        options.common_annotations_envsubst = true;
        let overlay = super::overlay(&options, &env).unwrap();
        assert_eq!(overlay.common_annotations.values["app"], "web-shop");
        // An image that is empty once substituted is named as written.
        options.images = vec!["$UNSET".into()];
        let err = super::overlay(&options, &env).unwrap_err();
        assert!(err.to_string().contains("images[0] \"$UNSET\""), "{err}");
    }
}

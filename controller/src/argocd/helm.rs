//! An Application's `spec.source.helm` as the Sync's [`Helm`] block: the chart at `path`
//! rendered by the one `helm template` path, with what `argocd-repo-server` passes —
//! release name (default the Application's name), value files relative to the chart,
//! `valuesObject` (else the `values` YAML) merged over them, `parameters` set last (as
//! `--set`, then `--set-string`) and `fileParameters` (`--set-file`) last, `--skip-crds`,
//! `--skip-tests`, `--skip-schema-validation`, `kubeVersion` and `apiVersions` instead of
//! the cluster's, and the release namespace (`namespace`, else the destination's).
//! Parameter values and file paths carry Argo CD's build variables substituted
//! ([`Env`]); a path starting with `/` is from the repository's root.

use std::path::{Component, Path};

use lockstep_api::argocd::HelmOptions;
use lockstep_api::{FileParameter, Helm};
use lockstep_engine::render::helm::set_parameter;
use serde_json::{Map, Value};

use super::env::Env;

/// Why `spec.source.helm` cannot be rendered as Argo CD renders it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelmError {
    /// `values` is not a YAML mapping (the parser's text is not kept: it may quote a value).
    #[error("spec.source.helm.values is not a YAML mapping of values")]
    Values,
    /// `version` names a Helm other than 3.
    #[error(
        "spec.source.helm.version {0:?} is not served: Lockstep renders with Helm 3 (`v3`), as \
         Argo CD does"
    )]
    Version(String),
    /// A parameter Helm's parser would not read as Argo CD means it (never its value).
    #[error("spec.source.helm.{field}[{index}] ({name}): {reason}")]
    Parameter {
        /// `parameters` or `fileParameters`.
        field: &'static str,
        /// Its place in `parameters`.
        index: usize,
        /// Its `name`.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The Sync's `helm` block for `options` of the chart at `path` in a Git repository (`None`
/// for a repository's chart), with `env`'s variables substituted.
///
/// # Errors
/// [`HelmError::Values`] when `values` (read only without `valuesObject`) is not a mapping,
/// [`HelmError::Parameter`] when a parameter cannot be set.
pub fn helm(options: &HelmOptions, env: &Env, path: Option<&str>) -> Result<Helm, HelmError> {
    if let Some(version) = options.version.as_ref().filter(|v| *v != "v3") {
        return Err(HelmError::Version(version.clone()));
    }
    let mut values = match (&options.values_object, options.values.as_deref()) {
        (Some(object), _) => Some(object.clone()),
        (None, Some(text)) => yaml_values(text)?,
        (None, None) => None,
    };
    if !options.parameters.is_empty() {
        let set = values.get_or_insert_default();
        // helm applies every `--set` before any `--set-string`.
        let (strings, typed): (Vec<_>, Vec<_>) = options
            .parameters
            .iter()
            .enumerate()
            .partition(|(_, p)| p.force_string);
        for (index, parameter) in typed.into_iter().chain(strings) {
            let refuse = |reason: String| HelmError::Parameter {
                field: "parameters",
                index,
                name: parameter.name.clone(),
                reason,
            };
            let value = env.substitute(&parameter.value);
            set_parameter(set, &parameter.name, &value, parameter.force_string).map_err(refuse)?;
        }
    }
    let file = |raw: &str| from_chart(&env.substitute(raw), path);
    Ok(Helm {
        chart: None,
        release_name: options.release_name.clone().filter(|n| !n.is_empty()),
        values_files: options.value_files.iter().map(|f| file(f)).collect(),
        ignore_missing_values_files: options.ignore_missing_value_files,
        file_parameters: options
            .file_parameters
            .iter()
            .map(|p| FileParameter {
                name: p.name.clone(),
                path: file(&p.path),
            })
            .collect(),
        kube_version: options
            .kube_version
            .clone()
            .filter(|v| !v.is_empty())
            .map(|v| match v.starts_with('v') {
                true => v,
                false => format!("v{v}"),
            }),
        api_versions: options.api_versions.clone(),
        skip_schema_validation: options.skip_schema_validation,
        values,
        include_crds: Some(!options.skip_crds),
        skip_tests: options.skip_tests,
        ..Helm::default()
    })
}

/// `file` relative to the chart folder at `path`: Argo CD reads a value or parameter file
/// starting with `/` from the repository's root (a repository's chart is its root).
fn from_chart(file: &str, path: Option<&str>) -> String {
    let Some(in_repository) = file.strip_prefix('/') else {
        return file.to_owned();
    };
    let depth = Path::new(path.unwrap_or_default())
        .components()
        .fold(0_usize, |depth, part| match part {
            Component::Normal(_) => depth + 1,
            Component::ParentDir => depth.saturating_sub(1),
            _ => depth,
        });
    format!("{}{in_repository}", "../".repeat(depth))
}

fn yaml_values(text: &str) -> Result<Option<Map<String, Value>>, HelmError> {
    match serde_saphyr::from_str::<Value>(text).map_err(|_| HelmError::Values)? {
        Value::Null => Ok(None),
        Value::Object(values) => Ok(Some(values)),
        _ => Err(HelmError::Values),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn options(value: Value) -> HelmOptions {
        serde_json::from_value(value).unwrap()
    }

    fn read(options: &HelmOptions) -> Result<Helm, HelmError> {
        helm(options, &Env::default(), None)
    }

    /// `valuesObject` replaces `values`; `values` is read as YAML; `skipCrds` leaves CRDs out.
    #[test]
    fn options_read_as_argo_cd_passes_them() {
        let helm = read(&options(json!({
            "releaseName": "web", "valueFiles": ["prod.yaml"], "skipCrds": true,
            "values": "a: 1", "valuesObject": {"b": {"c": true}},
        })))
        .unwrap();
        assert_eq!(helm.release_name.as_deref(), Some("web"));
        assert_eq!(helm.values_files, ["prod.yaml"]);
        assert_eq!(
            Value::Object(helm.values.unwrap()),
            json!({"b": {"c": true}})
        );
        assert_eq!(helm.include_crds, Some(false));
        let from_yaml = read(&options(json!({"values": "a:\n  b: [1, x]\n"}))).unwrap();
        assert_eq!(
            Value::Object(from_yaml.values.unwrap()),
            json!({"a": {"b": [1, "x"]}})
        );
        assert_eq!(from_yaml.include_crds, Some(true));
        let empty = read(&options(json!({"values": ""}))).unwrap();
        assert_eq!(empty.values, None);
        for bad in ["- a", "a: [", "plain"] {
            let err = read(&options(json!({"values": bad}))).unwrap_err();
            assert_eq!(err, HelmError::Values, "{bad}");
        }
    }

    /// Parameters are set over `valuesObject`, `--set` ones before `--set-string` ones (so a
    /// string wins a name both set), and a bad one is refused naming its place, not its value.
    /// `version: v3` is Helm 3, which Lockstep renders with; any other is refused by name.
    #[test]
    fn only_helm_3_is_served() {
        assert!(read(&options(json!({"version": "v3"}))).is_ok());
        let refused = read(&options(json!({"version": "v2"}))).unwrap_err();
        assert_eq!(refused, HelmError::Version("v2".into()));
        assert!(
            refused
                .to_string()
                .starts_with("spec.source.helm.version \"v2\"")
        );
    }

    #[test]
    fn parameters_are_set_last_as_helm_sets_them() {
        let helm = read(&options(json!({
            "valuesObject": {"image": {"tag": "old", "pull": "Always"}},
            "ignoreMissingValueFiles": true,
            "parameters": [
                {"name": "port", "value": "80", "forceString": true},
                {"name": "image.tag", "value": "v2"},
                {"name": "port", "value": "81"},
                {"name": "hosts", "value": "{a,b}"},
            ],
        })))
        .unwrap();
        assert_eq!(
            Value::Object(helm.values.unwrap()),
            json!({"image": {"tag": "v2", "pull": "Always"}, "port": "80", "hosts": ["a", "b"]})
        );
        assert!(helm.ignore_missing_values_files);
        let more = read(&options(json!({
            "fileParameters": [{"name": "script", "path": "files/run.sh"}],
            "kubeVersion": "1.30.0", "apiVersions": ["monitoring.coreos.com/v1/ServiceMonitor"],
            "skipSchemaValidation": true,
        })))
        .unwrap();
        assert_eq!(more.file_parameters[0].path, "files/run.sh");
        assert_eq!(more.kube_version.as_deref(), Some("v1.30.0"));
        assert_eq!(
            more.api_versions,
            ["monitoring.coreos.com/v1/ServiceMonitor"]
        );
        assert!(more.skip_schema_validation);
        for (parameter, why) in [
            (json!({"name": "a..b", "value": "Pq8"}), "empty key"),
            (json!({"name": "a", "value": "{Pq8"}), "never ends"),
        ] {
            let err = read(&options(
                json!({"parameters": [{"name": "ok", "value": "1"}, parameter]}),
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.starts_with("spec.source.helm.parameters[1] (a")
                    && err.contains(why)
                    && !err.contains("Pq8"),
                "{err}"
            );
        }
    }

    /// Argo CD's variables are substituted into parameter values (before they are typed)
    /// and file paths, never into `valuesObject`; a path from `/` is from the repository's
    /// root, so it climbs out of the chart folder.
    #[test]
    fn build_variables_are_substituted_where_argo_cd_substitutes_them() {
        let app: lockstep_api::argocd::Application = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://git.example/a.git", "path": "charts/web"},
                     "destination": {"namespace": "shop"}},
        }))
        .unwrap();
        let env = Env::new(&app, "f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8");
        let options = options(json!({
            "valuesObject": {"kept": "$ARGOCD_APP_NAME"},
            "valueFiles": ["values-$ARGOCD_APP_NAMESPACE.yaml", "/envs/${ARGOCD_APP_NAME}.yaml"],
            "parameters": [
                {"name": "image.tag", "value": "$ARGOCD_APP_REVISION_SHORT"},
                {"name": "price", "value": "$$5"},
                {"name": "ns", "value": "${ARGOCD_APP_NAMESPACE},x"},
            ],
            "fileParameters": [{"name": "script", "path": "/scripts/$ARGOCD_APP_NAME.sh"}],
        }));
        let helm = helm(&options, &env, Some("charts/web")).unwrap();
        assert_eq!(
            Value::Object(helm.values.unwrap()),
            json!({"kept": "$ARGOCD_APP_NAME", "image": {"tag": "f913b6c"}, "price": "$5",
                   "ns": "shop,x"})
        );
        assert_eq!(
            helm.values_files,
            ["values-shop.yaml", "../../envs/web.yaml"]
        );
        assert_eq!(helm.file_parameters[0].path, "../../scripts/web.sh");
        let repository_chart = super::helm(&options, &env, None).unwrap();
        assert_eq!(repository_chart.values_files[1], "envs/web.yaml");
    }
}

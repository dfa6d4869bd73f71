//! An Application's `spec.source.helm` as the Sync's [`Helm`] block: the chart at `path`
//! rendered by the one `helm template` path, with what `argocd-repo-server` passes —
//! release name (default the Application's name), value files relative to the chart,
//! `valuesObject` (else the `values` YAML) merged over them, `parameters` set last (as
//! `--set`, then `--set-string`) and `fileParameters` (`--set-file`) last, `--skip-crds`,
//! `--skip-tests`, `--skip-schema-validation`, `kubeVersion` and `apiVersions` instead of
//! the cluster's, and the release namespace (`namespace`, else the destination's).

use lockstep_api::Helm;
use lockstep_api::argocd::HelmOptions;
use lockstep_engine::render::helm::set_parameter;
use serde_json::{Map, Value};

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

/// The Sync's `helm` block for `options`.
///
/// # Errors
/// [`HelmError::Values`] when `values` (read only without `valuesObject`) is not a mapping,
/// [`HelmError::Parameter`] when a parameter cannot be set.
pub fn helm(options: &HelmOptions) -> Result<Helm, HelmError> {
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
            if parameter.value.contains('$') {
                return Err(refuse(
                    "the value holds a `$`: Argo CD substitutes its ARGOCD_APP_* variables \
                     there (and empties any other), which Lockstep does not do yet"
                        .into(),
                ));
            }
            set_parameter(
                set,
                &parameter.name,
                &parameter.value,
                parameter.force_string,
            )
            .map_err(refuse)?;
        }
    }
    if let Some(index) = options
        .file_parameters
        .iter()
        .position(|p| p.path.contains('$'))
    {
        return Err(HelmError::Parameter {
            field: "fileParameters",
            index,
            name: options.file_parameters[index].name.clone(),
            reason: "its path holds a `$`: Argo CD substitutes its ARGOCD_APP_* variables and \
                     `$ref` sources there, which Lockstep does not do yet"
                .into(),
        });
    }
    Ok(Helm {
        chart: None,
        release_name: options.release_name.clone().filter(|n| !n.is_empty()),
        values_files: options.value_files.clone(),
        ignore_missing_values_files: options.ignore_missing_value_files,
        file_parameters: options.file_parameters.clone(),
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

    /// `valuesObject` replaces `values`; `values` is read as YAML; `skipCrds` leaves CRDs out.
    #[test]
    fn options_read_as_argo_cd_passes_them() {
        let helm = helm(&options(json!({
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
        let from_yaml = super::helm(&options(json!({"values": "a:\n  b: [1, x]\n"}))).unwrap();
        assert_eq!(
            Value::Object(from_yaml.values.unwrap()),
            json!({"a": {"b": [1, "x"]}})
        );
        assert_eq!(from_yaml.include_crds, Some(true));
        let empty = super::helm(&options(json!({"values": ""}))).unwrap();
        assert_eq!(empty.values, None);
        for bad in ["- a", "a: [", "plain"] {
            let err = super::helm(&options(json!({"values": bad}))).unwrap_err();
            assert_eq!(err, HelmError::Values, "{bad}");
        }
    }

    /// Parameters are set over `valuesObject`, `--set` ones before `--set-string` ones (so a
    /// string wins a name both set), and a bad one is refused naming its place, not its value.
    /// `version: v3` is Helm 3, which Lockstep renders with; any other is refused by name.
    #[test]
    fn only_helm_3_is_served() {
        assert!(helm(&options(json!({"version": "v3"}))).is_ok());
        let refused = helm(&options(json!({"version": "v2"}))).unwrap_err();
        assert_eq!(refused, HelmError::Version("v2".into()));
        assert!(
            refused
                .to_string()
                .starts_with("spec.source.helm.version \"v2\"")
        );
    }

    #[test]
    fn parameters_are_set_last_as_helm_sets_them() {
        let helm = helm(&options(json!({
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
        let more = super::helm(&options(json!({
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
        let err = super::helm(&options(json!({
            "fileParameters": [{"name": "s", "path": "$values/run.sh"}],
        })))
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("spec.source.helm.fileParameters[0] (s)")
        );
        for (parameter, why) in [
            (
                json!({"name": "a", "value": "Pq8-$ARGOCD_APP_NAME"}),
                "ARGOCD_APP_",
            ),
            (json!({"name": "a..b", "value": "Pq8"}), "empty key"),
            (json!({"name": "a", "value": "{Pq8"}), "never ends"),
        ] {
            let err = super::helm(&options(
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
}

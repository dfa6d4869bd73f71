//! An Application's `spec.source.helm` as the Sync's [`Helm`] block: the chart at `path`
//! rendered by the one `helm template` path, with what `argocd-repo-server` passes —
//! release name (default the Application's name), value files relative to the chart,
//! `valuesObject` (else the `values` YAML) merged last, `--skip-crds`, `--skip-tests`, and
//! the release namespace (`namespace`, else the destination's).

use lockstep_api::Helm;
use lockstep_api::argocd::HelmOptions;
use serde_json::{Map, Value};

/// Why `spec.source.helm` cannot be rendered as Argo CD renders it.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HelmError {
    /// `values` is not a YAML mapping (the parser's text is not kept: it may quote a value).
    #[error("spec.source.helm.values is not a YAML mapping of values")]
    Values,
}

/// The Sync's `helm` block for `options`.
///
/// # Errors
/// [`HelmError::Values`] when `values` (read only without `valuesObject`) is not a mapping.
pub fn helm(options: &HelmOptions) -> Result<Helm, HelmError> {
    let values = match (&options.values_object, options.values.as_deref()) {
        (Some(object), _) => Some(object.clone()),
        (None, Some(text)) => yaml_values(text)?,
        (None, None) => None,
    };
    Ok(Helm {
        chart: None,
        release_name: options.release_name.clone().filter(|n| !n.is_empty()),
        values_files: options.value_files.clone(),
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
}

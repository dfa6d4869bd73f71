//! `spec.target.template` as ESO v0.16.2 applies it (`applyTemplate`, `templating.Parser`
//! and template engine v2): the Secret's type; the values read kept when `mergePolicy` is
//! `Merge` or nothing is templated; then `templateFrom` (ConfigMap items, Secret items,
//! literals), `data`, `metadata.labels` and `metadata.annotations`, each a Go template
//! over the values read, as strings, with `missingkey=error`.
//!
//! The ConfigMaps and Secrets `templateFrom` names are read first ([`sources`]), so that
//! [`apply`] is a pure step of building the target Secret. Templates run in memory; an
//! error names the template's field and its place in it, never a value.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use lockstep_api::external_secrets::{
    ExternalSecretTemplate, TemplateFrom, TemplateMergePolicy, TemplateScope, TemplateTarget,
};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::fetch::SecretData;
use crate::gotmpl::{MissingKey, Template, TemplateError, Value};

/// Why a template could not be applied. Names the field, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateFailure {
    /// A template does not parse or fails to run.
    #[error("{field}: {source}")]
    Template {
        /// The template's field (`spec.target.template.data[tls.crt]`).
        field: String,
        /// Where in the template, and what.
        #[source]
        source: TemplateError,
    },
    /// A `templateFrom` item is missing or its output is not a map of strings.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

/// The items of the ConfigMaps and Secrets a template's `templateFrom` names, by name.
#[derive(Default)]
pub struct Sources {
    config_maps: BTreeMap<String, BTreeMap<String, String>>,
    secrets: BTreeMap<String, BTreeMap<String, Zeroizing<Vec<u8>>>>,
}

/// Checks the engine version and reads what `templateFrom` names from `namespace`.
///
/// # Errors
/// [`Error::Field`] for engine `v1` or another unknown version, a ConfigMap or Secret
/// that does not exist or cannot be read.
pub async fn sources(
    client: &kube::Client,
    namespace: &str,
    template: &ExternalSecretTemplate,
) -> Result<Sources, Error> {
    engine(template).map_err(|reason| Error::Field {
        field: "spec.target.template.engineVersion".into(),
        reason,
    })?;
    let mut sources = Sources::default();
    for (i, from) in template.template_from.iter().enumerate() {
        let field = format!("spec.target.template.templateFrom[{i}]");
        if let Some(reference) = &from.config_map
            && !sources.config_maps.contains_key(&reference.name)
        {
            let found: ConfigMap = read(
                client,
                namespace,
                &format!("{field}.configMap"),
                &reference.name,
            )
            .await?;
            let data = found.data.unwrap_or_default().into_iter().collect();
            sources.config_maps.insert(reference.name.clone(), data);
        }
        if let Some(reference) = &from.secret
            && !sources.secrets.contains_key(&reference.name)
        {
            let found: Secret = read(
                client,
                namespace,
                &format!("{field}.secret"),
                &reference.name,
            )
            .await?;
            let data = found
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, Zeroizing::new(v.0)))
                .collect();
            sources.secrets.insert(reference.name.clone(), data);
        }
    }
    Ok(sources)
}

/// Only engine `v2` is served: `v1` is gone from ESO. The reason when another is asked.
fn engine(template: &ExternalSecretTemplate) -> Result<(), String> {
    match template.engine_version.as_deref() {
        None | Some("v2") => Ok(()),
        Some("v1") => Err(
            "engine v1 was removed from ESO and is not served; rewrite the \
                           templates for v2 (Go text/template with Sprig)"
                .to_owned(),
        ),
        Some(other) => Err(format!(
            "unsupported template engine version {other:?} (v2 is)"
        )),
    }
}

/// The ConfigMap or Secret `name` in `namespace`, which `field` names.
async fn read<K>(
    client: &kube::Client,
    namespace: &str,
    field: &str,
    name: &str,
) -> Result<K, Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    let fail = |reason| Error::Field {
        field: field.to_owned(),
        reason,
    };
    Api::<K>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .map_err(|e| fail(format!("cannot read {kind} {namespace}/{name}: {e}")))?
        .ok_or_else(|| fail(format!("{kind} {namespace}/{name} does not exist")))
}

/// Applies `template` to `secret`, whose data ESO has already emptied (unless
/// `creationPolicy` is `Merge`) and whose labels and annotations hold the template's
/// metadata as written.
///
/// # Errors
/// [`TemplateFailure`] at the first template that fails; `secret` is then not written.
pub fn apply(
    template: &ExternalSecretTemplate,
    sources: &Sources,
    data: &SecretData,
    secret: &mut Secret,
) -> Result<(), TemplateFailure> {
    if let Some(kind) = template.type_.as_ref().filter(|t| !t.is_empty()) {
        secret.type_ = Some(kind.clone());
    }
    let nothing_templated = template.data.is_empty() && template.template_from.is_empty();
    if template.merge_policy.unwrap_or_default() == TemplateMergePolicy::Merge || nothing_templated
    {
        let values = secret.data.get_or_insert_default();
        for (key, value) in data {
            values.insert(key.clone(), ByteString(value.to_vec()));
        }
    }
    let context = Value::map(
        data.iter()
            .map(|(k, v)| (k.clone(), Value::str(String::from_utf8_lossy(v))))
            .collect(),
        true,
    );
    for (i, from) in template.template_from.iter().enumerate() {
        from_source(i, from, sources, &context, secret)?;
    }
    let metadata = template.metadata.clone().unwrap_or_default();
    let maps = [
        ("data", &template.data, TemplateTarget::Data),
        ("metadata.labels", &metadata.labels, TemplateTarget::Labels),
        (
            "metadata.annotations",
            &metadata.annotations,
            TemplateTarget::Annotations,
        ),
    ];
    for (name, templates, target) in maps {
        for (key, text) in templates {
            let field = format!("spec.target.template.{name}[{key}]");
            let out = run(&field, text, &context)?;
            put(secret, target, key.clone(), &out);
        }
    }
    Ok(())
}

/// One `templateFrom` entry: each item of its ConfigMap and Secret, then its literal.
fn from_source(
    i: usize,
    from: &TemplateFrom,
    sources: &Sources,
    context: &Value,
    secret: &mut Secret,
) -> Result<(), TemplateFailure> {
    let field = format!("spec.target.template.templateFrom[{i}]");
    let target = from.target.unwrap_or_default();
    let refs = [("configMap", &from.config_map), ("secret", &from.secret)];
    for (kind, reference) in refs {
        let Some(reference) = reference else { continue };
        for (j, item) in reference.items.iter().enumerate() {
            let field = format!("{field}.{kind}.items[{j}]");
            let text: Zeroizing<String> = match kind {
                "configMap" => sources
                    .config_maps
                    .get(&reference.name)
                    .and_then(|m| m.get(&item.key))
                    .map(|t| Zeroizing::new(t.clone())),
                _ => sources
                    .secrets
                    .get(&reference.name)
                    .and_then(|m| m.get(&item.key))
                    .map(|t| Zeroizing::new(String::from_utf8_lossy(t).into_owned())),
            }
            .ok_or_else(|| TemplateFailure::Invalid {
                field: field.clone(),
                reason: format!("{} has no key {:?}", reference.name, item.key),
            })?;
            match item.template_as.unwrap_or_default() {
                TemplateScope::Values => {
                    let out = run(&field, &text, context)?;
                    put(secret, target, item.key.clone(), &out);
                }
                TemplateScope::KeysAndValues => {
                    keys_and_values(&field, &text, context, target, secret)?
                }
            }
        }
    }
    if let Some(literal) = &from.literal {
        keys_and_values(
            &format!("{field}.literal"),
            literal,
            context,
            target,
            secret,
        )?;
    }
    Ok(())
}

/// A template whose output is a YAML map of keys to string values, each written.
fn keys_and_values(
    field: &str,
    text: &str,
    context: &Value,
    target: TemplateTarget,
    secret: &mut Secret,
) -> Result<(), TemplateFailure> {
    let out = run(field, text, context)?;
    if out.trim().is_empty() {
        return Ok(());
    }
    let map: BTreeMap<String, String> =
        serde_saphyr::from_str(&out).map_err(|_| TemplateFailure::Invalid {
            field: field.to_owned(),
            reason: "the template's output is not a YAML map of strings to strings".into(),
        })?;
    for (key, value) in map {
        put(secret, target, key, &Zeroizing::new(value));
    }
    Ok(())
}

fn run(field: &str, text: &str, context: &Value) -> Result<Zeroizing<String>, TemplateFailure> {
    let failure = |source| TemplateFailure::Template {
        field: field.to_owned(),
        source,
    };
    Template::parse(text)
        .map_err(failure)?
        .execute(context.clone(), MissingKey::Error)
        .map_err(failure)
}

fn put(secret: &mut Secret, target: TemplateTarget, key: String, value: &Zeroizing<String>) {
    match target {
        TemplateTarget::Data => {
            secret
                .data
                .get_or_insert_default()
                .insert(key, ByteString(value.as_bytes().to_vec()));
        }
        TemplateTarget::Labels => {
            secret
                .metadata
                .labels
                .get_or_insert_default()
                .insert(key, value.to_string());
        }
        TemplateTarget::Annotations => {
            secret
                .metadata
                .annotations
                .get_or_insert_default()
                .insert(key, value.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_api::external_secrets::{TemplateMetadata, TemplateRef, TemplateRefItem};

    fn data() -> SecretData {
        [("user", "app"), ("pass", "canary-7f1c")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
            .collect()
    }

    fn text(secret: &Secret, key: &str) -> String {
        String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
    }

    #[test]
    fn merge_policy_templates_from_and_metadata() {
        let template = ExternalSecretTemplate {
            type_: Some("kubernetes.io/basic-auth".into()),
            merge_policy: Some(TemplateMergePolicy::Merge),
            data: BTreeMap::from([("pass".into(), "{{ .pass | upper }}".into())]),
            metadata: Some(TemplateMetadata {
                labels: BTreeMap::from([("who".into(), "{{ .user }}".into())]),
                annotations: BTreeMap::new(),
            }),
            template_from: vec![
                TemplateFrom {
                    config_map: Some(TemplateRef {
                        name: "tpl".into(),
                        items: vec![TemplateRefItem {
                            key: "kv".into(),
                            template_as: Some(TemplateScope::KeysAndValues),
                        }],
                    }),
                    ..TemplateFrom::default()
                },
                TemplateFrom {
                    target: Some(TemplateTarget::Annotations),
                    literal: Some("n: 1".into()),
                    ..TemplateFrom::default()
                },
            ],
            ..ExternalSecretTemplate::default()
        };
        let mut sources = Sources::default();
        sources.config_maps.insert(
            "tpl".into(),
            BTreeMap::from([("kv".into(), "{{ .user }}-x: \"{{ .user }}\"\n".into())]),
        );
        let mut secret = Secret::default();
        apply(&template, &sources, &data(), &mut secret).unwrap();
        assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/basic-auth"));
        assert_eq!(text(&secret, "pass"), "CANARY-7F1C");
        assert_eq!(text(&secret, "user"), "app");
        assert_eq!(text(&secret, "app-x"), "app");
        assert_eq!(secret.metadata.labels.unwrap()["who"], "app");
        assert_eq!(secret.metadata.annotations.unwrap()["n"], "1");

        // Replace (the default) keeps only what the templates write.
        let replace = ExternalSecretTemplate {
            merge_policy: None,
            template_from: Vec::new(),
            ..template
        };
        let mut secret = Secret::default();
        apply(&replace, &sources, &data(), &mut secret).unwrap();
        assert_eq!(secret.data.unwrap().keys().collect::<Vec<_>>(), ["pass"]);
    }

    #[test]
    fn failures_name_the_field_and_no_value() {
        let failing = |data: &str| ExternalSecretTemplate {
            data: BTreeMap::from([("k".into(), data.into())]),
            ..ExternalSecretTemplate::default()
        };
        for (template, place) in [
            ("{{ .pass | nosuch }}", "line 1, column 12"),
            ("{{ .pass.x }}", "line 1, column 4"),
        ] {
            let err = apply(
                &failing(template),
                &Sources::default(),
                &data(),
                &mut Secret::default(),
            )
            .unwrap_err();
            let shown = err.to_string();
            assert!(
                shown.starts_with(&format!("spec.target.template.data[k]: {place}: ")),
                "{shown}"
            );
            assert!(!shown.contains("canary"), "{shown}");
        }
        let literal = ExternalSecretTemplate {
            template_from: vec![TemplateFrom {
                literal: Some("{{ .pass }}".into()),
                ..TemplateFrom::default()
            }],
            ..ExternalSecretTemplate::default()
        };
        let err = apply(
            &literal,
            &Sources::default(),
            &data(),
            &mut Secret::default(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "spec.target.template.templateFrom[0].literal: the template's output is not a YAML \
             map of strings to strings"
        );
    }

    #[test]
    fn only_engine_v2() {
        let with = |v: Option<&str>| ExternalSecretTemplate {
            engine_version: v.map(str::to_owned),
            ..ExternalSecretTemplate::default()
        };
        assert!(engine(&with(None)).is_ok());
        assert!(engine(&with(Some("v2"))).is_ok());
        let err = engine(&with(Some("v1"))).unwrap_err();
        assert!(err.starts_with("engine v1 was removed"), "{err}");
        assert!(engine(&with(Some("v3"))).is_err());
    }
}

//! The target Secret as ESO v0.16.2 writes it (`mutationFunc` and `applyTemplate`): the
//! ExternalSecret's labels and annotations and the values read, or what its template
//! makes of them ([`crate::template`]), the owner reference for `creationPolicy: Owner`,
//! and ESO's bookkeeping — the `managed` and `created-by` labels and the `data-hash`
//! annotation.
//!
//! Keys, labels and annotations this ExternalSecret wrote before are found through the
//! Secret's `managedFields` under ESO's field manager, `externalsecrets.external-secrets.io/
//! <name>`; Lockstep writes under the same manager, so each recognises what the other wrote
//! and a switch either way rewrites nothing.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use lockstep_api::external_secrets::{
    CreationPolicy, ESO_CREATED_BY_LABEL, ESO_DATA_HASH_ANNOTATION, ESO_GROUP, ESO_MANAGED_LABEL,
    ExternalSecret,
};

use crate::fetch::{SecretData, target_name};
use crate::go;
use crate::template::{self, Sources, TemplateFailure};

/// ESO's field manager for the writes one ExternalSecret makes.
pub fn field_manager(es_name: &str) -> String {
    format!("externalsecrets.external-secrets.io/{es_name}")
}

/// Why the target cannot be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Another ExternalSecret is the Secret's controller.
    #[error("Secret {secret} is owned by another ExternalSecret, {owner}")]
    OwnedByOther {
        /// The Secret.
        secret: String,
        /// The owning ExternalSecret's name.
        owner: String,
    },
    /// Another controller owns the Secret, so `creationPolicy: Owner` cannot take it.
    #[error("Secret {secret} is controlled by {kind} {owner}; creationPolicy Owner cannot take it")]
    Controlled {
        /// The Secret.
        secret: String,
        /// The controller's kind.
        kind: String,
        /// The controller's name.
        owner: String,
    },
    /// The template cannot be applied.
    #[error("could not apply template: {0}")]
    Template(#[from] TemplateFailure),
}

impl TargetError {
    /// ESO's message for this failure's class ([`crate::status::message`]).
    pub fn class(&self) -> &'static str {
        use crate::status::message;
        match self {
            Self::OwnedByOther { .. } => message::IS_OWNED,
            Self::Controlled { .. } => message::BECOME_OWNER_FAILED,
            Self::Template(_) => message::UPDATE_FAILED,
        }
    }
}

/// The Secret `es` wants, made from the `existing` one (or a new one) and the values read,
/// through its template if it has one (`sources`: what the template's `templateFrom`
/// names).
///
/// # Errors
/// [`TargetError`] when someone else owns the Secret or the template fails.
pub fn desired(
    existing: Option<&Secret>,
    es: &ExternalSecret,
    data: SecretData,
    sources: &Sources,
) -> Result<Secret, TargetError> {
    let es_name = es.metadata.name.clone().unwrap_or_default();
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let name = target_name(es);
    let policy = es
        .spec
        .target
        .as_ref()
        .and_then(|t| t.creation_policy)
        .unwrap_or_default();
    let mut secret = existing.cloned().unwrap_or_else(|| Secret {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(namespace.clone()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    });
    let managed = managed_keys(&secret, &es_name);

    let owners = secret.metadata.owner_references.get_or_insert_default();
    let controller = owners.iter().position(|o| o.controller == Some(true));
    let is_es = |o: &OwnerReference| {
        o.kind == "ExternalSecret" && o.api_version.split('/').next() == Some(ESO_GROUP)
    };
    let owned_by_this = controller.is_some_and(|i| is_es(&owners[i]) && owners[i].name == es_name);
    if let Some(i) = controller
        && is_es(&owners[i])
        && !owned_by_this
    {
        return Err(TargetError::OwnedByOther {
            secret: format!("{namespace}/{name}"),
            owner: owners[i].name.clone(),
        });
    }
    if policy == CreationPolicy::Owner {
        let reference = OwnerReference {
            api_version: format!("{ESO_GROUP}/v1"),
            kind: "ExternalSecret".into(),
            name: es_name.clone(),
            uid: es.metadata.uid.clone().unwrap_or_default(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        };
        // controller-runtime's SetControllerReference: replace our own reference, refuse
        // another controller's, else append.
        match controller {
            Some(i) if owned_by_this => owners[i] = reference,
            Some(i) => {
                return Err(TargetError::Controlled {
                    secret: format!("{namespace}/{name}"),
                    kind: owners[i].kind.clone(),
                    owner: owners[i].name.clone(),
                });
            }
            None => match owners.iter().position(|o| is_es(o) && o.name == es_name) {
                Some(i) => owners[i] = reference,
                None => owners.push(reference),
            },
        }
    } else if owned_by_this {
        owners.retain(|o| !(is_es(o) && o.name == es_name));
    }
    if owners.is_empty() {
        secret.metadata.owner_references = None;
    }

    let template_spec = es.spec.target.as_ref().and_then(|t| t.template.as_ref());
    let labels = secret.metadata.labels.get_or_insert_default();
    let annotations = secret.metadata.annotations.get_or_insert_default();
    for key in &managed.labels {
        labels.remove(key);
    }
    for key in &managed.annotations {
        annotations.remove(key);
    }
    // With a template, its metadata replaces the ExternalSecret's (ESO's `setMetadata`).
    match template_spec {
        None => {
            labels.extend(es.metadata.labels.clone().unwrap_or_default());
            annotations.extend(es.metadata.annotations.clone().unwrap_or_default());
        }
        Some(t) => {
            let metadata = t.metadata.clone().unwrap_or_default();
            labels.extend(metadata.labels);
            annotations.extend(metadata.annotations);
        }
    }
    let values = secret.data.get_or_insert_default();
    for key in &managed.data {
        values.remove(key);
    }
    if policy != CreationPolicy::Merge {
        values.clear();
    }
    match template_spec {
        None => {
            for (key, value) in data {
                values.insert(key, ByteString(value.to_vec()));
            }
        }
        Some(t) => template::apply(t, sources, &data, &mut secret)?,
    }
    let labels = secret.metadata.labels.get_or_insert_default();
    let annotations = secret.metadata.annotations.get_or_insert_default();
    let values = secret.data.get_or_insert_default();
    if es.spec.target.as_ref().is_some_and(|t| t.immutable) {
        secret.immutable = Some(true);
    }
    if policy == CreationPolicy::Owner {
        labels.insert(
            ESO_CREATED_BY_LABEL.into(),
            go::hash_str(&format!("{namespace}/{es_name}")),
        );
    } else {
        labels.remove(ESO_CREATED_BY_LABEL);
    }
    labels.insert(ESO_MANAGED_LABEL.into(), "true".into());
    annotations.insert(ESO_DATA_HASH_ANNOTATION.into(), data_hash(values));
    Ok(secret)
}

/// ESO's `data-hash` annotation of a Secret's data.
pub fn data_hash(data: &BTreeMap<String, ByteString>) -> String {
    go::hash_data(data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice())))
}

/// ESO's `isSecretValid`: the Secret exists, carries the `managed` label, and its data
/// still matches its `data-hash` annotation (nobody changed it since).
pub fn is_valid(secret: Option<&Secret>) -> bool {
    let Some(secret) = secret else {
        return false;
    };
    let label = secret
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ESO_MANAGED_LABEL));
    let hash = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ESO_DATA_HASH_ANNOTATION));
    label.is_some_and(|l| l == "true")
        && hash.is_some_and(|h| *h == data_hash(&secret.data.clone().unwrap_or_default()))
}

/// The data keys, labels and annotations `es_name`'s field manager set on the Secret.
#[derive(Debug, Default, PartialEq, Eq)]
struct Managed {
    data: Vec<String>,
    labels: Vec<String>,
    annotations: Vec<String>,
}

fn managed_keys(secret: &Secret, es_name: &str) -> Managed {
    let manager = field_manager(es_name);
    let mut managed = Managed::default();
    let entries = secret.metadata.managed_fields.iter().flatten();
    for entry in entries.filter(|e| e.manager.as_deref() == Some(manager.as_str())) {
        let Some(fields) = entry.fields_v1.as_ref().map(|f| &f.0) else {
            continue;
        };
        let keys = |value: Option<&serde_json::Value>| -> Vec<String> {
            value
                .and_then(|v| v.as_object())
                .map(|m| {
                    m.keys()
                        .filter(|k| *k != ".")
                        .map(|k| k.strip_prefix("f:").unwrap_or(k).to_owned())
                        .collect()
                })
                .unwrap_or_default()
        };
        managed.data.extend(keys(fields.get("f:data")));
        let metadata = fields.get("f:metadata");
        managed
            .labels
            .extend(keys(metadata.and_then(|m| m.get("f:labels"))));
        managed
            .annotations
            .extend(keys(metadata.and_then(|m| m.get("f:annotations"))));
    }
    managed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};
    use serde_json::json;
    use zeroize::Zeroizing;

    fn es(policy: &str) -> ExternalSecret {
        serde_json::from_value(json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": "db", "namespace": "apps", "uid": "u-1",
                         "labels": {"team": "a"}, "annotations": {"note": "n"}},
            "spec": {"target": {"name": "db-secret", "creationPolicy": policy}},
        }))
        .unwrap()
    }

    fn data(pairs: &[(&str, &str)]) -> SecretData {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new(v.as_bytes().to_vec())))
            .collect()
    }

    #[test]
    fn owner_creates_a_secret_as_eso_does() {
        let secret = desired(
            None,
            &es("Owner"),
            data(&[("password", "p")]),
            &Sources::default(),
        )
        .unwrap();
        assert_eq!(secret.metadata.name.as_deref(), Some("db-secret"));
        let labels = secret.metadata.labels.clone().unwrap();
        assert_eq!(labels["team"], "a");
        assert_eq!(labels[ESO_MANAGED_LABEL], "true");
        assert_eq!(labels[ESO_CREATED_BY_LABEL], go::hash_str("apps/db"));
        let annotations = secret.metadata.annotations.clone().unwrap();
        assert_eq!(annotations["note"], "n");
        assert_eq!(
            annotations[ESO_DATA_HASH_ANNOTATION],
            go::hash_str("map[password:[112]]")
        );
        let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
        assert_eq!(
            (
                owner.api_version.as_str(),
                owner.uid.as_str(),
                owner.controller
            ),
            ("external-secrets.io/v1", "u-1", Some(true))
        );
        assert!(is_valid(Some(&secret)));
    }

    #[test]
    fn merge_keeps_other_keys_and_drops_what_this_es_wrote_before() {
        let mut existing = Secret {
            metadata: ObjectMeta {
                name: Some("db-secret".into()),
                namespace: Some("apps".into()),
                managed_fields: Some(vec![ManagedFieldsEntry {
                    manager: Some(field_manager("db")),
                    fields_v1: Some(FieldsV1(json!({"f:data": {".": {}, "f:old": {}}}))),
                    ..ManagedFieldsEntry::default()
                }]),
                ..ObjectMeta::default()
            },
            ..Secret::default()
        };
        existing.data = Some(BTreeMap::from([
            ("mine".to_owned(), ByteString(b"x".to_vec())),
            ("old".to_owned(), ByteString(b"y".to_vec())),
        ]));
        let secret = desired(
            Some(&existing),
            &es("Merge"),
            data(&[("new", "z")]),
            &Sources::default(),
        )
        .unwrap();
        let keys: Vec<&String> = secret.data.as_ref().unwrap().keys().collect();
        assert_eq!(keys, ["mine", "new"]);
        assert!(
            !secret
                .metadata
                .labels
                .unwrap()
                .contains_key(ESO_CREATED_BY_LABEL)
        );
        assert!(secret.metadata.owner_references.is_none());

        // Orphan replaces the data and takes no ownership.
        let orphan = desired(
            Some(&existing),
            &es("Orphan"),
            data(&[("new", "z")]),
            &Sources::default(),
        )
        .unwrap();
        assert_eq!(orphan.data.unwrap().keys().collect::<Vec<_>>(), ["new"]);
    }

    #[test]
    fn another_owner_is_refused() {
        let mut existing = desired(None, &es("Owner"), data(&[]), &Sources::default()).unwrap();
        existing.metadata.owner_references.as_mut().unwrap()[0].name = "other".into();
        assert_eq!(
            desired(
                Some(&existing),
                &es("Owner"),
                data(&[]),
                &Sources::default()
            )
            .unwrap_err(),
            TargetError::OwnedByOther {
                secret: "apps/db-secret".into(),
                owner: "other".into()
            }
        );
        existing.metadata.owner_references.as_mut().unwrap()[0].kind = "SealedSecret".into();
        assert!(matches!(
            desired(
                Some(&existing),
                &es("Owner"),
                data(&[]),
                &Sources::default()
            ),
            Err(TargetError::Controlled { .. })
        ));
    }
}

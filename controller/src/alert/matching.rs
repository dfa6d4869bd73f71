//! Whether an Alert wants an event, as Flux's notification-controller decides it.

use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use lockstep_api::flux::{Alert, EventSource};
use regex::Regex;

use super::Notice;

/// Whether `alert` (not suspended) sends `notice`: its severity, one of its sources, and
/// its inclusion and exclusion lists (an invalid expression matches nothing).
pub async fn matches(client: &kube::Client, alert: &Alert, notice: &Notice) -> bool {
    let spec = &alert.spec;
    if spec.suspend || (spec.event_severity.as_deref() == Some("error") && !notice.error) {
        return false;
    }
    let found = |list: &[String]| {
        list.iter()
            .any(|re| Regex::new(re).is_ok_and(|re| re.is_match(&notice.message)))
    };
    if (!spec.inclusion_list.is_empty() && !found(&spec.inclusion_list))
        || found(&spec.exclusion_list)
    {
        return false;
    }
    let namespace = alert.namespace().unwrap_or_default();
    for source in &spec.event_sources {
        if names(source, &namespace, notice) && labelled(client, source, notice).await {
            return true;
        }
    }
    false
}

/// Whether `source` names the event's object by kind, namespace, name (or `*`) and, when
/// set, `apiVersion`.
fn names(source: &EventSource, alert_namespace: &str, notice: &Notice) -> bool {
    let object = &notice.object;
    let namespace = source.namespace.as_deref().unwrap_or(alert_namespace);
    object.kind.as_deref() == Some(source.kind.as_str())
        && object.namespace.as_deref().unwrap_or_default() == namespace
        && (source.name == "*" || object.name.as_deref() == Some(source.name.as_str()))
        && source
            .api_version
            .as_ref()
            .is_none_or(|v| object.api_version.as_ref() == Some(v))
}

/// Whether the event's object carries `source.matchLabels` (read from the cluster; an
/// object that cannot be read does not match).
async fn labelled(client: &kube::Client, source: &EventSource, notice: &Notice) -> bool {
    if source.match_labels.is_empty() {
        return true;
    }
    let object = &notice.object;
    let (Some(api_version), Some(kind), Some(name)) =
        (&object.api_version, &object.kind, &object.name)
    else {
        return false;
    };
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let Ok((resource, caps)) = kube::discovery::pinned_kind(client, &gvk).await else {
        return false;
    };
    let api: Api<DynamicObject> = match (caps.scope, &object.namespace) {
        (Scope::Namespaced, Some(namespace)) => {
            Api::namespaced_with(client.clone(), namespace, &resource)
        }
        _ => Api::all_with(client.clone(), &resource),
    };
    let Ok(live) = api.get(name).await else {
        return false;
    };
    let labels = live.labels();
    source
        .match_labels
        .iter()
        .all(|(key, value)| labels.get(key) == Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ObjectReference;

    fn notice(kind: &str, name: &str, error: bool, message: &str) -> Notice {
        Notice {
            object: ObjectReference {
                api_version: Some("kustomize.toolkit.fluxcd.io/v1".into()),
                kind: Some(kind.into()),
                name: Some(name.into()),
                namespace: Some("apps".into()),
                ..ObjectReference::default()
            },
            error,
            reason: "ReconciliationSucceeded".into(),
            message: message.into(),
            timestamp: jiff::Timestamp::UNIX_EPOCH,
            revision: None,
        }
    }

    fn alert(spec: serde_json::Value) -> Alert {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3", "kind": "Alert",
            "metadata": {"name": "a", "namespace": "apps"}, "spec": spec,
        }))
        .unwrap()
    }

    /// Sources by kind and name (or `*`), in the Alert's namespace unless named; severity
    /// `error` takes only Warnings; inclusion and exclusion lists on the message.
    #[tokio::test]
    async fn sources_severity_and_lists() {
        let client =
            kube::Client::try_from(kube::Config::new("http://127.0.0.1:9".parse().unwrap()))
                .unwrap();
        let all = serde_json::json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "*"}]});
        let info = notice(
            "Kustomization",
            "web",
            false,
            "applied revision main@sha1:1",
        );
        assert!(matches(&client, &alert(all.clone()), &info).await);
        let mut errors = all.clone();
        errors["eventSeverity"] = "error".into();
        assert!(!matches(&client, &alert(errors.clone()), &info).await);
        let failed = notice("Kustomization", "web", true, "apply failed");
        assert!(matches(&client, &alert(errors), &failed).await);
        let other = notice("GitRepository", "web", false, "fetched");
        assert!(!matches(&client, &alert(all.clone()), &other).await);
        let named = serde_json::json!({"providerRef": {"name": "p"},
            "eventSources": [{"kind": "Kustomization", "name": "api", "namespace": "apps"}]});
        assert!(!matches(&client, &alert(named), &info).await);
        let mut lists = all.clone();
        lists["inclusionList"] = serde_json::json!(["^applied"]);
        lists["exclusionList"] = serde_json::json!(["sha1:1$"]);
        assert!(!matches(&client, &alert(lists.clone()), &info).await);
        lists["exclusionList"] = serde_json::json!(["["]);
        assert!(matches(&client, &alert(lists), &info).await);
        let mut suspended = all;
        suspended["suspend"] = true.into();
        assert!(!matches(&client, &alert(suspended), &info).await);
    }
}

//! The page of an object of another kind the controller serves — a SealedSecret, an
//! ExternalSecret, a Flux Kustomization or HelmRelease, an Argo CD Application — read with
//! the user's own client: its status (kept live), what it is made from (names, paths,
//! revisions and counts picked field by field, never a value: a SealedSecret's
//! ciphertext, a HelmRelease's or an Application's values stay off the page), and its
//! conditions and events as one timeline.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kube::ResourceExt;
use kube::api::{Api, DynamicObject};
use lockstep_api::InventoryEntry;
use lockstep_engine::fetch::redact_url;
use lockstep_engine::inventory::id;
use lockstep_sealed::Scope;
use serde_json::Value;

use super::Ui;
use super::detail::{self, Moment};
use super::html::{self, Esc};
use super::kinds::{self, Kind};
use super::session::User;

/// The page of `plural` `namespace/name`.
pub async fn page(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Path((plural, namespace, name)): Path<(String, String, String)>,
) -> Response {
    let Some((kind, _)) = ui.cache.listed(&plural) else {
        let body = format!(
            r#"<p class="error" role="alert">This controller does not serve {}.</p>"#,
            Esc(&plural)
        );
        return (
            StatusCode::NOT_FOUND,
            html::page("Not served", Some(&session), &body),
        )
            .into_response();
    };
    let resource = kind.resource();
    let api = Api::<DynamicObject>::namespaced_with(session.client.clone(), &namespace, &resource);
    let object = match detail::read(&session, &api, &resource.kind, &namespace, &name).await {
        Ok(object) => object,
        Err(refused) => return refused,
    };
    let mut body = format!(
        r#"<h1>{} {}/{}</h1>
<div data-live="/live?object={}/{}/{}">
{}
</div>
"#,
        Esc(&resource.kind),
        Esc(&namespace),
        Esc(&name),
        Esc(&plural),
        Esc(&namespace),
        Esc(&name),
        status_block(kind, &object),
    );
    facts(&mut body, kind, &object);
    let conditions = object.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| Moment {
            when: text(&c["lastTransitionTime"]),
            what: match text(&c["reason"]).as_str() {
                "" => format!("{} {}", text(&c["type"]), text(&c["status"])),
                reason => format!("{} {} ({reason})", text(&c["type"]), text(&c["status"])),
            },
            message: text(&c["message"]),
        })
        .collect();
    detail::timeline(
        &mut body,
        &session,
        &resource.kind,
        &namespace,
        &name,
        conditions,
    )
    .await;
    (StatusCode::OK, html::page(&name, Some(&session), &body)).into_response()
}

/// A link to the page of the object `entry` names, which is of `kind`.
pub fn link(kind: Kind, entry: &InventoryEntry) -> String {
    format!(
        r#"<a href="/objects/{}/{}/{}">{}</a>"#,
        Esc(&kind.plural()),
        Esc(&entry.namespace),
        Esc(&entry.name),
        Esc(&id(entry))
    )
}

/// The element id of the status block of an object's page.
pub fn status_id(kind: Kind, namespace: &str, name: &str) -> String {
    html::element_id(&format!("status-{}", kind.plural()), namespace, name)
}

/// The status block of an object's page: replaced live as the object changes.
pub fn status_block(kind: Kind, object: &DynamicObject) -> String {
    let (phase, message) = kind.phase(object);
    let namespace = object.namespace().unwrap_or_default();
    format!(
        r#"<section id="{}" class="status">
<p>{}</p>
<dl>
<dt>Message</dt><dd class="message">{}</dd>
<dt>Since</dt><dd>{}</dd>
</dl>
</section>"#,
        Esc(&status_id(kind, &namespace, &object.name_any())),
        html::phase_badge_of(phase),
        Esc(&message),
        Esc(&kinds::since(object)),
    )
}

/// What the object is made from, as `(label, JSON pointer)`: only fields that name
/// things, never one that may hold a value.
fn fields(kind: Kind) -> &'static [(&'static str, &'static str)] {
    match kind {
        Kind::SealedSecret => &[("Secret type", "/spec/template/type")],
        Kind::ExternalSecret => &[
            ("Store kind", "/spec/secretStoreRef/kind"),
            ("Store", "/spec/secretStoreRef/name"),
            ("Target Secret", "/spec/target/name"),
            ("Refresh interval", "/spec/refreshInterval"),
            ("Last refreshed", "/status/refreshTime"),
            ("Secret version", "/status/syncedResourceVersion"),
        ],
        Kind::Kustomization => &[
            ("Source kind", "/spec/sourceRef/kind"),
            ("Source", "/spec/sourceRef/name"),
            ("Path", "/spec/path"),
            ("Interval", "/spec/interval"),
            ("Prune", "/spec/prune"),
            ("Target namespace", "/spec/targetNamespace"),
            ("Applied revision", "/status/lastAppliedRevision"),
            ("Attempted revision", "/status/lastAttemptedRevision"),
        ],
        Kind::HelmRelease => &[
            ("Chart", "/spec/chart/spec/chart"),
            ("Version", "/spec/chart/spec/version"),
            ("Source kind", "/spec/chart/spec/sourceRef/kind"),
            ("Source", "/spec/chart/spec/sourceRef/name"),
            ("Chart reference", "/spec/chartRef/name"),
            ("Interval", "/spec/interval"),
            ("Release", "/spec/releaseName"),
            ("Target namespace", "/spec/targetNamespace"),
            ("Attempted revision", "/status/lastAttemptedRevision"),
        ],
        Kind::Application => &[
            ("Project", "/spec/project"),
            ("Repository", "/spec/source/repoURL"),
            ("Path", "/spec/source/path"),
            ("Chart", "/spec/source/chart"),
            ("Target revision", "/spec/source/targetRevision"),
            ("Destination server", "/spec/destination/server"),
            ("Destination namespace", "/spec/destination/namespace"),
            ("Synced revision", "/status/sync/revision"),
            ("Sync", "/status/sync/status"),
            ("Health", "/status/health/status"),
        ],
    }
}

/// The object's fields ([`fields`]), the names of what it holds or resolves, and what it
/// applied.
fn facts(body: &mut String, kind: Kind, object: &DynamicObject) {
    let data = &object.data;
    let mut facts: Vec<(&str, String)> = fields(kind)
        .iter()
        .map(|(label, pointer)| (*label, text(data.pointer(pointer).unwrap_or(&Value::Null))))
        .filter(|(_, value)| !value.is_empty())
        .map(|(label, value)| (label, redact_url(&value)))
        .collect();
    match kind {
        Kind::SealedSecret => {
            let scope = Scope::from_annotations(object.metadata.annotations.as_ref());
            facts.push(("Scope", scope.as_str().to_owned()));
            let items: Vec<&str> = data["spec"]["encryptedData"]
                .as_object()
                .into_iter()
                .flat_map(|items| items.keys().map(String::as_str))
                .collect();
            facts.push(("Items", items.join(", ")));
        }
        Kind::ExternalSecret => {
            let keys: Vec<String> = data["spec"]["data"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| text(&d["remoteRef"]["key"]))
                .chain(
                    data["spec"]["dataFrom"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|d| text(&d["extract"]["key"]))
                        .filter(|key| !key.is_empty()),
                )
                .collect();
            facts.push(("Remote keys", keys.join(", ")));
        }
        Kind::Kustomization => {
            let applied = data["status"]["inventory"]["entries"]
                .as_array()
                .map_or(0, Vec::len);
            facts.push(("Objects applied", applied.to_string()));
        }
        Kind::HelmRelease => {
            let releases = data["status"]["history"].as_array().map_or(0, Vec::len);
            facts.push(("Releases in history", releases.to_string()));
        }
        Kind::Application => {}
    }
    body.push_str(r#"<section id="facts"><h2>Made from</h2><dl>"#);
    for (label, value) in facts {
        let _ = write!(body, "<dt>{}</dt><dd>{}</dd>", Esc(label), Esc(&value));
    }
    body.push_str("</dl></section>");
    if kind == Kind::Application {
        resources(body, object);
    }
}

/// An Application's resources as its status lists them, with their sync and health.
fn resources(body: &mut String, object: &DynamicObject) {
    let resources = object.data["status"]["resources"].as_array();
    body.push_str(
        r#"<section id="resources"><h2>Resources</h2><table><thead><tr><th>Kind</th><th>Namespace</th><th>Name</th><th>Sync</th><th>Health</th></tr></thead><tbody>"#,
    );
    for resource in resources.into_iter().flatten() {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            Esc(&text(&resource["kind"])),
            Esc(&text(&resource["namespace"])),
            Esc(&text(&resource["name"])),
            Esc(&text(&resource["status"])),
            Esc(&text(&resource["health"]["status"])),
        );
    }
    body.push_str("</tbody></table></section>");
}

/// A scalar as text; empty for anything else.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The page shows the fields that name things and leaves a SealedSecret's ciphertext,
    /// a HelmRelease's values and a repository URL's credentials off it.
    #[test]
    fn facts_name_things_and_show_no_value() {
        let with = |kind: Kind, data: Value| {
            let mut object = DynamicObject::new("x", &kind.resource()).within("ns");
            object.data = data;
            let mut body = String::new();
            facts(&mut body, kind, &object);
            body
        };
        let sealed = with(
            Kind::SealedSecret,
            json!({"spec": {"encryptedData": {"token": "AgBy3i4OJSWK+PiTySYZZA=="},
                            "template": {"type": "Opaque"}}}),
        );
        assert!(sealed.contains("<dd>token</dd>"), "{sealed}");
        assert!(sealed.contains("<dd>strict</dd>"), "{sealed}");
        assert!(!sealed.contains("AgBy3i4"), "{sealed}");
        let release = with(
            Kind::HelmRelease,
            json!({"spec": {"chart": {"spec": {"chart": "web", "version": "1.2.x"}},
                            "values": {"password": "hunter2"}},
                   "status": {"history": [{}, {}]}}),
        );
        assert!(release.contains("<dd>web</dd>") && release.contains("<dd>2</dd>"));
        assert!(!release.contains("hunter2"), "{release}");
        let app = with(
            Kind::Application,
            json!({"spec": {"source": {"repoURL": "https://me:tok3n@git.example/app.git"}},
                   "status": {"resources": [{"kind": "Deployment", "name": "web",
                                             "status": "Synced",
                                             "health": {"status": "Healthy"}}]}}),
        );
        assert!(app.contains("https://git.example/app.git"), "{app}");
        assert!(!app.contains("tok3n"), "{app}");
        assert!(app.contains("<td>Deployment</td>") && app.contains("<td>Healthy</td>"));
    }
}

//! A Sync's page, read with the user's own client: its status (kept live), the actions,
//! the manual-mode plan, what drifted, the revisions it applied (each one a roll-back
//! button), the tree of what it applied, what it depends on, the secrets it uses, and its
//! conditions and events as one timeline.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::core::v1::Event;
use kube::ResourceExt;
use kube::api::{Api, DynamicObject, ListParams};
use kube::runtime::reflector::ObjectRef;
use lockstep_api::{
    ConditionStatus, ExternalSecret, InventoryEntry, PINNED_REVISION_ANNOTATION, Sync,
    external_secrets::StoreKind,
};
use lockstep_engine::health::Rules;
use lockstep_engine::inventory::id;
use serde::Deserialize;

use super::Ui;
use super::html::{self, Esc};
use super::kinds::Kind;
use super::object;
use super::session::{Session, User};
use super::tree;

/// What the page says after an action, from the redirect's query.
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    done: Option<super::actions::Action>,
}

/// The page of one Sync.
pub async fn page(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Path((namespace, name)): Path<(String, String)>,
    Query(done): Query<Done>,
) -> Response {
    let notice = done
        .done
        .map(|action| format!(r#"<p class="notice" role="status">{}</p>"#, action.done()))
        .unwrap_or_default();
    render(&ui, &session, &namespace, &name, StatusCode::OK, &notice).await
}

/// Renders the page of `namespace/name` with `status` and `notice` above it (a refused
/// action renders the page again with the refusal).
pub async fn render(
    ui: &Ui,
    session: &Session,
    namespace: &str,
    name: &str,
    status: StatusCode,
    notice: &str,
) -> Response {
    let sync = match read_sync(session, namespace, name).await {
        Ok(sync) => sync,
        Err(refused) => return refused,
    };
    let mut body = format!(
        r#"<h1>Sync {}/{}</h1>
{notice}
<div data-live="/live?sync={}/{}">
{}
</div>
"#,
        Esc(namespace),
        Esc(name),
        Esc(namespace),
        Esc(name),
        html::status_block(&sync, &ui.cache.sources),
    );
    actions(&mut body, session, &sync);
    plan(&mut body, session, &sync);
    drift(&mut body, &sync);
    history(&mut body, session, &sync);
    // Invalid expressions leave the Sync stalled, saying why; the tree then shows the
    // built-in rules' view.
    let rules = Rules::compile(&sync.spec.health_check_exprs).unwrap_or_default();
    let tree = tree::render(&ui.probe, &session.client, inventory(&sync), &rules).await;
    let _ = write!(body, "<section><h2>Objects</h2>{tree}</section>");
    depends_on(&mut body, ui, &sync);
    secrets(&mut body, session, &sync).await;
    let conditions = sync
        .status
        .iter()
        .flat_map(|s| &s.conditions)
        .map(|c| Moment {
            when: c.last_transition_time.clone(),
            what: format!("{} {:?} ({})", c.type_, c.status, c.reason),
            message: c.message.clone(),
        })
        .collect();
    timeline(&mut body, session, "Sync", namespace, name, conditions).await;
    (status, html::page(name, Some(session), &body)).into_response()
}

/// Sync `namespace/name` read with `session`'s client, or the page that says why not.
pub async fn read_sync(session: &Session, namespace: &str, name: &str) -> Result<Sync, Response> {
    let syncs = Api::<Sync>::namespaced(session.client.clone(), namespace);
    read(session, &syncs, "Sync", namespace, name).await
}

/// The `kind` `namespace/name` read through `api` (made with `session`'s client), or the
/// page that says why not.
pub async fn read<K>(
    session: &Session,
    api: &Api<K>,
    kind: &str,
    namespace: &str,
    name: &str,
) -> Result<K, Response>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(object) => Ok(object),
        Err(kube::Error::Api(refusal)) => {
            let body = format!(
                r#"<h1>{} {}/{}</h1><p class="error" role="alert">The API server refused to show it to {}: {} {}.</p>"#,
                Esc(kind),
                Esc(namespace),
                Esc(name),
                Esc(&session.user),
                refusal.code,
                Esc(&refusal.reason)
            );
            let code = StatusCode::from_u16(refusal.code).unwrap_or(StatusCode::BAD_GATEWAY);
            Err((code, html::page(name, Some(session), &body)).into_response())
        }
        Err(_) => {
            let body = "<p class=\"error\" role=\"alert\">Cannot reach the API server.</p>";
            let page = html::page(name, Some(session), body);
            Err((StatusCode::BAD_GATEWAY, page).into_response())
        }
    }
}

fn actions(body: &mut String, session: &Session, sync: &Sync) {
    body.push_str(r#"<section class="actions"><h2>Actions</h2>"#);
    body.push_str(&html::action(
        session,
        sync,
        "reconcile",
        "Reconcile now",
        None,
    ));
    if sync.spec.suspend {
        body.push_str(&html::action(session, sync, "resume", "Resume", None));
    } else {
        body.push_str(&html::action(session, sync, "suspend", "Suspend", None));
    }
    if let Some(pin) = sync.annotations().get(PINNED_REVISION_ANNOTATION) {
        let _ = write!(
            body,
            r#"<p class="pinned">Pinned to <code>{}</code>: the source's newer commits are not applied until it is unpinned.</p>"#,
            Esc(pin)
        );
        body.push_str(&html::action(session, sync, "unpin", "Unpin", None));
    }
    body.push_str("</section>");
}

fn plan(body: &mut String, session: &Session, sync: &Sync) {
    let Some(plan) = sync.status.as_ref().and_then(|s| s.plan.as_ref()) else {
        return;
    };
    let _ = write!(
        body,
        r#"<section id="plan"><h2>Plan waiting for approval</h2><p>Revision <code>{}</code></p><table><thead><tr><th>Object</th><th>Action</th></tr></thead><tbody>"#,
        Esc(&plan.revision)
    );
    for change in &plan.changes {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td></tr>",
            Esc(&change.object),
            change.action.as_str()
        );
    }
    body.push_str("</tbody></table>");
    body.push_str(&html::action(
        session,
        sync,
        "approve",
        "Approve",
        Some(&plan.revision),
    ));
    body.push_str("</section>");
}

/// What the controller's last comparison of Git and the cluster found: objects and field
/// paths (a server-side dry-run of the apply, so defaulted fields are not drift), and a
/// link to the diff itself ([`super::diff`]).
fn drift(body: &mut String, sync: &Sync) {
    body.push_str(r#"<section id="drift"><h2>Diff</h2>"#);
    match html::condition(sync, "Drifted") {
        Some(drifted) if drifted.status == ConditionStatus::True => {
            let _ = write!(body, r#"<p class="bad">{}</p>"#, Esc(&drifted.message));
        }
        _ if sync
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.as_ref())
            .is_some() =>
        {
            body.push_str("<p>The cluster matches the applied revision.</p>");
        }
        _ => body.push_str("<p>Nothing applied yet.</p>"),
    }
    let _ = write!(
        body,
        r#"<p><a id="show-diff" href="/syncs/{}/{}/diff">Compare Git with the cluster</a> (a dry-run of the apply, values of Secrets hidden)</p>"#,
        Esc(&sync.namespace().unwrap_or_default()),
        Esc(&sync.name_any())
    );
    body.push_str("</section>");
}

/// What the Sync applied (`status.inventory`).
fn inventory(sync: &Sync) -> &[InventoryEntry] {
    sync.status.as_ref().map_or(&[], |s| &s.inventory)
}

fn history(body: &mut String, session: &Session, sync: &Sync) {
    body.push_str(r#"<section id="history"><h2>Applied revisions</h2>"#);
    let Some(status) = sync.status.as_ref().filter(|s| !s.history.is_empty()) else {
        body.push_str("<p>None yet.</p></section>");
        return;
    };
    body.push_str(
        "<table><thead><tr><th>Revision</th><th>Commit</th><th>Author</th><th>Applied</th><th></th></tr></thead><tbody>",
    );
    // The newest entry of the applied revision is the current one; an older entry of the
    // same revision (applied again by a roll-back) is a point to go back to like any other.
    let current = status.last_applied_revision.as_deref();
    let newest = status
        .history
        .iter()
        .position(|entry| Some(entry.revision.as_str()) == current);
    for (n, entry) in status.history.iter().enumerate() {
        let action = if Some(n) == newest {
            "<span class=\"badge good\">current</span>".to_owned()
        } else {
            html::action(
                session,
                sync,
                "rollback",
                "Roll back",
                Some(&entry.revision),
            )
        };
        let _ = write!(
            body,
            r#"<tr><td><code title="{}">{}</code></td><td>{}</td><td title="{}">{}</td><td>{}</td><td>{action}</td></tr>"#,
            Esc(&entry.revision),
            Esc(&html::short_revision(&entry.revision)),
            Esc(entry.message.as_deref().unwrap_or_default()),
            Esc(entry.authored_at.as_deref().unwrap_or_default()),
            Esc(entry.author.as_deref().unwrap_or_default()),
            Esc(&entry.applied_at)
        );
    }
    body.push_str("</tbody></table></section>");
}

fn depends_on(body: &mut String, ui: &Ui, sync: &Sync) {
    if sync.spec.depends_on.is_empty() {
        return;
    }
    body.push_str(r#"<section id="depends"><h2>Depends on</h2><ul>"#);
    let own = sync.namespace().unwrap_or_default();
    for dependency in &sync.spec.depends_on {
        let namespace = dependency.namespace.as_deref().unwrap_or(&own);
        let reference = ObjectRef::new(&dependency.name).within(namespace);
        let state = match ui.cache.syncs.get(&reference) {
            Some(found) if html::Phase::of(&found) == html::Phase::Ready => {
                html::badge("Ready", "good")
            }
            Some(found) => format!("{} blocks this Sync", html::phase_badge(&found)),
            None => html::badge("missing: blocks this Sync", "bad"),
        };
        let _ = write!(
            body,
            r#"<li><a href="/syncs/{0}/{1}">{0}/{1}</a> {state}</li>"#,
            Esc(namespace),
            Esc(&dependency.name)
        );
    }
    body.push_str("</ul></section>");
}

/// Which secrets the Sync uses: the SOPS decryption keys' Secret; each SOPS file its last
/// render decrypted, with the keys it is encrypted to and its age; each Vault or KMS
/// reference it resolved; and the Secrets, SealedSecrets and ExternalSecrets it applied
/// (an ExternalSecret with its store and remote keys). Names, keys and paths only.
async fn secrets(body: &mut String, session: &Session, sync: &Sync) {
    body.push_str(r#"<section id="secrets"><h2>Secrets</h2>"#);
    if let Some(decryption) = &sync.spec.decryption {
        let keys = decryption
            .secret_ref
            .as_ref()
            .map_or("the controller's own keys".to_owned(), |s| {
                format!("the keys in Secret {}", s.name)
            });
        let _ = write!(
            body,
            "<p>SOPS files ({}) are decrypted in memory with {}.</p>",
            Esc(&decryption.provider),
            Esc(&keys)
        );
    }
    let used = sync.status.as_ref().and_then(|s| s.secrets.as_ref());
    if let Some(used) = used.filter(|u| !u.sops_files.is_empty()) {
        body.push_str(
            r#"<table id="sops-files"><thead><tr><th>SOPS file</th><th>Encrypted to</th><th>Last modified</th></tr></thead><tbody>"#,
        );
        for file in &used.sops_files {
            let keys: Vec<String> = file
                .keys
                .iter()
                .map(|key| format!("<code>{}</code>", Esc(key)))
                .collect();
            let modified = file.last_modified.as_deref().unwrap_or_default();
            let _ = write!(
                body,
                r#"<tr><td>{}</td><td>{}</td><td title="{}">{}</td></tr>"#,
                Esc(&file.path),
                keys.join("<br>"),
                Esc(modified),
                Esc(&age(modified)),
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(used) = used.filter(|u| !u.references.is_empty()) {
        body.push_str(
            r#"<table id="references"><thead><tr><th>Secret</th><th>Key</th><th>Resolved from</th></tr></thead><tbody>"#,
        );
        for reference in &used.references {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                Esc(&reference.secret),
                Esc(&reference.key),
                Esc(&reference.reference)
            );
        }
        body.push_str("</tbody></table>");
    }
    if let Some(omitted) = used.and_then(|u| u.omitted) {
        let _ = write!(body, r#"<p class="note">And {omitted} more.</p>"#);
    }
    body.push_str("<ul>");
    for entry in inventory(sync) {
        match entry.kind.as_str() {
            "Secret" => {
                let _ = write!(body, "<li>{}</li>", Esc(&id(entry)));
            }
            "SealedSecret" => {
                // Its `Synced` condition names the sealing key that unsealed it, and
                // that key's age.
                let kind = Kind::SealedSecret;
                let api = Api::<DynamicObject>::namespaced_with(
                    session.client.clone(),
                    &entry.namespace,
                    &kind.resource(),
                );
                let detail = match api.get(&entry.name).await {
                    Ok(found) => kind.phase(&found).1,
                    Err(_) => "cannot be read".to_owned(),
                };
                let _ = write!(
                    body,
                    "<li>{} {}</li>",
                    object::link(kind, entry),
                    Esc(&detail)
                );
            }
            "ExternalSecret" => {
                let api =
                    Api::<ExternalSecret>::namespaced(session.client.clone(), &entry.namespace);
                let detail = match api.get(&entry.name).await {
                    Ok(found) => {
                        let store = found.spec.secret_store_ref.clone().unwrap_or_default();
                        let kind = match store.kind.unwrap_or_default() {
                            StoreKind::SecretStore => "SecretStore",
                            StoreKind::ClusterSecretStore => "ClusterSecretStore",
                        };
                        let keys: Vec<&str> = found
                            .spec
                            .data
                            .iter()
                            .map(|d| d.remote_ref.key.as_str())
                            .collect();
                        format!("from {kind} {}: {}", store.name, keys.join(", "))
                    }
                    Err(_) => "cannot be read".to_owned(),
                };
                let _ = write!(
                    body,
                    "<li>{} {}</li>",
                    object::link(Kind::ExternalSecret, entry),
                    Esc(&detail)
                );
            }
            _ => {}
        }
    }
    body.push_str("</ul><p class=\"note\">Values are never shown here.</p></section>");
}

/// How long ago `timestamp` (RFC 3339) was, in the largest whole unit: `3 days ago`;
/// empty when it does not parse.
fn age(timestamp: &str) -> String {
    let Ok(then) = timestamp.parse::<jiff::Timestamp>() else {
        return String::new();
    };
    let seconds = jiff::Timestamp::now().duration_since(then).as_secs().max(0);
    let (count, unit) = match seconds {
        s if s >= 86_400 => (s / 86_400, "day"),
        s if s >= 3_600 => (s / 3_600, "hour"),
        s if s >= 60 => (s / 60, "minute"),
        s => (s, "second"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// One entry of a timeline.
pub struct Moment {
    /// When, RFC 3339.
    pub when: String,
    /// What: a condition's type, status and reason, or an event's type and reason.
    pub what: String,
    /// Its message.
    pub message: String,
}

/// The `conditions` of `kind` `namespace/name` and its events, newest first.
pub async fn timeline(
    body: &mut String,
    session: &Session,
    kind: &str,
    namespace: &str,
    name: &str,
    mut moments: Vec<Moment>,
) {
    let events = Api::<Event>::namespaced(session.client.clone(), namespace);
    let selector = format!("involvedObject.kind={kind},involvedObject.name={name}");
    let mut note = String::new();
    match events.list(&ListParams::default().fields(&selector)).await {
        Ok(list) => moments.extend(list.items.into_iter().map(|event| {
            Moment {
                when: event
                    .last_timestamp
                    .map(|t| t.0.to_string())
                    .or(event.event_time.map(|t| t.0.to_string()))
                    .unwrap_or_default(),
                what: format!(
                    "{} {}",
                    event.type_.unwrap_or_default(),
                    event.reason.unwrap_or_default()
                ),
                message: event.message.unwrap_or_default(),
            }
        })),
        Err(kube::Error::Api(status)) => {
            note = format!("Events are not shown: {} {}", status.code, status.reason);
        }
        Err(_) => note = "Events are not shown: cannot list them".to_owned(),
    }
    moments.sort_by(|a, b| b.when.cmp(&a.when));
    body.push_str(r#"<section id="timeline"><h2>Timeline</h2><ol class="timeline">"#);
    for Moment {
        when,
        what,
        message,
    } in moments
    {
        let _ = write!(
            body,
            "<li><time>{}</time> <b>{}</b> {}</li>",
            Esc(&when),
            Esc(&what),
            Esc(&message)
        );
    }
    body.push_str("</ol>");
    if !note.is_empty() {
        let _ = write!(body, r#"<p class="note">{}</p>"#, Esc(&note));
    }
    body.push_str("</section>");
}

#[cfg(test)]
mod tests {
    use super::age;

    #[test]
    fn an_age_is_told_in_its_largest_whole_unit() {
        let ago = |seconds: i64| {
            let then = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(seconds);
            age(&then.to_string())
        };
        assert_eq!(ago(3 * 86_400 + 50), "3 days ago");
        assert_eq!(ago(3_600), "1 hour ago");
        assert_eq!(ago(125), "2 minutes ago");
        assert_eq!(age("not a time"), "");
    }
}

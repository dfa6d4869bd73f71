//! The diff of a Sync: what applying its source now would change in the cluster, object
//! by object ([`crate::sync::preview`]), asked for from its page. Computed on request, as
//! the Sync's reconcile would render, decrypt and dry-run it, on whichever replica serves
//! the page. Only a user who may read the Sync sees it, and each object's diff only if the
//! API server lets that user read the object; Secret values and decrypted plaintext are
//! hidden on both sides.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lockstep_engine::apply::DiffLine;
use lockstep_engine::inventory::id;

use super::Ui;
use super::detail::read_sync;
use super::html::{self, Esc};
use super::session::User;
use crate::sync::preview::{Preview, preview};

/// The diff page of one Sync.
pub async fn page(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let sync = match read_sync(&session, &namespace, &name).await {
        Ok(sync) => sync,
        Err(refused) => return refused,
    };
    let title = format!("Diff of {namespace}/{name}");
    let mut body = format!(
        r#"<h1>Diff of Sync <a href="/syncs/{0}/{1}">{0}/{1}</a></h1>"#,
        Esc(&namespace),
        Esc(&name)
    );
    let Some(syncs) = &ui.syncs else {
        body.push_str(
            r#"<p class="error" role="alert">This controller does not reconcile Syncs (<code>--sync=false</code>), so it does not compare them.</p>"#,
        );
        return (StatusCode::OK, html::page(&title, Some(&session), &body)).into_response();
    };
    match preview(syncs, &sync).await {
        Ok(preview) => shown(&mut body, &ui, &session.client, preview).await,
        Err(message) => {
            let _ = write!(
                body,
                r#"<p class="error" role="alert">Cannot compare: {}</p>"#,
                Esc(&message)
            );
        }
    }
    (StatusCode::OK, html::page(&title, Some(&session), &body)).into_response()
}

/// The objects of `preview` that `client`'s user may read, each as a diff.
async fn shown(body: &mut String, ui: &Ui, client: &kube::Client, preview: Preview) {
    let _ = write!(
        body,
        r#"<p>Git at <code title="{}">{}</code> against the live objects, as the API server's dry-run of the apply leaves them. Secret values are never shown.</p>"#,
        Esc(&preview.revision),
        Esc(&html::short_revision(&preview.revision)),
    );
    if preview.objects.is_empty() && preview.pruned.is_empty() {
        body.push_str(
            r#"<p class="notice" id="no-diff">No difference: the cluster matches Git.</p>"#,
        );
    }
    for change in preview.objects {
        let object = id(&change.object);
        let _ = write!(body, r#"<section class="diff"><h2>{}</h2>"#, Esc(&object));
        if let Some(note) = change.note {
            let _ = write!(body, r#"<p class="note">{note}</p>"#);
        }
        if ui.probe.readable(client, &change.object).await {
            body.push_str(r#"<pre class="diff">"#);
            for line in change.diff.lines() {
                let class = match DiffLine::of(line) {
                    DiffLine::Added => "add",
                    DiffLine::Removed => "del",
                    DiffLine::Hunk => "hunk",
                    DiffLine::Header | DiffLine::Context => "same",
                };
                // One block per line (the style sheet's), so no newline between them.
                let _ = write!(body, r#"<span class="{class}">{}</span>"#, Esc(line));
            }
            body.push_str("</pre>");
        } else {
            body.push_str(
                r#"<p class="note">Not shown: the API server does not let you read this object.</p>"#,
            );
        }
        body.push_str("</section>");
    }
    if !preview.pruned.is_empty() {
        body.push_str(r#"<section class="diff"><h2>Pruned</h2><p>These left Git and would be deleted:</p><ul>"#);
        for object in &preview.pruned {
            let _ = write!(body, "<li>{}</li>", Esc(object));
        }
        body.push_str("</ul></section>");
    }
}

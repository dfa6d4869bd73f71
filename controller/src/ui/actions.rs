//! The actions on a Sync's page: reconcile now, suspend, resume, approve the plan, roll
//! back to a revision it applied, unpin. Each is the same merge patch the CLI writes
//! ([`lockstep_api::steer`]), written with the user's own client, so RBAC decides and the
//! audit log names them; a refusal renders the page again with the API server's answer.
//! A roll-back pins the Sync to the revision (`lockstep.dev/pinnedRevision`), so the
//! source's newer commits do not undo it until it is unpinned.

use std::sync::Arc;

use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::Sync;
use lockstep_api::steer::{self, FIELD_MANAGER};
use serde::Deserialize;

use super::Ui;
use super::detail;
use super::html::Esc;
use super::session::User;

/// What a form asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Reconcile now.
    Reconcile,
    /// Stop reconciling.
    Suspend,
    /// Reconcile again.
    Resume,
    /// Approve the plan of a revision.
    Approve,
    /// Pin to an applied revision.
    Rollback,
    /// Lift the pin.
    Unpin,
}

impl Action {
    /// What the page says once the request is written.
    pub fn done(self) -> &'static str {
        match self {
            Self::Reconcile => "Reconcile requested.",
            Self::Suspend => "Suspended.",
            Self::Resume => "Resumed.",
            Self::Approve => "Plan approved; it is being applied.",
            Self::Rollback => "Rolled back: the Sync is pinned to that revision until unpinned.",
            Self::Unpin => "Unpinned: the Sync follows its source again.",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Reconcile => "reconcile",
            Self::Suspend => "suspend",
            Self::Resume => "resume",
            Self::Approve => "approve",
            Self::Rollback => "rollback",
            Self::Unpin => "unpin",
        }
    }
}

/// An action's form.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    #[serde(default)]
    revision: Option<String>,
}

/// Writes the action's patch as the user, then shows the page again.
pub async fn act(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Path((namespace, name, action)): Path<(String, String, Action)>,
    headers: HeaderMap,
    Form(form): Form<ActionForm>,
) -> Response {
    if let Err(refused) = session.check(&headers, &form.csrf) {
        return refused.into_response();
    }
    let syncs = Api::<Sync>::namespaced(session.client.clone(), &namespace);
    let revision = form.revision.as_deref().unwrap_or_default();
    let patch = match action {
        Action::Reconcile => serde_json::json!({}),
        Action::Suspend => steer::suspend(true),
        Action::Resume => steer::suspend(false),
        Action::Approve => steer::approve(revision),
        Action::Rollback => steer::pin(Some(revision)),
        Action::Unpin => steer::pin(None),
    };
    let missing_revision =
        matches!(action, Action::Approve | Action::Rollback) && revision.is_empty();
    if missing_revision {
        let refusal = "Refused: the form named no revision; reload the page and try again.";
        return refused(
            &ui,
            &session,
            &namespace,
            &name,
            StatusCode::BAD_REQUEST,
            refusal,
        )
        .await;
    }
    let patch = match action {
        Action::Suspend => patch,
        _ => steer::requested(patch, &jiff::Timestamp::now().to_string()),
    };
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    match syncs.patch(&name, &params, &Patch::Merge(&patch)).await {
        Ok(_) => {
            tracing::info!(user = %session.user, %namespace, %name, action = action.name(), "web UI action");
            Redirect::to(&format!("/syncs/{namespace}/{name}?done={}", action.name()))
                .into_response()
        }
        Err(kube::Error::Api(status)) => {
            let refusal = format!(
                "Refused by the API server ({} {}): {}",
                status.code, status.reason, status.message
            );
            let code = StatusCode::from_u16(status.code).unwrap_or(StatusCode::BAD_GATEWAY);
            refused(&ui, &session, &namespace, &name, code, &refusal).await
        }
        Err(_) => {
            let refusal = "Cannot reach the API server; nothing was changed.";
            refused(
                &ui,
                &session,
                &namespace,
                &name,
                StatusCode::BAD_GATEWAY,
                refusal,
            )
            .await
        }
    }
}

async fn refused(
    ui: &Ui,
    session: &super::session::Session,
    namespace: &str,
    name: &str,
    status: StatusCode,
    message: &str,
) -> Response {
    let notice = format!(r#"<p class="error" role="alert">{}</p>"#, Esc(message));
    detail::render(ui, session, namespace, name, status, &notice).await
}

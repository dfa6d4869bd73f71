//! A render's hooks around one apply ([`lockstep_engine::hooks`]): a chart's Helm hooks, and
//! for an Argo CD `Application` Argo CD's own.
//!
//! - Hooks run with a release that changes, as `helm upgrade` and an Argo CD sync run them:
//!   a new revision or spec, a retry after a failure, a requested reconcile, or objects to
//!   write; never on a pass that writes nothing.
//! - Before the first write: `pre-install` (nothing applied yet) or `pre-upgrade`; for an
//!   Application both, and `PreSync` (Argo CD cannot tell an install from an upgrade).
//! - After the apply: Argo CD's `Sync` hooks at once; then, once what the Sync checks for
//!   health is healthy, `post-install`/`post-upgrade` (both and `PostSync` for an
//!   Application).
//! - When an apply or a hook failed: Argo CD's `SyncFail` hooks, their own failure only
//!   logged (the first failure is the one reported).

use lockstep_api::Sync;
use lockstep_engine::hooks::{self, Event, Hook, HookOptions};
use lockstep_engine::run;

use super::health::wait_healthy;

/// The hooks of one reconcile, and whether they are due.
pub(super) struct Release<'a> {
    client: &'a kube::Client,
    hooks: &'a [Hook],
    options: HookOptions<'a>,
    /// Whether this is an install (`None`: cannot tell, Argo CD).
    install: Option<bool>,
    due: bool,
}

impl<'a> Release<'a> {
    pub(super) fn new(
        client: &'a kube::Client,
        hooks: &'a [Hook],
        options: HookOptions<'a>,
        install: Option<bool>,
        changes: bool,
    ) -> Self {
        Self {
            client,
            hooks,
            options,
            install,
            due: changes && !hooks.is_empty(),
        }
    }

    /// The hooks before the apply; the failure, once `SyncFail` hooks ran.
    pub(super) async fn before(&self) -> Result<(), String> {
        let result = self.run(Event::before(self.install)).await;
        self.failing(result).await
    }

    /// The hooks after a successful apply: `Sync` hooks, then the post hooks once healthy;
    /// the failure, once `SyncFail` hooks ran.
    pub(super) async fn after(&self, sync: &Sync, outcome: &run::Outcome) -> Result<(), String> {
        let after = Event::after(self.install);
        let result = async {
            self.run(&[Event::Sync]).await?;
            if !self.due || !self.hooks.iter().any(|h| h.runs_at_any(after)) {
                return Ok(());
            }
            let names: Vec<&str> = after.iter().map(|e| e.as_str()).collect();
            wait_healthy(sync, self.client, &outcome.inventory, self.options.timeout)
                .await
                .map_err(|err| format!("{} hooks not run: {err}", names.join("/")))?;
            self.run(after).await
        };
        let result = result.await.map_err(|err| format!("applied, but {err}"));
        self.failing(result).await
    }

    /// After a failed apply: the `SyncFail` hooks.
    pub(super) async fn failed(&self) {
        if let Err(err) = self.run(&[Event::SyncFail]).await {
            tracing::warn!("a SyncFail hook failed: {err}");
        }
    }

    async fn failing(&self, result: Result<(), String>) -> Result<(), String> {
        if result.is_err() {
            self.failed().await;
        }
        result
    }

    async fn run(&self, events: &[Event]) -> Result<(), String> {
        if !self.due {
            return Ok(());
        }
        hooks::run(self.client, self.hooks, events, self.options)
            .await
            .map(drop)
            .map_err(|err| err.to_string())
    }
}

//! Reading the ring from the key Secrets: which Secrets are keys, which of them are
//! trusted (no delegated writer in their managed fields) and which parse; every Secret
//! skipped is reported.

use k8s_openapi::api::core::v1::Secret;
use kube::api::ListParams;
use kube::runtime::events::EventType;
use lockstep_sealed::{
    KEY_ACTIVE, RENEW_REQUESTED_ANNOTATION, SEALING_KEY_LABEL, UNSEAL_FIELD_MANAGER,
};

use super::{Error, KeyInfo, KeyRing, secrets};
use crate::context::Ctx;
use crate::event;

/// Field managers of writes made on behalf of a repository or a tenant: a key Secret any
/// of them wrote is not trusted.
pub const DELEGATED_MANAGERS: &[&str] =
    &[lockstep_engine::apply::FIELD_MANAGER, UNSEAL_FIELD_MANAGER];

/// Lists the key Secrets (labelled active, plus the pre-0.9 unlabelled Secret named exactly
/// like the prefix) and parses each; sorted oldest first by certificate `NotBefore`.
pub(super) async fn load(ctx: &Ctx) -> Result<KeyRing, Error> {
    let api = secrets(ctx);
    let list_error = |source| Error::List {
        namespace: ctx.namespace.clone(),
        source,
    };
    let selector = format!("{SEALING_KEY_LABEL}={KEY_ACTIVE}");
    let mut found = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(list_error)?
        .items;
    if let Some(legacy) = api.get_opt(&ctx.key_prefix).await.map_err(list_error)?
        && !found
            .iter()
            .any(|s| s.metadata.name == legacy.metadata.name)
    {
        found.push(legacy);
    }

    let mut parsed = Vec::new();
    for secret in found {
        let name = secret.metadata.name.clone().unwrap_or_default();
        if let Some(manager) = delegated_writer(&secret) {
            let reason = format!(
                "written by field manager {manager}, which writes for repositories and tenants; import keys with `lockstep keys import`"
            );
            report_skipped(ctx, &secret, Skipped::Untrusted, &reason).await;
            continue;
        }
        let renew_requested = secret
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(RENEW_REQUESTED_ANNOTATION));
        match lockstep_sealed::parse_key_secret(&secret) {
            Ok(key) => parsed.push((name, renew_requested, key)),
            Err(reason) => {
                report_skipped(ctx, &secret, Skipped::Invalid, &reason.to_string()).await;
            }
        }
    }
    parsed.sort_by_key(|(_, _, (_, cert))| cert.not_before_unix());
    let mut ring = KeyRing::default();
    for (secret, renew_requested, (private, certificate)) in parsed {
        ring.private.push(private);
        ring.info.push(KeyInfo {
            secret,
            certificate,
            renew_requested,
        });
    }
    Ok(ring)
}

/// The first of [`DELEGATED_MANAGERS`] that wrote `secret`, if any did.
fn delegated_writer(secret: &Secret) -> Option<&str> {
    secret
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .filter_map(|entry| entry.manager.as_deref())
        .find(|manager| DELEGATED_MANAGERS.contains(manager))
}

/// Why a sealing key Secret is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skipped {
    /// Written by a field manager that writes for repositories and tenants.
    Untrusted,
    /// Not a sealing key Secret that parses.
    Invalid,
}

impl Skipped {
    /// The event reason.
    fn as_str(self) -> &'static str {
        match self {
            Self::Untrusted => "ErrKeyUntrusted",
            Self::Invalid => "ErrKeyInvalid",
        }
    }
}

/// The `action` of the events about sealing key Secrets.
const EVENT_ACTION: &str = "LoadKey";

/// Logs, and publishes as a Warning event on the Secret, why a key Secret is not used.
async fn report_skipped(ctx: &Ctx, secret: &Secret, skipped: Skipped, reason: &str) {
    let event_reason = skipped.as_str();
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    tracing::warn!(secret = name, reason, "skipping a sealing key Secret");
    let reference = kube::Resource::object_ref(secret, &());
    let note = format!("sealing key skipped: {reason}");
    let warning = EventType::Warning;
    event::publish(
        &ctx.recorder,
        &reference,
        warning,
        event_reason,
        EVENT_ACTION,
        &note,
        None,
    )
    .await;
}

//! The sealing keys: loaded from, generated into and renewed as `kubernetes.io/tls` Secrets
//! in the controller's namespace, in exactly the shape the Bitnami controller uses, so keys
//! move between the two controllers as they are.
//!
//! The Secrets are the only source of truth: after every change the ring is loaded again
//! from the API. The newest key by certificate `NotBefore` seals; every key unseals. A key
//! Secret that does not parse is reported (log line and Warning event on the Secret) and
//! skipped — it never stops the controller.
//!
//! The key Secrets are watched: any change (a key restored or imported, a key relabelled
//! `compromised` by `lockstep keys retire` or by hand) reloads the ring at once, without the
//! restart the Bitnami controller needs. A [`RENEW_REQUESTED_ANNOTATION`] on an active key
//! Secret (`lockstep keys renew`) makes a new key now, as SIGUSR1 does, and is removed once
//! the new key exists.
//!
//! Only keys an administrator put there are trusted. The API server records in
//! `metadata.managedFields` the field manager of every writer, and a writer cannot erase
//! that record through an apply. Every write Lockstep makes on behalf of a repository or
//! a tenant carries one of [`load::DELEGATED_MANAGERS`] (a `Sync`'s or `lockstep apply`'s
//! server-side apply, the SealedSecret unsealer), and a Sync cannot choose another. A key
//! Secret that any of them wrote is skipped (log line and `ErrKeyUntrusted` event): a
//! repository that plants or rewrites a key gets nothing from it. Keys the controller makes
//! ([`KEYRING_FIELD_MANAGER`]), `lockstep keys import`/`restore`, the Bitnami controller or
//! an administrator's `kubectl` wrote are used as before. Besides, Syncs outside this
//! namespace cannot write into it, and no Sync writes a Secret labelled as a sealing key
//! (`crate::sync`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use lockstep_keys::sealing::{
    Certificate, GenerateOptions, RsaKeyBits, SealingKeyPair, SealingPrivateKey,
};
use lockstep_sealed::{
    KEY_ACTIVE, KEYRING_FIELD_MANAGER, RENEW_REQUESTED_ANNOTATION, SEALING_KEY_LABEL,
};

use crate::context::Ctx;

mod load;

use load::load;

/// The loaded keys, oldest first.
#[derive(Default)]
pub struct KeyRing {
    private: Vec<SealingPrivateKey>,
    info: Vec<KeyInfo>,
}

/// The public side of one key, for sealing and listing.
pub struct KeyInfo {
    /// Name of the Secret that holds it.
    pub secret: String,
    /// Its certificate.
    pub certificate: Certificate,
    /// Its Secret carries [`RENEW_REQUESTED_ANNOTATION`].
    renew_requested: bool,
}

impl KeyRing {
    /// Every private key, for unsealing.
    pub fn private_keys(&self) -> &[SealingPrivateKey] {
        &self.private
    }

    /// The newest key: the one that seals.
    pub fn latest(&self) -> Option<&KeyInfo> {
        self.info.last()
    }

    /// How many keys are loaded.
    pub fn len(&self) -> usize {
        self.info.len()
    }

    /// The keys at `positions` in [`KeyRing::private_keys`], named for a status message:
    /// `sealing key sealed-secrets-key6kz9n (SHA256:…, created 2026-11-04)`, the date
    /// being its certificate's `notBefore`. Which key a SealedSecret is sealed to, and how
    /// old that key is, tells a user rotating keys what still needs resealing.
    pub fn describe(&self, positions: &[usize]) -> String {
        let keys: Vec<String> = positions
            .iter()
            .filter_map(|&at| self.info.get(at))
            .map(|key| {
                let created = jiff::Timestamp::from_second(key.certificate.not_before_unix())
                    .map(|t| t.strftime("%Y-%m-%d").to_string())
                    .unwrap_or_default();
                format!(
                    "{} ({}, created {created})",
                    key.secret,
                    key.certificate.public_key().fingerprint()
                )
            })
            .collect();
        let plural = if keys.len() == 1 { "" } else { "s" };
        format!("sealing key{plural} {}", keys.join(", "))
    }
}

/// Errors of key management.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Listing or reading the key Secrets failed.
    #[error("listing sealing key Secrets in namespace {namespace}")]
    List {
        /// The controller's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Generating a key pair failed.
    #[error("generating a {bits}-bit sealing key")]
    Generate {
        /// Requested size.
        bits: usize,
        /// Why.
        #[source]
        source: lockstep_keys::sealing::GenerateError,
    },
    /// The requested key size is not one we generate.
    #[error("unsupported key size {bits}; use 2048, 3072 or 4096")]
    KeySize {
        /// Requested size.
        bits: usize,
    },
    /// Storing the new key Secret failed.
    #[error("creating a sealing key Secret in namespace {namespace}")]
    Store {
        /// The controller's namespace.
        namespace: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Loads the keys; creates the first one when there is none or the newest is older than
/// the renewal period (as the Bitnami controller does at start).
///
/// # Errors
/// [`Error`] when the Secrets cannot be listed or a needed key cannot be created.
pub async fn init(ctx: &Ctx) -> Result<(), Error> {
    let ring = load(ctx).await?;
    let stale = ring
        .latest()
        .is_none_or(|latest| due_in(ctx, latest) == Duration::ZERO);
    ctx.set_keys(ring);
    if stale {
        renew(ctx).await?;
    }
    let keys = ctx.keys();
    let newest = keys.latest().map(|k| k.secret.as_str()).unwrap_or_default();
    tracing::info!(keys = keys.len(), newest, "sealing keys loaded");
    Ok(())
}

/// Makes a new key every renewal period, and at once on SIGUSR1, [`Ctx::renew_now`] or a
/// renewal request on a key Secret (removed once answered); reloads the ring when a key Secret changes.
pub async fn renew_forever(ctx: Arc<Ctx>) {
    let mut usr1 =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    // Every key Secret, whatever its label value, so a relabelled key is seen too.
    let config = watcher::Config::default().labels(SEALING_KEY_LABEL);
    let mut changes = watcher(secrets(&ctx), config).default_backoff().boxed();
    // Key Secrets whose renewal request the next renewal answers.
    let mut requests: Vec<String> = Vec::new();
    loop {
        let wait = match ctx.keys().latest() {
            Some(latest) if !ctx.key_renew_period.is_zero() => due_in(&ctx, latest),
            // Renewal disabled: wait for an explicit request only.
            _ => Duration::from_secs(u64::MAX / 4),
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = ctx.renew_now.notified() => {}
            Some(()) = async { match usr1.as_mut() { Some(s) => s.recv().await, None => None } } => {
                tracing::info!("SIGUSR1: renewing the sealing key now");
            }
            Some(event) = changes.next() => {
                if !matches!(
                    event,
                    Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_) | watcher::Event::InitDone)
                ) {
                    continue;
                }
                match reload(&ctx).await {
                    Ok(Some(asked)) => {
                        tracing::info!("a new sealing key was requested");
                        requests = asked;
                    }
                    Ok(None) => continue,
                    Err(err) => {
                        tracing::warn!(error = %format!("{err:#}"), "reloading the sealing keys failed");
                        continue;
                    }
                }
            }
        }
        match renew(&ctx).await {
            Ok(()) => {
                for name in requests.drain(..) {
                    answered(&ctx, &name).await;
                }
            }
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "sealing key renewal failed; retrying in 30s");
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
        }
    }
}

/// Removes the renewal request from a key Secret once a new key answers it, so that it
/// asks once.
async fn answered(ctx: &Ctx, name: &str) {
    let patch =
        serde_json::json!({"metadata": {"annotations": {RENEW_REQUESTED_ANNOTATION: null}}});
    let params = PatchParams {
        field_manager: Some(KEYRING_FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    if let Err(err) = secrets(ctx)
        .patch(name, &params, &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(secret = name, error = %err, "could not clear the renewal request");
    }
}

/// Generates a key, stores it as a Secret and reloads the ring.
async fn renew(ctx: &Ctx) -> Result<(), Error> {
    let bits = RsaKeyBits::from_bits(ctx.key_size).ok_or(Error::KeySize { bits: ctx.key_size })?;
    let mut options = GenerateOptions::default();
    options.bits = bits;
    // Keys are ordered by NotBefore, in whole seconds: a key made in the same second as the
    // newest would tie with it, and which one seals would be a coin toss. Start it later.
    if let Some(newest) = ctx.keys().latest().map(|k| k.certificate.not_before_unix())
        && u64::try_from(newest).is_ok_and(|n| n >= unix_now())
    {
        options.not_before = Some(UNIX_EPOCH + Duration::from_secs(newest.unsigned_abs() + 1));
    }
    let pair = tokio::task::spawn_blocking(move || SealingKeyPair::generate(&options))
        .await
        .expect("key generation does not panic")
        .map_err(|source| Error::Generate {
            bits: ctx.key_size,
            source,
        })?;
    let key_pem = pair.tls_key_pem().map_err(|source| Error::Generate {
        bits: ctx.key_size,
        source,
    })?;
    let secret = Secret {
        metadata: ObjectMeta {
            generate_name: Some(ctx.key_prefix.clone()),
            namespace: Some(ctx.namespace.clone()),
            labels: Some(BTreeMap::from([(
                SEALING_KEY_LABEL.to_owned(),
                KEY_ACTIVE.to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            (
                "tls.key".to_owned(),
                ByteString(key_pem.as_bytes().to_vec()),
            ),
            (
                "tls.crt".to_owned(),
                ByteString(pair.tls_crt_pem().into_bytes()),
            ),
        ])),
        ..Secret::default()
    };
    let params = PostParams {
        field_manager: Some(KEYRING_FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };
    let created = secrets(ctx)
        .create(&params, &secret)
        .await
        .map_err(|source| Error::Store {
            namespace: ctx.namespace.clone(),
            source,
        })?;
    tracing::info!(
        secret = created.metadata.name.as_deref().unwrap_or_default(),
        fingerprint = pair.fingerprint(),
        "new sealing key created"
    );
    ctx.set_keys(load(ctx).await?);
    Ok(())
}

/// Loads the ring again. `Some` when a new key is wanted now: none is left (all retired),
/// or key Secrets ask for one (their names, to clear once answered).
async fn reload(ctx: &Ctx) -> Result<Option<Vec<String>>, Error> {
    let ring = load(ctx).await?;
    let asked: Vec<String> = ring
        .info
        .iter()
        .filter(|k| k.renew_requested)
        .map(|k| k.secret.clone())
        .collect();
    let wanted = (ring.latest().is_none() || !asked.is_empty()).then_some(asked);
    tracing::info!(
        keys = ring.len(),
        "sealing key Secrets changed; keys reloaded"
    );
    ctx.set_keys(ring);
    Ok(wanted)
}

/// How long until `latest` is a renewal period old (zero if it already is).
fn due_in(ctx: &Ctx, latest: &KeyInfo) -> Duration {
    let now = unix_now();
    let born = u64::try_from(latest.certificate.not_before_unix()).unwrap_or(0);
    let age = Duration::from_secs(now.saturating_sub(born));
    ctx.key_renew_period.saturating_sub(age)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

fn secrets(ctx: &Ctx) -> Api<Secret> {
    Api::namespaced(ctx.client.clone(), &ctx.namespace)
}

//! The key Secrets as the CLI sees them: every Secret labelled
//! `sealedsecrets.bitnami.com/sealed-secrets-key` (active or retired), parsed, oldest
//! first; and which of them sealed each SealedSecret of a repository.

use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use lockstep_keys::sealing::{Certificate, SealingPrivateKey};
use lockstep_sealed::{KEY_ACTIVE, RENEW_REQUESTED_ANNOTATION, SEALING_KEY_LABEL};

use crate::cmd::rotate::discover::{Kind, discover};
use crate::cmd::rotate::work_tree;

/// One sealing key and the Secret that holds it.
pub struct Key {
    /// The Secret's name.
    pub secret: String,
    /// The label value: `active`, or what retired it (`compromised`).
    pub state: String,
    /// Its certificate.
    pub certificate: Certificate,
    /// Its private key, to tell which SealedSecrets it sealed.
    pub private: SealingPrivateKey,
    /// The Secret asks the controller for a new key.
    pub renew_requested: bool,
}

impl Key {
    /// Whether the controller uses it.
    pub fn active(&self) -> bool {
        self.state == KEY_ACTIVE
    }

    /// The public key's fingerprint.
    pub fn fingerprint(&self) -> &str {
        self.certificate.public_key().fingerprint()
    }
}

/// The key Secrets of `api`, oldest first; Secrets that do not parse are reported on
/// stderr (by name and reason, never content) and left out.
pub async fn load(api: &Api<Secret>) -> anyhow::Result<Vec<Key>> {
    let secrets = api
        .list(&ListParams::default().labels(SEALING_KEY_LABEL))
        .await
        .context("listing the sealing key Secrets")?;
    let mut keys = Vec::new();
    for secret in secrets.items {
        let name = secret.metadata.name.clone().unwrap_or_default();
        match lockstep_sealed::parse_key_secret(&secret) {
            Ok((private, certificate)) => keys.push(Key {
                state: secret
                    .metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(SEALING_KEY_LABEL))
                    .cloned()
                    .unwrap_or_default(),
                renew_requested: secret
                    .metadata
                    .annotations
                    .as_ref()
                    .is_some_and(|a| a.contains_key(RENEW_REQUESTED_ANNOTATION)),
                secret: name,
                certificate,
                private,
            }),
            Err(why) => eprintln!("lockstep: skipping key Secret {name}: {why}"),
        }
    }
    keys.sort_by_key(|k| k.certificate.not_before_unix());
    Ok(keys)
}

/// The newest active key: the one the controller seals with.
pub fn newest_active(keys: &[Key]) -> Option<&Key> {
    keys.iter().rev().find(|k| k.active())
}

/// Which SealedSecrets of a repository each key sealed.
pub struct Usage {
    /// Per key (same order as the keys): the files with a SealedSecret it sealed.
    pub by_key: Vec<Vec<PathBuf>>,
    /// SealedSecrets no listed key opens.
    pub unknown: usize,
}

/// Finds the SealedSecrets under `paths` (default: the current Git work tree; `None` when
/// there is none) and tells which key sealed each: RSA decryption of one item per
/// SealedSecret and key, whose plaintext is dropped (zeroized) at once.
pub fn usage(keys: &[Key], paths: &[PathBuf]) -> anyhow::Result<Option<Usage>> {
    let roots = if paths.is_empty() {
        let cwd = std::env::current_dir().context("cannot read the current directory")?;
        match work_tree(&cwd) {
            Some(root) => vec![root],
            None => return Ok(None),
        }
    } else {
        paths.to_vec()
    };
    let private: Vec<&SealingPrivateKey> = keys.iter().map(|k| &k.private).collect();
    let (found, _) = discover(&roots);
    let mut usage = Usage {
        by_key: vec![Vec::new(); keys.len()],
        unknown: 0,
    };
    for file in found.iter().filter(|f| f.kind == Kind::Sealed) {
        for sealed in lockstep_sealed::parse_sealed_secrets(&file.bytes).unwrap_or_default() {
            match lockstep_sealed::sealing_key(&sealed, private.iter().copied()) {
                Some(i) => usage.by_key[i].push(file.path.clone()),
                None => usage.unknown += 1,
            }
        }
    }
    Ok(Some(usage))
}

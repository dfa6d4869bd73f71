//! Reading Vault KV fields for references: one login per resolve (through the workspace's
//! one Vault client, `lockstep_keys::vault`), and each secret read once however many keys
//! take fields from it.

use std::collections::HashMap;

use lockstep_keys::vault::{KvFields, VaultSession, VaultSource};
use lockstep_keys::{Error, RemoteFailure};
use zeroize::Zeroizing;

/// A failed Vault step: login or read.
pub(super) struct Failure {
    pub step: String,
    pub failure: RemoteFailure,
    pub detail: String,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        match err {
            Error::VaultLogin {
                method,
                failure,
                detail,
                ..
            } => Failure {
                step: format!("login ({method})"),
                failure,
                detail,
            },
            Error::VaultRead {
                failure, detail, ..
            } => Failure {
                step: "read".into(),
                failure,
                detail,
            },
            other => Failure {
                step: "request".into(),
                failure: RemoteFailure::Other,
                detail: other.to_string(),
            },
        }
    }
}

/// A logged-in client and the secrets read so far.
pub(super) struct Session {
    vault: VaultSession,
    read: HashMap<(String, String, bool, Option<u64>), KvFields>,
}

impl Session {
    /// Logs in.
    pub async fn open(source: &VaultSource) -> Result<Session, Failure> {
        Ok(Session {
            vault: source.login().await?,
            read: HashMap::new(),
        })
    }

    /// The field `field` of the secret `mount/path`, or `Ok(None)` when the secret has no
    /// such field.
    pub async fn field(
        &mut self,
        mount: &str,
        path: &str,
        kv1: bool,
        version: Option<u64>,
        field: &str,
    ) -> Result<Option<Zeroizing<String>>, Failure> {
        let id = (mount.to_owned(), path.to_owned(), kv1, version);
        if !self.read.contains_key(&id) {
            let fields = self.vault.read_kv(mount, path, kv1, version).await?;
            self.read.insert(id.clone(), fields);
        }
        Ok(self.read[&id].get(field).cloned())
    }
}

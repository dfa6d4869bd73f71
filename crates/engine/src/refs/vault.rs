//! Reading Vault KV fields for references: one client and one login per resolve, and each
//! secret read once however many keys take fields from it.

use std::collections::HashMap;

use lockstep_keys::RemoteFailure;
use lockstep_keys::vault::describe_error;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use zeroize::Zeroizing;

/// How the controller logs in to Vault for a Sync's references.
#[derive(Clone)]
pub enum VaultAuth {
    /// A token (the decryption Secret's `sops.vault-token`, or the controller's).
    Token(SecretString),
    /// Kubernetes auth: a service-account JWT exchanged at `auth/<mount>/login`.
    Kubernetes {
        /// The auth mount (`kubernetes`).
        mount: String,
        /// The Vault role.
        role: String,
        /// The service-account token.
        jwt: SecretString,
    },
    /// AppRole auth at `auth/<mount>/login`.
    AppRole {
        /// The auth mount (`approle`).
        mount: String,
        /// The role id.
        role_id: String,
        /// The secret id.
        secret_id: SecretString,
    },
}

impl VaultAuth {
    fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token(_) => "token",
            VaultAuth::Kubernetes { .. } => "kubernetes",
            VaultAuth::AppRole { .. } => "approle",
        }
    }
}

/// The Vault a Sync's references are read from.
#[derive(Clone)]
pub struct VaultSource {
    /// The server address (`https://vault:8200`).
    pub address: String,
    /// How to log in.
    pub auth: VaultAuth,
    /// A Vault Enterprise / OpenBao namespace.
    pub namespace: Option<String>,
}

impl std::fmt::Debug for VaultSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultSource")
            .field("address", &self.address)
            .field("auth", &self.auth.method())
            .field("namespace", &self.namespace)
            .finish()
    }
}

/// A failed Vault step: login or read.
pub(super) struct Failure {
    pub step: String,
    pub failure: RemoteFailure,
    pub detail: String,
}

/// Fields of one secret, by name; zeroized as a whole on drop.
type Fields = HashMap<String, Zeroizing<String>>;

/// A logged-in client and the secrets read so far.
pub(super) struct Session {
    client: VaultClient,
    read: HashMap<(String, String, bool, Option<u64>), Fields>,
}

impl Session {
    /// Builds the client and logs in.
    pub async fn open(source: &VaultSource) -> Result<Session, Failure> {
        let fail = |failure, detail| Failure {
            step: format!("login ({})", source.auth.method()),
            failure,
            detail,
        };
        let mut settings = VaultClientSettingsBuilder::default();
        settings
            .address(&source.address)
            .timeout(Some(lockstep_keys::vault::REQUEST_TIMEOUT));
        if let VaultAuth::Token(token) = &source.auth {
            settings.token(token.expose_secret());
        }
        if let Some(namespace) = &source.namespace {
            settings.set_namespace(namespace.clone());
        }
        let settings = settings
            .build()
            .map_err(|e| fail(RemoteFailure::Other, e.to_string()))?;
        let mut client = VaultClient::new(settings)
            .map_err(|e| fail(RemoteFailure::Other, describe_error(&e).1))?;
        let login = match &source.auth {
            VaultAuth::Token(_) => None,
            VaultAuth::Kubernetes { mount, role, jwt } => Some(
                vaultrs::auth::kubernetes::login(&client, mount, role, jwt.expose_secret()).await,
            ),
            VaultAuth::AppRole {
                mount,
                role_id,
                secret_id,
            } => Some(
                vaultrs::auth::approle::login(&client, mount, role_id, secret_id.expose_secret())
                    .await,
            ),
        };
        if let Some(login) = login {
            let mut info = login.map_err(|e| {
                let (failure, detail) = describe_error(&e);
                fail(failure, detail)
            })?;
            let token = Zeroizing::new(std::mem::take(&mut info.client_token));
            client.set_token(&token);
        }
        Ok(Session {
            client,
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
            let answer: Result<HashMap<String, Value>, _> = match (kv1, version) {
                (true, _) => vaultrs::kv1::get(&self.client, mount, path).await,
                (false, None) => vaultrs::kv2::read(&self.client, mount, path).await,
                (false, Some(v)) => vaultrs::kv2::read_version(&self.client, mount, path, v).await,
            };
            let answer = answer.map_err(|e| {
                let (failure, detail) = describe_error(&e);
                Failure {
                    step: "read".into(),
                    failure,
                    detail,
                }
            })?;
            let fields = answer
                .into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    (k, Zeroizing::new(text))
                })
                .collect();
            self.read.insert(id.clone(), fields);
        }
        Ok(self.read[&id].get(field).cloned())
    }
}

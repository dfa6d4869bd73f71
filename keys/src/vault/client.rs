//! The one Vault client of the workspace: built here for transit keys (with a token) and
//! for KV reads (after a token, AppRole or Kubernetes login), with the same settings and
//! the same error rules — a response body is never kept, since for a transit decrypt it
//! holds the data key and for a KV read the secret.

use std::collections::HashMap;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use vaultrs::client::{Client as _, VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;
use zeroize::{Zeroize, Zeroizing};

use super::REQUEST_TIMEOUT;
use crate::Error;
use crate::remote::{RemoteFailure, error_chain};

/// How to log in to Vault for KV reads.
#[derive(Clone)]
pub enum VaultAuth {
    /// A token, used as it is.
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
    /// JWT auth: a JWT (a ServiceAccount token, or one from elsewhere) exchanged at
    /// `auth/<mount>/login`.
    Jwt {
        /// The auth mount (`jwt`).
        mount: String,
        /// The Vault role; the mount's default role when `None`.
        role: Option<String>,
        /// The JWT.
        jwt: SecretString,
    },
    /// Username and password auth at `auth/<mount>/login/<username>`.
    UserPass {
        /// The auth mount (`userpass`).
        mount: String,
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
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
    /// `token`, `kubernetes`, `jwt`, `userpass` or `approle`, for messages.
    pub fn method(&self) -> &'static str {
        match self {
            VaultAuth::Token(_) => "token",
            VaultAuth::Kubernetes { .. } => "kubernetes",
            VaultAuth::Jwt { .. } => "jwt",
            VaultAuth::UserPass { .. } => "userpass",
            VaultAuth::AppRole { .. } => "approle",
        }
    }
}

/// A Vault server and how to log in to it. Prints no credential.
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

/// Fields of one KV secret, by name; each zeroized on drop. Non-string fields are JSON
/// text.
pub type KvFields = HashMap<String, Zeroizing<String>>;

/// A logged-in client for KV reads.
pub struct VaultSession {
    client: VaultClient,
    address: String,
}

impl VaultSource {
    /// Builds the client and logs in (a token is used as it is).
    ///
    /// # Errors
    /// [`Error::VaultLogin`] with what Vault said.
    pub async fn login(&self) -> Result<VaultSession, Error> {
        let failed = |failure, detail| Error::VaultLogin {
            address: self.address.clone(),
            method: self.auth.method(),
            failure,
            detail,
        };
        let token = match &self.auth {
            VaultAuth::Token(token) => Some(token),
            _ => None,
        };
        let mut client = build(&self.address, token, self.namespace.as_deref())
            .map_err(|detail| failed(RemoteFailure::Other, detail))?;
        let login = match &self.auth {
            VaultAuth::Token(_) => None,
            VaultAuth::Kubernetes { mount, role, jwt } => Some(
                vaultrs::auth::kubernetes::login(&client, mount, role, jwt.expose_secret()).await,
            ),
            VaultAuth::Jwt { mount, role, jwt } => Some(
                vaultrs::auth::oidc::login(&client, mount, jwt.expose_secret(), role.clone()).await,
            ),
            VaultAuth::UserPass {
                mount,
                username,
                password,
            } => Some(
                vaultrs::auth::userpass::login(&client, mount, username, password.expose_secret())
                    .await,
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
                failed(failure, detail)
            })?;
            let token = Zeroizing::new(std::mem::take(&mut info.client_token));
            client.set_token(&token);
        }
        Ok(VaultSession {
            client,
            address: self.address.clone(),
        })
    }
}

/// The data of one KV secret with its structure kept: nested objects, arrays, numbers and
/// booleans as Vault returned them (the External Secrets front-end reads properties inside
/// them). Every string value in it, however deep, is zeroized when it is dropped; field
/// names and numbers are not (`serde_json` keeps a number's storage private). Read it
/// through `Deref`; it is neither `Clone` nor `Debug`.
#[derive(Default)]
pub struct KvDocument(serde_json::Map<String, Value>);

impl std::ops::Deref for KvDocument {
    type Target = serde_json::Map<String, Value>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<serde_json::Map<String, Value>> for KvDocument {
    fn from(fields: serde_json::Map<String, Value>) -> Self {
        Self(fields)
    }
}

impl Drop for KvDocument {
    fn drop(&mut self) {
        self.0.values_mut().for_each(wipe);
    }
}

/// Zeroizes every string in `value`, however deeply nested: for a copy of secret JSON
/// made to read it, before it is dropped.
pub fn wipe(value: &mut Value) {
    match value {
        Value::String(text) => text.zeroize(),
        Value::Array(items) => items.iter_mut().for_each(wipe),
        Value::Object(fields) => fields.values_mut().for_each(wipe),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

impl VaultSession {
    /// The fields of the KV secret `mount/path`: KV v1 with `kv1`, else KV v2 at `version`
    /// (the latest without one).
    ///
    /// # Errors
    /// [`Error::VaultRead`] with what Vault said; [`RemoteFailure::NotFound`] also when the
    /// version read has no data (deleted or destroyed).
    pub async fn read_kv(
        &self,
        mount: &str,
        path: &str,
        kv1: bool,
        version: Option<u64>,
    ) -> Result<KvFields, Error> {
        let mut document = self
            .read_kv_document(mount, path, kv1, version)
            .await?
            .ok_or_else(|| Error::VaultRead {
                address: self.address.clone(),
                path: format!("{mount}/{path}"),
                failure: RemoteFailure::NotFound,
                detail: "the version has no data (deleted or destroyed)".into(),
            })?;
        // Strings move into their `Zeroizing`; what is left is wiped with the document.
        Ok(std::mem::take(&mut document.0)
            .into_iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, Zeroizing::new(text))
            })
            .collect())
    }

    /// The data of the KV secret `mount/path` as a JSON object (see [`KvDocument`]); KV v1
    /// with `kv1`, else KV v2 at `version`. `None` when a KV v2 version has no data (deleted
    /// or destroyed, which Vault reports as `data: null`).
    ///
    /// # Errors
    /// [`Error::VaultRead`] with what Vault said (a path that does not exist is
    /// [`RemoteFailure::NotFound`]).
    pub async fn read_kv_document(
        &self,
        mount: &str,
        path: &str,
        kv1: bool,
        version: Option<u64>,
    ) -> Result<Option<KvDocument>, Error> {
        type Fields = Option<serde_json::Map<String, Value>>;
        let answer: Result<Fields, _> = match (kv1, version) {
            (true, _) => vaultrs::kv1::get(&self.client, mount, path).await,
            (false, None) => vaultrs::kv2::read(&self.client, mount, path).await,
            (false, Some(v)) => vaultrs::kv2::read_version(&self.client, mount, path, v).await,
        };
        answer.map(|fields| fields.map(KvDocument)).map_err(|e| {
            let (failure, detail) = describe_error(&e);
            Error::VaultRead {
                address: self.address.clone(),
                path: format!("{mount}/{path}"),
                failure,
                detail,
            }
        })
    }
}

impl VaultSession {
    /// The names directly under `mount/path` (KV v1 with `kv1`, else KV v2 metadata), a
    /// folder's ending in `/`; `None` when there is nothing under it.
    ///
    /// # Errors
    /// [`Error::VaultRead`] with what Vault said.
    pub async fn list_kv(
        &self,
        mount: &str,
        path: &str,
        kv1: bool,
    ) -> Result<Option<Vec<String>>, Error> {
        let answer = match kv1 {
            true => vaultrs::kv1::list(&self.client, mount, path)
                .await
                .map(|listed| listed.data.keys),
            false => vaultrs::kv2::list(&self.client, mount, path).await,
        };
        match answer {
            Ok(names) => Ok(Some(names)),
            Err(e) => match describe_error(&e) {
                (RemoteFailure::NotFound, _) => Ok(None),
                (failure, detail) => Err(Error::VaultRead {
                    address: self.address.clone(),
                    path: format!("{mount}/{path}"),
                    failure,
                    detail,
                }),
            },
        }
    }

    /// The custom metadata of the KV v2 secret `mount/path` (what a search by tags reads).
    ///
    /// # Errors
    /// [`Error::VaultRead`] with what Vault said.
    pub async fn kv_custom_metadata(
        &self,
        mount: &str,
        path: &str,
    ) -> Result<std::collections::HashMap<String, String>, Error> {
        vaultrs::kv2::read_metadata(&self.client, mount, path)
            .await
            .map(|metadata| metadata.custom_metadata.unwrap_or_default())
            .map_err(|e| {
                let (failure, detail) = describe_error(&e);
                Error::VaultRead {
                    address: self.address.clone(),
                    path: format!("{mount}/{path}"),
                    failure,
                    detail,
                }
            })
    }
}

/// A client for `address`, with a token if there is one, the namespace and
/// [`REQUEST_TIMEOUT`]. The error (about the address or TLS files) cannot hold the token.
pub(super) fn build(
    address: &str,
    token: Option<&SecretString>,
    namespace: Option<&str>,
) -> Result<VaultClient, String> {
    let mut settings = VaultClientSettingsBuilder::default();
    settings.address(address).timeout(Some(REQUEST_TIMEOUT));
    if let Some(token) = token {
        settings.token(token.expose_secret());
    }
    if let Some(namespace) = namespace {
        settings.set_namespace(namespace.to_owned());
    }
    let settings = settings.build().map_err(|err| err.to_string())?;
    VaultClient::new(settings).map_err(|err| error_chain(&err))
}

/// The kind and a printable description of a failed `vaultrs` request. Only the status,
/// Vault's error messages and transport errors are kept: never a response body.
pub(super) fn describe_error(err: &ClientError) -> (RemoteFailure, String) {
    match err {
        ClientError::APIError { code, errors } => {
            let said = errors.join("; ");
            let lower = said.to_lowercase();
            let kind = match code {
                401 | 403 => RemoteFailure::Denied,
                503 if lower.contains("sealed") => RemoteFailure::Sealed,
                429 => RemoteFailure::Throttled,
                502..=504 => RemoteFailure::Unreachable,
                404 => RemoteFailure::NotFound,
                _ if lower.contains("not found") => RemoteFailure::NotFound,
                _ if lower.contains("ciphertext") || lower.contains("cipher: message") => {
                    RemoteFailure::InvalidCiphertext
                }
                _ => RemoteFailure::Other,
            };
            (kind, format!("status {code}: {said}"))
        }
        // rustify's error type is not exported by vaultrs; its variants' messages are fixed
        // strings. Only transport errors are printed with their sources: a parse error's
        // sources may quote the response, which for a decrypt holds the data key.
        ClientError::RestClientError { source } => {
            let what = source.to_string();
            if what == "Error sending HTTP request" || what == "Error retrieving HTTP response" {
                (RemoteFailure::Unreachable, error_chain(source))
            } else {
                (RemoteFailure::Other, what)
            }
        }
        other => (RemoteFailure::Other, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::wipe;

    /// Every string is reached, however deep; what is not a string is left.
    #[test]
    fn wipe_empties_every_string() {
        let mut value = json!({"a": "one", "b": {"c": ["two", {"d": "three"}], "n": 4, "t": true}});
        wipe(&mut value);
        assert_eq!(
            value,
            json!({"a": "", "b": {"c": ["", {"d": ""}], "n": 4, "t": true}})
        );
    }
}

//! Reading one sealing key Secret (`kubernetes.io/tls`: `tls.key` + `tls.crt`), the shape
//! the Bitnami controller writes. The controller loads its ring with it and `lockstep keys`
//! lists and backs keys up with it, so both accept and refuse the same Secrets.

use k8s_openapi::api::core::v1::Secret;
use lockstep_keys::sealing::{Certificate, CertificateError, KeyLoadError, SealingPrivateKey};

/// Why a key Secret is unusable. Names the field, never its content.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeySecretError {
    /// The Secret has no `data`.
    #[error("it has no data")]
    NoData,
    /// A field is missing.
    #[error("it has no {0}")]
    Missing(&'static str),
    /// `tls.key` does not load.
    #[error("tls.key: {0}")]
    Key(#[from] KeyLoadError),
    /// `tls.crt` does not load.
    #[error("tls.crt: {0}")]
    Certificate(#[from] CertificateError),
    /// The certificate is not the key's.
    #[error("tls.crt is the certificate of another key")]
    Mismatch,
}

/// The private key and certificate of a key Secret.
///
/// # Errors
/// [`KeySecretError`] naming what is missing or wrong.
pub fn parse_key_secret(
    secret: &Secret,
) -> Result<(SealingPrivateKey, Certificate), KeySecretError> {
    let data = secret.data.as_ref().ok_or(KeySecretError::NoData)?;
    let field = |name: &'static str| data.get(name).ok_or(KeySecretError::Missing(name));
    let private = SealingPrivateKey::from_pem(&field("tls.key")?.0)?;
    let certificate = Certificate::from_pem(&field("tls.crt")?.0)?;
    if private.public_key() != certificate.public_key() {
        return Err(KeySecretError::Mismatch);
    }
    Ok((private, certificate))
}

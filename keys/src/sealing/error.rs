//! The error enums of the sealing key operations, one per operation. None of them carries
//! key bytes, PEM text or plaintext.

/// Loading a private key from PEM or DER failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyLoadError {
    /// The input holds no PEM block labelled `RSA PRIVATE KEY` or `PRIVATE KEY`.
    #[error("no `RSA PRIVATE KEY` or `PRIVATE KEY` PEM block found")]
    NoPrivateKeyBlock,
    /// The PEM block is malformed (bad base64, missing end line).
    #[error("malformed PEM block labelled `{label}`")]
    Pem {
        /// Label of the block.
        label: String,
    },
    /// The DER inside is not an RSA key in the expected envelope, or aws-lc-rs rejected it
    /// (not RSA, too small, inconsistent).
    #[error("not a usable RSA private key ({format}): {reason}")]
    Rejected {
        /// `PKCS#1` or `PKCS#8`.
        format: &'static str,
        /// Why it was rejected (never key material).
        reason: String,
    },
}

/// Reading a certificate or public key failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// No `CERTIFICATE` PEM block in the input.
    #[error("no CERTIFICATE PEM block found")]
    NoCertificateBlock,
    /// The PEM text is malformed.
    #[error("malformed PEM: {reason}")]
    Pem {
        /// What the PEM parser reported.
        reason: String,
    },
    /// The DER is not an X.509 certificate.
    #[error("cannot parse X.509 certificate: {reason}")]
    Parse {
        /// What the X.509 parser reported.
        reason: String,
    },
    /// The certificate's key is not an RSA key usable for OAEP.
    #[error("certificate public key is not an RSA key usable for encryption: {reason}")]
    NotRsa {
        /// What was rejected.
        reason: String,
    },
}

/// Generating a key pair, or writing one out, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// aws-lc-rs could not generate the RSA key.
    #[error("RSA key generation failed")]
    KeyGeneration,
    /// The generated key could not be re-imported (should not happen).
    #[error("generated key could not be loaded")]
    Load(#[source] KeyLoadError),
    /// rcgen could not build or sign the self-signed certificate.
    #[error("self-signed certificate could not be built: {reason}")]
    Certificate {
        /// What rcgen reported.
        reason: String,
    },
    /// The certificate that was built could not be parsed back.
    #[error("generated certificate could not be parsed")]
    ParseBack(#[source] CertificateError),
    /// The validity period does not fit in a certificate.
    #[error("certificate validity out of range")]
    Validity,
    /// The key could not be re-encoded as PKCS#1 PEM.
    #[error("private key could not be encoded as PKCS#1 PEM")]
    Encode,
    /// The key and certificate passed to [`super::SealingKeyPair::new`] do not match.
    #[error("the certificate's public key does not match the private key")]
    Mismatch,
}

/// Wrapping a session key with a public key failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WrapError {
    /// RSA-OAEP encryption failed (for instance a label or key too large).
    #[error("RSA-OAEP encryption of the session key failed")]
    Encrypt,
}

//! X.509 certificates of sealing keys: the controller's `tls.crt` and kubeseal's `--cert`.
//!
//! Only what sealing needs is read: the RSA public key and the validity period (kubeseal
//! refuses to seal with an expired certificate). Signature, key usage and `NotBefore` are
//! not checked, as upstream does not check them.

use std::fmt;

use x509_parser::pem::Pem;
use x509_parser::prelude::{FromDer as _, X509Certificate};

use super::pem::encode_public;
use super::{CertificateError, SealingPublicKey};

/// A parsed certificate: its DER, its RSA public key and its validity period.
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    public_key: SealingPublicKey,
    not_before: i64,
    not_after: i64,
}

impl Certificate {
    /// Reads the first `CERTIFICATE` block of a PEM file (a chain is allowed; the rest is
    /// ignored, as the controller and kubeseal do).
    ///
    /// # Errors
    /// [`CertificateError::NoCertificateBlock`] without a certificate block, otherwise as
    /// [`Certificate::from_der`].
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertificateError> {
        for block in Pem::iter_from_buffer(pem) {
            let block = block.map_err(|e| CertificateError::Pem {
                reason: e.to_string(),
            })?;
            if block.label == "CERTIFICATE" {
                return Self::from_der(&block.contents);
            }
        }
        Err(CertificateError::NoCertificateBlock)
    }

    /// Reads a DER certificate.
    ///
    /// # Errors
    /// [`CertificateError::Parse`] when it is not X.509, [`CertificateError::NotRsa`] when
    /// its key is not RSA.
    pub fn from_der(der: &[u8]) -> Result<Self, CertificateError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| CertificateError::Parse {
            reason: e.to_string(),
        })?;
        let public_key = SealingPublicKey::from_spki_der(cert.public_key().raw)?;
        let validity = cert.validity();
        Ok(Self {
            der: der.to_vec(),
            public_key,
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
        })
    }

    /// The RSA public key of the certificate.
    pub fn public_key(&self) -> &SealingPublicKey {
        &self.public_key
    }

    /// `NotBefore`, seconds since the Unix epoch. The controller seals with the key whose
    /// certificate has the latest `NotBefore`.
    pub fn not_before_unix(&self) -> i64 {
        self.not_before
    }

    /// `NotAfter`, seconds since the Unix epoch.
    pub fn not_after_unix(&self) -> i64 {
        self.not_after
    }

    /// Whether the certificate has expired at `now_unix` (kubeseal refuses to seal then).
    pub fn is_expired_at(&self, now_unix: i64) -> bool {
        self.not_after < now_unix
    }

    /// The certificate DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as one PEM `CERTIFICATE` block (what `/v1/cert.pem` serves).
    pub fn to_pem(&self) -> String {
        encode_public("CERTIFICATE", &self.der)
    }
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("public_key", &self.public_key)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish()
    }
}

//! The private half of a sealing key, held by aws-lc-rs: loading it from PEM (PKCS#1 or
//! PKCS#8), unwrapping session keys, and writing it back out as the controller does.

use std::fmt;

use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use zeroize::Zeroizing;

use super::pem::{blocks, pkcs1_to_pkcs8, pkcs8_to_pkcs1_pem};
use super::{CertificateError, KeyLoadError, SealingPublicKey};
use crate::DataKey;

/// An RSA private key for unsealing. Deliberately not `Clone`; `Debug` shows only the
/// public fingerprint. The key lives inside aws-lc-rs, which frees (and clears) it on drop.
pub struct SealingPrivateKey {
    key: PrivateDecryptingKey,
    oaep: OaepPrivateDecryptingKey,
    public: SealingPublicKey,
}

impl SealingPrivateKey {
    /// Loads the first private key in a PEM text: `RSA PRIVATE KEY` (PKCS#1, the form the
    /// controller writes) or `PRIVATE KEY` (PKCS#8). Other blocks (a certificate in the same
    /// file, say) are skipped.
    ///
    /// # Errors
    /// [`KeyLoadError::NoPrivateKeyBlock`] when there is no such block,
    /// [`KeyLoadError::Pem`] for a malformed block, [`KeyLoadError::Rejected`] for a key
    /// that is not RSA or not valid.
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyLoadError> {
        for block in blocks(pem)? {
            match block.label.as_str() {
                "RSA PRIVATE KEY" => {
                    let pkcs8 = pkcs1_to_pkcs8(&block.der)?;
                    return Self::from_der_as(&pkcs8, "PKCS#1");
                }
                "PRIVATE KEY" => return Self::from_der_as(&block.der, "PKCS#8"),
                _ => {}
            }
        }
        Err(KeyLoadError::NoPrivateKeyBlock)
    }

    /// Loads a PKCS#8 `PrivateKeyInfo` DER holding an RSA key.
    ///
    /// # Errors
    /// [`KeyLoadError::Rejected`] when aws-lc-rs does not accept it as an RSA key.
    pub fn from_pkcs8_der(pkcs8: &[u8]) -> Result<Self, KeyLoadError> {
        Self::from_der_as(pkcs8, "PKCS#8")
    }

    /// Loads a PKCS#1 `RSAPrivateKey` DER.
    ///
    /// # Errors
    /// [`KeyLoadError::Rejected`] when aws-lc-rs does not accept it as an RSA key.
    pub fn from_pkcs1_der(pkcs1: &[u8]) -> Result<Self, KeyLoadError> {
        let pkcs8 = pkcs1_to_pkcs8(pkcs1)?;
        Self::from_der_as(&pkcs8, "PKCS#1")
    }

    pub(crate) fn from_aws(key: PrivateDecryptingKey) -> Result<Self, KeyLoadError> {
        let rejected = |reason: String| KeyLoadError::Rejected {
            format: "PKCS#8",
            reason,
        };
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| rejected("public key export failed".to_owned()))?;
        let public = SealingPublicKey::from_spki_der(spki.as_ref())
            .map_err(|e: CertificateError| rejected(e.to_string()))?;
        let oaep = OaepPrivateDecryptingKey::new(key.clone())
            .map_err(|_| rejected("OAEP unavailable for this key".to_owned()))?;
        Ok(Self { key, oaep, public })
    }

    fn from_der_as(pkcs8: &[u8], format: &'static str) -> Result<Self, KeyLoadError> {
        let key = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|e| KeyLoadError::Rejected {
            format,
            reason: e.to_string(),
        })?;
        Self::from_aws(key).map_err(|e| match e {
            KeyLoadError::Rejected { reason, .. } => KeyLoadError::Rejected { format, reason },
            other => other,
        })
    }

    /// Tries to unwrap a session key that was wrapped for this key with OAEP label `label`.
    ///
    /// Returns `None` when it does not unwrap: wrong key, wrong label, tampered bytes and a
    /// plaintext that is not 32 bytes all look the same, so that callers cannot build an
    /// oracle. The decryption runs in aws-lc-rs.
    pub fn unwrap_session_key(&self, wrapped: &[u8], label: &[u8]) -> Option<DataKey> {
        let mut out = Zeroizing::new(vec![0u8; self.oaep.min_output_size()]);
        let plain = self
            .oaep
            .decrypt(&OAEP_SHA256_MGF1SHA256, wrapped, &mut out, Some(label))
            .ok()?;
        DataKey::try_from_slice(plain).ok()
    }

    /// The matching public key.
    pub fn public_key(&self) -> &SealingPublicKey {
        &self.public
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> usize {
        self.oaep.key_size_bits()
    }

    /// The key as PKCS#8 DER (zeroized on drop).
    ///
    /// # Errors
    /// [`KeyLoadError::Rejected`] if aws-lc-rs cannot export it (should not happen).
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyLoadError> {
        let der: Pkcs8V1Der<'static> = self.key.as_der().map_err(|_| KeyLoadError::Rejected {
            format: "PKCS#8",
            reason: "export failed".to_owned(),
        })?;
        Ok(Zeroizing::new(der.as_ref().to_vec()))
    }

    /// The key as PEM `RSA PRIVATE KEY` (PKCS#1), the form the controller writes to
    /// `tls.key` (zeroized on drop).
    ///
    /// # Errors
    /// [`KeyLoadError::Rejected`] if the key cannot be exported (should not happen).
    pub fn to_pkcs1_pem(&self) -> Result<Zeroizing<String>, KeyLoadError> {
        let pkcs8 = self.to_pkcs8_der()?;
        pkcs8_to_pkcs1_pem(&pkcs8).ok_or(KeyLoadError::Rejected {
            format: "PKCS#1",
            reason: "re-encoding failed".to_owned(),
        })
    }
}

impl fmt::Debug for SealingPrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingPrivateKey")
            .field("bits", &self.bits())
            .field("fingerprint", &self.public.fingerprint())
            .field("key", &"[redacted]")
            .finish()
    }
}

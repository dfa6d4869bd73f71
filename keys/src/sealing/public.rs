//! The public half of a sealing key: wraps 32-byte session keys with RSA-OAEP
//! (SHA-256/MGF1-SHA-256) under a scope label, and names itself by fingerprint.

use std::fmt;

use aws_lc_rs::rsa::{OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey};
use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

use super::{CertificateError, WrapError};
use crate::DataKey;

/// An RSA public key that seals session keys. Cheap to clone.
#[derive(Clone)]
pub struct SealingPublicKey {
    oaep: std::sync::Arc<OaepPublicEncryptingKey>,
    spki_der: Vec<u8>,
    fingerprint: String,
}

impl SealingPublicKey {
    /// Reads an X.509 `SubjectPublicKeyInfo` (DER) holding an RSA key.
    ///
    /// # Errors
    /// [`CertificateError::NotRsa`] when the key is not RSA or aws-lc-rs rejects it.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, CertificateError> {
        let not_rsa = |reason: String| CertificateError::NotRsa { reason };
        let parsed =
            rsa::RsaPublicKey::from_public_key_der(spki_der).map_err(|e| not_rsa(e.to_string()))?;
        let key = PublicEncryptingKey::from_der(spki_der).map_err(|e| not_rsa(e.to_string()))?;
        let oaep = OaepPublicEncryptingKey::new(key)
            .map_err(|_| not_rsa("OAEP unavailable".to_owned()))?;
        Ok(Self {
            oaep: std::sync::Arc::new(oaep),
            spki_der: spki_der.to_vec(),
            fingerprint: ssh_fingerprint(&parsed.e().to_bytes_be(), &parsed.n().to_bytes_be()),
        })
    }

    /// Wraps `session_key` for this public key with OAEP label `label` (the scope label).
    /// The result is exactly [`Self::size_bytes`] long.
    ///
    /// # Errors
    /// [`WrapError::Encrypt`] when aws-lc-rs refuses (it should not for a 32-byte key).
    pub fn wrap_session_key(
        &self,
        session_key: &DataKey,
        label: &[u8],
    ) -> Result<Vec<u8>, WrapError> {
        let mut out = vec![0u8; self.oaep.ciphertext_size()];
        let len = self
            .oaep
            .encrypt(
                &OAEP_SHA256_MGF1SHA256,
                session_key.expose_secret(),
                &mut out,
                Some(label),
            )
            .map_err(|_| WrapError::Encrypt)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    /// Modulus size in bytes (512 for a 4096-bit key): the length of a wrapped key.
    pub fn size_bytes(&self) -> usize {
        self.oaep.key_size_bytes()
    }

    /// The key as X.509 `SubjectPublicKeyInfo` DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The OpenSSH-style fingerprint of the key, `SHA256:<base64>`: the same value the
    /// sealed-secrets controller uses to index its keys, and `ssh-keygen -l` would print.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl PartialEq for SealingPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for SealingPublicKey {}

impl fmt::Debug for SealingPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingPublicKey")
            .field("bits", &(self.size_bytes() * 8))
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

/// SHA-256 over the SSH wire encoding of an `ssh-rsa` key, unpadded base64.
fn ssh_fingerprint(e: &[u8], n: &[u8]) -> String {
    fn put_string(buf: &mut Vec<u8>, bytes: &[u8]) {
        buf.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(bytes);
    }
    fn put_mpint(buf: &mut Vec<u8>, bytes: &[u8]) {
        let trimmed = match bytes.iter().position(|&b| b != 0) {
            Some(i) => &bytes[i..],
            None => &[],
        };
        if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            let mut padded = Vec::with_capacity(trimmed.len() + 1);
            padded.push(0);
            padded.extend_from_slice(trimmed);
            put_string(buf, &padded);
        } else {
            put_string(buf, trimmed);
        }
    }
    let mut wire = Vec::new();
    put_string(&mut wire, b"ssh-rsa");
    put_mpint(&mut wire, e);
    put_mpint(&mut wire, n);
    let digest = Sha256::digest(&wire);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

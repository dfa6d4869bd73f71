//! The public half of a sealing key: wraps 32-byte session keys with RSA-OAEP
//! (SHA-256/MGF1-SHA-256) under a scope label, and names itself by fingerprint.
//!
//! Wrapping is public-key work, done by our own OAEP encoding and Montgomery exponentiation
//! ([`super::oaep`], [`super::montgomery`]) with the OS random source; the `rsa` crate only
//! parses the key. aws-lc-rs would do the same, but its first random bytes in a process cost
//! ~25–45 ms of jitter-entropy seeding, and the `rsa` crate's exponentiation ~1 ms per value
//! in 0.9 and 2.3–2.9× ours in 0.10 (see BENCHMARKS.md). Unwrapping stays in aws-lc-rs.

use std::fmt;

use base64::Engine as _;
use rsa::pkcs8::DecodePublicKey as _;
use rsa::traits::PublicKeyParts as _;
use sha2::{Digest as _, Sha256};

use super::montgomery::Modulus;
use super::{CertificateError, WrapError, oaep};
use crate::DataKey;

/// An RSA public key that seals session keys. Cheap to clone.
#[derive(Clone)]
pub struct SealingPublicKey {
    modulus: Modulus,
    spki_der: Vec<u8>,
    fingerprint: String,
}

impl SealingPublicKey {
    /// Reads an X.509 `SubjectPublicKeyInfo` (DER) holding an RSA key.
    ///
    /// # Errors
    /// [`CertificateError::NotRsa`] when the key is not RSA.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, CertificateError> {
        let key = rsa::RsaPublicKey::from_public_key_der(spki_der).map_err(|e| {
            CertificateError::NotRsa {
                reason: key_kind(spki_der).map_or_else(
                    || e.to_string(),
                    |kind| format!("it is {kind}; sealed secrets need an RSA key"),
                ),
            }
        })?;
        let modulus = Modulus::new(key.n(), key.e()).ok_or_else(|| CertificateError::NotRsa {
            reason: "even modulus or zero exponent".to_owned(),
        })?;
        Ok(Self {
            fingerprint: ssh_fingerprint(&key.e().to_bytes_be(), &key.n().to_bytes_be()),
            modulus,
            spki_der: spki_der.to_vec(),
        })
    }

    /// Wraps `session_key` for this public key with OAEP label `label` (the scope label).
    /// The result is exactly [`Self::size_bytes`] long.
    ///
    /// # Errors
    /// [`WrapError::Encrypt`] when the key is too small for OAEP-SHA256 of 32 bytes.
    pub fn wrap_session_key(
        &self,
        session_key: &DataKey,
        label: &[u8],
    ) -> Result<Vec<u8>, WrapError> {
        oaep::encrypt(
            &self.modulus,
            session_key.expose_secret(),
            label,
            &mut rand::rngs::OsRng,
        )
        .ok_or(WrapError::Encrypt)
    }

    /// Modulus size in bytes (512 for a 4096-bit key): the length of a wrapped key.
    pub fn size_bytes(&self) -> usize {
        self.modulus.size()
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

/// What a non-RSA key is, named by its algorithm: the `rsa` crate's own error quotes the OID
/// it wanted (rsaEncryption), which reads as if that were the one refused (UX review D3).
fn key_kind(spki_der: &[u8]) -> Option<&'static str> {
    use rsa::pkcs8::ObjectIdentifier;
    use rsa::pkcs8::spki::SubjectPublicKeyInfoRef;
    const KINDS: [(ObjectIdentifier, &str); 4] = [
        (
            ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
            "an EC key",
        ),
        (
            ObjectIdentifier::new_unwrap("1.3.101.112"),
            "an Ed25519 key",
        ),
        (ObjectIdentifier::new_unwrap("1.3.101.113"), "an Ed448 key"),
        (
            ObjectIdentifier::new_unwrap("1.2.840.10040.4.1"),
            "a DSA key",
        ),
    ];
    let oid = SubjectPublicKeyInfoRef::try_from(spki_der)
        .ok()?
        .algorithm
        .oid;
    KINDS.iter().find(|(o, _)| *o == oid).map(|(_, kind)| *kind)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// UX review D3: an EC certificate is named as EC, not by the OID the parser wanted.
    #[test]
    fn a_non_rsa_key_is_named_by_its_kind() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
        let err = SealingPublicKey::from_spki_der(&spki).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("it is an EC key; sealed secrets need an RSA key"),
            "{message}"
        );
        assert!(!message.contains("1.2.840.113549"), "{message}");
    }
}

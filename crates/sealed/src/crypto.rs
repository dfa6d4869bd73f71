//! The hybrid encryption of one sealed value, byte-compatible with sealed-secrets'
//! `pkg/crypto/crypto.go`:
//!
//! ```text
//! u16_be(len(R)) ‖ R ‖ C
//! R = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(K)        K = 32 random bytes
//! C = AES-256-GCM(K, nonce = 12 zero bytes, no AAD)(plaintext) ‖ tag
//! ```
//!
//! The zero nonce is safe only because every value gets a fresh `K`. Decryption tries
//! each private key; a wrong key, a wrong label and tampered bytes all come out as
//! [`DecryptError::NoKeyCouldDecrypt`], so there is no oracle.

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use lockstep_keys::DataKey;
use lockstep_keys::sealing::{SealingPrivateKey, SealingPublicKey};

use crate::plaintext::SecretValue;

const NONCE: [u8; 12] = [0; 12];

/// Sealing one value failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// RSA-OAEP wrapping of the session key failed.
    #[error("wrapping the session key failed")]
    Wrap(#[source] lockstep_keys::sealing::WrapError),
    /// The wrapped key is longer than a 16-bit length prefix allows.
    #[error("RSA key too large for the sealed-secrets format")]
    KeyTooLarge,
    /// AES-GCM refused the input (too long).
    #[error("AES-GCM encryption failed")]
    Aead,
}

/// Unsealing one value failed. The messages are upstream's, so existing alerts still match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// Shorter than its length prefix says.
    #[error("SealedSecret data is too short")]
    TooShort,
    /// No key unwrapped the session key and opened the ciphertext with it: wrong key,
    /// wrong scope (name/namespace) or tampered bytes. Deliberately one case.
    #[error("no key could decrypt secret")]
    NoKeyCouldDecrypt,
}

/// Encrypts `plaintext` for `key` under OAEP label `label` (see [`crate::Scope::label`]).
///
/// # Errors
/// [`EncryptError`] if RSA or AES refuses; not expected for sane inputs.
pub fn hybrid_encrypt(
    key: &SealingPublicKey,
    plaintext: &[u8],
    label: &[u8],
) -> Result<Vec<u8>, EncryptError> {
    let session = DataKey::generate();
    let wrapped = key
        .wrap_session_key(&session, label)
        .map_err(EncryptError::Wrap)?;
    let prefix = u16::try_from(wrapped.len()).map_err(|_| EncryptError::KeyTooLarge)?;
    let cipher =
        Aes256Gcm::new_from_slice(session.expose_secret()).map_err(|_| EncryptError::Aead)?;
    let sealed = cipher
        .encrypt(Nonce::from_slice(&NONCE), plaintext)
        .map_err(|_| EncryptError::Aead)?;
    let mut out = Vec::with_capacity(2 + wrapped.len() + sealed.len());
    out.extend_from_slice(&prefix.to_be_bytes());
    out.extend_from_slice(&wrapped);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Decrypts a blob made by [`hybrid_encrypt`] with the first of `keys` that opens it;
/// returns that key's position in `keys` (which key a SealedSecret is sealed to is what a
/// user rotating keys asks) and the plaintext.
///
/// # Errors
/// [`DecryptError::TooShort`] for a blob shorter than its length prefix, otherwise
/// [`DecryptError::NoKeyCouldDecrypt`].
pub fn hybrid_decrypt<'k>(
    keys: impl IntoIterator<Item = &'k SealingPrivateKey>,
    blob: &[u8],
    label: &[u8],
) -> Result<(usize, SecretValue), DecryptError> {
    let (head, rest) = blob.split_at_checked(2).ok_or(DecryptError::TooShort)?;
    let wrapped_len = usize::from(u16::from_be_bytes([head[0], head[1]]));
    let (wrapped, sealed) = rest
        .split_at_checked(wrapped_len)
        .ok_or(DecryptError::TooShort)?;
    for (at, key) in keys.into_iter().enumerate() {
        let Some(session) = key.unwrap_session_key(wrapped, label) else {
            continue;
        };
        let Ok(cipher) = Aes256Gcm::new_from_slice(session.expose_secret()) else {
            continue;
        };
        if let Ok(plain) = cipher.decrypt(Nonce::from_slice(&NONCE), sealed) {
            return Ok((at, SecretValue::new(plain)));
        }
    }
    Err(DecryptError::NoKeyCouldDecrypt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{key_2048, other_key};

    #[test]
    fn round_trip_and_layout() {
        let key = key_2048();
        let blob = hybrid_encrypt(key.public_key(), b"hello", b"ns/name").unwrap();
        assert_eq!(&blob[..2], &[0x01, 0x00]);
        assert_eq!(blob.len(), 2 + 256 + 5 + 16);
        let (at, plain) = hybrid_decrypt([key], &blob, b"ns/name").unwrap();
        assert_eq!((at, plain.expose_secret()), (0, &b"hello"[..]));
    }

    #[test]
    fn empty_plaintext_is_legal() {
        let key = key_2048();
        let blob = hybrid_encrypt(key.public_key(), b"", b"").unwrap();
        assert_eq!(blob.len(), 2 + 256 + 16);
        assert!(
            hybrid_decrypt([key], &blob, b"")
                .unwrap()
                .1
                .expose_secret()
                .is_empty()
        );
    }

    #[test]
    fn tries_every_key() {
        let key = key_2048();
        let other = other_key();
        let blob = hybrid_encrypt(key.public_key(), b"x", b"l").unwrap();
        assert_eq!(hybrid_decrypt([other, key], &blob, b"l").unwrap().0, 1);
    }

    #[test]
    fn wrong_key_label_and_tampering_are_one_error() {
        let key = key_2048();
        let other = other_key();
        let blob = hybrid_encrypt(key.public_key(), b"secret", b"ns/name").unwrap();
        let wrong_key = hybrid_decrypt([other], &blob, b"ns/name").unwrap_err();
        let wrong_label = hybrid_decrypt([key], &blob, b"ns/other").unwrap_err();
        let mut tampered_rsa = blob.clone();
        tampered_rsa[10] ^= 1;
        let mut tampered_aes = blob.clone();
        *tampered_aes.last_mut().unwrap() ^= 1;
        let mut truncated_aes = blob.clone();
        truncated_aes.truncate(blob.len() - 1);
        for err in [
            wrong_key,
            wrong_label,
            hybrid_decrypt([key], &tampered_rsa, b"ns/name").unwrap_err(),
            hybrid_decrypt([key], &tampered_aes, b"ns/name").unwrap_err(),
            hybrid_decrypt([key], &truncated_aes, b"ns/name").unwrap_err(),
        ] {
            assert_eq!(err, DecryptError::NoKeyCouldDecrypt);
        }
    }

    #[test]
    fn short_blobs() {
        let key = key_2048();
        assert_eq!(
            hybrid_decrypt([key], b"", b"").unwrap_err(),
            DecryptError::TooShort
        );
        assert_eq!(
            hybrid_decrypt([key], b"\x01", b"").unwrap_err(),
            DecryptError::TooShort
        );
        assert_eq!(
            hybrid_decrypt([key], b"\x01\x00abc", b"").unwrap_err(),
            DecryptError::TooShort
        );
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::testutil::key_2048;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Arbitrary bytes never panic and never decrypt.
        #[test]
        fn garbage_is_an_error(blob in proptest::collection::vec(any::<u8>(), 0..600), label in ".{0,20}") {
            prop_assert!(hybrid_decrypt([key_2048()], &blob, label.as_bytes()).is_err());
        }

        /// Any plaintext and label round-trip.
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..300), label in ".{0,40}") {
            let key = key_2048();
            let blob = hybrid_encrypt(key.public_key(), &plain, label.as_bytes()).unwrap();
            let (_, back) = hybrid_decrypt([key], &blob, label.as_bytes()).unwrap();
            prop_assert_eq!(back.expose_secret(), plain.as_slice());
        }
    }
}

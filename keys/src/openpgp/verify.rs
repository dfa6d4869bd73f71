//! Detached signatures (what `git commit -S` and `git tag -s` store) checked against a set
//! of trusted certificates.

use std::io::BufReader;
use std::time::{SystemTime, UNIX_EPOCH};

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::SignatureType;
use pgp::types::{Fingerprint, KeyDetails, KeyId};

use super::cert::{self, KeyProblem};
use super::hex;

const PRIVATE_ARMOR: &[u8] = b"-----BEGIN PGP PRIVATE KEY BLOCK-----";

/// The OpenPGP certificates (public keys) whose signatures are trusted.
#[derive(Clone, Debug, Default)]
pub struct TrustedCertificates {
    certs: Vec<SignedPublicKey>,
}

impl TrustedCertificates {
    /// Adds every certificate of the ASCII-armoured public key blocks in `data` (`gpg
    /// --export --armor`, one key or several); returns how many.
    ///
    /// # Errors
    /// [`CertificateError`]: a private key block (refused unread), or a block that does
    /// not parse.
    pub fn add_armored(&mut self, data: &[u8]) -> Result<usize, CertificateError> {
        if data
            .windows(PRIVATE_ARMOR.len())
            .any(|window| window == PRIVATE_ARMOR)
        {
            return Err(CertificateError::Private);
        }
        let parse = |e: pgp::errors::Error| CertificateError::Parse {
            reason: e.to_string(),
        };
        let mut certs = Vec::new();
        for block in super::blocks(data) {
            let (parsed, _) =
                SignedPublicKey::from_armor_many(BufReader::new(block)).map_err(parse)?;
            for cert in parsed {
                certs.push(cert.map_err(parse)?);
            }
        }
        if certs.is_empty() {
            return Err(CertificateError::Empty);
        }
        let added = certs.len();
        self.certs.extend(certs);
        Ok(added)
    }

    /// Whether no certificate was added.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The primary fingerprints, upper-case hex, as `gpg --list-keys` prints them.
    pub fn fingerprints(&self) -> Vec<String> {
        self.certs
            .iter()
            .map(|cert| hex(&cert.primary_key.fingerprint()))
            .collect()
    }

    /// Checks an armoured detached signature over `payload`; returns the signing
    /// certificate's primary fingerprint, followed by ` subkey <fingerprint>` when a subkey
    /// signed. Policy in [`super::cert`]: the key must be bound, unrevoked and unexpired now.
    ///
    /// Runs public-key arithmetic: call it off the async runtime.
    ///
    /// # Errors
    /// [`SignatureError`], naming the signing key.
    pub fn verify(&self, payload: &[u8], armored: &[u8]) -> Result<String, SignatureError> {
        let malformed = |reason: String| SignatureError::Malformed { reason };
        let (signature, _) = DetachedSignature::from_armor_single(BufReader::new(armored))
            .map_err(|e| malformed(e.to_string()))?;
        let signature = signature.signature;
        if !matches!(
            signature.typ(),
            Some(SignatureType::Binary | SignatureType::Text)
        ) {
            return Err(malformed(format!(
                "a {:?} signature is not a signature over data",
                signature.typ()
            )));
        }
        // rPGP checks hash strength only for post-quantum keys. Collisions in these make a
        // signature over one object valid over another (SHA-1: SHAttered, 2017).
        if let Some(weak @ (HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160)) =
            signature.hash_alg()
        {
            return Err(SignatureError::WeakHash {
                algorithm: weak.to_string(),
            });
        }
        let fingerprints = signature.issuer_fingerprint();
        let key_ids = signature.issuer_key_id();
        let issuer = match (fingerprints.first(), key_ids.first()) {
            (Some(fp), _) => hex(fp),
            (None, Some(id)) => id.to_string().to_uppercase(),
            (None, None) => return Err(malformed("it names no issuer key".into())),
        };
        let issued = |fp: Fingerprint, id: KeyId| {
            fingerprints.iter().any(|f| **f == fp) || key_ids.iter().any(|k| **k == id)
        };
        let found = self.certs.iter().find_map(|cert| {
            let primary = &cert.primary_key;
            if issued(primary.fingerprint(), primary.legacy_key_id()) {
                return Some((cert, None));
            }
            cert.public_subkeys
                .iter()
                .find(|sub| issued(sub.key.fingerprint(), sub.key.legacy_key_id()))
                .map(|sub| (cert, Some(sub)))
        });
        let Some((cert, subkey)) = found else {
            return Err(SignatureError::Untrusted { signer: issuer });
        };
        let signer = describe(cert, subkey);
        let verified = match subkey {
            Some(sub) => signature.verify(&sub.key, payload),
            None => signature.verify(&cert.primary_key, payload),
        };
        let key_created = subkey.map_or(cert.primary_key.created_at(), |s| s.key.created_at());
        let made = cert::created(&signature);
        if verified.is_err() || made < u64::from(key_created.as_secs()) {
            return Err(SignatureError::Invalid { signer });
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        cert::may_sign(cert, subkey, now).map_err(|problem| SignatureError::Key {
            signer: signer.clone(),
            problem,
        })?;
        if let Some(lifetime) = signature.signature_expiration_time().map(|d| d.as_secs())
            && lifetime > 0
            && now >= made + u64::from(lifetime)
        {
            return Err(SignatureError::Expired { signer });
        }
        Ok(signer)
    }
}

fn describe(cert: &SignedPublicKey, subkey: Option<&SignedPublicSubKey>) -> String {
    let primary = hex(&cert.primary_key.fingerprint());
    match subkey {
        Some(sub) => format!("{primary} subkey {}", hex(&sub.key.fingerprint())),
        None => primary,
    }
}

/// Why an armoured block was not taken as trusted certificates.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// The block is a private key: it was not parsed, and should not be there.
    #[error("holds an OpenPGP private key; only public keys (gpg --export --armor) belong here")]
    Private,
    /// The block does not parse as public keys.
    #[error("is not an ASCII-armoured OpenPGP public key block: {reason}")]
    Parse {
        /// What rPGP said (about public data only).
        reason: String,
    },
    /// The block holds no key.
    #[error("holds no OpenPGP public key")]
    Empty,
}

/// Why an OpenPGP signature was not accepted. Key names are fingerprints (or, when the
/// signature names only that, a key ID), upper-case hex.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature armour or packet does not parse, or is not a signature over data.
    #[error("the OpenPGP signature is malformed: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// Made over a hash that collisions break (MD5, SHA-1, RIPEMD-160).
    #[error("the OpenPGP signature uses {algorithm}, a hash too weak to trust")]
    WeakHash {
        /// The hash algorithm.
        algorithm: String,
    },
    /// Made by a key that no trusted certificate holds.
    #[error("signed by OpenPGP key {signer}, which is not trusted")]
    Untrusted {
        /// The issuer fingerprint (or key ID) the signature names.
        signer: String,
    },
    /// Made (it claims) by a trusted key, but it does not verify over the content.
    #[error("the signature by OpenPGP key {signer} does not verify")]
    Invalid {
        /// The trusted key.
        signer: String,
    },
    /// Made by a trusted key that may not sign (revoked, expired, unbound).
    #[error("OpenPGP key {signer} {problem}")]
    Key {
        /// The trusted key.
        signer: String,
        /// What is wrong with it.
        problem: KeyProblem,
    },
    /// The signature itself has expired.
    #[error("the signature by OpenPGP key {signer} has expired")]
    Expired {
        /// The trusted key.
        signer: String,
    },
}

//! Whether a key of a certificate may sign, now.
//!
//! A certificate's primary key counts from its newest self-signature that verifies (a
//! direct-key signature or a certification of one of its user IDs); a subkey from its
//! newest binding signature that verifies, and, to sign, the subkey's own back-signature.
//! A valid revocation by the primary key ends either for good. Key expiration is the one
//! the newest self-signature states, counted from the key's creation. Third-party
//! certifications on user IDs are not ours to judge and are skipped.

use std::fmt;

use pgp::composed::{SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType, SubpacketData};
use pgp::types::{KeyDetails, Tag, Timestamp};

/// Why a key that made a signature may not sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyProblem {
    /// No self-signature (or subkey binding) verifies: the key is not bound to the
    /// certificate.
    Unbound,
    /// The key, or the primary key of its certificate, is revoked.
    Revoked,
    /// The key, or the primary key of its certificate, expired at this Unix time.
    Expired {
        /// Seconds since the Unix epoch.
        at: u64,
    },
    /// The key's flags do not allow signing.
    NotForSigning,
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unbound => {
                f.write_str("is not bound to its certificate by a valid self-signature")
            }
            Self::Revoked => f.write_str("is revoked"),
            Self::Expired { at } => match jiff::Timestamp::from_second(*at as i64) {
                Ok(at) => write!(f, "expired at {at}"),
                Err(_) => f.write_str("expired"),
            },
            Self::NotForSigning => f.write_str("is not allowed to sign (key flags)"),
        }
    }
}

/// Whether `subkey` (or the primary key, for `None`) of `cert` may sign at `now` (Unix
/// seconds).
pub(super) fn may_sign(
    cert: &SignedPublicKey,
    subkey: Option<&SignedPublicSubKey>,
    now: u64,
) -> Result<(), KeyProblem> {
    let primary = &cert.primary_key;
    let binding = primary_binding(cert).ok_or(KeyProblem::Unbound)?;
    let revoked = cert.details.revocation_signatures.iter().any(|sig| {
        sig.typ() == Some(SignatureType::KeyRevocation) && sig.verify_key(primary).is_ok()
    });
    if revoked {
        return Err(KeyProblem::Revoked);
    }
    unexpired(primary.created_at(), binding, now)?;
    let Some(subkey) = subkey else {
        return match has_key_flags(binding) && !binding.key_flags().sign() {
            true => Err(KeyProblem::NotForSigning),
            false => Ok(()),
        };
    };
    let bindings = || {
        subkey
            .signatures
            .iter()
            .filter(|sig| sig.verify_subkey_binding(primary, &subkey.key).is_ok())
    };
    let binding = bindings()
        .filter(|sig| sig.typ() == Some(SignatureType::SubkeyBinding))
        .max_by_key(|sig| created(sig))
        .ok_or(KeyProblem::Unbound)?;
    if bindings().any(|sig| sig.typ() == Some(SignatureType::SubkeyRevocation)) {
        return Err(KeyProblem::Revoked);
    }
    unexpired(subkey.key.created_at(), binding, now)?;
    // A signing subkey must also sign its primary key back, or anyone could claim it.
    let back_signed = binding.embedded_signature().is_some_and(|back| {
        back.verify_primary_key_binding(&subkey.key, primary)
            .is_ok()
    });
    match binding.key_flags().sign() && back_signed {
        true => Ok(()),
        false => Err(KeyProblem::NotForSigning),
    }
}

/// The primary key's newest self-signature that verifies.
fn primary_binding(cert: &SignedPublicKey) -> Option<&Signature> {
    let primary = &cert.primary_key;
    let direct = cert
        .details
        .direct_signatures
        .iter()
        .filter(|sig| sig.verify_key(primary).is_ok());
    let certifications = cert.details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(move |sig| {
            sig.is_certification()
                && sig
                    .verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    direct.chain(certifications).max_by_key(|sig| created(sig))
}

fn unexpired(key_created: Timestamp, binding: &Signature, now: u64) -> Result<(), KeyProblem> {
    match binding.key_expiration_time().map(|d| d.as_secs()) {
        Some(lifetime) if lifetime > 0 => {
            let at = u64::from(key_created.as_secs()) + u64::from(lifetime);
            match now >= at {
                true => Err(KeyProblem::Expired { at }),
                false => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

/// Whether the signature states key flags at all (without them, a key's use is not
/// restricted).
fn has_key_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|config| {
        config
            .hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    })
}

pub(super) fn created(sig: &Signature) -> u64 {
    sig.created().map_or(0, |t| u64::from(t.as_secs()))
}

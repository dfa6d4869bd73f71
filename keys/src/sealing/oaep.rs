//! RSAES-OAEP encryption (RFC 8017 §7.1.1) with SHA-256 as both the OAEP hash and the MGF1
//! hash, the scheme sealed-secrets wraps session keys with.
//!
//! Encryption is public-key work — no private key is involved, so nothing here needs the
//! constant-time code that decryption does (that stays in aws-lc-rs). The encoded block
//! holds the masked session key, so every buffer that holds it is zeroized.

use rand::RngCore;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::montgomery::Modulus;

const HASH_LEN: usize = 32;

/// Encrypts `message` under OAEP label `label` for `modulus`, drawing the OAEP seed from
/// `rng`. Returns `None` when the message is too long for the key (more than
/// `k − 2·32 − 2` bytes).
pub(crate) fn encrypt(
    modulus: &Modulus,
    message: &[u8],
    label: &[u8],
    rng: &mut impl RngCore,
) -> Option<Vec<u8>> {
    let mut seed = Zeroizing::new([0u8; HASH_LEN]);
    rng.fill_bytes(seed.as_mut());
    let block = encode(modulus.size(), message, label, &seed)?;
    modulus.public_op(&block)
}

/// EME-OAEP encoding: `0x00 ‖ maskedSeed ‖ maskedDB`, `k` bytes long, where
/// `DB = SHA-256(label) ‖ 0x00… ‖ 0x01 ‖ message`.
fn encode(
    k: usize,
    message: &[u8],
    label: &[u8],
    seed: &[u8; HASH_LEN],
) -> Option<Zeroizing<Vec<u8>>> {
    let padding = k.checked_sub(message.len() + 2 * HASH_LEN + 2)?;
    let mut block = Zeroizing::new(vec![0u8; k]);
    let (seed_part, db) = block[1..].split_at_mut(HASH_LEN);
    db[..HASH_LEN].copy_from_slice(&Sha256::digest(label));
    db[HASH_LEN + padding] = 0x01;
    db[HASH_LEN + padding + 1..].copy_from_slice(message);
    seed_part.copy_from_slice(seed);
    mgf1_xor(db, seed_part);
    mgf1_xor(seed_part, db);
    Some(block)
}

/// XORs `out` with MGF1-SHA-256(`seed`), as long as `out`.
fn mgf1_xor(out: &mut [u8], seed: &[u8]) {
    for (counter, chunk) in (0u32..).zip(out.chunks_mut(HASH_LEN)) {
        let mask = Sha256::new()
            .chain_update(seed)
            .chain_update(counter.to_be_bytes())
            .finalize();
        for (byte, m) in chunk.iter_mut().zip(mask.iter()) {
            *byte ^= m;
        }
    }
}

#[cfg(test)]
mod tests {
    //! Known answers come from an independent implementation: the `rsa` crate's OAEP with
    //! the same seed must give byte-identical ciphertexts. Decryption by aws-lc-rs is
    //! checked in `super::super::tests` and by kubeseal in `cli/tests/sealed_cli.rs`.
    use rand::SeedableRng as _;
    use rand::rngs::StdRng;
    use rsa::pkcs8::DecodePublicKey as _;
    use rsa::traits::PublicKeyParts as _;

    use super::*;

    const CERTS: [&[u8]; 2] = [
        include_bytes!("../../../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict/tls.crt"),
        include_bytes!("../../../crates/sealed/tests/testdata/bakito-keypair-pkcs8/cert.pem"),
    ];

    #[test]
    fn same_ciphertext_as_the_rsa_crate_for_the_same_seed() {
        for pem in CERTS {
            let cert = super::super::Certificate::from_pem(pem).unwrap();
            let key = rsa::RsaPublicKey::from_public_key_der(cert.public_key().spki_der()).unwrap();
            let modulus = Modulus::new(key.n(), key.e()).unwrap();
            for (i, label) in ["", "shop", "shop/db", "a-much-longer/label-of-a-secret"]
                .iter()
                .enumerate()
            {
                let message: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(7 + i as u8)).collect();
                let seed = 1000 + i as u64;
                let ours = encrypt(
                    &modulus,
                    &message,
                    label.as_bytes(),
                    &mut StdRng::seed_from_u64(seed),
                )
                .unwrap();
                let padding = rsa::Oaep::new_with_label::<Sha256, _>(*label);
                let theirs = key
                    .encrypt(&mut StdRng::seed_from_u64(seed), padding, &message)
                    .unwrap();
                assert_eq!(ours, theirs, "label {label:?}, {} bytes", key.size());
            }
        }
    }

    #[test]
    fn longest_message_fits_and_one_more_byte_does_not() {
        let cert = super::super::Certificate::from_pem(CERTS[1]).unwrap();
        let key = rsa::RsaPublicKey::from_public_key_der(cert.public_key().spki_der()).unwrap();
        let modulus = Modulus::new(key.n(), key.e()).unwrap();
        let max = key.size() - 2 * HASH_LEN - 2;
        let mut rng = StdRng::seed_from_u64(1);
        assert!(encrypt(&modulus, &vec![1; max], b"", &mut rng).is_some());
        assert!(encrypt(&modulus, &vec![1; max + 1], b"", &mut rng).is_none());
    }
}

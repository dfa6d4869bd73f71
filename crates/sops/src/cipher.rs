//! The `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value format: AES-256-GCM with a 32-byte
//! nonce, the text form of each scalar type, and the IV stash that keeps unchanged values'
//! ciphertext stable across a decrypt/re-encrypt cycle.

use std::collections::HashMap;

use aes_gcm::AesGcm;
use aes_gcm::aead::consts::U32;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lockstep_keys::DataKey;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::gofmt;
use crate::tree::Scalar;

type Aes256Gcm32 = AesGcm<Aes256, U32>;

/// Why a value did not decrypt. Deliberately coarse: an authentication failure says nothing
/// about which input was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherError {
    /// Not an `ENC[AES256_GCM,…]` string.
    Format,
    /// Base64 or IV length wrong.
    Encoding,
    /// Authentication failed: tampered, wrong key or wrong key path.
    Auth,
    /// The decrypted text does not parse as its `type`.
    Type,
}

impl CipherError {
    /// A short reason for messages.
    pub fn reason(self) -> &'static str {
        match self {
            CipherError::Format => "not an ENC[AES256_GCM,...] value",
            CipherError::Encoding => "malformed base64 or IV",
            CipherError::Auth => "authentication failed (tampered value, wrong key or moved value)",
            CipherError::Type => "decrypted text does not match its type",
        }
    }
}

/// Plaintext bytes of a value, zeroized on drop.
pub struct Plain(pub Zeroizing<Vec<u8>>);

/// The bytes sops encrypts and hashes for a scalar (`ToBytes`).
pub fn to_bytes(s: &Scalar) -> Plain {
    Plain(Zeroizing::new(match s {
        Scalar::Null => Vec::new(),
        Scalar::Str(b) => b.clone(),
        Scalar::Int(i) => i.to_string().into_bytes(),
        Scalar::Float(f) => gofmt::float_plain(*f).into_bytes(),
        Scalar::Bool(true) => b"True".to_vec(),
        Scalar::Bool(false) => b"False".to_vec(),
        Scalar::Time(t) => t.as_bytes().to_vec(),
    }))
}

fn from_bytes(bytes: &[u8], typ: &str) -> Result<Scalar, CipherError> {
    let text = || std::str::from_utf8(bytes).map_err(|_| CipherError::Type);
    Ok(match typ {
        "str" | "bytes" | "comment" => Scalar::Str(bytes.to_vec()),
        "int" => Scalar::Int(text()?.parse().map_err(|_| CipherError::Type)?),
        "float" => Scalar::Float(gofmt::parse_float(text()?).ok_or(CipherError::Type)?),
        "bool" => Scalar::Bool(gofmt::parse_bool(text()?).ok_or(CipherError::Type)?),
        "time" => Scalar::Time(text()?.to_owned()),
        _ => return Err(CipherError::Type),
    })
}

struct Parts {
    data: Vec<u8>,
    iv: Vec<u8>,
    tag: Vec<u8>,
    typ: String,
}

fn parse(s: &str) -> Result<Parts, CipherError> {
    let body = s
        .strip_prefix("ENC[AES256_GCM,data:")
        .ok_or(CipherError::Format)?;
    let (data, rest) = body.split_once(",iv:").ok_or(CipherError::Format)?;
    let (iv, rest) = rest.split_once(",tag:").ok_or(CipherError::Format)?;
    let (tag, rest) = rest.split_once(",type:").ok_or(CipherError::Format)?;
    let typ = rest.strip_suffix(']').unwrap_or(rest);
    let dec = |x: &str| STANDARD.decode(x).map_err(|_| CipherError::Encoding);
    Ok(Parts {
        data: dec(data)?,
        iv: dec(iv)?,
        tag: dec(tag)?,
        typ: typ.to_owned(),
    })
}

/// Whether `s` looks like an encrypted value (used by `filestatus`-like checks).
pub fn is_encrypted(s: &str) -> bool {
    parse(s).is_ok()
}

/// Decrypts an `ENC[…]` string with `aad`, returning the typed value.
pub fn decrypt(key: &DataKey, s: &str, aad: &str) -> Result<Scalar, CipherError> {
    if s.is_empty() {
        return Ok(Scalar::str(""));
    }
    let parts = parse(s)?;
    if parts.iv.len() != 32 || parts.tag.len() != 16 {
        return Err(CipherError::Encoding);
    }
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key.expose_secret()));
    let mut buf = Zeroizing::new(parts.data);
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&parts.iv),
            aad.as_bytes(),
            &mut buf,
            GenericArray::from_slice(&parts.tag),
        )
        .map_err(|_| CipherError::Auth)?;
    from_bytes(&buf, &parts.typ)
}

/// Encrypts `plain` (of sops type `typ`) with `aad` and the given or a fresh IV.
pub fn encrypt(key: &DataKey, plain: &[u8], typ: &str, aad: &str, iv: Option<[u8; 32]>) -> String {
    if plain.is_empty() {
        return String::new();
    }
    let iv = iv.unwrap_or_else(|| {
        let mut iv = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut iv);
        iv
    });
    let cipher = Aes256Gcm32::new(GenericArray::from_slice(key.expose_secret()));
    let mut buf = plain.to_vec();
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&iv), aad.as_bytes(), &mut buf)
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{}]",
        STANDARD.encode(&buf),
        STANDARD.encode(iv),
        STANDARD.encode(tag),
        typ
    )
}

/// Remembers the IV of every value decrypted from a file, keyed by a hash of (key path,
/// type, plaintext), so that re-encrypting an unchanged value reuses its IV and yields the
/// same ciphertext with the same data key. The same IV is only ever reused for the same
/// plaintext and key path, so nothing new is revealed.
#[derive(Default)]
pub struct IvStash(HashMap<[u8; 32], [u8; 32]>);

impl IvStash {
    fn id(aad: &str, typ: &str, plain: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        for part in [aad.as_bytes(), typ.as_bytes(), plain] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        h.finalize().into()
    }

    /// Records the IV of the encrypted value `s` that decrypted to `plain`.
    pub fn remember(&mut self, s: &str, aad: &str, typ: &str, plain: &[u8]) {
        if let Ok(parts) = parse(s)
            && let Ok(iv) = <[u8; 32]>::try_from(parts.iv.as_slice())
        {
            self.0.insert(Self::id(aad, typ, plain), iv);
        }
    }

    /// The IV to reuse for this value, if it was decrypted before.
    pub fn lookup(&self, aad: &str, typ: &str, plain: &[u8]) -> Option<[u8; 32]> {
        self.0.get(&Self::id(aad, typ, plain)).copied()
    }

    /// Adds the IVs of `other`, recorded under the same data key (a merge's other sides):
    /// an IV is still only reused for the same key path, type and plaintext.
    pub fn absorb(&mut self, other: IvStash) {
        self.0.extend(other.0);
    }

    /// The type recorded in an encrypted value string.
    pub fn type_of(s: &str) -> Option<String> {
        parse(s).ok().map(|p| p.typ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_binds_the_path() {
        let key = DataKey::generate();
        let enc = encrypt(&key, b"value", "str", "a:b:", None);
        assert!(enc.starts_with("ENC[AES256_GCM,data:"));
        assert!(decrypt(&key, &enc, "a:b:").unwrap() == Scalar::str("value"));
        assert_eq!(decrypt(&key, &enc, "a:c:").err(), Some(CipherError::Auth));
        assert_eq!(
            decrypt(&key, "plain", "a:").err(),
            Some(CipherError::Format)
        );
    }

    #[test]
    fn sops_test_vector() {
        // sops-format.md §12 (fluxcd_v3.9.0.enc.env).
        let key: [u8; 32] =
            hex::decode("b8b84d1196e93186d08634f83ad4530fb33a4a875507fdb2222ce34ca7e8817d")
                .unwrap()
                .try_into()
                .unwrap();
        let key = DataKey::from_bytes(Box::new(key));
        let v = "ENC[AES256_GCM,data:3PTvx6o=,iv:74ni7B2QMB6aygdd3R7IEzNCwo1W+TpPWMJLfYCCG4U=,tag:mK2Tu7JWDdEmZUrXz3uRzw==,type:str]";
        assert!(decrypt(&key, v, "key:").unwrap() == Scalar::str("value"));
    }
}

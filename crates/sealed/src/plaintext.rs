//! Wrapper types for plaintext: one decrypted or to-be-sealed value, and a Secret's data
//! map of them. Neither prints its contents nor can be cloned by accident; both are
//! zeroized on drop.

use std::collections::BTreeMap;
use std::fmt;

use zeroize::Zeroizing;

/// One plaintext value (a Secret `data` item). `Debug` prints only its length.
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Takes ownership of plaintext bytes.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes. Call only where they are encrypted, written or compared.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[redacted; {} bytes]", self.0.len())
    }
}

/// A Secret's data: item name → plaintext value. Item names are not secret.
#[derive(Debug, Default)]
pub struct SecretData(pub BTreeMap<String, SecretValue>);

impl SecretData {
    /// Item names, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// One value.
    pub fn get(&self, key: &str) -> Option<&SecretValue> {
        self.0.get(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let v = SecretValue::new(b"canary-value".to_vec());
        assert_eq!(format!("{v:?}"), "[redacted; 12 bytes]");
    }
}

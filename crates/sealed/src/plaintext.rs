//! Wrapper types for plaintext: one decrypted or to-be-sealed value, and a Secret's data
//! map of them. Neither prints its contents nor can be cloned by accident; both are
//! zeroized on drop.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use zeroize::{Zeroize as _, Zeroizing};

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

/// Reads a whole input (file or stdin) into a buffer that is zeroized on drop, and
/// zeroizes each intermediate buffer it outgrows (a plain `read_to_end` would leave
/// copies of the plaintext behind in freed memory).
///
/// # Errors
/// The reader's I/O error.
pub fn read_zeroizing(mut reader: impl Read) -> std::io::Result<Zeroizing<Vec<u8>>> {
    let mut buf = Zeroizing::new(vec![0u8; 8192]);
    let mut len = 0;
    loop {
        if len == buf.len() {
            let mut bigger = Zeroizing::new(vec![0u8; buf.len() * 2]);
            bigger[..len].copy_from_slice(&buf[..len]);
            buf = bigger;
        }
        match reader.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let out = Zeroizing::new(buf[..len].to_vec());
    buf.zeroize();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let v = SecretValue::new(b"canary-value".to_vec());
        assert_eq!(format!("{v:?}"), "[redacted; 12 bytes]");
    }

    #[test]
    fn reads_large_input() {
        let data = vec![7u8; 100_000];
        let got = read_zeroizing(&data[..]).unwrap();
        assert_eq!(got.as_slice(), data.as_slice());
    }
}

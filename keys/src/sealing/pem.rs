//! Finding PEM blocks in text the way Go's `pem.Decode` does (skipping text before and
//! between blocks) and converting RSA private keys between the PKCS#1 and PKCS#8 envelopes.
//!
//! The decoded bytes of a private key are returned in [`Zeroizing`] buffers.

use rsa::pkcs8::der::{Decode as _, Encode as _, pem::LineEnding};
use zeroize::Zeroizing;

use super::KeyLoadError;

/// One PEM block: its label and decoded bytes (zeroized on drop).
pub(crate) struct PemBlock {
    pub(crate) label: String,
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// Every PEM block in `input`, in order. Text outside blocks is skipped; a block that does
/// not decode is reported by its label.
pub(crate) fn blocks(input: &[u8]) -> Result<Vec<PemBlock>, KeyLoadError> {
    const BEGIN: &[u8] = b"-----BEGIN ";
    let mut out = Vec::new();
    let mut rest = input;
    while let Some(start) = find(rest, BEGIN) {
        let from = &rest[start..];
        let label_end = find(&from[BEGIN.len()..], b"-----").map(|i| BEGIN.len() + i);
        let Some(label_end) = label_end else { break };
        let label = String::from_utf8_lossy(&from[BEGIN.len()..label_end]).into_owned();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = find(from, end_marker.as_bytes()) else {
            return Err(KeyLoadError::Pem { label });
        };
        let block_len = end + end_marker.len();
        let der = rsa::pkcs8::der::pem::decode_vec(&from[..block_len])
            .map_err(|_| KeyLoadError::Pem {
                label: label.clone(),
            })?
            .1;
        out.push(PemBlock {
            label,
            der: Zeroizing::new(der),
        });
        rest = &from[block_len..];
    }
    Ok(out)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Wraps a PKCS#1 `RSAPrivateKey` DER in a PKCS#8 `PrivateKeyInfo` envelope, without
/// interpreting the key (aws-lc-rs validates it on import).
pub(crate) fn pkcs1_to_pkcs8(pkcs1: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyLoadError> {
    let info = rsa::pkcs8::PrivateKeyInfo::new(rsa::pkcs1::ALGORITHM_ID, pkcs1);
    info.to_der()
        .map(Zeroizing::new)
        .map_err(|e| KeyLoadError::Rejected {
            format: "PKCS#1",
            reason: e.to_string(),
        })
}

/// Takes the PKCS#1 `RSAPrivateKey` out of a PKCS#8 envelope and PEM-encodes it as
/// `RSA PRIVATE KEY`, the form the controller writes to `tls.key`.
pub(crate) fn pkcs8_to_pkcs1_pem(pkcs8: &[u8]) -> Option<Zeroizing<String>> {
    let info = rsa::pkcs8::PrivateKeyInfo::from_der(pkcs8).ok()?;
    if info.algorithm.oid != rsa::pkcs1::ALGORITHM_OID {
        return None;
    }
    rsa::pkcs8::der::pem::encode_string("RSA PRIVATE KEY", LineEnding::LF, info.private_key)
        .ok()
        .map(Zeroizing::new)
}

/// PEM-encodes public bytes (a certificate).
pub(crate) fn encode_public(label: &str, der: &[u8]) -> String {
    rsa::pkcs8::der::pem::encode_string(label, LineEnding::LF, der)
        .expect("PEM encoding of in-memory bytes cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blocks_after_leading_text() {
        let text = b"hello\n-----BEGIN FOO-----\naGk=\n-----END FOO-----\ntrailer\n-----BEGIN BAR-----\naGk=\n-----END BAR-----\n";
        let got = blocks(text).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].label, "FOO");
        assert_eq!(got[1].label, "BAR");
        assert_eq!(got[0].der.as_slice(), b"hi");
    }

    #[test]
    fn unterminated_block_is_an_error() {
        let text = b"-----BEGIN RSA PRIVATE KEY-----\naGk=\n";
        assert!(matches!(blocks(text), Err(KeyLoadError::Pem { .. })));
    }
}

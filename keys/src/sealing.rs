//! RSA sealing key pairs for sealed secrets, compatible with the Bitnami sealed-secrets
//! controller's key Secrets.
//!
//! Sealed secrets do not use [`crate::KeyService`]: every sealed value carries its own
//! random 32-byte session key ([`crate::DataKey`]), wrapped with RSA-OAEP (SHA-256 for
//! both the OAEP hash and MGF1) under a scope label. This module owns the RSA half; the
//! `lockstep-sealed` crate owns the blob layout and the AES-GCM half.
//!
//! Which type for which job:
//! - [`SealingPublicKey`]: wraps session keys. Built from a [`Certificate`] (the
//!   controller's `tls.crt`, or kubeseal's `--cert`).
//! - [`SealingPrivateKey`]: unwraps session keys. Loaded from PEM (`RSA PRIVATE KEY`,
//!   PKCS#1, as the controller writes `tls.key`; or `PRIVATE KEY`, PKCS#8). The key is held
//!   by aws-lc-rs, and every private-key operation goes through it (constant time).
//! - [`SealingKeyPair`]: a private key and its certificate, as one controller key Secret
//!   holds them; [`SealingKeyPair::generate`] makes a new one the way the controller does.
//!
//! The `rsa` crate is used only to move DER between PKCS#1 and PKCS#8 envelopes and to read
//! the public modulus and exponent; it never touches a private-key operation. Session keys
//! are wrapped by our own RSA-OAEP encryption (`oaep`, `montgomery`), checked against the
//! `rsa` crate's and decrypted by aws-lc-rs in the tests.

mod cert;
mod error;
mod montgomery;
mod oaep;
mod pair;
mod pem;
mod private;
mod public;

pub use cert::Certificate;
pub use error::{CertificateError, GenerateError, KeyLoadError, WrapError};
pub use pair::{GenerateOptions, SealingKeyPair};
pub use private::SealingPrivateKey;
pub use public::SealingPublicKey;

/// RSA key sizes that can be generated (the controller's `--key-size`; 4096 by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RsaKeyBits {
    /// 2048-bit modulus.
    Rsa2048,
    /// 3072-bit modulus.
    Rsa3072,
    /// 4096-bit modulus, the controller's default.
    Rsa4096,
    /// 8192-bit modulus.
    Rsa8192,
}

impl RsaKeyBits {
    /// The modulus size in bits.
    pub fn bits(self) -> usize {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa3072 => 3072,
            Self::Rsa4096 => 4096,
            Self::Rsa8192 => 8192,
        }
    }

    /// The size for a bit count, if it is one aws-lc-rs can generate.
    pub fn from_bits(bits: usize) -> Option<Self> {
        match bits {
            2048 => Some(Self::Rsa2048),
            3072 => Some(Self::Rsa3072),
            4096 => Some(Self::Rsa4096),
            8192 => Some(Self::Rsa8192),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Fixtures are shared with `lockstep-sealed`; provenance in
    //! `crates/sealed/tests/testdata/INDEX.md`.
    use super::*;
    use crate::DataKey;

    const V014_KEY: &[u8] =
        include_bytes!("../../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict/tls.key");
    const V014_CRT: &[u8] =
        include_bytes!("../../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict/tls.crt");
    const PKCS8_KEY: &[u8] =
        include_bytes!("../../crates/sealed/tests/testdata/bakito-keypair-pkcs8/key.pem");
    const PKCS8_CRT: &[u8] =
        include_bytes!("../../crates/sealed/tests/testdata/bakito-keypair-pkcs8/cert.pem");
    const TEST_CERT: &[u8] = include_bytes!(
        "../../crates/sealed/tests/testdata/upstream-bitnami/kubeseal_test_cert.pem"
    );
    const TEST_MODULUS: &str = include_str!(
        "../../crates/sealed/tests/testdata/upstream-bitnami/kubeseal_test_cert.modulus.dec"
    );
    const TEST_EXPONENT: &str = include_str!(
        "../../crates/sealed/tests/testdata/upstream-bitnami/kubeseal_test_cert.exponent.dec"
    );

    #[test]
    fn pkcs1_controller_key_loads_and_matches_its_cert() {
        let pair = SealingKeyPair::from_pem(V014_KEY, V014_CRT).unwrap();
        assert_eq!(pair.private_key().bits(), 4096);
        assert!(pair.fingerprint().starts_with("SHA256:"));
        // NotBefore 2021-02-15T04:24:32Z, NotAfter 2031-02-13T04:24:32Z.
        assert_eq!(pair.certificate().not_before_unix(), 1_613_363_072);
        assert_eq!(pair.certificate().not_after_unix(), 1_928_723_072);
    }

    #[test]
    fn pkcs1_export_is_byte_identical_to_the_controller_file() {
        let key = SealingPrivateKey::from_pem(V014_KEY).unwrap();
        assert_eq!(key.to_pkcs1_pem().unwrap().as_bytes(), V014_KEY);
    }

    #[test]
    fn pkcs8_key_loads_and_matches_its_cert() {
        let pair = SealingKeyPair::from_pem(PKCS8_KEY, PKCS8_CRT).unwrap();
        assert_eq!(pair.private_key().bits(), 2048);
    }

    #[test]
    fn mismatched_pair_is_refused() {
        let err = SealingKeyPair::from_pem(V014_KEY, PKCS8_CRT).unwrap_err();
        assert!(matches!(err, GenerateError::Mismatch));
    }

    #[test]
    fn upstream_test_cert_public_key() {
        use rsa::pkcs8::DecodePublicKey as _;
        use rsa::traits::PublicKeyParts as _;
        let cert = Certificate::from_pem(TEST_CERT).unwrap();
        let key = rsa::RsaPublicKey::from_public_key_der(cert.public_key().spki_der()).unwrap();
        assert_eq!(key.n().to_string(), TEST_MODULUS.trim());
        assert_eq!(key.e().to_string(), TEST_EXPONENT.trim());
        assert_eq!(cert.public_key().size_bytes(), 512);
    }

    #[test]
    fn non_key_input_is_a_typed_error() {
        assert!(matches!(
            SealingPrivateKey::from_pem(V014_CRT),
            Err(KeyLoadError::NoPrivateKeyBlock)
        ));
        assert!(matches!(
            Certificate::from_pem(V014_KEY),
            Err(CertificateError::NoCertificateBlock)
        ));
        let garbage = b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(matches!(
            SealingPrivateKey::from_pem(garbage),
            Err(KeyLoadError::Rejected { .. })
        ));
    }

    #[test]
    fn wrap_unwrap_with_labels() {
        let key = SealingPrivateKey::from_pem(PKCS8_KEY).unwrap();
        let session = DataKey::generate();
        let wrapped = key
            .public_key()
            .wrap_session_key(&session, b"ns/name")
            .unwrap();
        assert_eq!(wrapped.len(), 256);
        let back = key.unwrap_session_key(&wrapped, b"ns/name").unwrap();
        assert_eq!(back.expose_secret(), session.expose_secret());
        assert!(key.unwrap_session_key(&wrapped, b"ns").is_none());
        assert!(key.unwrap_session_key(&wrapped, b"").is_none());
        let other = SealingPrivateKey::from_pem(V014_KEY).unwrap();
        assert!(other.unwrap_session_key(&wrapped, b"ns/name").is_none());
    }

    /// Our OAEP encryption against aws-lc-rs's decryption, for both fixture key sizes, many
    /// random seeds and labels (a wrong label must never open).
    #[test]
    fn our_wrap_opens_in_aws_lc_for_every_key_size_and_label() {
        for pem in [PKCS8_KEY, V014_KEY] {
            let key = SealingPrivateKey::from_pem(pem).unwrap();
            for (i, label) in ["", "ns", "ns/name", "x".repeat(300).as_str()]
                .iter()
                .enumerate()
            {
                for _ in 0..16 {
                    let session = DataKey::generate();
                    let wrapped = key
                        .public_key()
                        .wrap_session_key(&session, label.as_bytes())
                        .unwrap();
                    assert_eq!(wrapped.len(), key.bits() / 8);
                    let back = key.unwrap_session_key(&wrapped, label.as_bytes()).unwrap();
                    assert_eq!(back.expose_secret(), session.expose_secret(), "label {i}");
                    assert!(key.unwrap_session_key(&wrapped, b"other").is_none());
                }
            }
        }
    }

    #[test]
    fn generated_pair_looks_like_the_controllers() {
        use x509_parser::prelude::{FromDer as _, ParsedExtension, X509Certificate};
        let options = GenerateOptions {
            bits: RsaKeyBits::Rsa2048,
            ..GenerateOptions::default()
        };
        let pair = SealingKeyPair::generate(&options).unwrap();
        let key_pem = pair.tls_key_pem().unwrap();
        assert!(key_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let crt_pem = pair.tls_crt_pem();
        let again = SealingKeyPair::from_pem(key_pem.as_bytes(), crt_pem.as_bytes()).unwrap();
        assert_eq!(again.fingerprint(), pair.fingerprint());

        let (_, cert) = X509Certificate::from_der(pair.certificate().der()).unwrap();
        assert_eq!(cert.subject().iter().count(), 0, "empty DN");
        assert_eq!(cert.issuer().iter().count(), 0, "empty DN");
        let validity = cert.validity();
        let ttl = validity.not_after.timestamp() - validity.not_before.timestamp();
        assert_eq!(ttl, 87_600 * 3600);
        let mut saw_ku = false;
        let mut saw_bc = false;
        for ext in cert.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    saw_ku = true;
                    assert!(ext.critical);
                    assert!(ku.encipher_only());
                    assert!(!ku.key_encipherment());
                }
                ParsedExtension::BasicConstraints(bc) => {
                    saw_bc = true;
                    assert!(ext.critical);
                    assert!(bc.ca);
                }
                _ => {}
            }
        }
        assert!(saw_ku && saw_bc);
        assert!(format!("{:?}", pair).contains("redacted"));
        assert!(!format!("{:?}", pair).contains("PRIVATE"));
    }

    #[test]
    fn generate_4096_default() {
        let pair = SealingKeyPair::generate(&GenerateOptions::default()).unwrap();
        assert_eq!(pair.private_key().bits(), 4096);
        assert_eq!(pair.certificate().public_key().size_bytes(), 512);
    }
}

//! A sealing key pair as one controller key Secret holds it (`tls.key` + `tls.crt`), and
//! generating a new one the way the sealed-secrets controller does.
//!
//! Generated certificates follow the controller: self-signed, random 128-bit serial,
//! subject = issuer = `CN=<common name>` (an empty DN by default), `NotBefore` = now,
//! `NotAfter` = now + TTL (10 × 365 days by default), KeyUsage = EncipherOnly (critical),
//! BasicConstraints CA:TRUE (critical), sha256WithRSAEncryption.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rsa::{KeySize, PrivateDecryptingKey};
use rand::RngCore as _;
use zeroize::Zeroizing;

use super::{Certificate, GenerateError, KeyLoadError, RsaKeyBits, SealingPrivateKey};

/// How to generate a key pair. [`Default`] is the controller's default: 4096 bits, empty
/// common name, valid ten years (87600 h) from now.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GenerateOptions {
    /// Modulus size (`--key-size`).
    pub bits: RsaKeyBits,
    /// Subject and issuer common name (`--my-cn`); empty means an empty DN.
    pub common_name: String,
    /// Validity period (`--key-ttl`).
    pub ttl: Duration,
    /// `NotBefore`; `None` means now.
    pub not_before: Option<SystemTime>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            bits: RsaKeyBits::Rsa4096,
            common_name: String::new(),
            ttl: Duration::from_secs(87_600 * 3600),
            not_before: None,
        }
    }
}

/// A private key and its certificate.
pub struct SealingKeyPair {
    private: SealingPrivateKey,
    certificate: Certificate,
}

impl SealingKeyPair {
    /// Pairs a private key with its certificate.
    ///
    /// # Errors
    /// [`GenerateError::Mismatch`] when the certificate is for another key.
    pub fn new(
        private: SealingPrivateKey,
        certificate: Certificate,
    ) -> Result<Self, GenerateError> {
        if private.public_key() != certificate.public_key() {
            return Err(GenerateError::Mismatch);
        }
        Ok(Self {
            private,
            certificate,
        })
    }

    /// Generates an RSA key (in aws-lc-rs) and a self-signed certificate for it (module
    /// docs list the certificate's fields).
    ///
    /// # Errors
    /// [`GenerateError`] when generation, signing or the round trip through PEM fails.
    pub fn generate(options: &GenerateOptions) -> Result<Self, GenerateError> {
        let size = match options.bits {
            RsaKeyBits::Rsa2048 => KeySize::Rsa2048,
            RsaKeyBits::Rsa3072 => KeySize::Rsa3072,
            RsaKeyBits::Rsa4096 => KeySize::Rsa4096,
            RsaKeyBits::Rsa8192 => KeySize::Rsa8192,
        };
        let key = PrivateDecryptingKey::generate(size).map_err(|_| GenerateError::KeyGeneration)?;
        let pkcs8 = Zeroizing::new(
            key.as_der()
                .map_err(|_| GenerateError::KeyGeneration)?
                .as_ref()
                .to_vec(),
        );
        let certificate = self_signed(&pkcs8, options)?;
        let private = SealingPrivateKey::from_aws(key).map_err(GenerateError::Load)?;
        Self::new(private, certificate)
    }

    /// Loads a pair from the two PEM texts of a key Secret (`tls.key`, `tls.crt`).
    ///
    /// # Errors
    /// [`GenerateError::Load`] for the key, [`GenerateError::ParseBack`] for the
    /// certificate, [`GenerateError::Mismatch`] when they do not belong together.
    pub fn from_pem(tls_key: &[u8], tls_crt: &[u8]) -> Result<Self, GenerateError> {
        let private = SealingPrivateKey::from_pem(tls_key).map_err(GenerateError::Load)?;
        let certificate = Certificate::from_pem(tls_crt).map_err(GenerateError::ParseBack)?;
        Self::new(private, certificate)
    }

    /// The private key.
    pub fn private_key(&self) -> &SealingPrivateKey {
        &self.private
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// `tls.key` as the controller writes it: PEM `RSA PRIVATE KEY` (PKCS#1).
    ///
    /// # Errors
    /// [`GenerateError::Encode`] if the key cannot be exported (should not happen).
    pub fn tls_key_pem(&self) -> Result<Zeroizing<String>, GenerateError> {
        self.private
            .to_pkcs1_pem()
            .map_err(|_: KeyLoadError| GenerateError::Encode)
    }

    /// `tls.crt`: one PEM `CERTIFICATE` block.
    pub fn tls_crt_pem(&self) -> String {
        self.certificate.to_pem()
    }

    /// The public fingerprint, for listing keys (see [`super::SealingPublicKey::fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        self.certificate.public_key().fingerprint()
    }
}

impl fmt::Debug for SealingKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKeyPair")
            .field("private", &self.private)
            .field("certificate", &self.certificate)
            .finish()
    }
}

fn self_signed(pkcs8: &[u8], options: &GenerateOptions) -> Result<Certificate, GenerateError> {
    let cert_err = |e: rcgen::Error| GenerateError::Certificate {
        reason: e.to_string(),
    };
    let signer =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &rcgen::PKCS_RSA_SHA256)
            .map_err(cert_err)?;

    let start = options.not_before.unwrap_or_else(SystemTime::now);
    let start_unix = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_err(|_| GenerateError::Validity)?
        .as_secs();
    let not_before = time::OffsetDateTime::from_unix_timestamp(
        i64::try_from(start_unix).map_err(|_| GenerateError::Validity)?,
    )
    .map_err(|_| GenerateError::Validity)?;
    let ttl = time::Duration::try_from(options.ttl).map_err(|_| GenerateError::Validity)?;
    let not_after = not_before.checked_add(ttl).ok_or(GenerateError::Validity)?;

    let mut serial = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut serial);
    // A DER INTEGER serial must be positive; keep the top bit clear like Go's rand.Int.
    serial[0] &= 0x7f;

    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    if !options.common_name.is_empty() {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, options.common_name.as_str());
    }
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    params.not_before = not_before;
    params.not_after = not_after;
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.key_usages = vec![rcgen::KeyUsagePurpose::EncipherOnly];
    params.use_authority_key_identifier_extension = false;
    let cert = params.self_signed(&signer).map_err(cert_err)?;
    Certificate::from_der(cert.der()).map_err(GenerateError::ParseBack)
}

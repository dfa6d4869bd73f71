//! OpenPGP with keys and signatures made by the real `gpg`.
#![cfg(feature = "pgp")]

use lockstep_keys::openpgp::{SignatureError, TrustedCertificates};
use lockstep_testenv::{Gpg, need};

/// `gpg --detach-sign --armor` of `payload` by `key` over `digest`.
fn detach_sign(gpg: &Gpg, key: &str, digest: &str, payload: &[u8]) -> String {
    let file = gpg.home().join("payload");
    std::fs::write(&file, payload).unwrap();
    let file = file.display().to_string();
    let args = [
        "--digest-algo",
        digest,
        "--armor",
        "--detach-sign",
        "-u",
        key,
    ];
    let mut all = args.to_vec();
    all.extend(["--output", "-", &file]);
    gpg.run(&all).unwrap()
}

#[test]
fn data_signatures_over_a_weak_hash_are_refused() {
    let gpg = need!(Gpg::new());
    let key = gpg
        .generate_with("RSA <rsa@lockstep.invalid>", "rsa2048", "sign", "never")
        .unwrap();
    let mut trusted = TrustedCertificates::default();
    assert_eq!(
        trusted
            .add_armored(gpg.export(&key).unwrap().as_bytes())
            .unwrap(),
        1
    );
    let payload = b"tree 0000\n\nsigned\n";

    let strong = detach_sign(&gpg, &key, "SHA256", payload);
    assert_eq!(trusted.verify(payload, strong.as_bytes()).unwrap(), key);
    let err = trusted
        .verify(b"tree 0000\n\nforged\n", strong.as_bytes())
        .unwrap_err();
    assert!(
        matches!(&err, SignatureError::Invalid { signer } if *signer == key),
        "{err:?}"
    );

    let weak = detach_sign(&gpg, &key, "SHA1", payload);
    let err = trusted.verify(payload, weak.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, SignatureError::WeakHash { algorithm } if algorithm == "SHA1"),
        "{err:?}"
    );
}

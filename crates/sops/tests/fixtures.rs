//! One test per age fixture made by the real sops (3.7 → 3.13): it decrypts with its key,
//! passes its MAC, and gives the expected plaintext (see testdata/sops/INDEX.md).

use lockstep_sops::{DecryptError, EncryptedFile, Format, stores};

use crate::util::*;

enum Expect {
    /// Same data as this plaintext file (compared as JSON, so comments and styles aside),
    /// after these replacements in the expected text.
    PlainFile(&'static str, &'static [(&'static str, &'static str)]),
    /// This JSON exactly (key order included).
    Json(&'static str),
    /// The JSON rendering contains each of these.
    Contains(&'static [&'static str]),
}

fn normalize(json: &str) -> String {
    serde_json::to_string(&serde_json::from_str::<serde_json::Value>(json).unwrap()).unwrap()
}

fn check(rel: &str, key: &str, expect: Expect) {
    let decrypted = decrypt(rel, key).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let got = normalize(&as_json(&decrypted));
    match expect {
        Expect::PlainFile(plain, replacements) => {
            let mut text = String::from_utf8(read(plain)).unwrap();
            for (from, to) in replacements {
                text = text.replace(from, to);
            }
            let tree = stores::load(text.as_bytes(), format_of(plain)).unwrap();
            let want = stores::emit(&tree, Format::Json, &Default::default()).unwrap();
            assert_eq!(got, normalize(std::str::from_utf8(&want).unwrap()), "{rel}");
        }
        Expect::Json(want) => assert_eq!(got, normalize(want), "{rel}"),
        Expect::Contains(parts) => {
            for p in parts {
                assert!(got.contains(p), "{rel}: {p} not in {got}");
            }
        }
    }
}

macro_rules! fixture {
    ($name:ident, $file:expr, $key:expr, $expect:expr) => {
        #[test]
        fn $name() {
            check($file, $key, $expect);
        }
    };
}

const FLUX: &str = "fluxcd-age.txt";
const OPERATOR: &str = "sops-secrets-operator-age.txt";
const AGE_JS: &str = "sops-age-js-age.txt";

fixture!(
    fluxcd_v3_7_0_yaml,
    "age/fluxcd_v3.7.0.enc.yaml",
    FLUX,
    Expect::Json(
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"sops-age"},"stringData":{"secret":"my-sops-age-secret"}}"#
    )
);
fixture!(
    fluxcd_v3_7_1_env,
    "age/fluxcd_v3.7.1.enc.env",
    FLUX,
    Expect::Json(r#"{"year":"2017"}"#)
);
fixture!(
    fluxcd_v3_9_0_env,
    "age/fluxcd_v3.9.0.enc.env",
    FLUX,
    Expect::Json(r#"{"key":"value"}"#)
);
fixture!(
    fluxcd_v3_9_0_binary,
    "age/fluxcd_v3.9.0_binary.enc.txt",
    FLUX,
    Expect::Json(r#"{"data":"value"}"#)
);
fixture!(
    fluxcd_v3_9_0_indent2_yaml,
    "age/fluxcd_v3.9.0_indent2.enc.yaml",
    FLUX,
    Expect::Json(
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"age"},"stringData":{"key":"value"}}"#
    )
);
fixture!(
    fluxcd_v3_9_0_merge1_yaml,
    "age/fluxcd_v3.9.0_merge1_indent2.enc.yaml",
    FLUX,
    Expect::Json(
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"secret"},"stringData":{"key":"merge1"}}"#
    )
);
fixture!(
    fluxcd_v3_10_2_yaml,
    "age/fluxcd_v3.10.2_indent2.enc.yaml",
    "fluxcd-age-global.txt",
    Expect::Json(
        r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"global-age-secret","namespace":"default"},"type":"Opaque","stringData":{"key":"global-value"}}"#
    )
);
fixture!(
    helm_secrets_v3_7_1_yaml,
    "age/helm-secrets_v3.7.1.enc.yaml",
    "helm-secrets-age.txt",
    Expect::Contains(&[
        r#""global_secret":"global_age""#,
        r#""key":"-----BEGIN PGP MESSAGE-----\n"#,
        r#""service":{"port":92}"#,
    ])
);
fixture!(
    sops_age_js_v3_8_1_env,
    "age/sops-age-js_v3.8.1.enc.env",
    AGE_JS,
    Expect::Json(r#"{"secret":"this is a secret","another_secret":"7"}"#)
);
fixture!(
    sops_age_js_v3_8_1_yaml,
    "age/sops-age-js_v3.8.1_reformatted.enc.yaml",
    AGE_JS,
    Expect::Json(
        r#"{"secret":"this is a secret","string":"string","int":7,"float":3.14,"boolean":true,"complex":{"value":"this is a secret","array":["one","two","three"]}}"#
    )
);
fixture!(
    sops_age_js_v3_9_2_json,
    "age/sops-age-js_v3.9.2_reformatted.enc.json",
    AGE_JS,
    Expect::PlainFile("age/sops-age-js_expected.plain.json", &[])
);
fixture!(
    sops_nix_v3_7_1_yaml,
    "age/sops-nix_v3.7.1_age+pgp.enc.yaml",
    "sops-nix-age.txt",
    Expect::Json(
        r#"{"test_key":"test_value","a_list":["e1","e3"],"nested":{"test":{"file":"another value"}}}"#
    )
);
fixture!(
    operator_v3_7_3_yaml,
    "age/sops-secrets-operator_v3.7.3_encsuffix.enc.yaml",
    OPERATOR,
    Expect::PlainFile(
        "age/sops-secrets-operator_v3.7.3_expected.plain.yaml",
        // The fixture was made with `$$` expanded by a shell (see INDEX.md).
        &[("Pa$$word", "Pa58163word")]
    )
);
fixture!(
    operator_v3_12_1_yaml,
    "age/sops-secrets-operator_v3.12.1_encsuffix.enc.yaml",
    OPERATOR,
    Expect::PlainFile(
        "age/sops-secrets-operator_v3.12.1_expected.plain.yaml",
        &[("Pa$$word", "Pa58163word")]
    )
);
fixture!(
    operator_v3_13_1_maconly_yaml,
    "age/sops-secrets-operator_v3.13.1_maconly.enc.yaml",
    OPERATOR,
    Expect::PlainFile("age/sops-secrets-operator_v3.13.1_expected.plain.yaml", &[])
);
fixture!(
    unattributed_v3_12_2_ini,
    "unattributed/v3.12.2_age.enc.ini",
    "unattributed-ini-age.txt",
    Expect::Json(
        r#"{"DEFAULT":{},"Container":{"Image":"registry.example.com/planning-webapp:latest","ContainerName":"planning-webapp"},"Secrets":{"DATABASE_URL":"env:postgres://admin:s3cret@db.internal:5432/planning","API_KEY":"env:sk-live-abc123xyz","TLS_CERT":"file:/run/secrets/tls.cert:aGVsbG8gd29ybGQ="},"Service":{"Restart":"on-failure"}}"#
    )
);

/// Rust age 0.12 has no post-quantum identities: loading the key says so (naming the file
/// and line), and decrypting names the recipient and the reason.
#[test]
fn fluxcd_v3_12_1_age_pq_fails_clearly() {
    let text = String::from_utf8(read("keys/fluxcd-age-pq.txt")).unwrap();
    let err = lockstep_keys::age::AgeIdentities::parse(&text, "fluxcd-age-pq.txt")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("fluxcd-age-pq.txt line 3") && err.contains("post-quantum"),
        "{err}"
    );
    assert!(
        !err.contains("AGE-SECRET-KEY-PQ-1") || err.contains("AGE-SECRET-KEY-PQ-1…"),
        "{err}"
    );

    let file = EncryptedFile::load(
        &read("age/fluxcd_v3.12.1_age-pq_indent2.enc.yaml"),
        Format::Yaml,
    )
    .unwrap();
    let err = lockstep_sops::decrypt(file, &resolver(FLUX), &Default::default()).unwrap_err();
    let DecryptError::NoKey { ref tried, .. } = err else {
        panic!("{err}")
    };
    assert!(
        tried[0].key.starts_with("age1pq1") && tried[0].reason.contains("post-quantum"),
        "{err}"
    );
    assert_eq!(u8::from(err.code()), 128);
}

/// A pgp service that always fails, recording that it was asked.
struct FailingPgp(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl lockstep_keys::KeyService for FailingPgp {
    fn describe(&self) -> String {
        "pgp".into()
    }
    fn wrap(
        &self,
        _: &lockstep_keys::DataKey,
    ) -> Result<lockstep_keys::WrappedKey, lockstep_keys::Error> {
        unreachable!()
    }
    fn unwrap(
        &self,
        _: &lockstep_keys::WrappedKey,
    ) -> Result<Option<lockstep_keys::DataKey>, lockstep_keys::Error> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Err(lockstep_keys::Error::DataKeyLength { found: 0 })
    }
}

struct PgpResolver(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl lockstep_sops::KeyResolver for PgpResolver {
    fn service_for(
        &self,
        key: &lockstep_sops::MasterKey,
    ) -> Option<Box<dyn lockstep_keys::KeyService + '_>> {
        (key.kind == lockstep_sops::KeyType::Pgp).then(|| Box::new(FailingPgp(self.0.clone())) as _)
    }
}

/// Several resolvers (one per key type) and `--decryption-order`: age first by default;
/// with `pgp,age` the (failing) pgp keys are tried first and age still succeeds.
#[test]
fn sops_nix_decryption_order_and_resolvers() {
    use lockstep_sops::{DecryptOptions, KeyResolver, KeyType};
    let rel = "age/sops-nix_v3.7.1_age+pgp.enc.yaml";
    for (order, pgp_calls) in [(vec![], 0), (vec![KeyType::Pgp, KeyType::Age], 2)] {
        let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let resolvers: Vec<Box<dyn KeyResolver>> = vec![
            Box::new(PgpResolver(calls.clone())),
            Box::new(resolver("sops-nix-age.txt")),
        ];
        let file = EncryptedFile::load(&read(rel), Format::Yaml).unwrap();
        let opts = DecryptOptions {
            decryption_order: order,
            ..Default::default()
        };
        lockstep_sops::decrypt(file, &resolvers, &opts).unwrap();
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), pgp_calls);
    }
}

/// The pgp fixtures made by the real sops with gpg keys, decrypted with the private keys
/// as Flux's decryption Secret holds them (`gpg --export-secret-keys --armor`).
#[cfg(feature = "pgp")]
#[test]
fn pgp_fixtures_decrypt_with_armoured_private_keys() {
    use lockstep_keys::openpgp::SecretKeys;
    use lockstep_sops::{DecryptOptions, ServiceResolver};
    const GETSOPS: &str = "getsops-functional-tests-pgp.asc";
    const NIX: &str = "sops-nix-pgp.asc";
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "getsops_functional-tests_multiple_keys.yaml",
            GETSOPS,
            &[r#""message":"hello""#],
        ),
        ("getsops_example.yaml", GETSOPS, &[r#""user":"eve""#]),
        ("getsops_example.json", GETSOPS, &[r#""firstName":"John""#]),
        ("getsops_example.ini", GETSOPS, &[r#""firstName":"John""#]),
        ("getsops_example.txt", GETSOPS, &["Welcome to SOPS"]),
        ("getsops_functional-tests_format.enc.yaml", GETSOPS, &[]),
        ("getsops_functional-tests_format.enc.json", GETSOPS, &[]),
        ("getsops_functional-tests_format.enc.ini", GETSOPS, &[]),
        ("getsops_functional-tests_format-2.enc.ini", GETSOPS, &[]),
        ("getsops_functional-tests_format.enc.env", GETSOPS, &[]),
        (
            "sops-nix_secrets.ini",
            NIX,
            &["example_value", "give you up"],
        ),
        (
            "sops-nix_secrets.env",
            NIX,
            &["example_value", r"foo\nbar\nbaz"],
        ),
        ("sops-nix_secrets.json", NIX, &["test_value"]),
        ("sops-nix_secrets.bin", NIX, &["binary_value"]),
    ];
    for (file, key, parts) in cases {
        let rel = format!("pgp/{file}");
        let mut keys = SecretKeys::empty();
        keys.add_armored(&read(&format!("keys/{key}")), key)
            .unwrap();
        let resolver = ServiceResolver::new(std::sync::Arc::new(
            lockstep_keys::age::AgeIdentities::empty(),
        ))
        .with_pgp(keys.into());
        let encrypted = EncryptedFile::load(&read(&rel), format_of(&rel)).unwrap();
        let decrypted = lockstep_sops::decrypt(encrypted, &resolver, &DecryptOptions::default())
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        let got = normalize(&as_json(&decrypted));
        for part in *parts {
            assert!(got.contains(part), "{rel}: {part} not in {got}");
        }
    }
    // The comments fixture against its plaintext.
    let mut keys = SecretKeys::empty();
    keys.add_armored(&read(&format!("keys/{GETSOPS}")), GETSOPS)
        .unwrap();
    let resolver = ServiceResolver::new(std::sync::Arc::new(
        lockstep_keys::age::AgeIdentities::empty(),
    ))
    .with_pgp(keys.into());
    let rel = "pgp/getsops_functional-tests_comments.enc.yaml";
    let encrypted = EncryptedFile::load(&read(rel), Format::Yaml).unwrap();
    let decrypted =
        lockstep_sops::decrypt(encrypted, &resolver, &DecryptOptions::default()).unwrap();
    let want = stores::load(
        &read("pgp/getsops_functional-tests_comments.yaml"),
        Format::Yaml,
    )
    .unwrap();
    let want = stores::emit(&want, Format::Json, &Default::default()).unwrap();
    assert_eq!(
        normalize(&as_json(&decrypted)),
        normalize(std::str::from_utf8(&want).unwrap())
    );

    // Another key: not this entry's, so nothing to try, and the error says so.
    let mut other = SecretKeys::empty();
    other
        .add_armored(&read(&format!("keys/{NIX}")), NIX)
        .unwrap();
    let resolver = ServiceResolver::new(std::sync::Arc::new(
        lockstep_keys::age::AgeIdentities::empty(),
    ))
    .with_pgp(other.into());
    let encrypted = EncryptedFile::load(&read("pgp/getsops_example.yaml"), Format::Yaml).unwrap();
    let err = lockstep_sops::decrypt(encrypted, &resolver, &DecryptOptions::default()).unwrap_err();
    assert!(matches!(err, DecryptError::NoKey { .. }), "{err}");
}

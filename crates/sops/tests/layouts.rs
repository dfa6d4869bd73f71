//! Every metadata layout sops has written (3.3 → 3.13) reads: struct or alphabetical order,
//! `null`/`[]`/absent key lists, random dotenv/INI order, `"""` INI values, yaml.v2 style.
//! The PGP-only files are read for their layout; they are not decrypted here.

use lockstep_sops::{EncryptedFile, KeyType, Rule};

use crate::util::*;

fn load(rel: &str) -> lockstep_sops::Metadata {
    EncryptedFile::load(&read(rel), format_of(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .metadata
}

fn kinds(m: &lockstep_sops::Metadata) -> Vec<(KeyType, usize)> {
    let mut out: Vec<(KeyType, usize)> = Vec::new();
    for k in m.key_groups.iter().flatten() {
        match out.iter_mut().find(|(t, _)| *t == k.kind) {
            Some(e) => e.1 += 1,
            None => out.push((k.kind, 1)),
        }
    }
    out
}

macro_rules! layout {
    ($name:ident, $file:expr, $version:expr, $keys:expr, $rule:expr) => {
        #[test]
        fn $name() {
            let m = load($file);
            assert_eq!(m.version, $version);
            assert_eq!(kinds(&m), $keys);
            assert_eq!(m.rule, $rule);
            assert!(!m.last_modified.is_empty());
            for key in m.key_groups.iter().flatten() {
                assert!(!key.enc().is_empty(), "{}: empty enc", key.describe());
            }
        }
    };
}

fn suffix() -> Option<Rule> {
    Some(Rule::UnencryptedSuffix("_unencrypted".into()))
}

layout!(
    getsops_format_2_ini_triple_quotes,
    "pgp/getsops_functional-tests_format-2.enc.ini",
    "3.13.1",
    [(KeyType::Pgp, 1)],
    suffix()
);
layout!(
    getsops_format_ini,
    "pgp/getsops_functional-tests_format.enc.ini",
    "3.13.2",
    [(KeyType::Pgp, 1)],
    suffix()
);
layout!(
    getsops_format_env,
    "pgp/getsops_functional-tests_format.enc.env",
    "3.13.1",
    [(KeyType::Pgp, 1)],
    suffix()
);
layout!(
    getsops_comments_yaml_v2,
    "pgp/getsops_functional-tests_comments.enc.yaml",
    "3.6.1",
    [(KeyType::Pgp, 1)],
    suffix()
);
layout!(
    getsops_multiple_keys_3_3,
    "pgp/getsops_functional-tests_multiple_keys.yaml",
    "3.3.1",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    getsops_example_json_null_lists,
    "pgp/getsops_example.json",
    "3.5.0",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    getsops_example_ini_random_order,
    "pgp/getsops_example.ini",
    "3.5.0",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    getsops_example_binary,
    "pgp/getsops_example.txt",
    "3.5.0",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    sops_nix_env_random_order,
    "pgp/sops-nix_secrets.env",
    "3.7.3",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    sops_nix_ini,
    "pgp/sops-nix_secrets.ini",
    "3.7.3",
    [(KeyType::Pgp, 2)],
    suffix()
);
layout!(
    fluxcd_env_3_7_random_order,
    "age/fluxcd_v3.7.1.enc.env",
    "3.7.1",
    [(KeyType::Age, 1)],
    suffix()
);
layout!(
    sops_nix_age_pgp,
    "age/sops-nix_v3.7.1_age+pgp.enc.yaml",
    "3.7.1",
    [(KeyType::Pgp, 2), (KeyType::Age, 2)],
    suffix()
);
layout!(
    age_js_three_recipients_env,
    "age/sops-age-js_v3.8.1.enc.env",
    "3.8.1",
    [(KeyType::Age, 3)],
    suffix()
);
layout!(
    unattributed_ini_random_order,
    "unattributed/v3.12.2_age.enc.ini",
    "3.12.2",
    [(KeyType::Age, 1)],
    suffix()
);
layout!(
    fluxcd_encrypted_regex,
    "age/fluxcd_v3.7.0.enc.yaml",
    "3.7.0",
    [(KeyType::Age, 1)],
    Some(Rule::EncryptedRegex("^(data|stringData)$".into()))
);

/// The `"""` value of sops 3.13.0/3.13.1 INI holds real newlines; the 3.13.2 one escapes
/// them; both read to the same armored text.
#[test]
fn ini_metadata_newlines_both_ways() {
    for rel in [
        "pgp/getsops_functional-tests_format-2.enc.ini",
        "pgp/getsops_functional-tests_format.enc.ini",
    ] {
        let m = load(rel);
        let enc = m.key_groups[0][0].enc();
        assert!(enc.starts_with("-----BEGIN PGP MESSAGE-----\n\n"), "{rel}");
        assert!(enc.ends_with("\n-----END PGP MESSAGE-----"), "{rel}");
    }
}

/// A file without MAC reads; decrypting it is a MacMissing error (tested with age in
/// bad_input.rs), here only the layout.
#[test]
fn no_mac_file_reads_with_empty_mac() {
    let m = load("pgp/getsops_functional-tests_no_mac.yaml");
    assert!(m.mac.is_empty());
}

/// `shamir_threshold` written as a float string by old INI/dotenv writers.
#[test]
fn float_shamir_threshold_in_flat_metadata() {
    let text = String::from_utf8(read("age/fluxcd_v3.9.0.enc.env")).unwrap()
        + "sops_shamir_threshold=2.000000\n";
    let m = EncryptedFile::load(text.as_bytes(), lockstep_sops::Format::Dotenv)
        .unwrap()
        .metadata;
    assert_eq!(m.shamir_threshold, 2);
}

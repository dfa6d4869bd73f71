//! Encrypt → emit → load → decrypt gives the same tree, in every format; re-encrypting
//! with the IV stash keeps unchanged values byte for byte; Shamir key groups; conversions.

use lockstep_sops::{
    DecryptError, DecryptOptions, EmitOptions, EncryptOptions, EncryptedFile, Format, Recipient,
    Rule, stores,
};

use crate::util::*;

fn round_trip(plain: &str, format: Format) {
    let tree = stores::load(plain.as_bytes(), format).unwrap();
    let (recipient, resolver) = fresh_age();
    let file = lockstep_sops::encrypt(tree, format, to_recipient(&recipient)).unwrap();
    let bytes = file.emit(format, &EmitOptions::default()).unwrap();
    assert!(
        !String::from_utf8_lossy(&bytes).contains("CANARY"),
        "plaintext leaked into {format} output"
    );
    let back = EncryptedFile::load(&bytes, format).unwrap();
    assert_eq!(back.metadata.version, lockstep_sops::SOPS_VERSION);
    let decrypted = lockstep_sops::decrypt(back, &resolver, &DecryptOptions::default()).unwrap();
    let out = stores::emit(&decrypted.tree, format, &EmitOptions::default()).unwrap();
    assert_eq!(String::from_utf8_lossy(&out), plain, "{format}");
}

#[test]
fn yaml_round_trip() {
    round_trip(
        "# top CANARY comment\napi: v1\ndata:\n    password: CANARY-secret\n    port: 5432\n    ratio: 0.5\n    on_flag: \"on\"\n    enabled: true\n    none: null\n    empty: \"\"\n    list:\n        - a\n        - key: CANARY\n          other: 2\n    text: |\n        line one\n        line two\n    public_unencrypted: \"0755\"\n---\nsecond: doc\n",
        Format::Yaml,
    );
}

#[test]
fn json_round_trip() {
    round_trip(
        "{\n\t\"a\": \"CANARY \\u003c\\u0026\\u003e\",\n\t\"n\": 7,\n\t\"f\": 1.5,\n\t\"b\": false,\n\t\"z\": null,\n\t\"l\": [\n\t\t1,\n\t\t\"two\"\n\t],\n\t\"o\": {}\n}\n",
        Format::Json,
    );
}

#[test]
fn dotenv_round_trip() {
    round_trip(
        "#CANARY comment\nKEY=CANARY value\nMULTI=a\\nb\nEMPTY=\n",
        Format::Dotenv,
    );
}

#[test]
fn ini_round_trip() {
    round_trip(
        "[db]\nuser     = CANARY\npassword = \"  spaced  \"\n\n[other]\nkey = value\n",
        Format::Ini,
    );
}

#[test]
fn toml_round_trip() {
    round_trip(
        "# top CANARY comment\ntitle = \"CANARY secret\"\nport = 5432\nratio = 0.5\nenabled = true\nwhen = 1979-05-27T07:32:00Z\nlist = [\"a\", 2]\n\n# the database\n[db]\npassword = \"CANARY\"\npublic_unencrypted = \"0755\"\n\n[db.replica]\nhost = \"CANARY-2\"\n\n[[upstream]]\nname = \"one\"\n\n[[upstream]]\nname = \"two\"\n",
        Format::Toml,
    );
}

/// Every kind of TOML value (the fuzz seed): written back, it reads as the same data, and
/// it encrypts and decrypts to that data.
#[test]
fn toml_fixture_keeps_its_data() {
    let text = read("toml/settings.toml");
    let tree = stores::load(&text, Format::Toml).unwrap();
    let as_json = |tree| stores::emit(tree, Format::Json, &EmitOptions::default()).unwrap();
    let written = stores::emit(&tree, Format::Toml, &EmitOptions::default()).unwrap();
    let again = stores::load(&written, Format::Toml).unwrap();
    assert_eq!(as_json(&tree), as_json(&again));
    round_trip(std::str::from_utf8(&written).unwrap(), Format::Toml);
}

#[test]
fn binary_round_trip() {
    let plain = b"CANARY \x00\xff binary\n";
    let tree = stores::load(plain, Format::Binary).unwrap();
    let (recipient, resolver) = fresh_age();
    let file = lockstep_sops::encrypt(tree, Format::Binary, to_recipient(&recipient)).unwrap();
    assert_eq!(file.metadata.rule, None, "binary files record no rule");
    let bytes = file.emit(Format::Binary, &EmitOptions::default()).unwrap();
    let back = EncryptedFile::load(&bytes, Format::Binary).unwrap();
    let d = lockstep_sops::decrypt(back, &resolver, &DecryptOptions::default()).unwrap();
    assert_eq!(
        stores::emit(&d.tree, Format::Binary, &EmitOptions::default()).unwrap(),
        plain
    );
}

/// Converting: load YAML, emit JSON, INI and dotenv, read each back, same data.
#[test]
fn converts_between_formats() {
    // `n` is a YAML 1.1 boolean: go-yaml quotes it as a key too.
    let yaml = "section:\n    key: value\n    \"n\": \"12\"\n";
    let tree = stores::load(yaml.as_bytes(), Format::Yaml).unwrap();
    let json = stores::emit(&tree, Format::Json, &EmitOptions::default()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&json),
        "{\n\t\"section\": {\n\t\t\"key\": \"value\",\n\t\t\"n\": \"12\"\n\t}\n}\n"
    );
    let ini = stores::emit(&tree, Format::Ini, &EmitOptions::default()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ini),
        "[section]\nkey = value\nn   = 12\n"
    );
    let from_json = stores::load(&json, Format::Json).unwrap();
    let back = stores::emit(&from_json, Format::Yaml, &EmitOptions::default()).unwrap();
    assert_eq!(String::from_utf8_lossy(&back), yaml);
    let flat = stores::load(b"A=1\nB=two\n", Format::Dotenv).unwrap();
    let as_yaml = stores::emit(&flat, Format::Yaml, &EmitOptions::default()).unwrap();
    assert_eq!(String::from_utf8_lossy(&as_yaml), "A: \"1\"\nB: two\n");
}

/// Decrypt, change one value, encrypt again with the same key and the IV stash: only the
/// changed value's line differs (what `edit` needs for a quiet diff).
#[test]
fn iv_stash_keeps_unchanged_ciphertext() {
    let plain = "a: one\nb: two\n# note\nc:\n    - 3\n    - true\n";
    let (recipient, resolver) = fresh_age();
    let tree = stores::load(plain.as_bytes(), Format::Yaml).unwrap();
    let first = lockstep_sops::encrypt(tree, Format::Yaml, to_recipient(&recipient)).unwrap();
    let first_bytes =
        String::from_utf8(first.emit(Format::Yaml, &EmitOptions::default()).unwrap()).unwrap();
    let d = lockstep_sops::decrypt(first, &resolver, &DecryptOptions::default()).unwrap();
    let mut tree = d.tree;
    if let lockstep_sops::Item::Entry(_, v) = &mut tree.branches[0][1] {
        *v = lockstep_sops::Value::str("changed");
    }
    let again = lockstep_sops::reencrypt(tree, &d.data_key, d.metadata, Some(&d.stash)).unwrap();
    let again_bytes =
        String::from_utf8(again.emit(Format::Yaml, &EmitOptions::default()).unwrap()).unwrap();
    let old: Vec<&str> = first_bytes.lines().take(6).collect();
    let new: Vec<&str> = again_bytes.lines().take(6).collect();
    let differing: Vec<usize> = (0..6).filter(|&i| old[i] != new[i]).collect();
    assert_eq!(
        differing,
        [1],
        "only `b` changes:\n{first_bytes}\n{again_bytes}"
    );
    // And it still decrypts, with a valid MAC.
    let back = EncryptedFile::load(again_bytes.as_bytes(), Format::Yaml).unwrap();
    lockstep_sops::decrypt(back, &resolver, &DecryptOptions::default()).unwrap();
}

#[test]
fn encrypted_regex_rule_leaves_other_values_clear() {
    let plain = "kind: Secret\ndata:\n    password: CANARY\n";
    let (recipient, resolver) = fresh_age();
    let tree = stores::load(plain.as_bytes(), Format::Yaml).unwrap();
    let opts = EncryptOptions {
        rule: Some(Rule::EncryptedRegex("^(data|stringData)$".into())),
        ..to_recipient(&recipient)
    };
    let file = lockstep_sops::encrypt(tree, Format::Yaml, opts).unwrap();
    let text =
        String::from_utf8(file.emit(Format::Yaml, &EmitOptions::default()).unwrap()).unwrap();
    assert!(
        text.starts_with("kind: Secret\ndata:\n    password: ENC[AES256_GCM,"),
        "{text}"
    );
    assert!(
        text.contains("    encrypted_regex: ^(data|stringData)$\n"),
        "{text}"
    );
    let d = lockstep_sops::decrypt(
        EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap(),
        &resolver,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(stores::emit(&d.tree, Format::Yaml, &EmitOptions::default()).unwrap())
            .unwrap(),
        plain
    );
}

/// Two key groups, threshold 2: both groups are needed; one alone is a clear NoKey error.
#[test]
fn shamir_two_groups() {
    let (r1, k1) = fresh_identity();
    let (r2, k2) = fresh_identity();
    let tree = stores::load(b"secret: CANARY\n", Format::Yaml).unwrap();
    let opts = EncryptOptions {
        key_groups: vec![
            vec![Recipient::age(&r1).unwrap()],
            vec![Recipient::age(&r2).unwrap()],
        ],
        shamir_threshold: 2,
        rule: None,
        mac_only_encrypted: false,
    };
    let file = lockstep_sops::encrypt(tree, Format::Yaml, opts).unwrap();
    let text =
        String::from_utf8(file.emit(Format::Yaml, &EmitOptions::default()).unwrap()).unwrap();
    assert!(
        text.contains("sops:\n    key_groups:\n        - age:\n            - enc: |\n"),
        "{text}"
    );
    assert!(text.contains("          hc_vault: []\n"), "{text}");
    assert!(text.contains("    shamir_threshold: 2\n"), "{text}");
    let both = resolver_for(&format!("{k1}\n{k2}\n"));
    let d = lockstep_sops::decrypt(
        EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap(),
        &both,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(stores::emit(&d.tree, Format::Yaml, &Default::default()).unwrap())
            .unwrap(),
        "secret: CANARY\n"
    );
    let err = lockstep_sops::decrypt(
        EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap(),
        &resolver_for(&k1),
        &Default::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            DecryptError::NoKey {
                recovered: 1,
                needed: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(u8::from(err.code()), 128);
}

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use crate::metadata::KeyType;

fn config(text: &str) -> Config {
    Config::parse(text, Path::new("/repo/.sops.yaml")).unwrap()
}

fn rule(text: &str, file: &str) -> CreationRule {
    config(text)
        .creation_rule(Path::new(file), &BTreeMap::new())
        .unwrap()
        .unwrap()
}

fn age(r: &str) -> KeySpec {
    KeySpec::Age(r.to_owned())
}

#[test]
fn first_matching_rule_relative_to_the_config() {
    let text = "creation_rules:\n  - path_regex: ^prod/.*\\.yaml$\n    age: a1\n    encrypted_regex: ^data$\n  - age: [a2, ' a3']\n";
    let prod = rule(text, "/repo/prod/x.yaml");
    assert_eq!(prod.key_groups, [vec![age("a1")]]);
    assert_eq!(prod.rules, [Rule::EncryptedRegex("^data$".into())]);
    // Below another directory, the rule's `^prod/` no longer matches.
    let other = rule(text, "/elsewhere/prod/x.yaml");
    assert_eq!(other.key_groups, [vec![age("a2"), age(" a3")]]);
}

#[test]
fn no_rules_no_match_and_empty_files() {
    assert_eq!(
        config("stores: {}\n")
            .creation_rule(Path::new("x"), &BTreeMap::new())
            .unwrap(),
        None
    );
    assert_eq!(
        config("")
            .creation_rule(Path::new("x"), &BTreeMap::new())
            .unwrap(),
        None
    );
    let err = config("creation_rules: []\n")
        .creation_rule(Path::new("/repo/a.json"), &BTreeMap::new())
        .unwrap_err();
    assert!(matches!(err, ConfigError::NoMatchingRule { ref file, .. } if file == "a.json"));
    assert!(
        err.to_string().contains("no matching creation rules"),
        "{err}"
    );
}

#[test]
fn comma_lists_scalars_and_anchors() {
    let text = "keys:\n  - &k age1x\ncreation_rules:\n  - age: 'age1a, ,age1b,'\n    hc_vault_transit_uri: https://v:8200/v1/transit/keys/k\n  - path_regex: never\n    age: *k\n";
    let r = rule(text, "/repo/f.yaml");
    assert_eq!(
        r.key_groups,
        [vec![
            age("age1a"),
            age("age1b"),
            KeySpec::Vault("https://v:8200/v1/transit/keys/k".into())
        ]]
    );
    let anchored = config(text);
    let Some(rules) = &anchored.creation_rules else {
        panic!("rules")
    };
    assert_eq!(rules[1].age.0, ["age1x"]);
}

#[test]
fn kms_from_the_rule_takes_the_context_and_profile() {
    let context = BTreeMap::from([("team".to_owned(), "a".to_owned())]);
    let r = config("creation_rules:\n  - kms: arn:1+role:1,arn:2\n    aws_profile: dev\n")
        .creation_rule(Path::new("x"), &context)
        .unwrap()
        .unwrap();
    let KeySpec::Kms(first) = &r.key_groups[0][0] else {
        panic!("{r:?}")
    };
    assert_eq!(
        (first.arn.as_str(), first.role.as_deref()),
        ("arn:1", Some("role:1"))
    );
    assert_eq!(first.profile.as_deref(), Some("dev"));
    assert_eq!(first.context, context);
    assert_eq!(r.key_groups[0].len(), 2);
}

#[test]
fn key_groups_merge_dedupe_and_shamir() {
    let text = "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n      - age: [a1, a1]\n        merge:\n          - age: [a0]\n      - kms:\n          - arn: arn:k\n            role: r\n            context: {env: 3}\n        pgp: [FP]\n        azure_keyvault:\n          - vaultUrl: https://v.vault.azure.net\n            key: k\n            version: v1\n";
    let r = rule(text, "x");
    assert_eq!(r.shamir_threshold, 2);
    assert_eq!(r.key_groups[0], [age("a0"), age("a1")]);
    assert_eq!(
        r.key_groups[1],
        [
            KeySpec::Pgp("FP".into()),
            KeySpec::Kms(KmsSpec {
                arn: "arn:k".into(),
                role: Some("r".into()),
                context: BTreeMap::from([("env".into(), "3".into())]),
                profile: None,
            }),
            KeySpec::Unsupported {
                kind: KeyType::AzureKv,
                key: "https://v.vault.azure.net/keys/k".into()
            },
        ]
    );
}

#[test]
fn empty_key_groups_fall_back_and_an_empty_group_is_refused() {
    // As sops: an empty `key_groups` means the rule's own keys.
    assert_eq!(
        rule("creation_rules:\n  - key_groups: []\n    age: a\n", "x").key_groups,
        [vec![age("a")]]
    );
    let err = config("creation_rules:\n  - key_groups:\n      - {}\n")
        .creation_rule(Path::new("x"), &BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::EmptyKeyGroup { rule: 0, .. }),
        "{err}"
    );
    // A rule with no keys at all has no groups: the caller says no keys were given.
    assert!(
        rule("creation_rules:\n  - mac_only_encrypted: true\n", "x")
            .key_groups
            .is_empty()
    );
}

#[test]
fn malformed_files_and_regexes() {
    for text in [
        "creation_rules: 3\n",
        "creation_rules:\n  - just a string\n",
        "creation_rules:\n  - shamir_threshold: -1\n",
        "creation_rules: [\n",
    ] {
        let err = Config::parse(text, Path::new("c.yaml")).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{text}: {err}");
        assert!(err.to_string().starts_with("cannot parse c.yaml"), "{err}");
    }
    let err = config("creation_rules:\n  - path_regex: '('\n    age: a\n")
        .creation_rule(Path::new("x"), &BTreeMap::new())
        .unwrap_err();
    assert!(
        matches!(err, ConfigError::PathRegex { rule: 0, .. }),
        "{err}"
    );
}

#[test]
fn stores_give_indents() {
    let c =
        config("stores:\n  yaml: {indent: 2}\n  json: {indent: 3}\n  json_binary: {indent: -1}\n");
    assert_eq!(c.emit.yaml_indent, 2);
    assert_eq!(c.emit.json_indent, Some(3));
    assert_eq!(c.emit.binary_indent, None);
    assert_eq!(config("stores: null\n").emit.json_indent, None);
}

#[test]
fn flags_override_the_rule_field_by_field() {
    let from_config = rule(
        "creation_rules:\n  - age: a\n    encrypted_regex: ^data$\n",
        "x",
    );
    assert_eq!(
        encryption_rule(&[], Some(&from_config)).unwrap(),
        Some(Rule::EncryptedRegex("^data$".into()))
    );
    assert_eq!(
        encryption_rule(&[Rule::EncryptedRegex("^x$".into())], Some(&from_config)).unwrap(),
        Some(Rule::EncryptedRegex("^x$".into()))
    );
    assert!(matches!(
        encryption_rule(&[Rule::EncryptedSuffix("_e".into())], Some(&from_config)),
        Err(ConfigError::ConflictingRules)
    ));
    assert_eq!(encryption_rule(&[], None).unwrap(), None);
}

#[test]
fn find_walks_up_and_notes_sops_yml() {
    let dir = tempfile::tempdir().unwrap();
    let deep = dir.path().join("a/b");
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(dir.path().join("a/.sops.yml"), "").unwrap();
    assert_eq!(
        find(None, &deep).unwrap().ignored,
        Some(dir.path().join("a/.sops.yml"))
    );
    std::fs::write(dir.path().join(".sops.yaml"), "").unwrap();
    assert_eq!(
        find(None, &deep).unwrap().path,
        Some(dir.path().join(".sops.yaml"))
    );
    let missing = dir.path().join("nope.yaml");
    assert!(matches!(
        find(Some(&missing), &deep),
        Err(ConfigError::Missing { .. })
    ));
    assert_eq!(
        find(Some(&dir.path().join(".sops.yaml")), &deep)
            .unwrap()
            .path,
        Some(dir.path().join(".sops.yaml"))
    );
}

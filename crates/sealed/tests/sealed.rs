//! Format tests against the fixtures in `testdata/` (provenance in `testdata/INDEX.md`) and
//! seal → unseal round trips for every scope.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use lockstep_keys::sealing::{Certificate, SealingPrivateKey};
use lockstep_sealed::{
    DecryptError, Format, ItemErrorKind, Scope, SealError, SealOptions, SealedSecret, SecretInput,
    UnsealError, crypto, load_private_keys, manifest, merge_into, seal, seal_all, seal_raw, unseal,
};

const V014: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/testdata/wingkwong-v0.14.1-strict"
);
const CANARY: &str = "sealed-secrets-example";

fn read(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn fixture_key() -> SealingPrivateKey {
    SealingPrivateKey::from_pem(&read(&format!("{V014}/tls.key"))).unwrap()
}

fn pkcs8_key() -> SealingPrivateKey {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/bakito-keypair-pkcs8"
    );
    SealingPrivateKey::from_pem(&read(&format!("{dir}/key.pem"))).unwrap()
}

fn fixture_sealed() -> SealedSecret {
    manifest::parse_sealed_secret(&read(&format!("{V014}/sealed-secret.yaml"))).unwrap()
}

fn secret(ns: &str, name: &str, items: &[(&str, &str)]) -> SecretInput {
    let yaml = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels:\n    app: demo\nstringData:\n{}",
        items
            .iter()
            .map(|(k, v)| format!("  {k}: \"{v}\"\n"))
            .collect::<String>()
    );
    manifest::parse_secrets(yaml.as_bytes()).unwrap().remove(0)
}

fn plain(
    sealed: &SealedSecret,
    keys: &[SealingPrivateKey],
) -> Result<BTreeMap<String, String>, UnsealError> {
    let out = unseal(sealed, keys)?;
    Ok(out
        .data
        .0
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                String::from_utf8(v.expose_secret().to_vec()).unwrap(),
            )
        })
        .collect())
}

fn moved(sealed: &SealedSecret, ns: &str, name: &str) -> SealedSecret {
    let mut s = sealed.clone();
    s.metadata.namespace = Some(ns.to_owned());
    s.metadata.name = Some(name.to_owned());
    s
}

#[test]
fn v014_fixture_unseals_to_expected_secret() {
    let out = unseal(&fixture_sealed(), &[fixture_key()]).unwrap();
    let got = out.into_secret();
    let expected: Secret = serde_saphyr::from_str(
        std::str::from_utf8(&read(&format!("{V014}/expected-secret.yaml"))).unwrap(),
    )
    .unwrap();
    assert_eq!(got.data, expected.data);
    assert_eq!(got.type_, expected.type_);
    assert_eq!(got.metadata.name, expected.metadata.name);
    assert_eq!(got.metadata.namespace, expected.metadata.namespace);
    let owner = &got.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("SealedSecret", "credentials")
    );
    assert_eq!(owner.controller, Some(true));
}

#[test]
fn v014_fixture_unseals_with_the_key_secret_dump() {
    let keys = load_private_keys(&read(&format!("{V014}/controller-key-secret.yaml"))).unwrap();
    assert_eq!(plain(&fixture_sealed(), &keys).unwrap()["token"], CANARY);
    // The same as a v1 List, in JSON (kubectl get secret -o json).
    let secret: serde_json::Value = serde_saphyr::from_str(
        std::str::from_utf8(&read(&format!("{V014}/controller-key-secret.yaml"))).unwrap(),
    )
    .unwrap();
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [secret]});
    let keys = load_private_keys(serde_json::to_string(&list).unwrap().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1);
}

#[test]
fn v014_fixture_is_strict() {
    let sealed = fixture_sealed();
    for (ns, name) in [("foo", "other"), ("bar", "credentials")] {
        let err = unseal(&moved(&sealed, ns, name), &[fixture_key()]).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("no key could decrypt secret"), "{msg}");
        assert!(msg.contains("encryptedData.token"), "{msg}");
        assert!(msg.contains(&format!("{ns}/{name}")), "{msg}");
        assert!(!msg.contains(CANARY));
    }
}

#[test]
fn round_trip_every_scope_and_enforcement() {
    let key = pkcs8_key();
    let keys = [key];
    let cases = [
        (Scope::Strict, [true, false, false, false]),
        (Scope::NamespaceWide, [true, true, false, false]),
        (Scope::ClusterWide, [true, true, true, true]),
    ];
    for (scope, expect) in cases {
        let options = SealOptions::default().with_scope(Some(scope));
        let sealed = seal(
            secret("apps", "db", &[("password", "pa55"), ("user", "me")]),
            keys[0].public_key(),
            &options,
        )
        .unwrap();
        assert_eq!(sealed.scope(), scope);
        // Same name; renamed in the namespace; moved; moved and renamed.
        let variants = [
            moved(&sealed, "apps", "db"),
            moved(&sealed, "apps", "other"),
            moved(&sealed, "prod", "db"),
            moved(&sealed, "prod", "other"),
        ];
        for (variant, ok) in variants.iter().zip(expect) {
            let result = plain(variant, &keys);
            assert_eq!(result.is_ok(), ok, "{scope} {}", variant.display_name());
            if let Ok(items) = result {
                assert_eq!(items["password"], "pa55");
                assert_eq!(items["user"], "me");
            }
        }
        let template = sealed.spec.template.as_ref().unwrap();
        assert_eq!(template.metadata.labels.as_ref().unwrap()["app"], "demo");
        assert_eq!(
            Scope::from_annotations(template.metadata.annotations.as_ref()),
            scope
        );
    }
}

#[test]
fn scope_annotation_on_input_is_honoured() {
    let key = pkcs8_key();
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: n\n  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\ndata:\n  k: dg==\n";
    let input = manifest::parse_secrets(yaml).unwrap().remove(0);
    let sealed = seal(input, key.public_key(), &SealOptions::default()).unwrap();
    assert_eq!(sealed.scope(), Scope::ClusterWide);
    assert_eq!(plain(&moved(&sealed, "x", "y"), &[key]).unwrap()["k"], "v");
}

#[test]
fn seal_all_keeps_input_order_and_reports_the_first_failure() {
    let key = pkcs8_key();
    let inputs = |n: usize| -> Vec<SecretInput> {
        (0..n)
            .map(|i| secret("n", &format!("s{i}"), &[("k", &format!("v{i}"))]))
            .collect()
    };
    let sealed = seal_all(inputs(9), key.public_key(), &SealOptions::default()).unwrap();
    assert_eq!(sealed.len(), 9);
    for (i, s) in sealed.iter().enumerate() {
        assert_eq!(s.metadata.name.as_deref(), Some(format!("s{i}").as_str()));
        let out = plain(s, std::slice::from_ref(&key)).unwrap();
        assert_eq!(out["k"], format!("v{i}"));
    }
    let mut bad = inputs(9);
    bad[7].data.0.clear();
    bad[3].data.0.clear();
    let err = seal_all(bad, key.public_key(), &SealOptions::default()).unwrap_err();
    assert!(
        matches!(&err, SealError::EmptyData { name } if name == "n/s3"),
        "{err}"
    );
    assert!(
        seal_all(Vec::new(), key.public_key(), &SealOptions::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn raw_values_follow_scope_rules() {
    let key = pkcs8_key();
    let pk = key.public_key();
    // UX review D23: raw mode has no metadata.name to point at.
    let err = seal_raw(pk, Scope::Strict, Some("n"), None, b"v").unwrap_err();
    assert!(matches!(err, SealError::MissingRawName), "{err}");
    assert!(err.to_string().contains("--name") && !err.to_string().contains("metadata"));
    assert!(matches!(
        seal_raw(pk, Scope::NamespaceWide, None, None, b"v"),
        Err(SealError::MissingNamespace { .. })
    ));
    let raw = seal_raw(pk, Scope::Strict, Some("n"), Some("s"), b"v").unwrap();
    assert!(raw.starts_with("AQ"), "2048-bit blobs start with AQ");
    let mut sealed = seal(secret("n", "s", &[("x", "y")]), pk, &SealOptions::default()).unwrap();
    sealed.spec.encrypted_data.insert("raw".to_owned(), raw);
    assert_eq!(plain(&sealed, &[key]).unwrap()["raw"], "v");
}

#[test]
fn bad_input_is_reported_per_item_without_values() {
    let key = pkcs8_key();
    let sealed = seal(
        secret("n", "s", &[("a", "secret-a"), ("b", "secret-b")]),
        key.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let good_b = sealed.spec.encrypted_data["b"].clone();

    let mut garbage = sealed.clone();
    garbage
        .spec
        .encrypted_data
        .insert("a".to_owned(), "!!not base64!!".to_owned());
    let UnsealError::Items { failures, .. } =
        unseal(&garbage, std::slice::from_ref(&key)).unwrap_err()
    else {
        panic!("expected item failures")
    };
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].path, "encryptedData.a");
    assert_eq!(failures[0].kind, ItemErrorKind::InvalidBase64);

    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let blob = b64.decode(&good_b).unwrap();
    let mut truncated = sealed.clone();
    truncated
        .spec
        .encrypted_data
        .insert("b".to_owned(), b64.encode(&blob[..100]));
    let err = unseal(&truncated, std::slice::from_ref(&key)).unwrap_err();
    assert!(
        err.to_string()
            .contains("SealedSecret data is too short (encryptedData.b)"),
        "{err}"
    );

    let mut tampered = sealed.clone();
    let mut bad = blob.clone();
    bad[270] ^= 0x40;
    tampered
        .spec
        .encrypted_data
        .insert("b".to_owned(), b64.encode(&bad));
    let tampered_err = unseal(&tampered, std::slice::from_ref(&key)).unwrap_err();
    let wrong_key_err = unseal(&sealed, &[fixture_key()]).unwrap_err();
    for err in [&tampered_err, &wrong_key_err] {
        let UnsealError::Items { failures, .. } = err else {
            panic!("{err}")
        };
        assert!(
            failures
                .iter()
                .all(|f| f.kind == ItemErrorKind::Decrypt(DecryptError::NoKeyCouldDecrypt))
        );
        let msg = err.to_string();
        assert!(!msg.contains("secret-a") && !msg.contains("secret-b"));
    }
    assert_eq!(
        wrong_key_err.to_string(),
        "cannot unseal SealedSecret n/s: no key could decrypt secret (encryptedData.a, encryptedData.b)"
    );
}

#[test]
fn empty_data_needs_allow_empty_data() {
    let key = pkcs8_key();
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: n\n";
    let input = || manifest::parse_secrets(yaml).unwrap().remove(0);
    assert!(matches!(
        seal(input(), key.public_key(), &SealOptions::default()),
        Err(SealError::EmptyData { .. })
    ));
    let sealed = seal(
        input(),
        key.public_key(),
        &SealOptions::default().with_allow_empty_data(true),
    )
    .unwrap();
    assert!(sealed.spec.encrypted_data.is_empty());
    assert!(unseal(&sealed, &[key]).unwrap().data.0.is_empty());
}

#[test]
fn namespace_rules() {
    let key = pkcs8_key();
    let pk = key.public_key();
    let with_flag = SealOptions::default().with_namespace(Some("other".to_owned()));
    assert!(matches!(
        seal(secret("n", "s", &[("k", "v")]), pk, &with_flag),
        Err(SealError::NamespaceMismatch { .. })
    ));
    // Without a namespace, a strict or namespace-wide Secret is refused as kubeseal refuses
    // it (UX review D4: it went to `default` silently); -n names one; a cluster-wide one
    // needs none.
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  k: dg==\n";
    let parsed = || manifest::parse_secrets(yaml).unwrap().remove(0);
    for scope in [Scope::Strict, Scope::NamespaceWide] {
        let err = seal(
            parsed(),
            pk,
            &SealOptions::default().with_scope(Some(scope)),
        )
        .unwrap_err();
        assert!(
            matches!(err, SealError::SecretWithoutNamespace { .. }),
            "{err}"
        );
        assert!(
            err.to_string().contains("must declare a namespace"),
            "{err}"
        );
    }
    let named = SealOptions::default().with_namespace(Some("shop".to_owned()));
    let sealed = seal(parsed(), pk, &named).unwrap();
    assert_eq!(sealed.metadata.namespace.as_deref(), Some("shop"));
    let cluster_wide = SealOptions::default().with_scope(Some(Scope::ClusterWide));
    assert!(seal(parsed(), pk, &cluster_wide).is_ok());
}

#[test]
fn output_formats_parse_back() {
    let key = pkcs8_key();
    let sealed = seal(
        secret("n", "s", &[("k", "v")]),
        key.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let json =
        manifest::sealed_secrets_to_string(std::slice::from_ref(&sealed), Format::Json).unwrap();
    assert!(
        json.starts_with(
            "{\n  \"kind\": \"SealedSecret\",\n  \"apiVersion\": \"bitnami.com/v1alpha1\""
        ),
        "{json}"
    );
    assert!(json.ends_with("}\n"));
    let yaml =
        manifest::sealed_secrets_to_string(std::slice::from_ref(&sealed), Format::Yaml).unwrap();
    assert!(
        yaml.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"),
        "{yaml}"
    );
    assert_eq!(
        manifest::parse_sealed_secret(json.as_bytes()).unwrap(),
        sealed
    );
    assert_eq!(
        manifest::parse_sealed_secret(yaml.as_bytes()).unwrap(),
        sealed
    );
}

fn merge_keeps_others(format: Format) {
    let key = pkcs8_key();
    let options = SealOptions::default().with_scope(Some(Scope::NamespaceWide));
    let sealed = seal(
        secret("n", "s", &[("a", "1"), ("b", "2")]),
        key.public_key(),
        &options,
    )
    .unwrap();
    let file = manifest::sealed_secrets_to_string(std::slice::from_ref(&sealed), format).unwrap();
    let (merged, got_format) = merge_into(
        file.as_bytes(),
        secret("elsewhere", "x", &[("c", "3"), ("b", "two")]),
        key.public_key(),
        false,
    )
    .unwrap();
    assert_eq!(got_format, format);
    assert_eq!(Format::detect(merged.as_bytes()), format);
    let after = manifest::parse_sealed_secret(merged.as_bytes()).unwrap();
    assert_eq!(
        after.spec.encrypted_data["a"], sealed.spec.encrypted_data["a"],
        "untouched item is byte-identical"
    );
    assert!(merged.contains(&sealed.spec.encrypted_data["a"]));
    assert_ne!(
        after.spec.encrypted_data["b"],
        sealed.spec.encrypted_data["b"]
    );
    let items = plain(&after, &[key]).unwrap();
    assert_eq!(items.get("a").map(String::as_str), Some("1"));
    assert_eq!(items.get("b").map(String::as_str), Some("two"));
    assert_eq!(items.get("c").map(String::as_str), Some("3"));
    assert_eq!(after.metadata, sealed.metadata);
}

#[test]
fn merge_into_yaml() {
    merge_keeps_others(Format::Yaml);
}

#[test]
fn merge_into_json() {
    merge_keeps_others(Format::Json);
}

#[test]
fn merge_into_the_v014_fixture_keeps_its_item() {
    let key = fixture_key();
    let cert = Certificate::from_pem(&read(&format!("{V014}/tls.crt"))).unwrap();
    let file = read(&format!("{V014}/sealed-secret.yaml"));
    let (merged, _) = merge_into(
        &file,
        secret("ignored", "ignored", &[("extra", "e")]),
        cert.public_key(),
        false,
    )
    .unwrap();
    let before = fixture_sealed();
    let after = manifest::parse_sealed_secret(merged.as_bytes()).unwrap();
    assert_eq!(
        after.spec.encrypted_data["token"],
        before.spec.encrypted_data["token"]
    );
    let items = plain(&after, &[key]).unwrap();
    assert_eq!(items["token"], CANARY);
    assert_eq!(items["extra"], "e");
}

#[test]
fn legacy_spec_data_is_readable() {
    let key = pkcs8_key();
    let inner = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "old", "namespace": "n", "labels": {"v": "1"}},
        "type": "Opaque",
        "data": {"k": "dmFsdWU="}
    });
    let blob =
        crypto::hybrid_encrypt(key.public_key(), inner.to_string().as_bytes(), b"n/old").unwrap();
    use base64::Engine as _;
    let mut sealed = SealedSecret::default();
    sealed.metadata.name = Some("old".to_owned());
    sealed.metadata.namespace = Some("n".to_owned());
    sealed.spec.data = Some(base64::engine::general_purpose::STANDARD.encode(blob));
    let out = unseal(&sealed, std::slice::from_ref(&key)).unwrap();
    assert_eq!(out.data.get("k").unwrap().expose_secret(), b"value");
    assert_eq!(out.metadata.labels.as_ref().unwrap()["v"], "1");
    sealed
        .spec
        .encrypted_data
        .insert("x".to_owned(), "AA==".to_owned());
    assert!(matches!(
        unseal(&sealed, &[key]),
        Err(UnsealError::DataAndEncryptedData { .. })
    ));
}

#[test]
fn legacy_upstream_blob_has_the_documented_layout() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/testdata/upstream-bitnami"
    );
    let text = String::from_utf8(read(&format!("{dir}/legacy-v1-data-blob.b64.txt"))).unwrap();
    use base64::Engine as _;
    let compact: String = text.split_whitespace().collect();
    let blob = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .unwrap();
    assert_eq!(blob.len(), 833);
    assert_eq!(&blob[..2], &[0x02, 0x00]);
    // No key exists for it: it must fail cleanly, as the one error.
    let err = crypto::hybrid_decrypt([&fixture_key()], &blob, b"").unwrap_err();
    assert_eq!(err, DecryptError::NoKeyCouldDecrypt);
}

#[test]
fn template_data_and_metadata() {
    let key = pkcs8_key();
    let mut sealed = seal(
        secret("n", "s", &[("user", "admin"), ("pass", "pw")]),
        key.public_key(),
        &SealOptions::default(),
    )
    .unwrap();
    let template = sealed.spec.template.as_mut().unwrap();
    template.type_ = Some("kubernetes.io/basic-auth".to_owned());
    template.immutable = Some(true);
    template.data = Some(BTreeMap::from([
        (
            "url".to_owned(),
            "https://{{ .user }}:{{ index . \"pass\" }}@db".to_owned(),
        ),
        ("literal".to_owned(), "plain".to_owned()),
    ]));
    template
        .metadata
        .annotations
        .get_or_insert_default()
        .insert(
            lockstep_sealed::SKIP_SET_OWNER_REFERENCES_ANNOTATION.to_owned(),
            "true".to_owned(),
        );
    let out = unseal(&sealed, &[key]).unwrap();
    assert_eq!(
        out.data.get("url").unwrap().expose_secret(),
        b"https://admin:pw@db"
    );
    assert_eq!(out.data.get("literal").unwrap().expose_secret(), b"plain");
    assert_eq!(out.type_.as_deref(), Some("kubernetes.io/basic-auth"));
    assert_eq!(out.immutable, Some(true));
    assert!(out.metadata.owner_references.is_none());
}

#[test]
fn unsealed_secret_output_round_trips() {
    let key = fixture_key();
    let out = unseal(&fixture_sealed(), &[key]).unwrap();
    let yaml = manifest::secret_to_string(out, Format::Yaml).unwrap();
    let back: Secret = serde_saphyr::from_str(&yaml).unwrap();
    assert_eq!(back.data.unwrap()["token"].0, CANARY.as_bytes());
}

#[test]
fn parse_errors_do_not_quote_values() {
    let yaml =
        b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\nimmutable: canary-plaintext-value\n";
    let Err(err) = manifest::parse_secrets(yaml) else {
        panic!("must fail")
    };
    let msg = err.to_string();
    assert!(!msg.contains("canary"), "{msg}");
    assert!(msg.contains("line"), "{msg}");
}

#[test]
fn several_input_secrets_yaml_and_json() {
    let key = pkcs8_key();
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: n\ndata:\n  k: dg==\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\n  namespace: n\ndata:\n  k: dw==\n";
    let json = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"a","namespace":"n"},"data":{"k":"dg=="}}
{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b","namespace":"n"},"data":{"k":"dw=="}}"#;
    for input in [&yaml[..], &json[..]] {
        let secrets = manifest::parse_secrets(input).unwrap();
        assert_eq!(secrets.len(), 2);
        let sealed: Vec<SealedSecret> = secrets
            .into_iter()
            .map(|s| seal(s, key.public_key(), &SealOptions::default()).unwrap())
            .collect();
        let text = manifest::sealed_secrets_to_string(&sealed, Format::Yaml).unwrap();
        assert_eq!(text.matches("---\n").count(), 2);
        assert_eq!(
            plain(&sealed[1], std::slice::from_ref(&key)).unwrap()["k"],
            "w"
        );
    }
}

#[test]
fn last_applied_annotation_never_travels() {
    let key = pkcs8_key();
    let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: a\n  namespace: n\n  annotations:\n    keep: me\n    kubectl.kubernetes.io/last-applied-configuration: '{\"stringData\":{\"k\":\"applied-canary\"}}'\nstringData:\n  k: applied-canary\n";
    let input = manifest::parse_secrets(yaml).unwrap().remove(0);
    assert!(!format!("{input:?}").contains("applied-canary"));
    let sealed = seal(input, key.public_key(), &SealOptions::default()).unwrap();
    let text = manifest::sealed_secrets_to_string(&[sealed], Format::Json).unwrap();
    assert!(!text.contains("applied-canary") && !text.contains("last-applied"));
    assert!(text.contains("\"keep\": \"me\""));
}

/// A document that parses but does not fit the resource (probe case A14: `template.type` a
/// mapping) names the field and what belongs there, not "invalid YAML", and quotes no value.
#[test]
fn schema_errors_name_the_field() {
    let text = String::from_utf8(read(&format!("{V014}/sealed-secret.yaml"))).unwrap();
    let yaml = text.replace("    type: Opaque", "    type:\n      CANARY-VALUE: 1");
    let err = manifest::parse_sealed_secret(yaml.as_bytes()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("`spec.template.type` expected a string at line"),
        "{message}"
    );
    assert!(message.contains("SealedSecret"), "{message}");
    assert!(!message.contains("CANARY"), "{message}");

    let json = r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
        "stringData": {"k": ["CANARY-VALUE"]}}"#;
    let err = manifest::parse_secrets(json.as_bytes()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("`stringData.k` expected a string"),
        "{message}"
    );
    assert!(!message.contains("CANARY"), "{message}");

    // UX review D2: a ConfigMap is "not a Secret", not a schema or YAML error.
    let config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n";
    let err = manifest::parse_secrets(config_map.as_bytes()).unwrap_err();
    assert_eq!(err.to_string(), "expected kind Secret, found `ConfigMap`");

    let broken = text.replace("    type: Opaque", "    type: [Opaque");
    let err = manifest::parse_sealed_secret(broken.as_bytes()).unwrap_err();
    assert!(err.to_string().starts_with("invalid YAML at line"), "{err}");
}

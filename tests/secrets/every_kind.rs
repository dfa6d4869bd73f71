//! One repository with every kind of secret Lockstep reconciles (SOPS, references,
//! SealedSecrets, kustomize generators, ExternalSecrets on OpenBao and Secrets Manager),
//! synced by the controller with debug logging; then a Vault rotation without a commit;
//! then everything the controller and the CLI said, wrote or served, searched for the
//! plaintext.

use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, DynamicObject, ListParams};
use kube::core::ApiResource;
use lockstep_testenv::{Canaries, ControlPlane, need, tool};

use super::{AWS_TEST, ONLY_DATA, Scene, secret_yaml};
use crate::support::eventually_within;

/// A value unique to this test, long enough to be found anywhere.
fn canary(kind: &str) -> String {
    format!("e2e-canary-{kind}-4f9c2a7d1b6e")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_repository_with_every_kind_of_secret() {
    let plane = need!(ControlPlane::shared().await);
    let Some(s) = Scene::start(plane, "e2e-secrets", "json").await else {
        return;
    };
    let (recipient, identity) = lockstep_testenv::age_keygen().unwrap();
    let age = ["--age", recipient.as_str()];
    let [
        by_age,
        by_transit,
        by_kms,
        config,
        kv,
        kv_rotated,
        kms_ref,
        sealed,
        env,
        file,
        es_vault,
        es_aws,
    ] = [
        "age",
        "transit",
        "kms",
        "config",
        "kv",
        "kv-rotated",
        "kms-ref",
        "sealed",
        "env",
        "file",
        "es-vault",
        "es-aws",
    ]
    .map(canary);

    // SOPS files wrapped by age, Vault transit and KMS; a fully encrypted ConfigMap.
    s.write_encrypted(
        "apps/age.yaml",
        &secret_yaml("by-age", "password", &by_age),
        &[&ONLY_DATA[..], &age].concat(),
    );
    s.write_encrypted(
        "apps/transit.yaml",
        &secret_yaml("by-transit", "password", &by_transit),
        &[&ONLY_DATA[..], &["--hc-vault-transit", &s.transit]].concat(),
    );
    s.write_encrypted(
        "apps/kms.yaml",
        &secret_yaml("by-kms", "password", &by_kms),
        &[&ONLY_DATA[..], &["--kms", &s.arn]].concat(),
    );
    let configmap = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  token: {config}\n  mode: \"on\"\n"
    );
    s.write_encrypted("apps/config.yaml", &configmap, &age);

    // References to Vault KV v2 and to a KMS ciphertext, refreshed every 3 s.
    let kv_body = |value: &str| serde_json::json!({"data": {"password": value}}).to_string();
    s.vault
        .post("/v1/secret/data/e2e/db", &kv_body(&kv))
        .await
        .unwrap();
    let blob = s
        .kms
        .encrypt(&s.arn, &[("app", "e2e")], kms_ref.as_bytes())
        .await
        .unwrap();
    s.repo
        .write(
            "apps/refs.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-refs\n  annotations:\n    lockstep.dev/resolve: enabled\n    lockstep.dev/refresh-interval: 3s\nstringData:\n  password: ref+vault://secret/e2e/db#password\n  api-key: ref+awskms://{blob}?key={}&context=app:e2e\n  host: db.internal\n",
                s.arn
            ),
        )
        .unwrap();

    // ExternalSecrets (ESO's API) reading OpenBao and Secrets Manager (moto), their stores
    // in the same folder; the stores' credentials are in the cluster, not in Git.
    s.vault
        .post("/v1/secret/data/e2e/es", &kv_body(&es_vault))
        .await
        .unwrap();
    s.kms
        .put_secret("e2e/es", Ok(es_aws.as_str()))
        .await
        .unwrap();
    s.repo
        .write(
            "apps/external.yaml",
            format!(
                "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: vault}}\n\
                 spec:\n  provider:\n    vault:\n      server: {}\n      path: secret\n      version: v2\n      \
                 auth: {{tokenSecretRef: {{name: es-keys, key: vault-token}}}}\n---\n\
                 apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: aws}}\n\
                 spec:\n  provider:\n    aws:\n      service: SecretsManager\n      region: us-east-1\n      \
                 auth: {{secretRef: {{accessKeyIDSecretRef: {{name: es-keys, key: id}}, \
                 secretAccessKeySecretRef: {{name: es-keys, key: secret}}}}}}\n---\n\
                 apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: from-vault}}\n\
                 spec:\n  secretStoreRef: {{name: vault, kind: SecretStore}}\n  \
                 data: [{{secretKey: password, remoteRef: {{key: e2e/es, property: password}}}}]\n---\n\
                 apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: from-aws}}\n\
                 spec:\n  secretStoreRef: {{name: aws, kind: SecretStore}}\n  \
                 data: [{{secretKey: token, remoteRef: {{key: e2e/es}}}}]\n",
                s.vault.addr()
            ),
        )
        .unwrap();

    // A SealedSecret, sealed by the CLI with the running controller's certificate.
    let lockstep = crate::built_binary("lockstep");
    let cert_url = format!("http://127.0.0.1:{}/v1/cert.pem", s.controller.api_port);
    let plain = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sealed", "namespace": s.ns},
        "stringData": {"token": sealed},
    });
    let out = run(
        Command::new(&lockstep)
            .args(["seal", "--cert", &cert_url, "-o", "yaml"])
            .stdin(std::process::Stdio::piped()),
        Some(plain.to_string().as_bytes()),
    );
    s.repo.write("apps/sealed.yaml", &out.stdout).unwrap();

    // A kustomize overlay whose generator sources are SOPS files.
    s.write_encrypted(
        "overlay/app.env",
        &format!("API_TOKEN={env}\nMODE=prod\n"),
        &age,
    );
    let settings = format!(
        "database:\n    url: postgres://app:{file}@db.internal:5432/app?sslmode=require&application_name=lockstep-e2e\n"
    );
    s.write_encrypted("overlay/config.yaml", &settings, &age);
    s.repo
        .write(
            "overlay/kustomization.yaml",
            "secretGenerator:\n- name: app-env\n  envs: [app.env]\n- name: app-files\n  files: [config.yaml]\n",
        )
        .unwrap();
    let head = s.repo.commit("every kind of secret").unwrap();

    s.put_secret(
        "sops-keys",
        &[
            ("team.agekey", identity.as_bytes()),
            ("sops.vault-token", s.vault.token().as_bytes()),
            ("sops.aws-kms", AWS_TEST),
            ("vault.address", s.vault.addr().as_bytes()),
        ],
    )
    .await;
    s.put_secret(
        "es-keys",
        &[
            ("vault-token", s.vault.token().as_bytes()),
            ("id", b"test"),
            ("secret", b"test"),
        ],
    )
    .await;
    s.source().await;
    s.sync("apps", "apps", "sops-keys").await;
    s.sync("overlay", "overlay", "sops-keys").await;
    let apps = s.applied("apps", &head).await;
    s.applied("overlay", &head).await;
    assert_eq!(apps.inventory.len(), 10, "{:?}", apps.inventory);

    // Every target holds exactly its plaintext.
    for (name, value) in [
        ("by-age", &by_age),
        ("by-transit", &by_transit),
        ("by-kms", &by_kms),
    ] {
        assert_eq!(&s.value(name, "password").await, value, "Secret {name}");
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let data = configmaps.get("settings").await.unwrap().data.unwrap();
    assert_eq!(data["token"], config);
    assert_eq!(data["mode"], "on");
    assert_eq!(s.value("from-refs", "password").await, kv);
    assert_eq!(s.value("from-refs", "api-key").await, kms_ref);
    assert_eq!(s.value("from-refs", "host").await, "db.internal");
    assert_eq!(s.value("sealed", "token").await, sealed);
    eventually_within(
        "the ExternalSecrets' Secrets",
        Duration::from_secs(30),
        async || {
            let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
            let (vault, aws) = (secrets.get_opt("from-vault"), secrets.get_opt("from-aws"));
            let (vault, aws) = tokio::join!(vault, aws);
            let value = |secret: Option<Secret>, key: &str| {
                secret.map(|secret| crate::support::value(&secret, key))
            };
            value(vault.unwrap(), "password").as_ref() == Some(&es_vault)
                && value(aws.unwrap(), "token").as_ref() == Some(&es_aws)
        },
    )
    .await;
    let generated = |prefix: &'static str| {
        let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
        async move {
            let list = secrets.list(&ListParams::default()).await.unwrap();
            list.items
                .into_iter()
                .find(|x| x.metadata.name.as_deref().unwrap().starts_with(prefix))
                .unwrap_or_else(|| panic!("no Secret {prefix}*"))
        }
    };
    let app_env = generated("app-env-").await;
    assert_eq!(crate::support::value(&app_env, "API_TOKEN"), env);
    assert_eq!(crate::support::value(&app_env, "MODE"), "prod");
    let decrypted = run(
        Command::new(tool("sops").unwrap())
            .current_dir(s.repo.work_tree())
            .env("SOPS_AGE_KEY", &identity)
            .args(["--decrypt", "overlay/config.yaml"]),
        None,
    );
    let app_files = generated("app-files-").await;
    assert_eq!(
        app_files.data.unwrap()["config.yaml"].0,
        decrypted.stdout,
        "the generator's file is `sops -d`'s"
    );

    // A value rotated in Vault reaches the cluster at the refresh interval, no commit.
    s.vault
        .post("/v1/secret/data/e2e/db", &kv_body(&kv_rotated))
        .await
        .unwrap();
    let rotated = Instant::now();
    eventually_within(
        "the rotated Vault value in Secret from-refs",
        Duration::from_secs(10),
        async || s.value("from-refs", "password").await == kv_rotated,
    )
    .await;
    eprintln!("rotation reached the cluster in {:?}", rotated.elapsed());
    let after = s.status("apps").await;
    assert_eq!(after.last_applied_revision, apps.last_applied_revision);
    assert_eq!(s.repo.git(&["rev-parse", "HEAD"]).unwrap().trim(), head);

    // The next refresh resolves the same values and leaves the Secret alone.
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let version = |secret: Secret| secret.metadata.resource_version.unwrap();
    let before = version(secrets.get("from-refs").await.unwrap());
    let resolves = || s.controller.log().matches("resolved references").count();
    let seen = resolves();
    eventually_within("one more refresh", Duration::from_secs(10), async || {
        resolves() > seen
    })
    .await;
    assert_eq!(version(secrets.get("from-refs").await.unwrap()), before);

    // The leak test: nothing but the target objects holds a value.
    let canaries = Canaries::new([
        by_age.clone(),
        by_transit,
        by_kms,
        config,
        kv,
        kv_rotated,
        kms_ref,
        sealed,
        env,
        file,
        es_vault,
        es_aws,
        identity.clone(),
        s.vault.token().to_owned(),
    ]);
    // The search finds a value inside a larger base64 blob: the generated file's Secret.
    let file_secret = serde_json::to_string(&generated("app-files-").await).unwrap();
    assert!(canaries.found(&file_secret).is_some());
    let cli_env = {
        let mut vars = s.tool_env();
        vars.push(("SOPS_AGE_KEY", identity.clone()));
        vars.push(("KUBECONFIG", plane.kubeconfig_path().display().to_string()));
        vars
    };
    let cli = |args: &[&str]| {
        let out = Command::new(&lockstep)
            .current_dir(s.repo.work_tree())
            .env_clear()
            .envs(cli_env.clone())
            .args(args)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    for path in ["apps", "overlay"] {
        let (code, text) = cli(&["render", path, "--target-namespace", &s.ns]);
        assert_eq!(code, Some(0), "{text}");
        canaries.assert_absent(&format!("lockstep render {path}"), &text);
    }
    // An uncommitted edit, so that the diff has a changed value to hide.
    s.write_encrypted(
        "apps/age.yaml",
        &secret_yaml("by-age", "password", &canary("age-edited")),
        &[&ONLY_DATA[..], &age].concat(),
    );
    let edited = Canaries::new([canary("age-edited")]);
    for path in ["apps", "overlay"] {
        let args = ["diff", path, "--name", path, "--target-namespace", &s.ns];
        let (code, text) = cli(&[&args[..], &["--inventory-namespace", &s.ns]].concat());
        assert!(matches!(code, Some(0 | 1)), "lockstep diff {path}: {text}");
        canaries.assert_absent(&format!("lockstep diff {path}"), &text);
        edited.assert_absent(&format!("lockstep diff {path}"), &text);
        if path == "apps" {
            assert!(text.contains("[redacted, after]"), "{text}");
        }
    }
    s.repo.git(&["checkout", "--", "apps/age.yaml"]).unwrap();

    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    assert!(!events.items.is_empty());
    canaries.assert_absent("events", &serde_json::to_string(&events).unwrap());
    for (group, kind) in [
        ("lockstep.dev/v1alpha1", "Sync"),
        ("lockstep.dev/v1alpha1", "GitSource"),
        ("external-secrets.io/v1", "ExternalSecret"),
        ("external-secrets.io/v1", "SecretStore"),
    ] {
        let (group_name, version) = group.split_once('/').unwrap();
        let resource = ApiResource {
            group: group_name.into(),
            version: version.into(),
            api_version: group.into(),
            kind: kind.into(),
            plural: format!("{}s", kind.to_lowercase()),
        };
        let api: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.ns, &resource);
        let list = api.list(&ListParams::default()).await.unwrap();
        canaries.assert_absent(kind, &serde_json::to_string(&list).unwrap());
    }
    let metrics =
        lockstep_testenv::http::request(s.controller.metrics_port, "GET", "/metrics", &[], "")
            .await
            .unwrap();
    assert!(metrics.body.contains("lockstep_"), "{}", metrics.body);
    canaries.assert_absent("/metrics", &metrics.body);
    let log = s.controller.log();
    assert!(
        log.contains("DEBUG"),
        "the controller logged at debug level"
    );
    let files = canaries.assert_absent_in_files(s.controller.workdir())
        + canaries.assert_absent_in_files(&s.artifacts);
    eprintln!(
        "leak check: {} events, {} log bytes, {files} files",
        events.items.len(),
        log.len()
    );
}

/// Runs `command` (with `stdin`), asserting success.
fn run(command: &mut Command, stdin: Option<&[u8]>) -> std::process::Output {
    use std::io::Write as _;
    let mut child = command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

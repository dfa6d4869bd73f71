//! Decrypted values in objects the API server refuses (the probe's C3b–C9): the server
//! quotes the values back — Go-escaped (`\x01`, `\u00a0`), at any length, inside a
//! `Status` that kube-client logs at debug — and none of it may reach the Sync's status,
//! its events, the controller's log (at `trace`, every crate) or a file. A plaintext object
//! refused the same way is the positive control: its value does show, so the search works.

use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use lockstep_testenv::{Canaries, ControlPlane, need};

use super::Scene;

/// `(Sync and folder, the value, sops' --encrypted-regex, the manifest, what the status
/// must name)`; the manifest has `{value}` where the value goes.
const CASES: [(&str, &str, &str, &str, &str); 7] = [
    (
        "c3b",
        "CANARY-C3bsops-5e6f",
        "^value$",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c3b}\nspec:\n  selector: {matchLabels: {app: c3b}}\n  template:\n    metadata: {labels: {app: c3b}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        env: {name: PW, value: \"{value}\"}\n",
        ".spec.template.spec.containers",
    ),
    (
        "c4",
        "CANARY-C4nested-0a9c",
        "^data$",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c4}\ndata: {nested: {inner: \"{value}\"}}\n",
        ".data.nested: expected string",
    ),
    (
        "c5",
        "7351904628461937",
        "^stringData$",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: c5}\nstringData: {pin: {value}}\n",
        ".stringData.pin: expected string",
    ),
    (
        "c6",
        "CANARY-C6ctl-\u{1}-tail-b3",
        "^data$",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c6}\ndata: {nested: {inner: \"{value}\"}}\n",
        ".data.nested: expected string",
    ),
    (
        "c7",
        "CANARY C7label \u{1} d4",
        "^labels$",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c7\n  labels: {token: \"{value}\"}\n",
        "metadata.labels: FieldValueInvalid",
    ),
    (
        "c8",
        "",
        "^labels$",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c8\n  labels: {token: \"{value}\"}\n",
        "metadata.labels: FieldValueInvalid",
    ),
    (
        "c9",
        "CANARY-C9nbsp-\u{a0}-zw\u{200b}-e5",
        "^labels$",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c9\n  labels: {token: \"{value}\"}\n",
        "metadata.labels: FieldValueInvalid",
    ),
];

/// The probe's 614-character value: long enough that the old 400-character cut of the
/// message left a prefix of it.
fn long_value() -> String {
    let tail: String = (0..150).map(|i| format!("-{i:03}")).collect();
    format!("CANARY-C8long{tail}")
}

/// A value as YAML writes it inside double quotes.
fn yaml_escaped(value: &str) -> String {
    value
        .chars()
        .map(|c| match c {
            '\u{1}' => "\\x01".to_owned(),
            '\u{a0}' => "\\u00a0".to_owned(),
            '\u{200b}' => "\\u200b".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn values_in_refused_objects_reach_no_status_event_log_or_file() {
    let plane = need!(ControlPlane::shared().await);
    let Some(s) = Scene::start(plane, "e2e-secrets-refused", "json").await else {
        return;
    };
    let (recipient, identity) = lockstep_testenv::age_keygen().unwrap();
    let long = long_value();
    let mut values = Vec::new();
    for (name, value, regex, manifest, _) in CASES {
        let value = if name == "c8" {
            long.clone()
        } else {
            value.to_owned()
        };
        let text = manifest.replace("{value}", &yaml_escaped(&value));
        s.write_encrypted(
            &format!("{name}/object.yaml"),
            &text,
            &["--encrypted-regex", regex, "--age", &recipient],
        );
        values.push(value);
    }
    // The positive control: the same kind of refusal for a value that is plaintext in Git
    // (not a secret, so the server's message is shown, Go-escaped, with the value).
    let plain = "\u{a0}PLAIN-C3a-ctl-7d2e";
    s.repo
        .write(
            "c3a/object.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c3a\n  labels: {{token: \"{}\"}}\n",
                yaml_escaped(plain)
            ),
        )
        .unwrap();
    s.repo.commit("objects the API server refuses").unwrap();
    s.put_secret("sops-keys", &[("team.agekey", identity.as_bytes())])
        .await;
    s.source().await;
    for (name, ..) in CASES {
        s.sync(name, name, "sops-keys").await;
    }
    s.sync("c3a", "c3a", "sops-keys").await;

    let (shown, _) = s.failed("c3a", "ReconciliationFailed").await;
    let control = Canaries::new([plain.to_owned()]);
    assert!(
        control.found(&shown).is_some(),
        "the plaintext value shows, Go-escaped: {shown}"
    );
    for (name, .., field) in CASES {
        let (message, _) = s.failed(name, "ReconciliationFailed").await;
        eprintln!("Sync {name}: {message}");
        assert!(message.contains(&format!("/{name}:")), "{name}: {message}");
        assert!(message.contains(field), "{name}: want {field:?}: {message}");
        assert!(message.contains("message withheld"), "{name}: {message}");
    }
    // Each refused object is retried every second: let a few more retries log.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;

    let mut canaries = values;
    canaries.push(identity);
    let canaries = Canaries::new(canaries);
    for (name, ..) in CASES {
        let status = serde_json::to_string(&s.status(name).await).unwrap();
        canaries.assert_absent(&format!("status of Sync {name}"), &status);
    }
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let events =
        serde_json::to_string(&events.list(&ListParams::default()).await.unwrap()).unwrap();
    assert!(
        control.found(&events).is_some(),
        "the control's event is searched"
    );
    canaries.assert_absent("events", &events);

    let log = s.controller.log();
    // kube-client logged each refusal, values and all; the writer scrubbed them.
    let refusals = log
        .lines()
        .filter(|l| l.contains("Unsuccessful") && l.contains("[redacted]"))
        .count();
    assert!(
        refusals >= CASES.len(),
        "{refusals} scrubbed refusals in the log"
    );
    assert!(log.contains("TRACE"), "the controller logged at trace");
    assert!(
        control.found(&log).is_some(),
        "the control's value is in the log"
    );
    canaries.assert_absent("the controller log", &log);
    let files = canaries.assert_absent_in_files(s.controller.workdir())
        + canaries.assert_absent_in_files(&s.artifacts);
    eprintln!(
        "leak check (refused objects): {} log bytes, {} log lines, {refusals} scrubbed refusals, {files} files",
        log.len(),
        log.lines().count()
    );
}

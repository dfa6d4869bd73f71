//! Server-side apply against the real kube-apiserver: create, no-change (no writes),
//! drift, staged CRD + custom resource + Namespace, immutable fields with and without
//! force. Each test has its own namespace.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use lockstep_engine::apply::{Action, ApplyError, ApplyOptions, ChangeSet, apply};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, need};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn rendered(root: &Path, ns: &str) -> Vec<Manifest> {
    render(
        root,
        "",
        &RenderOptions {
            owner: Some(Owner::lockstep("apps", ns)),
            target_namespace: Some(ns.into()),
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests
}

const APP: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello, enabled: "on"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: web
      containers: [{name: web, image: registry.invalid/web:1}]
"#;

fn actions(changes: &ChangeSet) -> Vec<(String, Action)> {
    changes
        .changes
        .iter()
        .map(|c| (format!("{}/{}", c.object.kind, c.object.name), c.action))
        .collect()
}

/// Per object: its resourceVersion (except for kinds whose controllers write status on
/// their own) and our field manager's managed-fields entry (time and fields), which only
/// our writes change.
async fn our_writes(client: &Client, ns: &str, changes: &ChangeSet) -> Vec<String> {
    let mut out = Vec::new();
    for c in &changes.changes {
        let gvk = GroupVersionKind::gvk(&c.object.group, &c.object.version, &c.object.kind);
        let (ar, caps) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
        let api: Api<DynamicObject> = if caps.scope == kube::discovery::Scope::Namespaced {
            Api::namespaced_with(client.clone(), ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let live = api.get(&c.object.name).await.unwrap();
        if c.object.kind != "Deployment" {
            out.push(live.metadata.resource_version.unwrap());
        }
        let ours = live
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.manager.as_deref() == Some("lockstep"))
            .expect("a managed-fields entry of ours");
        out.push(format!("{:?} {:?}", ours.time, ours.fields_v1));
    }
    out
}

#[tokio::test]
async fn create_then_no_change_writes_nothing_then_drift_configures() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-basic").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app.yaml", APP);
    let options = ApplyOptions::default();

    let created = apply(&client, &rendered(dir.path(), &ns), &options)
        .await
        .unwrap();
    // Sorted by the kind table: ServiceAccount, ConfigMap, Service, Deployment.
    assert_eq!(
        actions(&created),
        [
            ("ServiceAccount/web".to_owned(), Action::Created),
            ("ConfigMap/settings".to_owned(), Action::Created),
            ("Service/web".to_owned(), Action::Created),
            ("Deployment/web".to_owned(), Action::Created),
        ]
    );
    let before = our_writes(&client, &ns, &created).await;

    let again = apply(&client, &rendered(dir.path(), &ns), &options)
        .await
        .unwrap();
    assert!(
        again.changes.iter().all(|c| c.action == Action::Unchanged),
        "{:?}",
        actions(&again)
    );
    assert_eq!(again.writes(), 0);
    assert_eq!(our_writes(&client, &ns, &again).await, before);

    write(
        dir.path(),
        "app.yaml",
        &APP.replace("greeting: hello", "greeting: bonjour"),
    );
    let drift = apply(&client, &rendered(dir.path(), &ns), &options)
        .await
        .unwrap();
    assert_eq!(
        drift.action_of(&format!("/ConfigMap/{ns}/settings")),
        Some(Action::Configured)
    );
    assert_eq!(drift.writes(), 1, "{:?}", actions(&drift));
    let cm = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("settings")
        .await
        .unwrap();
    let data = cm.data.unwrap();
    assert_eq!(data["greeting"], "bonjour");
    assert_eq!(data["enabled"], "on");
    let labels = cm.metadata.labels.unwrap();
    assert_eq!(labels["lockstep.dev/name"], "apps");

    // A manual change to a field Git sets is drift, reverted by the next apply.
    let manual = serde_json::json!({"data": {"greeting": "edited"}});
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .patch("settings", &PatchParams::default(), &Patch::Merge(&manual))
        .await
        .unwrap();
    let healed = apply(&client, &rendered(dir.path(), &ns), &options)
        .await
        .unwrap();
    assert_eq!(healed.writes(), 1, "{:?}", actions(&healed));
    let cm = Api::<ConfigMap>::namespaced(client, &ns)
        .get("settings")
        .await
        .unwrap();
    assert_eq!(cm.data.unwrap()["greeting"], "bonjour");
}

#[tokio::test]
async fn crd_namespace_and_custom_resource_apply_in_one_go() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-crd").await.unwrap();
    let group = format!("{ns}.example.com");
    let extra = format!("{ns}-extra");
    let dir = tempfile::tempdir().unwrap();
    // Files named so that path order is the wrong order: the CR and the object in the new
    // namespace come first.
    write(
        dir.path(),
        "a-widget.yaml",
        &format!(
            "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w1}}\nspec: {{size: 3}}\n"
        ),
    );
    write(
        dir.path(),
        "b-in-extra.yaml",
        &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: {extra}}}\n"),
    );
    write(
        dir.path(),
        "c-crd.yaml",
        &format!(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
"#
        ),
    );
    write(
        dir.path(),
        "d-ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {extra}}}\n"),
    );
    let manifests = render(
        dir.path(),
        "",
        &RenderOptions {
            owner: Some(Owner::lockstep("crd", ns.clone())),
            target_namespace: None,
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests;
    // The widget goes to the test namespace; the ConfigMap keeps its own.
    let mut manifests = manifests;
    manifests[0].object["metadata"]["namespace"] = ns.clone().into();

    let changes = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        actions(&changes),
        [
            (
                "CustomResourceDefinition".to_owned() + "/widgets." + &group,
                Action::Created
            ),
            (format!("Namespace/{extra}"), Action::Created),
            ("ConfigMap/x".to_owned(), Action::Created),
            ("Widget/w1".to_owned(), Action::Created),
        ]
    );
    let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, "v1", "Widget"));
    let widget = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar)
        .get("w1")
        .await
        .unwrap();
    assert_eq!(widget.data["spec"]["size"], 3);

    let again = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(again.writes(), 0, "{:?}", actions(&again));

    // A field the CRD gains in the same revision as the widget that sets it: the widget's
    // dry-run before the CRD is updated fails, so it is checked after stage 1 instead.
    let mut manifests = manifests;
    let crd = manifests
        .iter_mut()
        .find(|m| m.kind() == "CustomResourceDefinition")
        .unwrap();
    crd.object["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["color"] = serde_json::json!({"type": "string"});
    let widget = manifests.iter_mut().find(|m| m.kind() == "Widget").unwrap();
    widget.object["spec"]["color"] = "blue".into();
    let changed = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        changed.action_of(&format!("{group}/Widget/{ns}/w1")),
        Some(Action::Configured),
        "{:?}",
        actions(&changed)
    );
    let widget = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &ar)
        .get("w1")
        .await
        .unwrap();
    assert_eq!(widget.data["spec"]["color"], "blue");
}

#[tokio::test]
async fn immutable_change_fails_naming_object_and_field_then_force_recreates() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-immutable").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: frozen}\nimmutable: true\ndata: {v: one}\n";
    let job = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: once}\nspec:\n  suspend: true\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: registry.invalid/job:1}]\n";
    write(dir.path(), "cm.yaml", cm);
    write(dir.path(), "job.yaml", job);
    apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap();

    write(dir.path(), "cm.yaml", &cm.replace("v: one", "v: two"));
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApplyError::ImmutableField { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("ConfigMap/{ns}/frozen")),
        "{message}"
    );
    assert!(message.contains("data"), "{message}");
    assert!(!message.contains("two"), "{message}");

    // The Job's pod template is immutable too.
    write(dir.path(), "cm.yaml", cm);
    write(dir.path(), "job.yaml", &job.replace("job:1", "job:2"));
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&format!("Job/{ns}/once:")), "{message}");
    assert!(message.contains("spec.template"), "{message}");

    // With force both are deleted and created again.
    write(dir.path(), "cm.yaml", &cm.replace("v: one", "v: two"));
    let uid_before = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("frozen")
        .await
        .unwrap()
        .metadata
        .uid;
    let forced = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    let changes = apply(&client, &rendered(dir.path(), &ns), &forced)
        .await
        .unwrap();
    assert_eq!(
        changes.action_of(&format!("/ConfigMap/{ns}/frozen")),
        Some(Action::Replaced)
    );
    assert_eq!(
        changes.action_of(&format!("batch/Job/{ns}/once")),
        Some(Action::Replaced)
    );
    let live = Api::<ConfigMap>::namespaced(client, &ns)
        .get("frozen")
        .await
        .unwrap();
    assert_eq!(live.data.unwrap()["v"], "two");
    assert_ne!(live.metadata.uid, uid_before);
}

#[tokio::test]
async fn unknown_kind_and_missing_namespace_are_named() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-unknown").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "x.yaml",
        "apiVersion: nothing.example.com/v1\nkind: Ghost\nmetadata: {name: boo}\n",
    );
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApplyError::UnknownKind { .. }), "{err:?}");
    assert!(err.to_string().contains("Ghost"), "{err}");

    // Found before the first write: the Namespace of the same revision is not created.
    write(
        dir.path(),
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}-partial}}\n"),
    );
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApplyError::UnknownKind { .. }), "{err:?}");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    assert!(
        namespaces
            .get_opt(&format!("{ns}-partial"))
            .await
            .unwrap()
            .is_none(),
        "the Namespace was written before the unknown kind was found"
    );
    std::fs::remove_file(dir.path().join("ns.yaml")).unwrap();

    // A namespace that neither exists nor comes with the apply is named up front.
    write(
        dir.path(),
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lonely, namespace: missing-ns}\n",
    );
    let manifests = render(dir.path(), "", &RenderOptions::default())
        .unwrap()
        .manifests;
    let err = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ApplyError::NamespaceNotFound { namespace, .. } if namespace == "missing-ns"),
        "{err:?}"
    );

    write(
        dir.path(),
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    let manifests = render(dir.path(), "", &RenderOptions::default())
        .unwrap()
        .manifests;
    let err = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApplyError::MissingNamespace { .. }),
        "{err:?}"
    );
}

/// Not a benchmark, a measurement printed with the test output: 100 objects.
#[tokio::test]
async fn hundred_objects_apply_and_no_change_apply_timing() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-many").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:03}}}\ndata: {{i: \"{i}\"}}\n"
        ));
    }
    write(dir.path(), "many.yaml", &text);
    let manifests = rendered(dir.path(), &ns);
    let start = Instant::now();
    let created = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    let create_time = start.elapsed();
    assert_eq!(created.writes(), 100);
    let start = Instant::now();
    let again = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    let noop_time = start.elapsed();
    assert_eq!(again.writes(), 0);
    eprintln!("apply of 100 new ConfigMaps: {create_time:?}; no-change apply: {noop_time:?}");
    assert!(noop_time < Duration::from_secs(60));
}

#[tokio::test]
async fn a_refused_secret_never_shows_its_data_in_the_error() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-secret").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Valid first, then an update the API server refuses (type is immutable) while the
    // request carries the canary value.
    write(
        dir.path(),
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ntype: Opaque\nstringData: {password: canary-old}\n",
    );
    apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap();
    write(
        dir.path(),
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ntype: kubernetes.io/basic-auth\nstringData: {password: canary-new}\n",
    );
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(text.contains(&format!("Secret/{ns}/db")), "{text}");
    assert!(!text.contains("canary"), "{text}");

    // A Secret with a bad name: the server's message is withheld, the field path kept.
    write(
        dir.path(),
        "s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: Bad_Name}\ndata: {password: Y2FuYXJ5LWJhZA==}\nstringData: {token: canary-token}\n",
    );
    let err = apply(
        &client,
        &rendered(dir.path(), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains("canary") && !text.contains("Y2FuYXJ5"),
        "{text}"
    );
    assert!(text.contains("message withheld"), "{text}");
}

/// The probe's C3b–C9: objects whose values came from the secrets stage, refused by the
/// API server, which quotes the values back in Go's spelling (`\x01`, `\u00a0`) or at a
/// length the old 400-character cut left a prefix of. The error names the object and the
/// field, never a value; the same objects without the mark show the server's message
/// (the test can fail).
#[tokio::test]
async fn a_refused_object_holding_secret_values_never_quotes_them() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-withheld").await.unwrap();
    let long: String = (0..150).map(|i| format!("-{i:03}")).collect();
    let cases = [
        (
            "c3b",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: c3b}\nspec:\n  selector: {matchLabels: {app: c3b}}\n  template:\n    metadata: {labels: {app: c3b}}\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        env: {name: PW, value: CANARY-C3bsops-5e6f}\n"
                .to_owned(),
            ".spec.template.spec.containers",
        ),
        (
            "c4",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c4}\ndata: {nested: {inner: CANARY-C4nested-0a9c}}\n".to_owned(),
            ".data.nested: expected string",
        ),
        (
            "c5",
            "apiVersion: v1\nkind: Secret\nmetadata: {name: c5}\nstringData: {pin: 73519046}\n".to_owned(),
            ".stringData.pin: expected string",
        ),
        (
            "c6",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c6}\ndata: {nested: {inner: \"CANARY-C6ctl-\\x01-tail-b3\"}}\n".to_owned(),
            ".data.nested: expected string",
        ),
        (
            "c7",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c7\n  labels: {token: \"CANARY C7label \\x01 d4\"}\n".to_owned(),
            "metadata.labels: FieldValueInvalid",
        ),
        (
            "c8",
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c8\n  labels: {{token: \"CANARY-C8long{long}\"}}\n"),
            "metadata.labels: FieldValueInvalid",
        ),
        (
            "c9",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c9\n  labels: {token: \"CANARY-C9nbsp-\\u00a0-zw\\u200b-e5\"}\n".to_owned(),
            "metadata.labels: FieldValueInvalid",
        ),
    ];
    for (name, yaml, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "o.yaml", &yaml);
        let mut manifests = rendered(dir.path(), &ns);
        let refused = async |manifests: &[Manifest]| {
            let err = apply(&client, manifests, &ApplyOptions::default())
                .await
                .unwrap_err();
            format!("{err} {err:?}")
        };
        if name != "c5" {
            let shown = refused(&manifests).await;
            assert!(
                shown.contains("CANARY"),
                "{name}: without the mark the server's message is shown: {shown}"
            );
        }
        manifests[0].holds_secrets = true;
        let text = refused(&manifests).await;
        eprintln!("{name}: {text}");
        for leak in ["CANARY", "Q0FOQVJZ", "73519046", "C8long", "-001-002"] {
            assert!(!text.contains(leak), "{name}: {leak:?} in {text}");
        }
        assert!(text.contains(&format!("/{ns}/{name}")), "{name}: {text}");
        assert!(text.contains(field), "{name}: want {field:?} in {text}");
        assert!(text.contains("message withheld"), "{name}: {text}");
    }
}

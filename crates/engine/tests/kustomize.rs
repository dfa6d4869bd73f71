//! Rendering kustomizations with the real kustomize (v5.7.1, from the test environment):
//! an overlay over a base with a name prefix, a patch and a generated ConfigMap; a plain
//! folder with a kustomization below it; SOPS-encrypted files passed through untouched;
//! and refused or failing builds whose errors name the kustomization without its data.

use std::path::Path;

use lockstep_engine::render::{Manifest, Owner, RenderError, RenderOptions, render};
use lockstep_testenv::{need, tool};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

const BASE: &[(&str, &str)] = &[
    (
        "base/kustomization.yaml",
        "resources: [deployment.yaml, service.yaml]\n",
    ),
    (
        "base/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: registry.invalid/web:1
        envFrom: [{configMapRef: {name: settings}}]
"#,
    ),
    (
        "base/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n",
    ),
    (
        "prod/kustomization.yaml",
        r#"resources: [../base]
namePrefix: prod-
patches:
- path: replicas.yaml
configMapGenerator:
- name: settings
  literals: [GREETING=hello, ENABLED=on]
"#,
    ),
    (
        "prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
    ),
];

fn source() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in BASE {
        write(dir.path(), path, text);
    }
    dir
}

fn named<'a>(manifests: &'a [Manifest], kind: &str) -> &'a Manifest {
    manifests.iter().find(|m| m.kind() == kind).unwrap()
}

#[test]
fn overlay_with_prefix_patch_and_generator() {
    need!(tool("kustomize"));
    let dir = source();
    let options = RenderOptions {
        owner: Some(Owner::lockstep("apps", "lockstep-system")),
        target_namespace: Some("team-a".into()),
        overlay: None,
        directory: None,
    };
    let manifests = render(dir.path(), "prod", &options).unwrap().manifests;

    let kinds: Vec<(&str, String, usize)> = manifests
        .iter()
        .map(|m| (m.kind(), m.file.display().to_string(), m.document))
        .collect();
    assert_eq!(
        kinds,
        [
            ("ConfigMap", "kustomization.yaml".to_owned(), 0),
            ("Service", "kustomization.yaml".to_owned(), 1),
            ("Deployment", "kustomization.yaml".to_owned(), 2),
        ]
    );
    let deployment = named(&manifests, "Deployment");
    assert_eq!(deployment.name(), "prod-web");
    assert_eq!(deployment.object["spec"]["replicas"], 3);
    assert_eq!(deployment.namespace(), Some("team-a"));
    assert_eq!(
        deployment.object["metadata"]["labels"]["lockstep.dev/name"],
        "apps"
    );

    // The generated ConfigMap has a content hash in its name, and kustomize rewrote the
    // Deployment's reference to it.
    let config = named(&manifests, "ConfigMap");
    let name = config.name();
    let hash = name.strip_prefix("prod-settings-").unwrap();
    assert_eq!(hash.len(), 10, "{name}");
    assert_eq!(
        deployment.object["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]
            ["name"],
        name
    );
    // `on` written in a literal stays the string kustomize made of it.
    assert_eq!(config.object["data"]["ENABLED"], "on");
    assert_eq!(config.object["data"]["GREETING"], "hello");

    // A changed literal is a new ConfigMap name (that is how kustomize rolls Deployments).
    write(
        dir.path(),
        "prod/kustomization.yaml",
        &BASE[3].1.replace("GREETING=hello", "GREETING=bonjour"),
    );
    let again = render(dir.path(), "prod", &options).unwrap().manifests;
    assert_ne!(named(&again, "ConfigMap").name(), name);
}

#[test]
fn plain_folder_with_a_kustomization_below_it() {
    need!(tool("kustomize"));
    let dir = source();
    write(
        dir.path(),
        "zz-extra.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n",
    );
    let manifests = render(dir.path(), "", &RenderOptions::default())
        .unwrap()
        .manifests;
    let found: Vec<(String, &str)> = manifests
        .iter()
        .map(|m| (m.file.display().to_string(), m.name()))
        .collect();
    // base/ and prod/ are each built once (base also as prod's base, under another
    // name); nothing inside them is read as a plain file.
    assert_eq!(found.len(), 6, "{found:?}");
    assert!(found.contains(&("base/kustomization.yaml".into(), "web")));
    assert!(found.contains(&("prod/kustomization.yaml".into(), "prod-web")));
    assert_eq!(found[5], ("zz-extra.yaml".into(), "extra"));
}

#[test]
fn sops_encrypted_files_pass_through_encrypted() {
    need!(tool("kustomize"));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/kustomization.yaml",
        "resources: [secret.enc.yaml]\nnamePrefix: prod-\n",
    );
    let encrypted = "ENC[AES256_GCM,data:3q2+7w==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]";
    write(
        dir.path(),
        "app/secret.enc.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData:\n  password: {encrypted}\nsops:\n  mac: {encrypted}\n  lastmodified: \"2026-01-01T00:00:00Z\"\n  version: 3.13.3\n"
        ),
    );
    let manifests = render(dir.path(), "app", &RenderOptions::default())
        .unwrap()
        .manifests;
    let secret = &manifests[0].object;
    assert_eq!(secret["metadata"]["name"], "prod-db");
    assert_eq!(secret["stringData"]["password"], encrypted);
    assert_eq!(secret["sops"]["mac"], encrypted);
}

#[test]
fn failing_builds_name_the_kustomization_and_not_the_data() {
    need!(tool("kustomize"));
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a/kustomization.yaml",
        "resources: [missing.yaml]\n",
    );
    let err = render(dir.path(), "a", &RenderOptions::default()).unwrap_err();
    assert!(
        matches!(&err, RenderError::KustomizeReference { entry, .. } if entry == "missing.yaml"),
        "{err}"
    );

    // Kustomize itself quotes a literal without `=`; the canary must not come through.
    let canary = "CanaryValueXJ7";
    write(
        dir.path(),
        "b/kustomization.yaml",
        &format!("secretGenerator:\n- name: s\n  literals: [{canary}]\n"),
    );
    let err = render(dir.path(), "b", &RenderOptions::default()).unwrap_err();
    let RenderError::Kustomize { path, reason } = &err else {
        panic!("expected a kustomize error, got {err}");
    };
    assert_eq!(path, Path::new("kustomization.yaml"));
    assert!(reason.contains("invalid literal source"), "{reason}");
    assert!(!err.to_string().contains(canary), "{err}");

    // An object dump in the message loses its values.
    write(dir.path(), "c/kustomization.yaml", "resources: [s.yaml]\n");
    write(
        dir.path(),
        "c/s.yaml",
        &format!("apiVersion: v1\nkind: Secret\nmetadata: {{labels: {{x: {canary}}}}}\n"),
    );
    let err = render(dir.path(), "c", &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("missing metadata.name"), "{err}");
    assert!(!err.to_string().contains(canary), "{err}");
}

#[test]
fn remote_and_escaping_bases_are_refused_before_kustomize_runs() {
    need!(tool("kustomize"));
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("github.com/example/repo//deploy?ref=v1", "is remote"),
        ("https://example.invalid/deploy.yaml", "is remote"),
        ("../../outside", "leaves the source"),
        ("../nested", "does not exist"),
    ];
    for (entry, reason) in cases {
        write(
            dir.path(),
            "src/app/kustomization.yaml",
            &format!("resources: [{entry}]\n"),
        );
        let err = render(&dir.path().join("src"), "app", &RenderOptions::default()).unwrap_err();
        assert!(
            matches!(&err, RenderError::KustomizeReference { entry: e, .. } if e == entry),
            "{entry}: {err}"
        );
        assert!(err.to_string().contains(reason), "{err}");
    }
    // A base two levels down that escapes is caught too.
    write(
        dir.path(),
        "src/app/kustomization.yaml",
        "resources: [../base]\n",
    );
    write(
        dir.path(),
        "src/base/kustomization.yaml",
        "resources: [../../outside]\n",
    );
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    let err = render(&dir.path().join("src"), "app", &RenderOptions::default()).unwrap_err();
    assert!(err.to_string().contains("leaves the source"), "{err}");
    assert!(
        err.to_string().starts_with("base/kustomization.yaml"),
        "{err}"
    );
}

/// A Flux Kustomization's fields, written into the kustomization at the path (here
/// generated, as Flux generates one for a plain folder) in a private copy of the source:
/// the source is left as it was, the copy is gone afterwards, and the inputs the secrets
/// stage reads name the source's files.
#[test]
fn flux_overlay_is_built_from_a_private_copy() {
    need!(tool("kustomize"));
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("artifact");
    for (path, text) in BASE {
        write(&root, path, text);
    }
    write(
        &root,
        "plain/settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {a: '1'}\n",
    );
    write(
        &root,
        "plain/app/kustomization.yaml",
        "resources: [../../base]\n",
    );
    let prod = BASE[3].1.to_owned()
        + "images:\n- {name: registry.invalid/web, newName: mirror.invalid/web, newTag: '1'}\n";
    write(&root, "prod/kustomization.yaml", &prod);
    write(
        &root,
        "components/labelled/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nlabels:\n- pairs: {tier: front}\n",
    );
    let before = std::fs::read(root.join("prod/kustomization.yaml")).unwrap();
    let spec = serde_json::from_value::<lockstep_api::flux::KustomizationSpec>(
        serde_json::json!({
            "sourceRef": {"kind": "GitRepository", "name": "repo"},
            "interval": "1m",
            "prune": true,
            "namePrefix": "flux-",
            "nameSuffix": "-x",
            "images": [{"name": "registry.invalid/web", "newTag": "2"}],
            "patches": [
                {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: any}\nspec: {replicas: 5}\n",
                 "target": {"kind": "Deployment"}},
                {"patch": "- {op: add, path: /data/b, value: '2'}\n",
                 "target": {"kind": "ConfigMap", "name": "settings"}},
            ],
            "components": ["../components/labelled", "../components/missing"],
            "ignoreMissingComponents": true,
        }),
    )
    .unwrap();
    let overlay = lockstep_api::flux::Kustomization::new("apps", spec)
        .overlay()
        .unwrap();
    let options = RenderOptions {
        owner: Some(Owner::flux("apps", "flux-system")),
        target_namespace: Some("team-a".into()),
        overlay: Some(overlay.clone()),
        directory: None,
    };
    let rendered = render(&root, "plain", &options).unwrap();
    let manifests = &rendered.manifests;
    let names: Vec<(&str, &str)> = manifests.iter().map(|m| (m.kind(), m.name())).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    let deployment = named(manifests, "Deployment");
    assert_eq!(deployment.name(), "flux-web-x");
    assert_eq!(deployment.namespace(), Some("team-a"));
    assert_eq!(deployment.object["spec"]["replicas"], 5);
    let image =
        |m: &Manifest| m.object["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image(deployment), "registry.invalid/web:2");
    assert_eq!(deployment.object["metadata"]["labels"]["tier"], "front");
    let settings = named(manifests, "ConfigMap");
    assert_eq!(settings.name(), "flux-settings-x");
    assert_eq!(settings.object["data"]["b"], "2");
    assert_eq!(settings.object["metadata"]["labels"]["tier"], "front");
    // The generated kustomization existed only in the copy; the copy is gone.
    assert!(!root.join("plain/kustomization.yaml").exists());
    let left: Vec<_> = std::fs::read_dir(parent.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["artifact"]);
    let inputs = format!("{:?}", rendered.inputs);
    assert!(inputs.contains(&root.canonicalize().unwrap().display().to_string()));
    assert!(!inputs.contains(".render-"), "{inputs}");

    // A kustomization at the path is edited, not wrapped: the Kustomization's prefix
    // replaces its own. The file in the source (hard-linked into the copy) is unchanged.
    let rendered = render(&root, "prod", &options).unwrap();
    let deployment = named(&rendered.manifests, "Deployment");
    assert_eq!(deployment.name(), "flux-web-x");
    assert_eq!(deployment.object["spec"]["replicas"], 5);
    // Merged by name: the tag replaced, the kustomization's own newName kept.
    assert_eq!(image(deployment), "mirror.invalid/web:2");
    assert_eq!(
        std::fs::read(root.join("prod/kustomization.yaml")).unwrap(),
        before
    );

    // A path naming a file cannot take the fields.
    let err = render(&root, "plain/settings.yaml", &options).unwrap_err();
    assert!(matches!(err, RenderError::InvalidPath { .. }), "{err}");
}

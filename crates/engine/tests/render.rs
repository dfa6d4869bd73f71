//! Rendering plain manifest folders: order, multi-document files, YAML 1.1 scalars as
//! kubectl resolves them, target namespace, ownership labels, and located errors.

use std::path::Path;

use lockstep_engine::render::{Owner, RenderError, RenderOptions, render};
use serde_json::{Value, json};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn options() -> RenderOptions {
    RenderOptions {
        owner: Some(Owner::lockstep("apps", "lockstep-system")),
        target_namespace: Some("team-a".into()),
        overlay: None,
        directory: None,
    }
}

#[test]
fn folder_is_read_recursively_in_order_skipping_hidden_and_other_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "apps/b.yaml",
        "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b1}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b2\n...\n",
    );
    write(
        root,
        "apps/a.json",
        r#"{"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "a"}}"#,
    );
    write(
        root,
        "apps/sub/c.yml",
        "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: c1}\n- apiVersion: rbac.authorization.k8s.io/v1\n  kind: ClusterRole\n  metadata: {name: c2}\n",
    );
    write(root, "apps/.hidden.yaml", "not: [valid");
    write(root, "apps/.git/x.yaml", "not: [valid");
    write(root, "apps/README.md", "# docs");
    write(
        root,
        "apps/ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n",
    );

    let manifests = render(root, "apps", &options()).unwrap().manifests;
    let names: Vec<_> = manifests
        .iter()
        .map(|m| {
            (
                m.file.display().to_string(),
                m.document,
                m.name().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("a.json".to_owned(), 0, "a".to_owned()),
            ("b.yaml".to_owned(), 0, "b1".to_owned()),
            ("b.yaml".to_owned(), 1, "b2".to_owned()),
            ("ns.yaml".to_owned(), 0, "team-a".to_owned()),
            ("sub/c.yml".to_owned(), 0, "c1".to_owned()),
            ("sub/c.yml".to_owned(), 0, "c2".to_owned()),
        ]
    );
    for m in &manifests {
        let labels = &m.object["metadata"]["labels"];
        assert_eq!(labels["lockstep.dev/name"], "apps");
        assert_eq!(labels["lockstep.dev/namespace"], "lockstep-system");
        let cluster_scoped = matches!(m.kind(), "Namespace" | "ClusterRole");
        assert_eq!(
            m.namespace(),
            (!cluster_scoped).then_some("team-a"),
            "{}",
            m.name()
        );
    }
}

/// Argo CD's `source.directory`: the top folder only unless `recurse`, then `exclude` and
/// `include` globs over the path below the folder (`*` across `/`, `{a,b}` either); a glob
/// that does not parse is named.
#[test]
fn a_directory_filter_reads_as_argo_cd_reads_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
    for file in ["a.yaml", "b.json", "sub/c.yaml", "sub/deep/skip-d.yaml"] {
        let name = file.rsplit('/').next().unwrap().split('.').next().unwrap();
        let text = match file.ends_with(".json") {
            true => format!(
                r#"{{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {{"name": "{name}"}}}}"#
            ),
            false => cm(name),
        };
        write(dir.path(), &format!("apps/{file}"), &text);
    }
    let names = |directory: lockstep_api::Directory| -> Result<Vec<String>, RenderError> {
        let options = RenderOptions {
            directory: Some(directory),
            ..options()
        };
        let manifests = render(dir.path(), "apps", &options)?.manifests;
        Ok(manifests.iter().map(|m| m.name().to_owned()).collect())
    };
    let filter =
        |recurse: bool, include: Option<&str>, exclude: Option<&str>| lockstep_api::Directory {
            recurse,
            include: include.map(str::to_owned),
            exclude: exclude.map(str::to_owned),
        };
    assert_eq!(names(filter(false, None, None)).unwrap(), ["a", "b"]);
    assert_eq!(
        names(filter(true, None, None)).unwrap(),
        ["a", "b", "c", "skip-d"]
    );
    assert_eq!(
        names(filter(true, None, Some("*skip-*"))).unwrap(),
        ["a", "b", "c"],
        "* matches across folders"
    );
    assert_eq!(
        names(filter(
            true,
            Some("{a.yaml,sub/*.yaml}"),
            Some("sub/deep/*")
        ))
        .unwrap(),
        ["a", "c"]
    );
    let Err(err) = names(filter(true, Some("[a"), None)) else {
        panic!("a bad glob renders");
    };
    assert!(err.to_string().contains("[a"), "{err}");
}

#[test]
fn custom_resources_of_cluster_scoped_crds_get_no_namespace() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Widget, plural: widgets}\n",
    );
    write(
        dir.path(),
        "widget.yaml",
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n---\napiVersion: other.example.com/v1\nkind: Gadget\nmetadata: {name: g}\n",
    );
    let manifests = render(dir.path(), ".", &options()).unwrap().manifests;
    let ns: Vec<_> = manifests
        .iter()
        .map(|m| (m.kind(), m.namespace()))
        .collect();
    assert_eq!(
        ns,
        [
            ("CustomResourceDefinition", None),
            ("Widget", None),
            ("Gadget", Some("team-a"))
        ]
    );
}

#[test]
/// Each row: a plain YAML scalar and the JSON value kubectl (sigs.k8s.io/yaml, YAML 1.1)
/// sends to the API server for it.
fn yaml_1_1_scalars_resolve_as_kubectl_resolves_them() {
    let table: Vec<(&str, Value)> = vec![
        ("on", json!(true)),
        ("off", json!(false)),
        ("On", json!(true)),
        ("OFF", json!(false)),
        ("yes", json!(true)),
        ("no", json!(false)),
        ("Yes", json!(true)),
        ("NO", json!(false)),
        ("y", json!(true)),
        ("n", json!(false)),
        ("true", json!(true)),
        ("False", json!(false)),
        ("0644", json!(420)),
        ("0755", json!(493)),
        ("0", json!(0)),
        ("10", json!(10)),
        ("-7", json!(-7)),
        ("0x1F", json!(31)),
        ("1.5", json!(1.5)),
        ("~", Value::Null),
        ("null", Value::Null),
        ("\"on\"", json!("on")),
        ("'yes'", json!("yes")),
        ("\"0644\"", json!("0644")),
        ("'0755'", json!("0755")),
        ("hello", json!("hello")),
        ("1.2.3", json!("1.2.3")),
    ];
    let mut yaml =
        String::from("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: scalars}\nvalues:\n");
    for (i, (scalar, _)) in table.iter().enumerate() {
        yaml.push_str(&format!("  k{i}: {scalar}\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cm.yaml", &yaml);
    let manifests = render(dir.path(), "", &RenderOptions::default())
        .unwrap()
        .manifests;
    let values = &manifests[0].object["values"];
    let mut wrong = Vec::new();
    for (i, (scalar, want)) in table.iter().enumerate() {
        let have = &values[format!("k{i}")];
        if have != want {
            wrong.push(format!("{scalar}: want {want}, have {have}"));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn bad_yaml_names_file_document_and_line_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "apps/secret.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData:\n  password: [hunter2\n",
    );
    let err = render(dir.path(), "apps", &RenderOptions::default()).unwrap_err();
    let RenderError::Syntax {
        file,
        document,
        line,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(file, Path::new("secret.yaml"));
    assert_eq!(*document, 1);
    assert!((9..=10).contains(line), "line {line}: {err}");
    let message = err.to_string();
    assert!(
        message.starts_with("secret.yaml: document 1, line"),
        "{message}"
    );
    assert!(!message.contains("hunter2"), "{message}");
}

#[test]
fn documents_that_are_not_objects_are_named() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: ConfigMap\nmetadata: {name: b}\n",
    );
    let err = render(dir.path(), "", &RenderOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "x.yaml: document 1 (line 4): no apiVersion"
    );

    write(
        dir.path(),
        "x.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    write(
        dir.path(),
        "y.json",
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}"#,
    );
    let err = render(dir.path(), "", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::Duplicate { .. }), "{err}");
    assert!(err.to_string().contains("ConfigMap/a "), "{err}");

    std::fs::remove_file(dir.path().join("y.json")).unwrap();
    write(
        dir.path(),
        "y.json",
        "{\"apiVersion\": \"v1\",\n \"kind\": }",
    );
    let err = render(dir.path(), "", &RenderOptions::default()).unwrap_err();
    assert!(
        err.to_string().starts_with("y.json: document 0, line 2"),
        "{err}"
    );

    // A key twice is refused, as in YAML (serde_json alone keeps the last one).
    write(
        dir.path(),
        "y.json",
        "{\"apiVersion\": \"v1\", \"kind\": \"Secret\",\n \"metadata\": {\"name\": \"b\"},\n \"stringData\": {\"k\": \"v-first\", \"k\": \"v-second\"}}",
    );
    let err = render(dir.path(), "", &RenderOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("y.json: document 0, line 3") && msg.contains("duplicate key"),
        "{msg}"
    );
    assert!(
        !msg.contains("v-first") && !msg.contains("v-second"),
        "{msg}"
    );
}

#[test]
fn escaping_missing_and_non_manifest_paths_are_refused_and_a_file_renders() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "overlay/a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
    );
    let err = render(dir.path(), "../etc", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidPath { .. }), "{err}");
    let err = render(dir.path(), "missing", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidPath { .. }), "{err}");
    assert!(err.to_string().contains("no such file or folder"), "{err}");
    write(dir.path(), "overlay/notes.txt", "not a manifest");
    let err = render(dir.path(), "overlay/notes.txt", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidPath { .. }), "{err}");
    // One manifest file is a source, as `kubectl apply -f FILE` takes it.
    let one = render(dir.path(), "overlay/a.yaml", &RenderOptions::default()).unwrap();
    let names: Vec<_> = one.manifests.iter().map(|m| m.name().to_owned()).collect();
    assert_eq!(names, ["a"]);
}

/// A path through a symlink that leaves the source is refused, as a kustomization entry
/// through one is: before, render followed the link and read the folder it points at.
#[test]
fn a_path_through_a_symlink_out_of_the_source_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    write(
        outside.path(),
        "a.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("apps")).unwrap();
    let err = render(dir.path(), "apps", &RenderOptions::default()).unwrap_err();
    assert!(matches!(err, RenderError::InvalidPath { .. }), "{err}");
    assert!(err.to_string().contains("through a symlink"), "{err}");

    // A symlink that stays inside the source is followed, as before.
    write(
        dir.path(),
        "real/b.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: inside}\n",
    );
    std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).unwrap();
    let manifests = render(dir.path(), "alias", &RenderOptions::default())
        .unwrap()
        .manifests;
    assert_eq!(manifests[0].name(), "inside");
}

//! One source of truth: `deploy/controller.yaml` is the chart rendered with its defaults
//! into `kube-system`, `deploy/chart/crds/` holds exactly `deploy/crds/` (which `crates/api`
//! generates), and no CRD carries a schema default. `LOCKSTEP_BLESS=1` rewrites the
//! generated files instead of comparing.

use std::path::Path;

use lockstep_testenv::{need, tool};

use crate::{chart, documents, render, repo};

const HEADER: &str = "\
# Generated from deploy/chart by `LOCKSTEP_BLESS=1 cargo test -p lockstep-e2e --test install manifests`;
# do not edit. The chart with its default values, for `kubectl apply` into kube-system (apply
# deploy/crds/ first). `helm install` of deploy/chart/ installs the same; see the README.
";

fn bless() -> bool {
    std::env::var_os("LOCKSTEP_BLESS").is_some()
}

/// Writes `want` to `path` when blessing, else asserts the file holds it.
fn check(path: &Path, want: &[u8]) {
    if bless() {
        std::fs::write(path, want).unwrap();
        return;
    }
    let have = std::fs::read(path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not what deploy/chart renders; regenerate it with \
         LOCKSTEP_BLESS=1 cargo test -p lockstep-e2e --test install manifests",
        path.display()
    );
}

#[test]
fn plain_manifests_are_the_rendered_chart() {
    let helm = need!(tool("helm"));
    let rendered = format!("{HEADER}{}", render(&helm, "kube-system", &[]));
    check(&repo().join("deploy/controller.yaml"), rendered.as_bytes());

    let crds = repo().join("deploy/crds");
    let mut names = std::fs::read_dir(&crds)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect::<Vec<_>>();
    names.sort();
    for name in &names {
        let want = std::fs::read(crds.join(name)).unwrap();
        check(&chart().join("crds").join(name), &want);
    }
    let mut in_chart = std::fs::read_dir(chart().join("crds"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect::<Vec<_>>();
    in_chart.sort();
    assert_eq!(in_chart, names, "deploy/chart/crds/ holds other files");

    // cluster-admin only when asked for.
    let binds_admin = |text: &str| {
        documents(text)
            .iter()
            .any(|d| d["kind"] == "ClusterRoleBinding" && d["roleRef"]["name"] == "cluster-admin")
    };
    assert!(!binds_admin(&rendered));
    assert!(binds_admin(&render(
        &helm,
        "kube-system",
        &["rbac.clusterAdmin=true"]
    )));

    // X-Forwarded-For is believed only from the addresses given (reliability probe, Medium).
    assert!(!rendered.contains("--trusted-proxy"));
    let proxied = render(
        &helm,
        "kube-system",
        &["trustedProxies={10.96.0.1,10.0.0.2}"],
    );
    assert!(
        proxied.contains("- --trusted-proxy=10.96.0.1,10.0.0.2"),
        "{proxied}"
    );
}

/// A default in a CRD's schema is written by the API server into every stored object: an
/// object applied without the field reads back with it, a diff for every other tool.
#[test]
fn crds_carry_no_schema_defaults() {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(repo().join("deploy/crds")).unwrap() {
        let path = entry.unwrap().path();
        let crd = &documents(&std::fs::read_to_string(&path).unwrap())[0];
        for version in crd["spec"]["versions"].as_array().unwrap() {
            let schema = &version["schema"]["openAPIV3Schema"];
            let at = format!("{}:{}", path.display(), version["name"]);
            defaults(schema, &at, &mut found);
        }
    }
    assert!(found.is_empty(), "schema defaults: {found:#?}");
}

/// Collects the places under `schema` that have a `default`.
fn defaults(schema: &serde_json::Value, at: &str, found: &mut Vec<String>) {
    if schema.get("default").is_some() {
        found.push(at.to_owned());
    }
    if let Some(properties) = schema["properties"].as_object() {
        for (name, property) in properties {
            defaults(property, &format!("{at}.{name}"), found);
        }
    }
    for key in ["items", "additionalProperties"] {
        if schema[key].is_object() {
            defaults(&schema[key], &format!("{at}[{key}]"), found);
        }
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for (i, branch) in schema[key].as_array().into_iter().flatten().enumerate() {
            defaults(branch, &format!("{at}.{key}[{i}]"), found);
        }
    }
}

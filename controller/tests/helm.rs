//! A Sync with a `helm` block against the test control plane: a chart in Git installed with
//! a SOPS-encrypted values file, upgraded (only what changed is written), a template the
//! new chart version drops pruned, and a broken template reported with its file and line
//! while the release stays as it was. The chart sees the cluster's version and API groups.
//! The encrypted value reaches its Secret and nothing else: no status, event, log or file of
//! the controller.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams, PostParams};
use lockstep_testenv::{Canaries, ControlPlane, need, tool};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::support::create_lockstep;
use crate::sync::{applied, ready, setup, status, sync_spec};

const CANARY: &str = "Pq8helm-e2e-canary-6b1d";

fn chart_files(color: &str, with_old: bool) -> Vec<(String, String)> {
    let cm = |name: &str, data: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\ndata:\n{data}"
        )
    };
    let mut files = vec![
        (
            "chart/Chart.yaml".to_owned(),
            "apiVersion: v2\nname: web\nversion: 1.0.0\n".to_owned(),
        ),
        ("chart/values.yaml".to_owned(), format!("color: {color}\n")),
        (
            "chart/templates/config.yaml".to_owned(),
            cm("config", "  color: {{ .Values.color | quote }}\n"),
        ),
        (
            "chart/templates/stable.yaml".to_owned(),
            cm("stable", "  team: {{ .Values.team | quote }}\n"),
        ),
        (
            "chart/templates/db.yaml".to_owned(),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}-db\n\
             stringData:\n  password: {{ required \"db.password\" .Values.db.password | quote }}\n"
                .to_owned(),
        ),
    ];
    // Rendered only when the cluster's API groups reach helm (`--api-versions`).
    files.push((
        "chart/templates/capabilities.yaml".to_owned(),
        format!(
            "{{{{- if .Capabilities.APIVersions.Has \"lockstep.dev/v1alpha1\" }}}}\n{}{{{{- end }}}}\n",
            cm("capabilities", "  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n")
        ),
    ));
    if with_old {
        files.push((
            "chart/templates/old.yaml".to_owned(),
            cm("old", "  a: \"1\"\n"),
        ));
    }
    files
}

async fn version(api: &Api<ConfigMap>, name: &str) -> String {
    api.get(name)
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
}

#[tokio::test]
async fn a_chart_installs_upgrades_prunes_and_survives_a_broken_template() {
    let plane = need!(ControlPlane::shared().await);
    need!(tool("sops"));
    need!(tool("helm"));
    let files: Vec<(String, String)> = chart_files("blue", true);
    let borrowed: Vec<(&str, String)> =
        files.iter().map(|(p, t)| (p.as_str(), t.clone())).collect();
    let s = setup(plane, "helm-life", &borrowed).await;

    // The values file with the password, encrypted with the real sops to an age key the
    // Sync's decryption Secret holds.
    let (recipient, identity) = lockstep_keys::age::generate();
    s.repo
        .write(
            "chart/secrets.enc.yaml",
            format!("db:\n  password: {CANARY}\n"),
        )
        .unwrap();
    lockstep_testenv::sops_encrypt_age(s.repo.work_tree(), &recipient, "chart/secrets.enc.yaml")
        .unwrap();
    let installed = s.repo.commit("the chart, its encrypted values").unwrap();
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let key = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("sops-age".into()),
            ..Default::default()
        },
        string_data: Some(BTreeMap::from([(
            "identity.agekey".to_owned(),
            identity.expose_secret().to_owned(),
        )])),
        ..Default::default()
    };
    secrets.create(&PostParams::default(), &key).await.unwrap();
    let helm = json!({
        "helm": {"valuesFiles": ["secrets.enc.yaml"], "values": {"team": "shop"}},
        "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
        "retryInterval": "1s",
    });
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": sync_spec("chart", helm)}),
    )
    .await;

    // Install: every template applied into the Sync's namespace, the password in its
    // Secret.
    let first = applied(&s, "web", &installed).await;
    assert_eq!(first.inventory.len(), 5, "{:?}", first.inventory);
    let configs: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(config.data.unwrap()["color"], "blue");
    let capabilities = configs.get("web-capabilities").await.unwrap();
    let kube = plane
        .client()
        .await
        .unwrap()
        .apiserver_version()
        .await
        .unwrap();
    assert_eq!(
        capabilities.data.unwrap()["kube"],
        kube.git_version,
        "the cluster's version"
    );
    let db = secrets.get("web-db").await.unwrap();
    assert_eq!(db.data.unwrap()["password"].0, CANARY.as_bytes());
    let stable = version(&configs, "web-stable").await;
    let db_version = secrets
        .get("web-db")
        .await
        .unwrap()
        .metadata
        .resource_version;

    // Upgrade: a values change rewrites only its ConfigMap; the template the new
    // chart version drops is pruned.
    s.repo.write("chart/values.yaml", "color: red\n").unwrap();
    s.repo.remove("chart/templates/old.yaml").unwrap();
    s.repo
        .write(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: web\nversion: 1.1.0\n",
        )
        .unwrap();
    let upgraded = s.repo.commit("red, without old").unwrap();
    let second = applied(&s, "web", &upgraded).await;
    assert_eq!(second.inventory.len(), 4, "{:?}", second.inventory);
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(config.data.unwrap()["color"], "red");
    assert!(
        configs.get_opt("web-old").await.unwrap().is_none(),
        "pruned"
    );
    assert_eq!(
        version(&configs, "web-stable").await,
        stable,
        "unchanged, not written"
    );
    let db_after = secrets
        .get("web-db")
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_eq!(db_after, db_version, "unchanged, not written");

    // A broken template: Ready=False naming the template and its line; the release stays.
    s.repo
        .write(
            "chart/templates/broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: broken\ndata:\n  a: {{ .Values.color | nope }}\n",
        )
        .unwrap();
    s.repo.write("chart/values.yaml", "color: green\n").unwrap();
    let broken = s.repo.commit("a broken template").unwrap();
    let mut message = String::new();
    crate::support::eventually("the broken template reported", async || {
        let st = status(&s.client, &s.ns, "web").await;
        let failed = ready(&st) == Some(("False", "BuildFailed"))
            && st.last_attempted_revision == Some(format!("main@sha1:{broken}"));
        if failed {
            message = st
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready")
                .map(|c| c.message.clone())
                .unwrap_or_default();
        }
        failed
    })
    .await;
    assert!(
        message.contains("chart: helm template failed")
            && message.contains("templates/broken.yaml:6"),
        "{message}"
    );
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(
        config.data.unwrap()["color"],
        "red",
        "nothing of the broken revision"
    );
    assert!(configs.get_opt("broken").await.unwrap().is_none());
    assert!(secrets.get_opt("web-db").await.unwrap().is_some());

    // The password went into its Secret and nowhere else.
    let canaries = Canaries::new([CANARY]);
    let st = status(&s.client, &s.ns, "web").await;
    canaries.assert_absent("the Sync's status", &serde_json::to_string(&st).unwrap());
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    assert!(!events.items.is_empty(), "no events: nothing was checked");
    canaries.assert_absent("events", &serde_json::to_string(&events).unwrap());
    canaries.assert_absent("the controller log", &s.controller.log());
    let configmaps = configs.list(&ListParams::default()).await.unwrap();
    canaries.assert_absent("ConfigMaps", &serde_json::to_string(&configmaps).unwrap());
    assert!(canaries.assert_absent_in_files(s.controller.workdir()) > 0);
}

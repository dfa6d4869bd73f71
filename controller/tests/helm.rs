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
use crate::sync::{applied, failed, ready, setup, status, sync_spec};

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
async fn a_chart_installs_upgrades_prunes_survives_a_broken_template_and_reverts() {
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
    // The encrypted values file is listed among the secrets the Sync uses, by its key.
    let used = first.secrets.as_ref().expect("status.secrets");
    let file = used
        .sops_files
        .iter()
        .find(|f| f.path == "chart/secrets.enc.yaml")
        .unwrap_or_else(|| panic!("the values file is not listed: {used:?}"));
    assert_eq!(file.keys, [format!("age:{recipient}")]);
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
    let message = failed(
        &s,
        "web",
        &broken,
        "BuildFailed",
        std::time::Duration::from_secs(60),
    )
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

    // Rollback by `git revert` of the broken commit and of the upgrade: the first release
    // again, its dropped template back, its password still in place.
    s.repo.git(&["revert", "--no-edit", &broken]).unwrap();
    s.repo.git(&["revert", "--no-edit", &upgraded]).unwrap();
    let reverted = s.repo.push().unwrap();
    let third = applied(&s, "web", &reverted).await;
    assert_eq!(third.inventory.len(), 5, "{:?}", third.inventory);
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(config.data.unwrap()["color"], "blue");
    assert!(configs.get_opt("web-old").await.unwrap().is_some(), "back");
    let db = secrets.get("web-db").await.unwrap();
    assert_eq!(db.data.unwrap()["password"].0, CANARY.as_bytes());

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

/// A Sync whose `sourceRef` is a `HelmRepository` (basic auth) and whose `helm.chart` and
/// `helm.version` name a chart in it: the highest version inside the constraint installed
/// with the chart's own SOPS-encrypted values file decrypted in memory and a `valuesFrom`
/// ConfigMap (an optional missing Secret skipped), a version bump
/// upgrading it and pruning what the new version dropped, and a version no release matches
/// reported by name while the release stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_installs_a_chart_of_a_helm_repository_and_follows_its_version() {
    const PASSWORD: &str = "sync-h3lm-repo-pass";
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    need!(tool("sops"));
    let server = need!(
        lockstep_testenv::HelmRepoServer::start(Some(lockstep_testenv::HttpAuth::Basic {
            username: "sync".into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let (recipient, identity) = lockstep_keys::age::generate();
    let work = tempfile::tempdir().unwrap();
    for (version, extra) in [("1.0.0", "old"), ("1.4.0", "old"), ("2.0.0", "new")] {
        let chart = work.path().join(version).join("web");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        let write = |file: &str, text: String| std::fs::write(chart.join(file), text).unwrap();
        write(
            "Chart.yaml",
            format!("apiVersion: v2\nname: web\nversion: {version}\n"),
        );
        write("values.yaml", "color: blue\n".into());
        write("secrets.enc.yaml", format!("db:\n  password: {CANARY}\n"));
        write(
            "templates/all.yaml",
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-config\n\
                 data:\n  color: {{{{ .Values.color | quote }}}}\n  chart: {{{{ .Chart.Version | quote }}}}\n\
                 ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{extra}\n\
                 ---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {{{{ .Release.Name }}}}-db\n\
                 stringData:\n  password: {{{{ .Values.db.password | quote }}}}\n"
            ),
        );
        lockstep_testenv::sops_encrypt_age(&chart, &recipient, "secrets.enc.yaml").unwrap();
        server.publish(&chart).unwrap();
    }
    let (client, ns) = plane.namespace("helm-repo-sync").await.unwrap();
    crate::support::install_sync_crds(&client).await;
    lockstep_testenv::manifests::apply_yaml(
        &client,
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    )
    .await
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let post = PostParams::default();
    for (name, data) in [
        (
            "repo-auth",
            [("username", "sync"), ("password", PASSWORD)].as_slice(),
        ),
        (
            "sops-age",
            [("identity.agekey", identity.expose_secret())].as_slice(),
        ),
    ] {
        let secret = Secret {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            string_data: Some(
                data.iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ),
            ..Default::default()
        };
        secrets.create(&post, &secret).await.unwrap();
    }
    let repositories: Api<lockstep_api::flux::HelmRepository> =
        Api::namespaced(client.clone(), &ns);
    let repository = serde_json::from_value(json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts"},
        "spec": {"url": server.url(), "secretRef": {"name": "repo-auth"}},
    }))
    .unwrap();
    repositories.create(&post, &repository).await.unwrap();
    let spec = |version: &str| {
        json!({"sourceRef": {"kind": "HelmRepository", "name": "charts"},
               "interval": "1s", "retryInterval": "1s", "prune": true,
               "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
               "helm": {"chart": "web", "version": version,
                        "valuesFiles": ["secrets.enc.yaml"],
                        "valuesFrom": [{"kind": "ConfigMap", "name": "web-values"},
                                       {"kind": "Secret", "name": "absent", "optional": true}],
                        "values": {"team": "shop"}}})
    };
    let values = serde_json::from_value(json!({
        "metadata": {"name": "web-values"}, "data": {"values.yaml": "color: purple\n"},
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(&post, &values)
        .await
        .unwrap();
    create_lockstep(
        &client,
        &ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": spec("~1")}),
    )
    .await;
    let port = lockstep_testenv::free_port().unwrap();
    let ui = format!("--listen-ui-addr=127.0.0.1:{port}");
    let _controller = crate::support::Controller::start_syncing(plane, &ns, &[&ui]).await;

    let configs: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let settled = async |version: &str| {
        let st = status(&client, &ns, "web").await;
        ready(&st) == Some(("True", "ReconciliationSucceeded"))
            && st
                .last_applied_revision
                .is_some_and(|r| r.starts_with(&format!("{version}@sha256:")))
    };
    crate::support::eventually("1.4.0 to be installed", async || settled("1.4.0").await).await;
    let config = configs.get("web-config").await.unwrap().data.unwrap();
    assert_eq!(
        (&config["color"][..], &config["chart"][..]),
        ("purple", "1.4.0")
    );
    assert!(configs.get_opt("web-old").await.unwrap().is_some());
    let db = secrets.get("web-db").await.unwrap();
    assert_eq!(db.data.unwrap()["password"].0, CANARY.as_bytes());

    // The web UI's diff compares the chart the constraint picks with the cluster: a value
    // changed by hand (the Sync suspended, so it is not put back at once) shows against
    // the chart's — hidden, as every value read through `valuesFrom` is — and the password
    // from the encrypted values file shows nowhere.
    let syncs: Api<lockstep_api::Sync> = Api::namespaced(client.clone(), &ns);
    let params = kube::api::PatchParams::default();
    let suspend = |on: bool| kube::api::Patch::Merge(json!({"spec": {"suspend": on}}));
    syncs.patch("web", &params, &suspend(true)).await.unwrap();
    let by_hand = kube::api::Patch::Merge(json!({"data": {"color": "by-hand"}}));
    configs
        .patch("web-config", &params, &by_hand)
        .await
        .unwrap();
    let rules = vec![crate::support::rule(&["*"], &["*"], &["*"])];
    let token = crate::support::account(&client, &ns, "viewer", rules).await;
    let base = format!("http://127.0.0.1:{port}");
    let cookie = crate::support::ui_session(&base, &token).await;
    let page = reqwest::Client::new()
        .get(format!("{base}/syncs/{ns}/web/diff"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("ConfigMap/{ns}/web-config"))
            && page.contains("-  color: by-hand")
            && page.contains("+  color: &quot;[redacted]&quot;"),
        "{page}"
    );
    assert!(
        page.contains("1.4.0"),
        "the version compared is named: {page}"
    );
    Canaries::new([CANARY, PASSWORD]).assert_absent("the diff page", &page);
    syncs.patch("web", &params, &suspend(false)).await.unwrap();

    let patch = |version: &str| kube::api::Patch::Merge(json!({"spec": spec(version)}));
    syncs.patch("web", &params, &patch("2.x")).await.unwrap();
    crate::support::eventually("2.0.0 to replace 1.4.0", async || {
        settled("2.0.0").await && configs.get_opt("web-old").await.unwrap().is_none()
    })
    .await;
    assert!(configs.get_opt("web-new").await.unwrap().is_some());

    syncs.patch("web", &params, &patch("^3")).await.unwrap();
    crate::support::eventually("a version no release matches to be named", async || {
        let st = status(&client, &ns, "web").await;
        st.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.status == "False"
                && c.message.contains(&format!("HelmRepository {ns}/charts"))
                && c.message.contains("no version of chart web")
        })
    })
    .await;
    assert!(
        configs.get_opt("web-new").await.unwrap().is_some(),
        "the release stays"
    );
    let st = status(&client, &ns, "web").await;
    let text = serde_json::to_string(&st.conditions).unwrap();
    Canaries::new([CANARY, PASSWORD]).assert_absent("the Sync's status", &text);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    let text = serde_json::to_string(&events.items).unwrap();
    Canaries::new([CANARY, PASSWORD]).assert_absent("the events", &text);
}

/// A chart `web` 1.0.0 in `chart/` of `repo`: ConfigMaps `<release>-a` and `-b` holding
/// `.Values.color` (`blue`).
fn two_config_chart(repo: &lockstep_testenv::GitRepo) {
    let cm = |name: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-{name}\n\
             data:\n  color: {{{{ .Values.color | quote }}}}\n"
        )
    };
    let chart = "apiVersion: v2\nname: web\nversion: 1.0.0\n";
    repo.write("chart/Chart.yaml", chart).unwrap();
    repo.write("chart/values.yaml", "color: blue\n").unwrap();
    repo.write("chart/templates/a.yaml", cm("a")).unwrap();
    repo.write("chart/templates/b.yaml", cm("b")).unwrap();
}

/// The real helm against the test control plane, in namespace `ns` and with a `HOME` of
/// its own: a run's standard output, the run asserted to succeed.
fn helm_cli<'a>(
    helm: &'a std::path::Path,
    kubeconfig: &'a std::path::Path,
    ns: &'a str,
    home: &'a std::path::Path,
) -> impl Fn(&[&str]) -> String + 'a {
    move |args| {
        let out = std::process::Command::new(helm)
            .args(args)
            .args(["--namespace", ns])
            .env("KUBECONFIG", kubeconfig)
            .env("HOME", home)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "helm {args:?}: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }
}

/// Switching a release between Lockstep and Helm in place: the objects a Sync applied carry
/// Helm's ownership label and annotations, so after the Sync is deleted with
/// `deletionPolicy: Orphan` the real `helm install` adopts them (no `--take-ownership`)
/// and `helm list` shows the release deployed; a Sync created again takes them back. No
/// object is recreated either way (same UIDs).
#[tokio::test]
async fn a_release_moves_to_helm_install_and_back_without_recreating_anything() {
    let plane = need!(ControlPlane::shared().await);
    let helm = need!(tool("helm"));
    let s = setup(plane, "helm-switch", &[("README", "switch\n".to_owned())]).await;
    two_config_chart(&s.repo);
    let commit = s.repo.commit("a chart").unwrap();
    let sync = || {
        let spec = sync_spec("chart", json!({"helm": {}, "deletionPolicy": "Orphan"}));
        json!({"metadata": {"name": "web"}, "spec": spec})
    };
    create_lockstep(&s.client, &s.ns, "Sync", sync()).await;
    applied(&s, "web", &commit).await;
    let configs: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let uids = async || {
        let mut uids = Vec::new();
        for name in ["web-a", "web-b"] {
            uids.push(configs.get(name).await.unwrap().metadata.uid.unwrap());
        }
        uids
    };
    let before = uids().await;
    let a = configs.get("web-a").await.unwrap().metadata;
    assert_eq!(a.labels.unwrap()["app.kubernetes.io/managed-by"], "Helm");
    let annotations = a.annotations.unwrap();
    assert_eq!(annotations["meta.helm.sh/release-name"], "web");
    assert_eq!(annotations["meta.helm.sh/release-namespace"], s.ns);

    // To Helm: the Sync goes, its objects stay; `helm install` adopts them.
    let syncs: Api<lockstep_api::Sync> = Api::namespaced(s.client.clone(), &s.ns);
    syncs.delete("web", &Default::default()).await.unwrap();
    crate::support::eventually("the Sync to be gone", async || {
        syncs.get_opt("web").await.unwrap().is_none()
    })
    .await;
    let home = tempfile::tempdir().unwrap();
    let run_helm = helm_cli(&helm, plane.kubeconfig_path(), &s.ns, home.path());
    let chart = s.repo.work_tree().join("chart");
    run_helm(&["install", "web", chart.to_str().unwrap()]);
    let list: serde_json::Value = serde_json::from_str(&run_helm(&["list", "-o", "json"])).unwrap();
    assert_eq!(list[0]["name"], "web", "{list}");
    assert_eq!(list[0]["status"], "deployed", "{list}");
    assert_eq!(uids().await, before, "helm adopted them in place");

    // And back: a new Sync takes Helm's objects over as they are.
    create_lockstep(&s.client, &s.ns, "Sync", sync()).await;
    let back = applied(&s, "web", &commit).await;
    assert_eq!(back.inventory.len(), 2);
    assert_eq!(uids().await, before, "taken back in place");
}

/// Helm's release records, written as `helm install`/`upgrade` write them when the `helm`
/// block asks (`storage`): the real `helm list`, `history` and `get` read them; a new
/// revision only when chart, values or objects change (a commit that changes none writes
/// none); `maxHistory` keeps the newest. Handed to Helm (the Sync deleted with
/// `deletionPolicy: Orphan`, records kept), `helm upgrade` carries the release on as
/// revision 4 with no object recreated; a Sync takes it back as revision 5, an upgrade
/// that replaces the hook object Helm left; a status that lost its inventory prunes from
/// the record; deleting the Sync (pruning) deletes the objects and the records, as `helm
/// uninstall` does.
#[tokio::test]
async fn release_records_carry_the_history_helm_reads_both_ways() {
    let plane = need!(ControlPlane::shared().await);
    let helm = need!(tool("helm"));
    let s = setup(plane, "helm-records", &[("README", "records\n".to_owned())]).await;
    let hook = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-hook\n  \
                annotations:\n    helm.sh/hook: post-install,post-upgrade\n    \
                helm.sh/hook-delete-policy: before-hook-creation\ndata:\n  at: done\n";
    two_config_chart(&s.repo);
    s.repo.write("chart/templates/hook.yaml", hook).unwrap();
    s.repo.write("chart/prod.yaml", "color: green\n").unwrap();
    let commit = s.repo.commit("a chart").unwrap();
    let sync = |policy: &str| {
        let helm = json!({"valuesFiles": ["prod.yaml"], "values": {"size": 3},
                          "storage": {"maxHistory": 2}});
        let spec = sync_spec("chart", json!({"helm": helm, "deletionPolicy": policy}));
        json!({"metadata": {"name": "web"}, "spec": spec})
    };
    create_lockstep(&s.client, &s.ns, "Sync", sync("Orphan")).await;
    applied(&s, "web", &commit).await;
    let home = tempfile::tempdir().unwrap();
    let run_helm = helm_cli(&helm, plane.kubeconfig_path(), &s.ns, home.path());
    let json_of = |args: &[&str]| -> serde_json::Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        serde_json::from_str(&run_helm(&args)).unwrap()
    };
    let list = json_of(&["list"]);
    assert_eq!(list[0]["name"], "web", "{list}");
    assert_eq!(list[0]["revision"], "1", "{list}");
    assert_eq!(list[0]["status"], "deployed", "{list}");
    assert_eq!(list[0]["chart"], "web-1.0.0", "{list}");
    let values = json_of(&["get", "values", "web"]);
    assert_eq!(
        values,
        json!({"color": "green", "size": 3}),
        "the values given"
    );
    let manifest = run_helm(&["get", "manifest", "web"]);
    assert!(
        manifest.contains("name: web-a") && manifest.contains("green"),
        "{manifest}"
    );
    assert!(
        !manifest.contains("web-hook"),
        "hooks are apart: {manifest}"
    );
    let hooks = run_helm(&["get", "hooks", "web"]);
    assert!(hooks.contains("name: web-hook"), "{hooks}");

    // A commit that changes nothing of the release writes no revision; values do.
    s.repo.write("README", "still records\n").unwrap();
    let mut commit = s.repo.commit("not the chart").unwrap();
    applied(&s, "web", &commit).await;
    let history = json_of(&["history", "web"]);
    assert_eq!(history.as_array().unwrap().len(), 1, "{history}");
    for (n, color) in [(2, "red"), (3, "teal")] {
        s.repo
            .write("chart/prod.yaml", format!("color: {color}\n"))
            .unwrap();
        commit = s.repo.commit(color).unwrap();
        applied(&s, "web", &commit).await;
        let history = json_of(&["history", "web"]);
        let last = history.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["revision"], n, "{history}");
        assert_eq!(last["status"], "deployed", "{history}");
        assert_eq!(last["description"], "Upgrade complete", "{history}");
    }
    let history = json_of(&["history", "web"]);
    let revisions: Vec<_> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["revision"].clone())
        .collect();
    assert_eq!(revisions, [json!(2), json!(3)], "maxHistory 2: {history}");
    assert_eq!(history[0]["status"], "superseded", "{history}");

    // To Helm: the records stay, and `helm upgrade` is revision 4 of the same release.
    let configs: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let uid = configs.get("web-a").await.unwrap().metadata.uid;
    let syncs: Api<lockstep_api::Sync> = Api::namespaced(s.client.clone(), &s.ns);
    syncs.delete("web", &Default::default()).await.unwrap();
    crate::support::eventually("the Sync to be gone", async || {
        syncs.get_opt("web").await.unwrap().is_none()
    })
    .await;
    let chart = s.repo.work_tree().join("chart");
    run_helm(&["upgrade", "web", chart.to_str().unwrap(), "--reuse-values"]);
    let list = json_of(&["list"]);
    assert_eq!(list[0]["revision"], "4", "{list}");
    assert_eq!(
        configs.get("web-a").await.unwrap().metadata.uid,
        uid,
        "not recreated"
    );
    let a = configs.get("web-a").await.unwrap();
    assert_eq!(
        a.data.unwrap()["color"],
        "teal",
        "--reuse-values read the record"
    );

    // And back to Lockstep as revision 5, an upgrade: the hook object Helm's upgrade left
    // (`before-hook-creation`) is named by Helm's record, so it is replaced.
    let hook_uid = configs.get("web-hook").await.unwrap().metadata.uid;
    create_lockstep(&s.client, &s.ns, "Sync", sync("Delete")).await;
    applied(&s, "web", &commit).await;
    let hook = configs.get("web-hook").await.unwrap().metadata;
    assert_ne!(hook.uid, hook_uid, "the post-upgrade hook ran again");
    let list = json_of(&["list"]);
    assert_eq!(list[0]["revision"], "5", "{list}");
    assert_eq!(
        configs.get("web-a").await.unwrap().metadata.uid,
        uid,
        "taken back in place"
    );

    // A status that lost its inventory (as Flux's own HelmRelease CRD drops it) prunes and
    // uninstalls from the deployed record: b leaves the chart, then the Sync goes.
    let forget = async || {
        let patch = kube::api::Patch::Merge(json!({"status": {"inventory": []}}));
        syncs
            .patch_status("web", &Default::default(), &patch)
            .await
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        assert!(status(&s.client, &s.ns, "web").await.inventory.is_empty());
    };
    forget().await;
    s.repo.remove("chart/templates/b.yaml").unwrap();
    let commit = s.repo.commit("b leaves").unwrap();
    applied(&s, "web", &commit).await;
    assert!(configs.get_opt("web-b").await.unwrap().is_none(), "pruned");
    forget().await;
    syncs.delete("web", &Default::default()).await.unwrap();
    crate::support::eventually("the release to be uninstalled", async || {
        configs.get_opt("web-a").await.unwrap().is_none()
    })
    .await;
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let records = secrets
        .list(&ListParams::default().labels("owner=helm"))
        .await
        .unwrap();
    assert!(records.items.is_empty(), "the records went with it");
}

/// A chart in Git whose `Chart.yaml` names a dependency of a Helm repository it does not
/// vendor, behind basic auth: without a HelmRepository of that URL it cannot be fetched
/// (`BuildFailed` naming it and the 401); with one, its credentials are used, as Flux's
/// source-controller uses them, the highest version inside the constraint is fetched, as
/// `helm dependency build` would, and rendered with the parent's values for it, from a
/// private copy of the checkout that is gone afterwards (the checkout gains no `charts/`).
#[tokio::test]
async fn a_git_chart_gets_its_repository_dependency_as_helm_dependency_build_would() {
    const PASSWORD: &str = "dep-repo-pa55";
    let plane = need!(ControlPlane::shared().await);
    need!(tool("helm"));
    let server = need!(
        lockstep_testenv::HelmRepoServer::start(Some(lockstep_testenv::HttpAuth::Basic {
            username: "deps".into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    for version in ["0.1.0", "0.1.4", "0.2.0"] {
        let chart = work.path().join(version).join("dep");
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: dep\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(
            chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-dep\n\
             data:\n  chart: {{ .Chart.Version | quote }}\n  size: {{ .Values.size | quote }}\n",
        )
        .unwrap();
        server.publish(&chart).unwrap();
    }
    let s = setup(plane, "helm-deps", &[("README", "deps\n".to_owned())]).await;
    s.repo
        .write(
            "chart/Chart.yaml",
            format!(
                "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: dep\n  \
                 version: 0.1.x\n  repository: {}\n",
                server.url()
            ),
        )
        .unwrap();
    s.repo
        .write("chart/values.yaml", "dep:\n  size: large\n")
        .unwrap();
    let commit = s
        .repo
        .commit("a chart with a repository dependency")
        .unwrap();
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": sync_spec("chart", json!({"helm": {}}))}),
    )
    .await;
    let within = std::time::Duration::from_secs(60);
    let message = failed(&s, "web", &commit, "BuildFailed", within).await;
    assert!(
        message.contains("the dependency dep") && message.contains("401"),
        "{message}"
    );
    // A HelmRepository of the dependency's URL lends it its credentials.
    lockstep_testenv::manifests::apply_yaml(
        &s.client,
        include_str!("../../deploy/crds/source.toolkit.fluxcd.io_helmrepositories.yaml"),
    )
    .await
    .unwrap();
    let params = kube::api::PatchParams::apply("helm-tests");
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "deps"},
                        "stringData": {"username": "deps", "password": PASSWORD}});
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    secrets
        .patch("deps", &params, &kube::api::Patch::Apply(&secret))
        .await
        .unwrap();
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "deps"},
        "spec": {"url": server.url(), "secretRef": {"name": "deps"}},
    });
    let repositories: Api<lockstep_api::flux::HelmRepository> =
        Api::namespaced(s.client.clone(), &s.ns);
    repositories
        .patch("deps", &params, &kube::api::Patch::Apply(&repository))
        .await
        .unwrap();
    applied(&s, "web", &commit).await;
    let configs: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let data = configs.get("web-dep").await.unwrap().data.unwrap();
    assert_eq!(data["chart"], "0.1.4", "the highest 0.1.x");
    assert_eq!(data["size"], "large", "the parent's values for it");
    // The dependency went into a private copy of the checkout, gone after the render.
    let mut left = Vec::new();
    let mut dirs = vec![s.controller.workdir().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with(".render-") || name == "charts" && dir.ends_with("chart") {
                    left.push(entry.path());
                }
                dirs.push(entry.path());
            }
        }
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

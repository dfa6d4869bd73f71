//! The everyday verbs against the real controller: `lockstep get`, `reconcile
//! [--with-source]`, `suspend`, `resume`, `approve` and `tree` on a control plane where
//! `lockstep-controller` syncs a repository from the real git daemon — each verb's output
//! and exit code, as a script would read them.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::Sync;
use lockstep_testenv::{ControlPlane, GitServer, need};
use serde_json::{Value, json};

use crate::built_binary;
use crate::support::{Controller, create_lockstep, install_sync_crds};

fn cm(value: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\ndata: {{v: \"{value}\"}}\n")
}

/// `lockstep args…`: exit code, stdout, stderr.
fn lockstep(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(built_binary("lockstep"))
        .args(args)
        .output()
        .unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.code().unwrap(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// The cells of the table row whose `NAME` column is `name`.
fn row(table: &str, name: &str) -> Vec<String> {
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split('\t')
        .map(str::trim)
        .collect();
    let at = header.iter().position(|c| *c == "NAME").unwrap();
    table
        .lines()
        .map(|l| {
            l.split('\t')
                .map(|c| c.trim().to_owned())
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.get(at).map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no row {name}: {table}"))
}

#[tokio::test]
async fn the_everyday_verbs_steer_a_sync_and_say_what_happened() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("verbs").await.unwrap();
    install_sync_crds(&client).await;
    let repo = git.create_repo("verbs", None).unwrap();
    repo.write("app/web.yaml", cm("one")).unwrap();
    let first = format!("main@sha1:{}", repo.commit("one").unwrap());
    let source = json!({"metadata": {"name": "repo"},
                        "spec": {"url": repo.git_url().unwrap(), "interval": "1h",
                                 "ref": {"branch": "main"}}});
    create_lockstep(&client, &ns, "GitSource", source).await;
    let sync = json!({"metadata": {"name": "web"},
                      "spec": {"sourceRef": {"name": "repo"}, "path": "app",
                               "interval": "1h", "prune": true, "targetNamespace": &ns}});
    create_lockstep(&client, &ns, "Sync", sync).await;
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let at = ["--kubeconfig", kubeconfig.as_str(), "-n", ns.as_str()];
    let verb = |args: &[&str]| lockstep(&[args, &at[..]].concat());
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = async || configmaps.get("web").await.unwrap().data.unwrap()["v"].clone();

    // Without a controller the wait ends at its timeout, saying why.
    let (code, _, stderr) = verb(&["reconcile", "web", "--timeout", "2s"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("timed out after 2s") && stderr.contains("lockstep-controller"),
        "{stderr}"
    );

    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    let (code, stdout, stderr) = verb(&["reconcile", "web"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("applied revision {first}")),
        "{stdout}"
    );
    assert_eq!(value().await, "one");

    // A table like `flux get`, plain when not on a terminal; JSON; every namespace.
    let (code, table, _) = verb(&["get", "syncs"]);
    assert_eq!(code, 0);
    assert!(!table.contains('\x1b'), "colour off a terminal: {table:?}");
    assert_eq!(
        row(&table, "web"),
        [
            "web",
            first.as_str(),
            "false",
            "True",
            &format!("Applied revision: {first}")
        ]
    );
    let (_, sources, _) = lockstep(&["get", "sources", "-A", "--kubeconfig", &kubeconfig]);
    assert!(sources.starts_with("NAMESPACE"), "{sources}");
    // Other tests' sources share the control plane: ours is the row in our namespace.
    let cells =
        |line: &str| -> Vec<String> { line.split('\t').map(|c| c.trim().to_owned()).collect() };
    assert!(
        sources
            .lines()
            .any(|l| cells(l)[..2] == [ns.clone(), "repo".to_owned()]),
        "{sources}"
    );
    let (_, json, _) = verb(&["get", "sync", "-o", "json"]);
    let listed: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(listed[0]["metadata"]["name"], "web");

    // A plain reconcile takes the source as fetched; --with-source fetches it first.
    repo.write("app/web.yaml", cm("two")).unwrap();
    let second = format!("main@sha1:{}", repo.commit("two").unwrap());
    let (code, stdout, _) = verb(&["reconcile", "web"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("applied revision {first}")),
        "{stdout}"
    );
    let (code, stdout, stderr) = verb(&["reconcile", "web", "--with-source"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("GitSource repo fetched revision {second}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("applied revision {second}")),
        "{stdout}"
    );
    assert_eq!(value().await, "two");

    // What it applied, with health.
    let (code, tree, _) = verb(&["tree", "web"]);
    assert_eq!(code, 0, "{tree}");
    assert_eq!(tree.lines().next(), Some(format!("Sync/{ns}/web").as_str()));
    assert!(
        tree.contains(&format!("└── ConfigMap/{ns}/web Current")),
        "{tree}"
    );

    // `get -w` prints a row as it changes; suspended, a reconcile is refused by name.
    let mut watch = Command::new(built_binary("lockstep"))
        .args(["get", "syncs", "-w"])
        .args(at)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, rows) = mpsc::channel();
    let stdout = watch.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = || rows.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(next().starts_with("NAME"));
    assert!(next().starts_with("web"));
    let (code, stdout, _) = verb(&["suspend", "web"]);
    assert_eq!((code, stdout.trim()), (0, "✔ Sync web suspended"));
    let changed = next();
    let cells: Vec<&str> = changed.split('\t').map(str::trim).collect();
    assert_eq!(cells[..3], ["web", second.as_str(), "true"], "{changed}");
    watch.kill().unwrap();
    watch.wait().unwrap();
    let (code, _, stderr) = verb(&["reconcile", "web"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("Sync web is suspended") && stderr.contains("lockstep resume web"),
        "{stderr}"
    );
    let (code, stdout, stderr) = verb(&["resume", "web"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &ns);
    assert!(!syncs.get("web").await.unwrap().spec.suspend);

    // Manual mode: a reconcile reports the plan; approve applies it.
    let manual = json!({"spec": {"mode": "manual"}});
    syncs
        .patch("web", &PatchParams::default(), &Patch::Merge(&manual))
        .await
        .unwrap();
    repo.write("app/web.yaml", cm("three")).unwrap();
    let third = format!("main@sha1:{}", repo.commit("three").unwrap());
    let (code, _, stderr) = verb(&["reconcile", "web", "--with-source"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains("waits for approval") && stderr.contains("lockstep approve web"),
        "{stderr}"
    );
    assert_eq!(value().await, "two", "applied without approval");
    let (code, stdout, stderr) = verb(&["approve", "web"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("approved revision {third}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("applied revision {third}")),
        "{stdout}"
    );
    assert_eq!(value().await, "three");
    // Every revision applied, newest first.
    let (code, history, _) = verb(&["history", "web"]);
    assert_eq!(code, 0, "{history}");
    let revisions: Vec<&str> = history
        .lines()
        .skip(1)
        .map(|l| l.split('\t').next().unwrap().trim())
        .collect();
    assert_eq!(revisions, [&third, &second, &first], "{history}");
    // Each with its commit's author and first line.
    let newest: Vec<&str> = history.lines().nth(1).unwrap().split('\t').collect();
    assert_eq!(newest[2..], ["Lockstep Test", "three"], "{history}");
    let (_, json, _) = verb(&["history", "web", "-o", "json"]);
    let entries: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(entries[1]["message"], "two", "{json}");
    assert!(
        entries[1]["authoredAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json}"
    );
    assert!(
        entries[0]["appliedAt"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{json}"
    );

    let (code, _, stderr) = verb(&["approve", "web"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no plan waiting for approval"), "{stderr}");

    // Back to the first revision: pinned there while the source moves on, then unpinned.
    let auto = json!({"spec": {"mode": "auto"}});
    syncs
        .patch("web", &PatchParams::default(), &Patch::Merge(&auto))
        .await
        .unwrap();
    let (code, _, stderr) = verb(&["rollback", "web", "--to", "0000000"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("lockstep history web"), "{stderr}");
    let prefix = first.rsplit_once("sha1:").unwrap().1[..8].to_owned();
    let (code, stdout, stderr) = verb(&["rollback", "web", "--to", &prefix]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("pinned to revision {first}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("applied revision {first}")),
        "{stdout}"
    );
    assert_eq!(value().await, "one");
    let (_, table, _) = verb(&["get", "syncs"]);
    assert_eq!(
        row(&table, "web")[1],
        format!("{first} (pinned)"),
        "{table}"
    );
    let pinned = syncs.get("web").await.unwrap().status.unwrap();
    let condition = pinned.conditions.iter().find(|c| c.type_ == "Pinned");
    assert!(
        condition.is_some_and(|c| c.message.contains(&first)),
        "{pinned:?}"
    );
    repo.write("app/web.yaml", cm("four")).unwrap();
    let fourth = format!("main@sha1:{}", repo.commit("four").unwrap());
    let (code, stdout, _) = verb(&["reconcile", "web", "--with-source"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains(&format!("GitSource repo fetched revision {fourth}")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("applied revision {first}")),
        "held by the pin: {stdout}"
    );
    assert_eq!(value().await, "one");
    let (code, stdout, stderr) = verb(&["rollback", "web", "--unpin"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("applied revision {fourth}")),
        "{stdout}"
    );
    assert_eq!(value().await, "four");
    let status = syncs.get("web").await.unwrap().status.unwrap();
    assert!(
        status.conditions.iter().all(|c| c.type_ != "Pinned"),
        "{status:?}"
    );
    assert_eq!(status.history[0].revision, fourth);
    let took = status.history[0].duration.as_deref().unwrap_or_default();
    assert!(took.ends_with("ms") || took.ends_with('s'), "{took:?}");
    assert_eq!(
        status.history[1].revision, first,
        "the rollback is in the history"
    );

    // A Sync that is not there is named, with where to look.
    let (code, _, stderr) = verb(&["reconcile", "nothere"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!("Sync nothere not found in namespace {ns}")),
        "{stderr}"
    );
}

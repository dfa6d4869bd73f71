//! The web UI in a real browser: headless Chromium, driven through WebDriver, against
//! `lockstep-controller --listen-ui-addr` on the test control plane. A user signs in with
//! a ServiceAccount's token, sees only the Syncs their RBAC lets them list, watches a Sync
//! take a new commit live (no reload), opens the tree and the diff (a ServiceAccount that may
//! read the Sync but not its objects is shown none), approves a manual
//! plan, rolls back, and — signed in as a ServiceAccount that may only read — is refused
//! an action by the API server. Every page and the live stream are then swept for the
//! test's secret values (SOPS, SealedSecret, a Vault reference, a
//! `last-applied-configuration`), raw and base64. Screenshots of each step are kept in the browser's log folder.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ObjectMeta, Patch, PatchParams, PostParams};
use lockstep_api::Sync;
use lockstep_sealed::SealOptions;
use lockstep_testenv::{Browser, Canaries, ControlPlane, GitServer, Vault, free_port, need};
use serde_json::{Value, json};

use crate::support::{
    Controller, LAST_APPLIED, account, create_lockstep, create_sealed, eventually, input,
    install_crd, install_sync_crds, rule, seal_json,
};

const SOPS_CANARY: &str = "ui-canary-sops-7f3a9c1e";
const SEALED_CANARY: &str = "ui-canary-sealed-2b8e4177";
const APPLIED_CANARY: &str = "ui-canary-lastapplied-9d0c55ab";
const REF_CANARY: &str = "ui-canary-vaultref-5e17c3d0";
const HAND_CANARY: &str = "ui-canary-by-hand-61c0e2f4";

/// How long the browser waits for a page to show something.
const WAIT: Duration = Duration::from_secs(60);

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

/// Signs in with `token` and waits for the overview.
async fn sign_in(browser: &Browser, base: &str, token: &str) {
    browser.goto(&format!("{base}/")).await.unwrap();
    let field = browser.wait_for("textarea#token", WAIT).await.unwrap();
    field.send_keys(token).await.unwrap();
    browser
        .find("form.sign-in button[type=submit]")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("table#syncs", WAIT).await.unwrap();
}

/// Signs out, then in with `token`.
async fn switch_user(browser: &Browser, base: &str, token: &str) {
    browser
        .find("header form button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser.wait_for("textarea#token", WAIT).await.unwrap();
    sign_in(browser, base, token).await;
}

/// Clicks the button of the action form `action` (with `revision`, if several).
async fn act(browser: &Browser, action: &str, revision: Option<&str>) {
    let css = match revision {
        Some(revision) => format!(
            r#"form[action$="/{action}"]:has(input[name=revision][value="{revision}"]) button"#
        ),
        None => format!(r#"form[action$="/{action}"] button"#),
    };
    browser.find(&css).await.unwrap().click().await.unwrap();
}

#[tokio::test]
async fn a_user_signs_in_watches_steers_and_is_refused_what_rbac_forbids() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let browser = need!(Browser::start().await);
    let vault = need!(Vault::start().await);
    let kv = json!({"data": {"password": REF_CANARY}}).to_string();
    vault.post("/v1/secret/data/ui/db", &kv).await.unwrap();
    let (client, ns) = plane.namespace("ui").await.unwrap();
    install_sync_crds(&client).await;
    install_crd(&client).await;

    let port = free_port().unwrap();
    let listen = format!("--listen-ui-addr=127.0.0.1:{port}");
    let controller = Controller::start_syncing(plane, &ns, &[&listen]).await;
    // Chromium keeps `Secure` cookies over plain HTTP only for localhost.
    let base = format!("http://localhost:{port}");

    // The repository: a ConfigMap, a SOPS-encrypted Secret, a SealedSecret; a Deployment
    // in a Sync of its own; a folder a manual Sync plans.
    let repo = git.create_repo("ui", None).unwrap();
    repo.write("app/web.yaml", cm("web", "one")).unwrap();
    let (recipient, identity) = lockstep_keys::age::generate();
    repo.write(
        "app/secret.yaml",
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {SOPS_CANARY}}}\n"
        ),
    )
    .unwrap();
    need!(lockstep_testenv::sops_encrypt_age(
        repo.work_tree(),
        &recipient,
        "app/secret.yaml"
    ));
    let sealed = seal_json(
        &controller.cert().await,
        input(&ns, "api-token", &[("token", SEALED_CANARY)]),
        &SealOptions::default(),
    );
    repo.write("app/sealed.yaml", sealed.to_string()).unwrap();
    repo.write(
        "app/refs.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-vault\n  annotations: {lockstep.dev/resolve: enabled}\nstringData: {password: ref+vault://secret/ui/db#password}\n",
    )
    .unwrap();
    repo.write(
        "workload/deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: registry.invalid/web:1}]}\n",
    )
    .unwrap();
    repo.write("gated/gated.yaml", cm("gated", "planned"))
        .unwrap();
    let first = repo.commit("one").unwrap();

    let key = Secret {
        metadata: ObjectMeta {
            name: Some("sops-age".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            (
                "identity.agekey".to_owned(),
                secrecy::ExposeSecret::expose_secret(&identity).to_owned(),
            ),
            ("sops.vault-token".to_owned(), vault.token().to_owned()),
            ("vault.address".to_owned(), vault.addr().to_owned()),
        ])),
        ..Secret::default()
    };
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &key)
        .await
        .unwrap();
    let source = json!({"metadata": {"name": "repo"},
                        "spec": {"url": repo.git_url().unwrap(), "interval": "2s",
                                 "ref": {"branch": "main"}}});
    create_lockstep(&client, &ns, "GitSource", source).await;
    let sync = |name: &str, path: &str, extra: Value| {
        let mut spec = json!({"sourceRef": {"name": "repo"}, "path": path, "interval": "1h",
                              "prune": true, "targetNamespace": &ns});
        spec.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"metadata": {"name": name}, "spec": spec})
    };
    // A short interval: without selfHeal, each interval's dry-run reports drift.
    let decryption = json!({"decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                            "interval": "3s"});
    create_lockstep(&client, &ns, "Sync", sync("web", "app", decryption)).await;
    create_lockstep(
        &client,
        &ns,
        "Sync",
        sync("workload", "workload", json!({})),
    )
    .await;
    create_lockstep(
        &client,
        &ns,
        "Sync",
        sync("gated", "gated", json!({"mode": "manual"})),
    )
    .await;

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = async |name: &str| {
        configmaps
            .get_opt(name)
            .await
            .unwrap()
            .and_then(|cm| cm.data)
            .map(|data| data["v"].clone())
    };
    // Secrets are applied after ConfigMaps (Flux's kind order): wait for the last of them.
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    eventually("the web Sync to apply", async || {
        value("web").await.as_deref() == Some("one")
            && secrets.get_opt("from-vault").await.unwrap().is_some()
    })
    .await;
    // The reference resolved: its value is in the cluster, so the sweep below means it.
    let from_vault = secrets.get("from-vault").await.unwrap();
    let resolved = from_vault.data.unwrap_or_default()["password"].0.clone();
    assert_eq!(resolved, REF_CANARY.as_bytes());
    // A Secret with a `kubectl apply` copy of itself, as one applied by hand would carry.
    let copy =
        json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"password": APPLIED_CANARY}});
    let annotate = json!({"metadata": {"annotations": {LAST_APPLIED: copy.to_string()}}});
    secrets
        .patch("db", &PatchParams::default(), &Patch::Merge(&annotate))
        .await
        .unwrap();

    let all = ["get", "list", "watch", "patch", "update"];
    let admin = account(
        &client,
        &ns,
        "ui-admin",
        vec![
            rule(&["lockstep.dev"], &["syncs", "gitsources"], &all),
            rule(
                &[""],
                &["configmaps", "secrets", "events", "pods"],
                &["get", "list"],
            ),
            rule(&["apps"], &["deployments", "replicasets"], &["get", "list"]),
            rule(&["bitnami.com"], &["sealedsecrets"], &["get", "list"]),
        ],
    )
    .await;
    let viewer = account(
        &client,
        &ns,
        "ui-viewer",
        vec![rule(
            &["lockstep.dev"],
            &["syncs"],
            &["get", "list", "watch"],
        )],
    )
    .await;
    let stranger = account(
        &client,
        &ns,
        "ui-stranger",
        vec![rule(&[""], &["configmaps"], &["get"])],
    )
    .await;

    // No anonymous access: the UI sends a stranger to sign in; a bad token is refused.
    browser.goto(&format!("{base}/")).await.unwrap();
    browser.wait_for("textarea#token", WAIT).await.unwrap();
    assert!(browser.url().await.unwrap().ends_with("/sign-in"));
    browser.screenshot("01-sign-in").await.unwrap();
    browser
        .find("textarea#token")
        .await
        .unwrap()
        .send_keys("not-a-token")
        .await
        .unwrap();
    browser
        .find("form.sign-in button")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    browser
        .wait_until_text("p.error", "did not accept this token", WAIT)
        .await
        .unwrap();

    // The overview: our Syncs.
    sign_in(&browser, &base, &admin).await;
    let row = |name: &str| format!("tr#row-{ns}-{name}");
    browser
        .wait_until_text(&row("web"), "Ready", WAIT)
        .await
        .unwrap();
    browser.wait_for(&row("gated"), WAIT).await.unwrap();
    // When the revision was applied, and how long that reconcile took.
    let web_row = text_of(&browser, &row("web")).await;
    assert!(
        web_row.contains(" in ") && (web_row.contains("ms") || web_row.contains('s')),
        "{web_row}"
    );
    let cookies = browser.cookies().await.unwrap();
    let session = cookies
        .iter()
        .find(|c| c["name"] == "lockstep-session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["secure"], true);
    assert_eq!(session["sameSite"], "Strict");
    browser.screenshot("02-overview").await.unwrap();

    // A Sync created while the overview is open appears in it, where it sorts, without a
    // reload (suspended, so it never applies).
    browser
        .execute("window.notReloaded = true; return null;", &[])
        .await
        .unwrap();
    create_lockstep(
        &client,
        &ns,
        "Sync",
        sync("late", "app", json!({"suspend": true})),
    )
    .await;
    browser
        .wait_until_text(&row("late"), "Suspended", WAIT)
        .await
        .unwrap();
    let order = browser
        .execute(
            "return Array.from(document.querySelectorAll('#syncs tbody tr')).map(r => r.id);",
            &[],
        )
        .await
        .unwrap();
    let want: Vec<String> = ["gated", "late", "web", "workload"]
        .iter()
        .map(|name| format!("row-{ns}-{name}"))
        .collect();
    assert_eq!(order, json!(want));
    let kept = browser
        .execute("return window.notReloaded === true;", &[])
        .await
        .unwrap();
    assert_eq!(
        kept,
        json!(true),
        "the overview was reloaded, not updated live"
    );

    // A commit lands; the page shows the new revision without being reloaded.
    browser
        .goto(&format!("{base}/syncs/{ns}/web"))
        .await
        .unwrap();
    let status = format!("section#status-{ns}-web");
    browser
        .wait_until_text(&status, &first[..7], WAIT)
        .await
        .unwrap();
    browser
        .execute("window.notReloaded = true; return null;", &[])
        .await
        .unwrap();
    repo.write("app/web.yaml", cm("web", "two")).unwrap();
    let second = repo.commit("two").unwrap();
    browser
        .wait_until_text(&format!("{status} dd.applied"), &second[..7], WAIT)
        .await
        .unwrap();
    let kept = browser
        .execute("return window.notReloaded === true;", &[])
        .await
        .unwrap();
    assert_eq!(kept, json!(true), "the page was reloaded, not updated live");
    browser.screenshot("03-sync-live").await.unwrap();

    // Reconcile now: written as the user, said so on the page.
    act(&browser, "reconcile", None).await;
    browser
        .wait_until_text("p.notice", "Reconcile requested", WAIT)
        .await
        .unwrap();

    // Drift: a change made by hand is named, field by field, at the next interval.
    let drift = json!({"data": {"v": "by-hand"}});
    configmaps
        .patch(
            "web",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "web"}, "data": drift["data"]})),
        )
        .await
        .unwrap();
    let drifted = reload_until(
        &browser,
        &format!("{base}/syncs/{ns}/web"),
        "section#drift",
        |text| text.contains("ConfigMap") && text.contains("data.v"),
    )
    .await;
    assert!(
        drifted.contains("ConfigMap") && drifted.contains("data.v"),
        "the drift is not shown: {drifted}"
    );
    browser.screenshot("04-drift").await.unwrap();

    // The diff itself: the hand-made value against Git's, and a Secret changed by hand
    // shown as changed, never with either value (nor its `last-applied-configuration`).
    let hand = json!({"data": {"password": ByteString(HAND_CANARY.as_bytes().to_vec())}});
    secrets
        .patch("db", &PatchParams::apply("kubectl-edit").force(), &Patch::Apply(&json!({
            "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": hand["data"]})))
        .await
        .unwrap();
    browser
        .find("a#show-diff")
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let diff = browser.wait_for("pre.diff", WAIT).await.unwrap();
    let shown = text_of(&browser, "main").await;
    assert!(
        shown.contains("-  v: by-hand") && shown.contains("+  v: two"),
        "the ConfigMap's change, value for value: {shown}"
    );
    assert!(
        shown.contains(&format!("Secret/{ns}/db")) && shown.contains("[redacted, after]"),
        "the Secret changed by hand is in the diff: {shown}"
    );
    drop(diff);
    let page = browser.source().await.unwrap();
    Canaries::new([SOPS_CANARY, HAND_CANARY, APPLIED_CANARY]).assert_absent("the diff page", &page);
    browser.screenshot("04-diff").await.unwrap();
    browser
        .goto(&format!("{base}/syncs/{ns}/web"))
        .await
        .unwrap();

    // Roll back to the first revision: applied, and the page says the Sync is pinned.
    act(&browser, "rollback", Some(&format!("main@sha1:{first}"))).await;
    browser
        .wait_until_text("p.notice", "pinned", WAIT)
        .await
        .unwrap();
    eventually("the rollback to apply", async || {
        value("web").await.as_deref() == Some("one")
    })
    .await;
    browser
        .goto(&format!("{base}/syncs/{ns}/web"))
        .await
        .unwrap();
    browser
        .wait_until_text("p.pinned", &first, WAIT)
        .await
        .unwrap();
    let history = text_of(&browser, "section#history").await;
    assert!(
        history.contains("Lockstep Test") && history.contains("two") && history.contains("one"),
        "each applied revision with its commit: {history}"
    );
    browser.screenshot("05-rolled-back").await.unwrap();

    // The tree: the Deployment, the ReplicaSet made from it, and that one's Pod.
    let tree = reload_until(
        &browser,
        &format!("{base}/syncs/{ns}/workload"),
        "ul#tree",
        |tree| tree.contains("Pod/web-"),
    )
    .await;
    assert!(
        tree.contains(&format!("Deployment/{ns}/web"))
            && tree.contains("ReplicaSet/web-")
            && tree.contains("Pod/web-"),
        "{tree}"
    );
    browser.screenshot("06-tree").await.unwrap();

    // The manual plan: shown, approved, applied.
    let waiting = "Plan waiting for approval";
    let page = reload_until(
        &browser,
        &format!("{base}/syncs/{ns}/gated"),
        "main",
        |page| page.contains(waiting),
    )
    .await;
    assert!(page.contains(waiting), "no plan shown: {page}");
    let plan = text_of(&browser, "section#plan").await;
    assert!(
        plan.contains(&format!("ConfigMap/{ns}/gated")) && plan.contains("created"),
        "{plan}"
    );
    browser.screenshot("07-plan").await.unwrap();
    act(&browser, "approve", None).await;
    browser
        .wait_until_text("p.notice", "approved", WAIT)
        .await
        .unwrap();
    eventually("the approved plan to apply", async || {
        value("gated").await.as_deref() == Some("planned")
    })
    .await;

    // The other kinds the controller serves are listed beside the Syncs.
    browser
        .goto(&format!("{base}/?kind=sealedsecrets"))
        .await
        .unwrap();
    browser
        .wait_until_text(&format!("tr#sealedsecrets-{ns}-api-token"), "Ready", WAIT)
        .await
        .unwrap();
    // Its row names the sealing key that unsealed it.
    let sealed_row = text_of(&browser, &format!("tr#sealedsecrets-{ns}-api-token")).await;
    assert!(
        sealed_row.contains("unsealed with sealing key sealed-secrets-key"),
        "{sealed_row}"
    );
    browser.screenshot("08-sealedsecrets").await.unwrap();
    // One sealed now appears in the open tab without a reload, and turns Ready live.
    let late = seal_json(
        &controller.cert().await,
        input(&ns, "late-token", &[("token", SEALED_CANARY)]),
        &SealOptions::default(),
    );
    create_sealed(&client, &ns, late).await;
    browser
        .wait_until_text(
            &format!("tr#sealedsecrets-{ns}-late-token"),
            "sealing key",
            WAIT,
        )
        .await
        .unwrap();

    // Its page: what it is made from (item names, never the ciphertext), its status, its
    // conditions and events.
    browser
        .goto(&format!("{base}/objects/sealedsecrets/{ns}/api-token"))
        .await
        .unwrap();
    let facts = text_of(&browser, "section#facts").await;
    assert!(
        facts.contains("token") && facts.contains("strict"),
        "{facts}"
    );
    let timeline = text_of(&browser, "section#timeline").await;
    assert!(
        timeline.contains("Synced True") && timeline.contains("Unsealed"),
        "{timeline}"
    );
    browser.screenshot("09-sealedsecret").await.unwrap();

    // The Sync's secrets panel names the key its SealedSecret is sealed to, with its age.
    browser
        .goto(&format!("{base}/syncs/{ns}/web"))
        .await
        .unwrap();
    let panel = text_of(&browser, "section#secrets").await;
    assert!(
        panel.contains(&format!(
            "SealedSecret/{ns}/api-token unsealed with sealing key sealed-secrets-key"
        )) && panel.contains("created 20"),
        "{panel}"
    );

    // Every page and the live stream, swept for the secret values.
    let canaries = Canaries::new([SOPS_CANARY, SEALED_CANARY, APPLIED_CANARY, REF_CANARY]);
    let cookie = format!("lockstep-session={}", session["value"].as_str().unwrap());
    let http = reqwest::Client::new();
    let live = {
        let http = http.clone();
        let url = format!("{base}/live");
        let page_live = format!("{base}/live?sync={ns}/web");
        let object_live = format!("{base}/live?object=sealedsecrets/{ns}/api-token");
        let cookie = cookie.clone();
        tokio::spawn(async move {
            let mut text = String::new();
            for url in [url, page_live, object_live] {
                let mut response = http
                    .get(&url)
                    .header("cookie", &cookie)
                    .send()
                    .await
                    .unwrap();
                let until = tokio::time::Instant::now() + Duration::from_secs(8);
                while let Ok(Ok(Some(chunk))) =
                    tokio::time::timeout_at(until, response.chunk()).await
                {
                    text.push_str(&String::from_utf8_lossy(&chunk));
                }
            }
            text
        })
    };
    // Changes for the streams to carry.
    for name in ["web", "gated", "workload"] {
        let patch = lockstep_api::steer::requested(json!({}), &format!("sweep-{name}"));
        Api::<Sync>::namespaced(client.clone(), &ns)
            .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    }
    let mut swept = 0;
    for path in [
        "/".to_owned(),
        "/sign-in".to_owned(),
        format!("/syncs/{ns}/web"),
        format!("/syncs/{ns}/gated"),
        format!("/syncs/{ns}/workload"),
        format!("/syncs/{ns}/web/diff"),
        "/?kind=sealedsecrets".to_owned(),
        format!("/objects/sealedsecrets/{ns}/api-token"),
        "/static/ui.js".to_owned(),
    ] {
        let page = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let csp = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            csp.contains("default-src 'none'") && !csp.contains("unsafe"),
            "{csp}"
        );
        let text = page.text().await.unwrap();
        canaries.assert_absent(&format!("page {path}"), &text);
        swept += text.len();
    }
    let streamed = live.await.unwrap();
    assert!(
        streamed.contains("event: replace"),
        "the streams carried nothing"
    );
    canaries.assert_absent("the live streams", &streamed);
    assert!(
        swept > 5_000,
        "the pages are suspiciously short: {swept} bytes"
    );
    let secrets = browser_page(&browser, &format!("{base}/syncs/{ns}/web")).await;
    assert!(
        secrets.contains("SealedSecret") && secrets.contains("sops-age"),
        "the secrets panel names what the Sync uses: {secrets}"
    );
    assert!(
        secrets.contains("app/secret.yaml")
            && secrets.contains(&format!("age:{recipient}"))
            && secrets.contains("ago"),
        "each SOPS file with the keys it is encrypted to and its age: {secrets}"
    );
    assert!(
        secrets.contains("ref+vault://secret/ui/db#password") && secrets.contains("from-vault"),
        "each reference resolved, by path: {secrets}"
    );

    // A forged form (no CSRF token) is refused before the API server is asked.
    let forged = http
        .post(format!("{base}/syncs/{ns}/web/suspend"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("csrf=forged")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let web = Api::<Sync>::namespaced(client.clone(), &ns)
        .get("web")
        .await
        .unwrap();
    assert!(!web.spec.suspend, "a forged form suspended the Sync");

    // A user who may only read is refused an action by the API server, and told so.
    switch_user(&browser, &base, &viewer).await;
    browser
        .goto(&format!("{base}/syncs/{ns}/web"))
        .await
        .unwrap();
    act(&browser, "reconcile", None).await;
    browser
        .wait_until_text("p.error", "Refused by the API server (403", WAIT)
        .await
        .unwrap();
    let refusal = text_of(&browser, "p.error").await;
    assert!(refusal.contains("ui-viewer"), "{refusal}");
    browser.screenshot("09-refused").await.unwrap();

    // A user who may read the Sync but not its objects is not shown their diffs: the
    // ConfigMap drifts again (from the pinned revision now), and the viewer is told only
    // that it may not read it.
    configmaps
        .patch(
            "web",
            &PatchParams::apply("kubectl-edit").force(),
            &Patch::Apply(&json!({"apiVersion": "v1", "kind": "ConfigMap",
                                   "metadata": {"name": "web"}, "data": {"v": "by-hand-again"}})),
        )
        .await
        .unwrap();
    browser
        .goto(&format!("{base}/syncs/{ns}/web/diff"))
        .await
        .unwrap();
    browser
        .wait_until_text("main", "does not let you read this object", WAIT)
        .await
        .unwrap();
    let page = browser.source().await.unwrap();
    assert!(
        page.contains(&format!("ConfigMap/{ns}/web"))
            && !page.contains("by-hand")
            && !page.contains("pre class=\"diff\""),
        "{page}"
    );

    // A user who may list no Syncs sees none, though the controller holds several.
    switch_user(&browser, &base, &stranger).await;
    browser
        .wait_until_text("p.count", "0 Syncs", WAIT)
        .await
        .unwrap();
    assert!(
        browser
            .find_all("table#syncs tbody tr")
            .await
            .unwrap()
            .is_empty()
    );
    canaries.assert_absent("the controller's log", &controller.log());
}

/// Loads `url` again every second, for a minute at most, until the text of `css` satisfies
/// `done`; returns that text (the last one read, if it never does).
async fn reload_until(
    browser: &Browser,
    url: &str,
    css: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    let mut text = String::new();
    for _ in 0..60 {
        browser.goto(url).await.unwrap();
        text = text_of(browser, css).await;
        if done(&text) {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    text
}

/// The text of the `#secrets` section of `url`.
async fn browser_page(browser: &Browser, url: &str) -> String {
    browser.goto(url).await.unwrap();
    text_of(browser, "section#secrets").await
}

/// The text of the element `css` matches.
async fn text_of(browser: &Browser, css: &str) -> String {
    browser.find(css).await.unwrap().text().await.unwrap()
}

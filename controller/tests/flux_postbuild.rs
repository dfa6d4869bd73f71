//! A Flux Kustomization's `postBuild` served by the real `lockstep-controller` (`--flux`)
//! into the real kube-apiserver: variables from `substitute`, ConfigMaps and Secrets (a
//! later source wins, `substitute` last), defaults, the `$${…}` escape, the per-object
//! opt-out, a plain `${port}` typed as a number, and a SOPS-encrypted Secret whose
//! plaintext holds `${…}` arriving as written (substitution runs before decryption).
//! Failures are `Ready=False` naming the ConfigMap or the variable, never a value.

use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_api::ConditionStatus;
use lockstep_api::flux::Kustomization;
use lockstep_testenv::{ControlPlane, GitHttpServer, HttpAuth, need, tool};
use secrecy::ExposeSecret;
use serde_json::json;

use crate::flux::install_flux_crds;
use crate::support::{Controller, eventually, install_sync_crds};

const TOKEN: &str = "p0stbuild-bearer-token";
/// A value read from a Secret: it must reach the object and nothing else.
const HOST: &str = "db-9f3c.internal";
/// The plaintext of the SOPS-encrypted Secret.
const PASSWORD: &str = "pa55-${cluster}-$${x}";

fn write(repo: &lockstep_testenv::GitRepo, path: &str, text: &str) {
    repo.write(path, text).unwrap();
}

#[tokio::test]
async fn post_build_variables_are_substituted_before_decryption() {
    let plane = need!(ControlPlane::shared().await);
    let sops = need!(tool("sops"));
    let (client, ns) = plane.namespace("flux-postbuild").await.unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;

    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let repo = git.create_repo("apps", None).unwrap();
    write(
        &repo,
        "apps/web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-${cluster}\ndata:\n  \
         cluster: ${cluster}\n  region: ${region}\n  host: https://${host}/\n  \
         tier: ${tier:=gold}\n  zone: ${zone:=${region}-a}\n  escaped: $${cluster}\n  \
         shell: echo $HOME\n",
    );
    write(
        &repo,
        "apps/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  \
         ports:\n  - port: ${port}\n    name: http\n  selector: {app: web}\n",
    );
    write(
        &repo,
        "apps/script.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: script\n  annotations: \
         {kustomize.toolkit.fluxcd.io/substitute: disabled}\ndata:\n  run: echo ${undefined}\n",
    );
    write(
        &repo,
        "apps/db.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db-${{cluster}}\n\
             stringData: {{password: '{PASSWORD}'}}\n"
        ),
    );
    let (recipient, identity) = lockstep_keys::age::generate();
    let out = Command::new(sops)
        .current_dir(repo.work_tree())
        .env("HOME", repo.work_tree())
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .args(["--encrypted-regex", "^(data|stringData)$", "apps/db.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    write(
        &repo,
        "strict/web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: strict}\ndata: {a: '${undefined}'}\n",
    );
    let commit = repo.commit("substituted apps").unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let post = PostParams::default();
    for secret in [
        json!({"metadata": {"name": "sops-age"},
               "stringData": {"age.agekey": identity.expose_secret()}}),
        json!({"metadata": {"name": "secret-vars"}, "stringData": {"host": HOST}}),
        json!({"metadata": {"name": "git-auth"}, "stringData": {"bearerToken": TOKEN}}),
    ] {
        let secret = serde_json::from_value(secret).unwrap();
        secrets.create(&post, &secret).await.unwrap();
    }
    let vars = json!({"metadata": {"name": "vars"},
                      "data": {"cluster": "staging", "region": "eu-west-1", "port": "8080",
                               "host": "overridden-by-the-secret"}});
    let vars = serde_json::from_value(vars).unwrap();
    configmaps.create(&post, &vars).await.unwrap();

    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let params = PatchParams::apply("flux-tests").force();
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": git.url("apps"), "interval": "1m", "ref": {"branch": "main"},
                 "secretRef": {"name": "git-auth"}},
    });
    Api::<lockstep_api::flux::GitRepository>::namespaced(client.clone(), &ns)
        .patch("repo", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let kustomization = |name: &str, path: &str, from: serde_json::Value| {
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name},
            "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": path,
                     "interval": "1m", "prune": true, "targetNamespace": ns,
                     "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                     "postBuild": {"substitute": {"cluster": "prod"}, "substituteFrom": from}},
        })
    };
    let sources = json!([
        {"kind": "ConfigMap", "name": "vars"},
        {"kind": "ConfigMap", "name": "absent", "optional": true},
        {"kind": "Secret", "name": "secret-vars"},
    ]);
    for (name, path, from) in [
        ("apps", "./apps", sources.clone()),
        (
            "missing",
            "./apps",
            json!([{"kind": "ConfigMap", "name": "nowhere"}]),
        ),
        ("strict", "./strict", sources),
    ] {
        kss.patch(
            name,
            &params,
            &Patch::Apply(&kustomization(name, path, from)),
        )
        .await
        .unwrap();
    }
    let _controller = Controller::start_syncing(plane, &ns, &["--flux=true"]).await;

    let revision = format!("main@sha1:{commit}");
    let ready = async |name: &str| {
        let ks = kss.get(name).await.unwrap();
        let status = ks.status.unwrap_or_default();
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready")?;
        (status.last_attempted_revision.as_ref() == Some(&revision)).then_some((
            ready.status,
            ready.reason,
            ready.message,
        ))
    };
    eventually("Kustomization apps to be Ready", async || {
        ready("apps")
            .await
            .is_some_and(|(status, _, _)| status == ConditionStatus::True)
    })
    .await;
    let web = configmaps.get("web-prod").await.unwrap().data.unwrap();
    let value = |key: &str| web[key].as_str();
    assert_eq!(
        value("cluster"),
        "prod",
        "substitute wins over substituteFrom"
    );
    assert_eq!(value("region"), "eu-west-1");
    assert_eq!(
        value("host"),
        format!("https://{HOST}/"),
        "later source wins"
    );
    assert_eq!(value("tier"), "gold");
    assert_eq!(value("zone"), "eu-west-1-a");
    assert_eq!(value("escaped"), "${cluster}");
    assert_eq!(value("shell"), "echo $HOME");
    let service: Api<Service> = Api::namespaced(client.clone(), &ns);
    let ports = service
        .get("web")
        .await
        .unwrap()
        .spec
        .unwrap()
        .ports
        .unwrap();
    assert_eq!(ports[0].port, 8080);
    let script = configmaps.get("script").await.unwrap().data.unwrap();
    assert_eq!(script["run"], "echo ${undefined}", "opted out");
    let db = secrets.get("db-prod").await.unwrap().data.unwrap();
    assert_eq!(
        db["password"].0,
        PASSWORD.as_bytes(),
        "decrypted, not substituted"
    );

    for (name, named) in [("missing", "ConfigMap"), ("strict", "variable undefined")] {
        eventually(&format!("Kustomization {name} to fail"), async || {
            ready(name).await.is_some_and(|(status, reason, message)| {
                status == ConditionStatus::False
                    && reason == "BuildFailed"
                    && message.contains(named)
            })
        })
        .await;
    }
    let (_, _, message) = ready("missing").await.unwrap();
    assert!(message.contains(&format!("{ns}/nowhere")), "{message}");
    let (_, _, message) = ready("strict").await.unwrap();
    assert!(
        message.contains(&format!("ConfigMap {ns}/strict")),
        "{message}"
    );

    // A value read from a Secret is in no status.
    for name in ["apps", "missing", "strict"] {
        let status = serde_json::to_string(&kss.get(name).await.unwrap().status).unwrap();
        assert!(
            !status.contains(HOST) && !status.contains("pa55"),
            "{status}"
        );
    }
}

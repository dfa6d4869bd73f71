//! Vault's Kubernetes auth for references: OpenBao reviews a service-account token of the
//! real API server, and the decryption Secret's `vault.kubernetes` login reads with it.

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::redact::Redactor;
use lockstep_engine::refs::{RefError, Resolver};
use lockstep_testenv::{ControlPlane, TokenAuth, Vault, need};
use secrecy::SecretString;
use serde_json::{Value, json};

use super::{Repo, all_text, assert_no_leak, find};

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_auth_logs_in_with_a_service_account_token() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(Vault::start().await);
    let Some(repo) = Repo::new(&[]) else { return };
    let (client, ns) = plane.namespace("vault-k8s").await.unwrap();

    // A service account and a token for it, from the API server.
    let accounts: Api<ServiceAccount> = Api::namespaced(client, &ns);
    let account = serde_json::from_value(json!({"metadata": {"name": "app"}})).unwrap();
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();
    let request = json!({
        "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
        "spec": {"expirationSeconds": 600}
    });
    let answer: Value = accounts
        .create_subresource("token", "app", &PostParams::default(), &request)
        .await
        .unwrap();
    let jwt = answer["status"]["token"].as_str().unwrap().to_owned();
    let token_file = repo.root().join("sa-token");
    std::fs::write(&token_file, &jwt).unwrap();

    // OpenBao reviews tokens with the admin credentials of the kubeconfig.
    vault
        .token_auth(TokenAuth::Kubernetes, plane, "app", "app", &ns)
        .await
        .unwrap();
    let canary = json!({"data": {"token": "canary-k8s-auth-5151"}});
    vault
        .post("/v1/secret/data/app", &canary.to_string())
        .await
        .unwrap();

    repo.write(
        "apps/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations: {lockstep.dev/resolve: enabled}\nstringData: {token: 'ref+vault://secret/app#token'}\n",
    );
    let keys = |role: &str, token_file: &std::path::Path| {
        Keys::from_secret(
            [
                ("vault.address", vault.addr().as_bytes()),
                ("vault.kubernetes", format!("role: {role}\n").as_bytes()),
            ],
            Ambient {
                service_account_token: Some(token_file.to_owned()),
                ..Ambient::none()
            },
        )
        .unwrap()
    };
    // The controller's token file, or a JWT the reconciler hands over (the file then
    // does not matter).
    let missing = repo.root().join("no-such-token");
    for keys in [
        keys("app", &token_file),
        keys("app", &missing).with_kubernetes_jwt(SecretString::from(jwt.clone())),
    ] {
        let mut manifests = repo.render("apps").manifests;
        Resolver::from_keys(&keys)
            .unwrap()
            .resolve(&mut manifests, &mut Redactor::new())
            .await
            .unwrap();
        assert_eq!(
            find(&manifests, "Secret", "s")["stringData"]["token"],
            "canary-k8s-auth-5151"
        );
    }
    assert!(matches!(
        Resolver::from_keys(&keys("app", &missing)),
        Err(RefError::ServiceAccountToken { .. })
    ));

    // A role the account is not bound to: login denied, nothing leaks (the JWT included).
    let mut manifests = repo.render("apps").manifests;
    let err = Resolver::from_keys(&keys("other", &token_file))
        .unwrap()
        .resolve(&mut manifests, &mut Redactor::new())
        .await
        .unwrap_err();
    assert!(matches!(err, RefError::Vault { .. }), "{err:?}");
    assert!(err.to_string().contains("login (kubernetes)"), "{err}");
    assert_no_leak(&all_text(&err), &["canary-k8s-auth-5151", &jwt]);
}

//! `ignoreDifferences` against the real kube-apiserver: a field another manager changed
//! (an autoscaler's `spec.replicas`) is not drift; when the object is written for another
//! reason, Git's value goes with it unless the rules are respected, and then the live
//! value (by JSON pointer) stays, or the field is left to the manager that owns it.

use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use lockstep_engine::apply::{Action, ApplyOptions, IgnoreDifferences, IgnoreRule, apply};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, need};

const AUTOSCALER: &str = "kube-controller-manager";

fn manifests(dir: &std::path::Path, ns: &str, image: &str) -> Vec<Manifest> {
    let text = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 1\n  \
         selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    \
         spec:\n      containers: [{{name: web, image: {image}}}]\n"
    );
    std::fs::write(dir.join("web.yaml"), text).unwrap();
    let options = RenderOptions {
        owner: Some(Owner::lockstep("apps", ns)),
        target_namespace: Some(ns.into()),
        overlay: None,
        directory: None,
    };
    render(dir, "", &options).unwrap().manifests
}

/// What an autoscaler does: sets `spec.replicas` with an update of its own.
async fn scale(deployments: &Api<Deployment>, replicas: i32) {
    let params = PatchParams {
        field_manager: Some(AUTOSCALER.into()),
        ..PatchParams::default()
    };
    let patch = serde_json::json!({"spec": {"replicas": replicas}});
    deployments
        .patch("web", &params, &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Waits until the deployment controller has observed the Deployment's latest generation
/// and written its revision annotation: a look whose read and dry-run straddle that write
/// (on a loaded machine, seconds after the change) sees the annotation as a difference.
async fn settled(deployments: &Api<Deployment>) {
    for _ in 0..300 {
        let live = deployments.get("web").await.unwrap();
        let observed = live.status.as_ref().and_then(|s| s.observed_generation);
        let annotations = live.metadata.annotations.unwrap_or_default();
        let revision = annotations.contains_key("deployment.kubernetes.io/revision");
        if revision && observed.is_some() && observed == live.metadata.generation {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the deployment controller did not observe Deployment web within 30 s");
}

async fn state(deployments: &Api<Deployment>) -> (i32, String) {
    let live = deployments.get("web").await.unwrap();
    let spec = live.spec.unwrap();
    let image = spec.template.spec.unwrap().containers[0].image.clone();
    (spec.replicas.unwrap(), image.unwrap_or_default())
}

async fn applied(client: &Client, manifests: &[Manifest], ignore: IgnoreDifferences) -> Action {
    let options = ApplyOptions {
        ignore,
        ..ApplyOptions::default()
    };
    let changes = apply(client, manifests, &options).await.unwrap();
    changes.changes[0].action
}

fn replicas(by_pointer: bool, respect: bool) -> IgnoreDifferences {
    let rule = IgnoreRule {
        group: "apps".into(),
        kind: "Deployment".into(),
        json_pointers: if by_pointer {
            vec!["/spec/replicas".into()]
        } else {
            Vec::new()
        },
        managers: if by_pointer {
            Vec::new()
        } else {
            vec![AUTOSCALER.into()]
        },
        ..IgnoreRule::default()
    };
    IgnoreDifferences {
        rules: vec![rule],
        respect,
    }
}

#[tokio::test]
async fn ignored_fields_are_not_drift_and_respected_ones_keep_their_live_value() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("apply-ignore").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let none = IgnoreDifferences::default;
    assert_eq!(
        applied(&client, &manifests(dir.path(), &ns, "web:1"), none()).await,
        Action::Created
    );

    // Without rules the autoscaler's replicas are drift and reverted.
    scale(&deployments, 3).await;
    let same = manifests(dir.path(), &ns, "web:1");
    assert_eq!(applied(&client, &same, none()).await, Action::Configured);
    assert_eq!(state(&deployments).await.0, 1);

    // Ignored, by pointer or by the manager that owns the field: nothing to write.
    scale(&deployments, 3).await;
    settled(&deployments).await;
    for by_pointer in [true, false] {
        let action = applied(&client, &same, replicas(by_pointer, false)).await;
        assert_eq!(action, Action::Unchanged, "by pointer: {by_pointer}");
    }
    assert_eq!(state(&deployments).await, (3, "web:1".into()));

    // Written for another reason: Git's replicas go with it (Argo CD's default) ...
    let image_2 = manifests(dir.path(), &ns, "web:2");
    assert_eq!(
        applied(&client, &image_2, replicas(true, false)).await,
        Action::Configured
    );
    assert_eq!(state(&deployments).await, (1, "web:2".into()));

    // ... unless respected: the live value by pointer stays ...
    scale(&deployments, 3).await;
    let image_3 = manifests(dir.path(), &ns, "web:3");
    assert_eq!(
        applied(&client, &image_3, replicas(true, true)).await,
        Action::Configured
    );
    assert_eq!(state(&deployments).await, (3, "web:3".into()));

    // ... and a field the named manager owns is left to it: Lockstep lets go of it.
    scale(&deployments, 4).await;
    let image_4 = manifests(dir.path(), &ns, "web:4");
    assert_eq!(
        applied(&client, &image_4, replicas(false, true)).await,
        Action::Configured
    );
    assert_eq!(state(&deployments).await, (4, "web:4".into()));
    let live = deployments.get("web").await.unwrap();
    let ours = live
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("lockstep"))
        .unwrap();
    let fields = serde_json::to_value(ours.fields_v1.unwrap()).unwrap();
    assert!(fields["f:spec"].get("f:replicas").is_none(), "{fields}");
    assert!(fields["f:spec"].get("f:template").is_some(), "{fields}");
}

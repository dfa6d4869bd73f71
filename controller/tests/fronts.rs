//! One history of commits through each front-end at once: a Lockstep `Sync`, a Flux
//! `Kustomization` and an Argo CD `Application` (automated, prune, selfHeal) read the same
//! folder of one repository into a namespace each, on the one engine. Each must apply a
//! commit, refuse one holding an object the API server rejects without writing any of it
//! (its other change included), take the revert of that commit, prune a removed object, and
//! restore it when that removal is reverted — what `sync.rs` proves for the Sync alone.
//! The repository is served over plain HTTP with a bearer token (Flux reads only
//! `http`, `https` and `ssh` URLs), each front given it the way its users give it.

/// The Git server's bearer token.
const TOKEN: &str = "fronts-t0ken";

use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use lockstep_testenv::{ControlPlane, GitHttpServer, GitRepo, HttpAuth, need};
use serde_json::{Value, json};

use crate::argocd::install_argocd_crds;
use crate::flux::install_flux_crds;
use crate::support::{Controller, create_lockstep, eventually, install_sync_crds};

#[derive(Clone, Copy, Debug)]
enum Front {
    Sync,
    Flux,
    Argo,
}

const FRONTS: [Front; 3] = [Front::Sync, Front::Flux, Front::Argo];

impl Front {
    /// The namespace this front applies into, in the test's namespace `ns`.
    fn target(self, ns: &str) -> String {
        format!("{ns}-{self:?}").to_lowercase()
    }

    fn resource(self) -> ApiResource {
        let (api_version, kind, plural) = match self {
            Self::Sync => ("lockstep.dev/v1alpha1", "Sync", "syncs"),
            Self::Flux => (
                "kustomize.toolkit.fluxcd.io/v1",
                "Kustomization",
                "kustomizations",
            ),
            Self::Argo => ("argoproj.io/v1alpha1", "Application", "applications"),
        };
        let (group, version) = api_version.split_once('/').unwrap();
        ApiResource {
            group: group.into(),
            version: version.into(),
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    /// Creates this front's object `app` (and its source) reading folder `app` of `url`.
    async fn create(self, client: &kube::Client, ns: &str, url: &str) {
        let target = self.target(ns);
        let object = match self {
            Self::Sync => {
                let source = json!({"metadata": {"name": "lockstep-repo"},
                                    "spec": {"url": url, "interval": "1s",
                                             "secretRef": {"name": "git-auth"}}});
                create_lockstep(client, ns, "GitSource", source).await;
                json!({
                    "apiVersion": "lockstep.dev/v1alpha1", "kind": "Sync",
                    "metadata": {"name": "app"},
                    "spec": {"sourceRef": {"name": "lockstep-repo"}, "path": "app",
                             "interval": "1s", "prune": true, "targetNamespace": target},
                })
            }
            Self::Flux => {
                let repository = json!({
                    "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                    "metadata": {"name": "flux-repo"},
                    "spec": {"url": url, "interval": "1s", "ref": {"branch": "main"},
                             "secretRef": {"name": "git-auth"}},
                });
                apply(client, ns, &flux_repository(), &repository).await;
                json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                    "metadata": {"name": "app"},
                    "spec": {"sourceRef": {"kind": "GitRepository", "name": "flux-repo"},
                             "path": "./app", "interval": "1s", "prune": true,
                             "targetNamespace": target},
                })
            }
            Self::Argo => {
                let secret: Secret = serde_json::from_value(json!({
                    "metadata": {"name": "repo",
                                 "labels": {"argocd.argoproj.io/secret-type": "repository"}},
                    "stringData": {"type": "git", "url": url, "bearerToken": TOKEN},
                }))
                .unwrap();
                Api::<Secret>::namespaced(client.clone(), ns)
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap();
                json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                "metadata": {"name": "app"},
                "spec": {"project": "default",
                         "source": {"repoURL": url, "targetRevision": "main", "path": "app"},
                         "destination": {"server": "https://kubernetes.default.svc",
                                         "namespace": target},
                         "syncPolicy": {"automated": {"prune": true, "selfHeal": true}}},
                })
            }
        };
        apply(client, ns, &self.resource(), &object).await;
    }

    async fn status(self, client: &kube::Client, ns: &str) -> Value {
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &self.resource());
        let object = api.get("app").await.unwrap();
        object.data.get("status").cloned().unwrap_or_default()
    }

    /// Whether this front says it applied `commit` and is ready.
    fn applied(self, status: &Value, commit: &str) -> bool {
        match self {
            Self::Sync | Self::Flux => {
                status["lastAppliedRevision"] == format!("main@sha1:{commit}")
                    && ready(status) == Some(true)
            }
            Self::Argo => {
                status["sync"]["status"] == "Synced"
                    && status["sync"]["revision"] == commit
                    && status["operationState"]["phase"] == "Succeeded"
            }
        }
    }

    /// This front's failure message once it has tried `commit` and failed.
    fn failed(self, status: &Value, commit: &str) -> Option<String> {
        let message = match self {
            Self::Sync | Self::Flux => {
                let attempted = status["lastAttemptedRevision"] == format!("main@sha1:{commit}");
                let ready = status["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Ready")?;
                (attempted && ready["status"] == "False").then(|| ready["message"].clone())?
            }
            Self::Argo => {
                let state = &status["operationState"];
                let tried = state["operation"]["sync"]["revision"] == commit
                    || state["syncResult"]["revision"] == commit;
                (tried && state["phase"] == "Failed").then(|| state["message"].clone())?
            }
        };
        message.as_str().map(str::to_owned)
    }
}

fn ready(status: &Value) -> Option<bool> {
    let conditions = status["conditions"].as_array()?;
    let ready = conditions.iter().find(|c| c["type"] == "Ready")?;
    Some(ready["status"] == "True")
}

fn flux_repository() -> ApiResource {
    ApiResource {
        group: "source.toolkit.fluxcd.io".into(),
        version: "v1".into(),
        api_version: "source.toolkit.fluxcd.io/v1".into(),
        kind: "GitRepository".into(),
        plural: "gitrepositories".into(),
    }
}

async fn apply(client: &kube::Client, ns: &str, resource: &ApiResource, object: &Value) {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    let name = object["metadata"]["name"].as_str().unwrap();
    let params = PatchParams::apply("fronts-test").force();
    api.patch(name, &params, &Patch::Apply(object))
        .await
        .unwrap();
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

/// ConfigMap `name`'s value in the namespace `front` applies into.
async fn value(client: &kube::Client, ns: &str, front: Front, name: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &front.target(ns));
    let map = api.get_opt(name).await.unwrap()?;
    map.data?.remove("v")
}

/// Waits until every front has applied `commit`.
async fn all_applied(client: &kube::Client, ns: &str, commit: &str) {
    for front in FRONTS {
        let what = format!("{front:?} to apply {commit}");
        eventually(&what, async || {
            front.applied(&front.status(client, ns).await, commit)
        })
        .await;
    }
}

fn head(repo: &GitRepo) -> String {
    repo.git(&["rev-parse", "HEAD"]).unwrap().trim().to_owned()
}

#[tokio::test]
async fn one_history_through_a_sync_a_kustomization_and_an_application() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let (client, ns) = plane.namespace("fronts").await.unwrap();
    let auth: Secret = serde_json::from_value(json!({
        "metadata": {"name": "git-auth"}, "stringData": {"bearerToken": TOKEN},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &auth)
        .await
        .unwrap();
    install_sync_crds(&client).await;
    install_flux_crds(&client).await;
    install_argocd_crds(&client).await;
    for front in FRONTS {
        let target = front.target(&ns);
        let namespace = json!({"apiVersion": "v1", "kind": "Namespace",
                               "metadata": {"name": target}});
        let namespaces: Api<Namespace> = Api::all(client.clone());
        namespaces
            .patch(
                &target,
                &PatchParams::apply("fronts-test"),
                &Patch::Apply(&namespace),
            )
            .await
            .unwrap();
    }
    let repo = git.create_repo("fronts", None).unwrap();
    repo.write("app/a.yaml", cm("a", "1")).unwrap();
    repo.write("app/b.yaml", cm("b", "1")).unwrap();
    let first = repo.commit("a and b").unwrap();
    let url = git.url("fronts");
    let _controller = Controller::start_syncing(
        plane,
        &ns,
        &["--flux=true", "--argocd=true", "--argocd-interval=1s"],
    )
    .await;
    for front in FRONTS {
        front.create(&client, &ns, &url).await;
    }
    all_applied(&client, &ns, &first).await;
    for front in FRONTS {
        assert_eq!(value(&client, &ns, front, "a").await.as_deref(), Some("1"));
        assert_eq!(value(&client, &ns, front, "b").await.as_deref(), Some("1"));
    }

    // A change to `a` with an object the API server rejects: nothing of it is written.
    repo.write("app/a.yaml", cm("a", "2")).unwrap();
    repo.write("app/bad.yaml", cm("Bad_Name", "x")).unwrap();
    let bad = repo.commit("a changed, and an invalid name").unwrap();
    for front in FRONTS {
        let mut message = String::new();
        eventually(&format!("{front:?} to refuse {bad}"), async || match front
            .failed(&front.status(&client, &ns).await, &bad)
        {
            Some(said) => {
                message = said;
                true
            }
            None => false,
        })
        .await;
        assert!(message.contains("Bad_Name"), "{front:?}: {message}");
        assert_eq!(
            value(&client, &ns, front, "a").await.as_deref(),
            Some("1"),
            "{front:?} wrote part of a refused revision"
        );
    }

    // Reverted in Git: every front takes the revert.
    repo.git(&["revert", "--no-edit", "HEAD"]).unwrap();
    let reverted = repo.push().unwrap();
    all_applied(&client, &ns, &reverted).await;

    // Removed: pruned. That removal reverted: restored.
    repo.remove("app/b.yaml").unwrap();
    let removed = repo.commit("b removed").unwrap();
    all_applied(&client, &ns, &removed).await;
    for front in FRONTS {
        assert_eq!(value(&client, &ns, front, "b").await, None, "{front:?}");
    }
    repo.git(&["revert", "--no-edit", "HEAD"]).unwrap();
    let restored = repo.push().unwrap();
    all_applied(&client, &ns, &restored).await;
    for front in FRONTS {
        assert_eq!(value(&client, &ns, front, "a").await.as_deref(), Some("1"));
        assert_eq!(value(&client, &ns, front, "b").await.as_deref(), Some("1"));
    }
    assert_eq!(head(&repo), restored);
}

//! An `AppProject`'s rules: the repositories and destinations its Applications may use,
//! and the kinds (and namespaces) of the objects they may apply, checked for every object
//! before anything is written ([`resource_refusal`]). The `default` project is read like
//! any other (Argo CD's install creates it permissive, administrators often restrict it);
//! only while no AppProject of that name exists does it allow everything.

use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::InventoryEntry;
use lockstep_api::argocd::{
    AppProject, AppProjectSpec, Application, DEFAULT_PROJECT, IN_CLUSTER_NAME, IN_CLUSTER_SERVER,
    ProjectRules, ResourceRule,
};

use super::convert;
use crate::sync::SyncCtx;

/// Project fields that do not bear on what is applied (Argo CD's API roles, a description).
const NOT_APPLIED: &[&str] = &["description", "roles"];

/// `app`'s project, read from the Application's namespace, when it allows `app` (`None`
/// for a `default` project that does not exist, which allows everything); the refusal
/// when it does not: the project is missing, sets a rule Lockstep does not enforce, or
/// allows neither its repository nor its destination.
///
/// # Errors
/// The refusal, naming the project and the rule.
pub async fn project(app: &Application, ctx: &SyncCtx) -> Result<Option<ProjectRules>, String> {
    let name = convert::project_name(app);
    let namespace = app.namespace().unwrap_or_default();
    let projects: Api<AppProject> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    match projects.get_opt(name).await {
        Ok(found) => rules(app, name, found),
        Err(err) => Err(format!("reading AppProject {namespace}/{name}: {err}")),
    }
}

/// `app` against its project `name` as read (`found`, `None` when it does not exist).
fn rules(
    app: &Application,
    name: &str,
    found: Option<AppProject>,
) -> Result<Option<ProjectRules>, String> {
    let Some(project) = found else {
        return match name {
            DEFAULT_PROJECT => Ok(None),
            _ => Err(format!(
                "Application referencing project {name} which does not exist"
            )),
        };
    };
    match check(app, &project) {
        Some(refusal) => Err(refusal),
        None => Ok(Some(ProjectRules {
            name: project.name_any(),
            spec: project.spec,
        })),
    }
}

/// Why `project` does not permit `object` (in no namespace when cluster-scoped), as Argo
/// CD judges it: a cluster-scoped kind must be in `clusterResourceWhitelist` and not in
/// `clusterResourceBlacklist` (matched with the name too); a namespaced one must be in
/// `namespaceResourceWhitelist` when that is set, not in `namespaceResourceBlacklist`, and
/// its namespace among the project's destinations.
pub fn resource_refusal(project: &ProjectRules, object: &InventoryEntry) -> Option<String> {
    let spec = &project.spec;
    let name = &project.name;
    let listed = |rules: &[ResourceRule], with_name: bool| {
        rules.iter().any(|rule| {
            glob(&rule.kind, &object.kind)
                && glob(&rule.group, &object.group)
                && (!with_name || rule.name.as_deref().is_none_or(|n| glob(n, &object.name)))
        })
    };
    let permitted = match object.namespace.is_empty() {
        true => {
            listed(&spec.cluster_resource_whitelist, true)
                && !listed(&spec.cluster_resource_blacklist, true)
        }
        false => {
            spec.namespace_resource_whitelist
                .as_deref()
                .is_none_or(|rules| listed(rules, false))
                && !listed(&spec.namespace_resource_blacklist, false)
        }
    };
    if !permitted {
        return Some(format!(
            "resource {}:{} {} is not permitted in project '{name}'",
            object.group,
            object.kind,
            lockstep_engine::inventory::id(object)
        ));
    }
    let namespace = &object.namespace;
    (!namespace.is_empty() && !destined(spec, namespace)).then(|| {
        format!(
            "namespace {namespace} of {} is not permitted in project '{name}' \
             (spec.destinations)",
            lockstep_engine::inventory::id(object)
        )
    })
}

/// `app` against `project`'s rules.
fn check(app: &Application, project: &AppProject) -> Option<String> {
    let name = project.name_any();
    let unenforced: Vec<&str> = project
        .unserved()
        .into_iter()
        .filter(|field| !NOT_APPLIED.contains(field))
        .collect();
    if !unenforced.is_empty() {
        return Some(format!(
            "AppProject {name} sets spec.{}, which Lockstep does not enforce yet; keep this \
             Application on Argo CD or remove the rule",
            unenforced.join(", spec.")
        ));
    }
    let repo = app.spec.source.as_ref().map(|s| s.repo_url.as_str());
    let repo = repo.unwrap_or_default();
    if !project.spec.source_repos.iter().any(|g| glob(g, repo)) {
        return Some(format!(
            "application repo {repo} is not permitted in project '{name}' (spec.sourceRepos)"
        ));
    }
    let destination = &app.spec.destination;
    let namespace = destination.namespace.as_deref().unwrap_or_default();
    (!destined(&project.spec, namespace)).then(|| {
        format!(
            "application destination server '{}' and namespace '{namespace}' do not match any \
             of the allowed destinations in project '{name}' (spec.destinations)",
            destination
                .server
                .as_deref()
                .or(destination.name.as_deref())
                .unwrap_or_default()
        )
    })
}

/// Whether a project's `spec` lets its Applications apply into `namespace` of this
/// cluster.
fn destined(spec: &AppProjectSpec, namespace: &str) -> bool {
    spec.destinations.iter().any(|d| {
        d.server
            .as_deref()
            .is_none_or(|g| glob(g, IN_CLUSTER_SERVER))
            && d.name.as_deref().is_none_or(|g| glob(g, IN_CLUSTER_NAME))
            && d.namespace.as_deref().is_some_and(|g| glob(g, namespace))
    })
}

/// Shell-style match of `text` against `pattern` (`*` any run, `?` one character), as
/// Argo CD matches project rules; a leading `!` is not served and matches nothing.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(p: &[u8], t: &[u8]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some(b'*'), _) => matches(&p[1..], t) || (!t.is_empty() && matches(p, &t[1..])),
            (Some(b'?'), Some(_)) => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    !pattern.starts_with('!') && matches(pattern.as_bytes(), text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"project": "team",
                     "source": {"repoURL": "https://git.example.invalid/team/web.git",
                                "targetRevision": "main"},
                     "destination": {"server": "https://kubernetes.default.svc",
                                     "namespace": "team-web"}},
        }))
        .unwrap()
    }

    fn project(spec: serde_json::Value) -> AppProject {
        named("team", spec)
    }

    fn named(name: &str, spec: serde_json::Value) -> AppProject {
        serde_json::from_value(json!({"metadata": {"name": name}, "spec": spec})).unwrap()
    }

    /// The `default` project is read like any other: missing, it allows everything; there,
    /// its rules apply (Argo CD's InvalidSpecError messages), and a permissive one's rules
    /// reach the Sync. A named project that does not exist refuses.
    #[test]
    fn the_default_project_is_read_when_it_exists() {
        let mut app = app();
        app.spec.project = String::new();
        assert_eq!(convert::project_name(&app), DEFAULT_PROJECT);
        assert_eq!(rules(&app, DEFAULT_PROJECT, None), Ok(None));
        let restricted = named(
            DEFAULT_PROJECT,
            json!({"sourceRepos": ["https://git.example.invalid/platform/*"],
                   "destinations": [{"server": "*", "namespace": "*"}]}),
        );
        assert_eq!(
            rules(&app, DEFAULT_PROJECT, Some(restricted)),
            Err(
                "application repo https://git.example.invalid/team/web.git is not permitted \
                 in project 'default' (spec.sourceRepos)"
                    .into()
            )
        );
        let elsewhere = named(
            DEFAULT_PROJECT,
            json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "platform"}]}),
        );
        let refused = rules(&app, DEFAULT_PROJECT, Some(elsewhere)).unwrap_err();
        assert!(
            refused.starts_with(
                "application destination server 'https://kubernetes.default.svc' and namespace \
                 'team-web' do not match any of the allowed destinations in project 'default'"
            ),
            "{refused}"
        );
        let permissive = named(
            DEFAULT_PROJECT,
            json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                   "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}),
        );
        let read = rules(&app, DEFAULT_PROJECT, Some(permissive))
            .unwrap()
            .unwrap();
        assert_eq!(read.name, DEFAULT_PROJECT);
        assert_eq!(read.spec.cluster_resource_whitelist.len(), 1);
        assert_eq!(
            rules(&app, "team", None),
            Err("Application referencing project team which does not exist".into())
        );
    }

    /// Objects are judged as Argo CD judges them: a cluster-scoped kind only when
    /// whitelisted (its name too, when the rule names one) and not blacklisted; a namespaced
    /// one unless blacklisted or left out of a whitelist that is set (empty: nothing); and
    /// its namespace among the destinations.
    #[test]
    fn objects_are_judged_by_the_projects_resource_rules() {
        let entry = |group: &str, kind: &str, namespace: &str, name: &str| InventoryEntry {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        let rules = |extra: serde_json::Value| {
            let mut spec = json!({"sourceRepos": ["*"],
                                  "destinations": [{"server": "*", "namespace": "team-*"}]});
            for (key, value) in extra.as_object().unwrap() {
                spec[key] = value.clone();
            }
            let project = project(spec);
            ProjectRules {
                name: project.name_any(),
                spec: project.spec,
            }
        };
        let open = rules(json!({}));
        let cm = entry("", "ConfigMap", "team-web", "a");
        assert_eq!(resource_refusal(&open, &cm), None);
        let ns = entry("", "Namespace", "", "team-web");
        let refused = resource_refusal(&open, &ns).unwrap();
        assert!(refused.starts_with("resource :Namespace"), "{refused}");
        let elsewhere = entry("", "ConfigMap", "kube-system", "a");
        let refused = resource_refusal(&open, &elsewhere).unwrap();
        assert!(refused.starts_with("namespace kube-system"), "{refused}");
        let rbac = "rbac.authorization.k8s.io";
        let listed = rules(json!({
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace", "name": "team-*"},
                                         {"group": rbac, "kind": "*"}],
            "clusterResourceBlacklist": [{"group": rbac, "kind": "ClusterRoleBinding"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}],
        }));
        assert_eq!(resource_refusal(&listed, &ns), None);
        let system = entry("", "Namespace", "", "kube-system");
        assert!(resource_refusal(&listed, &system).is_some(), "by name");
        let role = entry(rbac, "ClusterRole", "", "reader");
        assert_eq!(resource_refusal(&listed, &role), None);
        let binding = entry(rbac, "ClusterRoleBinding", "", "admin");
        assert!(resource_refusal(&listed, &binding).is_some());
        let secret = entry("", "Secret", "team-web", "s");
        assert!(resource_refusal(&listed, &secret).is_some());
        let none = rules(json!({"namespaceResourceWhitelist": []}));
        assert!(resource_refusal(&none, &cm).is_some(), "an empty whitelist");
        let only =
            rules(json!({"namespaceResourceWhitelist": [{"group": "", "kind": "ConfigMap"}]}));
        assert_eq!(resource_refusal(&only, &cm), None);
        let deployment = entry("apps", "Deployment", "team-web", "d");
        assert!(resource_refusal(&only, &deployment).is_some());
    }

    /// Repositories and destinations are matched with globs; a miss names what was refused.
    #[test]
    fn project_rules_are_enforced() {
        let allows = project(json!({
            "description": "team",
            "sourceRepos": ["https://git.example.invalid/team/*"],
            "destinations": [{"server": "*", "namespace": "team-*"}],
        }));
        assert_eq!(check(&app(), &allows), None);
        let other_repo = project(json!({
            "sourceRepos": ["https://git.example.invalid/platform/*"],
            "destinations": [{"server": "*", "namespace": "*"}],
        }));
        let refused = check(&app(), &other_repo).unwrap();
        assert!(refused.contains("repo https://git.example.invalid/team/web.git"));
        let other_ns = project(json!({
            "sourceRepos": ["*"],
            "destinations": [{"name": "in-cluster", "namespace": "platform"}],
        }));
        assert!(check(&app(), &other_ns).unwrap().contains("team-web"));
        let windows = project(json!({"sourceRepos": ["*"], "syncWindows": []}));
        assert!(
            check(&app(), &windows)
                .unwrap()
                .contains("spec.syncWindows")
        );
        assert!(glob("a?c*", "abcdef") && !glob("a?c", "ac") && !glob("!x", "y"));
    }
}

//! A named `AppProject`'s rules: the repositories and destinations its Applications may
//! use. The `default` project allows everything and is not read.

use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::argocd::{AppProject, Application, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};

use super::convert;
use crate::sync::SyncCtx;

/// Project fields that do not bear on what is applied (Argo CD's API roles, a description).
const NOT_APPLIED: &[&str] = &["description", "roles"];

/// Why `app`'s project does not allow it, if it does not: the project is missing, sets a
/// rule Lockstep does not enforce, or allows neither its repository nor its destination.
pub async fn refusal(app: &Application, ctx: &SyncCtx) -> Option<String> {
    let name = convert::named_project(app)?;
    let namespace = app.namespace().unwrap_or_default();
    let projects: Api<AppProject> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    let project = match projects.get_opt(name).await {
        Ok(Some(project)) => project,
        Ok(None) => {
            return Some(format!(
                "AppProject {namespace}/{name} (spec.project) does not exist"
            ));
        }
        Err(err) => return Some(format!("reading AppProject {namespace}/{name}: {err}")),
    };
    check(app, &project)
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
    let allowed = project.spec.destinations.iter().any(|d| {
        let server = d
            .server
            .as_deref()
            .is_none_or(|g| glob(g, IN_CLUSTER_SERVER));
        let cluster = d.name.as_deref().is_none_or(|g| glob(g, IN_CLUSTER_NAME));
        let ns = d.namespace.as_deref().is_some_and(|g| glob(g, namespace));
        server && cluster && ns
    });
    (!allowed).then(|| {
        format!(
            "application destination {{{} {namespace}}} is not permitted in project '{name}' \
             (spec.destinations)",
            destination
                .server
                .as_deref()
                .or(destination.name.as_deref())
                .unwrap_or_default()
        )
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
        serde_json::from_value(json!({"metadata": {"name": "team"}, "spec": spec})).unwrap()
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

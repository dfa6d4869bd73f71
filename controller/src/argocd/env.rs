//! Argo CD's build environment: the `ARGOCD_APP_*` variables `argocd-repo-server`
//! substitutes, before it renders, into Helm `parameters` values, value file and
//! `fileParameters` paths, and kustomize `images`, `commonLabels` and (with
//! `commonAnnotationsEnvsubst`) `commonAnnotations`.
//!
//! Substituted as Argo CD does, with the rules of Go's `os.Expand`: `$NAME` and `${NAME}`
//! take the variable's value and any other name is empty (so are `$1`, `$*`, …); `$$` is
//! one `$`; a `$` that no name follows (`$ `, `$%`, a `$` at the end) stays; broken
//! braces (`${}`, a `${` never closed) are dropped.

use kube::ResourceExt;
use lockstep_api::argocd::{Application, DEFAULT_PROJECT};

/// The variables of one render of an Application.
#[derive(Debug, Default)]
pub struct Env(Vec<(&'static str, String)>);

impl Env {
    /// The variables for rendering `app` at `revision`, as Argo CD names it (the commit of
    /// a Git source, the version of a chart; empty before anything was fetched).
    ///
    /// `ARGOCD_APP_NAME` is the Application's name: Argo CD writes `<namespace>_<name>`
    /// for an Application outside its own namespace, a namespace Lockstep does not have.
    pub fn new(app: &Application, revision: &str) -> Self {
        let source = app.spec.source.clone().unwrap_or_default();
        let short = |len: usize| revision.get(..len).unwrap_or(revision).to_owned();
        let project = match app.spec.project.as_str() {
            "" => DEFAULT_PROJECT.to_owned(),
            project => project.to_owned(),
        };
        Self(vec![
            ("ARGOCD_APP_NAME", app.name_any()),
            (
                "ARGOCD_APP_NAMESPACE",
                app.spec.destination.namespace.clone().unwrap_or_default(),
            ),
            ("ARGOCD_APP_PROJECT_NAME", project),
            ("ARGOCD_APP_REVISION", revision.to_owned()),
            ("ARGOCD_APP_REVISION_SHORT", short(7)),
            ("ARGOCD_APP_REVISION_SHORT_8", short(8)),
            ("ARGOCD_APP_SOURCE_REPO_URL", source.repo_url),
            ("ARGOCD_APP_SOURCE_PATH", source.path.unwrap_or_default()),
            (
                "ARGOCD_APP_SOURCE_TARGET_REVISION",
                source.target_revision.unwrap_or_default(),
            ),
        ])
    }

    /// `text` with every variable reference replaced.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let after = &rest[at + 1..];
            if after.is_empty() {
                out.push('$');
                return out;
            }
            let (name, width) = reference(after);
            match name {
                Some(name) => out.push_str(self.value(name)),
                None if width == 0 => out.push('$'),
                None => {}
            }
            rest = &after[width..];
        }
        out.push_str(rest);
        out
    }

    fn value(&self, name: &str) -> &str {
        if name == "$" {
            return "$";
        }
        self.0
            .iter()
            .find(|(known, _)| *known == name)
            .map_or("", |(_, value)| value)
    }
}

/// The name a `$` is followed by in `after` (non-empty), and how many bytes the reference
/// spans: no name with a width of 0 when none starts there, no name with the width to
/// drop for broken braces.
fn reference(after: &str) -> (Option<&str>, usize) {
    let bytes = after.as_bytes();
    if bytes[0] == b'{' {
        if bytes.len() > 2 && special(bytes[1]) && bytes[2] == b'}' {
            return (Some(&after[1..2]), 3);
        }
        return match after[1..].find('}') {
            Some(0) => (None, 2),
            Some(end) => (Some(&after[1..=end]), end + 2),
            None => (None, 1),
        };
    }
    if special(bytes[0]) {
        return (Some(&after[..1]), 1);
    }
    let width = bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count();
    (Some(&after[..width]).filter(|name| !name.is_empty()), width)
}

/// A shell's one-character special variable (`$*`, `$1`, …), read as a name.
fn special(byte: u8) -> bool {
    matches!(
        byte,
        b'*' | b'#' | b'$' | b'@' | b'!' | b'?' | b'-' | b'0'..=b'9'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app() -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {
                "project": "",
                "source": {"repoURL": "https://git.example/app.git", "path": "charts/web",
                           "targetRevision": "main"},
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "shop"},
            },
        }))
        .unwrap()
    }

    /// Each variable holds what Argo CD documents; the revision is cut to 7 and 8.
    #[test]
    fn variables_describe_the_application_and_revision() {
        let env = Env::new(&app(), "f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8");
        let all = "$ARGOCD_APP_NAME ${ARGOCD_APP_NAMESPACE} $ARGOCD_APP_PROJECT_NAME \
                   $ARGOCD_APP_REVISION $ARGOCD_APP_REVISION_SHORT $ARGOCD_APP_REVISION_SHORT_8 \
                   $ARGOCD_APP_SOURCE_REPO_URL $ARGOCD_APP_SOURCE_PATH \
                   $ARGOCD_APP_SOURCE_TARGET_REVISION";
        assert_eq!(
            env.substitute(all),
            "web shop default f913b6cbf58aa5ae5ca1f8a2b149477aebcbd9d8 f913b6c f913b6cb \
             https://git.example/app.git charts/web main"
        );
        // A chart version shorter than 7 is kept whole.
        let chart = Env::new(&app(), "1.2.0");
        assert_eq!(chart.substitute("$ARGOCD_APP_REVISION_SHORT"), "1.2.0");
    }

    /// Go's `os.Expand` as Argo CD calls it, case by case (what `go run` prints for each).
    #[test]
    fn references_expand_as_go_os_expand() {
        let env = Env::new(&app(), "abc");
        let cases = [
            ("plain", "plain"),
            ("v-$ARGOCD_APP_NAME-x", "v-web-x"),
            ("${ARGOCD_APP_NAME}s", "webs"),
            ("$ARGOCD_APP_NAMEs", ""),
            ("a$UNKNOWN/b", "a/b"),
            ("cost $$5", "cost $5"),
            ("$$ARGOCD_APP_NAME", "$ARGOCD_APP_NAME"),
            ("end$", "end$"),
            ("a $ b", "a $ b"),
            ("100%$", "100%$"),
            ("$1x", "x"),
            ("${}x", "x"),
            ("${ARGOCD_APP_NAME", "ARGOCD_APP_NAME"),
            ("${$}", "$"),
            ("$%x", "$%x"),
            ("ü$ARGOCD_APP_NAME€", "üweb€"),
        ];
        for (text, expected) in cases {
            assert_eq!(env.substitute(text), expected, "{text}");
        }
    }
}

//! Flux's commit status providers — `github`, `gitlab`, `gitea` — one way: an event becomes
//! a commit status on the revision it is about, so the commit shows whether the cluster
//! took it. As Flux: the state is success for info and failure for error; a `Progressing`
//! event is skipped (GitHub, GitLab) or `pending` (Gitea); the context (GitLab: name) is
//! `kind/name/<first part of the Provider's uid>` and the description the reason in words
//! (`reconciliation succeeded`); a status the commit already has with the same context,
//! state and description is not posted again. The address is the repository's URL; the
//! API is GitHub's (`https://api.github.com` for `github.com`, else `/api/v3`, GitHub
//! Enterprise), GitLab's v4 (`/api/v4/projects/<owner%2Frepo>`, nested groups allowed,
//! token in `PRIVATE-TOKEN`) or Gitea's v1 (`/api/v1/repos/<owner>/<repo>`, token as
//! `Authorization: token`) on the same host.

use std::time::Duration;

use kube::ResourceExt;
use lockstep_api::flux::{Provider, ProviderType};
use serde_json::{Value, json};

use super::send::{Post, post_with_retries};

/// The forge whose commit status API a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forge {
    /// `github`.
    GitHub,
    /// `gitlab`.
    GitLab,
    /// `gitea`.
    Gitea,
}

impl Forge {
    /// The forge of a provider type, if it is a commit status one.
    pub fn of(type_: ProviderType) -> Option<Self> {
        match type_ {
            ProviderType::GitHub => Some(Self::GitHub),
            ProviderType::GitLab => Some(Self::GitLab),
            ProviderType::Gitea => Some(Self::Gitea),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::GitHub => "GitHub",
            Self::GitLab => "GitLab",
            Self::Gitea => "Gitea",
        }
    }
}

/// One commit status to set.
#[derive(Debug, PartialEq, Eq)]
pub struct Status {
    forge: Forge,
    state: &'static str,
    context: String,
    description: String,
    sha: String,
}

impl Status {
    /// The status `post` sets through `provider`: none for a `Progressing` event on GitHub
    /// and GitLab, an error when the event names no revision.
    pub fn new(forge: Forge, provider: &Provider, post: &Post) -> Result<Option<Self>, String> {
        let progressing = post.reason == "Progressing";
        let state = match (forge, progressing, post.severity == "error") {
            (Forge::GitHub | Forge::GitLab, true, _) => return Ok(None),
            (Forge::Gitea, true, _) => "pending",
            (Forge::GitLab, false, true) => "failed",
            (_, false, true) => "failure",
            (_, false, false) => "success",
        };
        let revision = post
            .metadata
            .get("revision")
            .ok_or("the event names no revision for a commit status")?;
        let sha =
            commit(revision).ok_or_else(|| format!("revision {revision:?} names no commit"))?;
        let object = &post.involved_object;
        let uid = provider.uid().unwrap_or_default();
        let context = format!(
            "{}/{}/{}",
            object.kind.as_deref().unwrap_or_default(),
            object.name.as_deref().unwrap_or_default(),
            uid.split('-').next().unwrap_or_default()
        );
        Ok(Some(Self {
            forge,
            state,
            context: context.to_lowercase(),
            description: words(&post.reason).to_lowercase(),
            sha: sha.to_owned(),
        }))
    }

    /// Posts the status to the repository `address` names, unless the commit has it.
    pub async fn send(
        &self,
        http: &reqwest::Client,
        address: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<(), String> {
        let (base, repository) = repository(address, self.forge)?;
        let sha = &self.sha;
        let (list, post, auth, body) = match self.forge {
            Forge::GitHub => {
                let api = if base == "https://github.com" {
                    "https://api.github.com".to_owned()
                } else {
                    format!("{base}/api/v3")
                };
                (
                    format!("{api}/repos/{repository}/commits/{sha}/statuses?per_page=50"),
                    format!("{api}/repos/{repository}/statuses/{sha}"),
                    ("Authorization", format!("Bearer {token}")),
                    json!({"state": self.state, "context": self.context,
                           "description": self.description}),
                )
            }
            Forge::GitLab => {
                let project = format!("{base}/api/v4/projects/{}", repository.replace('/', "%2F"));
                let name: String = url_encode(&self.context);
                (
                    format!("{project}/repository/commits/{sha}/statuses?name={name}"),
                    format!("{project}/statuses/{sha}"),
                    ("PRIVATE-TOKEN", token.to_owned()),
                    json!({"state": self.state, "name": self.context,
                           "description": self.description}),
                )
            }
            Forge::Gitea => {
                let statuses = format!("{base}/api/v1/repos/{repository}/statuses/{sha}");
                (
                    format!("{statuses}?page=1&limit=50"),
                    statuses,
                    ("Authorization", format!("token {token}")),
                    json!({"state": self.state, "context": self.context,
                           "description": self.description, "target_url": ""}),
                )
            }
        };
        let forge = self.forge.name();
        let listed = http
            .get(&list)
            .timeout(timeout)
            .header(auth.0, &auth.1)
            .header("Accept", "application/json")
            .header("User-Agent", "lockstep-controller")
            .send()
            .await
            .map_err(|_| "could not list the commit's statuses".to_owned())?;
        if !listed.status().is_success() {
            return Err(format!(
                "listing the commit's statuses: {forge} answered {}",
                listed.status()
            ));
        }
        let listed = listed.bytes().await.unwrap_or_default();
        let statuses: Vec<Value> = serde_json::from_slice(&listed).unwrap_or_default();
        if self.posted(&statuses) {
            return Ok(());
        }
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        let headers = [
            (auth.0, auth.1),
            ("Accept", "application/json".into()),
            ("User-Agent", "lockstep-controller".into()),
            ("Content-Type", "application/json".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        post_with_retries(http, &post, &headers, body, timeout).await
    }

    /// Whether the commit already has this status, by the forge's listing: GitHub and
    /// Gitea list the newest first, and their newest of this context counts; GitLab's
    /// listing is of this name already, and any equal one counts.
    fn posted(&self, statuses: &[Value]) -> bool {
        let text = |s: &Value, key: &str| s[key].as_str().unwrap_or_default().to_owned();
        let same = |s: &Value, state_key: &str| {
            text(s, state_key) == self.state && text(s, "description") == self.description
        };
        match self.forge {
            Forge::GitHub => statuses
                .iter()
                .find(|s| text(s, "context") == self.context)
                .is_some_and(|s| same(s, "state")),
            // Gitea answers the state as `status`; entries missing a field are passed over.
            Forge::Gitea => statuses
                .iter()
                .filter(|s| !text(s, "status").is_empty() && !text(s, "description").is_empty())
                .find(|s| text(s, "context") == self.context)
                .is_some_and(|s| same(s, "status")),
            Forge::GitLab => statuses.iter().any(|s| {
                text(s, "sha") == self.sha && text(s, "name") == self.context && same(s, "status")
            }),
        }
    }
}

/// The commit SHA of a revision: `main@sha1:<sha>`, `<sha>`, or Flux's older `main/<sha>`.
fn commit(revision: &str) -> Option<&str> {
    let sha = revision
        .rsplit_once(':')
        .or_else(|| revision.rsplit_once('/'))
        .map_or(revision, |(_, sha)| sha);
    (sha.len() >= 7 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some(sha)
}

/// The `<scheme>://<host>` and repository path of a repository URL (`ssh` read as
/// `https`); GitHub and Gitea want `owner/repo`, GitLab allows nested groups.
fn repository(address: &str, forge: Forge) -> Result<(String, String), String> {
    let invalid =
        || format!("address {address:?} is not a repository URL (https://host/owner/repo)");
    let (scheme, rest) = address.split_once("://").ok_or_else(invalid)?;
    let (host, path) = rest.split_once('/').ok_or_else(invalid)?;
    let repository = path.trim_end_matches('/').trim_end_matches(".git");
    let parts = repository.split('/').filter(|p| !p.is_empty()).count();
    let fits = match forge {
        Forge::GitLab => parts >= 2,
        Forge::GitHub | Forge::Gitea => parts == 2,
    };
    if !fits {
        return Err(invalid());
    }
    let scheme = if scheme == "ssh" { "https" } else { scheme };
    let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
    Ok((format!("{scheme}://{host}"), repository.to_owned()))
}

/// `text` as a URL query value.
fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `ReconciliationSucceeded` as `Reconciliation Succeeded`: a word starts at each upper-case
/// letter that follows a lower-case one or a digit.
fn words(reason: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in reason.chars() {
        if c.is_uppercase() && previous.is_some_and(|p| p.is_lowercase() || p.is_ascii_digit()) {
            out.push(' ');
        }
        out.push(c);
        previous = Some(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_addresses_and_reasons() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(commit(&format!("main@sha1:{sha}")), Some(sha));
        assert_eq!(commit(&format!("main/{sha}")), Some(sha));
        assert_eq!(commit(sha), Some(sha));
        assert_eq!(commit("main"), None);
        assert_eq!(
            repository("https://github.com/org/app.git", Forge::GitHub).unwrap(),
            ("https://github.com".into(), "org/app".into())
        );
        assert_eq!(
            repository("ssh://git@gitlab.example/group/sub/app.git", Forge::GitLab).unwrap(),
            ("https://gitlab.example".into(), "group/sub/app".into())
        );
        assert!(repository("https://gitea.example/group/sub/app", Forge::Gitea).is_err());
        assert!(repository("https://github.com/org", Forge::GitHub).is_err());
        assert_eq!(url_encode("sync/web/1a2b"), "sync%2Fweb%2F1a2b");
        assert_eq!(words("ReconciliationSucceeded"), "Reconciliation Succeeded");
        assert_eq!(words("HealthCheckFailed"), "Health Check Failed");
    }

    fn status(forge: Forge, state: &'static str) -> Status {
        Status {
            forge,
            state,
            context: "sync/web/1a2b".into(),
            description: "reconciliation succeeded".into(),
            sha: "abc1234".into(),
        }
    }

    /// Each forge's listing is read in its own shape, newest first where it lists so.
    #[test]
    fn an_equal_status_is_found_in_each_forges_listing() {
        let github = [
            json!({"context": "sync/web/1a2b", "state": "failure", "description": "x"}),
            json!({"context": "sync/web/1a2b", "state": "success", "description": "reconciliation succeeded"}),
        ];
        assert!(
            !status(Forge::GitHub, "success").posted(&github),
            "only the newest counts"
        );
        assert!(!status(Forge::GitHub, "failure").posted(&github[..0]));
        let gitea = [
            json!({"context": "sync/web/1a2b", "status": "", "description": ""}),
            json!({"context": "sync/web/1a2b", "status": "success", "description": "reconciliation succeeded"}),
        ];
        assert!(status(Forge::Gitea, "success").posted(&gitea));
        assert!(!status(Forge::Gitea, "pending").posted(&gitea));
        let gitlab = [
            json!({"sha": "abc1234", "name": "sync/web/1a2b", "status": "success",
                              "description": "reconciliation succeeded"}),
        ];
        assert!(status(Forge::GitLab, "success").posted(&gitlab));
        assert!(!status(Forge::GitLab, "failed").posted(&gitlab));
    }
}

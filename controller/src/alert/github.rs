//! Flux's `github` provider: an event becomes a commit status on the revision it is about
//! (`POST /repos/{owner}/{repo}/statuses/{sha}`), so the commit shows whether the cluster
//! took it. As Flux: `Progressing` events are skipped; the state is `success` for info and
//! `failure` for error; the context is `kind/name/<first part of the Provider's uid>` and
//! the description the reason in words (`reconciliation succeeded`); a status the commit
//! already has with the same context, state and description is not posted again. The API
//! is `https://api.github.com` for `github.com`, else `<scheme>://<host>/api/v3` (GitHub
//! Enterprise).

use std::time::Duration;

use kube::ResourceExt;
use lockstep_api::flux::Provider;
use serde::{Deserialize, Serialize};

use super::send::{Post, post_with_retries};

/// One commit status, as GitHub's API reads and writes it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    state: String,
    context: String,
    description: String,
    #[serde(skip)]
    sha: String,
}

impl Status {
    /// The status `post` sets through `provider`: none for a `Progressing` event, an
    /// error when the event names no revision.
    pub fn new(provider: &Provider, post: &Post) -> Result<Option<Self>, String> {
        if post.reason == "Progressing" {
            return Ok(None);
        }
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
            state: if post.severity == "error" {
                "failure"
            } else {
                "success"
            }
            .into(),
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
        let (api, repository) = api(address)?;
        let listed = http
            .get(format!(
                "{api}/repos/{repository}/commits/{}/statuses?per_page=50",
                self.sha
            ))
            .timeout(timeout)
            .header("Authorization", format!("Bearer {token}"))
            .header("Accept", "application/vnd.github+json")
            .header("User-Agent", "lockstep-controller")
            .send()
            .await
            .map_err(|_| "could not list the commit's statuses".to_owned())?;
        if !listed.status().is_success() {
            return Err(format!(
                "listing the commit's statuses: GitHub answered {}",
                listed.status()
            ));
        }
        let listed = listed.bytes().await.unwrap_or_default();
        let statuses: Vec<Status> = serde_json::from_slice(&listed).unwrap_or_default();
        // The newest status of this context first, as GitHub lists them.
        let latest = statuses.iter().find(|s| s.context == self.context);
        if latest.is_some_and(|s| s.state == self.state && s.description == self.description) {
            return Ok(());
        }
        let body = serde_json::to_vec(self).map_err(|e| e.to_string())?;
        let headers = [
            ("Authorization", format!("Bearer {token}")),
            ("Accept", "application/vnd.github+json".into()),
            ("User-Agent", "lockstep-controller".into()),
            ("Content-Type", "application/json".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        let url = format!("{api}/repos/{repository}/statuses/{}", self.sha);
        post_with_retries(http, &url, &headers, body, timeout).await
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

/// The API base and `owner/repo` of a repository URL.
fn api(address: &str) -> Result<(String, String), String> {
    let invalid =
        || format!("address {address:?} is not a repository URL (https://host/owner/repo)");
    let (scheme, rest) = address.split_once("://").ok_or_else(invalid)?;
    let (host, path) = rest.split_once('/').ok_or_else(invalid)?;
    let repository = path.trim_end_matches('/').trim_end_matches(".git");
    if repository.split('/').count() != 2 {
        return Err(invalid());
    }
    let scheme = if scheme == "ssh" { "https" } else { scheme };
    let api = if host == "github.com" {
        "https://api.github.com".to_owned()
    } else {
        format!("{scheme}://{host}/api/v3")
    };
    Ok((api, repository.to_owned()))
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
            api("https://github.com/org/app.git").unwrap(),
            ("https://api.github.com".into(), "org/app".into())
        );
        assert_eq!(
            api("http://127.0.0.1:3000/org/app").unwrap(),
            ("http://127.0.0.1:3000/api/v3".into(), "org/app".into())
        );
        assert!(api("https://github.com/org").is_err());
        assert_eq!(words("ReconciliationSucceeded"), "Reconciliation Succeeded");
        assert_eq!(words("HealthCheckFailed"), "Health Check Failed");
    }
}

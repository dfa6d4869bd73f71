//! Talking to the remote: listing its refs (the `ls-remote` step), following a semver
//! range to a tag, receiving the pack. A failed listing is told apart as an
//! authentication failure or any other.

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;

use super::{BoxError, FetchError, FetchOptions, GitReference, auth, redact_url, refs, ssh};

/// A semver range resolved to a tag over a listing of every tag, then followed as that
/// tag; [`super::DEFAULT_BRANCH`] resolved to the branch the remote's `HEAD` points at;
/// any other reference as it is.
pub(super) fn follow(
    repo: &gix::Repository,
    url: &str,
    reference: &GitReference,
    options: &FetchOptions,
    agent: Option<&ssh::Agent>,
) -> Result<GitReference, FetchError> {
    match reference {
        GitReference::Semver(range) => {
            let listing = list(repo, url, "+refs/tags/*:refs/tags/*", options, agent)?.1;
            let tag = refs::highest_matching_tag(&listing, range, &redact_url(url))?;
            Ok(GitReference::Tag(tag))
        }
        GitReference::Branch(head) if head == super::DEFAULT_BRANCH => {
            let listing = list(repo, url, "HEAD", options, agent)?.1;
            refs::default_branch(&listing, &redact_url(url)).map(GitReference::Branch)
        }
        other => Ok(other.clone()),
    }
}

/// The refspec fetching `reference`, and whether the fetch may be shallow.
pub(super) fn refspec(reference: &GitReference) -> (String, bool) {
    match reference.full_name() {
        Some(full) => (format!("+{full}:{full}"), true),
        // A bare commit cannot be asked for by name; take every branch, full depth.
        None => ("+refs/heads/*:refs/remotes/origin/*".to_owned(), false),
    }
}

/// Receives the pack (depth 1 when `shallow`).
pub(super) fn receive(
    prepare: Prepare<'static, '_>,
    shallow: bool,
    interrupt: &AtomicBool,
    shown: &str,
    refspec: &str,
) -> Result<(), FetchError> {
    let prepare = if shallow {
        prepare.with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(NonZeroU32::MIN))
    } else {
        prepare
    };
    prepare
        .receive(gix::progress::Discard, interrupt)
        .map(drop)
        .map_err(|e| FetchError::Receive {
            url: shown.to_owned(),
            reference: refspec.to_owned(),
            source: e.into(),
        })
}

pub(super) type Prepare<'remote, 'repo> = gix::remote::fetch::Prepare<
    'remote,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects with `refspec` and lists the remote's refs (the `ls-remote` step).
pub(super) fn list<'repo>(
    repo: &'repo gix::Repository,
    url: &str,
    refspec: &str,
    options: &FetchOptions,
    agent: Option<&ssh::Agent>,
) -> Result<(Prepare<'static, 'repo>, Vec<refs::Listed>), FetchError> {
    let shown = redact_url(url);
    let list_err = |e: BoxError| FetchError::ListRefs {
        url: shown.clone(),
        source: e,
    };
    let remote = repo
        .remote_at(url)
        .map_err(|e| list_err(e.into()))?
        .with_refspecs([refspec], gix::remote::Direction::Fetch)
        .map_err(|e| list_err(e.into()))?;
    let connection = auth::connect(
        &remote,
        options.credentials.as_ref(),
        options.ca_certificate.as_deref(),
        agent,
    )
    .map_err(list_err)?;
    let prepare = connection
        .prepare_fetch(gix::progress::Discard, Default::default())
        .map_err(|e| classify(&shown, e.into(), agent))?;
    let listing = prepare
        .ref_map()
        .remote_refs
        .iter()
        .map(|r| {
            let symbolic = match r {
                gix::protocol::handshake::Ref::Symbolic { target, .. } => Some(target.to_string()),
                _ => None,
            };
            let (name, target, peeled) = r.unpack();
            refs::Listed {
                name: name.to_string(),
                symbolic,
                target: target.map(ToOwned::to_owned),
                peeled: peeled.map(ToOwned::to_owned),
            }
        })
        .collect();
    Ok((prepare, listing))
}

/// Tells an authentication failure from any other failure to list refs. gix reports these
/// as messages in its error chain ("Credentials provided for … were not accepted", "No
/// credentials were returned", "refuses to use a given identity: Will not send credentials
/// in clear text"), so the chain's text is what is looked at; over SSH, what `ssh` logged.
fn classify(url: &str, error: BoxError, agent: Option<&ssh::Agent>) -> FetchError {
    if let Some(failure) = agent.and_then(|a| a.failure(url)) {
        return failure;
    }
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error.as_ref());
    let mut auth = false;
    while let Some(err) = cause {
        let text = err.to_string().to_ascii_lowercase();
        auth |= text.contains("credentials") || text.contains("authentication");
        cause = err.source();
    }
    if auth {
        FetchError::Authentication {
            url: url.to_owned(),
            source: error,
        }
    } else {
        FetchError::ListRefs {
            url: url.to_owned(),
            source: error,
        }
    }
}

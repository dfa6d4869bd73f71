//! What to follow in a repository, and how a ref listing (`ls-remote`) resolves it to a
//! commit before any object is fetched.

use super::FetchError;
use super::constraint::{Constraint, parse_version};

/// What to follow in a repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitReference {
    /// A branch (`main`); the revision is `main@sha1:<hex>`. [`DEFAULT_BRANCH`] (`HEAD`,
    /// which Git refuses as a branch name) is the branch the remote's `HEAD` points at,
    /// followed as that branch: the revision is `main@sha1:<hex>` when it points at `main`.
    Branch(String),
    /// A tag (`v1.0.0`), annotated or lightweight; the revision is `v1.0.0@sha1:<hex>` of
    /// the commit it points at.
    Tag(String),
    /// A semver range over tags (`>=1.0.0 <2.0.0`, `~1.2`): the highest tag inside it
    /// wins. Tags may carry a leading `v`, as Flux accepts; tags that are not versions are
    /// passed over. The revision is `<tag>@sha1:<hex>`.
    Semver(String),
    /// An exact commit (40 hex digits); the revision is `sha1:<hex>`.
    Commit(String),
}

/// The branch name that stands for the remote's default branch (what its `HEAD` points at,
/// Argo CD's default `targetRevision`).
pub const DEFAULT_BRANCH: &str = "HEAD";

impl GitReference {
    /// The full ref name fetched for a branch or tag; `None` for a commit (every branch is
    /// fetched) and for a semver range (resolved to a tag first).
    pub(super) fn full_name(&self) -> Option<String> {
        match self {
            Self::Branch(b) => Some(format!("refs/heads/{b}")),
            Self::Tag(t) => Some(format!("refs/tags/{t}")),
            Self::Semver(_) | Self::Commit(_) => None,
        }
    }

    /// Whether the ref names a tag, so that a tag signature can be asked for.
    pub(super) fn is_tag(&self) -> bool {
        matches!(self, Self::Tag(_) | Self::Semver(_))
    }
}

/// One ref of a listing: its name, the object it names and, for an annotated tag, the
/// commit that object peels to.
pub(super) struct Listed {
    pub name: String,
    /// The ref a symbolic ref (`HEAD`) points at.
    pub symbolic: Option<String>,
    pub target: Option<gix::ObjectId>,
    pub peeled: Option<gix::ObjectId>,
}

/// A ref resolved to a commit.
#[derive(Debug)]
pub(super) struct Resolved {
    /// The commit in hex.
    pub commit: String,
    /// `<short ref>@sha1:<hex>` or `sha1:<hex>`.
    pub revision: String,
    /// The annotated tag object, when the ref is a tag that has one.
    pub tag_object: Option<gix::ObjectId>,
}

/// Resolves a branch, tag or commit against the listing (`Semver` must have been turned
/// into its tag by [`highest_matching_tag`] first).
pub(super) fn resolve(
    listing: &[Listed],
    reference: &GitReference,
    url: &str,
) -> Result<Resolved, FetchError> {
    let (short, full) = match reference {
        GitReference::Commit(hex) => {
            let commit = hex.to_ascii_lowercase();
            return Ok(Resolved {
                revision: format!("sha1:{commit}"),
                commit,
                tag_object: None,
            });
        }
        GitReference::Branch(n) | GitReference::Tag(n) | GitReference::Semver(n) => {
            (n, reference.full_name().unwrap_or_default())
        }
    };
    let found = listing.iter().find(|r| r.name == full);
    let Some((listed, commit)) = found.and_then(|r| Some((r, r.peeled.or(r.target)?))) else {
        return Err(FetchError::RefNotFound {
            url: url.to_owned(),
            reference: full,
        });
    };
    let tag_object = (listed.peeled.is_some() && listed.peeled != listed.target)
        .then_some(listed.target)
        .flatten();
    Ok(Resolved {
        revision: format!("{short}@sha1:{commit}"),
        commit: commit.to_string(),
        tag_object,
    })
}

/// The branch the listing's `HEAD` points at.
pub(super) fn default_branch(listing: &[Listed], url: &str) -> Result<String, FetchError> {
    listing
        .iter()
        .find(|r| r.name == "HEAD")
        .and_then(|r| r.symbolic.as_deref()?.strip_prefix("refs/heads/"))
        .map(str::to_owned)
        .ok_or_else(|| FetchError::RefNotFound {
            url: url.to_owned(),
            reference: "HEAD (a symbolic ref to a branch)".to_owned(),
        })
}

/// The tag with the highest version inside `range` ([`Constraint`]'s rules, as Flux's),
/// among the tags of the listing; tags that are not versions are passed over.
pub(super) fn highest_matching_tag(
    listing: &[Listed],
    range: &str,
    url: &str,
) -> Result<String, FetchError> {
    let constraint = Constraint::parse(range).map_err(|source| FetchError::InvalidSemver {
        range: range.to_owned(),
        source,
    })?;
    let tags = listing
        .iter()
        .filter_map(|r| r.name.strip_prefix("refs/tags/"))
        .filter_map(|tag| Some((tag, parse_version(tag)?)))
        .collect::<Vec<_>>();
    constraint
        .highest(tags.iter().map(|(tag, version)| (*tag, version)))
        .map(str::to_owned)
        .ok_or_else(|| FetchError::NoMatchingTag {
            url: url.to_owned(),
            range: range.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(names: &[&str]) -> Vec<Listed> {
        names
            .iter()
            .map(|n| Listed {
                name: format!("refs/tags/{n}"),
                symbolic: None,
                target: Some(gix::ObjectId::null(gix::hash::Kind::Sha1)),
                peeled: None,
            })
            .collect()
    }

    #[test]
    fn highest_tag_in_range_wins_with_or_without_v() {
        let listing = tags(&[
            "v1.0.0",
            "1.2.0",
            "v1.10.1",
            "v2.0.0",
            "latest",
            "v1.11.0-rc.1",
        ]);
        assert_eq!(
            highest_matching_tag(&listing, ">=1.0.0 <2.0.0", "u").unwrap(),
            "v1.10.1"
        );
        assert_eq!(
            highest_matching_tag(&listing, ">= 1.0, < 1.5 || >=2", "u").unwrap(),
            "v2.0.0"
        );
        assert_eq!(
            highest_matching_tag(&listing, "~1.2", "u").unwrap(),
            "1.2.0"
        );
        assert!(matches!(
            highest_matching_tag(&listing, ">=3", "u"),
            Err(FetchError::NoMatchingTag { .. })
        ));
        assert!(matches!(
            highest_matching_tag(&listing, "not a range", "u"),
            Err(FetchError::InvalidSemver { .. })
        ));
    }
}

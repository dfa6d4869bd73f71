//! Commit and tag signature verification with trusted keys, as `git verify-commit` does:
//! SSH signatures (`gpg.format=ssh`) and OpenPGP signatures (what `git commit -S` makes
//! with gpg), each object dispatched on its signature's armour, as Flux does.
//!
//! A signed commit carries its signature in the `gpgsig` header; what was signed is the
//! commit object without that header. A signed tag carries its signature at the end of
//! its message; what was signed is the tag object up to that point. An SSH signature is
//! an `SSHSIG` armor in the `git` namespace; an OpenPGP one a detached signature, checked
//! by [`lockstep_keys::openpgp`] (key bound, not revoked, not expired).

use std::fmt;

use lockstep_api::VerifyMode;
use lockstep_keys::openpgp::{CertificateError, SignatureError, TrustedCertificates};
use ssh_key::{AuthorizedKeys, HashAlg, PublicKey, SshSig};

use super::refs::Resolved;
use super::{FetchError, GitReference};

const SSH_ARMOR: &[u8] = b"-----BEGIN SSH SIGNATURE-----";
const PGP_ARMOR: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
/// The namespace git signs commits and tags in.
const NAMESPACE: &str = "git";

/// The keys a signature may be made with, read from a Secret as Flux reads it: `*.sshpub`
/// entries are `authorized_keys` lines (options allowed), every other entry (`*.asc`) an
/// ASCII-armoured OpenPGP public key block.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    ssh: Vec<PublicKey>,
    pgp: TrustedCertificates,
}

impl TrustedKeys {
    /// Reads every entry: `*.sshpub` as SSH keys, any other as OpenPGP public keys.
    ///
    /// # Errors
    /// [`KeysError`] naming the entry that does not parse, or when there are no keys at all.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, KeysError> {
        let mut keys = Self::default();
        for (name, data) in entries {
            if !name.ends_with(".sshpub") {
                keys.pgp
                    .add_armored(data)
                    .map_err(|source| KeysError::OpenPgp {
                        entry: name.to_owned(),
                        source,
                    })?;
                continue;
            }
            let text = std::str::from_utf8(data).map_err(|_| KeysError::NotText {
                entry: name.to_owned(),
            })?;
            for entry in AuthorizedKeys::new(text) {
                let entry = entry.map_err(|source| KeysError::Parse {
                    entry: name.to_owned(),
                    source,
                })?;
                keys.ssh.push(entry.public_key().clone());
            }
        }
        if keys.ssh.is_empty() && keys.pgp.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(keys)
    }

    fn fingerprints(&self) -> Vec<String> {
        let ssh = self.ssh.iter().map(fingerprint);
        ssh.chain(self.pgp.fingerprints()).collect()
    }
}

/// Why the trusted keys could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// An entry not named `*.sshpub` is not an armoured OpenPGP public key block.
    #[error("key entry {entry} {source}")]
    OpenPgp {
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        #[source]
        source: CertificateError,
    },
    /// The entry is not UTF-8 text.
    #[error("key entry {entry} is not text")]
    NotText {
        /// The entry's name.
        entry: String,
    },
    /// A line of the entry is not an `authorized_keys` line.
    #[error("key entry {entry} holds a line that is not an SSH public key")]
    Parse {
        /// The entry's name.
        entry: String,
        /// What ssh-key said.
        #[source]
        source: ssh_key::Error,
    },
    /// No entry at all.
    #[error("no trusted keys: the Secret needs at least one *.asc or *.sshpub entry")]
    Empty,
}

/// The Git object whose signature is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GitObject {
    /// A commit, by its hex id.
    Commit(String),
    /// An annotated tag, by its name.
    Tag(String),
}

impl fmt::Display for GitObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Commit(id) => write!(f, "commit {id}"),
            Self::Tag(name) => write!(f, "tag {name}"),
        }
    }
}

/// Why an object's signature was not accepted. Each names the object and the keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The object carries no signature.
    #[error("{object} is not signed")]
    Unsigned {
        /// The commit or tag.
        object: GitObject,
    },
    /// The OpenPGP signature is malformed, or its trusted key may not sign (revoked,
    /// expired, unbound) or the signature has expired.
    #[error("{object}: {source}")]
    OpenPgp {
        /// The commit or tag.
        object: GitObject,
        /// What is wrong, naming the key.
        #[source]
        source: SignatureError,
    },
    /// The SSH signature armor does not parse.
    #[error("the signature of {object} is not a valid SSH signature")]
    Malformed {
        /// The commit or tag.
        object: GitObject,
        /// What ssh-key said.
        #[source]
        source: Box<ssh_key::Error>,
    },
    /// Signed by a key that is not trusted.
    #[error("{object} is signed by key {signer}, which is not trusted (trusted: {})", .trusted.join(", "))]
    Untrusted {
        /// The commit or tag.
        object: GitObject,
        /// The signing key's fingerprint (SSH: SHA-256; OpenPGP: as the signature names it).
        signer: String,
        /// The trusted keys' fingerprints.
        trusted: Vec<String>,
    },
    /// Signed by a trusted key, but the signature does not match the object.
    #[error("the signature of {object} by key {signer} does not verify")]
    Invalid {
        /// The commit or tag.
        object: GitObject,
        /// The signing key's fingerprint.
        signer: String,
    },
    /// Tag verification was asked for, but the ref is not a tag.
    #[error("verification mode {mode} needs a tag or semver ref")]
    NotATagRef {
        /// `Tag` or `TagAndHEAD`.
        mode: &'static str,
    },
    /// Tag verification was asked for, but the tag is lightweight (no tag object).
    #[error("tag {tag} is a lightweight tag, which cannot be signed")]
    Lightweight {
        /// The tag's name.
        tag: String,
    },
}

impl VerifyError {
    /// The commit or tag whose signature failed; `None` when there was no signature to
    /// check (a tag mode on a branch, a lightweight tag).
    pub fn object(&self) -> Option<&GitObject> {
        match self {
            Self::Unsigned { object }
            | Self::OpenPgp { object, .. }
            | Self::Malformed { object, .. }
            | Self::Untrusted { object, .. }
            | Self::Invalid { object, .. } => Some(object),
            Self::NotATagRef { .. } | Self::Lightweight { .. } => None,
        }
    }
}

/// Verifies a commit object's signature; returns the signing key's fingerprint.
pub(super) fn commit(
    data: &[u8],
    object: &GitObject,
    keys: &TrustedKeys,
) -> Result<String, VerifyError> {
    let (payload, signature) = split_commit(data).ok_or_else(|| VerifyError::Unsigned {
        object: object.clone(),
    })?;
    check_signature(&payload, &signature, object, keys)
}

/// Verifies a tag object's signature; returns the signing key's fingerprint.
pub(super) fn tag(
    data: &[u8],
    object: &GitObject,
    keys: &TrustedKeys,
) -> Result<String, VerifyError> {
    let start = [SSH_ARMOR, PGP_ARMOR]
        .iter()
        .filter_map(|armor| find(data, armor))
        .min()
        .ok_or_else(|| VerifyError::Unsigned {
            object: object.clone(),
        })?;
    check_signature(&data[..start], &data[start..], object, keys)
}

/// Whether the objects verification reads are in the local repository.
pub(super) fn has_objects(repo: &gix::Repository, resolved: &Resolved) -> bool {
    let commit = gix::ObjectId::from_hex(resolved.commit.as_bytes()).ok();
    [commit, resolved.tag_object]
        .into_iter()
        .flatten()
        .all(|id| repo.has_object(id))
}

/// Checks the signatures `mode` asks for; returns what verified.
pub(super) fn check(
    repo: &gix::Repository,
    resolved: &Resolved,
    reference: &GitReference,
    (mode, keys): &(VerifyMode, TrustedKeys),
    url: &str,
) -> Result<Option<String>, FetchError> {
    let failed = |e| failed(url, &resolved.revision, e);
    let mut done = Vec::new();
    if matches!(mode, VerifyMode::Tag | VerifyMode::TagAndHEAD) {
        let name = match reference {
            GitReference::Tag(name) => name.clone(),
            _ => String::new(),
        };
        let id = resolved
            .tag_object
            .ok_or_else(|| failed(VerifyError::Lightweight { tag: name.clone() }))?;
        let object = GitObject::Tag(name);
        let data = read_object(repo, id, url, &resolved.revision)?;
        let signer = tag(&data, &object, keys).map_err(failed)?;
        done.push(format!("{object} signed by {signer}"));
    }
    if matches!(mode, VerifyMode::Head | VerifyMode::TagAndHEAD) {
        let id = super::commit_id(resolved, url)?;
        let object = GitObject::Commit(resolved.commit.clone());
        let data = read_object(repo, id, url, &resolved.revision)?;
        let signer = commit(&data, &object, keys).map_err(failed)?;
        done.push(format!("{object} signed by {signer}"));
    }
    Ok(Some(done.join(", ")))
}

fn read_object(
    repo: &gix::Repository,
    id: gix::ObjectId,
    url: &str,
    revision: &str,
) -> Result<Vec<u8>, FetchError> {
    repo.find_object(id)
        .map(|o| o.detach().data)
        .map_err(|e| FetchError::Checkout {
            url: url.to_owned(),
            revision: revision.to_owned(),
            source: e.into(),
        })
}

pub(super) fn failed(url: &str, revision: &str, source: VerifyError) -> FetchError {
    FetchError::Verification {
        url: url.to_owned(),
        revision: revision.to_owned(),
        source: Box::new(source),
    }
}

pub(super) fn mode_name(mode: VerifyMode) -> &'static str {
    match mode {
        VerifyMode::Head => "HEAD",
        VerifyMode::Tag => "Tag",
        VerifyMode::TagAndHEAD => "TagAndHEAD",
    }
}

fn check_signature(
    payload: &[u8],
    signature: &[u8],
    object: &GitObject,
    keys: &TrustedKeys,
) -> Result<String, VerifyError> {
    if signature.starts_with(PGP_ARMOR) {
        return keys
            .pgp
            .verify(payload, signature)
            .map_err(|source| match source {
                SignatureError::Untrusted { signer } => VerifyError::Untrusted {
                    object: object.clone(),
                    signer,
                    trusted: keys.fingerprints(),
                },
                SignatureError::Invalid { signer } => VerifyError::Invalid {
                    object: object.clone(),
                    signer,
                },
                source => VerifyError::OpenPgp {
                    object: object.clone(),
                    source,
                },
            });
    }
    let sig = SshSig::from_pem(signature).map_err(|source| VerifyError::Malformed {
        object: object.clone(),
        source: Box::new(source),
    })?;
    let signer = PublicKey::from(sig.public_key().clone());
    let signer_fp = fingerprint(&signer);
    let Some(key) = keys.ssh.iter().find(|k| k.key_data() == sig.public_key()) else {
        return Err(VerifyError::Untrusted {
            object: object.clone(),
            signer: signer_fp,
            trusted: keys.fingerprints(),
        });
    };
    key.verify(NAMESPACE, payload, &sig)
        .map_err(|_| VerifyError::Invalid {
            object: object.clone(),
            signer: signer_fp.clone(),
        })?;
    Ok(signer_fp)
}

/// Splits a commit object into the signed payload (the object without its `gpgsig`
/// header) and the signature, or `None` when it has no `gpgsig` header.
fn split_commit(data: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let header_end = find(data, b"\n\n").map_or(data.len(), |i| i + 1);
    let (headers, message) = data.split_at(header_end);
    let mut payload = Vec::with_capacity(data.len());
    let mut signature: Option<Vec<u8>> = None;
    let mut in_signature = false;
    for line in headers.split_inclusive(|b| *b == b'\n') {
        if in_signature && line.starts_with(b" ") {
            let sig = signature.get_or_insert_with(Vec::new);
            sig.extend_from_slice(&line[1..]);
            continue;
        }
        in_signature = false;
        if let Some(value) = line.strip_prefix(b"gpgsig ") {
            signature = Some(value.to_vec());
            in_signature = true;
            continue;
        }
        payload.extend_from_slice(line);
    }
    payload.extend_from_slice(message);
    signature.map(|sig| (payload, sig))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

#[cfg(test)]
mod tests {
    use super::split_commit;

    #[test]
    fn the_gpgsig_header_and_its_continuation_lines_are_cut_out() {
        let data = b"tree t\nparent p\ngpgsig -----BEGIN X-----\n abc\n -----END X-----\ncommitter c\n\nmsg\n gpgsig x\n";
        let (payload, sig) = split_commit(data).unwrap();
        assert_eq!(
            payload,
            b"tree t\nparent p\ncommitter c\n\nmsg\n gpgsig x\n"
        );
        assert_eq!(sig, b"-----BEGIN X-----\nabc\n-----END X-----\n");
        assert!(split_commit(b"tree t\n\nmsg").is_none());
    }
}

//! Commit and tag signature verification with trusted SSH keys, as `git verify-commit`
//! does with `gpg.format=ssh`.
//!
//! A signed commit carries its signature in the `gpgsig` header; what was signed is the
//! commit object without that header. A signed tag carries its signature at the end of
//! its message; what was signed is the tag object up to that point. An SSH signature is
//! an `SSHSIG` armor in the `git` namespace. PGP signatures are recognised and refused:
//! checking them is not implemented.

use lockstep_api::VerifyMode;
use ssh_key::{AuthorizedKeys, HashAlg, PublicKey, SshSig};

use super::refs::Resolved;
use super::{FetchError, GitReference};

const SSH_ARMOR: &[u8] = b"-----BEGIN SSH SIGNATURE-----";
const PGP_ARMOR: &[u8] = b"-----BEGIN PGP SIGNATURE-----";
/// The namespace git signs commits and tags in.
const NAMESPACE: &str = "git";

/// The keys a signature may be made with, read from a Secret's `*.sshpub` entries
/// (`authorized_keys` lines, options allowed).
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    ssh: Vec<PublicKey>,
}

impl TrustedKeys {
    /// Reads every `*.sshpub` entry; `*.asc` (and any other name, which Flux reads as PGP)
    /// are PGP keys, which are refused.
    ///
    /// # Errors
    /// [`KeysError`] naming the entry that is PGP or does not parse, or when there are no
    /// keys at all.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, KeysError> {
        let mut ssh = Vec::new();
        for (name, data) in entries {
            if !name.ends_with(".sshpub") {
                return Err(KeysError::Pgp {
                    entry: name.to_owned(),
                });
            }
            let text = std::str::from_utf8(data).map_err(|_| KeysError::NotText {
                entry: name.to_owned(),
            })?;
            for entry in AuthorizedKeys::new(text) {
                let entry = entry.map_err(|source| KeysError::Parse {
                    entry: name.to_owned(),
                    source,
                })?;
                ssh.push(entry.public_key().clone());
            }
        }
        if ssh.is_empty() {
            return Err(KeysError::Empty);
        }
        Ok(Self { ssh })
    }

    fn fingerprints(&self) -> Vec<String> {
        self.ssh.iter().map(fingerprint).collect()
    }
}

/// Why the trusted keys could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeysError {
    /// The entry holds (or, by its name, is taken for) a PGP key.
    #[error("key entry {entry} is not *.sshpub: PGP verification is not supported")]
    Pgp {
        /// The entry's name.
        entry: String,
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
    /// No `*.sshpub` entry.
    #[error("no trusted keys: the Secret needs at least one *.sshpub entry")]
    Empty,
}

/// Why an object's signature was not accepted. Each names the object and the keys.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// The object carries no signature.
    #[error("{object} is not signed")]
    Unsigned {
        /// `commit <hex>` or `tag <name>`.
        object: String,
    },
    /// The object is signed with PGP.
    #[error("{object} has a PGP signature: PGP verification is not supported")]
    Pgp {
        /// `commit <hex>` or `tag <name>`.
        object: String,
    },
    /// The signature armor does not parse.
    #[error("the signature of {object} is not a valid SSH signature")]
    Malformed {
        /// `commit <hex>` or `tag <name>`.
        object: String,
        /// What ssh-key said.
        #[source]
        source: Box<ssh_key::Error>,
    },
    /// Signed by a key that is not trusted.
    #[error("{object} is signed by key {signer}, which is not trusted (trusted: {})", .trusted.join(", "))]
    Untrusted {
        /// `commit <hex>` or `tag <name>`.
        object: String,
        /// The signing key's SHA-256 fingerprint.
        signer: String,
        /// The trusted keys' fingerprints.
        trusted: Vec<String>,
    },
    /// Signed by a trusted key, but the signature does not match the object.
    #[error("the signature of {object} by key {signer} does not verify")]
    Invalid {
        /// `commit <hex>` or `tag <name>`.
        object: String,
        /// The signing key's SHA-256 fingerprint.
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

/// Verifies a commit object's signature; returns the signing key's fingerprint.
pub(super) fn commit(data: &[u8], object: &str, keys: &TrustedKeys) -> Result<String, VerifyError> {
    let (payload, signature) = split_commit(data).ok_or_else(|| VerifyError::Unsigned {
        object: object.to_owned(),
    })?;
    check_signature(&payload, &signature, object, keys)
}

/// Verifies a tag object's signature; returns the signing key's fingerprint.
pub(super) fn tag(data: &[u8], object: &str, keys: &TrustedKeys) -> Result<String, VerifyError> {
    let start = [SSH_ARMOR, PGP_ARMOR]
        .iter()
        .filter_map(|armor| find(data, armor))
        .min()
        .ok_or_else(|| VerifyError::Unsigned {
            object: object.to_owned(),
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
        let object = format!("tag {name}");
        let data = read_object(repo, id, url, &resolved.revision)?;
        let signer = tag(&data, &object, keys).map_err(failed)?;
        done.push(format!("{object} signed by {signer}"));
    }
    if matches!(mode, VerifyMode::Head | VerifyMode::TagAndHEAD) {
        let id = super::commit_id(resolved, url)?;
        let object = format!("commit {}", resolved.commit);
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
        source,
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
    object: &str,
    keys: &TrustedKeys,
) -> Result<String, VerifyError> {
    if signature.starts_with(PGP_ARMOR) {
        return Err(VerifyError::Pgp {
            object: object.to_owned(),
        });
    }
    let sig = SshSig::from_pem(signature).map_err(|source| VerifyError::Malformed {
        object: object.to_owned(),
        source: Box::new(source),
    })?;
    let signer = PublicKey::from(sig.public_key().clone());
    let signer_fp = fingerprint(&signer);
    let Some(key) = keys.ssh.iter().find(|k| k.key_data() == sig.public_key()) else {
        return Err(VerifyError::Untrusted {
            object: object.to_owned(),
            signer: signer_fp,
            trusted: keys.fingerprints(),
        });
    };
    key.verify(NAMESPACE, payload, &sig)
        .map_err(|_| VerifyError::Invalid {
            object: object.to_owned(),
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

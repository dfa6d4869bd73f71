//! The reference syntax, after vals (`ref+<backend>://…`), one whole value per reference:
//!
//! - `ref+vault://<mount>/<path>#<field>` reads `<field>` of a KV v2 secret (`?version=N`
//!   picks a version); `ref+vault://<mount>/<path>?kv=1#<field>` reads KV v1. The path is
//!   the secret's path *without* KV v2's `/data/`, as `vault kv get -mount=<mount>` takes it.
//! - `ref+awskms://<base64 ciphertext>?key=<key ARN>[&context=k1:v1,k2:v2]` decrypts a KMS
//!   ciphertext (`aws kms encrypt` output) with that key and encryption context (the
//!   `--encryption-context` form sops uses).
//!
//! Nothing in a reference chooses *where* it is resolved (no Vault address, no endpoint):
//! that is the Sync's configuration, so a manifest cannot send a token elsewhere.

use std::collections::BTreeMap;

/// The prefix of every reference.
pub const PREFIX: &str = "ref+";

/// One parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    /// A field of a Vault KV secret.
    Vault {
        /// The secrets engine's mount (`secret`).
        mount: String,
        /// The secret's path under the mount (`app/db`).
        path: String,
        /// The field to take.
        field: String,
        /// KV version 1 instead of 2.
        kv1: bool,
        /// A KV v2 version; latest when `None`.
        version: Option<u64>,
    },
    /// An AWS KMS ciphertext.
    Kms {
        /// Standard base64 of the ciphertext blob.
        ciphertext: String,
        /// The key ARN (gives the region).
        key: String,
        /// The encryption context.
        context: BTreeMap<String, String>,
    },
}

impl Reference {
    /// Parses `value`: `None` when it is not a reference at all (no `ref+`), `Some(Err)`
    /// with what is wrong when it is a malformed one.
    pub fn parse(value: &str) -> Option<Result<Reference, &'static str>> {
        let rest = value.trim().strip_prefix(PREFIX)?;
        Some(if let Some(rest) = rest.strip_prefix("vault://") {
            vault(rest)
        } else if let Some(rest) = rest.strip_prefix("awskms://") {
            kms(rest)
        } else {
            Err("unknown backend; use ref+vault:// or ref+awskms://")
        })
    }

    /// A printable form: Vault references as written, KMS ciphertexts shortened.
    pub fn shown(&self) -> String {
        match self {
            Reference::Vault {
                mount,
                path,
                field,
                kv1,
                version,
            } => {
                let mut query = Vec::new();
                if *kv1 {
                    query.push("kv=1".to_owned());
                }
                if let Some(v) = version {
                    query.push(format!("version={v}"));
                }
                let query = if query.is_empty() {
                    String::new()
                } else {
                    format!("?{}", query.join("&"))
                };
                format!("ref+vault://{mount}/{path}{query}#{field}")
            }
            Reference::Kms {
                ciphertext, key, ..
            } => {
                let head: String = ciphertext.chars().take(12).collect();
                format!("ref+awskms://{head}…?key={key}")
            }
        }
    }
}

/// Splits `a?b#c` into (`a`, query pairs, fragment).
fn split(text: &str) -> (&str, Vec<(&str, &str)>, Option<&str>) {
    let (text, fragment) = match text.split_once('#') {
        Some((t, f)) => (t, Some(f)),
        None => (text, None),
    };
    let (text, query) = text.split_once('?').unwrap_or((text, ""));
    let pairs = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    (text, pairs, fragment)
}

fn vault(text: &str) -> Result<Reference, &'static str> {
    let (location, query, field) = split(text);
    let field = field
        .map(|f| f.trim_start_matches('/'))
        .filter(|f| !f.is_empty())
        .ok_or("no #field: name the field of the Vault secret to take")?;
    let (mount, path) = location
        .trim_matches('/')
        .split_once('/')
        .filter(|(m, p)| !m.is_empty() && !p.is_empty())
        .ok_or("expected <mount>/<path>")?;
    let mut kv1 = false;
    let mut version = None;
    for (name, value) in query {
        match name {
            "kv" => {
                kv1 = match value {
                    "1" => true,
                    "2" => false,
                    _ => return Err("kv must be 1 or 2"),
                }
            }
            "version" => version = Some(value.parse().map_err(|_| "version is not a number")?),
            _ => return Err("unknown parameter; known: kv, version"),
        }
    }
    if kv1 && version.is_some() {
        return Err("KV v1 has no versions");
    }
    Ok(Reference::Vault {
        mount: mount.to_owned(),
        path: path.to_owned(),
        field: field.to_owned(),
        kv1,
        version,
    })
}

fn kms(text: &str) -> Result<Reference, &'static str> {
    let (ciphertext, query, fragment) = split(text);
    if fragment.is_some() || ciphertext.is_empty() {
        return Err("expected ref+awskms://<base64 ciphertext>?key=<key ARN>");
    }
    let mut key = None;
    let mut context = BTreeMap::new();
    for (name, value) in query {
        match name {
            "key" => key = Some(value.to_owned()),
            "context" => {
                for pair in value.split(',').filter(|p| !p.is_empty()) {
                    let (k, v) = pair.split_once(':').ok_or("context is k1:v1,k2:v2")?;
                    context.insert(k.to_owned(), v.to_owned());
                }
            }
            _ => return Err("unknown parameter; known: key, context"),
        }
    }
    Ok(Reference::Kms {
        ciphertext: ciphertext.to_owned(),
        key: key.ok_or("no key=<key ARN>")?,
        context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vault_and_kms_references_parse() {
        assert_eq!(Reference::parse("plain"), None);
        assert_eq!(
            Reference::parse("ref+vault://secret/app/db?version=3#password"),
            Some(Ok(Reference::Vault {
                mount: "secret".into(),
                path: "app/db".into(),
                field: "password".into(),
                kv1: false,
                version: Some(3),
            }))
        );
        let kv1 = Reference::parse("ref+vault://kv/app?kv=1#/user")
            .unwrap()
            .unwrap();
        assert_eq!(kv1.shown(), "ref+vault://kv/app?kv=1#user");
        let kms = Reference::parse(
            "ref+awskms://AQICAHhBase64+/==?key=arn:aws:kms:us-east-1:1:key/k&context=app:web,env:prod",
        )
        .unwrap()
        .unwrap();
        let Reference::Kms {
            ciphertext,
            context,
            ..
        } = &kms
        else {
            panic!()
        };
        assert_eq!(ciphertext, "AQICAHhBase64+/==");
        assert_eq!(context["env"], "prod");
        assert!(kms.shown().starts_with("ref+awskms://AQICAHhBase6…"));
        for bad in [
            "ref+vault://secret/app",
            "ref+vault://secret#x",
            "ref+vault://s/a?kv=3#x",
            "ref+awskms://abc",
            "ref+gcp://x",
        ] {
            assert!(matches!(Reference::parse(bad), Some(Err(_))), "{bad}");
        }
    }
}

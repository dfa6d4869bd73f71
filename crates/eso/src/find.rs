//! `dataFrom[].find` and `dataFrom[].rewrite`, as ESO v0.16.2 runs them: a search reads
//! every secret it names, one key per secret (its name), and a rewrite renames keys.

use std::collections::BTreeMap;

use lockstep_api::external_secrets::{Find, Rewrite};
use regex::Regex;

use crate::error::Error;
use crate::fetch::Provider;
use crate::gotmpl::{MissingKey, Template, TemplateError, Value};
use crate::value::{Bytes, select};

/// Every secret `find` names, by name: on Vault those under `path` whose name matches
/// `name.regexp` (or, without a name, whose custom metadata carries every tag), each as
/// its whole JSON value; on AWS those ESO's listing gives ([`crate::aws::AwsStore::find`]).
/// `None` when nothing is under a Vault `path`.
///
/// # Errors
/// [`Error::Field`] for a regular expression that does not compile or a search the store
/// cannot run; as the providers' reads.
pub(crate) async fn find(
    store: &Provider,
    field: &str,
    find: &Find,
) -> Result<Option<BTreeMap<String, Bytes>>, Error> {
    let matcher = match &find.name {
        Some(name) => Some(Regex::new(&name.regexp).map_err(|err| {
            Error::from(RewriteError::Regexp {
                field: format!("{field}.name.regexp"),
                reason: err.to_string(),
            })
        })?),
        None => None,
    };
    let matches = |name: &str| matcher.as_ref().is_none_or(|re| re.is_match(name));
    let mut found = BTreeMap::new();
    match store {
        Provider::Vault(vault) => {
            let Some(names) = vault.list(field, find.path.as_deref()).await? else {
                return Ok(None);
            };
            for name in names {
                let wanted = match matcher {
                    Some(_) => matches(&name),
                    None => {
                        find.tags.is_empty() || vault.has_tags(field, &name, &find.tags).await?
                    }
                };
                if !wanted {
                    continue;
                }
                let Some(document) = vault.read(field, &name, None).await? else {
                    continue;
                };
                let whole = select(&document, None).map_err(|source| Error::Value {
                    field: field.to_owned(),
                    source,
                })?;
                found.insert(name, whole);
            }
        }
        Provider::Aws(aws) => found = aws.find(field, find, matches).await?,
    }
    Ok(Some(found))
}

/// The keys of `map` renamed by each step in turn: its `regexp` (every match of `source`
/// replaced by `target`, `$1`/`${name}` expanded, as Go's `ReplaceAllString`), then its
/// `transform` (a template whose `.value` is the key, run as ESO runs it: Go's default
/// `missingkey`).
///
/// # Errors
/// [`RewriteError`] for a step kind not served, a `source` that does not compile or a
/// template that fails.
pub(crate) fn rewrite(
    field: &str,
    steps: &[Rewrite],
    mut map: BTreeMap<String, Bytes>,
) -> Result<BTreeMap<String, Bytes>, RewriteError> {
    for (i, step) in steps.iter().enumerate() {
        let field = format!("{field}.rewrite[{i}]");
        if let Some(other) = step.other.keys().next() {
            return Err(RewriteError::Unsupported {
                field: format!("{field}.{other}"),
            });
        }
        if let Some(regexp) = &step.regexp {
            let re = Regex::new(&regexp.source).map_err(|err| RewriteError::Regexp {
                field: format!("{field}.regexp.source"),
                reason: err.to_string(),
            })?;
            map = map
                .into_iter()
                .map(|(key, value)| {
                    (
                        re.replace_all(&key, regexp.target.as_str()).into_owned(),
                        value,
                    )
                })
                .collect();
        }
        if let Some(transform) = &step.transform {
            let failure = |source| RewriteError::Transform {
                field: format!("{field}.transform.template"),
                source,
            };
            let template = Template::parse(&transform.template).map_err(failure)?;
            let mut renamed = BTreeMap::new();
            for (key, value) in map {
                let data = Value::map(
                    BTreeMap::from([("value".to_owned(), Value::str(key))]),
                    true,
                );
                let key = template
                    .execute(data, MissingKey::NoValue)
                    .map_err(failure)?;
                renamed.insert(key.to_string(), value);
            }
            map = renamed;
        }
    }
    Ok(map)
}

/// A search or rewrite Lockstep cannot run as written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RewriteError {
    /// A step kind not served yet.
    #[error("{field}: not supported by Lockstep yet (regexp and transform are)")]
    Unsupported {
        /// The step's field.
        field: String,
    },
    /// A transform template that does not parse or fails.
    #[error("{field}: {source}")]
    Transform {
        /// The template's field.
        field: String,
        /// Where in the template, and what.
        #[source]
        source: TemplateError,
    },
    /// A regular expression that does not compile.
    #[error("{field}: not a regular expression Lockstep reads: {reason}")]
    Regexp {
        /// The field holding it.
        field: String,
        /// What the regex parser said.
        reason: String,
    },
}

impl From<RewriteError> for Error {
    fn from(err: RewriteError) -> Self {
        match err {
            RewriteError::Unsupported { field } => Error::Field {
                field,
                reason: "not supported by Lockstep yet (regexp and transform are)".into(),
            },
            RewriteError::Transform { field, source } => Error::Field {
                field,
                reason: source.to_string(),
            },
            RewriteError::Regexp { field, reason } => Error::Field {
                field,
                reason: format!("not a regular expression Lockstep reads: {reason}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lockstep_api::external_secrets::{RewriteRegexp, RewriteTransform};
    use zeroize::Zeroizing;

    #[test]
    fn rewrite_renames_keys_in_order() {
        let map = BTreeMap::from([
            ("db/password".to_owned(), Zeroizing::new(b"a".to_vec())),
            ("db/user".to_owned(), Zeroizing::new(b"b".to_vec())),
        ]);
        let step = |source: &str, target: &str| Rewrite {
            regexp: Some(RewriteRegexp {
                source: source.into(),
                target: target.into(),
            }),
            ..Rewrite::default()
        };
        let out = rewrite(
            "spec.dataFrom[0]",
            &[step("^db/(.*)$", "DB_${1}"), step("_", "-")],
            map,
        )
        .unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["DB-password", "DB-user"]);

        let bad = rewrite("spec.dataFrom[0]", &[step("(", "")], BTreeMap::new()).unwrap_err();
        assert!(
            bad.to_string()
                .contains("spec.dataFrom[0].rewrite[0].regexp.source"),
            "{bad}"
        );
        let upper = Rewrite {
            transform: Some(RewriteTransform {
                template: "{{ .value | upper }}-{{ .nokey }}".into(),
            }),
            ..Rewrite::default()
        };
        let map = BTreeMap::from([("db-user".to_owned(), Zeroizing::new(b"u".to_vec()))]);
        let out = rewrite("spec.dataFrom[1]", &[upper], map).unwrap();
        assert_eq!(out.keys().collect::<Vec<_>>(), ["DB-USER-<no value>"]);
        let broken = Rewrite {
            transform: Some(RewriteTransform {
                template: "{{ .value | nosuch }}".into(),
            }),
            ..Rewrite::default()
        };
        let refused = rewrite("spec.dataFrom[1]", &[broken], BTreeMap::new()).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("spec.dataFrom[1].rewrite[0].transform.template: line 1, column 13"),
            "{refused}"
        );
    }
}

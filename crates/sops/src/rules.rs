//! The six encryption rules of sops, which decide per value (and per comment) whether it is
//! encrypted, given its key path and the comments above it.

use regex::Regex;

use crate::error::EncryptError;

/// Which values of a file are encrypted. Exactly one rule applies to a file; without one,
/// sops uses [`Rule::default`] (`unencrypted_suffix: _unencrypted`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rule {
    /// Encrypt unless a key on the path ends with this suffix.
    UnencryptedSuffix(String),
    /// Encrypt only if a key on the path ends with this suffix.
    EncryptedSuffix(String),
    /// Encrypt unless the regex matches a key on the path.
    UnencryptedRegex(String),
    /// Encrypt only if the regex matches a key on the path.
    EncryptedRegex(String),
    /// Encrypt unless the regex matches a comment above the value.
    UnencryptedCommentRegex(String),
    /// Encrypt only if the regex matches a comment above the value (the marker comment
    /// itself stays clear).
    EncryptedCommentRegex(String),
}

impl Default for Rule {
    fn default() -> Self {
        Rule::UnencryptedSuffix("_unencrypted".to_owned())
    }
}

impl Rule {
    /// The metadata key that stores this rule.
    pub fn field(&self) -> &'static str {
        match self {
            Rule::UnencryptedSuffix(_) => "unencrypted_suffix",
            Rule::EncryptedSuffix(_) => "encrypted_suffix",
            Rule::UnencryptedRegex(_) => "unencrypted_regex",
            Rule::EncryptedRegex(_) => "encrypted_regex",
            Rule::UnencryptedCommentRegex(_) => "unencrypted_comment_regex",
            Rule::EncryptedCommentRegex(_) => "encrypted_comment_regex",
        }
    }

    /// The rule's suffix or regex.
    pub fn value(&self) -> &str {
        match self {
            Rule::UnencryptedSuffix(v)
            | Rule::EncryptedSuffix(v)
            | Rule::UnencryptedRegex(v)
            | Rule::EncryptedRegex(v)
            | Rule::UnencryptedCommentRegex(v)
            | Rule::EncryptedCommentRegex(v) => v,
        }
    }

    /// Builds a rule from its metadata key and value.
    pub fn from_field(field: &str, value: String) -> Option<Rule> {
        Some(match field {
            "unencrypted_suffix" => Rule::UnencryptedSuffix(value),
            "encrypted_suffix" => Rule::EncryptedSuffix(value),
            "unencrypted_regex" => Rule::UnencryptedRegex(value),
            "encrypted_regex" => Rule::EncryptedRegex(value),
            "unencrypted_comment_regex" => Rule::UnencryptedCommentRegex(value),
            "encrypted_comment_regex" => Rule::EncryptedCommentRegex(value),
            _ => return None,
        })
    }

    /// The metadata keys of all six rules.
    pub const FIELDS: [&'static str; 6] = [
        "unencrypted_suffix",
        "encrypted_suffix",
        "unencrypted_regex",
        "encrypted_regex",
        "unencrypted_comment_regex",
        "encrypted_comment_regex",
    ];
}

/// A rule ready to evaluate (regexes compiled).
pub(crate) struct Matcher {
    rule: Rule,
    regex: Option<Regex>,
}

impl Matcher {
    pub(crate) fn new(rule: &Rule) -> Result<Matcher, EncryptError> {
        let regex = match rule {
            Rule::UnencryptedSuffix(_) | Rule::EncryptedSuffix(_) => None,
            other => Some(Regex::new(other.value()).map_err(|e| EncryptError::Rule {
                reason: format!("{}: {e}", other.field()),
            })?),
        };
        Ok(Matcher {
            rule: rule.clone(),
            regex,
        })
    }

    /// sops' `shouldBeEncrypted`.
    pub(crate) fn should_encrypt(
        &self,
        path: &[String],
        comments: &[Vec<String>],
        is_comment: bool,
    ) -> bool {
        let re = || {
            self.regex
                .as_ref()
                .expect("regex rules carry a compiled regex")
        };
        match &self.rule {
            Rule::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Rule::UnencryptedRegex(_) => !path.iter().any(|k| re().is_match(k)),
            Rule::EncryptedRegex(_) => path.iter().any(|k| re().is_match(k)),
            Rule::UnencryptedCommentRegex(_) => {
                !comments.iter().flatten().any(|c| re().is_match(c))
            }
            Rule::EncryptedCommentRegex(_) => {
                let last_level = comments.len().saturating_sub(1);
                let last_len = comments.last().map_or(0, Vec::len);
                comments.iter().enumerate().any(|(i, level)| {
                    level.iter().enumerate().any(|(j, c)| {
                        let marker = is_comment && i == last_level && j + 1 == last_len;
                        !marker && re().is_match(c)
                    })
                })
            }
        }
    }

    /// For `unencrypted_comment_regex`: whether an encrypted comment would match it.
    pub(crate) fn unencrypted_comment_matches(&self, text: &str) -> bool {
        matches!(self.rule, Rule::UnencryptedCommentRegex(_))
            && self.regex.as_ref().is_some_and(|r| r.is_match(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn path_rules() {
        let m = Matcher::new(&Rule::default()).unwrap();
        assert!(m.should_encrypt(&path(&["a", "b"]), &[], false));
        assert!(!m.should_encrypt(&path(&["a_unencrypted", "b"]), &[], false));
        let m = Matcher::new(&Rule::EncryptedSuffix("_secret".into())).unwrap();
        assert!(m.should_encrypt(&path(&["x_secret", "b"]), &[], false));
        assert!(!m.should_encrypt(&path(&["x", "b"]), &[], false));
        let m = Matcher::new(&Rule::UnencryptedRegex("^pub".into())).unwrap();
        assert!(!m.should_encrypt(&path(&["a", "public"]), &[], false));
        assert!(m.should_encrypt(&path(&["a", "b"]), &[], false));
        let m = Matcher::new(&Rule::EncryptedRegex("^(data|stringData)$".into())).unwrap();
        assert!(m.should_encrypt(&path(&["stringData", "k"]), &[], false));
        assert!(!m.should_encrypt(&path(&["metadata", "data1"]), &[], false));
        assert!(Matcher::new(&Rule::EncryptedRegex("(".into())).is_err());
    }

    #[test]
    fn comment_rules() {
        let stack = |levels: &[&[&str]]| -> Vec<Vec<String>> {
            levels
                .iter()
                .map(|l| l.iter().map(|s| s.to_string()).collect())
                .collect()
        };
        let m = Matcher::new(&Rule::UnencryptedCommentRegex("nosops".into())).unwrap();
        assert!(!m.should_encrypt(&[], &stack(&[&[" nosops"]]), false));
        assert!(m.should_encrypt(&[], &stack(&[&[" other"]]), false));
        let m = Matcher::new(&Rule::EncryptedCommentRegex("sops:enc".into())).unwrap();
        assert!(m.should_encrypt(&[], &stack(&[&[" sops:enc"]]), false));
        // The marker comment itself stays clear; a comment after it is encrypted.
        assert!(!m.should_encrypt(&[], &stack(&[&[" sops:enc"]]), true));
        assert!(m.should_encrypt(&[], &stack(&[&[" sops:enc", " next"]]), true));
        assert!(!m.should_encrypt(&[], &stack(&[&[]]), false));
    }
}

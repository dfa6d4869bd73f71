//! Version constraints as Helm and Flux read them (the Masterminds `semver/v3` rules), for
//! a GitSource's `ref.semver` and a chart's `version`.
//!
//! They are not Cargo's: a bare `1.2` is `1.2.x` (Cargo reads `^1.2`); `x`, `X` and `*`
//! are wildcards (`1.x`, `*`); `1.2 - 1.4.5` is an inclusive range; comparators are
//! separated by spaces or commas and `||` separates alternatives. A prerelease version
//! matches only an alternative one of whose comparators names a prerelease (`>=1.0.0-0`),
//! whatever its major.minor.patch. Comparisons ignore build metadata.

use std::cmp::Ordering;

use semver::{BuildMetadata, Prerelease, Version};

/// The longest constraint accepted, and the most alternatives (Masterminds' limits).
const MAX_LEN: usize = 512;
const MAX_ALTERNATIVES: usize = 32;

/// Why a constraint does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintError {
    /// Longer than 512 bytes, or more than 32 alternatives.
    #[error("is longer than {MAX_LEN} bytes or has more than {MAX_ALTERNATIVES} alternatives")]
    TooLong,
    /// A comparator that is not an operator followed by a version.
    #[error("{0:?} is not an operator (=, !=, >, <, >=, <=, ~, ~>, ^) and a version")]
    Comparator(String),
}

/// A parsed constraint: alternatives of comparators that must all hold.
#[derive(Clone, Debug)]
pub struct Constraint {
    alternatives: Vec<Alternative>,
}

#[derive(Clone, Debug)]
struct Alternative {
    comparators: Vec<Comparator>,
    /// Whether a comparator names a prerelease, which lets prereleases match.
    prerelease: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// `=` or none: equal, or inside the wildcard.
    Equal,
    NotEqual,
    Greater,
    Less,
    GreaterEqual,
    LessEqual,
    /// `~`, `~>`: the same major.minor, at least the version.
    Tilde,
    /// `^`: the same leftmost non-zero component, at least the version.
    Caret,
}

/// Which components a comparator's version leaves open (`1.2` or `1.2.x` leave the patch,
/// `1` or `1.x` the minor; `*` leaves everything but counts as neither).
#[derive(Clone, Debug)]
struct Comparator {
    op: Op,
    version: Version,
    wildcard: bool,
    minor_open: bool,
    patch_open: bool,
}

impl Constraint {
    /// Parses `text` (`>=1.0.0 <2.0.0`, `~1.2`, `1.x || ^2`, `1.2 - 1.4`).
    ///
    /// # Errors
    /// [`ConstraintError`] naming the comparator that does not parse.
    pub fn parse(text: &str) -> Result<Self, ConstraintError> {
        if text.len() > MAX_LEN {
            return Err(ConstraintError::TooLong);
        }
        let text = expand_hyphen_ranges(text);
        let alternatives = text.split("||").collect::<Vec<_>>();
        if alternatives.len() > MAX_ALTERNATIVES {
            return Err(ConstraintError::TooLong);
        }
        let alternatives = alternatives
            .into_iter()
            .map(|alternative| {
                let comparators = comparators(alternative)?;
                let prerelease = comparators.iter().any(|c| !c.version.pre.is_empty());
                Ok(Alternative {
                    comparators,
                    prerelease,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { alternatives })
    }

    /// Whether `version` satisfies the constraint.
    pub fn matches(&self, version: &Version) -> bool {
        self.alternatives.iter().any(|alternative| {
            (version.pre.is_empty() || alternative.prerelease)
                && alternative.comparators.iter().all(|c| c.matches(version))
        })
    }

    /// The highest of `candidates` (text, parsed version) that satisfies the constraint;
    /// on equal versions the first listed.
    pub fn highest<'a, T>(
        &self,
        candidates: impl IntoIterator<Item = (T, &'a Version)>,
    ) -> Option<T> {
        candidates
            .into_iter()
            .filter(|(_, version)| self.matches(version))
            .fold(
                None,
                |best: Option<(T, &Version)>, (item, version)| match &best {
                    Some((_, top)) if version.cmp_precedence(top) != Ordering::Greater => best,
                    _ => Some((item, version)),
                },
            )
            .map(|(item, _)| item)
    }
}

/// Parses a version as Helm reads a chart's: an optional `v`, one to three numeric
/// components (the missing ones 0), then an optional prerelease and build metadata.
pub fn parse_version(text: &str) -> Option<Version> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (core, build) = text.split_once('+').unwrap_or((text, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let mut numbers = [0u64; 3];
    let parts = core.split('.').collect::<Vec<_>>();
    if parts.len() > 3 {
        return None;
    }
    for (slot, part) in numbers.iter_mut().zip(&parts) {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    Some(Version {
        major: numbers[0],
        minor: numbers[1],
        patch: numbers[2],
        pre: Prerelease::new(pre).ok()?,
        build: BuildMetadata::new(build).ok()?,
    })
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        let c = &self.version;
        let cmp = v.cmp_precedence(c);
        let open = self.wildcard || self.minor_open || self.patch_open;
        match self.op {
            Op::Equal if open => self.tilde(v, cmp),
            Op::Equal => cmp == Ordering::Equal,
            Op::NotEqual if open => self.not_inside(v),
            Op::NotEqual => cmp != Ordering::Equal,
            Op::Greater if open => match v.major.cmp(&c.major) {
                Ordering::Greater => true,
                Ordering::Less => false,
                Ordering::Equal if self.minor_open => false,
                Ordering::Equal if self.patch_open => v.minor > c.minor,
                Ordering::Equal => cmp == Ordering::Greater,
            },
            Op::Greater => cmp == Ordering::Greater,
            Op::Less => cmp == Ordering::Less,
            Op::GreaterEqual => cmp != Ordering::Less,
            Op::LessEqual if open => {
                v.major < c.major || (v.major == c.major && (self.minor_open || v.minor <= c.minor))
            }
            Op::LessEqual => cmp != Ordering::Greater,
            Op::Tilde => self.tilde(v, cmp),
            Op::Caret => self.caret(v, cmp),
        }
    }

    fn tilde(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
            return false;
        }
        let everything =
            (c.major, c.minor, c.patch) == (0, 0, 0) && !self.minor_open && !self.patch_open;
        everything || (v.major == c.major && (self.minor_open || v.minor == c.minor))
    }

    fn caret(&self, v: &Version, cmp: Ordering) -> bool {
        let c = &self.version;
        if cmp == Ordering::Less {
            false
        } else if c.major > 0 || self.minor_open {
            v.major == c.major
        } else if v.major > 0 {
            false
        } else if c.minor > 0 || self.patch_open {
            v.minor == c.minor
        } else {
            v.minor == 0 && v.patch == c.patch
        }
    }

    /// `!=` with a wildcard: outside the versions the wildcard covers.
    fn not_inside(&self, v: &Version) -> bool {
        let c = &self.version;
        if v.major != c.major {
            return true;
        }
        if self.minor_open {
            return false;
        }
        if v.minor != c.minor {
            return true;
        }
        if self.patch_open {
            return v.pre != c.pre;
        }
        v.patch != c.patch || v.pre != c.pre
    }
}

/// Rewrites each `A - B` (spaces around the dash) as `>= A, <= B`.
fn expand_hyphen_ranges(text: &str) -> String {
    let tokens = text.split_whitespace().collect::<Vec<_>>();
    let mut out = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        if i + 2 < tokens.len()
            && tokens[i + 1] == "-"
            && is_version(tokens[i])
            && is_version(tokens[i + 2])
        {
            out.push(format!(">= {}, <= {}", tokens[i], tokens[i + 2]));
            i += 3;
        } else {
            out.push(tokens[i].to_owned());
            i += 1;
        }
    }
    out.join(" ")
}

fn is_version(token: &str) -> bool {
    token.starts_with(|c: char| c.is_ascii_digit() || matches!(c, 'v' | 'x' | 'X' | '*'))
}

/// The comparators of one alternative: operator and version pairs separated by spaces or
/// commas.
fn comparators(alternative: &str) -> Result<Vec<Comparator>, ConstraintError> {
    let invalid = || ConstraintError::Comparator(alternative.trim().to_owned());
    let mut rest = alternative.trim_start();
    let mut found = Vec::new();
    while !rest.is_empty() {
        let op_len = rest
            .find(|c: char| !matches!(c, '=' | '!' | '<' | '>' | '~' | '^'))
            .unwrap_or(rest.len());
        let op = match &rest[..op_len] {
            "" | "=" => Op::Equal,
            "!=" => Op::NotEqual,
            ">" => Op::Greater,
            "<" => Op::Less,
            ">=" | "=>" => Op::GreaterEqual,
            "<=" | "=<" => Op::LessEqual,
            "~" | "~>" => Op::Tilde,
            "^" => Op::Caret,
            _ => return Err(invalid()),
        };
        rest = rest[op_len..].trim_start();
        let end = rest
            .find(|c: char| c.is_whitespace() || c == ',')
            .unwrap_or(rest.len());
        let comparator = comparator(op, &rest[..end]).ok_or_else(invalid)?;
        found.push(comparator);
        rest = rest[end..].trim_start_matches(|c: char| c.is_whitespace() || c == ',');
    }
    if found.is_empty() {
        return Err(invalid());
    }
    Ok(found)
}

fn comparator(op: Op, text: &str) -> Option<Comparator> {
    let text = text.strip_prefix('v').unwrap_or(text);
    let (core, _build) = text.split_once('+').unwrap_or((text, ""));
    let (core, pre) = core.split_once('-').unwrap_or((core, ""));
    let parts = core.split('.').collect::<Vec<_>>();
    if parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let wild = |part: Option<&&str>| part.is_none_or(|p| matches!(*p, "x" | "X" | "*"));
    let number = |part: &str| -> Option<u64> {
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (mut major, mut minor, mut patch) = (0, 0, 0);
    let (mut wildcard, mut minor_open, mut patch_open) = (false, false, false);
    if wild(parts.first()) {
        wildcard = true;
    } else if wild(parts.get(1)) {
        major = number(parts[0])?;
        minor_open = true;
    } else if wild(parts.get(2)) {
        (major, minor) = (number(parts[0])?, number(parts[1])?);
        patch_open = true;
    } else {
        (major, minor, patch) = (number(parts[0])?, number(parts[1])?, number(parts[2])?);
    }
    Some(Comparator {
        op,
        version: Version {
            major,
            minor,
            patch,
            pre: Prerelease::new(pre).ok()?,
            build: BuildMetadata::EMPTY,
        },
        wildcard,
        minor_open,
        patch_open,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(constraint: &str, version: &str) -> bool {
        let constraint = Constraint::parse(constraint).unwrap();
        constraint.matches(&parse_version(version).unwrap())
    }

    /// Cases read from Masterminds' rules, where they differ from Cargo's.
    #[test]
    fn masterminds_rules() {
        let cases = [
            ("1.2", "1.2.9", true),
            ("1.2", "1.3.0", false),
            ("1", "1.9.0", true),
            ("1", "2.0.0", false),
            ("=1.2.3", "1.2.3", true),
            ("1.2.3", "1.2.4", false),
            ("*", "7.0.1", true),
            ("*", "1.0.0-rc.1", false),
            ("1.x", "1.4.0", true),
            ("1.2.x", "1.3.0", false),
            ("!=1.2", "1.2.5", false),
            ("!=1.2", "1.3.0", true),
            ("!=1.2.3", "1.2.4", true),
            (">1.2", "1.2.9", false),
            (">1.2", "1.3.0", true),
            (">1", "1.9.0", false),
            (">1", "2.0.0", true),
            ("<=1.2", "1.2.9", true),
            ("<=1.2", "1.3.0", false),
            ("<1.2", "1.1.9", true),
            ("~1.2.3", "1.2.9", true),
            ("~1.2.3", "1.3.0", false),
            ("~1", "1.9.0", true),
            ("~>1.2", "1.2.0", true),
            ("^1.2.3", "1.9.9", true),
            ("^1.2.3", "2.0.0", false),
            ("^0.2.3", "0.2.9", true),
            ("^0.2.3", "0.3.0", false),
            ("^0.0.3", "0.0.4", false),
            ("^0.0", "0.0.9", true),
            ("1.2 - 1.4.5", "1.4.5", true),
            ("1.2 - 1.4.5", "1.4.6", false),
            ("1.2 - 1.4.5", "1.1.9", false),
            (">= 1.0, < 1.5 || >=2", "2.1.0", true),
            (">=1.0.0 <2.0.0", "1.10.1", true),
            (">=1.0.0 <2.0.0", "1.5.0-rc.1", false),
            (">=1.0.0-0 <2.0.0", "1.5.0-rc.1", true),
            (">=1.0.0-0 <2.0.0 || 3.x", "3.0.0-rc.1", false),
            ("v1.2", "v1.2.1", true),
            ("1.2.3", "1.2.3+build.7", true),
        ];
        for (constraint, version, expected) in cases {
            assert_eq!(
                allows(constraint, version),
                expected,
                "{constraint} vs {version}"
            );
        }
    }

    #[test]
    fn refuses_what_is_not_a_constraint() {
        for bad in ["", "not a range", ">>1", "1.2.3.4", ">=1.0<2.0", "1..2"] {
            assert!(Constraint::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Constraint::parse(&"1 ||".repeat(40)).unwrap_err(),
            ConstraintError::TooLong
        );
    }

    #[test]
    fn highest_match_wins_and_loose_versions_parse() {
        let versions = ["0.9.0", "1.1", "1.10.0", "v1.2.0", "2.0.0-rc.1"]
            .map(|v| (v, parse_version(v).unwrap()));
        let constraint = Constraint::parse("~1").unwrap();
        let best = constraint.highest(versions.iter().map(|(t, v)| (*t, v)));
        assert_eq!(best, Some("1.10.0"));
        assert_eq!(parse_version("1.1"), Some(Version::new(1, 1, 0)));
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("latest"), None);
    }
}

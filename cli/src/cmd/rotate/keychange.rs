//! The `--add-*`/`--rm-*` flags as one value: which keys to add (to the first group) and
//! which to remove (from every group), applied the same way to one file or a repository.

use clap::Args;

use lockstep_sops::config::{KeySpec, KmsSpec, split_list};

use crate::cmd::sops::flags::parse_context;

/// The key flags sops' `rotate` takes.
#[derive(Debug, Args, Clone, Default)]
pub struct KeyFlags {
    /// Comma-separated age recipients to add.
    #[arg(long, value_name = "RECIPIENTS")]
    pub add_age: Option<String>,
    /// Comma-separated age recipients to remove.
    #[arg(long, value_name = "RECIPIENTS")]
    pub rm_age: Option<String>,
    /// Comma-separated OpenPGP fingerprints to add (public keys from the gpg keyring).
    #[arg(long, value_name = "FINGERPRINTS")]
    pub add_pgp: Option<String>,
    /// Comma-separated OpenPGP fingerprints to remove.
    #[arg(long, value_name = "FINGERPRINTS")]
    pub rm_pgp: Option<String>,
    /// Comma-separated KMS ARNs to add.
    #[arg(long, value_name = "ARNS")]
    pub add_kms: Option<String>,
    /// Comma-separated KMS ARNs to remove.
    #[arg(long, value_name = "ARNS")]
    pub rm_kms: Option<String>,
    /// Comma-separated Vault transit URIs to add.
    #[arg(long, value_name = "URIS")]
    pub add_hc_vault_transit: Option<String>,
    /// Comma-separated Vault transit URIs to remove.
    #[arg(long, value_name = "URIS")]
    pub rm_hc_vault_transit: Option<String>,
    /// KMS encryption context for added KMS keys (`key:value,…`).
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// AWS profile for added KMS keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
}

/// Keys to add and remove, parsed once for every file.
#[derive(Debug, Default)]
pub struct KeyChanges {
    added: Vec<KeySpec>,
    removed: Vec<KeySpec>,
}

impl KeyFlags {
    /// Whether any add or remove flag is set.
    pub fn any(&self) -> bool {
        [
            &self.add_age,
            &self.rm_age,
            &self.add_pgp,
            &self.rm_pgp,
            &self.add_kms,
            &self.rm_kms,
            &self.add_hc_vault_transit,
            &self.rm_hc_vault_transit,
        ]
        .iter()
        .any(|f| f.is_some())
    }

    /// Parses the flags (a malformed `--encryption-context` is exit 6).
    pub fn changes(&self) -> anyhow::Result<KeyChanges> {
        let context = parse_context(self.encryption_context.as_deref())?;
        let list = |flag: &Option<String>| flag.as_deref().map(split_list).unwrap_or_default();
        let mut added: Vec<KeySpec> = list(&self.add_age).into_iter().map(KeySpec::Age).collect();
        added.extend(list(&self.add_pgp).into_iter().map(KeySpec::Pgp));
        added.extend(
            list(&self.add_kms)
                .iter()
                .map(|a| KeySpec::Kms(KmsSpec::from_arn(a, &context, self.aws_profile.as_deref()))),
        );
        added.extend(
            list(&self.add_hc_vault_transit)
                .into_iter()
                .map(KeySpec::Vault),
        );
        let mut removed: Vec<KeySpec> = list(&self.rm_age).into_iter().map(KeySpec::Age).collect();
        removed.extend(list(&self.rm_pgp).into_iter().map(KeySpec::Pgp));
        removed.extend(
            list(&self.rm_kms)
                .iter()
                .map(|a| KeySpec::Kms(KmsSpec::from_arn(a, &context, None))),
        );
        removed.extend(
            list(&self.rm_hc_vault_transit)
                .into_iter()
                .map(KeySpec::Vault),
        );
        Ok(KeyChanges { added, removed })
    }
}

impl KeyChanges {
    /// The groups a file gets: `groups` with the added keys in the first group (once) and
    /// the removed keys taken out of every group.
    pub fn apply(&self, mut groups: Vec<Vec<KeySpec>>) -> Vec<Vec<KeySpec>> {
        if groups.is_empty() {
            groups.push(Vec::new());
        }
        for key in &self.added {
            if !groups[0].iter().any(|k| k.same_key(key)) {
                groups[0].push(key.clone());
            }
        }
        for group in &mut groups {
            group.retain(|k| !self.removed.iter().any(|r| k.same_key(r)));
        }
        groups
    }
}

/// The key groups of a file's metadata as specs.
pub fn groups_of(metadata: &lockstep_sops::Metadata) -> Vec<Vec<KeySpec>> {
    metadata
        .key_groups
        .iter()
        .map(|g| g.iter().map(KeySpec::from_master_key).collect())
        .collect()
}

/// A short public name for a key, for plans and messages.
pub fn describe(spec: &KeySpec) -> String {
    match spec {
        KeySpec::Age(r) => format!("age:{r}"),
        KeySpec::Kms(k) => format!("kms:{}", k.arn),
        KeySpec::Vault(u) => format!("vault:{u}"),
        KeySpec::Pgp(fp) => format!("pgp:{fp}"),
        KeySpec::Unsupported { kind, key } => format!("{}:{key}", kind.field()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age(s: &str) -> KeySpec {
        KeySpec::Age(s.to_owned())
    }

    #[test]
    fn adds_to_the_first_group_once_and_removes_everywhere() {
        let flags = KeyFlags {
            add_age: Some("a, b".into()),
            rm_age: Some("c".into()),
            ..KeyFlags::default()
        };
        let changes = flags.changes().unwrap();
        let out = changes.apply(vec![vec![age("a"), age("c")], vec![age("c"), age("d")]]);
        assert_eq!(out, vec![vec![age("a"), age("b")], vec![age("d")]]);
    }

    #[test]
    fn no_groups_gets_one() {
        let flags = KeyFlags {
            add_age: Some("a".into()),
            ..KeyFlags::default()
        };
        assert_eq!(
            flags.changes().unwrap().apply(Vec::new()),
            vec![vec![age("a")]]
        );
        assert!(flags.any());
        assert!(!KeyFlags::default().any());
    }
}

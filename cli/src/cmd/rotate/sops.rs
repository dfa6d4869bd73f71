//! Rotating one SOPS file of a repository: a new data key for the file's key groups (or
//! its `.sops.yaml` rule's, `--update-keys`) with the `--add-*`/`--rm-*` changes, or, with
//! `--rewrap`, its Vault transit-wrapped data keys re-wrapped to the newest transit key
//! version. The plan is made from the metadata alone, so `--dry-run` needs no key.

use std::path::Path;

use anyhow::{Context as _, bail};
use lockstep_keys::{VaultEnv, VaultTransitKey, WrappedKey};
use lockstep_sops::config::{Config, KeySpec};
use lockstep_sops::{EmitOptions, EncryptOptions, EncryptedFile, Field, Format, KeyType};

use super::RotateArgs;
use super::keychange::{KeyChanges, describe, groups_of};
use crate::cmd::sops::file::decrypt_file;
use crate::cmd::sops::flags::OpenFlags;
use crate::cmd::sops::keysource;

/// The settings every SOPS file of one run is rotated with.
pub struct SopsRotation {
    changes: KeyChanges,
    rules: Option<Config>,
    rewrap: bool,
    emit: EmitOptions,
    open: OpenFlags,
    vault: VaultEnv,
}

/// What will happen to one file.
pub enum Step {
    /// It changes as described.
    Change(String),
    /// It stays as it is, for this reason.
    Skip(String),
}

impl SopsRotation {
    /// Reads the flags (and `.sops.yaml` for `--update-keys`).
    pub fn new(args: &RotateArgs) -> anyhow::Result<Self> {
        if args.repo.rewrap && args.keys.any() {
            bail!("--rewrap keeps every file's keys; it cannot be combined with --add-*/--rm-*");
        }
        let rules = if args.repo.update_keys {
            Some(
                args.open
                    .config
                    .load()?
                    .context("--update-keys needs a .sops.yaml (none found; see --config)")?,
            )
        } else {
            None
        };
        Ok(SopsRotation {
            changes: args.keys.changes()?,
            rules,
            rewrap: args.repo.rewrap,
            emit: args.open.config.emit_options(),
            open: args.open.clone(),
            vault: VaultEnv::from_process(),
        })
    }

    /// What rotating `path` will do; an error when it cannot be rotated as asked.
    pub fn plan(&self, path: &Path, format: Format, bytes: &[u8]) -> anyhow::Result<Step> {
        let file = EncryptedFile::load(bytes, format)?;
        if self.rewrap {
            let n = vault_keys(&file).count();
            return Ok(match n {
                0 => Step::Skip("no Vault transit key to re-wrap".to_owned()),
                n => Step::Change(format!("re-wrap {n} Vault transit key(s)")),
            });
        }
        let old = groups_of(&file.metadata);
        let (new, _) = self.target(path, &file)?;
        let old_flat: Vec<&KeySpec> = old.iter().flatten().collect();
        let new_flat: Vec<&KeySpec> = new.iter().flatten().collect();
        let mut text = "new data key".to_owned();
        for k in new_flat.iter().filter(|k| !old_flat.contains(k)) {
            text.push_str(&format!(", +{}", describe(k)));
        }
        for k in old_flat.iter().filter(|k| !new_flat.contains(k)) {
            text.push_str(&format!(", -{}", describe(k)));
        }
        Ok(Step::Change(text))
    }

    /// The key groups and Shamir threshold `file` gets.
    fn target(
        &self,
        path: &Path,
        file: &EncryptedFile,
    ) -> anyhow::Result<(Vec<Vec<KeySpec>>, usize)> {
        let (groups, threshold) = match &self.rules {
            Some(cfg) => {
                let rule = cfg
                    .creation_rule(path, &Default::default())?
                    .context("the .sops.yaml has no creation_rules")?;
                (rule.key_groups, rule.shamir_threshold)
            }
            None => (groups_of(&file.metadata), file.metadata.shamir_threshold),
        };
        let groups = self.changes.apply(groups);
        if groups.iter().any(Vec::is_empty) {
            bail!("the file would be left with an empty key group");
        }
        Ok((groups, threshold))
    }

    /// The rotated file. Decrypted values live only in memory (zeroized wrappers).
    pub fn apply(&self, path: &Path, format: Format, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut file = EncryptedFile::load(bytes, format)?;
        if self.rewrap {
            self.rewrap_keys(&mut file)?;
            return Ok(file.emit(format, &self.emit)?);
        }
        let (groups, shamir_threshold) = self.target(path, &file)?;
        let decrypted = decrypt_file(file, self.open.ignore_mac, &self.open.config)
            .context("cannot decrypt it with the keys of this environment")?;
        let metadata = decrypted.metadata;
        let options = EncryptOptions {
            key_groups: keysource::recipients(&groups)?,
            shamir_threshold,
            rule: metadata.rule.clone(),
            mac_only_encrypted: metadata.mac_only_encrypted,
        };
        let out = lockstep_sops::encrypt(decrypted.tree, format, options)
            .context("cannot encrypt it with the new data key")?;
        Ok(out.emit(format, &self.emit)?)
    }

    /// Replaces every Vault transit `enc` by Vault's re-wrap of it under the newest key
    /// version; the data key itself never leaves Vault or this file.
    fn rewrap_keys(&self, file: &mut EncryptedFile) -> anyhow::Result<()> {
        for group in &mut file.metadata.key_groups {
            for key in group.iter_mut().filter(|k| k.kind == KeyType::HcVault) {
                let service = VaultTransitKey::new(
                    key.text("vault_address").unwrap_or_default(),
                    key.text("engine_path").unwrap_or_default(),
                    key.text("key_name").unwrap_or_default(),
                )
                .and_then(|k| k.with_token_from(&self.vault))?;
                let enc = WrappedKey(key.text("enc").unwrap_or_default().to_owned());
                let rewrapped = service.rewrap(&enc)?;
                key.fields
                    .insert("enc".to_owned(), Field::Text(rewrapped.0));
            }
        }
        Ok(())
    }
}

fn vault_keys(file: &EncryptedFile) -> impl Iterator<Item = &lockstep_sops::MasterKey> {
    file.metadata
        .key_groups
        .iter()
        .flatten()
        .filter(|k| k.kind == KeyType::HcVault)
}

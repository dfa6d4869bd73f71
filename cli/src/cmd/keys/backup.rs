//! `keys backup`, `keys restore` and `keys import`. A backup is the key Secrets as a `v1
//! List` (the shape `kubectl get secret -o yaml` writes, so `lockstep unseal` and
//! `kubeseal --recovery-private-key` read it once decrypted), encrypted with age to the
//! given recipients and ASCII-armored. The plaintext exists only in zeroizing memory.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use lockstep_keys::sealing::Certificate;
use lockstep_sealed::{KEY_ACTIVE, KEY_IMPORT_FIELD_MANAGER, SEALING_KEY_LABEL};
use zeroize::Zeroizing;

use super::Cluster;
use crate::cmd::output::write_atomic;

/// `lockstep keys backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// age (or SSH) recipients to encrypt the backup to; comma-separated or repeated.
    #[arg(
        long = "age",
        value_delimiter = ',',
        required = true,
        value_name = "RECIPIENT"
    )]
    recipients: Vec<String>,
    /// The backup file to write.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: PathBuf,
    #[command(flatten)]
    cluster: Cluster,
}

/// `lockstep keys restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file (`lockstep keys backup`).
    file: PathBuf,
    /// age identity files (default: `SOPS_AGE_KEY_FILE`, as sops reads it).
    #[arg(
        short = 'i',
        long = "identity",
        value_name = "FILE",
        env = "SOPS_AGE_KEY_FILE"
    )]
    identities: Vec<PathBuf>,
    #[command(flatten)]
    cluster: Cluster,
}

/// `lockstep keys import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Plaintext key Secrets or a `v1 List` of them (YAML or JSON).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    #[command(flatten)]
    cluster: Cluster,
}

/// Writes every key Secret, encrypted, to the output file (mode 0600).
pub async fn backup(client: kube::Client, args: BackupArgs) -> anyhow::Result<ExitCode> {
    let recipients = args
        .recipients
        .iter()
        .map(|r| lockstep_keys::age::parse_recipient(r))
        .collect::<Result<Vec<_>, _>>()
        .context("reading the --age recipients")?;
    let api: Api<Secret> = Api::namespaced(client, &args.cluster.namespace);
    let secrets = api
        .list(&ListParams::default().labels(SEALING_KEY_LABEL))
        .await
        .context("listing the sealing key Secrets")?
        .items;
    if secrets.is_empty() {
        bail!(
            "no sealing key Secrets in namespace {}",
            args.cluster.namespace
        );
    }
    let count = secrets.len();
    // A `v1 List`, written straight into zeroizing memory; the key bytes of the listed
    // Secrets are wiped as soon as they are written.
    let mut plain =
        Zeroizing::new(b"{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [".to_vec());
    for (i, secret) in secrets.into_iter().map(portable).enumerate() {
        if i > 0 {
            plain.push(b',');
        }
        let mut secret = secret;
        serde_json::to_writer(&mut *plain, &secret).context("writing the list")?;
        for value in secret.data.iter_mut().flat_map(|d| d.values_mut()) {
            zeroize::Zeroize::zeroize(&mut value.0);
        }
    }
    plain.extend_from_slice(b"]}\n");
    let encryptor = age::Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as _))
        .context("no recipients")?;
    let mut out = Vec::new();
    let armor = age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)?;
    let mut writer = encryptor.wrap_output(armor)?;
    writer.write_all(&plain)?;
    writer.finish()?.finish()?;
    write_atomic(&args.output, &out)?;
    #[cfg(unix)]
    std::fs::set_permissions(
        &args.output,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )?;
    eprintln!("{count} key Secret(s) written to {}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

/// A key Secret without what belongs to its cluster (uid, resourceVersion, owner, …).
fn portable(secret: Secret) -> Secret {
    let meta = secret.metadata;
    Secret {
        metadata: ObjectMeta {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels,
            ..ObjectMeta::default()
        },
        type_: secret.type_,
        data: secret.data,
        ..Secret::default()
    }
}

/// Decrypts a backup and creates its key Secrets.
pub async fn restore(client: kube::Client, args: RestoreArgs) -> anyhow::Result<ExitCode> {
    if args.identities.is_empty() {
        bail!("no age identity: pass --identity FILE or set SOPS_AGE_KEY_FILE");
    }
    let mut identities = Vec::new();
    for path in &args.identities {
        let file = age::IdentityFile::from_file(path.display().to_string())
            .with_context(|| format!("cannot read identities from {}", path.display()))?;
        identities.extend(file.into_identities()?);
    }
    let encrypted = crate::cmd::input::read(Some(&args.file))?;
    let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(&encrypted[..]))
        .with_context(|| format!("{} is not an age file", args.file.display()))?;
    let mut reader = decryptor
        .decrypt(identities.iter().map(|i| i.as_ref() as _))
        .with_context(|| format!("none of the identities opens {}", args.file.display()))?;
    let mut plain = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut plain)?;
    create_all(client, &args.cluster.namespace, &plain).await
}

/// Creates the key Secrets of plaintext files.
pub async fn import(client: kube::Client, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let mut status = ExitCode::SUCCESS;
    for path in &args.files {
        let bytes = crate::cmd::input::read(Some(path))?;
        status = create_all(client.clone(), &args.cluster.namespace, &bytes).await?;
    }
    Ok(status)
}

/// Creates every key Secret of `bytes` (a Secret or a `v1 List`, YAML or JSON) in
/// `namespace`; one that is already there with the same certificate is left alone.
async fn create_all(
    client: kube::Client,
    namespace: &str,
    bytes: &[u8],
) -> anyhow::Result<ExitCode> {
    let text = std::str::from_utf8(bytes).context("the key file is not UTF-8")?;
    let doc: serde_json::Value =
        serde_saphyr::from_str_with_options(text, lockstep_limits::yaml_options())
            .context("the key file is not YAML or JSON")?;
    let items = match doc.get("kind").and_then(|k| k.as_str()) {
        Some("List") => doc["items"].as_array().cloned().unwrap_or_default(),
        _ => vec![doc],
    };
    let api: Api<Secret> = Api::namespaced(client, namespace);
    for item in items {
        let secret: Secret = serde_json::from_value(item).context("an item is not a Secret")?;
        let name = secret
            .metadata
            .name
            .clone()
            .context("a key Secret has no name")?;
        let data = secret.data.clone().unwrap_or_default();
        let (Some(key), Some(crt)) = (data.get("tls.key"), data.get("tls.crt")) else {
            bail!("{name} has no tls.key and tls.crt");
        };
        let cert = Certificate::from_pem(&crt.0).with_context(|| format!("{name}: tls.crt"))?;
        if let Some(existing) = api.get_opt(&name).await? {
            let same = existing.data.as_ref().and_then(|d| d.get("tls.crt")) == Some(crt);
            if !same {
                bail!("{name} already exists in {namespace} with another key");
            }
            eprintln!("{name}: already there");
            continue;
        }
        let label = secret
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(SEALING_KEY_LABEL))
            .cloned()
            .unwrap_or_else(|| KEY_ACTIVE.to_owned());
        let restored = Secret {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([(SEALING_KEY_LABEL.to_owned(), label)])),
                ..ObjectMeta::default()
            },
            type_: Some("kubernetes.io/tls".to_owned()),
            data: Some(BTreeMap::from([
                ("tls.key".to_owned(), ByteString(key.0.clone())),
                ("tls.crt".to_owned(), crt.clone()),
            ])),
            ..Secret::default()
        };
        let params = PostParams {
            field_manager: Some(KEY_IMPORT_FIELD_MANAGER.to_owned()),
            ..PostParams::default()
        };
        api.create(&params, &restored)
            .await
            .with_context(|| format!("cannot create key Secret {name}"))?;
        println!("{name}\t{}", cert.public_key().fingerprint());
    }
    Ok(ExitCode::SUCCESS)
}

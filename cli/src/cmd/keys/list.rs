//! `keys list`, `keys renew` and `keys retire`: what the keys are, a new one now, and one
//! taken out of use once the repository no longer needs it.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use lockstep_sealed::{KEY_COMPROMISED, RENEW_REQUESTED_ANNOTATION, SEALING_KEY_LABEL};

use super::ring::{self, Key, newest_active, usage};
use super::{Cluster, Repo};
use crate::cmd::output::Listing;

/// `lockstep keys list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    repo: Repo,
    /// Print the keys as a JSON list or YAML instead of a table.
    #[arg(short, long, value_enum, default_value_t = Listing::Table)]
    output: Listing,
}

/// `lockstep keys renew`.
#[derive(Debug, Args)]
pub struct RenewArgs {
    #[command(flatten)]
    cluster: Cluster,
    /// How long to wait for the controller to make the key (Go duration: 90s, 5m; a bare
    /// number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration_or_seconds)]
    timeout: Duration,
}

/// A Go duration as `apply --timeout` takes it, or a bare number of seconds (what
/// `--timeout` took before).
fn duration_or_seconds(text: &str) -> Result<Duration, String> {
    match text.parse::<u64>() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => lockstep_api::parse_duration(text).map_err(|err| err.to_string()),
    }
}

/// One key as `keys list -o json|yaml` prints it.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed {
    secret: String,
    fingerprint: String,
    created: String,
    state: String,
    /// How many of the repository's SealedSecrets it sealed; absent without a repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    sealed_secrets: Option<usize>,
}

/// `lockstep keys retire`.
#[derive(Debug, Args)]
pub struct RetireArgs {
    /// The key: its Secret's name or its fingerprint.
    key: String,
    #[command(flatten)]
    cluster: Cluster,
    #[command(flatten)]
    repo: Repo,
}

fn created(key: &Key) -> String {
    jiff::Timestamp::from_second(key.certificate.not_before_unix())
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// Prints one line per key, oldest first.
pub async fn list(client: kube::Client, args: ListArgs) -> anyhow::Result<ExitCode> {
    let api: Api<Secret> = Api::namespaced(client, &args.cluster.namespace);
    let keys = ring::load(&api).await?;
    let used = usage(&keys, &args.repo.paths)?;
    let newest = newest_active(&keys).map(|k| k.secret.clone());
    let listed: Vec<Listed> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| Listed {
            secret: key.secret.clone(),
            fingerprint: key.fingerprint().to_owned(),
            created: created(key),
            state: match (&newest, key.active()) {
                (Some(n), true) if *n == key.secret && key.renew_requested => {
                    "active, sealing, renewal asked".to_owned()
                }
                (Some(n), true) if *n == key.secret => "active, sealing".to_owned(),
                (_, true) => "active".to_owned(),
                (_, false) => format!("retired ({})", key.state),
            },
            sealed_secrets: used.as_ref().map(|u| u.by_key[i].len()),
        })
        .collect();
    match args.output {
        Listing::Table => {
            println!(
                "{:<32} {:<51} {:<20} {:<22} SEALEDSECRETS",
                "SECRET", "FINGERPRINT", "CREATED", "STATE"
            );
            for key in &listed {
                let count = key.sealed_secrets.map_or("-".to_owned(), |n| n.to_string());
                println!(
                    "{:<32} {:<51} {:<20} {:<22} {count}",
                    key.secret, key.fingerprint, key.created, key.state
                );
            }
        }
        Listing::Json => println!("{}", serde_json::to_string_pretty(&listed)?),
        Listing::Yaml => print!("{}", serde_saphyr::to_string(&listed)?),
    }
    if let Some(u) = used.filter(|u| u.unknown > 0) {
        eprintln!(
            "note: {} SealedSecret(s) in the repository open with none of these keys",
            u.unknown
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks for a new key by annotating the newest key's Secret, then waits until a key
/// Secret that was not there before exists.
pub async fn renew(client: kube::Client, args: RenewArgs) -> anyhow::Result<ExitCode> {
    let api: Api<Secret> = Api::namespaced(client, &args.cluster.namespace);
    let keys = ring::load(&api).await?;
    let newest = newest_active(&keys).with_context(|| {
        format!(
            "no active sealing key in namespace {}; is the controller running there (see --namespace)?",
            args.cluster.namespace
        )
    })?;
    let name = newest.secret.clone();
    let before: Vec<String> = keys.iter().map(|k| k.secret.clone()).collect();
    let now = jiff::Timestamp::now().to_string();
    let patch = serde_json::json!({"metadata": {"annotations": {RENEW_REQUESTED_ANNOTATION: now}}});
    api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("cannot annotate key Secret {name}"))?;
    let deadline = tokio::time::Instant::now() + args.timeout;
    loop {
        let keys = ring::load(&api).await?;
        if let Some(new) = keys
            .iter()
            .rev()
            .find(|k| k.active() && !before.contains(&k.secret))
        {
            println!("{}\t{}", new.secret, new.fingerprint());
            return Ok(ExitCode::SUCCESS);
        }
        if tokio::time::Instant::now() >= deadline {
            bail!(
                "asked for a new key ({RENEW_REQUESTED_ANNOTATION} on {name}) but none appeared within {:?}; \
                 is a lockstep-controller watching namespace {}?",
                args.timeout,
                args.cluster.namespace
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Relabels a key `compromised`, refusing while it seals or the repository needs it.
pub async fn retire(client: kube::Client, args: RetireArgs) -> anyhow::Result<ExitCode> {
    let api: Api<Secret> = Api::namespaced(client, &args.cluster.namespace);
    let keys = ring::load(&api).await?;
    let index = keys
        .iter()
        .position(|k| k.secret == args.key || k.fingerprint() == args.key)
        .with_context(|| format!("no sealing key named or fingerprinted {}", args.key))?;
    let key = &keys[index];
    if !key.active() {
        eprintln!("{} is already retired ({})", key.secret, key.state);
        return Ok(ExitCode::SUCCESS);
    }
    if newest_active(&keys).is_some_and(|n| n.secret == key.secret) {
        bail!(
            "{} is the key the controller seals with; run `lockstep keys renew` and re-seal \
             (`lockstep rotate --controller-url …`) first",
            key.secret
        );
    }
    let used = usage(&keys, &args.repo.paths)?
        .context("not inside a Git work tree: name the repository to check with --repo PATH")?;
    let files = &used.by_key[index];
    if !files.is_empty() {
        let mut names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        names.dedup();
        bail!(
            "{} still sealed {} SealedSecret(s) in the repository ({}); re-seal them with \
             `lockstep rotate --controller-url …` first",
            key.secret,
            files.len(),
            names.join(", ")
        );
    }
    let labels = BTreeMap::from([(SEALING_KEY_LABEL, KEY_COMPROMISED)]);
    let patch = serde_json::json!({"metadata": {"labels": labels}});
    api.patch(&key.secret, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("cannot relabel key Secret {}", key.secret))?;
    println!("{}\t{}\tretired", key.secret, key.fingerprint());
    Ok(ExitCode::SUCCESS)
}

//! `lockstep apply`: one reconcile from the command line — render, check everything, apply
//! in stages, prune what left the source, record the inventory, and wait until every
//! applied object is healthy; a chart's Helm hooks (`--helm`) run before the first write
//! and after the wait, as `helm install --wait`/`helm upgrade --wait` run them. The same
//! engine steps as the controller's `Sync` (`lockstep_engine::run`), with the inventory
//! kept in a ConfigMap instead of a `Sync`'s status.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use lockstep_api::parse_duration;
use lockstep_engine::apply::{ApplyError, ApplyOptions, Protect};
use lockstep_engine::health::{Rules, wait_reporting};
use lockstep_engine::hooks::{self, Event, Hook, HookOptions};
use lockstep_engine::inventory::{self, id, read_apply, write_apply};
use lockstep_engine::redact::Redactor;
use lockstep_engine::run::{RunOptions, prepare};
use lockstep_sealed::{SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT};

use super::diff::ClusterArgs;
use super::render::{SourceArgs, default_namespace, runtime};
use super::report::{Code, Coded, Hint};

/// Apply a folder or Git URL to the cluster, prune what left it, and wait until healthy.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    cluster: ClusterArgs,

    /// Delete and recreate objects whose change touches an immutable field.
    #[arg(long)]
    force: bool,

    /// Take objects that another `--name` or a Sync holds, instead of refusing them.
    #[arg(long)]
    force_ownership: bool,

    /// Do not wait for the applied objects to become healthy.
    #[arg(long)]
    no_wait: bool,

    /// How long to wait for health (Go duration: 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

/// How often health is polled.
const POLL: Duration = Duration::from_secs(2);

/// A chart's hooks and how to run them for one `apply`.
struct Release<'a> {
    client: &'a kube::Client,
    hooks: &'a [Hook],
    options: HookOptions<'a>,
    install: bool,
    redactor: &'a Redactor,
}

impl Release<'_> {
    /// Runs the hooks of `events`, saying each as it finishes; an error says `after` what
    /// became of the objects.
    async fn run(&self, events: &[Event], after: &str) -> anyhow::Result<()> {
        if !self.hooks.iter().any(|h| h.runs_at_any(events)) {
            return Ok(());
        }
        let ran = hooks::run(self.client, self.hooks, events, self.options)
            .await
            .map_err(|err| anyhow::anyhow!("{}; {after}", self.redactor.scrub(&err.to_string())))?;
        let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
        println!("{ran} {} hook(s) succeeded", names.join("/"));
        Ok(())
    }
}

/// Runs `lockstep apply`.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(apply(&args))?;
    Ok(ExitCode::SUCCESS)
}

async fn apply(args: &ApplyArgs) -> anyhow::Result<()> {
    let (client, namespace) = args.cluster.connect().await?;
    let owner = args.cluster.owner(&namespace);
    let name = owner.name.clone();
    let mut rendered = args.source.render(Some(owner.clone()), true).await?;
    anyhow::ensure!(
        !rendered.manifests.is_empty(),
        "{} renders no objects: nothing to apply",
        args.source.describe()
    );
    let mut manifests = std::mem::take(&mut rendered.manifests);
    default_namespace(&mut manifests, &namespace);
    let previous = read_apply(&client, &namespace, &name).await?;
    let options = RunOptions {
        owner,
        previous,
        prune: !args.cluster.no_prune,
        allow_empty: false,
        prune_last: false,
        apply: ApplyOptions {
            force: args.force,
            force_ownership: args.force_ownership,
            protect: Protect::default().label(SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT),
            ..ApplyOptions::default()
        },
    };
    let prepared = match prepare(&client, &manifests, &options).await {
        Ok(prepared) => prepared,
        Err(err) => {
            // API errors can quote decrypted values of objects other than Secrets.
            let message = rendered.redactor.scrub(&err.to_string());
            let message = format!(
                "applying {}: {message}; nothing was applied",
                args.source.describe()
            );
            return Err(refusal(&err, message));
        }
    };
    // A chart's hooks run as `helm install`/`upgrade` runs them: an install while nothing
    // is in the inventory, an upgrade after.
    let release = Release {
        client: &client,
        hooks: &rendered.hooks,
        options: HookOptions {
            owner: &options.owner,
            apply: &options.apply,
            timeout: args.timeout,
            released: &[],
        },
        install: options.previous.is_empty(),
        redactor: &rendered.redactor,
    };
    release
        .run(Event::before(Some(release.install)), "nothing was applied")
        .await?;
    // Every object this run may write is in the inventory before the first write, so
    // that a run killed half-way still prunes what it wrote once it leaves the source.
    let intent = prepared.intent();
    if prepared.writes() && intent != options.previous {
        write_apply(&client, &namespace, &name, &intent).await?;
    }
    let outcome = match prepared.run().await {
        Ok(outcome) => outcome,
        Err(err) => {
            write_apply(&client, &namespace, &name, err.inventory()).await?;
            let message = rendered.redactor.scrub(&err.to_string());
            anyhow::bail!("applying {}: {message}", args.source.describe());
        }
    };
    write_apply(&client, &namespace, &name, &outcome.inventory).await?;

    for (entry, holder) in &outcome.changes.taken {
        eprintln!("lockstep: {}: taken over from {holder}", id(entry));
    }
    for change in &outcome.changes.changes {
        println!("{} {}", id(&change.object), change.action);
    }
    for entry in &outcome.pruned.deleted {
        println!("{} pruned", id(entry));
    }
    for (entry, reason) in &outcome.pruned.skipped {
        println!("{} not pruned ({reason:?})", id(entry));
    }
    for (entry, error) in &outcome.pruned.survivors {
        eprintln!(
            "lockstep: {}: delete failed ({error}); kept in the inventory",
            id(entry)
        );
    }
    let revision = rendered.revision.as_deref().unwrap_or("local files");
    println!("{revision}: {}", outcome.summary());
    if !args.no_wait {
        let applied = inventory::from_change_set(&outcome.changes);
        // What it waits for, each time that changes, as Flux's `◎ waiting` lines.
        let mut last = String::new();
        let progress = |pending: &str| {
            if pending != last {
                eprintln!("waiting for: {}", rendered.redactor.scrub(pending));
                pending.clone_into(&mut last);
            }
        };
        let rules = Rules::default();
        let waited = wait_reporting(&client, &applied, &rules, args.timeout, POLL, progress).await;
        if let Err(err) = waited {
            let message = rendered.redactor.scrub(&err.to_string());
            anyhow::bail!("waiting for the applied objects to become healthy: {message}");
        }
        println!("{} object(s) healthy", applied.len());
    }
    // After the wait, as `helm install --wait` runs them (without it, right away).
    release
        .run(
            Event::after(Some(release.install)),
            "the objects stay applied",
        )
        .await?;
    if !outcome.pruned.survivors.is_empty() {
        anyhow::bail!(
            "{} object(s) could not be pruned",
            outcome.pruned.survivors.len()
        );
    }
    Ok(())
}

/// What to do about a refused apply or diff; a flag is named only where the command has it.
pub fn refusal_hint(err: &ApplyError) -> Option<Hint> {
    Some(match err {
        ApplyError::Owned { .. } => Hint::new("remove them from the source").or_flag(
            "force_ownership",
            ", or pass --force-ownership to take them over",
        ),
        ApplyError::ImmutableField { .. } => {
            Hint::new("annotate the object lockstep.dev/force: enabled")
                .or_flag("force", ", or pass --force, to delete and recreate it")
        }
        ApplyError::NamespaceNotFound { .. } => {
            Hint::new("create the namespace, or add its Namespace to the source")
        }
        ApplyError::UnknownKind { .. } => {
            Hint::new("install its CustomResourceDefinition first, or add it to the source")
        }
        _ => return None,
    })
}

/// A refusal as the command reports it: the scrubbed message and the hint.
pub fn refusal(err: &ApplyError, message: String) -> anyhow::Error {
    let refused = Coded::new(Code::Generic, message);
    match refusal_hint(err) {
        Some(hint) => refused.hint(hint).into(),
        None => refused.into(),
    }
}

//! `lockstep logs [KIND/]NAME`: the controller's log lines about one object, like `flux
//! logs --kind Kustomization --name NAME`. The lines are read from every
//! `lockstep-controller` Pod (the leader and the replicas waiting to lead) through the API
//! server, kept when the object's field names it (`sync=NS/NAME`, `sealed_secret=…`), and
//! printed oldest first. The controller writes no secret value into its log, so neither
//! does this.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, ValueEnum};
use futures::{AsyncBufReadExt as _, StreamExt as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use lockstep_api::parse_duration;
use serde_json::Value;

use super::cluster::{KubeFlags, Namespace};
use super::render::runtime;

/// Show the controller's log lines about one Sync (or another object it serves).
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 the logs were read (even with no line about the \
                        object), 1 no controller Pod was found or its logs could not be read."
)]
pub struct LogsArgs {
    /// `NAME` of a Sync, or `KIND/NAME`: sync, sealedsecret, externalsecret, application,
    /// receiver, alert.
    object: String,

    #[command(flatten)]
    namespace: Namespace,

    /// Namespace of the lockstep-controller Pods.
    #[arg(long, value_name = "NS", default_value = "kube-system")]
    controller_namespace: String,

    /// Label selector of the lockstep-controller Pods.
    #[arg(long, default_value = "app.kubernetes.io/name=lockstep-controller")]
    selector: String,

    /// Only lines newer than this (Go duration: 90s, 1h).
    #[arg(long, value_parser = parse_duration)]
    since: Option<Duration>,

    /// How to print each line.
    #[arg(short, long, value_enum, default_value_t = Format::Text)]
    output: Format,

    /// Keep printing the lines the controller writes from now on, until interrupted.
    #[arg(short, long)]
    follow: bool,

    #[command(flatten)]
    kube: KubeFlags,
}

/// How `logs` prints a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Time, level, message and the other fields.
    Text,
    /// The controller's JSON line as it is.
    Json,
}

impl Format {
    /// `line` as this format prints it (`field`, the object's own, left out of text).
    fn show(self, line: &str, field: &str) -> String {
        match self {
            Self::Json => line.to_owned(),
            Self::Text => readable(line, field),
        }
    }
}

/// The log field that names an object of each kind the controller serves.
const FIELDS: [(&str, &str); 6] = [
    ("sync", "sync"),
    ("sealedsecret", "sealed_secret"),
    ("externalsecret", "external_secret"),
    ("application", "application"),
    ("receiver", "receiver"),
    ("alert", "alert"),
];

/// Runs `lockstep logs`.
pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(logs(&args))
}

async fn logs(args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let (kind, name) = match args.object.split_once('/') {
        Some((kind, name)) => (kind.to_lowercase(), name),
        None => ("sync".to_owned(), args.object.as_str()),
    };
    let Some((_, field)) = FIELDS
        .iter()
        .find(|(k, _)| *k == kind.trim_end_matches('s'))
    else {
        let kinds: Vec<&str> = FIELDS.iter().map(|(k, _)| *k).collect();
        bail!(
            "{kind} is not a kind the controller logs by name; use one of {}",
            kinds.join(", ")
        );
    };
    let config = args.kube.config().await?;
    let namespace = args.namespace.chosen(&config);
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let wanted = format!("{namespace}/{name}");

    let pods: Api<Pod> = Api::namespaced(client, &args.controller_namespace);
    let listed = pods
        .list(&ListParams::default().labels(&args.selector))
        .await
        .with_context(|| {
            format!(
                "listing the controller's Pods in namespace {}",
                args.controller_namespace
            )
        })?;
    if listed.items.is_empty() {
        bail!(
            "no Pod matches {} in namespace {}; is lockstep-controller installed there \
             (--controller-namespace, --selector)?",
            args.selector,
            args.controller_namespace
        );
    }
    let params = LogParams {
        since_seconds: args.since.map(|d| d.as_secs().max(1) as i64),
        follow: args.follow,
        ..LogParams::default()
    };
    if args.follow {
        return follow(&pods, &listed.items, &params, args.output, field, &wanted).await;
    }
    let mut lines = Vec::new();
    for pod in &listed.items {
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        let text = pods
            .logs(&pod_name, &params)
            .await
            .with_context(|| format!("reading the log of Pod {pod_name}"))?;
        lines.extend(text.lines().filter_map(|line| about(line, field, &wanted)));
    }
    // JSON lines sort by their timestamp; the replicas' logs interleave by it.
    lines.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = std::io::stdout().lock();
    for (_, line) in &lines {
        writeln!(out, "{}", args.output.show(line, field))?;
    }
    out.flush()?;
    if lines.is_empty() {
        eprintln!(
            "no log lines about {kind} {wanted} in {} controller Pod(s){}",
            listed.items.len(),
            args.since
                .map(|d| format!(" in the last {}", lockstep_api::format_duration(d)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints each Pod's lines about `wanted` as they come, in the order they arrive, until
/// every Pod's stream ends (the Pod went away) or the process is interrupted. Pods started
/// later (a rollout) are not followed.
async fn follow(
    pods: &Api<Pod>,
    listed: &[Pod],
    params: &LogParams,
    output: Format,
    field: &str,
    wanted: &str,
) -> anyhow::Result<ExitCode> {
    let mut streams = Vec::new();
    for pod in listed {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let stream = pods
            .log_stream(&name, params)
            .await
            .with_context(|| format!("following the log of Pod {name}"))?;
        streams.push(Box::pin(stream.lines()));
    }
    let mut merged = futures::stream::select_all(streams);
    while let Some(line) = merged.next().await {
        let line = line.context("reading a controller Pod's log")?;
        if let Some((_, line)) = about(&line, field, wanted) {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", output.show(&line, field))?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The line, with its timestamp, if it is about `wanted` (`NS/NAME` in `field`): a JSON
/// line by its field, a text line (`--log-format=text`) by `field=NS/NAME` in it.
fn about(line: &str, field: &str, wanted: &str) -> Option<(String, String)> {
    match serde_json::from_str::<Value>(line) {
        Ok(json) => (json["fields"][field].as_str() == Some(wanted)).then(|| {
            let time = json["timestamp"].as_str().unwrap_or_default().to_owned();
            (time, line.to_owned())
        }),
        Err(_) => line
            .split_whitespace()
            .any(|word| word == format!("{field}={wanted}"))
            .then(|| (String::new(), line.to_owned())),
    }
}

/// A JSON line as `TIME LEVEL message key=value…` (the object's own field left out); a
/// text line as it is.
fn readable(line: &str, field: &str) -> String {
    let Ok(json) = serde_json::from_str::<Value>(line) else {
        return line.to_owned();
    };
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut out = format!(
        "{} {} {}",
        text(&json["timestamp"]),
        text(&json["level"]),
        text(&json["fields"]["message"])
    );
    if let Some(fields) = json["fields"].as_object() {
        for (key, value) in fields {
            if key != "message" && key != field {
                out.push_str(&format!(" {key}={}", text(value)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line is about the object when its kind's field names it exactly: another Sync of
    /// a longer name, or the same name in another field, is not.
    #[test]
    fn lines_are_picked_by_the_kinds_field() {
        let line = r#"{"timestamp":"2026-12-06T08:00:00Z","level":"INFO","fields":{"message":"applied: created 3","sync":"shop/web","revision":"main@sha1:ab"},"target":"x"}"#;
        assert!(about(line, "sync", "shop/web").is_some());
        assert!(about(line, "sync", "shop/we").is_none());
        assert!(about(line, "sealed_secret", "shop/web").is_none());
        assert_eq!(
            readable(line, "sync"),
            "2026-12-06T08:00:00Z INFO applied: created 3 revision=main@sha1:ab"
        );
        let text = "2026-12-06T08:00:00Z  INFO lockstep_controller: applied sync=shop/web took=1ms";
        assert!(about(text, "sync", "shop/web").is_some());
        assert!(about(text, "sync", "shop/w").is_none());
    }
}

//! `lockstep get syncs|sources|sealedsecrets`: what the controller reports, as a table like
//! `flux get` (or the objects as JSON or YAML), once or as it changes (`-w`).

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use futures::{StreamExt as _, TryStreamExt as _};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::runtime::{WatchStreamExt as _, watcher};
use lockstep_api::PINNED_REVISION_ANNOTATION;
use serde_json::Value;

use super::cluster::{KubeFlags, Namespaces};
use super::output::Listing;
use super::render::runtime;

/// Show Syncs, GitSources or SealedSecrets with their revision and readiness.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 listed (or watched until interrupted), 1 the cluster \
                        could not be read."
)]
pub struct GetArgs {
    /// What to list.
    kind: Listed,

    #[command(flatten)]
    namespaces: Namespaces,

    /// Print the objects as they are, as JSON or YAML, instead of a table.
    #[arg(short, long, value_enum, default_value_t = Listing::Table)]
    output: Listing,

    /// After the list, print a row each time one changes, until interrupted.
    #[arg(short, long)]
    watch: bool,

    #[command(flatten)]
    kube: KubeFlags,
}

/// The kinds `get` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Listed {
    /// `lockstep.dev` Syncs.
    #[value(alias = "sync")]
    Syncs,
    /// `lockstep.dev` GitSources.
    #[value(alias = "source", alias = "gitsources")]
    Sources,
    /// `bitnami.com` SealedSecrets.
    #[value(alias = "sealedsecret")]
    Sealedsecrets,
    /// `external-secrets.io` ExternalSecrets (`--external-secrets`).
    #[value(alias = "externalsecret", alias = "es")]
    Externalsecrets,
}

impl Listed {
    fn resource(self) -> ApiResource {
        let (group, version, kind, plural) = match self {
            Self::Syncs => ("lockstep.dev", "v1alpha1", "Sync", "syncs"),
            Self::Sources => ("lockstep.dev", "v1alpha1", "GitSource", "gitsources"),
            Self::Sealedsecrets => ("bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets"),
            Self::Externalsecrets => (
                "external-secrets.io",
                "v1",
                "ExternalSecret",
                "externalsecrets",
            ),
        };
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
    }

    /// The columns after the name, and their values for `object`.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Self::Syncs | Self::Sources => &["REVISION", "SUSPENDED", "READY", "MESSAGE"],
            Self::Sealedsecrets => &["SYNCED", "MESSAGE"],
            Self::Externalsecrets => &["STORE", "REFRESHED", "READY", "MESSAGE"],
        }
    }

    fn cells(self, object: &Value) -> Vec<String> {
        let status = &object["status"];
        match self {
            Self::Syncs | Self::Sources => {
                let revision = match self {
                    Self::Syncs => status["lastAppliedRevision"].as_str(),
                    _ => None,
                }
                .or(status["lastAttemptedRevision"].as_str())
                .unwrap_or_default();
                // A Sync `lockstep rollback` pinned says so where its revision is.
                let annotations = &object["metadata"]["annotations"];
                let pinned = annotations[PINNED_REVISION_ANNOTATION]
                    .as_str()
                    .is_some_and(|p| !p.is_empty());
                let revision = if pinned {
                    format!("{revision} (pinned)")
                } else {
                    revision.to_owned()
                };
                let suspended = object["spec"]["suspend"].as_bool().unwrap_or(false);
                let (ready, message) = condition(status, "Ready");
                vec![revision, suspended.to_string(), ready, message]
            }
            Self::Sealedsecrets => {
                let (synced, message) = condition(status, "Synced");
                vec![synced, message]
            }
            Self::Externalsecrets => {
                let store = &object["spec"]["secretStoreRef"];
                let store = format!(
                    "{}/{}",
                    store["kind"].as_str().unwrap_or("SecretStore"),
                    store["name"].as_str().unwrap_or_default()
                );
                let refreshed = status["refreshTime"].as_str().unwrap_or_default();
                let (ready, message) = condition(status, "Ready");
                vec![store, refreshed.to_owned(), ready, message]
            }
        }
    }
}

/// Runs `lockstep get`.
pub fn run(args: GetArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(get(&args))?;
    Ok(ExitCode::SUCCESS)
}

async fn get(args: &GetArgs) -> anyhow::Result<()> {
    let config = args.kube.config().await?;
    let namespace = args.namespaces.chosen(&config);
    let client = kube::Client::try_from(config).context("building the Kubernetes client")?;
    let resource = args.kind.resource();
    let api: Api<DynamicObject> = match &namespace {
        Some(namespace) => Api::namespaced_with(client, namespace, &resource),
        None => Api::all_with(client, &resource),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("listing {}", resource.plural))?;
    let objects: Vec<Value> = list
        .items
        .into_iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let table = Table {
        listed: args.kind,
        all_namespaces: namespace.is_none(),
        colour: std::io::stdout().is_terminal(),
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        Listing::Table => out.write_all(table.render(&objects, true).as_bytes())?,
        Listing::Json => writeln!(out, "{}", serde_json::to_string_pretty(&objects)?)?,
        Listing::Yaml => {
            for object in &objects {
                write!(out, "---\n{}", serde_saphyr::to_string(object)?)?;
            }
        }
    }
    out.flush()?;
    drop(out);
    if !args.watch {
        return Ok(());
    }
    // Every change after the list: the watch starts with the objects as they are, which
    // were printed already.
    let config = watcher::Config::default();
    let mut seen: std::collections::HashMap<String, Vec<String>> = objects
        .iter()
        .map(|o| (key(o), args.kind.cells(o)))
        .collect();
    let mut events = watcher::watcher(api, config).applied_objects().boxed();
    while let Some(object) = events.try_next().await.context("watching")? {
        let object = serde_json::to_value(object)?;
        let cells = args.kind.cells(&object);
        if seen.get(&key(&object)) == Some(&cells) {
            continue;
        }
        seen.insert(key(&object), cells);
        let mut out = std::io::stdout().lock();
        match args.output {
            Listing::Table => out.write_all(table.render(&[object], false).as_bytes())?,
            Listing::Json => writeln!(out, "{}", serde_json::to_string(&object)?)?,
            Listing::Yaml => write!(out, "---\n{}", serde_saphyr::to_string(&object)?)?,
        }
        out.flush()?;
    }
    Ok(())
}

fn key(object: &Value) -> String {
    let meta = &object["metadata"];
    format!(
        "{}/{}",
        meta["namespace"].as_str().unwrap_or_default(),
        meta["name"].as_str().unwrap_or_default()
    )
}

/// `(status, message)` of condition `type_`: `Unknown` and empty when there is none.
fn condition(status: &Value, type_: &str) -> (String, String) {
    let conditions = status["conditions"].as_array().into_iter().flatten();
    conditions
        .filter(|c| c["type"] == type_)
        .map(|c| {
            let text = |field: &str| c[field].as_str().unwrap_or_default().to_owned();
            (text("status"), text("message"))
        })
        .next()
        .unwrap_or_else(|| ("Unknown".into(), String::new()))
}

/// How rows are printed.
struct Table {
    listed: Listed,
    all_namespaces: bool,
    colour: bool,
}

impl Table {
    /// `objects` as aligned rows, under a header when `header`.
    fn render(&self, objects: &[Value], header: bool) -> String {
        let mut rows: Vec<Vec<String>> = Vec::new();
        if header {
            let mut names = Vec::new();
            if self.all_namespaces {
                names.push("NAMESPACE".to_owned());
            }
            names.push("NAME".to_owned());
            names.extend(self.listed.columns().iter().map(|c| (*c).to_owned()));
            rows.push(names);
        }
        for object in objects {
            let meta = &object["metadata"];
            let mut row = Vec::new();
            if self.all_namespaces {
                row.push(meta["namespace"].as_str().unwrap_or_default().to_owned());
            }
            row.push(meta["name"].as_str().unwrap_or_default().to_owned());
            // One line per row: a message's line breaks would break the table.
            row.extend(
                self.listed
                    .cells(object)
                    .into_iter()
                    .map(|c| c.replace('\n', " ")),
            );
            rows.push(row);
        }
        let widths: Vec<usize> = (0..rows.first().map_or(0, Vec::len))
            .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        // READY (SYNCED) is the column before the message, in every table.
        let ready_column = widths.len().saturating_sub(2);
        let mut text = String::new();
        for (n, row) in rows.iter().enumerate() {
            let last = row.len() - 1;
            for (i, cell) in row.iter().enumerate() {
                let padded = if i == last {
                    cell.clone()
                } else {
                    format!("{cell:<width$}\t", width = widths[i])
                };
                let body = n > 0 || !header;
                text.push_str(&if self.colour && body && i == ready_column {
                    paint(cell, &padded)
                } else {
                    padded
                });
            }
            text.push('\n');
        }
        text
    }
}

/// `padded` in green for `True`, red for `False` (a terminal only).
fn paint(cell: &str, padded: &str) -> String {
    match cell {
        "True" => format!("\x1b[32m{padded}\x1b[0m"),
        "False" => format!("\x1b[31m{padded}\x1b[0m"),
        _ => padded.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sync(name: &str, ready: &str, message: &str) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "apps"},
            "spec": {"suspend": name == "paused"},
            "status": {"lastAppliedRevision": "main@sha1:0123abcd",
                       "conditions": [{"type": "Ready", "status": ready, "message": message}]},
        })
    }

    /// Columns as `flux get` prints them, aligned, a namespace column only with `-A`, a
    /// message kept on one line.
    #[test]
    fn rows_line_up_under_flux_like_columns() {
        let objects = [
            sync("web", "True", "Applied revision: main@sha1:0123abcd"),
            sync("paused", "False", "apply failed:\nConfigMap/apps/x refused"),
        ];
        let table = Table {
            listed: Listed::Syncs,
            all_namespaces: false,
            colour: false,
        };
        let text = table.render(&objects, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let split =
            |line: &str| -> Vec<String> { line.split('\t').map(|c| c.trim().to_owned()).collect() };
        assert_eq!(
            split(lines[0]),
            ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
        );
        assert_eq!(
            split(lines[2]),
            [
                "paused",
                "main@sha1:0123abcd",
                "true",
                "False",
                "apply failed: ConfigMap/apps/x refused"
            ]
        );
        assert_eq!(lines[1].find("main@"), lines[2].find("main@"), "{text}");
        let all = Table {
            all_namespaces: true,
            ..table
        };
        assert!(all.render(&objects, true).starts_with("NAMESPACE"));
        let none = sync("none", "True", "");
        let bare = json!({"metadata": {"name": "new"}});
        assert_eq!(Listed::Syncs.cells(&bare), ["", "false", "Unknown", ""]);
        assert_eq!(Listed::Syncs.cells(&none)[2], "True");
        let mut pinned = sync("web", "True", "");
        pinned["metadata"]["annotations"] = json!({PINNED_REVISION_ANNOTATION: "main@sha1:01"});
        assert_eq!(
            Listed::Syncs.cells(&pinned)[0],
            "main@sha1:0123abcd (pinned)"
        );
    }

    /// An ExternalSecret's row names its store and last refresh, as ESO's columns do.
    #[test]
    fn external_secrets_show_their_store_and_refresh() {
        let es = json!({
            "metadata": {"name": "db"},
            "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault"}},
            "status": {"refreshTime": "2026-12-06T05:00:00Z",
                       "conditions": [{"type": "Ready", "status": "False",
                                       "message": "could not get secret data from provider"}]},
        });
        assert_eq!(
            Listed::Externalsecrets.cells(&es),
            [
                "ClusterSecretStore/vault",
                "2026-12-06T05:00:00Z",
                "False",
                "could not get secret data from provider"
            ]
        );
        let local = json!({"spec": {"secretStoreRef": {"name": "aws"}}});
        assert_eq!(Listed::Externalsecrets.cells(&local)[0], "SecretStore/aws");
    }
}

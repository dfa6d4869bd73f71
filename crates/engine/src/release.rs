//! Helm's release records: the `sh.helm.release.v1.<release>.v<revision>` Secrets that
//! `helm install` and `helm upgrade` write, written the same way for a chart Lockstep
//! applied, so `helm list`, `helm history`, `helm get values|manifest|hooks` show the
//! release, and Helm or Flux's helm-controller take it back as an *upgrade* of the same
//! release, its revisions counted on.
//!
//! A record is Helm's storage format, read from Helm's `secret` storage driver: a Secret
//! of type `helm.sh/release.v1`, labelled `name`, `owner: helm`, `status` and `version`,
//! whose `release` key holds the release as JSON, gzipped and base64-encoded. It holds
//! what Helm's does: the chart (metadata, lock, templates, values, schema), the values the
//! user gave (decrypted SOPS values included: the record is a Secret, as Helm's is), the
//! applied objects and the hooks. Not stored: the chart's other files and the rendered
//! `NOTES.txt`.
//!
//! A revision is written only when the release changes (another chart version, other
//! values, other objects), after the apply and its hooks succeeded; the revision before is
//! then `superseded`, and the oldest go past `maxHistory`. A failed apply writes none.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use lockstep_api::InventoryEntry;

use crate::hooks::Hook;
use crate::render::{Manifest, RenderError};

/// The type of Helm 3's (and 4's) release Secrets.
const TYPE: &str = "helm.sh/release.v1";

/// Go's zero `time.Time` as JSON: what Helm writes for a time not yet reached (an empty
/// string would not decode).
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// What a release record holds besides the applied objects: the chart as Helm stores it
/// and the values the user gave. The values are plaintext: not `Clone`, and `Debug`
/// shows only the release.
pub struct ReleaseParts {
    /// The release name.
    pub name: String,
    /// The release namespace.
    pub namespace: String,
    chart: Value,
    config: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for ReleaseParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseParts")
            .field("name", &self.name)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ReleaseParts {
    /// The chart folder `dir` as Helm stores a chart in a release, and `config`, the JSON
    /// of the values the user gave.
    ///
    /// # Errors
    /// [`RenderError`] naming a chart file that cannot be read or parsed.
    pub(crate) fn read(
        dir: &Path,
        name: &str,
        namespace: &str,
        config: Zeroizing<Vec<u8>>,
    ) -> Result<Self, RenderError> {
        let read = |file: &Path| -> Result<Option<Zeroizing<Vec<u8>>>, RenderError> {
            if !file.is_file() {
                return Ok(None);
            }
            lockstep_limits::read_file(file, lockstep_limits::LIMITS.max_input_bytes)
                .map(Some)
                .map_err(|err| RenderError::Read {
                    path: file.to_path_buf(),
                    source: err.into(),
                })
        };
        let yaml = |file: &str| -> Result<Value, RenderError> {
            let Some(bytes) = read(&dir.join(file))? else {
                return Ok(Value::Null);
            };
            let text = String::from_utf8_lossy(&bytes);
            crate::render::yaml::parse_document(Path::new(file), 0, &text, 1)
        };
        let metadata = yaml("Chart.yaml")?;
        let lock = yaml("Chart.lock")?;
        let values = match yaml("values.yaml")? {
            Value::Null => Value::Object(Map::new()),
            values => values,
        };
        let schema = read(&dir.join("values.schema.json"))?.map(|b| STANDARD.encode(&*b));
        let mut templates = Vec::new();
        let mut pending = vec![dir.join("templates")];
        while let Some(folder) = pending.pop() {
            let Ok(entries) = std::fs::read_dir(&folder) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => pending.push(path),
                    Ok(kind) if kind.is_file() => {
                        let Some(bytes) = read(&path)? else { continue };
                        let name = path.strip_prefix(dir).unwrap_or(&path);
                        let name = name.to_string_lossy().replace('\\', "/");
                        templates.push(json!({"name": name, "data": STANDARD.encode(&*bytes)}));
                    }
                    _ => {}
                }
            }
        }
        templates.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        let chart = json!({
            "metadata": metadata, "lock": lock, "templates": templates, "values": values,
            "schema": schema, "files": [],
        });
        Ok(Self {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            chart,
            config,
        })
    }

    /// The chart's name and version, as `helm list` shows them (`web-1.2.0`).
    pub fn chart(&self) -> String {
        let metadata = &self.chart["metadata"];
        let field = |key: &str| metadata[key].as_str().unwrap_or_default().to_owned();
        format!("{}-{}", field("name"), field("version"))
    }
}

/// Where a release's records live and how many are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Storage {
    /// The namespace of the record Secrets (Helm's: the release namespace; Flux's
    /// `storageNamespace`).
    pub namespace: String,
    /// Revisions kept, the newest; 0 keeps all.
    pub max_history: u32,
}

/// What [`record`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The deployed revision already describes the release.
    Unchanged(u32),
    /// A new revision was written, the one before superseded.
    Written(u32),
}

/// Why a release record could not be read or written. Names the Secret, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReleaseError {
    /// The records could not be listed.
    #[error("listing the Helm release records of {release:?} in namespace {namespace}: {source}")]
    List {
        /// The release.
        release: String,
        /// The storage namespace.
        namespace: String,
        /// The cause.
        source: kube::Error,
    },
    /// A record could not be written or deleted.
    #[error("writing the Helm release record {namespace}/{secret}: {source}")]
    Write {
        /// The storage namespace.
        namespace: String,
        /// The Secret.
        secret: String,
        /// The cause.
        source: kube::Error,
    },
    /// The release does not serialize (it cannot happen with JSON values).
    #[error("the Helm release {release:?} does not encode")]
    Encode {
        /// The release.
        release: String,
    },
}

/// One record Secret, its release decoded when asked for.
struct Record {
    secret: String,
    version: u32,
    status: String,
}

/// Writes the release `parts` describe, with `manifests` applied and `hooks`, as the next
/// revision in `storage`, unless the deployed revision already holds the same chart,
/// values and objects. Call it after the apply and its hooks succeeded.
///
/// # Errors
/// [`ReleaseError`]: the records could not be listed or written. Nothing is superseded
/// unless the new revision was written.
pub async fn record(
    client: &Client,
    storage: &Storage,
    parts: &ReleaseParts,
    manifests: &[Manifest],
    hooks: &[Hook],
) -> Result<Recorded, ReleaseError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &storage.namespace);
    let records = list(&api, storage, &parts.name).await?;
    let manifest = manifest_text(
        manifests
            .iter()
            .filter(|m| !crate::render::helm::is_crd_file(m)),
    );
    let config: Value = serde_json::from_slice(&parts.config).map_err(|_| encode(parts))?;
    let deployed = records.iter().rev().find(|r| r.status == "deployed");
    let mut first_deployed = None;
    if let Some(deployed) = deployed {
        let previous = decode(&api, &deployed.secret).await;
        if let Some(previous) = &previous {
            let same = previous["manifest"].as_str() == Some(manifest.as_str())
                && previous["config"] == config
                && previous["chart"]["metadata"] == parts.chart["metadata"];
            if same {
                return Ok(Recorded::Unchanged(deployed.version));
            }
            first_deployed = previous["info"]["first_deployed"]
                .as_str()
                .map(str::to_owned);
        }
    }
    let now = jiff::Timestamp::now().to_string();
    let version = records.last().map_or(1, |r| r.version + 1);
    let description = if records.is_empty() {
        "Install complete"
    } else {
        "Upgrade complete"
    };
    let release = json!({
        "name": parts.name,
        "info": {
            "first_deployed": first_deployed.unwrap_or_else(|| now.clone()),
            "last_deployed": now,
            "deleted": ZERO_TIME,
            "description": description,
            "status": "deployed",
        },
        "chart": parts.chart,
        "config": config,
        "manifest": *manifest,
        "hooks": hooks.iter().filter_map(hook).collect::<Vec<_>>(),
        "version": version,
        "namespace": parts.namespace,
    });
    let secret = key(&parts.name, version);
    let data = encoded(&release).ok_or_else(|| encode(parts))?;
    let created = jiff::Timestamp::now().as_second().to_string();
    let object: Secret = serde_json::from_value(json!({
        "metadata": {
            "name": secret,
            "labels": {
                "name": parts.name, "owner": "helm", "status": "deployed",
                "version": version.to_string(), "createdAt": created,
            },
        },
        "type": TYPE,
    }))
    .map_err(|_| encode(parts))?;
    let object = Secret {
        data: Some([("release".to_owned(), ByteString(data.to_vec()))].into()),
        ..object
    };
    api.create(&PostParams::default(), &object)
        .await
        .map_err(|source| write_error(storage, &secret, source))?;
    for old in records.iter().filter(|r| r.status == "deployed") {
        supersede(&api, storage, old).await?;
    }
    trim(&api, storage, &records, version).await?;
    Ok(Recorded::Written(version))
}

/// Deletes every record of `release` in `namespace`, as `helm uninstall` does; how many
/// there were.
///
/// # Errors
/// [`ReleaseError`]: the records could not be listed or deleted.
pub async fn uninstall(
    client: &Client,
    namespace: &str,
    release: &str,
) -> Result<usize, ReleaseError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let storage = Storage {
        namespace: namespace.to_owned(),
        max_history: 0,
    };
    let records = list(&api, &storage, release).await?;
    for record in &records {
        delete(&api, &storage, &record.secret).await?;
    }
    Ok(records.len())
}

/// What the deployed revision of a release applied, as its Helm record names it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deployed {
    /// The objects of its manifest (not hooks, not `crds/`); one that names no namespace
    /// gets none: the inventory of an owner whose status lost its own (Flux's HelmRelease
    /// CRD keeps none).
    pub objects: Vec<InventoryEntry>,
    /// Its hooks, in the release namespace unless they name one.
    pub hooks: Vec<InventoryEntry>,
}

/// What the deployed revision of `release` in `namespace` applied; empty when there is
/// none.
///
/// # Errors
/// [`ReleaseError`]: the records could not be listed.
pub async fn deployed(
    client: &Client,
    namespace: &str,
    release: &str,
) -> Result<Deployed, ReleaseError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let storage = Storage {
        namespace: namespace.to_owned(),
        max_history: 0,
    };
    let records = list(&api, &storage, release).await?;
    let Some(deployed) = records.iter().rev().find(|r| r.status == "deployed") else {
        return Ok(Deployed::default());
    };
    let Some(release) = decode(&api, &deployed.secret).await else {
        return Ok(Deployed::default());
    };
    let manifest = release["manifest"].as_str().unwrap_or_default();
    let objects = manifest
        .split("\n---")
        .filter_map(|document| entry(document, ""))
        .collect();
    let namespace = release["namespace"].as_str().unwrap_or_default();
    let hooks = release["hooks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|hook| entry(hook["manifest"].as_str()?, namespace))
        .collect();
    Ok(Deployed { objects, hooks })
}

/// The object a YAML document describes, in `namespace` unless it names one.
fn entry(document: &str, namespace: &str) -> Option<InventoryEntry> {
    let object: Value = serde_saphyr::from_str(document).ok()?;
    let text = |value: &Value| value.as_str().map(str::to_owned);
    let api_version = text(&object["apiVersion"])?;
    let (group, version) = match api_version.split_once('/') {
        Some((group, version)) => (group.to_owned(), version.to_owned()),
        None => (String::new(), api_version),
    };
    Some(InventoryEntry {
        group,
        version,
        kind: text(&object["kind"])?,
        namespace: text(&object["metadata"]["namespace"]).unwrap_or_else(|| namespace.to_owned()),
        name: text(&object["metadata"]["name"])?,
    })
}

/// The records of `release`, oldest first.
async fn list(
    api: &Api<Secret>,
    storage: &Storage,
    release: &str,
) -> Result<Vec<Record>, ReleaseError> {
    let params = ListParams::default().labels(&format!("owner=helm,name={release}"));
    let list = api
        .list_metadata(&params)
        .await
        .map_err(|source| ReleaseError::List {
            release: release.to_owned(),
            namespace: storage.namespace.clone(),
            source,
        })?;
    let mut records: Vec<Record> = list
        .items
        .into_iter()
        .filter_map(|secret| {
            let labels = secret.metadata.labels.unwrap_or_default();
            Some(Record {
                version: labels.get("version")?.parse().ok()?,
                status: labels.get("status").cloned().unwrap_or_default(),
                secret: secret.metadata.name?,
            })
        })
        .collect();
    records.sort_by_key(|r| r.version);
    Ok(records)
}

/// The release in a record Secret; `None` when it is gone or not Helm's format.
async fn decode(api: &Api<Secret>, secret: &str) -> Option<Value> {
    let secret = api.get_opt(secret).await.ok()??;
    let data = secret.data?.remove("release")?;
    let gzipped = Zeroizing::new(STANDARD.decode(&data.0).ok()?);
    let mut json = Zeroizing::new(Vec::new());
    let mut reader = flate2::read::GzDecoder::new(&gzipped[..]);
    std::io::Read::read_to_end(&mut reader, &mut json).ok()?;
    serde_json::from_slice(&json).ok()
}

/// `release` as Helm's `secret` driver stores it: JSON, gzipped, base64.
fn encoded(release: &Value) -> Option<Zeroizing<Vec<u8>>> {
    let json = Zeroizing::new(serde_json::to_vec(release).ok()?);
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gzip.write_all(&json).ok()?;
    let gzipped = Zeroizing::new(gzip.finish().ok()?);
    Some(Zeroizing::new(STANDARD.encode(&*gzipped).into_bytes()))
}

/// Marks `record` superseded, in its labels and in the release it holds.
async fn supersede(
    api: &Api<Secret>,
    storage: &Storage,
    record: &Record,
) -> Result<(), ReleaseError> {
    let Some(mut release) = decode(api, &record.secret).await else {
        return Ok(());
    };
    release["info"]["status"] = "superseded".into();
    let Some(data) = encoded(&release) else {
        return Ok(());
    };
    let data = Zeroizing::new(STANDARD.encode(&*data));
    let modified = jiff::Timestamp::now().as_second().to_string();
    let patch = json!({
        "metadata": {"labels": {"status": "superseded", "modifiedAt": modified}},
        "data": {"release": *data},
    });
    api.patch(
        &record.secret,
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await
    .map(drop)
    .map_err(|source| write_error(storage, &record.secret, source))
}

/// Deletes the oldest records past `max_history`, counting the new `written` one; the
/// deployed one is never among them.
async fn trim(
    api: &Api<Secret>,
    storage: &Storage,
    records: &[Record],
    written: u32,
) -> Result<(), ReleaseError> {
    let max = storage.max_history as usize;
    if max == 0 || records.len() < max {
        return Ok(());
    }
    let extra = records.len() + 1 - max;
    for old in records.iter().filter(|r| r.version != written).take(extra) {
        delete(api, storage, &old.secret).await?;
    }
    Ok(())
}

async fn delete(api: &Api<Secret>, storage: &Storage, secret: &str) -> Result<(), ReleaseError> {
    match api.delete(secret, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(write_error(storage, secret, source)),
    }
}

/// The objects as Helm's release manifest: YAML documents, each after `---` and a
/// `# Source:` line naming its template.
pub fn manifest_text<'a>(manifests: impl Iterator<Item = &'a Manifest>) -> Zeroizing<String> {
    let mut text = Zeroizing::new(String::new());
    for manifest in manifests {
        text.push_str("---\n# Source: ");
        text.push_str(&manifest.file.to_string_lossy());
        text.push('\n');
        text.push_str(&document(manifest));
    }
    text
}

/// One object as a YAML document, ending in a newline.
fn document(manifest: &Manifest) -> Zeroizing<String> {
    let yaml = Zeroizing::new(serde_saphyr::to_string(&manifest.object).unwrap_or_default());
    Zeroizing::new(format!("{}\n", yaml.trim_end()))
}

/// A Helm hook as a release records it; `None` for a hook that is not Helm's.
fn hook(hook: &Hook) -> Option<Value> {
    let object = &hook.manifest.object;
    let annotations = &object["metadata"]["annotations"];
    let list = |key: &str| -> Vec<String> {
        annotations[key]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let events = list("helm.sh/hook");
    if events.is_empty() {
        return None;
    }
    let weight: i64 = annotations["helm.sh/hook-weight"]
        .as_str()
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0);
    let manifest = document(&hook.manifest);
    Some(json!({
        "name": object["metadata"]["name"],
        "kind": object["kind"],
        "path": hook.manifest.file.to_string_lossy(),
        "manifest": *manifest,
        "events": events,
        "last_run": {"started_at": ZERO_TIME, "completed_at": ZERO_TIME, "phase": ""},
        "weight": weight,
        "delete_policies": list("helm.sh/hook-delete-policy"),
    }))
}

/// Helm's name for a record: `sh.helm.release.v1.<release>.v<revision>`.
fn key(release: &str, version: u32) -> String {
    format!("sh.helm.release.v1.{release}.v{version}")
}

fn encode(parts: &ReleaseParts) -> ReleaseError {
    ReleaseError::Encode {
        release: parts.name.clone(),
    }
}

fn write_error(storage: &Storage, secret: &str, source: kube::Error) -> ReleaseError {
    ReleaseError::Write {
        namespace: storage.namespace.clone(),
        secret: secret.to_owned(),
        source,
    }
}

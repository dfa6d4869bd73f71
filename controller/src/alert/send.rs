//! Sending one event to one Provider, in the shape its type expects: Flux's event JSON
//! for `generic` (and signed for `generic-hmac`), a message with one attachment for
//! `slack`, a commit status for `github` ([`github`]). A post that fails to connect or gets
//! a 429 or 5xx is tried again after 1, 2 and 4 s; then it is logged and given up.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::hmac;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::flux::{Alert, Provider, ProviderType};
use serde::Serialize;
use zeroize::Zeroizing;

use super::{Notice, github};

/// A post's budget when the Provider sets no `timeout` (Flux's).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Tries of one post.
const TRIES: u32 = 4;
/// Slack's avatar of Flux, which Flux's Slack messages carry.
const ICON_URL: &str = "https://avatars.githubusercontent.com/u/52158677";

/// The HTTP client every post uses.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_default()
}

/// One event as Flux's notification-controller forwards it (`eventv1.Event`).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Post {
    pub(super) involved_object: ObjectReference,
    pub(super) severity: &'static str,
    timestamp: String,
    message: String,
    pub(super) reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) metadata: BTreeMap<String, String>,
    reporting_controller: &'static str,
}

impl Post {
    /// `notice` as `alert` sends it: with the Alert's `eventMetadata` and `summary`.
    pub fn new(alert: &Alert, notice: &Notice) -> Self {
        let mut metadata = alert.spec.event_metadata.clone();
        if let Some(summary) = &alert.spec.summary {
            metadata.insert("summary".into(), summary.clone());
        }
        if let Some(revision) = &notice.revision {
            metadata.insert("revision".into(), revision.clone());
        }
        Self {
            involved_object: notice.object.clone(),
            severity: if notice.error { "error" } else { "info" },
            timestamp: notice.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            message: notice.message.clone(),
            reason: notice.reason.clone(),
            metadata,
            reporting_controller: reporting_controller(&notice.object),
        }
    }
}

/// The controller Flux would name for the object's kind, so a receiver filtering on it
/// keeps working after a switch; `lockstep-controller` for every other kind.
fn reporting_controller(object: &ObjectReference) -> &'static str {
    let group = object
        .api_version
        .as_deref()
        .and_then(|v| v.split_once('/'))
        .map(|(group, _)| group);
    match group {
        Some("kustomize.toolkit.fluxcd.io") => "kustomize-controller",
        Some("source.toolkit.fluxcd.io") => "source-controller",
        Some("notification.toolkit.fluxcd.io") => "notification-controller",
        _ => "lockstep-controller",
    }
}

/// What the Provider's Secret holds.
#[derive(Default)]
struct Credentials {
    address: Option<String>,
    token: Option<Zeroizing<String>>,
    headers: BTreeMap<String, String>,
}

/// Sends `post` to `provider`; failures are logged, never returned (an alert is a
/// report, and a provider that is down must not hold anything).
pub async fn send(client: &kube::Client, http: &reqwest::Client, provider: &Provider, post: Post) {
    let name = format!(
        "{}/{}",
        provider.namespace().unwrap_or_default(),
        provider.name_any()
    );
    if let Err(err) = try_send(client, http, provider, &post).await {
        tracing::warn!(provider = %name, reason = %post.reason, "alert not sent: {err}");
    }
}

async fn try_send(
    client: &kube::Client,
    http: &reqwest::Client,
    provider: &Provider,
    post: &Post,
) -> Result<(), String> {
    let Some(type_) = provider.provider_type() else {
        return Err(format!(
            "provider type {:?} is not served by Lockstep yet (generic, generic-hmac, slack and github are)",
            provider.spec.type_
        ));
    };
    let unserved = provider.unserved();
    if !unserved.is_empty() {
        return Err(format!(
            "spec.{} not served by Lockstep yet",
            unserved.join(", spec.")
        ));
    }
    let credentials = credentials(client, provider).await?;
    let address = credentials
        .address
        .clone()
        .or_else(|| provider.spec.address.clone())
        .filter(|a| !a.is_empty())
        .ok_or("no address: set spec.address or the Secret's address")?;
    let timeout = match &provider.spec.timeout {
        Some(t) => lockstep_api::parse_duration(t).map_err(|e| format!("spec.timeout: {e}"))?,
        None => DEFAULT_TIMEOUT,
    };
    if type_ == ProviderType::GitHub {
        let token = credentials
            .token
            .as_ref()
            .ok_or("github needs the Secret's token")?;
        return match github::Status::new(provider, post)? {
            Some(status) => status.send(http, &address, token, timeout).await,
            None => Ok(()),
        };
    }
    let body = match type_ {
        ProviderType::Slack => serde_json::to_vec(&slack(provider, post)),
        _ => serde_json::to_vec(post),
    }
    .map_err(|e| e.to_string())?;
    let mut headers = credentials.headers.clone();
    headers.insert("Content-Type".into(), "application/json".into());
    match type_ {
        ProviderType::Generic => {
            headers.insert("gotk-component".into(), post.reporting_controller.into());
        }
        ProviderType::GenericHmac => {
            let token = credentials
                .token
                .as_ref()
                .ok_or("generic-hmac needs the Secret's token")?;
            let key = hmac::Key::new(hmac::HMAC_SHA256, token.as_bytes());
            let signature = hex::encode(hmac::sign(&key, &body).as_ref());
            headers.insert("gotk-component".into(), post.reporting_controller.into());
            headers.insert("X-Signature".into(), format!("sha256={signature}"));
        }
        ProviderType::Slack | ProviderType::GitHub => {
            if let Some(token) = &credentials.token {
                headers.insert("Authorization".into(), format!("Bearer {}", token.as_str()));
            }
        }
    }
    post_with_retries(http, &address, &headers, body, timeout).await
}

pub(super) async fn post_with_retries(
    http: &reqwest::Client,
    address: &str,
    headers: &BTreeMap<String, String>,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), String> {
    let mut pause = Duration::from_secs(1);
    for attempt in 1..=TRIES {
        let mut request = http.post(address).timeout(timeout).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let retry = match request.send().await {
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => {
                let status = response.status();
                if !(status.is_server_error() || status.as_u16() == 429) {
                    return Err(format!("the provider answered {status}"));
                }
                format!("the provider answered {status}")
            }
            // reqwest's message names the URL, which may carry a webhook token: only its kind.
            Err(err) if err.is_timeout() => "timed out".to_owned(),
            Err(err) if err.is_connect() => "could not connect".to_owned(),
            Err(_) => "the request failed".to_owned(),
        };
        if attempt == TRIES {
            return Err(format!("{retry} ({TRIES} tries)"));
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
    Ok(())
}

/// The Provider's Secret, if it names one: `address`, `token`, `headers` (a YAML map).
async fn credentials(client: &kube::Client, provider: &Provider) -> Result<Credentials, String> {
    let Some(reference) = &provider.spec.secret_ref else {
        return Ok(Credentials::default());
    };
    let namespace = provider.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let secret = api
        .get(&reference.name)
        .await
        .map_err(|e| format!("Secret {namespace}/{}: {e}", reference.name))?;
    let data = secret.data.unwrap_or_default();
    let text = |key: &str| {
        data.get(key)
            .map(|bytes| String::from_utf8_lossy(&bytes.0).trim().to_owned())
    };
    let headers = match text("headers") {
        Some(yaml) => serde_saphyr::from_str(&yaml).map_err(|_| {
            format!(
                "Secret {namespace}/{}: headers is not a map of strings",
                reference.name
            )
        })?,
        None => BTreeMap::new(),
    };
    Ok(Credentials {
        address: text("address"),
        token: text("token").map(Zeroizing::new),
        headers,
    })
}

/// Flux's Slack message: the event as one attachment, green for info and red for error,
/// its metadata as fields.
fn slack(provider: &Provider, post: &Post) -> serde_json::Value {
    let object = &post.involved_object;
    let author = format!(
        "{}/{}.{}",
        object.kind.as_deref().unwrap_or_default().to_lowercase(),
        object.name.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default()
    );
    let fields: Vec<_> = post
        .metadata
        .iter()
        .map(|(title, value)| serde_json::json!({"title": title, "value": value, "short": false}))
        .collect();
    let mut payload = serde_json::json!({
        "username": provider.spec.username.as_deref().unwrap_or(post.reporting_controller),
        "icon_url": ICON_URL,
        "attachments": [{
            "color": if post.severity == "error" { "danger" } else { "good" },
            "author_name": author,
            "text": post.message,
            "mrkdwn_in": ["text"],
            "fields": fields,
        }],
    });
    if let Some(channel) = &provider.spec.channel {
        payload["channel"] = channel.as_str().into();
    }
    payload
}

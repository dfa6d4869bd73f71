//! Sending one event to one Provider, in the shape its type expects: Flux's event JSON
//! for `generic` (and signed for `generic-hmac`), a message with one attachment for
//! `slack` (and for `discord`, at its webhook's Slack-compatible `/slack` endpoint), an
//! Adaptive Card for `msteams`, one firing alert for `alertmanager`, a commit status for `github`, `gitlab` and `gitea`
//! ([`commit_status`]). A post that fails to connect or gets a 429 or 5xx is tried again
//! after 1, 2 and 4 s; then it is logged and given up.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_lc_rs::hmac;
use base64::Engine as _;
use k8s_openapi::api::core::v1::{ObjectReference, Secret};
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::flux::{Alert, Provider, ProviderType};
use serde::Serialize;
use zeroize::Zeroizing;

use super::Notice;
use super::commit_status::{Forge, Status};

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
    pub(super) timestamp: String,
    pub(super) message: String,
    pub(super) reason: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) metadata: BTreeMap<String, String>,
    pub(super) reporting_controller: &'static str,
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
    username: Option<String>,
    password: Option<Zeroizing<String>>,
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
            "provider type {:?} is not served by Lockstep yet (generic, generic-hmac, slack, discord, msteams, alertmanager, github, gitlab and gitea are)",
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
    if let Some(forge) = Forge::of(type_) {
        let token = credentials
            .token
            .as_ref()
            .ok_or_else(|| format!("{} needs the Secret's token", provider.spec.type_))?;
        return match Status::new(forge, provider, post)? {
            Some(status) => status.send(http, &address, token, timeout).await,
            None => Ok(()),
        };
    }
    let (address, body) = match type_ {
        ProviderType::Slack => (address, serde_json::to_vec(&slack(provider, post))),
        ProviderType::Discord => (
            discord_url(&address),
            serde_json::to_vec(&discord(provider, post)),
        ),
        ProviderType::Alertmanager => (address, serde_json::to_vec(&alertmanager(post))),
        ProviderType::MsTeams => {
            let body = serde_json::to_vec(&teams(&address, post));
            (address, body)
        }
        _ => (address, serde_json::to_vec(post)),
    };
    let body = body.map_err(|e| e.to_string())?;
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
        _ => {
            if let Some(token) = &credentials.token {
                headers.insert("Authorization".into(), format!("Bearer {}", token.as_str()));
            } else if let (ProviderType::Alertmanager, Some(user), Some(password)) =
                (type_, &credentials.username, &credentials.password)
            {
                let basic = base64::engine::general_purpose::STANDARD
                    .encode(format!("{user}:{}", password.as_str()));
                headers.insert("Authorization".into(), format!("Basic {basic}"));
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
        username: text("username"),
        password: text("password").map(Zeroizing::new),
        headers,
    })
}

/// Flux's Discord message: Slack's, without icon or channel, which Discord's
/// Slack-compatible endpoint takes.
fn discord(provider: &Provider, post: &Post) -> serde_json::Value {
    let mut payload = slack(provider, post);
    if let Some(payload) = payload.as_object_mut() {
        payload.remove("icon_url");
        payload.remove("channel");
    }
    payload
}

/// A Discord webhook URL's Slack-compatible endpoint: `<url>/slack`, as Flux posts to it.
fn discord_url(address: &str) -> String {
    if address.ends_with("/slack") {
        address.to_owned()
    } else {
        format!("{}/slack", address.trim_end_matches('/'))
    }
}

/// Flux's Microsoft Teams message: an Adaptive Card (what Power Automate workflows take) of
/// the object, the message (in the attention color for an error) and the metadata as facts
/// (`summary` first, the rest by name); for a legacy `*.webhook.office.com` connector, the
/// MessageCard it takes instead.
fn teams(address: &str, post: &Post) -> serde_json::Value {
    let object = &post.involved_object;
    let name = format!(
        "{}/{}.{}",
        object.kind.as_deref().unwrap_or_default().to_lowercase(),
        object.name.as_deref().unwrap_or_default(),
        object.namespace.as_deref().unwrap_or_default()
    );
    let error = post.severity == "error";
    let host = address
        .split_once("://")
        .map_or(address, |(_, rest)| rest)
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    if host.ends_with(".webhook.office.com") {
        let facts: Vec<_> = post
            .metadata
            .iter()
            .map(|(name, value)| serde_json::json!({"name": name, "value": value}))
            .collect();
        return serde_json::json!({
            "@type": "MessageCard",
            "@context": "http://schema.org/extensions",
            "themeColor": if error { "FF0000" } else { "0076D7" },
            "summary": name,
            "sections": [{"activityTitle": post.message, "activitySubtitle": name, "facts": facts}],
        });
    }
    let summary = post.metadata.get_key_value("summary");
    let rest = post.metadata.iter().filter(|(key, _)| *key != "summary");
    let facts: Vec<_> = summary
        .into_iter()
        .chain(rest)
        .map(|(title, value)| serde_json::json!({"title": title, "value": value}))
        .collect();
    let mut message = serde_json::json!({"type": "TextBlock", "text": post.message, "wrap": true});
    if error {
        message["color"] = "attention".into();
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [{"type": "Container", "items": [
                    {"type": "TextBlock", "text": name, "size": "large", "weight": "bolder", "wrap": true},
                    message,
                    {"type": "FactSet", "facts": facts},
                ]}],
            },
        }],
    })
}

/// Flux's Alertmanager alert: one firing alert whose labels are the event's metadata plus
/// `alertname` (`Flux<Kind><Reason>`, the reason title-cased as Go's `cases.Title` does:
/// `Reconciliationsucceeded`), `severity`, `reason`, `kind`, `name`, `namespace` and
/// `reportingcontroller`, and whose annotations are the `message` and the `summary` (taken
/// out of the labels); `startsAt` is the event's time.
fn alertmanager(post: &Post) -> serde_json::Value {
    let object = &post.involved_object;
    let kind = object.kind.clone().unwrap_or_default();
    let mut labels = post.metadata.clone();
    let mut annotations = BTreeMap::from([("message".to_owned(), post.message.clone())]);
    if let Some(summary) = labels.remove("summary") {
        annotations.insert("summary".into(), summary);
    }
    let mut reason = post.reason.to_lowercase();
    if let Some(first) = reason.get(..1).map(str::to_uppercase) {
        reason.replace_range(..1, &first);
    }
    for (key, value) in [
        ("alertname", format!("Flux{kind}{reason}")),
        ("severity", post.severity.to_owned()),
        ("reason", post.reason.clone()),
        ("kind", kind.clone()),
        ("name", object.name.clone().unwrap_or_default()),
        ("namespace", object.namespace.clone().unwrap_or_default()),
        ("reportingcontroller", post.reporting_controller.to_owned()),
    ] {
        labels.insert(key.to_owned(), value);
    }
    serde_json::json!([{
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": post.timestamp,
    }])
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

#[cfg(test)]
mod tests {
    use super::*;

    fn post(severity: &'static str) -> Post {
        Post {
            involved_object: ObjectReference {
                kind: Some("Sync".into()),
                name: Some("web".into()),
                namespace: Some("shop".into()),
                ..ObjectReference::default()
            },
            severity,
            timestamp: "2026-12-05T08:00:00Z".into(),
            message: "Applied revision".into(),
            reason: "ReconciliationSucceeded".into(),
            metadata: BTreeMap::from([
                ("summary".into(), "prod".into()),
                ("revision".into(), "main@sha1:abc".into()),
            ]),
            reporting_controller: "lockstep-controller",
        }
    }

    /// A legacy connector URL gets the MessageCard, red for an error; any other the card.
    #[test]
    fn teams_connectors_get_the_message_card() {
        let card = teams(
            "https://acme.webhook.office.com/webhookb2/x",
            &post("error"),
        );
        assert_eq!(card["@type"], "MessageCard");
        assert_eq!(card["themeColor"], "FF0000");
        assert_eq!(card["summary"], "sync/web.shop");
        assert_eq!(card["sections"][0]["facts"].as_array().unwrap().len(), 2);
        let adaptive = teams(
            "https://prod.westeurope.logic.azure.com/workflows/x",
            &post("info"),
        );
        assert_eq!(adaptive["type"], "message");
    }

    /// Alertmanager's alertname title-cases the reason as Go's `cases.Title` does.
    #[test]
    fn alertmanager_labels_and_annotations() {
        let alert = &alertmanager(&post("info"))[0];
        assert_eq!(
            alert["labels"]["alertname"],
            "FluxSyncReconciliationsucceeded"
        );
        assert_eq!(alert["annotations"]["summary"], "prod");
        assert!(alert["labels"].get("summary").is_none());
        assert_eq!(alert["labels"]["revision"], "main@sha1:abc");
    }
}

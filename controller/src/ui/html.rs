//! The page frame, HTML escaping, and how a Sync's state is shown, shared by every page and
//! by the live stream (which sends the same fragments the pages hold).

use std::fmt::{self, Display, Write as _};

use axum::response::Html;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use lockstep_api::{Condition, ConditionStatus, GitSource, Sync};
use lockstep_engine::fetch::redact_url;

use super::session::Session;

/// Text escaped for HTML element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// A whole page: `body` inside the frame, with the signed-in user and their sign-out form.
pub fn page(title: &str, session: Option<&Session>, body: &str) -> Html<String> {
    let user = session
        .map(|s| {
            format!(
                r#"<span class="user">{}</span>
<form method="post" action="/sign-out" class="inline"><input type="hidden" name="csrf" value="{}"><button type="submit">Sign out</button></form>"#,
                Esc(&s.user),
                Esc(&s.csrf)
            )
        })
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Lockstep</title>
<link rel="stylesheet" href="/static/ui.css">
<script src="/static/ui.js" defer></script>
</head>
<body>
<header><a href="/" class="brand">Lockstep</a>{user}</header>
<main>
{body}
</main>
</body>
</html>
"#,
        Esc(title)
    ))
}

/// A form that posts one action about a Sync, with the session's CSRF token.
pub fn action(
    session: &Session,
    sync: &Sync,
    action: &str,
    label: &str,
    revision: Option<&str>,
) -> String {
    let revision = revision
        .map(|r| {
            format!(
                r#"<input type="hidden" name="revision" value="{}">"#,
                Esc(r)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<form method="post" action="/syncs/{}/{}/{action}" class="inline"><input type="hidden" name="csrf" value="{}">{revision}<button type="submit" name="do" value="{action}">{}</button></form>"#,
        Esc(&sync.namespace().unwrap_or_default()),
        Esc(&sync.name_any()),
        Esc(&session.csrf),
        Esc(label),
    )
}

/// A Sync's condition of `type_`.
pub fn condition<'a>(sync: &'a Sync, type_: &str) -> Option<&'a Condition> {
    sync.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// How a Sync is doing, in the words the overview's filters use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// `Ready=True`.
    Ready,
    /// Not judged yet, or working on it (`Ready=Unknown`, `Reconciling=True`).
    Progressing,
    /// `Ready=False` or `Stalled=True`.
    Failing,
    /// Manual mode: a plan waits for approval (`Ready=False`, `ApprovalRequired`).
    AwaitingApproval,
    /// `spec.suspend`.
    Suspended,
}

impl Phase {
    /// The phase of `sync`.
    pub fn of(sync: &Sync) -> Self {
        let is = |type_, status| condition(sync, type_).is_some_and(|c| c.status == status);
        if sync.spec.suspend {
            Self::Suspended
        } else if is("Stalled", ConditionStatus::True) {
            Self::Failing
        } else if is("Reconciling", ConditionStatus::True) {
            Self::Progressing
        } else if is("Ready", ConditionStatus::True) {
            Self::Ready
        } else if condition(sync, "Ready")
            .is_some_and(|c| c.status == ConditionStatus::False && c.reason == "ApprovalRequired")
        {
            Self::AwaitingApproval
        } else if is("Ready", ConditionStatus::False) {
            Self::Failing
        } else {
            Self::Progressing
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "Ready",
            Self::Progressing => "Progressing",
            Self::Failing => "Failing",
            Self::AwaitingApproval => "Awaiting approval",
            Self::Suspended => "Suspended",
        }
    }
}

/// A badge naming a state; its class colours it.
pub fn badge(text: &str, class: &str) -> String {
    format!(r#"<span class="badge {class}">{}</span>"#, Esc(text))
}

/// The phase of `sync` as a badge.
pub fn phase_badge(sync: &Sync) -> String {
    phase_badge_of(Phase::of(sync))
}

/// `phase` as a badge.
pub fn phase_badge_of(phase: Phase) -> String {
    let class = match phase {
        Phase::Ready => "good",
        Phase::Progressing | Phase::AwaitingApproval => "busy",
        Phase::Failing => "bad",
        Phase::Suspended => "quiet",
    };
    format!(r#"<span class="badge {class}">{}</span>"#, phase.as_str())
}

/// Whether the cluster matches what the Sync applied: `Drifted=True` is "Drifted", a plan
/// waiting for approval "Pending", an applied revision with neither "Synced".
pub fn sync_badge(sync: &Sync) -> String {
    let status = sync.status.as_ref();
    if condition(sync, "Drifted").is_some_and(|c| c.status == ConditionStatus::True) {
        badge("Drifted", "bad")
    } else if status.is_some_and(|s| s.plan.is_some()) {
        badge("Pending", "busy")
    } else if status.is_some_and(|s| s.last_applied_revision.is_some()) {
        badge("Synced", "good")
    } else {
        badge("Unknown", "quiet")
    }
}

/// The `Healthy` condition as a badge.
pub fn health_badge(sync: &Sync) -> String {
    match condition(sync, "Healthy").map(|c| c.status) {
        Some(ConditionStatus::True) => badge("Healthy", "good"),
        Some(ConditionStatus::False) => badge("Unhealthy", "bad"),
        Some(ConditionStatus::Unknown) => badge("Checking", "busy"),
        None => badge("not checked", "quiet"),
    }
}

/// `<ref>@sha1:<hex>` shortened to `<ref>@<7 hex>`.
pub fn short_revision(revision: &str) -> String {
    match revision.rsplit_once("sha1:") {
        Some((name, hex)) => format!("{name}{}", &hex[..hex.len().min(7)]),
        None => revision.to_owned(),
    }
}

/// The URL of the GitSource a Sync applies from (credentials removed), or its name.
pub fn source_url(sync: &Sync, sources: &Store<GitSource>) -> String {
    let reference = &sync.spec.source_ref;
    let namespace = reference
        .namespace
        .clone()
        .or_else(|| sync.namespace())
        .unwrap_or_default();
    sources
        .get(&ObjectRef::new(&reference.name).within(&namespace))
        .map(|source| redact_url(&source.spec.url))
        .unwrap_or_else(|| format!("GitSource {namespace}/{}", reference.name))
}

/// The element id of a Sync's row in the overview and of its status on its page.
pub fn element_id(prefix: &str, namespace: &str, name: &str) -> String {
    format!("{prefix}-{namespace}-{name}")
}

/// The status block of a Sync's page: replaced live as the Sync changes.
pub fn status_block(sync: &Sync, sources: &Store<GitSource>) -> String {
    let namespace = sync.namespace().unwrap_or_default();
    let name = sync.name_any();
    let status = sync.status.as_ref();
    let ready = condition(sync, "Ready");
    let applied = status
        .and_then(|s| s.last_applied_revision.as_deref())
        .map(short_revision)
        .unwrap_or_else(|| "nothing yet".to_owned());
    let attempted = status
        .and_then(|s| s.last_attempted_revision.as_deref())
        .map(short_revision)
        .unwrap_or_else(|| "—".to_owned());
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<section id="{}" class="status">
<p>{} {} {}</p>
<dl>
<dt>Source</dt><dd>{} <code>{}</code></dd>
<dt>Applied</dt><dd class="applied">{}</dd>
<dt>Last tried</dt><dd>{}</dd>
<dt>Message</dt><dd class="message">{}</dd>
<dt>Since</dt><dd>{}</dd>
</dl>
</section>"#,
        element_id("status", &namespace, &name),
        phase_badge(sync),
        sync_badge(sync),
        health_badge(sync),
        Esc(&source_url(sync, sources)),
        Esc(sync.spec.path.as_deref().unwrap_or("./")),
        Esc(&applied),
        Esc(&attempted),
        Esc(ready.map_or("", |c| c.message.as_str())),
        Esc(ready.map_or("", |c| c.last_transition_time.as_str())),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character that could end an element or an attribute is escaped.
    #[test]
    fn text_is_escaped_for_elements_and_attributes() {
        assert_eq!(
            Esc(r#"<script>"a" & 'b'</script>"#).to_string(),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
        assert_eq!(short_revision("main@sha1:0123456789abcdef"), "main@0123456");
        assert_eq!(short_revision("v1.2.3"), "v1.2.3");
    }

    /// A plan waiting for approval is not a failure; suspension and stalling win over
    /// whatever Ready says.
    #[test]
    fn phases_read_the_conditions_as_the_filters_need() {
        let with = |conditions: &[(&str, ConditionStatus, &str)], suspend: bool| {
            let mut sync = Sync::new("web", lockstep_api::SyncSpec::default());
            sync.spec.suspend = suspend;
            let mut status = lockstep_api::SyncStatus::default();
            for (type_, state, reason) in conditions {
                status.conditions.push(Condition {
                    type_: (*type_).to_owned(),
                    status: *state,
                    reason: (*reason).to_owned(),
                    message: String::new(),
                    last_transition_time: String::new(),
                    observed_generation: None,
                });
            }
            sync.status = Some(status);
            Phase::of(&sync)
        };
        use ConditionStatus::{False, True};
        assert_eq!(with(&[("Ready", True, "Applied")], false), Phase::Ready);
        assert_eq!(
            with(&[("Ready", False, "ApplyFailed")], false),
            Phase::Failing
        );
        assert_eq!(
            with(&[("Ready", False, "ApprovalRequired")], false),
            Phase::AwaitingApproval
        );
        assert_eq!(
            with(&[("Ready", True, "Applied"), ("Stalled", True, "x")], false),
            Phase::Failing
        );
        assert_eq!(
            with(&[("Ready", False, "ApplyFailed")], true),
            Phase::Suspended
        );
        assert_eq!(with(&[], false), Phase::Progressing);
    }
}

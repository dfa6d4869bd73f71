//! The overview: every Sync the user may see, filtered and paged on the server, from the
//! watch cache ([`super::cache`]). A page costs a scan of the cache and a sort, not a list
//! from the API server, so it stays fast at 10,000 Syncs; the time it took is in the
//! `Server-Timing` header.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use kube::ResourceExt;
use kube::runtime::reflector::Store;
use lockstep_api::{GitSource, Sync};
use serde::Deserialize;

use super::Ui;
use super::access;
use super::html::{self, Esc, Phase};
use super::session::User;

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The overview's filters, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// Text found in the namespace, name, source, path or message.
    #[serde(default)]
    q: String,
    /// Only this namespace.
    #[serde(default)]
    namespace: String,
    /// A label selector: `key=value`, `key!=value`, `key`, `!key`, comma-separated.
    #[serde(default)]
    label: String,
    /// Only Syncs in this phase.
    #[serde(default)]
    phase: PhaseFilter,
    /// The page, from 1.
    #[serde(default)]
    page: Option<usize>,
}

/// The phase filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PhaseFilter {
    /// Every Sync.
    #[default]
    All,
    /// `Ready=False` or `Stalled=True`.
    Failing,
    /// Not judged yet, or being reconciled.
    Progressing,
    /// A plan waits for approval.
    Approval,
    /// Suspended.
    Suspended,
    /// Ready.
    Ready,
}

impl PhaseFilter {
    const ALL: [(Self, &'static str); 6] = [
        (Self::All, "all"),
        (Self::Failing, "failing"),
        (Self::Progressing, "progressing"),
        (Self::Approval, "approval"),
        (Self::Suspended, "suspended"),
        (Self::Ready, "ready"),
    ];

    fn admits(self, phase: Phase) -> bool {
        match self {
            Self::All => true,
            Self::Failing => phase == Phase::Failing,
            Self::Progressing => phase == Phase::Progressing,
            Self::Approval => phase == Phase::AwaitingApproval,
            Self::Suspended => phase == Phase::Suspended,
            Self::Ready => phase == Phase::Ready,
        }
    }
}

impl Filters {
    fn admits(&self, sync: &Sync, sources: &Store<GitSource>) -> bool {
        let namespace = sync.namespace().unwrap_or_default();
        if !self.namespace.is_empty() && namespace != self.namespace {
            return false;
        }
        if !self.phase.admits(Phase::of(sync)) {
            return false;
        }
        if !self.label.is_empty() && !selects(&self.label, sync.labels()) {
            return false;
        }
        if self.q.is_empty() {
            return true;
        }
        let q = self.q.to_lowercase();
        let message = html::condition(sync, "Ready").map_or("", |c| c.message.as_str());
        [
            namespace.as_str(),
            &sync.name_any(),
            sync.spec.path.as_deref().unwrap_or_default(),
            message,
            &html::source_url(sync, sources),
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&q))
    }

    /// The query string of these filters on `page`.
    fn query(&self, page: usize) -> String {
        let phase = PhaseFilter::ALL
            .iter()
            .find(|(p, _)| *p == self.phase)
            .map_or("all", |(_, name)| name);
        format!(
            "?q={}&namespace={}&label={}&phase={phase}&page={page}",
            encode(&self.q),
            encode(&self.namespace),
            encode(&self.label)
        )
    }
}

/// `text` percent-encoded for a query string.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `labels` match a selector of comma-separated `key=value` (or `==`),
/// `key!=value`, `key` and `!key` terms, as `kubectl -l` reads them.
fn selects(selector: &str, labels: &BTreeMap<String, String>) -> bool {
    selector
        .split(',')
        .map(str::trim)
        .filter(|term| !term.is_empty())
        .all(|term| {
            if let Some((key, value)) = term.split_once("!=") {
                labels.get(key.trim()).map(String::as_str) != Some(value.trim())
            } else if let Some((key, value)) = term.split_once('=') {
                let value = value.strip_prefix('=').unwrap_or(value);
                labels.get(key.trim()).map(String::as_str) == Some(value.trim())
            } else if let Some(key) = term.strip_prefix('!') {
                !labels.contains_key(key.trim())
            } else {
                labels.contains_key(term)
            }
        })
}

/// The overview page.
pub async fn page(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Query(filters): Query<Filters>,
) -> Response {
    let visible = access::visible(&session, &ui.cache).await;
    let started = Instant::now();
    let sources = &ui.cache.sources;
    let mut syncs: Vec<Arc<Sync>> = ui
        .cache
        .syncs
        .state()
        .into_iter()
        .filter(|sync| visible.contains(&sync.namespace().unwrap_or_default()))
        .filter(|sync| filters.admits(sync, sources))
        .collect();
    syncs.sort_unstable_by(|a, b| {
        (a.metadata.namespace.as_deref(), a.metadata.name.as_deref())
            .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
    });
    let total = syncs.len();
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    let current = filters.page.unwrap_or(1).clamp(1, pages);
    let shown = &syncs[(current - 1) * PAGE_SIZE..total.min(current * PAGE_SIZE)];

    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>Syncs</h1>
<form method="get" action="/" class="filters">
<input type="search" name="q" value="{}" placeholder="text" aria-label="text">
<input type="text" name="namespace" value="{}" placeholder="namespace" aria-label="namespace">
<input type="text" name="label" value="{}" placeholder="label selector" aria-label="label selector">
<select name="phase" aria-label="phase">"#,
        Esc(&filters.q),
        Esc(&filters.namespace),
        Esc(&filters.label)
    );
    for (phase, name) in PhaseFilter::ALL {
        let selected = if phase == filters.phase {
            " selected"
        } else {
            ""
        };
        let _ = write!(body, r#"<option value="{name}"{selected}>{name}</option>"#);
    }
    let _ = write!(
        body,
        r#"</select>
<button type="submit">Filter</button>
</form>
<p class="count">{total} Syncs · page {current} of {pages}</p>
<table id="syncs" data-live="/live">
<thead><tr><th>Namespace</th><th>Name</th><th>Source</th><th>Path</th><th>Ready</th><th>In sync</th><th>Health</th><th>Since</th><th>Message</th></tr></thead>
<tbody>
"#
    );
    for sync in shown {
        body.push_str(&row(sync, sources));
        body.push('\n');
    }
    body.push_str("</tbody>\n</table>\n<nav class=\"pages\">");
    if current > 1 {
        let _ = write!(
            body,
            r#"<a rel="prev" href="{}">← previous</a> "#,
            Esc(&filters.query(current - 1))
        );
    }
    if current < pages {
        let _ = write!(
            body,
            r#"<a rel="next" href="{}">next →</a>"#,
            Esc(&filters.query(current + 1))
        );
    }
    body.push_str("</nav>");
    let timing = format!(
        "overview;dur={:.1}",
        started.elapsed().as_secs_f64() * 1000.0
    );
    (
        [(header::HeaderName::from_static("server-timing"), timing)],
        html::page("Syncs", Some(&session), &body),
    )
        .into_response()
}

/// One row of the overview (also sent by the live stream when the Sync changes).
pub fn row(sync: &Sync, sources: &Store<GitSource>) -> String {
    let namespace = sync.namespace().unwrap_or_default();
    let name = sync.name_any();
    let status = sync.status.as_ref();
    let revision = status
        .and_then(|s| s.last_applied_revision.as_deref())
        .map(|r| format!("@{}", html::short_revision(r)))
        .unwrap_or_default();
    let ready = html::condition(sync, "Ready");
    let message = ready.map_or("", |c| c.message.as_str());
    let short: String = message.chars().take(160).collect();
    format!(
        r#"<tr id="{}"><td>{}</td><td><a href="/syncs/{}/{}">{}</a></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="message" title="{}">{}</td></tr>"#,
        Esc(&html::element_id("row", &namespace, &name)),
        Esc(&namespace),
        Esc(&namespace),
        Esc(&name),
        Esc(&name),
        Esc(&html::source_url(sync, sources)),
        Esc(&revision),
        Esc(sync.spec.path.as_deref().unwrap_or("./")),
        html::phase_badge(sync),
        html::sync_badge(sync),
        html::health_badge(sync),
        Esc(ready.map_or("", |c| c.last_transition_time.as_str())),
        Esc(message),
        Esc(&short),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The selector terms `kubectl -l` takes, each of which can fail.
    #[test]
    fn label_selectors_read_as_kubectl_reads_them() {
        let labels: BTreeMap<String, String> = [("team", "a"), ("tier", "web")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        assert!(selects("team=a", &labels));
        assert!(selects("team==a, tier", &labels));
        assert!(selects("team!=b,!owner", &labels));
        assert!(!selects("team=b", &labels));
        assert!(!selects("team!=a", &labels));
        assert!(!selects("owner", &labels));
        assert!(!selects("!tier", &labels));
    }

    /// Filters survive the round trip through a page link.
    #[test]
    fn page_links_keep_the_filters() {
        let filters = Filters {
            q: "a b&c".to_owned(),
            phase: PhaseFilter::Failing,
            ..Filters::default()
        };
        assert_eq!(
            filters.query(2),
            "?q=a%20b%26c&namespace=&label=&phase=failing&page=2"
        );
    }
}

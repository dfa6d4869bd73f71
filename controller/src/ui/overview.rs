//! The overview: every Sync the user may see — or, with `?kind=`, every object of another
//! kind the controller serves ([`super::kinds`]) — filtered and paged on the server, from
//! the watch cache ([`super::cache`]). A page costs a scan of the cache and a sort, not a list
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
use kube::api::DynamicObject;
use kube::runtime::reflector::Store;
use lockstep_api::{GitSource, Sync};
use serde::Deserialize;

use super::Ui;
use super::access;
use super::cache::Cache;
use super::html::{self, Esc, Phase};
use super::kinds::{self, Kind};
use super::session::{Session, User};

/// Rows per page.
pub const PAGE_SIZE: usize = 50;

/// The overview's filters, as the query string carries them.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    /// The kind listed, by its plural (`sealedsecrets`, …); Syncs when empty.
    #[serde(default)]
    kind: String,
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
    /// The other kind listed, and its store; `None` for the Syncs.
    pub fn listed<'a>(&self, cache: &'a Cache) -> Option<(Kind, &'a Store<DynamicObject>)> {
        cache.listed(&self.kind)
    }

    /// Whether the Sync passes the filters.
    pub fn admits(&self, sync: &Sync, sources: &Store<GitSource>) -> bool {
        let message = html::condition(sync, "Ready").map_or("", |c| c.message.as_str());
        self.admits_object(sync, Phase::of(sync), || {
            vec![
                sync.spec.path.clone().unwrap_or_default(),
                message.to_owned(),
                html::source_url(sync, sources),
            ]
        })
    }

    /// Whether an object of another kind passes the filters.
    pub fn admits_other(&self, kind: Kind, object: &DynamicObject) -> bool {
        let (phase, message) = kind.phase(object);
        self.admits_object(object, phase, || vec![message])
    }

    /// Whether an object in `phase` passes the filters; `text` gives its fields besides
    /// namespace and name that the text filter searches.
    fn admits_object<K: ResourceExt>(
        &self,
        object: &K,
        phase: Phase,
        text: impl FnOnce() -> Vec<String>,
    ) -> bool {
        let namespace = object.namespace().unwrap_or_default();
        if !self.namespace.is_empty() && namespace != self.namespace {
            return false;
        }
        if !self.phase.admits(phase) {
            return false;
        }
        if !self.label.is_empty() && !selects(&self.label, object.labels()) {
            return false;
        }
        if self.q.is_empty() {
            return true;
        }
        let q = self.q.to_lowercase();
        [namespace, object.name_any()]
            .into_iter()
            .chain(text())
            .any(|field| field.to_lowercase().contains(&q))
    }

    /// The page asked for (within range) and how many pages `total` rows make.
    fn page_of(&self, total: usize) -> (usize, usize) {
        let pages = total.div_ceil(PAGE_SIZE).max(1);
        (self.page.unwrap_or(1).clamp(1, pages), pages)
    }

    /// The query string of these filters on `page`.
    fn query(&self, page: usize) -> String {
        let phase = PhaseFilter::ALL
            .iter()
            .find(|(p, _)| *p == self.phase)
            .map_or("all", |(_, name)| name);
        format!(
            "?kind={}&q={}&namespace={}&label={}&phase={phase}&page={page}",
            encode(&self.kind),
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
    let other = filters.listed(&ui.cache);
    let (timing, body) = match other {
        Some((kind, store)) => listing(&session, kind, store, &filters).await,
        None => syncs(&ui, &session, &filters).await,
    };
    let mut tabs = String::from(r#"<nav class="kinds"><a href="/">Syncs</a>"#);
    for (kind, _) in &ui.cache.others {
        let resource = kind.resource();
        let _ = write!(
            tabs,
            r#" · <a href="/?kind={}">{}s</a>"#,
            resource.plural, resource.kind
        );
    }
    tabs.push_str("</nav>\n");
    (
        [(header::HeaderName::from_static("server-timing"), timing)],
        html::page("Overview", Some(&session), &(tabs + &body)),
    )
        .into_response()
}

/// The Syncs' table: the `Server-Timing` value and the HTML.
async fn syncs(ui: &Ui, session: &Session, filters: &Filters) -> (String, String) {
    let visible = access::visible(session, &ui.cache).await;
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
    sort(&mut syncs);
    let columns = "<th>Namespace</th><th>Name</th><th>Source</th><th>Path</th><th>Ready</th><th>In sync</th><th>Health</th><th>Since</th><th>Last applied</th><th>Message</th>";
    let mut body = table_start("Syncs", filters, syncs.len(), columns);
    let (shown, nav) = paged(&syncs, filters);
    for sync in shown {
        body.push_str(&row(sync, sources));
        body.push('\n');
    }
    body.push_str(&nav);
    (timing(started), body)
}

/// The table of another kind: the `Server-Timing` value and the HTML.
async fn listing(
    session: &Session,
    kind: Kind,
    store: &Store<DynamicObject>,
    filters: &Filters,
) -> (String, String) {
    let resource = kind.resource();
    let visible = access::visible_of(session, &resource, || access::namespaces(store)).await;
    let started = Instant::now();
    let mut objects: Vec<Arc<DynamicObject>> = store
        .state()
        .into_iter()
        .filter(|o| visible.contains(&o.namespace().unwrap_or_default()))
        .filter(|o| filters.admits_other(kind, o))
        .collect();
    sort(&mut objects);
    let columns = "<th>Namespace</th><th>Name</th><th>Ready</th><th>Since</th><th>Message</th>";
    let title = format!("{}s", resource.kind);
    let mut body = table_start(&title, filters, objects.len(), columns);
    let (shown, nav) = paged(&objects, filters);
    for object in shown {
        body.push_str(&other_row(kind, object));
        body.push('\n');
    }
    body.push_str(&nav);
    (timing(started), body)
}

/// One row of another kind's table (also sent by the live stream when it changes); the
/// name links to the object's page.
pub fn other_row(kind: Kind, object: &DynamicObject) -> String {
    let (phase, message) = kind.phase(object);
    let namespace = object.namespace().unwrap_or_default();
    let name = object.name_any();
    let plural = kind.plural();
    format!(
        r#"<tr id="{}" data-key="{}"><td>{}</td><td><a href="/objects/{}/{}/{}">{}</a></td><td>{}</td><td>{}</td><td class="message">{}</td></tr>"#,
        Esc(&html::element_id(&plural, &namespace, &name)),
        Esc(&sort_key(&namespace, &name)),
        Esc(&namespace),
        Esc(&plural),
        Esc(&namespace),
        Esc(&name),
        Esc(&name),
        html::phase_badge_of(phase),
        Esc(&kinds::since(object)),
        Esc(&message),
    )
}

/// The key rows are sorted by, as `assets/ui.js` compares it to place a new row: the
/// namespace, a space (below every character a name may hold), the name.
fn sort_key(namespace: &str, name: &str) -> String {
    format!("{namespace} {name}")
}

/// Sorted by namespace, then name.
fn sort<K: ResourceExt>(objects: &mut [Arc<K>]) {
    objects.sort_unstable_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
}

/// The `Server-Timing` value of work started at `started`.
fn timing(started: Instant) -> String {
    format!(
        "overview;dur={:.1}",
        started.elapsed().as_secs_f64() * 1000.0
    )
}

/// The heading, the filter form, the count and the table's head.
fn table_start(title: &str, filters: &Filters, total: usize, columns: &str) -> String {
    let (current, pages) = filters.page_of(total);
    let mut body = String::new();
    let _ = write!(
        body,
        r#"<h1>{}</h1>
<form method="get" action="/" class="filters">
<input type="hidden" name="kind" value="{}">
<input type="search" name="q" value="{}" placeholder="text" aria-label="text">
<input type="text" name="namespace" value="{}" placeholder="namespace" aria-label="namespace">
<input type="text" name="label" value="{}" placeholder="label selector" aria-label="label selector">
<select name="phase" aria-label="phase">"#,
        Esc(title),
        Esc(&filters.kind),
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
    // The live stream sends the rows that change, new ones included, judged by the same
    // filters; the script places a new row only if it sorts within this page.
    let _ = write!(
        body,
        r#"</select>
<button type="submit">Filter</button>
</form>
<p class="count">{total} {} · page {current} of {pages}</p>
<table id="syncs" data-live="/live{}" data-first="{}" data-last="{}">
<thead><tr>{columns}</tr></thead>
<tbody>
"#,
        Esc(title),
        Esc(&filters.query(current)),
        current == 1,
        current == pages,
    );
    body
}

/// The rows of the page asked for, and the links to the pages around it.
fn paged<'a, T>(rows: &'a [T], filters: &Filters) -> (&'a [T], String) {
    let total = rows.len();
    let (current, pages) = filters.page_of(total);
    let shown = &rows[(current - 1) * PAGE_SIZE..total.min(current * PAGE_SIZE)];
    let mut nav = String::from("</tbody>\n</table>\n<nav class=\"pages\">");
    if current > 1 {
        let _ = write!(
            nav,
            r#"<a rel="prev" href="{}">← previous</a> "#,
            Esc(&filters.query(current - 1))
        );
    }
    if current < pages {
        let _ = write!(
            nav,
            r#"<a rel="next" href="{}">next →</a>"#,
            Esc(&filters.query(current + 1))
        );
    }
    nav.push_str("</nav>");
    (shown, nav)
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
    // When the revision now applied was applied, and how long that reconcile took.
    let applied = status
        .and_then(|s| s.history.first())
        .filter(|h| status.and_then(|s| s.last_applied_revision.as_ref()) == Some(&h.revision))
        .map(|h| match &h.duration {
            Some(took) => format!("{} in {took}", h.applied_at),
            None => h.applied_at.clone(),
        })
        .unwrap_or_default();
    format!(
        r#"<tr id="{}" data-key="{}"><td>{}</td><td><a href="/syncs/{}/{}">{}</a></td><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="message" title="{}">{}</td></tr>"#,
        Esc(&html::element_id("row", &namespace, &name)),
        Esc(&sort_key(&namespace, &name)),
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
        Esc(&applied),
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
            kind: "sealedsecrets".to_owned(),
            ..Filters::default()
        };
        assert_eq!(
            filters.query(2),
            "?kind=sealedsecrets&q=a%20b%26c&namespace=&label=&phase=failing&page=2"
        );
    }
}

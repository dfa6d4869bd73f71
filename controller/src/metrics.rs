//! Prometheus metrics under the Bitnami controller's names
//! (`sealed_secrets_controller_*`), so existing dashboards and alerts keep working.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of `unseal_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    /// `unseal`, `update`, `unmanaged` or `status`, as upstream.
    pub reason: String,
    /// Namespace of the SealedSecret.
    pub namespace: String,
}

/// Labels of `condition_info`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    /// Namespace of the SealedSecret.
    pub namespace: String,
    /// Name of the SealedSecret.
    pub name: String,
    /// Always `Synced`.
    pub condition: String,
}

/// Labels of `lockstep_reconcile_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `Sync` or `GitSource`.
    pub kind: String,
}

/// Labels of `lockstep_ready` and `lockstep_drifted_objects`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    /// `Sync` or `GitSource`.
    pub kind: String,
    /// Namespace of the object.
    pub namespace: String,
    /// Name of the object.
    pub name: String,
}

/// Labels of `lockstep_webhooks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    /// Namespace of the Receiver; empty when no Receiver serves the path.
    pub namespace: String,
    /// Name of the Receiver; empty when no Receiver serves the path.
    pub name: String,
    /// What became of the webhook.
    pub outcome: WebhookOutcome,
}

/// What became of one webhook ([`crate::receiver`]).
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum WebhookOutcome {
    /// Verified; its resources were asked to reconcile.
    Accepted,
    /// The signature or token did not match.
    Unauthorized,
    /// Verified, but its event is not in `spec.events`.
    EventRefused,
    /// The Receiver is suspended or not `Ready`.
    NotReady,
    /// Over the Receiver's rate limit.
    Throttled,
    /// No Receiver serves the path.
    NotFound,
    /// A signed body the Receiver accepted before.
    Replayed,
    /// A resource could not be asked to reconcile.
    Failed,
}

/// The controller's metrics and their registry: the SealedSecret ones under the Bitnami
/// prefix, the Git sync ones under `lockstep_`.
pub struct Metrics {
    registry: Registry,
    /// Duration of Sync reconciles (Flux's `gotk_reconcile_duration_seconds` shape).
    pub reconcile_duration: Family<KindLabels, Histogram>,
    /// 1 when the object's `Ready` condition is True, 0 otherwise.
    pub ready: Family<ObjectLabels, Gauge>,
    /// How many of a Sync's objects differ from its applied revision (without `selfHeal`).
    pub drifted_objects: Family<ObjectLabels, Gauge>,
    /// Webhooks received, by Receiver and outcome.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// One per reconcile.
    pub unseal_requests: Counter,
    /// Failed reconciles by reason.
    pub unseal_errors: Family<ErrorLabels, Counter>,
    /// −1 False, 1 True, per SealedSecret.
    pub condition_info: Family<ConditionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut root = Registry::default();
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.01, 2.0, 14))
        });
        let ready = Family::<ObjectLabels, Gauge>::default();
        let lockstep = root.sub_registry_with_prefix("lockstep");
        lockstep.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile, by kind",
            reconcile_duration.clone(),
        );
        lockstep.register(
            "ready",
            "1 when the object's Ready condition is True, else 0",
            ready.clone(),
        );
        let drifted_objects = Family::<ObjectLabels, Gauge>::default();
        lockstep.register(
            "drifted_objects",
            "How many of a Sync's objects differ from its applied revision (selfHeal off)",
            drifted_objects.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        lockstep.register(
            "webhooks",
            "Webhooks received, by Receiver and outcome",
            webhooks.clone(),
        );
        let registry = root.sub_registry_with_prefix("sealed_secrets_controller");
        let unseal_requests = Counter::default();
        let unseal_errors = Family::<ErrorLabels, Counter>::default();
        let condition_info = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "unseal_requests",
            "Total number of sealed secret unseal requests",
            unseal_requests.clone(),
        );
        registry.register(
            "unseal_errors",
            "Total number of sealed secret unseal errors by reason",
            unseal_errors.clone(),
        );
        registry.register("condition_info", "Current SealedSecret condition status. Values are -1 (false), 0 (unknown or absent), 1 (true)", condition_info.clone());
        Self {
            registry: root,
            reconcile_duration,
            ready,
            drifted_objects,
            webhooks,
            unseal_requests,
            unseal_errors,
            condition_info,
        }
    }
}

impl Metrics {
    /// Counts a failed reconcile.
    pub fn error(&self, reason: &str, namespace: &str) {
        self.unseal_errors
            .get_or_create(&ErrorLabels {
                reason: reason.into(),
                namespace: namespace.into(),
            })
            .inc();
    }

    /// Records the `Synced` condition of a SealedSecret.
    pub fn synced(&self, namespace: &str, name: &str, synced: bool) {
        self.condition_info
            .get_or_create(&ConditionLabels {
                namespace: namespace.into(),
                name: name.into(),
                condition: "Synced".into(),
            })
            .set(if synced { 1 } else { -1 });
    }

    /// Records how long one reconcile of `kind` took.
    pub fn reconciled(&self, kind: &str, took: std::time::Duration) {
        self.reconcile_duration
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(took.as_secs_f64());
    }

    /// Records whether an object is Ready.
    pub fn condition(&self, kind: &str, namespace: &str, name: &str, ready: bool) {
        self.ready
            .get_or_create(&ObjectLabels {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
            })
            .set(i64::from(ready));
    }

    /// Drops the series of a deleted Sync (`lockstep_ready`, `lockstep_drifted_objects`),
    /// so an alert on them stops with it.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let labels = ObjectLabels {
            kind: kind.into(),
            namespace: namespace.into(),
            name: name.into(),
        };
        self.ready.remove(&labels);
        self.drifted_objects.remove(&labels);
    }

    /// Records how many of a Sync's objects drifted.
    pub fn drifted(&self, kind: &str, namespace: &str, name: &str, objects: usize) {
        self.drifted_objects
            .get_or_create(&ObjectLabels {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
            })
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
    }

    /// Counts a webhook to Receiver `namespace/name` (empty: none) by outcome.
    pub fn webhook(&self, namespace: &str, name: &str, outcome: WebhookOutcome) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                namespace: namespace.into(),
                name: name.into(),
                outcome,
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

//! Prometheus metrics under the Bitnami controller's names
//! (`sealed_secrets_controller_*`), so existing dashboards and alerts keep working.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
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

/// The controller's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// One per reconcile.
    pub unseal_requests: Counter,
    /// Failed reconciles by reason.
    pub unseal_errors: Family<ErrorLabels, Counter>,
    /// −1 False, 1 True, per SealedSecret.
    pub condition_info: Family<ConditionLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("sealed_secrets_controller");
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
            registry,
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

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

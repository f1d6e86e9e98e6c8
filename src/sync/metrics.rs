//! What the sync measures. The instance's Prometheus registry (`metrics.rs`)
//! registers these handles; the sync only counts.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::catalog::{DropCounts, DropReason, Outcome};

/// Upstream fetch time buckets, in seconds.
const FETCH_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DropLabel {
    reason: &'static str,
}

/// What the sync measures. The handles are shared with the registry that
/// [`register`](Self::register) adds them to, so the sync needs no registry.
#[derive(Clone, Debug)]
pub struct SyncMetrics {
    syncs: Family<OutcomeLabel, Counter>,
    dropped: Family<DropLabel, Counter>,
    fetch_duration: Histogram,
    fetch_bytes: Counter,
}

impl Default for SyncMetrics {
    fn default() -> Self {
        let metrics = Self {
            syncs: Family::default(),
            dropped: Family::default(),
            fetch_duration: Histogram::new(FETCH_BUCKETS),
            fetch_bytes: Counter::default(),
        };
        // Every outcome and drop reason is listed from the start, at zero.
        for outcome in Outcome::ALL {
            metrics.syncs.get_or_create_owned(&OutcomeLabel {
                outcome: outcome.as_str(),
            });
        }
        for reason in DropReason::ALL {
            metrics.dropped.get_or_create_owned(&DropLabel {
                reason: reason.as_str(),
            });
        }
        metrics
    }
}

impl SyncMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "cmg_sync",
            "Catalog refresh attempts by outcome",
            self.syncs.clone(),
        );
        registry.register(
            "cmg_plans_dropped",
            "Upstream plans dropped during validation, by reason",
            self.dropped.clone(),
        );
        registry.register(
            "cmg_upstream_fetch_duration_seconds",
            "Time to fetch the upstream feed body",
            self.fetch_duration.clone(),
        );
        registry.register(
            "cmg_upstream_fetch_bytes",
            "Bytes of feed bodies received",
            self.fetch_bytes.clone(),
        );
    }

    pub fn record_outcome(&self, outcome: Outcome) {
        let labels = OutcomeLabel {
            outcome: outcome.as_str(),
        };
        self.syncs.get_or_create(&labels).inc();
    }

    pub(super) fn record_fetch(&self, elapsed: Duration, bytes: usize) {
        self.fetch_duration.observe(elapsed.as_secs_f64());
        self.fetch_bytes.inc_by(bytes as u64);
    }

    pub(super) fn record_dropped(&self, counts: &DropCounts) {
        for reason in DropReason::ALL {
            let labels = DropLabel {
                reason: reason.as_str(),
            };
            self.dropped
                .get_or_create(&labels)
                .inc_by(counts.get(reason));
        }
    }
}

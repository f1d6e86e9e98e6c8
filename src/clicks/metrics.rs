//! What the click log measures; the instance's registry (`metrics.rs`)
//! registers these handles.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// What became of one click.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Buffered, a visitor's.
    Recorded,
    /// Buffered, a crawler's or link previewer's.
    Bot,
    /// Buffered, a browser's prefetch.
    Prefetch,
    /// Not recorded: the buffer was full.
    Dropped,
}

impl Outcome {
    pub const ALL: [Self; 4] = [Self::Recorded, Self::Bot, Self::Prefetch, Self::Dropped];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Recorded => "recorded",
            Self::Bot => "bot",
            Self::Prefetch => "prefetch",
            Self::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClickLabels {
    /// A registered partner's id, or `none`.
    partner: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct ClickMetrics {
    clicks: Family<ClickLabels, Counter>,
    invalid: Counter,
    dropped: Counter,
    depth: Gauge,
}

impl ClickMetrics {
    pub fn register(&self, registry: &mut Registry) {
        for outcome in Outcome::ALL {
            self.clicks.get_or_create_owned(&ClickLabels {
                partner: "none".into(),
                outcome: outcome.as_str(),
            });
        }
        registry.register(
            "cmg_clicks",
            "Clicks on /go links by partner (none without one) and outcome",
            self.clicks.clone(),
        );
        registry.register(
            "cmg_clicks_invalid",
            "Malformed sub-ID or utm values, recorded as absent",
            self.invalid.clone(),
        );
        registry.register(
            "cmg_clicks_dropped",
            "Clicks not recorded because the buffer was full",
            self.dropped.clone(),
        );
        registry.register(
            "cmg_click_buffer_depth",
            "Clicks waiting to be written to the database",
            self.depth.clone(),
        );
    }

    pub fn count(&self, partner: Option<&str>, outcome: Outcome) {
        self.clicks
            .get_or_create(&ClickLabels {
                partner: partner.unwrap_or("none").to_owned(),
                outcome: outcome.as_str(),
            })
            .inc();
        if outcome == Outcome::Dropped {
            self.dropped.inc();
        }
    }

    pub fn count_invalid(&self, values: u64) {
        self.invalid.inc_by(values);
    }

    pub fn set_depth(&self, depth: usize) {
        self.depth.set(depth as i64);
    }
}

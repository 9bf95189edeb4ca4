//! The shared tier's metrics: its state, reads, lock waits, budget decisions, fallbacks,
//! purge broadcasts and command latency. Registered whether or not `shared` is set; a
//! gateway standing alone prints them at zero and `shared_up` at 0.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::OutcomeLabel;

/// What a read of the shared tier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedRead {
    /// A usable entry.
    Hit,
    /// No entry, a purged one, or one past its life.
    Miss,
    /// Redis answered an error, or the breaker was open.
    Error,
    /// Redis did not answer within `command_timeout`.
    Timeout,
}

/// How a wait for another replica's upstream call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockWait {
    /// The entry appeared.
    Filled,
    /// The holder let go without an entry (its call failed): this replica took over.
    TookOver,
    /// `upstream.timeout` passed, or Redis failed: this replica called alone.
    GaveUp,
}

/// What the fleet's budget said about one upstream call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetDecision {
    /// Within the fleet's budget.
    Allowed,
    /// The fleet's budget is spent.
    Refused,
    /// A replica saw a 429: the fleet backs off.
    BackingOff,
    /// Redis unavailable: decided by this replica's share of the budget.
    Local,
}

/// Every shared-tier metric.
#[derive(Debug)]
pub struct SharedMetrics {
    up: Gauge,
    members: Gauge,
    reads: [Counter; 4],
    lock_waits: [Counter; 3],
    budget: [Counter; 4],
    fallbacks: Counter,
    purges: [Counter; 2],
    command_seconds: Histogram,
}

impl SharedMetrics {
    /// Registers the metrics under `shared_` in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let registry = registry.sub_registry_with_prefix("shared");
        let up = Gauge::default();
        registry.register(
            "up",
            "1 while the shared tier (Redis) answers, 0 while this replica acts alone",
            up.clone(),
        );
        let members = Gauge::default();
        registry.register(
            "replicas",
            "Replicas seen alive in the shared tier at the last heartbeat",
            members.clone(),
        );
        let counters = |registry: &mut Registry, name: &str, help: &str, labels: &[&'static str]| {
            let family = Family::<OutcomeLabel, Counter>::default();
            registry.register(name, help, family.clone());
            labels
                .iter()
                .map(|&outcome| family.get_or_create_owned(&OutcomeLabel { outcome }))
                .collect::<Vec<_>>()
        };
        let reads = counters(
            registry,
            "reads",
            "Reads of the shared tier, by outcome",
            &["hit", "miss", "error", "timeout"],
        );
        let lock_waits = counters(
            registry,
            "lock_waits",
            "Waits for another replica's upstream call, by outcome",
            &["filled", "took-over", "gave-up"],
        );
        let budget = counters(
            registry,
            "budget_decisions",
            "Upstream calls judged by the fleet's budget, by decision",
            &["allowed", "refused", "backing-off", "local"],
        );
        let purges =
            counters(registry, "purges", "Purge broadcasts, sent and received", &["sent", "received"]);
        let fallbacks = Counter::default();
        registry.register(
            "fallbacks",
            "Steps of a request that acted alone because Redis failed or the breaker was open",
            fallbacks.clone(),
        );
        let command_seconds = Histogram::new(exponential_buckets(0.000_1, 2.0, 12));
        registry.register("command_duration_seconds", "Latency of Redis commands", command_seconds.clone());
        SharedMetrics {
            up,
            members,
            reads: reads.try_into().expect("4 read outcomes"),
            lock_waits: lock_waits.try_into().expect("3 wait outcomes"),
            budget: budget.try_into().expect("4 decisions"),
            fallbacks,
            purges: purges.try_into().expect("2 directions"),
            command_seconds,
        }
    }

    /// Whether Redis answers.
    pub fn set_up(&self, up: bool) {
        self.up.set(i64::from(up));
    }

    /// The replicas alive at the last heartbeat.
    pub fn set_members(&self, count: u32) {
        self.members.set(i64::from(count));
    }

    /// One read of the shared tier.
    pub fn read(&self, outcome: SharedRead) {
        self.reads[outcome as usize].inc();
    }

    /// One wait for another replica's call.
    pub fn lock_wait(&self, outcome: LockWait) {
        self.lock_waits[outcome as usize].inc();
    }

    /// One budget decision.
    pub fn budget(&self, decision: BudgetDecision) {
        self.budget[decision as usize].inc();
    }

    /// One step that acted alone.
    pub fn fallback(&self) {
        self.fallbacks.inc();
    }

    /// A purge broadcast sent (`true`) or received.
    pub fn purge(&self, sent: bool) {
        self.purges[usize::from(!sent)].inc();
    }

    /// One Redis command's latency.
    pub fn command(&self, seconds: f64) {
        self.command_seconds.observe(seconds);
    }
}

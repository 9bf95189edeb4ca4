//! What the gateway refused or removed to keep a hostile upstream answer, Redis
//! neighbour or client from reaching others: token scrubs of stored bodies, shared-tier
//! entries refused, misses refused by a client's share of the upstream budget.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::OutcomeLabel;

/// Why an entry read from the shared tier was not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// Its MAC did not verify: written by someone without this fleet's token.
    Mac,
    /// Larger than `shared.max_entry_size` allows.
    Size,
    /// A status, TTL or retain time the gateway never stores.
    Bounds,
    /// A compressed form that does not decode to the body.
    Form,
}

/// The security counters.
#[derive(Debug)]
pub struct SecurityMetrics {
    /// Bodies the token was scrubbed from when stored.
    token_scrubs: Counter,
    /// Shared-tier entries refused, by [`Untrusted`] reason.
    untrusted: [Counter; 4],
    /// Upstream calls refused because one client had spent its share of the budget.
    share_refused: Counter,
}

impl SecurityMetrics {
    /// Registers the counters in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let token_scrubs = Counter::default();
        registry.register(
            "token_scrubs",
            "AppSignal answers the token was scrubbed from before they were stored or relayed",
            token_scrubs.clone(),
        );
        let family = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "shared_entries_untrusted",
            "Entries read from the shared tier and treated as a miss, by reason (mac, size, bounds, form)",
            family.clone(),
        );
        let untrusted = ["mac", "size", "bounds", "form"]
            .map(|outcome| family.get_or_create_owned(&OutcomeLabel { outcome }));
        let share_refused = Counter::default();
        registry.register(
            "upstream_share_refused",
            "Upstream calls refused because the client had spent its upstream.rate_limit.client_share",
            share_refused.clone(),
        );
        SecurityMetrics { token_scrubs, untrusted, share_refused }
    }

    /// One body scrubbed of the token.
    pub fn token_scrubbed(&self) {
        self.token_scrubs.inc();
    }

    /// One shared-tier entry refused.
    pub fn untrusted(&self, why: Untrusted) {
        self.untrusted[why as usize].inc();
    }

    /// One upstream call refused by a client's share.
    pub fn share_refused(&self) {
        self.share_refused.inc();
    }
}

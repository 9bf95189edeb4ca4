//! What can go wrong talking to AppSignal.

use std::time::Duration;

/// An upstream failure. Every message is safe to log: texts that came from outside
/// are scrubbed of the token before they are stored here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection could be made (refused, DNS, TLS).
    #[error("cannot connect to AppSignal: {0}")]
    Connect(String),
    /// The connection broke before a whole answer arrived.
    #[error("connection to AppSignal failed: {0}")]
    Broken(String),
    /// No whole answer within `upstream.timeout`.
    #[error("AppSignal did not answer within {0:?}")]
    Timeout(Duration),
    /// AppSignal refused the gateway's token (401 or 403).
    #[error("AppSignal refused the gateway's token (status {0})")]
    Unauthorized(u16),
    /// AppSignal is limiting the gateway (429); retry after this long.
    #[error("AppSignal is rate-limiting the gateway; retry after {0:?}")]
    Throttled(Duration),
    /// The gateway's own budget for calls (`upstream.rate_limit`) is spent for this long.
    #[error("the gateway's upstream call budget is spent; next call in {0:?}")]
    BudgetSpent(Duration),
    /// Every V2 query slot (`upstream.max_concurrent_queries`) stayed taken for
    /// `upstream.timeout`; retry after this long.
    #[error("every V2 query slot stayed busy; retry after {0:?}")]
    Busy(Duration),
    /// Any other unexpected status, such as a 5xx.
    #[error("AppSignal answered status {0}")]
    Status(u16),
    /// A 200 whose body is not JSON.
    #[error("AppSignal answered 200 with a body that is not JSON")]
    NotJson,
    /// A body larger than `upstream.max_response_size`.
    #[error("AppSignal's answer is larger than {0} bytes")]
    TooLarge(u64),
    /// A GraphQL answer with `errors` and no `data`: AppSignal refused a declared
    /// operation (its schema moved). Its messages, scrubbed of the token and shortened.
    #[error("AppSignal refused the GraphQL operation: {0}")]
    GraphQl(String),
}

impl UpstreamError {
    /// The status AppSignal answered, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Unauthorized(status) | UpstreamError::Status(status) => Some(*status),
            UpstreamError::Throttled(_) => Some(429),
            UpstreamError::NotJson | UpstreamError::TooLarge(_) | UpstreamError::GraphQl(_) => Some(200),
            UpstreamError::Connect(_)
            | UpstreamError::Broken(_)
            | UpstreamError::Timeout(_)
            | UpstreamError::BudgetSpent(_)
            | UpstreamError::Busy(_) => None,
        }
    }
}

//! Per-client rate limiting: who a client is, and whether it may ask now.
//!
//! A governor keyed limiter (GCRA token bucket) per client address, or per dashboard key
//! name when keys are configured. Idle clients are evicted by [`ClientLimiter::housekeeping`]
//! so the state cannot grow without bound.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use http::HeaderMap;
use ipnet::IpNet;

use crate::config::Rate;

/// Who is limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// A client address (the peer, or what a trusted proxy says).
    Addr(IpAddr),
    /// A dashboard key, by name.
    Key(Arc<str>),
}

/// A refused request: how long to wait, and the policy, for the response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    /// Until the next request would be allowed.
    pub retry_after: Duration,
    /// The bucket size (`q` of `RateLimit-Policy`).
    pub burst: u32,
    /// Seconds for an empty bucket to refill (`w` of `RateLimit-Policy`).
    pub window: u64,
}

/// Client addresses can be chosen by clients (IPv6, trusted proxies): a randomly seeded hasher.
type Hasher = foldhash::quality::RandomState;

type Keyed<C> =
    RateLimiter<ClientId, DashMapStateStore<ClientId, Hasher>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// The per-client limiter.
pub struct ClientLimiter<C: Clock + Clone = DefaultClock> {
    /// One GCRA cell per client.
    limiter: Keyed<C>,
    /// The same clock the limiter reads, for wait times.
    clock: C,
    /// The configured rate, for the policy headers.
    rate: Rate,
}

impl std::fmt::Debug for ClientLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientLimiter")
            .field("rate", &self.rate)
            .field("clients", &self.limiter.len())
            .finish()
    }
}

/// The governor quota for a rate.
pub fn quota(rate: Rate) -> Quota {
    Quota::per_second(rate.per_second).allow_burst(rate.burst)
}

impl ClientLimiter {
    /// A limiter on the real clock.
    pub fn new(rate: Rate) -> Self {
        Self::with_clock(rate, DefaultClock::default())
    }

    /// A limiter allowing each client `share` of `rate`: that share of its refill and of
    /// its burst (at least one), on the real clock. What keeps one client from spending
    /// the whole upstream budget (`upstream.rate_limit.client_share`).
    pub fn share_of(rate: Rate, share: f64) -> Self {
        let clock = DefaultClock::default();
        let per_second = f64::from(rate.per_second.get()) * share;
        let burst = NonZeroU32::new((f64::from(rate.burst.get()) * share) as u32).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs_f64(1.0 / per_second))
            .map_or_else(|| quota(rate), |q| q.allow_burst(burst));
        let limiter = RateLimiter::dashmap_with_clock_and_hasher(quota, clock.clone(), Hasher::default());
        ClientLimiter { limiter, clock, rate: Rate { per_second: rate.per_second, burst } }
    }
}

impl<C: Clock + Clone> ClientLimiter<C> {
    /// A limiter on `clock` (a fake one in tests).
    pub fn with_clock(rate: Rate, clock: C) -> Self {
        let limiter =
            RateLimiter::dashmap_with_clock_and_hasher(quota(rate), clock.clone(), Hasher::default());
        ClientLimiter { limiter, clock, rate }
    }

    /// Takes one request from `client`'s bucket, or says how long to wait.
    pub fn check(&self, client: &ClientId) -> Result<(), Refusal> {
        self.limiter.check_key(client).map_err(|not_until| {
            let per_second = u64::from(self.rate.per_second.get());
            Refusal {
                retry_after: not_until.wait_time_from(self.clock.now()),
                burst: self.rate.burst.get(),
                window: u64::from(self.rate.burst.get()).div_ceil(per_second),
            }
        })
    }

    /// Forgets clients whose buckets are full again; call periodically.
    pub fn housekeeping(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many clients are tracked.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

/// Whether `ip` is one of `clients.trusted_proxies`, whose `X-Forwarded-For` and
/// `X-Request-Id` are believed.
pub fn is_trusted_proxy(ip: &IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(ip))
}

/// The client's address: the socket peer, or — when the peer is a trusted proxy — the
/// right-most address in `X-Forwarded-For` that is not itself a trusted proxy. A client
/// cannot dodge its limit by sending its own `X-Forwarded-For`: an untrusted peer's is
/// ignored, and a trusted proxy appends the real peer on the right.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| is_trusted_proxy(ip, trusted);
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // Garbage in the chain: stop at the last address a trusted hop vouched for.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use governor::clock::FakeRelativeClock;

    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second: NonZeroU32::new(per_second).unwrap(), burst: NonZeroU32::new(burst).unwrap() }
    }

    #[test]
    fn burst_then_refusal_then_refill() {
        let clock = FakeRelativeClock::default();
        let limiter = ClientLimiter::with_clock(rate(2, 3), clock.clone());
        let a = ClientId::Addr("10.0.0.1".parse().unwrap());
        let b = ClientId::Addr("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.check(&a).is_ok());
        }
        let refusal = limiter.check(&a).unwrap_err();
        assert_eq!(refusal.retry_after, Duration::from_millis(500));
        assert_eq!((refusal.burst, refusal.window), (3, 2));
        assert!(limiter.check(&b).is_ok(), "clients are isolated");
        clock.advance(Duration::from_millis(500));
        assert!(limiter.check(&a).is_ok());
    }

    #[test]
    fn idle_clients_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter = ClientLimiter::with_clock(rate(10, 10), clock.clone());
        for i in 0..100u8 {
            let _ = limiter.check(&ClientId::Addr(IpAddr::from([10, 0, 0, i])));
        }
        assert_eq!(limiter.tracked(), 100);
        clock.advance(Duration::from_secs(2));
        limiter.housekeeping();
        assert_eq!(limiter.tracked(), 0);
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.5".parse().unwrap());
        let proxy: IpAddr = "10.0.0.9".parse().unwrap();
        let stranger: IpAddr = "3.3.3.3".parse().unwrap();
        assert_eq!(client_addr(proxy, &headers, &trusted), "2.2.2.2".parse::<IpAddr>().unwrap());
        assert_eq!(client_addr(stranger, &headers, &trusted), stranger);
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), proxy);
        headers.insert("x-forwarded-for", "junk, 10.0.0.7".parse().unwrap());
        assert_eq!(client_addr(proxy, &headers, &trusted), "10.0.0.7".parse::<IpAddr>().unwrap());
    }
}

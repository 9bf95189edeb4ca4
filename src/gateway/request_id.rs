//! `X-Request-Id`: taken from a trusted proxy, or made here.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;

use crate::limit;
use crate::response::X_REQUEST_ID;

/// The longest id accepted from a proxy.
const MAX_LEN: usize = 128;

/// The request's id: a trusted proxy's `X-Request-Id` if it is sane, else a new one.
pub fn request_id(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> HeaderValue {
    let from_proxy = limit::is_trusted_proxy(&peer, trusted)
        .then(|| headers.get(X_REQUEST_ID))
        .flatten()
        .filter(|id| sane(id.as_bytes()));
    let mut id = match from_proxy {
        Some(id) => id.clone(),
        None => generate(),
    };
    // Unique per request: HTTP/2's HPACK must not add it to its table, where every new
    // id would evict the headers that repeat (measured: a fifth of an h2 hit's CPU went
    // to the encoder's table churn). HTTP/1.1 ignores the flag.
    id.set_sensitive(true);
    id
}

fn sane(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id.iter().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(b))
}

/// A process-unique id: a random per-process prefix and a counter.
fn generate() -> HeaderValue {
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        let mut bytes = [0u8; 4];
        // Without the OS generator, ids are still unique within the process.
        let _ = getrandom::fill(&mut bytes);
        u32::from_le_bytes(bytes)
    });
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // `{prefix:08x}-{n:012x}`, written by hand: this runs on every request.
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = [b'-'; 21];
    for i in 0..8 {
        id[i] = HEX[(prefix >> (28 - 4 * i) & 0xf) as usize];
    }
    for i in 0..12 {
        id[9 + i] = HEX[(n >> (44 - 4 * i) & 0xf) as usize];
    }
    HeaderValue::from_bytes(&id).expect("hex is a valid header")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trusted_ids_are_kept_and_others_replaced() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("abc-123"));
        assert_eq!(request_id("10.1.1.1".parse().unwrap(), &headers, &trusted), "abc-123");
        let stranger = request_id("192.0.2.1".parse().unwrap(), &headers, &trusted);
        assert_ne!(stranger, "abc-123");
        headers.insert(X_REQUEST_ID, HeaderValue::from_static("has spaces"));
        assert_ne!(request_id("10.1.1.1".parse().unwrap(), &headers, &trusted), "has spaces");
        let a = request_id("192.0.2.1".parse().unwrap(), &HeaderMap::new(), &trusted);
        let b = request_id("192.0.2.1".parse().unwrap(), &HeaderMap::new(), &trusted);
        assert_ne!(a, b);
        assert!(a.is_sensitive(), "sent never-indexed by HTTP/2, out of the HPACK table");
    }
}

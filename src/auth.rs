//! Dashboard keys (`clients.keys`): who may read which apps.
//!
//! The configuration holds only SHA-256 digests. A presented key is hashed and compared
//! with every configured digest in constant time; the plain key is never stored,
//! logged, forwarded or part of a cache key.

use std::borrow::Cow;

use http::header::AUTHORIZATION;
use http::HeaderMap;
use prometheus_client::metrics::counter::Counter;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::DashboardKey;
use crate::urlencoded::decode_query;

/// The query parameter a script tag uses to present its key.
pub const KEY_PARAM: &str = "key";

/// The configured keys, checked against every presented key in constant time.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// As configured; empty means the gateway is open.
    keys: Vec<DashboardKey>,
    /// Each key's request counter, made when the keys are (at start and at each reload),
    /// so that counting a request takes no lock and allocates nothing.
    requests: Vec<Counter>,
}

impl Keys {
    /// The keys of `clients.keys`, each counting its requests in `counter(name)`.
    pub fn new(keys: &[DashboardKey], counter: impl Fn(&str) -> Counter) -> Self {
        let requests = keys.iter().map(|k| counter(&k.name)).collect();
        Keys { keys: keys.to_vec(), requests }
    }

    /// Whether every request needs a key.
    pub fn required(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The key presented by a request, if it is a configured one, with its counter.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Option<(&DashboardKey, &Counter)> {
        let presented = presented_key(headers, query)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        // Every digest is compared, each in constant time, whichever matches.
        let mut found = None;
        for (key, requests) in self.keys.iter().zip(&self.requests) {
            if bool::from(key.sha256.ct_eq(&digest)) {
                found = Some((key, requests));
            }
        }
        found
    }
}

impl DashboardKey {
    /// Whether this key may read the app with this id.
    pub fn may_read(&self, app_id: &str) -> bool {
        self.apps.as_ref().is_none_or(|apps| apps.iter().any(|id| &**id == app_id))
    }
}

/// `Authorization: Bearer <key>`, else the `key` query parameter.
fn presented_key<'a>(headers: &'a HeaderMap, query: Option<&'a str>) -> Option<Cow<'a, str>> {
    let bearer = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, key) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
    });
    if let Some(key) = bearer.filter(|k| !k.is_empty()) {
        return Some(Cow::Borrowed(key));
    }
    let query = query.filter(|q| q.contains(KEY_PARAM))?;
    decode_query(query)
        .ok()?
        .into_iter()
        .find(|(name, _)| name == KEY_PARAM)
        .map(|(_, key)| Cow::Owned(key.into_owned()))
}

/// The hex SHA-256 of a key, as `clients.keys[].sha256` holds it.
pub fn digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A fresh key: 256 bits from the operating system's generator, as URL-safe hex.
pub fn generate_key() -> std::io::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The YAML entry for `clients.keys` that admits `key` under `name`, for `apps`.
pub fn key_entry(name: &str, key: &str, apps: &[String]) -> String {
    let mut entry = format!("  - name: \"{name}\"\n    sha256: \"{}\"\n", digest_hex(key));
    if !apps.is_empty() {
        let quoted: Vec<String> = apps.iter().map(|a| format!("\"{a}\"")).collect();
        entry.push_str(&format!("    apps: [{}]\n", quoted.join(", ")));
    }
    entry
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn keys() -> Keys {
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(&Sha256::digest(b"s3cret"));
        Keys::new(&[DashboardKey { name: "wall".into(), sha256, apps: Some(vec!["a1".into()]) }], |_| {
            Counter::default()
        })
    }

    #[test]
    fn bearer_or_query_key() {
        let keys = keys();
        let mut headers = HeaderMap::new();
        assert!(keys.authenticate(&headers, None).is_none());
        assert_eq!(
            keys.authenticate(&headers, Some("limit=1&key=s3cret")).map(|(k, _)| &*k.name),
            Some("wall")
        );
        assert!(keys.authenticate(&headers, Some("key=wrong")).is_none());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Bearer s3cret"));
        assert!(keys.authenticate(&headers, None).is_some());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("bearer   s3cret "));
        assert!(keys.authenticate(&headers, None).is_some());
        headers.insert(AUTHORIZATION, HeaderValue::from_static("Basic s3cret"));
        assert!(keys.authenticate(&headers, None).is_none());
    }

    #[test]
    fn scope_limits_apps() {
        let keys = keys();
        let (key, requests) = keys.authenticate(&HeaderMap::new(), Some("key=s3cret")).unwrap();
        assert!(key.may_read("a1"));
        assert!(!key.may_read("a2"));
        requests.inc();
        assert_eq!(requests.get(), 1, "the key's own counter");
    }

    #[test]
    fn generated_keys_are_long_random_and_url_safe() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(digest_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

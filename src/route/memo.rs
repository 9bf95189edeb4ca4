//! A bounded memo of request targets already resolved, so that a dashboard polling the
//! same URL skips path matching and query normalisation on every poll after the first.
//!
//! Resolution is a pure function of the raw target and the configuration, and a memo
//! lives in one configuration generation, so a remembered answer is always the answer
//! the long way would give. Only successes are remembered. A V2 query's body is
//! resolved the same way (parsed, scoped, written out canonically), so the same type
//! remembers those too, keyed by route and body, with a longer raw bound.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::Target;

/// Targets remembered at most; past this the memo starts over. Dashboards poll a few
/// dozen distinct URLs; a client sending a new URL each time (a cache-buster) only ever
/// costs one clearing per this many requests.
const MAX_ENTRIES: usize = 4096;

/// Raw targets longer than this are resolved every time, which bounds the memo at a
/// few MiB, keys and targets together.
const MAX_RAW_LENGTH: usize = 384;

type Map<V> = HashMap<Box<str>, V, foldhash::quality::RandomState>;

/// Raw request target (`path?query`, as the client sent it) → resolved target; or,
/// for V2 queries, raw route and body → what they resolved to.
#[derive(Debug)]
pub struct Memo<V = Arc<Target>> {
    map: RwLock<Map<V>>,
    /// Raw keys longer than this are never remembered.
    max_raw: usize,
}

impl Default for Memo {
    fn default() -> Self {
        Memo::new(MAX_RAW_LENGTH)
    }
}

impl<V: Clone> Memo<V> {
    /// A memo remembering raw keys of at most `max_raw` bytes.
    pub fn new(max_raw: usize) -> Self {
        Memo { map: RwLock::default(), max_raw }
    }

    /// What `raw` resolved to before, if it is remembered.
    pub fn get(&self, raw: &str) -> Option<V> {
        if raw.len() > self.max_raw {
            return None;
        }
        // A poisoned lock only means a panic elsewhere; the map itself is always whole.
        let map = self.map.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.get(raw).cloned()
    }

    /// Remembers that `raw` resolves to `target`.
    pub fn remember(&self, raw: &str, target: V) {
        if raw.len() > self.max_raw {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(raw.into(), target);
    }

    /// How many targets are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::{Route, ROUTES};

    fn target(upstream: &str) -> Arc<Target> {
        let route: &'static Route = &ROUTES[0];
        let key = crate::key::CacheKey::new("a", crate::key::KeyKind::Rest, upstream);
        Arc::new(Target {
            route,
            app_id: "a".into(),
            upstream: upstream.into(),
            key,
            callback: None,
            body: None,
        })
    }

    #[test]
    fn remembers_and_forgets_when_full() {
        let memo = Memo::default();
        assert!(memo.get("/x").is_none());
        memo.remember("/x", target("/api/a/x"));
        assert_eq!(&*memo.get("/x").unwrap().upstream, "/api/a/x");
        for i in 1..MAX_ENTRIES {
            memo.remember(&format!("/y{i}"), target("/api/a/y"));
        }
        assert_eq!(memo.len(), MAX_ENTRIES);
        memo.remember("/z", target("/api/a/z"));
        assert_eq!(memo.len(), 1, "a full memo starts over");
        assert!(memo.get("/x").is_none());
    }

    #[test]
    fn long_targets_are_not_remembered() {
        let memo = Memo::default();
        let long = format!("/{}", "a".repeat(MAX_RAW_LENGTH));
        memo.remember(&long, target("/api/a/x"));
        assert!(memo.get(&long).is_none());
        assert_eq!(memo.len(), 0);
    }
}

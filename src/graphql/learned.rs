//! Persisted-query hashes learned from clients (Apollo's automatic persisted queries).
//!
//! Apollo Client hashes its own printing of a document, which differs from the declared
//! text (it adds `__typename`s, lays it out its way). A request carrying both a text that
//! is a declared operation and that text's true SHA-256 teaches the gateway the hash; a
//! later request with the hash alone is then served as that text. At most
//! [`PER_OPERATION`] hashes are kept per operation, the least recently used replaced, so
//! whitespace variants cannot grow memory. A reload starts afresh (clients teach again).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{Operation, Sendable};

/// The most learned hashes kept per operation.
pub const PER_OPERATION: usize = 16;

/// What a learned hash stands for.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The operation the text proved to be.
    pub operation: Arc<Operation>,
    /// The document sent upstream for it (the declared one, or the gateway's printing of
    /// the client's, with its `__typename`s).
    pub document: Sendable,
}

/// The learned hashes of one configuration generation.
#[derive(Debug, Default)]
pub struct LearnedHashes {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By hash: what it stands for and when it was last used.
    entries: HashMap<String, (Learned, u64)>,
    /// A counter standing for time, for "least recently used".
    clock: u64,
}

impl LearnedHashes {
    /// What `hash` stands for, marking it used.
    pub fn get(&self, hash: &str) -> Option<Learned> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        let (learned, used) = inner.entries.get_mut(hash)?;
        *used = now;
        Some(learned.clone())
    }

    /// Learns `hash` (the true SHA-256 of a text proven to be `learned.operation`),
    /// replacing that operation's least recently used hash when it has
    /// [`PER_OPERATION`] already.
    pub fn learn(&self, hash: String, learned: Learned) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.clock += 1;
        let now = inner.clock;
        if let Some((_, used)) = inner.entries.get_mut(&hash) {
            *used = now;
            return;
        }
        let name = learned.operation.name.clone();
        let same: Vec<(&String, u64)> = inner
            .entries
            .iter()
            .filter(|(_, (l, _))| l.operation.name == name)
            .map(|(h, (_, u))| (h, *u))
            .collect();
        if same.len() >= PER_OPERATION {
            let oldest = same.iter().min_by_key(|(_, used)| *used).map(|(h, _)| (*h).clone());
            if let Some(oldest) = oldest {
                inner.entries.remove(&oldest);
            }
        }
        inner.entries.insert(hash, (learned, now));
    }

    /// How many hashes are learned for the operation named `name`.
    pub fn count(&self, name: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.values().filter(|(l, _)| &*l.operation.name == name).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_sixteen_per_operation_least_recently_used_first_out() {
        let doc = "query Q($appId: String!) { app(id: $appId) { name } }";
        let op = Arc::new(Operation::load("Q", "test", doc, None).unwrap());
        let learned = Learned { document: op.declared(), operation: op };
        let hashes = LearnedHashes::default();
        for i in 0..PER_OPERATION {
            hashes.learn(format!("h{i}"), learned.clone());
        }
        assert!(hashes.get("h0").is_some(), "h0 is now the most recently used");
        hashes.learn("new".into(), learned.clone());
        assert_eq!(hashes.count("Q"), PER_OPERATION);
        assert!(hashes.get("h1").is_none(), "the least recently used went");
        assert!(hashes.get("h0").is_some() && hashes.get("new").is_some());
    }
}

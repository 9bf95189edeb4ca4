//! Where the shared tier keeps things. Every key starts with `shared.key_prefix`;
//! an app's keys share the hash tag `{app id}` and the fleet's share `{fleet}`, so each
//! script touches one Cluster slot.

use crate::key::CacheKey;

/// The key names of one cache key.
#[derive(Debug)]
pub struct EntryKeys {
    /// The stored envelope.
    pub entry: String,
    /// The single-flight lock.
    pub lock: String,
    /// The app's purge epoch.
    pub epoch: String,
}

/// Key names under one prefix.
#[derive(Debug)]
pub struct KeyNames {
    prefix: String,
    budget: String,
    backoff: String,
    members: String,
    queries: String,
    channel: String,
}

impl KeyNames {
    /// Names under `prefix`.
    pub fn new(prefix: &str) -> Self {
        KeyNames {
            prefix: prefix.to_owned(),
            budget: format!("{prefix}{{fleet}}:budget"),
            backoff: format!("{prefix}{{fleet}}:backoff"),
            members: format!("{prefix}{{fleet}}:members"),
            queries: format!("{prefix}{{fleet}}:queries"),
            channel: format!("{prefix}purge"),
        }
    }

    /// The names for the cache key `key` (`/api/{app id}/…`); `None` for a key outside
    /// any app, which stays in the replica's own cache.
    pub fn entry(&self, key: &str) -> Option<EntryKeys> {
        let app = CacheKey::app_of(key)?;
        let tag = format!("{}{{{app}}}", self.prefix);
        Some(EntryKeys {
            entry: format!("{tag}:e:{key}"),
            lock: format!("{tag}:l:{key}"),
            epoch: self.epoch(app),
        })
    }

    /// The purge epoch of `app`.
    pub fn epoch(&self, app: &str) -> String {
        format!("{}{{{app}}}:gen", self.prefix)
    }

    /// The fleet's budget (GCRA's theoretical arrival time).
    pub fn budget(&self) -> &str {
        &self.budget
    }

    /// The fleet's back-off flag.
    pub fn backoff(&self) -> &str {
        &self.backoff
    }

    /// The members' sorted set.
    pub fn members(&self) -> &str {
        &self.members
    }

    /// The fleet's query leases (a sorted set of tokens scored by their end).
    pub fn queries(&self) -> &str {
        &self.queries
    }

    /// The purge channel.
    pub fn channel(&self) -> &str {
        &self.channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyKind;

    #[test]
    fn an_apps_keys_share_one_hash_tag() {
        let keys = KeyNames::new("gw:");
        let key = CacheKey::new("abc", KeyKind::Rest, "/api/abc/samples?limit=5");
        let names = keys.entry(key.as_str()).unwrap();
        assert_eq!(names.entry, "gw:{abc}:e:abc:rest:/api/abc/samples?limit=5");
        assert_eq!(names.lock, "gw:{abc}:l:abc:rest:/api/abc/samples?limit=5");
        assert_eq!(names.epoch, keys.epoch("abc"));
        assert!(keys.entry("/api/").is_none());
        assert!(keys.entry("/other").is_none());
        assert_eq!(keys.budget(), "gw:{fleet}:budget");
        assert_eq!(keys.queries(), "gw:{fleet}:queries");
    }
}

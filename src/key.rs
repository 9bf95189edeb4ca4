//! The cache key: one layout, owned here, that every tier and every purge agrees on.
//! A leaf: the route table makes keys, the cache and the shared tier keep them.
//!
//! Layout: `{app_id}:{kind}:{question}`. The app comes first, so one app's entries share
//! a prefix (a purge by app, the shared tier's hash tag) whatever kind of question they
//! answer; app ids never hold a `:` (configuration allows letters, digits, `-`, `_`, `.`).
//! The kind keeps kinds of questions apart: `rest` for a v1 REST answer, whose question
//! is its normalised upstream target; `v2` for a V2 body; `graphql` for a declared
//! GraphQL operation and its variables.

use std::fmt;
use std::sync::Arc;

/// Which API a cached answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// AppSignal's original REST API; the question is the normalised upstream target.
    Rest,
    /// AppSignal's Public API V2; the question is the route path, a space and the
    /// canonical body. A body naming several apps (`site_ids`) is keyed under the first
    /// in sorted order, and names the others in its body.
    V2,
    /// A declared GraphQL operation; the question is the operation's name, the SHA-256
    /// of the document sent upstream and the canonical variables, space-separated.
    GraphQl,
}

impl KeyKind {
    fn tag(self) -> &'static str {
        match self {
            KeyKind::Rest => "rest",
            KeyKind::V2 => "v2",
            KeyKind::GraphQl => "graphql",
        }
    }
}

/// A cache key: the app, the kind of question and the question, as one shared string
/// (cloning it clones a pointer; hashing it hashes its text once).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(Arc<str>);

impl CacheKey {
    /// The key of `question`, of `kind`, for app `app_id`.
    pub fn new(app_id: &str, kind: KeyKind, question: &str) -> Self {
        debug_assert!(!app_id.contains(':'), "app ids hold no ':'");
        CacheKey(format!("{app_id}:{}:{question}", kind.tag()).into())
    }

    /// The key as text: what moka hashes and the shared tier names.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared text, for a map keyed by it.
    pub fn text(&self) -> &Arc<str> {
        &self.0
    }

    /// The app id of a key's text; `None` for text that is no cache key.
    pub fn app_of(text: &str) -> Option<&str> {
        let (app, rest) = text.split_once(':')?;
        (!app.is_empty() && rest.contains(':')).then_some(app)
    }

    /// What every key of app `app_id` starts with.
    pub fn app_prefix(app_id: &str) -> String {
        format!("{app_id}:")
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_app_leads_and_parses_back() {
        let key = CacheKey::new("abc", KeyKind::Rest, "/api/abc/samples.json?limit=5");
        assert_eq!(key.as_str(), "abc:rest:/api/abc/samples.json?limit=5");
        assert_eq!(CacheKey::app_of(key.as_str()), Some("abc"));
        assert!(key.as_str().starts_with(&CacheKey::app_prefix("abc")));
        assert!(!key.as_str().starts_with(&CacheKey::app_prefix("ab")));
        assert_eq!(CacheKey::app_of("/api/abc/x"), None);
        assert_eq!(CacheKey::app_of(":rest:x"), None);
        assert_eq!(CacheKey::app_of("abc"), None);
    }
}

//! The app allowlist: which AppSignal apps the gateway serves, by id and alias.

use std::collections::HashMap;
use std::sync::Arc;

/// The app allowlist: an app not in it is a 404.
#[derive(Debug, Clone, Default)]
pub struct Apps {
    /// Maps every accepted spelling (id and alias) to the app's id.
    by_key: HashMap<String, Arc<str>>,
}

/// One allowlisted app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    /// AppSignal's application id, as it appears in upstream paths.
    pub id: Arc<str>,
    /// An optional alias usable in place of the id in gateway paths.
    pub name: Option<String>,
}

impl Apps {
    /// Builds the lookup table; validation has already rejected clashes.
    pub fn new(list: Vec<App>) -> Self {
        let mut by_key = HashMap::new();
        for app in &list {
            by_key.insert(app.id.to_string(), app.id.clone());
            if let Some(name) = &app.name {
                by_key.insert(name.clone(), app.id.clone());
            }
        }
        Apps { by_key }
    }

    /// Resolves an id or alias to the app id.
    pub fn resolve(&self, id_or_name: &str) -> Option<&Arc<str>> {
        self.by_key.get(id_or_name)
    }

    /// Every app's id, once each.
    pub fn ids(&self) -> Vec<Arc<str>> {
        let mut ids: Vec<_> = self.by_key.values().cloned().collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

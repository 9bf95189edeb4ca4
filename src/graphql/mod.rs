//! AppSignal's GraphQL API through declared read operations only.
//!
//! The gateway never sends a client's document. It sends only operations the operator
//! (or the built-in set) declared, each checked when the configuration loads:
//!
//! - [`check`] — the load-time rules (one named `query`, `$appId: String!`, the only root
//!   field `app(id: $appId)`, no denied field at any depth or through fragments, only
//!   `@include`/`@skip`, depth at most 12, allowed variable types), each refusal with its
//!   line and the field's path.
//! - [`canonical`] — the "checked operation" form a client's text is compared in (parsed,
//!   `__typename` selections dropped, printed canonically) and each document's SHA-256.
//! - [`variables`] — variables typed from their declarations, from a JSON object (`POST
//!   /graphql`) or from query parameters (the GET routes), written out canonically.
//! - [`learned`] — persisted-query hashes learned from clients (Apollo's APQ), at most
//!   [`learned::PER_OPERATION`] per operation.
//! - [`builtin`] — the built-in documents shipped in the binary.
//!
//! Pure but for a lock around the learned hashes; it renders no HTTP.

pub mod builtin;
pub mod canonical;
pub mod check;
pub mod learned;
pub mod variables;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::route::{graphql_route, GraphQlRoute, Route, TtlClass};

pub use check::Refusal;
pub use variables::Variable;

/// One declared operation, checked.
#[derive(Debug)]
pub struct Operation {
    /// Its name: the name in its document and the `{Operation}` of its GET route.
    pub name: Arc<str>,
    /// Where its document came from (a file, or `builtin/{name}.graphql`), for messages.
    pub source: String,
    /// The document as declared: what is sent upstream when a client's text adds nothing.
    pub document: Arc<str>,
    /// The checked form: parsed, `__typename` selections dropped, printed canonically.
    /// A client's text is this operation when its checked form is this.
    pub checked: String,
    /// The printed form (the checked form with the document's own `__typename`s): a
    /// client's text printing the same adds no `__typename`, and the declared document
    /// is sent for it.
    pub printed: String,
    /// The SHA-256 of `document`, lower-case hex: the persisted-query hash it ships with.
    pub sha256: String,
    /// Its variables but `$appId`, as declared.
    pub variables: Vec<Variable>,
    /// Its GET route: one parameter per variable, its TTL class.
    pub route: &'static Route,
    /// Its own `ttl`, when it sets one.
    pub ttl: Option<Duration>,
}

impl Operation {
    /// Checks `document`, declared as `name` from `source`, with its own `ttl` if any.
    /// Every refusal is returned, each with its line and path.
    pub fn load(
        name: &str,
        source: &str,
        document: &str,
        ttl: Option<Duration>,
    ) -> Result<Operation, Vec<Refusal>> {
        let variables = check::check(document, name)?;
        let forms = canonical::forms(document)
            .ok_or_else(|| vec![Refusal { line: 1, path: String::new(), reason: "does not parse".into() }])?;
        let route = graphql_route(GraphQlRoute {
            operation: name.to_owned(),
            params: variables.iter().map(|v| (v.param_name(), v.kind, v.required)).collect(),
            ttl: ttl.map_or(TtlClass::GraphQl, TtlClass::Fixed),
        });
        Ok(Operation {
            name: Arc::from(name),
            source: source.to_owned(),
            document: Arc::from(document),
            checked: forms.checked,
            printed: forms.printed,
            sha256: canonical::sha256_hex(document.as_bytes()),
            variables,
            route,
            ttl,
        })
    }
}

/// A document the gateway may send to AppSignal: a declared operation's own document, or
/// the gateway's printing of a client's text whose checked form is that operation's (it
/// differs only by `__typename` selections). Only this module makes one, and the upstream
/// body is written only from one, so no client document ever reaches AppSignal.
#[derive(Debug, Clone)]
pub struct Sendable {
    text: Arc<str>,
    /// The SHA-256 of `text`, lower-case hex: part of the cache key.
    sha256: Arc<str>,
}

impl Sendable {
    /// The document's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its SHA-256, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }
}

impl Operation {
    /// The declared document, to send as it is.
    pub fn declared(&self) -> Sendable {
        Sendable { text: self.document.clone(), sha256: Arc::from(self.sha256.as_str()) }
    }

    /// What to send for a client's text parsed into `forms`: `None` unless its checked
    /// form is this operation's; the declared document when it adds no `__typename`;
    /// else the gateway's printing of it, `__typename`s kept (what Apollo's cache expects).
    pub fn as_sent(&self, forms: canonical::Forms) -> Option<Sendable> {
        if forms.checked != self.checked {
            return None;
        }
        if forms.printed == self.printed {
            return Some(self.declared());
        }
        let sha256 = Arc::from(canonical::sha256_hex(forms.printed.as_bytes()));
        Some(Sendable { text: Arc::from(forms.printed), sha256 })
    }
}

/// The declared operations of one configuration: by name (the GET routes), by checked
/// form (a client's text) and by the hash of the declared document.
#[derive(Debug, Default)]
pub struct Operations {
    /// In declaration order: built-ins first, then `graphql.operations`.
    list: Vec<Arc<Operation>>,
    by_name: HashMap<Arc<str>, Arc<Operation>>,
    by_checked: HashMap<String, Arc<Operation>>,
    by_hash: HashMap<String, Arc<Operation>>,
}

impl Operations {
    /// The set of `operations`; names are unique (validation saw to it). Two operations
    /// with the same checked form are one question: the first declared answers both.
    pub fn new(operations: Vec<Operation>) -> Self {
        let mut set = Operations::default();
        for operation in operations {
            let operation = Arc::new(operation);
            set.by_name.insert(operation.name.clone(), operation.clone());
            set.by_checked.entry(operation.checked.clone()).or_insert_with(|| operation.clone());
            set.by_hash.entry(operation.sha256.clone()).or_insert_with(|| operation.clone());
            set.list.push(operation);
        }
        set
    }

    /// Every operation, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Operation>> {
        self.list.iter()
    }

    /// Whether no operation is declared (GraphQL off, or nothing declared).
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The operation named `name`.
    pub fn named(&self, name: &str) -> Option<&Arc<Operation>> {
        self.by_name.get(name)
    }

    /// The operation whose checked form is `checked`.
    pub fn by_checked(&self, checked: &str) -> Option<&Arc<Operation>> {
        self.by_checked.get(checked)
    }

    /// The operation whose declared document has SHA-256 `hash` (lower-case hex).
    pub fn by_hash(&self, hash: &str) -> Option<&Arc<Operation>> {
        self.by_hash.get(hash)
    }

    /// The longest `ttl` an operation sets, if any sets one.
    pub fn longest_ttl(&self) -> Option<Duration> {
        self.list.iter().filter_map(|o| o.ttl).max()
    }
}

//! `graphql.*`: the declared operations, each document checked by
//! [`crate::graphql::check`] with every refusal reported as a configuration error naming
//! the key, the file, the line and the field's path. The documents were read by
//! `Files::read` (the only IO of validation).

use std::sync::Arc;

use super::raw::RawGraphql;
use super::settings::GraphqlSettings;
use super::validate::Collector;
use crate::graphql::{builtin, Operation, Operations, Refusal};
use crate::route::is_ident;

/// The checked operations of `raw` (documents in `files`, one per entry of
/// `raw.operations`), every problem reported to `c`.
pub(super) fn graphql(c: &mut Collector, raw: &RawGraphql, files: Vec<Option<String>>) -> GraphqlSettings {
    if !raw.enabled {
        return GraphqlSettings { enabled: false, operations: Arc::new(Operations::default()) };
    }
    let mut operations = Vec::new();
    if raw.builtin {
        for (name, document) in builtin::DOCUMENTS {
            let source = builtin::source(name);
            match Operation::load(name, &source, document, None) {
                Ok(operation) => operations.push(operation),
                Err(refusals) => report(c, "graphql.builtin", &source, &refusals),
            }
        }
    }
    for (i, (op, document)) in raw.operations.iter().zip(files).enumerate() {
        let key = format!("graphql.operations[{i}]");
        let mut ok = true;
        if !is_ident(&op.name) {
            c.fail(format!("{key}.name"), "must be a GraphQL name: letters, digits and underscores, not starting with a digit, at most 64");
            ok = false;
        } else if operations.iter().any(|o: &Operation| *o.name == *op.name) {
            let whose = match builtin::DOCUMENTS.iter().any(|(n, _)| *n == op.name) && raw.builtin {
                true => "a built-in operation (set graphql.builtin: false to replace it)",
                false => "another operation",
            };
            c.fail(format!("{key}.name"), format!("\"{}\" is already the name of {whose}", op.name));
            ok = false;
        }
        let ttl = op.ttl.as_ref().map(|t| c.duration(&format!("{key}.ttl"), t, false));
        // Unreadable: already an error.
        let Some(document) = document else { continue };
        match Operation::load(&op.name, &op.file, &document, ttl) {
            Ok(operation) if ok => operations.push(operation),
            Ok(_) => {}
            Err(refusals) => report(c, &format!("{key}.file"), &op.file, &refusals),
        }
    }
    GraphqlSettings { enabled: true, operations: Arc::new(Operations::new(operations)) }
}

/// Each refusal as an error of `key`: `{file} line {n}: `{path}`: {reason}`.
fn report(c: &mut Collector, key: &str, file: &str, refusals: &[Refusal]) {
    for refusal in refusals {
        c.fail(key, format!("{file} {refusal}"));
    }
}

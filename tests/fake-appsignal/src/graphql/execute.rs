//! A small GraphQL executor: runs one operation of a parsed document over the fake's world.
//!
//! It walks the selection sets the way a GraphQL server does (aliases, `__typename`, named
//! and inline fragments with type conditions, `@include`/`@skip`), so every answer is shaped
//! exactly like the document that asked, whatever document that is: a built-in operation, the
//! text Apollo Client sends with its `__typename`s, or a hostile one. Field values come from
//! [`World::resolve`]; a field the world does not know is the error AppSignal's server gives.

use std::collections::HashMap;

use apollo_parser::cst::{self, CstNode};
use serde_json::{json, Map, Value};

use super::data::World;

/// How running a document ended.
pub enum Outcome {
    /// The `data` of the answer.
    Data(Value),
    /// The document or its variables were refused before execution: these `errors`, HTTP 400.
    Refused(Vec<Value>),
}

/// Parses `query`, picks the operation, coerces `variables`, and executes it over `world`.
pub fn run(query: &str, operation_name: Option<&str>, variables: &Value, world: &World) -> Outcome {
    let tree = apollo_parser::Parser::new(query).parse();
    if let Some(e) = tree.errors().next() {
        let (line, column) = position(query, e.index());
        return Outcome::Refused(vec![json!({
            "message": format!("Parse error on {:?} ({})", e.data(), e.message()),
            "locations": [{"line": line, "column": column}],
        })]);
    }
    let document = tree.document();
    let mut operations = Vec::new();
    let mut fragments = HashMap::new();
    for definition in document.definitions() {
        match definition {
            cst::Definition::OperationDefinition(op) => operations.push(op),
            cst::Definition::FragmentDefinition(f) => {
                let name = f.fragment_name().and_then(|n| n.name()).map(|n| n.text().to_string());
                fragments.insert(name.unwrap_or_default(), f);
            }
            _ => return refused("Definitions of types are not allowed in an executable document"),
        }
    }
    let operation = match (operation_name, operations.len()) {
        (_, 0) => return refused("No operations in this document"),
        (None, 1) => operations.remove(0),
        (None, _) => return refused("An operation name is required"),
        (Some(wanted), _) => {
            let named = |op: &cst::OperationDefinition| op.name().is_some_and(|n| n.text() == wanted);
            match operations.into_iter().find(named) {
                Some(op) => op,
                None => return refused(&format!("No operation named \"{wanted}\"")),
            }
        }
    };
    let vars = match coerce(&operation, variables, query) {
        Ok(vars) => vars,
        Err(errors) => return Outcome::Refused(errors),
    };
    let root = match operation.operation_type() {
        Some(t) if t.mutation_token().is_some() => json!({"__typename": "Mutation"}),
        Some(t) if t.subscription_token().is_some() => {
            return refused("Subscriptions are not supported over HTTP")
        }
        _ => json!({"__typename": "Query"}),
    };
    let mut exec = Exec { src: query, vars, fragments, world, errors: Vec::new() };
    let data = match operation.selection_set() {
        Some(set) => exec.object(&root, &set),
        None => Value::Null,
    };
    match exec.errors.is_empty() {
        true => Outcome::Data(data),
        false => Outcome::Refused(exec.errors),
    }
}

fn refused(message: &str) -> Outcome {
    Outcome::Refused(vec![json!({ "message": message })])
}

/// One execution: the document's text (for locations), the coerced variables, its fragments.
struct Exec<'a> {
    src: &'a str,
    vars: Map<String, Value>,
    fragments: HashMap<String, cst::FragmentDefinition>,
    world: &'a World,
    errors: Vec<Value>,
}

impl Exec<'_> {
    /// Executes `set` on one object (or on each element of a list, or on null).
    fn value(&mut self, value: &Value, set: &cst::SelectionSet) -> Value {
        match value {
            Value::Array(items) => Value::Array(items.iter().map(|v| self.value(v, set)).collect()),
            Value::Object(_) => self.object(value, set),
            _ => Value::Null,
        }
    }

    fn object(&mut self, parent: &Value, set: &cst::SelectionSet) -> Value {
        let mut out = Map::new();
        self.collect(parent, set, &mut out);
        Value::Object(out)
    }

    /// Adds the fields `set` selects on `parent` to `out`, through fragments.
    fn collect(&mut self, parent: &Value, set: &cst::SelectionSet, out: &mut Map<String, Value>) {
        let typename = parent["__typename"].as_str().unwrap_or("").to_owned();
        for selection in set.selections() {
            match selection {
                cst::Selection::Field(field) => {
                    if self.included(field.directives()) {
                        self.field(parent, &typename, &field, out);
                    }
                }
                cst::Selection::InlineFragment(inline) => {
                    let applies = inline.type_condition().is_none_or(|c| is_a(&typename, &condition(&c)));
                    if applies && self.included(inline.directives()) {
                        if let Some(inner) = inline.selection_set() {
                            self.collect(parent, &inner, out);
                        }
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let name = spread.fragment_name().and_then(|n| n.name()).map(|n| n.text().to_string());
                    let Some(fragment) = name.and_then(|n| self.fragments.get(&n).cloned()) else {
                        self.error(spread.syntax(), "Fragment is not defined".into());
                        continue;
                    };
                    let applies = fragment.type_condition().is_some_and(|c| is_a(&typename, &condition(&c)));
                    if applies && self.included(spread.directives()) {
                        if let Some(inner) = fragment.selection_set() {
                            self.collect(parent, &inner, out);
                        }
                    }
                }
            }
        }
    }

    fn field(&mut self, parent: &Value, typename: &str, field: &cst::Field, out: &mut Map<String, Value>) {
        let Some(name) = field.name().map(|n| n.text().to_string()) else { return };
        let key = field.alias().and_then(|a| a.name()).map(|n| n.text().to_string()).unwrap_or(name.clone());
        if name == "__typename" {
            out.insert(key, json!(typename));
            return;
        }
        let args = self.arguments(field.arguments());
        let resolved = match self.world.resolve(parent, typename, &name, &args) {
            Ok(v) => v,
            Err(message) => {
                self.error(field.syntax(), message);
                return;
            }
        };
        let value = match field.selection_set() {
            Some(set) => self.value(&resolved, &set),
            None if resolved.is_object()
                || resolved.as_array().is_some_and(|a| a.iter().any(Value::is_object)) =>
            {
                self.error(
                    field.syntax(),
                    format!("Field must have selections (field '{name}' returns {typename} objects)"),
                );
                return;
            }
            None => resolved,
        };
        // The same response key twice (a field and a fragment selecting it) merges objects.
        match (out.get_mut(&key), value) {
            (Some(Value::Object(have)), Value::Object(more)) => have.extend(more),
            (_, value) => {
                out.insert(key, value);
            }
        }
    }

    fn arguments(&self, args: Option<cst::Arguments>) -> Map<String, Value> {
        let mut out = Map::new();
        for arg in args.iter().flat_map(|a| a.arguments()) {
            if let (Some(name), Some(value)) = (arg.name(), arg.value()) {
                out.insert(name.text().to_string(), literal(&value, Some(&self.vars)));
            }
        }
        out
    }

    /// `@include(if:)` and `@skip(if:)`.
    fn included(&self, directives: Option<cst::Directives>) -> bool {
        directives.iter().flat_map(|d| d.directives()).all(|d| {
            let name = d.name().map(|n| n.text().to_string()).unwrap_or_default();
            let flag = self.arguments(d.arguments()).get("if").and_then(Value::as_bool).unwrap_or(false);
            match name.as_str() {
                "include" => flag,
                "skip" => !flag,
                _ => true,
            }
        })
    }

    fn error(&mut self, node: &cst::SyntaxNode, message: String) {
        let (line, column) = position(self.src, usize::from(node.text_range().start()));
        self.errors.push(json!({
            "message": message,
            "locations": [{"line": line, "column": column}],
            "extensions": {"code": "undefinedField"},
        }));
    }
}

/// The request's variables checked against the operation's declarations, defaults applied.
fn coerce(op: &cst::OperationDefinition, given: &Value, src: &str) -> Result<Map<String, Value>, Vec<Value>> {
    let mut vars = Map::new();
    let mut errors = Vec::new();
    for def in op.variable_definitions().iter().flat_map(|d| d.variable_definitions()) {
        let Some(name) = def.variable().map(|v| v.text().to_string()) else { continue };
        let ty = def.ty().map(|t| t.syntax().text().to_string()).unwrap_or_default();
        let value = match given.get(&name) {
            Some(v) => v.clone(),
            None => {
                def.default_value().and_then(|d| d.value()).map(|v| literal(&v, None)).unwrap_or(Value::Null)
            }
        };
        if let Err(explanation) = check_type(&ty, &value) {
            let (line, column) = position(src, usize::from(def.syntax().text_range().start()));
            errors.push(json!({
                "message": format!("Variable ${name} of type {ty} was provided invalid value"),
                "locations": [{"line": line, "column": column}],
                "extensions": {"value": value, "problems": [{"path": [], "explanation": explanation}]},
            }));
        }
        vars.insert(name, value);
    }
    match errors.is_empty() {
        true => Ok(vars),
        false => Err(errors),
    }
}

/// The input coercion AppSignal's server applies to the variable types dashboards use.
fn check_type(ty: &str, value: &Value) -> Result<(), String> {
    let ty = ty.trim();
    if let Some(inner) = ty.strip_suffix('!') {
        return match value.is_null() {
            true => Err("Expected value to not be null".into()),
            false => check_type(inner, value),
        };
    }
    if value.is_null() {
        return Ok(());
    }
    if let Some(inner) = ty.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        return match value {
            Value::Array(items) => items.iter().try_for_each(|v| check_type(inner, v)),
            single => check_type(inner, single),
        };
    }
    let ok = match ty {
        "String" | "ID" => value.is_string() || (ty == "ID" && value.is_i64()),
        "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "Float" => value.is_number(),
        "Boolean" => value.is_boolean(),
        "DateTime" => value.as_str().is_some_and(|s| super::data::parse_time(s).is_some()),
        other => match super::data::enum_values(other) {
            Some(values) => value.as_str().is_some_and(|s| values.contains(&s)),
            None => return Err(format!("Unknown type {other}")),
        },
    };
    match ok {
        true => Ok(()),
        false => Err(format!("Could not coerce value {value} to {ty}")),
    }
}

/// A literal (or a variable, read from `vars`) as JSON.
fn literal(value: &cst::Value, vars: Option<&Map<String, Value>>) -> Value {
    match value {
        cst::Value::Variable(v) => {
            vars.and_then(|vars| vars.get(v.text().as_str())).cloned().unwrap_or(Value::Null)
        }
        cst::Value::StringValue(s) => json!(String::from(s)),
        cst::Value::IntValue(i) => i32::try_from(i).map(|n| json!(n)).unwrap_or(Value::Null),
        cst::Value::FloatValue(f) => f64::try_from(f).map(|n| json!(n)).unwrap_or(Value::Null),
        cst::Value::BooleanValue(b) => json!(b.true_token().is_some()),
        cst::Value::NullValue(_) => Value::Null,
        cst::Value::EnumValue(e) => json!(e.text().to_string()),
        cst::Value::ListValue(l) => Value::Array(l.values().map(|v| literal(&v, vars)).collect()),
        cst::Value::ObjectValue(o) => Value::Object(
            o.object_fields()
                .filter_map(|f| Some((f.name()?.text().to_string(), literal(&f.value()?, vars))))
                .collect(),
        ),
    }
}

fn condition(c: &cst::TypeCondition) -> String {
    c.named_type().and_then(|t| t.name()).map(|n| n.text().to_string()).unwrap_or_default()
}

/// Whether an object of `typename` matches a fragment on `cond` (the type, or an abstract
/// type it belongs to in AppSignal's schema).
fn is_a(typename: &str, cond: &str) -> bool {
    const INCIDENTS: &[&str] =
        &["AnomalyIncident", "ExceptionIncident", "LogIncident", "PerformanceIncident"];
    const MARKERS: &[&str] = &["CustomMarker", "DeployMarker", "NotificationMarker"];
    typename == cond
        || match cond {
            "Incident" | "IncidentInterface" => INCIDENTS.contains(&typename),
            "TransactionIncidentInterface" => matches!(typename, "ExceptionIncident" | "PerformanceIncident"),
            "MarkerInterface" | "MarkerUnion" => MARKERS.contains(&typename),
            _ => false,
        }
}

/// 1-based line and column of a byte offset.
fn position(src: &str, offset: usize) -> (usize, usize) {
    let before = &src[..offset.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

//! Variables typed from their declarations: what a client may pass, from a JSON object
//! (`POST /graphql`, `GET /graphql`) or from query parameters (the GET routes), checked
//! and written out as one canonical JSON object (keys sorted, no whitespace, `appId` the
//! resolved app id).
//!
//! Declared types: `String`, `ID` (text), `Int` (32-bit; a variable named `limit`
//! 1..=100), `Float`, `Boolean`, `DateTime` (Unix seconds or RFC 3339 in, RFC 3339 UTC
//! out, as `since` is read), any other named type an enum (an identifier), and lists of
//! these, with `!` and defaults. A GraphQL document cannot say which other named types
//! are enums and which are input objects; any is read as an enum, so no object can be
//! passed.

use std::collections::BTreeMap;

use apollo_parser::cst::{self, CstNode};
use serde_json::Value;

use super::Operation;
use crate::route::{ParamError, ParamKind, BOOL, DATE_TIME, FLOAT, IDENT, INT, TEXT};

/// The most elements a list variable may hold.
pub const MAX_LIST: usize = 100;

/// The `limit` variable's bound, as dashboards page.
pub const LIMIT: ParamKind = ParamKind::Ranged(1, 100);

/// One declared variable (never `$appId`, which the path or `variables.appId` binds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Its name, without `$`.
    pub name: String,
    /// How a value is checked: a scalar kind, or [`ParamKind::ListOf`] one.
    pub kind: ParamKind,
    /// Declared `!`: `null` is refused.
    pub non_null: bool,
    /// Declared `!` without a default: a request must give it.
    pub required: bool,
}

impl Variable {
    /// Its GET route parameter: its name, `name[]` for a list.
    pub fn param_name(&self) -> String {
        match self.kind {
            ParamKind::ListOf(_) => format!("{}[]", self.name),
            _ => self.name.clone(),
        }
    }
}

/// The variable `$name: ty` (with a default when `has_default`), or why its type is
/// not one a declared operation may take.
pub(super) fn declared(name: &str, ty: &cst::Type, has_default: bool) -> Result<Variable, String> {
    let (kind, non_null) = match ty {
        cst::Type::NonNullType(inner) => match (inner.named_type(), inner.list_type()) {
            (Some(named), _) => (scalar(name, &named)?, true),
            (None, Some(list)) => (list_of(name, &list)?, true),
            (None, None) => return Err("has no type".into()),
        },
        cst::Type::NamedType(named) => (scalar(name, named)?, false),
        cst::Type::ListType(list) => (list_of(name, list)?, false),
    };
    Ok(Variable { name: name.to_owned(), kind, non_null, required: non_null && !has_default })
}

fn scalar(variable: &str, named: &cst::NamedType) -> Result<ParamKind, String> {
    let name = named.name().map(|n| n.text().to_string()).unwrap_or_default();
    Ok(match name.as_str() {
        "String" | "ID" => TEXT,
        "Int" if variable == "limit" => LIMIT,
        "Int" => INT,
        "Float" => FLOAT,
        "Boolean" => BOOL,
        "DateTime" => DATE_TIME,
        "" => return Err("has no type".into()),
        // AppSignal's enums (`IncidentStateEnum`); see the module doc.
        _ => IDENT,
    })
}

fn list_of(variable: &str, list: &cst::ListType) -> Result<ParamKind, String> {
    let inner = match list.ty() {
        Some(cst::Type::NamedType(named)) => scalar(variable, &named)?,
        Some(cst::Type::NonNullType(inner)) => match inner.named_type() {
            Some(named) => scalar(variable, &named)?,
            None => return Err("is a list of lists: not a type a declared operation takes".into()),
        },
        Some(cst::Type::ListType(_)) => {
            return Err("is a list of lists: not a type a declared operation takes".into())
        }
        None => return Err(format!("has no element type: `{}`", list.syntax())),
    };
    Ok(ParamKind::ListOf(match inner {
        ParamKind::Ranged(..) => &INT,
        ParamKind::Float => &FLOAT,
        ParamKind::Bool => &BOOL,
        ParamKind::IsoTime => &DATE_TIME,
        ParamKind::Ident => &IDENT,
        _ => &TEXT,
    }))
}

/// The variables of a JSON `variables` object (without `appId`, which the caller
/// resolves), checked against `operation`'s declarations, each named by its path
/// (`variables.limit`, `variables.namespaces[2]`).
pub fn from_json(
    operation: &Operation,
    given: &serde_json::Map<String, Value>,
) -> Result<BTreeMap<String, Value>, ParamError> {
    let mut out = BTreeMap::new();
    for (name, value) in given {
        if name == "appId" {
            continue;
        }
        let path = format!("variables.{name}");
        let Some(variable) = operation.variables.iter().find(|v| v.name == *name) else {
            return Err(ParamError::new(&path, "is not a variable of this operation"));
        };
        let value = match (variable.kind, value) {
            (_, Value::Null) if variable.non_null => return Err(ParamError::new(&path, "must not be null")),
            (_, Value::Null) => Value::Null,
            (ParamKind::ListOf(inner), Value::Array(items)) => {
                if items.len() > MAX_LIST {
                    return Err(ParamError::new(&path, format!("must hold at most {MAX_LIST} values")));
                }
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| json_scalar(*inner, &format!("{path}[{i}]"), item));
                Value::Array(items.collect::<Result<_, _>>()?)
            }
            (ParamKind::ListOf(_), _) => return Err(ParamError::new(&path, "must be a list")),
            (kind, value) => json_scalar(kind, &path, value)?,
        };
        out.insert(name.clone(), value);
    }
    if let Some(missing) = operation.variables.iter().find(|v| v.required && !out.contains_key(&v.name)) {
        return Err(ParamError::new(&format!("variables.{}", missing.name), "is required"));
    }
    Ok(out)
}

/// One scalar of kind `kind` from JSON, normalised as the GET routes normalise it.
fn json_scalar(kind: ParamKind, path: &str, value: &Value) -> Result<Value, ParamError> {
    let text = match (kind, value) {
        (ParamKind::Ranged(min, max), Value::Number(n)) => {
            return match n.as_i64().filter(|n| (min..=max).contains(n)) {
                Some(n) => Ok(Value::from(n)),
                None => Err(ParamError::new(path, format!("must be a whole number from {min} to {max}"))),
            }
        }
        (ParamKind::Float, Value::Number(n)) => return Ok(Value::Number(n.clone())),
        (ParamKind::Bool, Value::Bool(b)) => return Ok(Value::Bool(*b)),
        (ParamKind::IsoTime, Value::Number(n)) if n.is_u64() => n.to_string(),
        (ParamKind::Text | ParamKind::Ident | ParamKind::IsoTime, Value::String(s)) => s.clone(),
        _ => return Err(ParamError::new(path, format!("must be {}", describe(kind)))),
    };
    kind.normalise(path, &text).map(Value::String)
}

/// What a value of `kind` is, for a refusal.
fn describe(kind: ParamKind) -> &'static str {
    match kind {
        ParamKind::Ranged(..) => "a whole number",
        ParamKind::Float => "a number",
        ParamKind::Bool => "true or false",
        ParamKind::IsoTime => "an RFC 3339 time or Unix seconds",
        ParamKind::Ident => "an enum value (an identifier)",
        _ => "a string",
    }
}

/// The variables of a GET route's normalised parameters (a list's values sorted and
/// de-duplicated, as every repeated parameter is).
pub fn from_params(operation: &Operation, pairs: &[(&'static str, String)]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (param, value) in pairs {
        let Some(variable) = operation.variables.iter().find(|v| v.param_name() == *param) else { continue };
        match variable.kind {
            ParamKind::ListOf(inner) => {
                let list = out.entry(variable.name.clone()).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(items) = list {
                    items.push(param_value(*inner, value));
                }
            }
            kind => {
                out.insert(variable.name.clone(), param_value(kind, value));
            }
        }
    }
    out
}

/// A normalised parameter value as the JSON its kind is.
fn param_value(kind: ParamKind, value: &str) -> Value {
    match kind {
        ParamKind::Ranged(..) => value.parse::<i64>().map_or(Value::Null, Value::from),
        ParamKind::Float => value
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        ParamKind::Bool => Value::Bool(value == "true"),
        _ => Value::String(value.to_owned()),
    }
}

/// The canonical variables: `appId` the resolved id, keys sorted, no whitespace.
pub fn canonical(app_id: &str, mut variables: BTreeMap<String, Value>) -> String {
    variables.insert("appId".into(), Value::String(app_id.to_owned()));
    // A BTreeMap serialises in key order; the values are scalars and lists of them.
    serde_json::to_string(&variables).unwrap_or_default()
}

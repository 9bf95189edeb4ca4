//! The JSON Schema of every V2 body, made from the body structs themselves: each field
//! type says what it accepts ([`Schema`]), and [`described!`] wraps a body struct,
//! unchanged, to list its fields' schemas in declaration order. So the OpenAPI
//! `requestBody` and the parser are one table: a field added to a struct is in the
//! document, with its bounds, without another line.
//!
//! What a schema cannot say is told in words by the route ([`rules`]): `from` not after
//! `to`, the window within `upstream.max_query_range`, times from 1970, no tag key twice,
//! and apps that must be allowlisted (never listed here).

use serde_json::{json, Value};

use super::fields::{Bounded, Ident, Order, Ranged, Tags, Text, MAX_IDENT, MAX_STRING, MAX_TAGS};
use super::time::{CursorTime, Time};
use super::BodyKind;

/// No control characters (Unicode category Cc), as [`Text`] requires.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";

/// What a value of this type accepts, as JSON Schema (2020-12, OpenAPI 3.1's dialect).
pub trait Schema {
    /// Whether the field may be left out (an `Option`; `null` is then accepted too).
    const OPTIONAL: bool = false;

    /// The schema.
    fn schema() -> Value;
}

impl Schema for Text {
    fn schema() -> Value {
        json!({ "type": "string", "maxLength": MAX_STRING, "pattern": TEXT_PATTERN })
    }
}

impl Schema for Ident {
    fn schema() -> Value {
        json!({
            "type": "string", "minLength": 1, "maxLength": MAX_IDENT, "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
            "description": "An identifier, forwarded as sent (AppSignal's letter case varies)."
        })
    }
}

impl<const LO: u64, const HI: u64> Schema for Ranged<LO, HI> {
    fn schema() -> Value {
        json!({ "type": "integer", "minimum": LO, "maximum": HI })
    }
}

impl<T: Schema, const MIN: usize, const N: usize> Schema for Bounded<T, MIN, N> {
    fn schema() -> Value {
        json!({ "type": "array", "items": T::schema(), "minItems": MIN, "maxItems": N })
    }
}

impl Schema for Tags {
    fn schema() -> Value {
        json!({
            "type": "object", "maxProperties": MAX_TAGS,
            "propertyNames": Text::schema(), "additionalProperties": Text::schema(),
            "description": "Tag filters, name to value (`*` a wildcard); no name twice."
        })
    }
}

impl Schema for Order {
    fn schema() -> Value {
        json!({ "type": "string", "enum": ["ASC", "DESC"] })
    }
}

impl Schema for bool {
    fn schema() -> Value {
        json!({ "type": "boolean" })
    }
}

impl Schema for Time {
    fn schema() -> Value {
        json!({ "$ref": "#/components/schemas/V2Time" })
    }
}

impl Schema for CursorTime {
    fn schema() -> Value {
        json!({ "$ref": "#/components/schemas/V2Time" })
    }
}

impl<T: Schema> Schema for Option<T> {
    const OPTIONAL: bool = true;

    fn schema() -> Value {
        json!({ "anyOf": [T::schema(), { "type": "null" }] })
    }
}

/// `V2Time`: what a body's `from`, `to` and `cursor.time` accept.
pub fn time() -> Value {
    json!({
        "description": "Unix seconds (a number or a string of digits), or an RFC 3339 time; from 1970 \
            to 9999. Forwarded as RFC 3339 UTC.",
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": super::time::MAX_UNIX },
            { "type": "string", "pattern": "^[0-9]{1,12}$" },
            { "type": "string", "format": "date-time" }
        ],
        "examples": [1_700_000_000, "2023-11-14T22:13:20Z"]
    })
}

/// A closed object of `fields`: (name, optional, schema), required unless optional.
pub fn object(fields: &[(&str, bool, Value)]) -> Value {
    let properties: serde_json::Map<String, Value> =
        fields.iter().map(|(name, _, schema)| ((*name).to_owned(), schema.clone())).collect();
    let required: Vec<&str> =
        fields.iter().filter(|(_, optional, _)| !optional).map(|(n, _, _)| *n).collect();
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// Wraps a body struct (all of whose fields are named as serde reads them) and makes
/// its [`Schema`] from its fields' types, in declaration order.
macro_rules! described {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* $field: $ty ),*
        }

        impl $crate::v2::schema::Schema for $name {
            fn schema() -> serde_json::Value {
                $crate::v2::schema::object(&[$((
                    stringify!($field),
                    <$ty as $crate::v2::schema::Schema>::OPTIONAL,
                    <$ty as $crate::v2::schema::Schema>::schema(),
                )),*])
            }
        }
    };
}
pub(crate) use described;

/// The schema of the body `kind` names, and its name among the document's components.
pub fn body(kind: BodyKind) -> (&'static str, Value) {
    use super::body as b;
    match kind {
        BodyKind::Timeseries => ("V2TimeseriesQuery", b::Timeseries::schema()),
        BodyKind::MetricsList => ("V2MetricsListQuery", b::MetricsList::schema()),
        BodyKind::LogLines => ("V2LogLinesQuery", b::LogLines::schema()),
        BodyKind::Traces => ("V2TracesQuery", b::Traces::schema()),
        BodyKind::OneTrace => ("V2TraceQuery", b::OneTrace::schema()),
        BodyKind::Actions => ("V2ActionsQuery", b::Actions::schema()),
        BodyKind::DeployStats => ("V2DeployStatsQuery", b::DeployStats::schema()),
    }
}

/// What the body `kind` must also satisfy that its schema cannot say (a 400 or 404
/// otherwise), in words.
pub fn rules(kind: BodyKind) -> String {
    let window = match kind {
        BodyKind::OneTrace => "",
        BodyKind::Timeseries | BodyKind::MetricsList | BodyKind::Actions => {
            "`from` is not after `to`, and the window is at most `upstream.max_query_range` (400 \
            otherwise; both are rounded down to the route's TTL with `cache.align_times`). "
        }
        BodyKind::LogLines | BodyKind::Traces | BodyKind::DeployStats => {
            "With both `from` and `to`: `from` is not after `to`, and the window is at most \
            `upstream.max_query_range` (400 otherwise; both are rounded down to the route's TTL with \
            `cache.align_times`). "
        }
    };
    format!(
        "{window}Every app named (`site_id`, each of `site_ids`) is an allowlisted app id or alias within \
        the key's apps (404 otherwise, as for an unknown app). No tag name twice."
    )
}

//! The canonical body: parsed, normalised and written back out by the gateway.
//!
//! Parsing goes through `serde_path_to_error`, so a refused value is named by its path
//! (`select[0].field`); a missing field is named at its parent, so the field's
//! own name is appended. Syntax errors (malformed JSON, invalid UTF-8, a body cut
//! short, nesting past serde_json's recursion limit) carry serde_json's line and column.

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::body::{self, Normalise};
use super::{BodyKind, Cx, V2Error};
use crate::route::ParamError;

/// The canonical body of `kind` for `bytes` and the apps it names (sorted, at least one).
pub fn canonical(kind: BodyKind, bytes: &[u8], cx: &Cx<'_>) -> Result<(Bytes, Vec<Arc<str>>), V2Error> {
    match kind {
        BodyKind::Timeseries => write::<body::Timeseries>(bytes, cx),
        BodyKind::MetricsList => write::<body::MetricsList>(bytes, cx),
        BodyKind::LogLines => write::<body::LogLines>(bytes, cx),
        BodyKind::Traces => write::<body::Traces>(bytes, cx),
        BodyKind::OneTrace => write::<body::OneTrace>(bytes, cx),
        BodyKind::Actions => write::<body::Actions>(bytes, cx),
        BodyKind::DeployStats => write::<body::DeployStats>(bytes, cx),
    }
}

fn write<T: DeserializeOwned + Serialize + Normalise>(
    bytes: &[u8],
    cx: &Cx<'_>,
) -> Result<(Bytes, Vec<Arc<str>>), V2Error> {
    let mut value: T = parse(bytes)?;
    let apps = value.normalise(cx)?;
    let body =
        serde_json::to_vec(&value).map_err(|_| V2Error::Malformed("the body could not be written".into()))?;
    Ok((Bytes::from(body), apps))
}

/// Parses one JSON object into `T`.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, V2Error> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(V2Error::Malformed("the body must be one JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if !inner.is_data() {
            return malformed(&inner);
        }
        field_error(&path, &inner)
    })?;
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

fn malformed(e: &serde_json::Error) -> V2Error {
    // serde_json's syntax messages end in "at line L column C" and quote no input.
    V2Error::Malformed(format!("malformed JSON: {e}"))
}

/// The 400 for a refused value at `path`, naming an unknown, duplicate or missing
/// field by its own path rather than its parent's.
fn field_error(path: &str, e: &serde_json::Error) -> V2Error {
    let text = e.to_string();
    // Line and column are noise for a value error: the path says where.
    let reason = text.split(" at line ").next().unwrap_or(&text).to_owned();
    let named = ["unknown field `", "duplicate field `", "missing field `"]
        .iter()
        .find_map(|prefix| reason.strip_prefix(prefix)?.split('`').next());
    let path = match (named, path) {
        // serde_path_to_error names an unknown field itself, a missing one at its parent.
        (Some(field), parent) if parent == field || parent.ends_with(&format!(".{field}")) => {
            parent.to_owned()
        }
        (Some(field), "." | "") => field.to_owned(),
        (Some(field), parent) => format!("{parent}.{field}"),
        (None, "." | "") => "(body)".to_owned(),
        (None, path) => path.to_owned(),
    };
    V2Error::Field(ParamError::new(&path, reason))
}

#[cfg(test)]
mod tests;

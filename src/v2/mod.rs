//! AppSignal's Public API V2: request bodies as data.
//!
//! A V2 read is a `POST` whose JSON body names the app(s) and the question. This module
//! turns the client's bytes into the one body the gateway sends upstream, which is also
//! the cache key's question:
//!
//! 1. [`read`] — the body off the wire, bounded in size and time (413, 408);
//! 2. [`body`] — parsed into the route's typed struct, every value checked at its path (400);
//! 3. [`Cx`] — `site_id` / `site_ids[i]` resolved to ids within the allowlist and the
//!    dashboard key's apps (404), times checked (`from` before `to`, within
//!    `upstream.max_query_range`) and aligned to the route's TTL (`cache.align_times`);
//! 4. the struct written back out ([`canonical`]): fixed key order, no whitespace.
//!
//! Nothing the client sent is forwarded as it came: the upstream body is serialized from
//! typed values only.

pub mod body;
mod canonical;
pub mod fields;
pub mod read;
pub mod schema;
pub mod time;

use std::sync::Arc;
use std::time::Duration;

pub use crate::route::BodyKind;
use crate::route::{Apps, ParamError};

pub use canonical::canonical;
pub use read::{read_body, BodyError};

/// Why a V2 body has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V2Error {
    /// Not one well-formed JSON object: where and why.
    Malformed(String),
    /// A field is unknown, of the wrong type, missing or out of bounds: its path and why.
    Field(ParamError),
    /// An app outside the allowlist or the key's apps: answered like an unknown app.
    NotFound,
}

/// What a body is checked and normalised against.
pub struct Cx<'a> {
    /// The allowlist: ids and names.
    pub apps: &'a Apps,
    /// `upstream.max_query_range`.
    pub max_range: Duration,
    /// The route's TTL when `cache.align_times` is on: the step windows are rounded to.
    pub align: Option<Duration>,
}

impl Cx<'_> {
    /// Resolves one app field to its id, in place; 404 for an app not in the allowlist.
    /// (A dashboard key's scope is checked by the caller against every app returned.)
    pub fn site(&self, site: &mut fields::Text) -> Result<Arc<str>, V2Error> {
        let id = self.apps.resolve(&site.0).ok_or(V2Error::NotFound)?;
        site.0 = id.to_string();
        Ok(id.clone())
    }

    /// Resolves every app of `site_ids`, then sorts and de-duplicates them: the order of
    /// a set of apps asks nothing, so every order is one entry.
    pub fn sites<const MIN: usize, const N: usize>(
        &self,
        sites: &mut fields::Bounded<fields::Text, MIN, N>,
    ) -> Result<Vec<Arc<str>>, V2Error> {
        let mut ids = Vec::with_capacity(sites.0.len());
        for site in &mut sites.0 {
            ids.push(self.site(site)?);
        }
        sites.0.sort();
        sites.0.dedup();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    /// Checks a window and rounds its ends down to the alignment step.
    pub fn window(&self, from: Option<&mut time::Time>, to: Option<&mut time::Time>) -> Result<(), V2Error> {
        if let (Some(from), Some(to)) = (&from, &to) {
            if from.0 > to.0 {
                return Err(V2Error::Field(ParamError::new("from", "must not be after `to`")));
            }
            if (to.0 - from.0) as u64 > self.max_range.as_secs() {
                let range = humantime::format_duration(self.max_range);
                let reason = format!("the window to `to` is longer than upstream.max_query_range ({range})");
                return Err(V2Error::Field(ParamError::new("from", reason)));
            }
        }
        if let Some(step) = self.align {
            for end in [from, to].into_iter().flatten() {
                *end = end.aligned(step);
            }
        }
        Ok(())
    }
}

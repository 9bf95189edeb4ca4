//! The request body of every V2 route, as typed structs: the field table. Each field is
//! one line, so a field AppSignal adds, or one marked (unconfirmed) below that proves
//! different, is a one-line change. Every struct refuses unknown fields, every value
//! checks its bounds ([`super::fields`]), and the field order here is the key order of
//! the canonical body the gateway writes (serde serializes in declaration order). Each
//! struct is wrapped in [`described!`], which makes its JSON Schema (the OpenAPI
//! `requestBody`) from the same fields.

use serde::{Deserialize, Serialize};

use serde_json::{json, Value};

use super::fields::{Bounded, Ident, Order, Ranged, Tags, Text};
use super::schema::{described, Schema};
use super::time::{CursorTime, Time};
use super::{Cx, V2Error};

/// `select`: at most 32 selectors.
pub type Select<T> = Bounded<T, 1, 32>;
/// `site_ids`: 1 to 16 apps.
pub type SiteIds = Bounded<Text, 1, 16>;
/// `limit`: 1..=1000.
pub type Limit = Ranged<1, 1000>;

described! {
    /// `POST /api/v2/metrics/timeseries`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Timeseries {
        site_id: Text,
        from: Time,
        to: Time,
        select: Select<TimeseriesSelector>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolution: Option<Ident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<Limit>,
    }
}

described! {
    /// One series asked of `metrics/timeseries`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TimeseriesSelector {
        name: Text,
        tags: Tags,
        field: Ident,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aggregation: Option<Ident>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        draw_null_as_zero: Option<bool>,
    }
}

described! {
    /// `POST /api/v2/metrics/list`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct MetricsList {
        site_id: Text,
        from: Time,
        to: Time,
        select: Select<ListSelector>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolution: Option<Ident>,
        /// (unconfirmed: seen in a public client only)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_by: Option<Bounded<GroupBy, 0, 8>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<Limit>,
    }
}

described! {
    /// One aggregate asked of `metrics/list`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct ListSelector {
        /// (unconfirmed) the key under which the row's value appears.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<Text>,
        name: Text,
        tags: Tags,
        field: Ident,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        aggregation: Option<Ident>,
    }
}

/// A `group_by` entry: `"Name"` or `{"Tag": "action"}` (unconfirmed).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum GroupBy {
    /// A grouping by name: `"Name"`.
    Plain(Ident),
    /// A grouping by one tag.
    Tag(TagGroup),
}

/// `{"Tag": "<tag>"}`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TagGroup {
    #[serde(rename = "Tag")]
    tag: Text,
}

described! {
    /// `POST /api/v2/logs/lines`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LogLines {
        site_id: Text,
        source_ids: Bounded<Text, 1, 32>,
        query: Text,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        use_expressions: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Time>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Time>,
        pagination: LogPagination,
    }
}

described! {
    /// Log pagination: the cursor is a time (milliseconds kept) or `null` for the first page.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct LogPagination {
        per_page: Ranged<1, 100>,
        order: Order,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<TimeCursor>,
    }
}

described! {
    /// `{"time": <time or null>}`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TimeCursor {
        #[serde(default)]
        time: Option<CursorTime>,
    }
}

described! {
    /// The `TracesQuery` body: `tracing/traces/performance`, `traces/errors`,
    /// `trace/performance`, `trace/error`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Traces {
        site_ids: SiteIds,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pagination: Option<TracePagination>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        digests: Option<Bounded<Text, 0, 100>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action_name: Option<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespace: Option<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        query: Option<Text>,
        /// (unconfirmed: the docs say `duration`, appsignal-cli sends `duration_ms`)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration: Option<Ranged<0, 86_400_000>>,
        /// (unconfirmed: see `duration`)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        duration_ms: Option<Ranged<0, 86_400_000>>,
        /// (unconfirmed for the list routes; appsignal-cli sends it to `trace/*`)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace_id: Option<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Time>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Time>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl: Option<Ranged<0, 31_536_000>>,
    }
}

described! {
    /// Trace pagination.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct TracePagination {
        per_page: Ranged<1, 100>,
        order: Order,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cursor: Option<TraceCursor>,
    }
}

/// Sources disagree: a cursor key (`"Time"`, `"Duration"`) or `{"time": …}` (unconfirmed).
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub enum TraceCursor {
    /// `"Time"` or `"Duration"`: what to order by.
    Key(Ident),
    /// `{"time": <time or null>}`.
    Time(TimeCursor),
}

described! {
    /// `tracing/trace` and `tracing/locator`: one trace by id.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct OneTrace {
        site_ids: SiteIds,
        trace_id: Text,
    }
}

described! {
    /// `POST /api/v2/tracing/actions`: takes `site_id`, unlike the other tracing routes.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct Actions {
        site_id: Text,
        from: Time,
        to: Time,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        namespaces: Option<Bounded<Text, 0, 32>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        revision: Option<Text>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        action: Option<Text>,
    }
}

described! {
    /// `POST /api/v2/deploys/stats`.
    #[derive(Debug, Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    pub struct DeployStats {
        /// (unconfirmed: presumably `site_id`)
        site_id: Text,
        revision: Text,
        /// (unconfirmed)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<Time>,
        /// (unconfirmed)
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<Time>,
    }
}

impl Schema for GroupBy {
    fn schema() -> Value {
        let tag = super::schema::object(&[("Tag", false, Text::schema())]);
        json!({ "anyOf": [Ident::schema(), tag] })
    }
}

impl Schema for TraceCursor {
    fn schema() -> Value {
        json!({ "anyOf": [Ident::schema(), TimeCursor::schema()] })
    }
}

/// What the gateway does to a parsed body before writing it out: resolve and check its
/// apps, check and align its window. Returns the apps it names.
pub trait Normalise {
    /// Resolves names to ids (refusing apps outside the scope) and normalises times.
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error>;
}

impl Normalise for Timeseries {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(Some(&mut self.from), Some(&mut self.to))?;
        Ok(vec![cx.site(&mut self.site_id)?])
    }
}

impl Normalise for MetricsList {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(Some(&mut self.from), Some(&mut self.to))?;
        Ok(vec![cx.site(&mut self.site_id)?])
    }
}

impl Normalise for LogLines {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(self.from.as_mut(), self.to.as_mut())?;
        Ok(vec![cx.site(&mut self.site_id)?])
    }
}

impl Normalise for Traces {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(self.from.as_mut(), self.to.as_mut())?;
        cx.sites(&mut self.site_ids)
    }
}

impl Normalise for OneTrace {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.sites(&mut self.site_ids)
    }
}

impl Normalise for Actions {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(Some(&mut self.from), Some(&mut self.to))?;
        Ok(vec![cx.site(&mut self.site_id)?])
    }
}

impl Normalise for DeployStats {
    fn normalise(&mut self, cx: &Cx<'_>) -> Result<Vec<std::sync::Arc<str>>, V2Error> {
        cx.window(self.from.as_mut(), self.to.as_mut())?;
        Ok(vec![cx.site(&mut self.site_id)?])
    }
}

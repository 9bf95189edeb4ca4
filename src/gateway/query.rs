//! A V2 query (`POST /api/v2/...`): the phases a GET takes, plus the body.
//!
//! In order: preflight, page origin (403), dashboard key (401), method (405),
//! `Content-Type` (415), JSONP refused (400), the client's rate limit (429); only then
//! is the body read ([`crate::v2::read_body`]: 413, 408), parsed, scoped and written out
//! canonically ([`crate::v2::canonical`]: 400, 404), and the target's entry found as
//! for any GET. Every refusal before the read costs no read, so a cross-site
//! `text/plain` POST (sent by a browser without a preflight) never costs a query.
//!
//! A body's canonical form is a pure function of the route, its bytes and the
//! configuration, as a GET's target is of its URI: a dashboard re-posting the same body
//! every refresh is resolved once per generation ([`Resolved`], in the generation's
//! `queries` memo), and each later request only checks the apps against its own key.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Response};

use super::phases::Exchange;
use super::Gateway;
use crate::config::DashboardKey;
use crate::error::{Allowed, GatewayError};
use crate::jsonp;
use crate::key::{CacheKey, KeyKind};
use crate::response::Body;
use crate::route::{ParamError, Route, Shape, Target};
use crate::v2::{self, BodyError, Cx, V2Error};

/// Bodies longer than this are resolved every time: the memo stays a few MiB at most
/// (4096 entries), and a dashboard's queries are a few hundred bytes.
pub(super) const MAX_REMEMBERED_BODY: usize = 2048;

/// A query body resolved (a V2 query's, or a `POST /graphql` body's): its target, and
/// every app it names (the key's scope is checked against them on each request, since
/// the memo is shared by all keys).
#[derive(Debug)]
pub(super) struct Resolved {
    /// What the body asks, keyed and written out canonically.
    pub target: Target,
    /// Every app the body names.
    pub apps: Vec<Arc<str>>,
}

impl Resolved {
    /// Whether the request's dashboard key may read every app the body names.
    pub fn in_scope(&self, key: Option<&DashboardKey>) -> bool {
        self.apps.iter().all(|id| key.is_none_or(|k| k.may_read(id)))
    }
}

/// The memo's key for a body posted to the route `route` (`None` for a body that is not
/// UTF-8, which is resolved, and refused, every time).
pub(super) fn memo_key(route: &str, bytes: &[u8]) -> Option<String> {
    std::str::from_utf8(bytes).ok().map(|body| format!("{route}\n{body}"))
}

impl Gateway {
    /// Answers a V2 query on `route` whose body is `body`.
    pub(super) async fn query<B>(
        &self,
        request: &mut Exchange<'_>,
        route: &'static Route,
        body: B,
    ) -> Result<Response<Body>, GatewayError>
    where
        B: http_body::Body + Send,
        B::Data: Send,
    {
        let key = match request.authorize_query()? {
            Some(key) => key,
            None => return Ok(request.generation.cors.options(&request.parts.headers, Allowed::Query)),
        };
        request.check_json()?;
        request.refuse_callback()?;
        let client = request.limit_client(key)?;
        let bytes = request.read_query_body(body).await?;
        let resolved = request.query_target(route, &bytes, key)?;
        self.answer(request, &resolved.target, &client).await
    }
}

impl<'a> Exchange<'a> {
    /// The key-and-method phase of a query: `None` for a preflight (answered at once),
    /// else the dashboard key when keys are configured.
    fn authorize_query(&mut self) -> Result<Option<Option<&'a DashboardKey>>, GatewayError> {
        if self.parts.method == Method::OPTIONS {
            return Ok(None);
        }
        let key = self.page_and_key()?;
        if self.parts.method != Method::POST {
            return Err(GatewayError::MethodNotAllowed(Allowed::Query));
        }
        Ok(Some(key))
    }

    /// `Content-Type: application/json` (parameters such as `charset` allowed), or 415.
    pub(super) fn check_json(&self) -> Result<(), GatewayError> {
        let value = self.parts.headers.get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
        let essence = value.map(|v| v.split(';').next().unwrap_or("").trim());
        match essence {
            Some(e) if e.eq_ignore_ascii_case("application/json") => Ok(()),
            _ => Err(GatewayError::UnsupportedMediaType),
        }
    }

    /// The request body, read whole within `limits.max_body_size` (413) and
    /// `limits.body_read_timeout` (408); a body the client broke off is a 400.
    pub(super) async fn read_query_body<B>(&self, body: B) -> Result<Bytes, GatewayError>
    where
        B: http_body::Body + Send,
        B::Data: Send,
    {
        let limits = &self.generation.settings.limits;
        v2::read_body(&self.parts.headers, body, limits.max_body_size, limits.body_read_timeout)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge => GatewayError::BodyTooLarge,
                BodyError::Timeout => GatewayError::BodyTimeout,
                BodyError::Broken => GatewayError::BadBody("the request body was cut off".into()),
            })
    }

    /// JSONP is for GET routes: a `<script>` tag cannot POST.
    pub(super) fn refuse_callback(&self) -> Result<(), GatewayError> {
        let jsonp = &self.generation.settings.jsonp;
        match jsonp.enabled
            && jsonp::requested_callback(self.parts.uri.query(), &jsonp.callback_param).is_some()
        {
            true => Err(GatewayError::BadParameter(ParamError::new(
                &jsonp.callback_param,
                "JSONP is only for GET routes: a V2 query is a POST",
            ))),
            false => Ok(()),
        }
    }

    /// The query's target, resolved before for this route and body or resolved now.
    fn query_target(
        &mut self,
        route: &'static Route,
        bytes: &[u8],
        key: Option<&DashboardKey>,
    ) -> Result<Arc<Resolved>, GatewayError> {
        // The route's name and the body: names are unique.
        let raw = memo_key(route.name, bytes);
        let resolved = match raw.as_deref().and_then(|raw| self.generation.queries.get(raw)) {
            Some(resolved) => resolved,
            None => {
                let resolved = Arc::new(self.resolve_query(route, bytes)?);
                if let Some(raw) = &raw {
                    self.generation.queries.remember(raw, resolved.clone());
                }
                resolved
            }
        };
        if !resolved.in_scope(key) {
            return Err(GatewayError::NotFound);
        }
        self.log.app = Some(resolved.target.app_id.clone());
        Ok(resolved)
    }

    /// The query's target: its canonical body, and its key under its first app; the
    /// key's scope is the caller's to check, against every app the body names.
    fn resolve_query(&self, route: &'static Route, bytes: &[u8]) -> Result<Resolved, GatewayError> {
        let settings = &self.generation.settings;
        let (Shape::V2(path), Some(kind)) = (route.shape, route.body) else {
            return Err(GatewayError::Internal);
        };
        let ttl = self.generation.ttl(route.ttl);
        let cx = Cx {
            apps: &settings.apps,
            max_range: settings.upstream.max_query_range,
            align: settings.cache.align_times.then_some(ttl),
        };
        let (body, apps) = v2::canonical(kind, bytes, &cx).map_err(|e| match e {
            V2Error::Malformed(reason) => GatewayError::BadBody(reason),
            V2Error::Field(error) => GatewayError::BadParameter(error),
            V2Error::NotFound => GatewayError::NotFound,
        })?;
        let app_id = apps.first().cloned().ok_or(GatewayError::NotFound)?;
        let upstream = format!("/api/v2/{path}");
        // The route, then the body: every app the body names is in the question.
        let question = format!("{upstream} {}", String::from_utf8_lossy(&body));
        let key = CacheKey::new(&app_id, KeyKind::V2, &question);
        let target =
            Target { route, app_id, upstream: upstream.into(), key, callback: None, body: Some(body) };
        Ok(Resolved { target, apps })
    }
}

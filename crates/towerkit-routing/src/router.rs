//! [`Router`]: a tower service dispatching each request to the service of
//! the endpoint its rule names.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, ALLOW, CONTENT_LENGTH};
use http::{Method, Request, Response};
use tower_service::Service;
use towerkit_core::canonical::canonicalize;
use towerkit_core::oneshot::CallOrAnswer;
use towerkit_core::{
    application_url, path_info, shift_path_segments, Body, BoxError, HttpException, OriginalUri,
    RouteLabel, ScriptName,
};

use crate::converter::Value;
use crate::error::MapError;
use crate::map::{HostMode, Map, Outcome, Query};
use crate::pattern::Capture;

/// What a [`Router`] puts in the extensions of a request it dispatches: the
/// rule and endpoint that matched, and the values of the placeholders,
/// typed and as text. [`url_for`](crate::url_for) reads it.
///
/// ```
/// # use towerkit_routing::RouteMatch;
/// # fn handler(req: http::Request<()>) -> Option<i64> {
/// let route = RouteMatch::of(&req)?;
/// let id = route.int("id")?;
/// # Some(id) }
/// ```
#[derive(Clone)]
pub struct RouteMatch {
    pub(crate) map: Map,
    rule: usize,
    captures: Vec<Capture>,
    /// Where the map is mounted, when dispatching moved more into
    /// `ScriptName` (a rule ending in `<path:…>`).
    pub(crate) script_name: Option<String>,
}

impl fmt::Debug for RouteMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteMatch")
            .field("endpoint", &self.endpoint())
            .field("rule", &self.rule())
            .field("values", &self.values().collect::<Vec<_>>())
            .finish()
    }
}

impl RouteMatch {
    /// The match of a request a [`Router`] dispatched.
    pub fn of<B>(req: &Request<B>) -> Option<&RouteMatch> {
        req.extensions().get::<RouteMatch>()
    }

    /// The endpoint of the rule.
    pub fn endpoint(&self) -> &str {
        self.map.inner.rules[self.rule]
            .endpoint
            .as_deref()
            .unwrap_or("")
    }

    /// The rule's path, as written (`/devices/<int:id>`).
    pub fn rule(&self) -> &str {
        &self.map.inner.rules[self.rule].path
    }

    /// The value of placeholder `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.index(name).map(|i| &self.captures[i].value)
    }

    /// The value of an `int` placeholder.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_int)
    }

    /// The value of a text placeholder (`string`, `path`, `any`).
    pub fn str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    /// The text placeholder `name` matched, decoded (`007` for an `int`
    /// that is 7).
    pub fn text(&self, name: &str) -> Option<Cow<'_, str>> {
        self.index(name).map(|i| self.captures[i].text())
    }

    /// Every placeholder and its value, in the rule's order.
    pub fn values(&self) -> impl Iterator<Item = (&str, &Value)> {
        let vars = &self.map.inner.rules[self.rule].vars;
        vars.iter()
            .zip(&self.captures)
            .map(|(v, c)| (v.name.as_str(), &c.value))
    }

    /// Every placeholder and the text it matched: the string map.
    pub fn params(&self) -> HashMap<String, String> {
        let vars = &self.map.inner.rules[self.rule].vars;
        vars.iter()
            .zip(&self.captures)
            .map(|(v, c)| (v.name.clone(), c.text().into_owned()))
            .collect()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.map.inner.rules[self.rule]
            .vars
            .iter()
            .position(|v| v.name == name)
    }
}

/// Dispatches requests by the rules of a [`Map`] to the services of their
/// endpoints.
///
/// - a matching rule's service gets the request, with a [`RouteMatch`] in
///   its extensions; a rule ending in `<path:…>` mounts its service: what
///   comes before the placeholder moves to `ScriptName`, the rest stays as
///   `PATH_INFO`, as a URL map does;
/// - `HEAD` is answered by a `GET` rule; `OPTIONS` by the rules
///   themselves when they list it, else with `200` and `Allow`;
/// - a path that matches with other methods gets `405` with `Allow`, one
///   that does not match `404`, a rule ending in `/` asked without it
///   `308` to the slashed URL (query kept), all rendered by `Accept`;
/// - every redirect is an absolute URL built from the request: scheme,
///   host and `ScriptName` after proxy-fix;
/// - matching backtracks (`<a>-<b>`, a `path` placeholder followed by
///   more), at most 1,024 converter attempts a request: a path that would
///   need more (thousands of segments under a `path` placeholder followed
///   by another, a segment of thousands of dashes for `<a>-<b>-<c>`) gets
///   404 rather than the time of every split.
///
/// Generic over the request body and the services' response bodies; the
/// response is a [`Body`].
pub struct Router<S> {
    map: Map,
    /// The service of each rule, by rule index (none for redirects).
    services: Arc<Vec<Option<S>>>,
}

impl<S> Clone for Router<S> {
    fn clone(&self) -> Self {
        Router {
            map: self.map.clone(),
            services: self.services.clone(),
        }
    }
}

impl<S> fmt::Debug for Router<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Router").field("map", &self.map).finish()
    }
}

/// Builds a [`Router`]: a service for each endpoint of the map.
#[must_use]
pub struct RouterBuilder<S> {
    map: Map,
    endpoints: Vec<(String, S)>,
}

impl<S> fmt::Debug for RouterBuilder<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouterBuilder")
            .field("map", &self.map)
            .field(
                "endpoints",
                &self.endpoints.iter().map(|(e, _)| e).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl<S> Router<S> {
    /// Starts a router over `map`; give each endpoint its service.
    pub fn builder(map: Map) -> RouterBuilder<S> {
        RouterBuilder {
            map,
            endpoints: Vec::new(),
        }
    }

    /// The map.
    pub fn map(&self) -> &Map {
        &self.map
    }
}

impl<S: Clone> RouterBuilder<S> {
    /// The service of `endpoint`.
    pub fn endpoint(mut self, endpoint: impl Into<String>, service: S) -> Self {
        self.endpoints.push((endpoint.into(), service));
        self
    }

    /// The router, or which endpoint lacks a service (or has two, or is not
    /// in the map).
    pub fn build(self) -> Result<Router<S>, MapError> {
        let mut by_name: HashMap<String, S> = HashMap::new();
        for (endpoint, service) in self.endpoints {
            if !self.map.inner.by_endpoint.contains_key(endpoint.as_str()) {
                return Err(MapError::Endpoint {
                    endpoint,
                    reason: "no rule of the map names it".into(),
                });
            }
            if by_name.contains_key(&endpoint) {
                return Err(MapError::Endpoint {
                    endpoint,
                    reason: "given a service twice".into(),
                });
            }
            by_name.insert(endpoint, service);
        }
        let mut services = Vec::with_capacity(self.map.inner.rules.len());
        for rule in &self.map.inner.rules {
            let service = match (&rule.endpoint, &rule.redirect_to) {
                (Some(endpoint), None) => match by_name.get(&**endpoint) {
                    Some(service) => Some(service.clone()),
                    None => {
                        return Err(MapError::Endpoint {
                            endpoint: endpoint.to_string(),
                            reason: format!("no service for rule `{}`", rule.display),
                        })
                    }
                },
                _ => None,
            };
            services.push(service);
        }
        Ok(Router {
            map: self.map,
            services: Arc::new(services),
        })
    }
}

impl<S, B, RB> Service<Request<B>> for Router<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone,
    RB: http_body::Body<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Each call drives its own clone of the endpoint's service.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Err(bad) = canonicalize(&mut req) {
            return ResponseFuture::answer(HttpException::from(bad).response_for(&req));
        }
        let inner = &self.map.inner;
        let host = match inner.mode {
            HostMode::Any => None,
            _ => Some(towerkit_core::url::host(&req).to_ascii_lowercase()),
        };
        let unmerged = req
            .extensions()
            .get::<OriginalUri>()
            .is_some_and(|original| original.0.path().contains("//"));
        let outcome = inner.find(&Query {
            host: host.as_deref().unwrap_or(""),
            path: path_info(&req),
            method: req.method(),
            unmerged,
        });
        match outcome {
            Outcome::Matched { rule, captures } => {
                let compiled = &inner.rules[rule];
                let Some(service) = self.services.get(rule).and_then(Option::clone) else {
                    // Built routers have a service for every rule that
                    // dispatches.
                    return ResponseFuture::answer(
                        HttpException::internal_server_error().response_for(&req),
                    );
                };
                let mut script_name = None;
                if let Some(at) = compiled.mount_at {
                    let mounted_at = ScriptName::of(&req).to_owned();
                    if !shift_path_segments(&mut req, at) {
                        return ResponseFuture::answer(
                            HttpException::not_found().response_for(&req),
                        );
                    }
                    script_name = Some(mounted_at);
                }
                tracing::debug!(
                    endpoint = compiled.endpoint.as_deref().unwrap_or(""),
                    rule = %compiled.path,
                    "route matched"
                );
                RouteLabel::set(&req, &compiled.label);
                req.extensions_mut().insert(RouteMatch {
                    map: self.map.clone(),
                    rule,
                    captures,
                    script_name,
                });
                ResponseFuture::call(service, req)
            }
            Outcome::Redirect {
                target,
                relative,
                keep_query,
            } => {
                let mut location = if relative {
                    let mut url = application_url(&req);
                    url.push_str(&target);
                    url
                } else {
                    target
                };
                if keep_query {
                    if let Some(query) = req.uri().query() {
                        location.push(if location.contains('?') { '&' } else { '?' });
                        location.push_str(query);
                    }
                }
                ResponseFuture::answer(
                    HttpException::permanent_redirect(&location).response_for(&req),
                )
            }
            Outcome::MethodNotAllowed(allowed) => ResponseFuture::answer(
                HttpException::method_not_allowed(&allowed).response_for(&req),
            ),
            Outcome::Options(allowed) => ResponseFuture::answer(options_response(&allowed)),
            Outcome::NotFound => {
                ResponseFuture::answer(HttpException::not_found().response_for(&req))
            }
        }
    }
}

/// `200` with `Allow`, no body: the answer to `OPTIONS`.
fn options_response(allowed: &[Method]) -> Response<Body> {
    let names: Vec<&str> = allowed.iter().map(Method::as_str).collect();
    let mut response = Response::new(Body::empty());
    if let Ok(value) = HeaderValue::from_str(&names.join(", ")) {
        response.headers_mut().insert(ALLOW, value);
    }
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// The response future of [`Router`]: the endpoint's answer, or the
/// router's own (redirect, 404, 405, `OPTIONS`).
pub type ResponseFuture<S, R> = CallOrAnswer<S, R>;

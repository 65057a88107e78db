//! Building URLs from an endpoint and parameters: [`url_for`], [`Urls`].
//!
//! A URL is built from the request it answers, the way
//! `towerkit_core::construct_url` reads it: the scheme and host (after
//! proxy-fix), the [`ScriptName`] the map is mounted at (the proxy's
//! `X-Forwarded-Prefix` included), then the rule's path. A URL on the
//! request's host is written as a path (`/hub/api/devices/7`) unless asked
//! [`external`](Urls::external); one on another host or subdomain is always
//! absolute.

use std::borrow::Cow;

use http::{Method, Request};
use towerkit_core::url::host;
use towerkit_core::{url_scheme, ScriptName};

use crate::converter::Value;
use crate::error::BuildError;
use crate::map::{strip_port, HostMode, Map, MapInner};
use crate::pattern::{push_encoded, push_query_encoded, Part, Segment};
use crate::router::RouteMatch;

/// The parameters of a URL to build: the rule's placeholders, and more,
/// which go to the query string in the order given.
///
/// ```
/// use towerkit_routing::Params;
///
/// let params = Params::new().set("id", 7).set("q", "lamp");
/// assert_eq!(params.get("id").and_then(|v| v.as_int()), Some(7));
/// let params: Params = [("user", "ann")].into_iter().collect();
/// assert_eq!(params.len(), 1);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use]
pub struct Params(Vec<(String, Value)>);

impl Params {
    /// No parameters.
    pub fn new() -> Params {
        Params::default()
    }

    /// Sets `name` (replacing an earlier value).
    pub fn set(mut self, name: impl Into<String>, value: impl Into<Value>) -> Params {
        let name = name.into();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
        self
    }

    /// Adds another value of `name`, for a query string that repeats it
    /// (`?tag=a&tag=b`); a placeholder takes the first.
    pub fn append(mut self, name: impl Into<String>, value: impl Into<Value>) -> Params {
        self.0.push((name.into(), value.into()));
        self
    }

    /// The (first) value of `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The parameters, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v))
    }
}

impl<K: Into<String>, V: Into<Value>> FromIterator<(K, V)> for Params {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Params {
        iter.into_iter()
            .fold(Params::new(), |params, (k, v)| params.set(k, v))
    }
}

/// What building a rule gives: the path below the mount (with the query)
/// and, for a rule with a host or subdomain, that host.
pub(crate) struct Built {
    pub(crate) path: String,
    pub(crate) host: Option<String>,
}

impl MapInner {
    /// Builds the path (and host) of `endpoint` from `params`.
    pub(crate) fn build_path(
        &self,
        endpoint: &str,
        params: &Params,
        method: Option<&Method>,
    ) -> Result<Built, BuildError> {
        let rules = self
            .by_endpoint
            .get(endpoint)
            .ok_or_else(|| BuildError::UnknownEndpoint(endpoint.to_owned()))?;
        let mut missing: Option<Vec<String>> = None;
        let mut invalid = None;
        let mut method_ok = false;
        for &r in rules {
            let rule = &self.rules[r];
            if let Some(method) = method {
                if !rule.allows(method) {
                    continue;
                }
            }
            method_ok = true;
            let lacking: Vec<String> = rule
                .vars
                .iter()
                .filter(|v| params.get(&v.name).is_none())
                .map(|v| v.name.clone())
                .collect();
            if !lacking.is_empty() {
                if missing.as_ref().is_none_or(|m| lacking.len() < m.len()) {
                    missing = Some(lacking);
                }
                continue;
            }
            match self.build_rule(r, params) {
                Ok(built) => return Ok(built),
                Err((param, reason)) => {
                    invalid.get_or_insert(BuildError::InvalidParam {
                        endpoint: endpoint.to_owned(),
                        param,
                        reason,
                    });
                }
            }
        }
        if let Some(invalid) = invalid {
            return Err(invalid);
        }
        if !method_ok {
            return Err(BuildError::MethodNotAllowed {
                endpoint: endpoint.to_owned(),
                method: method.map(Method::to_string).unwrap_or_default(),
            });
        }
        Err(BuildError::MissingParams {
            endpoint: endpoint.to_owned(),
            missing: missing.unwrap_or_default(),
        })
    }

    fn build_rule(&self, r: usize, params: &Params) -> Result<Built, (String, String)> {
        let rule = &self.rules[r];
        let format = |v: usize| -> Result<String, (String, String)> {
            let var = &rule.vars[v];
            let value = params
                .get(&var.name)
                .ok_or_else(|| (var.name.clone(), "missing".to_owned()))?;
            let text = var
                .converter
                .format(value)
                .map_err(|reason| (var.name.clone(), reason))?;
            // The server refuses a path with one (400): never build it.
            if text.chars().any(char::is_control) {
                return Err((
                    var.name.clone(),
                    format!("{text:?} holds a control character"),
                ));
            }
            Ok(text)
        };
        let mut path = String::with_capacity(rule.path.len() + 16);
        for segment in &rule.segments {
            path.push('/');
            let start = path.len();
            match segment {
                Segment::Static(text) => path.push_str(text),
                Segment::Dynamic(parts) => {
                    for part in parts {
                        match part {
                            Part::Text(t) => push_encoded(t, &mut path, false),
                            Part::Var(v) => push_encoded(&format(*v)?, &mut path, false),
                        }
                    }
                    let built = &path[start..];
                    if built.is_empty() || built == "." || built == ".." {
                        let name = first_var(parts).map(|v| rule.vars[v].name.clone());
                        return Err((
                            name.unwrap_or_default(),
                            format!("the segment would be {built:?}, which a path cannot keep"),
                        ));
                    }
                }
                Segment::Span(v) => {
                    let text = format(*v)?;
                    let mut segments = text.split('/').peekable();
                    while let Some(seg) = segments.next() {
                        let last = segments.peek().is_none();
                        if (seg.is_empty() && !last) || seg == "." || seg == ".." {
                            return Err((
                                rule.vars[*v].name.clone(),
                                format!("{text:?} has an empty, `.` or `..` segment"),
                            ));
                        }
                    }
                    push_encoded(&text, &mut path, true);
                    if text.ends_with('/') && rule.trailing_slash {
                        path.pop();
                    }
                }
            }
        }
        if rule.trailing_slash || path.is_empty() {
            path.push('/');
        }
        let host = match &rule.host {
            Some(parts) => {
                let mut host = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => host.push_str(t),
                        Part::Var(v) => {
                            let text = format(*v)?;
                            if text.contains(['/', ':', '@', '?', '#']) {
                                return Err((
                                    rule.vars[*v].name.clone(),
                                    format!("{text:?} cannot stand in a host"),
                                ));
                            }
                            host.push_str(&text.to_ascii_lowercase());
                        }
                    }
                }
                Some(host)
            }
            None => None,
        };
        // Parameters that are not placeholders: the query string.
        let mut first = true;
        for (name, value) in params.iter() {
            if rule.vars.iter().any(|v| v.name == name) {
                continue;
            }
            path.push(if first { '?' } else { '&' });
            first = false;
            push_query_encoded(name, &mut path);
            path.push('=');
            push_query_encoded(&value.to_string(), &mut path);
        }
        Ok(Built { path, host })
    }
}

fn first_var(parts: &[Part]) -> Option<usize> {
    parts.iter().find_map(|p| match p {
        Part::Var(v) => Some(*v),
        Part::Text(_) => None,
    })
}

/// Builds URLs for one request: the map, where it is mounted, and the
/// request's scheme and host.
///
/// ```
/// use http::{Method, Request};
/// use towerkit_routing::{Map, Params};
///
/// let map = Map::builder()
///     .route("GET /devices/<int:id>", "device").unwrap()
///     .route("PUT /devices/<int:id>", "save").unwrap()
///     .build().unwrap();
/// let req = Request::get("/").header("host", "hub.example").body(()).unwrap();
/// let urls = map.urls(&req);
/// let seven = Params::new().set("id", 7);
/// assert_eq!(urls.url_for("device", &seven).unwrap(), "/devices/7");
/// assert_eq!(
///     urls.external(true).url_for("device", &seven.clone().set("full", 1)).unwrap(),
///     "http://hub.example/devices/7?full=1"
/// );
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Urls<'a> {
    map: &'a MapInner,
    script_name: &'a str,
    scheme: &'a str,
    host: Cow<'a, str>,
    external: bool,
    method: Option<Method>,
}

impl std::fmt::Debug for MapInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map").finish_non_exhaustive()
    }
}

impl Map {
    /// Builds URLs for `req`, with the map mounted at the request's
    /// [`ScriptName`]: for a layer that holds the map itself. Inside a
    /// [`Router`](crate::Router), [`Urls::of`] knows where the router was
    /// mounted even below another mount.
    pub fn urls<'a, B>(&'a self, req: &'a Request<B>) -> Urls<'a> {
        Urls {
            map: &self.inner,
            script_name: ScriptName::of(req),
            scheme: url_scheme(req),
            host: host(req),
            external: false,
            method: None,
        }
    }
}

impl<'a> Urls<'a> {
    /// URLs for a request that passed through a [`Router`](crate::Router).
    pub fn of<B>(req: &'a Request<B>) -> Result<Urls<'a>, BuildError> {
        let route = req
            .extensions()
            .get::<RouteMatch>()
            .ok_or(BuildError::NoRouter)?;
        Ok(Urls {
            map: &route.map.inner,
            script_name: route.script_name.as_deref().unwrap_or(ScriptName::of(req)),
            scheme: url_scheme(req),
            host: host(req),
            external: false,
            method: None,
        })
    }

    /// Absolute URLs (`https://host/…`), also on the request's host.
    pub fn external(mut self, external: bool) -> Self {
        self.external = external;
        self
    }

    /// Builds the rule of the endpoint that answers `method`, when several
    /// rules share it.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// The URL of `endpoint` with `params`.
    pub fn url_for(&self, endpoint: &str, params: &Params) -> Result<String, BuildError> {
        let built = self
            .map
            .build_path(endpoint, params, self.method.as_ref())?;
        let target_host = match (built.host, self.map.mode) {
            (Some(host), HostMode::Subdomain) => {
                let server = self.map.server_name.as_deref().unwrap_or_default();
                let port = port_of(&self.host);
                let mut full = if host.is_empty() {
                    server.to_owned()
                } else {
                    format!("{host}.{server}")
                };
                if !server.contains(':') {
                    full.push_str(port);
                }
                Some(full)
            }
            (host, _) => host,
        };
        let other_host = target_host
            .as_deref()
            .filter(|h| !h.eq_ignore_ascii_case(&self.host));
        let mut url = String::new();
        if self.external || other_host.is_some() {
            url.push_str(self.scheme);
            url.push_str("://");
            url.push_str(other_host.unwrap_or(&self.host));
        }
        url.push_str(self.script_name);
        url.push_str(&built.path);
        Ok(url)
    }
}

/// `:8080` of `example.com:8080`, or nothing.
fn port_of(host: &str) -> &str {
    &host[strip_port(host).len()..]
}

/// The URL of `endpoint` built with `params`, for a request that passed
/// through a [`Router`](crate::Router): a path below where the router is
/// mounted (`/hub/api/devices/7` behind a proxy's `/hub` prefix and a mount
/// at `/api`), absolute when the rule is on another host or subdomain.
/// For absolute URLs and a choice of method, see [`Urls`].
///
/// ```
/// use http::{Request, Response};
/// use towerkit_core::{handler, Body, BoxError, TestClient};
/// use towerkit_routing::{url_for, Map, Params, Router};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let map = Map::builder()
///     .route("GET /devices/<int:id>", "device").unwrap()
///     .route("GET /", "index").unwrap()
///     .build().unwrap();
/// let index = handler(|req: Request<Body>| async move {
///     let url = url_for(&req, "device", &Params::new().set("id", 7))?;
///     Ok::<_, BoxError>(Response::new(Body::from(url)))
/// });
/// let router = Router::builder(map).endpoint("index", index.clone()).endpoint("device", index);
/// let mut client = TestClient::new(router.build().unwrap());
/// assert_eq!(client.get("/").send().await.unwrap().text(), "/devices/7");
/// # });
/// ```
pub fn url_for<B>(req: &Request<B>, endpoint: &str, params: &Params) -> Result<String, BuildError> {
    Urls::of(req)?.url_for(endpoint, params)
}

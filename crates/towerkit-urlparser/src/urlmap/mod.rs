//! `UrlMap`: mount apps at path prefixes, optionally per host.
//!
//! After `paste.urlmap`. The longest mounted prefix that matches the request
//! wins, matching only whole segments (`/app` matches `/app` and `/app/x`,
//! never `/application`). The matched segments move to
//! [`ScriptName`](towerkit_core::ScriptName), the rest becomes the path the
//! app sees. A key may name a host (`example.com/path`, or
//! `example.com:8080/path` for one port only): such a mount sees only
//! requests for that host, and wins over a host-less mount of the same
//! length. No match gives 404.
//!
//! ```
//! use towerkit_core::{app::{Echo, Text}, handler, Body, TestClient};
//! use towerkit_urlparser::UrlMap;
//! use tower::util::BoxCloneSyncService;
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let map = UrlMap::new()
//!     .mount("/", BoxCloneSyncService::new(Text::new("home")))
//!     .mount("/api/v1", BoxCloneSyncService::new(Echo));
//! let mut client = TestClient::new(map);
//! let env = client.get("/api/v1/users?id=3").send().await.unwrap().json();
//! assert_eq!(env["script_name"], "/api/v1");
//! assert_eq!(env["path_info"], "/users");
//! assert_eq!(client.get("/apix").send().await.unwrap().text(), "home");
//! # });
//! ```

mod future;
mod key;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use towerkit_core::canonical::canonicalize;
use towerkit_core::path::segments;
use towerkit_core::{path_info, shift_path_segments, Body, HttpException, RouteLabel};

pub use future::ResponseFuture;
pub use key::InvalidMount;
use key::{parse_host, MountKey};

/// Dispatches requests to the app mounted at the longest matching prefix.
#[must_use]
pub struct UrlMap<S> {
    routes: Arc<Vec<Route<S>>>,
}

struct Route<S> {
    key: MountKey,
    /// The key as written back, the `route` label of the server's metrics.
    label: Arc<str>,
    service: S,
}

impl<S> Clone for UrlMap<S> {
    fn clone(&self) -> Self {
        UrlMap {
            routes: self.routes.clone(),
        }
    }
}

impl<S> Default for UrlMap<S> {
    fn default() -> Self {
        UrlMap {
            routes: Arc::new(Vec::new()),
        }
    }
}

impl<S> fmt::Debug for UrlMap<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.routes.iter().map(|r| r.key.to_string()))
            .finish()
    }
}

impl<S> UrlMap<S> {
    /// An empty map: every request gets 404 until something is mounted.
    pub fn new() -> Self {
        UrlMap::default()
    }

    /// Mounts `service` at `key`.
    ///
    /// # Panics
    ///
    /// When the key is invalid or already mounted; use
    /// [`try_mount`](UrlMap::try_mount) for keys that come from input.
    pub fn mount(mut self, key: &str, service: S) -> Self {
        if let Err(err) = self.try_mount(key, service) {
            panic!("{err}");
        }
        self
    }

    /// Mounts `service` at `key`, or says why the key cannot be mounted.
    pub fn try_mount(&mut self, key: &str, service: S) -> Result<(), InvalidMount> {
        let key = MountKey::parse(key)?;
        let routes = Arc::get_mut(&mut self.routes)
            .ok_or_else(|| InvalidMount::because(&key.to_string(), "the map is already in use"))?;
        if routes.iter().any(|r| r.key == key) {
            return Err(InvalidMount::because(&key.to_string(), "mounted twice"));
        }
        let label = Arc::from(key.to_string());
        routes.push(Route {
            key,
            label,
            service,
        });
        // Longest first; at equal length host and port, then host, then none.
        routes.sort_by_key(|r| {
            let generality = match &r.key.host {
                Some(host) if host.port.is_some() => 0,
                Some(_) => 1,
                None => 2,
            };
            (std::cmp::Reverse(r.key.segments.len()), generality)
        });
        Ok(())
    }

    /// The mounts, most specific first, as normalised keys.
    pub fn mounts(&self) -> impl Iterator<Item = (String, &S)> {
        self.routes.iter().map(|r| (r.key.to_string(), &r.service))
    }
}

impl<S> UrlMap<S> {
    fn find<B>(&self, req: &Request<B>) -> Option<&Route<S>> {
        let path = path_info(req);
        // The host is read only when a mount names one.
        let mut host = None;
        self.routes.iter().find(|route| {
            let host_ok = route.key.host.is_none()
                || host_matches(
                    route,
                    host.get_or_insert_with(|| request_host(req)).as_ref(),
                    req,
                );
            host_ok && prefix_matches(&route.key.segments, path)
        })
    }
}

fn request_host<B>(req: &Request<B>) -> Option<key::HostPattern> {
    parse_host(&towerkit_core::url::host(req))
}

fn host_matches<S, B>(route: &Route<S>, host: Option<&key::HostPattern>, req: &Request<B>) -> bool {
    let Some(pattern) = &route.key.host else {
        return true;
    };
    let Some(host) = host else {
        return false;
    };
    if pattern.name != host.name {
        return false;
    }
    match pattern.port {
        None => true,
        Some(port) => {
            let default = if towerkit_core::url_scheme(req) == "https" {
                443
            } else {
                80
            };
            host.port.unwrap_or(default) == port
        }
    }
}

fn prefix_matches(mount: &[String], path: &str) -> bool {
    let mut requested = segments(path);
    mount.iter().all(|expected| match requested.next() {
        Some(segment) if !segment.is_parent() => {
            segment.raw == expected || segment.decoded() == *expected
        }
        _ => false,
    })
}

impl<S, B, RB> Service<Request<B>> for UrlMap<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone,
    RB: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    RB::Error: Into<towerkit_core::BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S, Request<B>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        // Each call drives its own clone of the mounted service to readiness.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Err(bad) = canonicalize(&mut req) {
            return ResponseFuture::answer(HttpException::from(bad).response_for(&req));
        }
        match self.find(&req) {
            Some(route) if shift_path_segments(&mut req, route.key.segments.len()) => {
                RouteLabel::set(&req, &route.label);
                ResponseFuture::call(route.service.clone(), req)
            }
            _ => {
                tracing::debug!(path = %req.uri().path(), "no mount matches");
                ResponseFuture::answer(HttpException::not_found().response_for(&req))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::util::BoxCloneSyncService;
    use towerkit_core::app::{Echo, Text};
    use towerkit_core::{ConnectionInfo, TestClient};

    type App = BoxCloneSyncService<Request<Body>, Response<Body>, std::convert::Infallible>;

    fn echo() -> App {
        BoxCloneSyncService::new(Echo)
    }

    fn text(t: &'static str) -> App {
        BoxCloneSyncService::new(Text::new(t))
    }

    #[tokio::test]
    async fn longest_prefix_at_segment_boundaries() {
        let map = UrlMap::new()
            .mount("/", text("root"))
            .mount("/app", echo())
            .mount("/app/admin", text("admin"));
        let mut client = TestClient::new(map);
        let env = client.get("/app/x/y?q=1").send().await.unwrap().json();
        assert_eq!(
            (env["script_name"].as_str(), env["path_info"].as_str()),
            (Some("/app"), Some("/x/y"))
        );
        assert_eq!(env["query_string"], "q=1");
        let env = client.get("/app").send().await.unwrap().json();
        assert_eq!(
            (env["script_name"].as_str(), env["path_info"].as_str()),
            (Some("/app"), Some(""))
        );
        let env = client.get("//app//").send().await.unwrap().json();
        assert_eq!(
            (env["script_name"].as_str(), env["path_info"].as_str()),
            (Some("/app"), Some("/"))
        );
        assert_eq!(
            client.get("/application").send().await.unwrap().text(),
            "root"
        );
        assert_eq!(
            client.get("/app/admin/users").send().await.unwrap().text(),
            "admin"
        );
        assert_eq!(
            client
                .get("/app/../app/admin")
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
        // `..` is resolved in the path, never above its root.
        assert_eq!(
            client.get("/app/x/../admin/").send().await.unwrap().text(),
            "admin"
        );
        assert_eq!(client.get("/../app").send().await.unwrap().status(), 400);
    }

    #[tokio::test]
    async fn no_match_is_404_in_the_format_asked_for() {
        let map = UrlMap::new().mount("/only", echo());
        let mut client = TestClient::new(map);
        let res = client
            .get("/elsewhere")
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.json()["status"], 404);
    }

    #[tokio::test]
    async fn host_keys() {
        let map = UrlMap::new()
            .mount("/", text("any"))
            .mount("example.com/", text("example"))
            .mount("example.com:8080/", text("example-8080"));
        let mut client = TestClient::new(map);
        for (host, expected) in [
            ("example.com", "example"),
            ("EXAMPLE.com:9000", "example"),
            ("example.com:8080", "example-8080"),
            ("other.org", "any"),
        ] {
            let res = client.get("/x").header("host", host).send().await.unwrap();
            assert_eq!(res.text(), expected, "Host: {host}");
        }
    }

    #[tokio::test]
    async fn port_of_host_key_defaults_from_scheme() {
        let map = UrlMap::new().mount("example.com:443/", text("tls"));
        let mut info = ConnectionInfo::loopback();
        info.scheme = http::uri::Scheme::HTTPS;
        let mut client = TestClient::new(map).connection(info);
        let res = client
            .get("/")
            .header("host", "example.com")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text(), "tls");
    }

    #[test]
    fn mounting_twice_is_refused() {
        let mut map = UrlMap::new().mount("/a/", echo());
        assert!(map.try_mount("//a", echo()).is_err());
        assert!(map.try_mount("/a/../b", echo()).is_err());
    }
}

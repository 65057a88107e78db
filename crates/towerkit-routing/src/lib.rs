//! Rule routing for towerkit, after `werkzeug.routing`: a [`Map`] of
//! [`Rule`]s with typed converters, methods, strict slashes, hosts and
//! subdomains; a [`Router`] service that dispatches to any tower service;
//! and [`url_for`], which builds URLs back from an endpoint and knows where
//! the router is mounted (`ScriptName`, the proxy's prefix included).
//!
//! The smallest use: two rules, one service per endpoint, a URL built.
//!
//! ```
//! use http::{Request, Response};
//! use towerkit_core::{handler, Body, BoxError, TestClient};
//! use towerkit_routing::{url_for, Map, Params, RouteMatch, Router};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let map = Map::builder()
//!     .route("GET /devices/", "devices")?
//!     .route("GET /devices/<int:id>", "device")?
//!     .build()?;
//! let device = handler(|req: Request<Body>| async move {
//!     let id = RouteMatch::of(&req).and_then(|m| m.int("id")).unwrap_or_default();
//!     let next = url_for(&req, "device", &Params::new().set("id", id + 1))?;
//!     Ok::<_, BoxError>(Response::new(Body::from(format!("device {id}, next {next}"))))
//! });
//! let list = handler(|_req: Request<Body>| async { Ok::<_, BoxError>(Response::new(Body::from("all"))) });
//! let router = Router::builder(map)
//!     .endpoint("devices", tower::util::BoxCloneSyncService::new(list))
//!     .endpoint("device", tower::util::BoxCloneSyncService::new(device))
//!     .build()?;
//! let mut client = TestClient::new(router);
//! assert_eq!(client.get("/devices/7").send().await?.text(), "device 7, next /devices/8");
//! assert_eq!(client.get("/devices/x").send().await?.status(), 404);
//! assert_eq!(client.post("/devices/7").send().await?.headers()["allow"], "GET, HEAD, OPTIONS");
//! assert_eq!(client.get("/devices").send().await?.headers()["location"], "http://localhost/devices/");
//! # Ok::<(), BoxError>(()) }).unwrap();
//! ```
//!
//! - **Rules** ([`Rule`]): `/say/<name>`, `<int(min=1):id>`, `<float:x>`,
//!   `<path:rest>`, `<uuid:id>`, `<any(a, b):kind>`, converters of one's own
//!   ([`Converter`], [`MapBuilder::converter`]).
//! - **Matching** does not depend on the order rules were added: static
//!   segments before placeholders, by converter weight, `path` last (see
//!   [`Map`]); building the map refuses rules that can never match and two
//!   rules of one endpoint that `url_for` could not choose between.
//! - **Values** reach the endpoint in a [`RouteMatch`] extension, typed
//!   ([`Value`]) and as text, decoded once from the canonical path
//!   `towerkit_core::canonical` gives.
//! - **URLs**: [`url_for`], and [`Urls`] for absolute URLs and a choice of
//!   method; parameters that are not placeholders become the query string;
//!   what cannot be built is a [`BuildError`].

#![warn(missing_docs)]

mod build;
pub mod converter;
mod error;
mod map;
mod pattern;
#[cfg(test)]
mod proptests;
mod router;
mod rule;
#[cfg(test)]
mod tests;

pub use build::{url_for, Params, Urls};
pub use converter::{Converter, Value};
pub use error::{BuildError, MapError};
pub use map::{Map, MapBuilder};
pub use router::{ResponseFuture, RouteMatch, Router, RouterBuilder};
pub use rule::Rule;

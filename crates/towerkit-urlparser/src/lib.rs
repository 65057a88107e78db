//! Mounting for towerkit, after `paste.urlparser`, `paste.urlmap` and
//! `paste.cascade`. Every mount moves the consumed path segments to
//! [`ScriptName`](towerkit_core::ScriptName), so that a mounted app sees
//! paths relative to where it is mounted.
//!
//! - [`UrlParser`]: a document root, walked a segment at a time: folders
//!   are nested parsers, files are apps by extension (static by default).
//! - [`UrlMap`]: apps mounted at path prefixes and hosts, longest first.
//! - [`Cascade`]: apps tried in order until one does not answer 404.
//!
//! ```
//! use std::convert::Infallible;
//! use http::{Request, Response};
//! use tower::util::BoxCloneSyncService;
//! use towerkit_core::{app::{Echo, Text}, Body};
//! use towerkit_urlparser::UrlMap;
//!
//! type App = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;
//! let site: UrlMap<App> = UrlMap::new()
//!     .mount("/", BoxCloneSyncService::new(Text::new("home")))
//!     .mount("/debug", BoxCloneSyncService::new(Echo))
//!     .mount("admin.example.com/", BoxCloneSyncService::new(Text::new("admin")));
//! # let _ = site;
//! ```
//!
//! ## In an axum app
//!
//! [`UrlMap`] mounts any services, axum routers among them, and answers with
//! any body; it goes into axum as a fallback. Each mounted router sees paths
//! relative to its mount, and its mount in [`ScriptName`](towerkit_core::ScriptName).
//! [`UrlParser`] and [`Cascade`] are towerkit apps that fail with towerkit
//! errors: they go in through [`Compat::new`](towerkit_core::compat::Compat::new).
//!
//! ```no_run
//! use axum::{routing::get, Router};
//! use towerkit_core::compat::Compat;
//! use towerkit_urlparser::{UrlMap, UrlParser};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let blog = Router::new().route("/post", get(|| async { "a post" }));
//!     let map = UrlMap::new()
//!         .mount("/blog", blog)
//!         .mount("/", Router::new().fallback_service(Compat::new(UrlParser::new("public"))));
//!     let app = Router::new().fallback_service(map);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

pub mod cascade;
pub mod urlmap;
pub mod urlparser;

pub use cascade::Cascade;
pub use urlmap::{InvalidMount, UrlMap};
pub use urlparser::{BoxService, FileHandler, UrlParser};

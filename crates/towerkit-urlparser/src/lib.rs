//! Mounting for towerkit, after `paste.urlmap`: [`UrlMap`] dispatches each
//! request to the app mounted at the longest matching path prefix (and
//! host), moving the matched segments from the path to
//! [`ScriptName`](towerkit_core::ScriptName) so that the mounted app sees
//! paths relative to where it is mounted.
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

#![warn(missing_docs)]

pub mod urlmap;

pub use urlmap::{InvalidMount, UrlMap};

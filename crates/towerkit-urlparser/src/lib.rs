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

#![warn(missing_docs)]

pub mod cascade;
pub mod urlmap;
pub mod urlparser;

pub use cascade::Cascade;
pub use urlmap::{InvalidMount, UrlMap};
pub use urlparser::{BoxService, FileHandler, UrlParser};

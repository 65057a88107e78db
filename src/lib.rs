//! towerkit: WSGIKit (Python Paste) reborn on tower.
//!
//! A toolkit of independent `tower` middleware layers, each its own crate,
//! that stack in Rust or declaratively from a TOML file, and a minimal server
//! to run them. This facade re-exports the crates behind features of the same
//! name, and holds the `towerkit` command:
//!
//! | module | crate | what it is |
//! | --- | --- | --- |
//! | [`core`] | `towerkit-core` | the environ as request extensions, `Body`, `HttpException`, `TestClient` |
//! | [`server`] | `towerkit-server` | HTTP/1.1 and HTTP/2 server, TLS, limits, graceful shutdown |
//! | [`urlparser`] | `towerkit-urlparser` | `UrlParser` (a document root), `UrlMap` (prefix and host mounting), `Cascade` |
//! | [`httpexceptions`] | `towerkit-httpexceptions` | errors and panics rendered as error pages |
//! | [`recursive`] | `towerkit-recursive` | include/forward through the stack, error documents |
//! | [`accesslog`] | `towerkit-accesslog` | the access log, in Apache's combined format |
//! | [`files`] | `towerkit-static` (feature `static`) | `ServeFile`, `ServeDir`: files with ETag, ranges, precompressed `.gz` |
//! | [`gzip`] | `towerkit-gzip` | streaming gzip, request decompression with a bomb limit |
//! | [`session`] | `towerkit-session` | lazy sessions: memory, file, cookie and Redis stores |
//! | [`login`] | `towerkit-login` | Basic, Digest, form and auth_tkt tickets over htpasswd users |
//! | [`proxyfix`] | `towerkit-proxyfix` | `X-Forwarded-*` and `Forwarded` from trusted peers |
//! | [`cgi`] | `towerkit-cgi` | a CGI gateway |
//! | [`proxy`] | `towerkit-proxy` | a reverse proxy to HTTP/1.1, HTTP/2 and TLS upstreams |
//! | [`routing`] | `towerkit-routing` | rules with typed converters, methods, hosts; a `Router`; `url_for` that knows its mount |
//! | [`deploy`] | `towerkit-deploy` | stacks from TOML, after Paste Deploy |
//! | [`cli`] | | the `towerkit` command, for programs of one's own |
//!
//! The smallest stack, served:
//!
//! ```no_run
//! use towerkit::core::app::Text;
//! use towerkit::server::Server;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let server = Server::bind(["127.0.0.1:8080".parse().unwrap()]).await?;
//!     server.serve(Text::new("hello\n")).await
//! }
//! ```

#[cfg(feature = "cli")]
pub mod cli;

#[cfg(feature = "accesslog")]
pub use towerkit_accesslog as accesslog;
#[cfg(feature = "cgi")]
pub use towerkit_cgi as cgi;
pub use towerkit_core as core;
#[cfg(feature = "deploy")]
pub use towerkit_deploy as deploy;
#[cfg(feature = "gzip")]
pub use towerkit_gzip as gzip;
#[cfg(feature = "httpexceptions")]
pub use towerkit_httpexceptions as httpexceptions;
#[cfg(feature = "login")]
pub use towerkit_login as login;
#[cfg(feature = "proxy")]
pub use towerkit_proxy as proxy;
#[cfg(feature = "proxyfix")]
pub use towerkit_proxyfix as proxyfix;
#[cfg(feature = "recursive")]
pub use towerkit_recursive as recursive;
#[cfg(feature = "routing")]
pub use towerkit_routing as routing;
#[cfg(feature = "server")]
pub use towerkit_server as server;
#[cfg(feature = "session")]
pub use towerkit_session as session;
/// `towerkit-static` (a keyword cannot name a module).
#[cfg(feature = "static")]
pub use towerkit_static as files;
#[cfg(feature = "urlparser")]
pub use towerkit_urlparser as urlparser;

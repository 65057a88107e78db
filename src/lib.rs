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
//! | [`server`] | `towerkit-server` | HTTP/1.1 and h2c server with graceful shutdown |
//! | [`urlparser`] | `towerkit-urlparser` | `UrlMap`: mounting by path prefix and host |
//! | [`httpexceptions`] | `towerkit-httpexceptions` | errors and panics rendered as error pages |
//! | [`recursive`] | `towerkit-recursive` | include/forward through the stack, error documents |
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

pub use towerkit_core as core;
#[cfg(feature = "deploy")]
pub use towerkit_deploy as deploy;
#[cfg(feature = "httpexceptions")]
pub use towerkit_httpexceptions as httpexceptions;
#[cfg(feature = "recursive")]
pub use towerkit_recursive as recursive;
#[cfg(feature = "server")]
pub use towerkit_server as server;
#[cfg(feature = "urlparser")]
pub use towerkit_urlparser as urlparser;

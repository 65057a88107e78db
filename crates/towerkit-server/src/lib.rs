//! A minimal hyper server for towerkit stacks, after `paste.httpserver`.
//!
//! It runs any tower service whose request is `Request<towerkit_core::Body>`:
//! HTTP/1.1 with keep-alive and HTTP/2 cleartext (prior knowledge) on the
//! same port, IPv4 and IPv6, many connections at once. Every request carries
//! a [`ConnectionInfo`](towerkit_core::ConnectionInfo) with the peer and local
//! addresses. On SIGINT or SIGTERM the server stops accepting (new
//! connections are refused), lets in-flight requests finish within a grace
//! period, then closes what is left. An error the stack returns is answered
//! as an error page (an [`HttpException`](towerkit_core::HttpException) as
//! itself, anything else as a bare 500), never a dropped connection.
//!
//! The smallest use:
//!
//! ```no_run
//! use towerkit_core::app::Text;
//! use towerkit_server::Server;
//!
//! # async fn run() -> std::io::Result<()> {
//! let server = Server::bind(["127.0.0.1:8080".parse().unwrap()]).await?;
//! for addr in server.local_addrs() {
//!     eprintln!("listening on http://{addr}");
//! }
//! server.serve(Text::new("hello\n")).await
//! # }
//! ```

#![warn(missing_docs)]

pub mod activation;
mod body;
mod connection;
mod io;
mod limits;
pub mod metrics;
mod reload;
mod server;
mod service;
mod signal;
mod streams;
mod tls;

pub use limits::{raise_open_files_limit, Limits};
pub use reload::{Reloadable, Reloader};
pub use server::{Builder, Server, DEFAULT_SHUTDOWN_GRACE};
pub use signal::shutdown_signal;
pub use tls::TlsConfig;

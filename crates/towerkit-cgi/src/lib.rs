//! A CGI gateway for towerkit (RFC 3875), after `paste.cgiapp`: legacy
//! scripts mounted anywhere in a stack.
//!
//! - **Meta-variables** from the request and the environ extensions:
//!   `SCRIPT_NAME` and `PATH_INFO` from where the script is mounted,
//!   `REMOTE_ADDR` after a proxy fix, `REMOTE_USER`/`AUTH_TYPE` after a
//!   login, `HTTPS`, `REQUEST_URI`, `HTTP_*` for headers (never
//!   `HTTP_PROXY`; `Authorization` only when asked; never a header whose
//!   name has a `_`, as in nginx and Apache: `X_User` would pass for the
//!   `X-User` a front proxy sets). The server's own environment is cleared
//!   but for `pass_env`. The script runs in its folder, started by its
//!   absolute path: a relative `root` or `script` is taken from the current
//!   directory when the gateway is built.
//! - **Streams both ways**: the request body is written to the script's
//!   stdin as it comes; its output's headers are read (`Status`, whose
//!   reason phrase reaches HTTP/1 clients as the script wrote it,
//!   `Status: 200 Okay` as `HTTP/1.1 200 Okay`, unless it holds a control
//!   character; `Location`: a local path is an internal redirect through
//!   the recursive layer, an absolute URL a 302), then the rest streams to
//!   the client.
//!   Bad headers: 502. Lines on stderr become warnings in the log.
//! - **Time and processes**: past `timeout` the script's process group is
//!   killed (504 if it had not answered); a client that goes away kills it
//!   too; every child is reaped; `max_concurrent` bounds how many run.
//!
//! ```no_run
//! use std::time::Duration;
//! use towerkit_cgi::Cgi;
//!
//! let scripts = Cgi::root("cgi-bin").timeout(Duration::from_secs(10)).max_concurrent(8);
//! # let _ = scripts;
//! ```
//!
//! ## In an axum app
//!
//! [`Cgi`] is a towerkit app that fails with towerkit errors (a 502 for a bad
//! script, a 504 past its timeout): it goes into axum through
//! [`Compat::new`](towerkit_core::compat::Compat::new), which makes them pages.
//! (axum's `nest_service` does not tell the script where it is mounted:
//! `SCRIPT_NAME` is empty; mount with `towerkit-urlparser`'s `UrlMap` for it.)
//!
//! ```no_run
//! use axum::Router;
//! use towerkit_cgi::Cgi;
//! use towerkit_core::compat::Compat;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new().nest_service("/cgi-bin", Compat::new(Cgi::root("cgi-bin")));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod env;
mod gateway;

pub use gateway::{Cgi, DEFAULT_TIMEOUT};

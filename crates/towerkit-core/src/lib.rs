//! The towerkit vocabulary: what every towerkit layer agrees on.
//!
//! WSGI gave every piece of a Python web stack one shared dictionary, the
//! environ. towerkit gives every [`tower`] layer one shared set of request
//! extension types instead, and the few functions that keep them true:
//!
//! - the environ: [`ScriptName`], [`OriginalUri`], [`ConnectionInfo`],
//!   [`RemoteUser`] (see [`environ`]);
//! - one request truth: the canonical path and validated host every layer
//!   decides on ([`canonical`]), and the client ([`client_addr`]);
//! - mounting: [`shift_path_info`] moves one path segment to [`ScriptName`],
//!   [`path_info`] reads what is left (see [`path`]);
//! - URLs: [`application_url`], [`construct_url`];
//! - answers: one [`Body`] type, and [`HttpException`] for every error answer,
//!   rendered as HTML, problem+json or text by `Accept`;
//! - small apps ([`app::Text`], [`app::Echo`]), [`handler`] for async
//!   functions, and a [`TestClient`] to test any service in-process.
//!
//! The smallest use: a handler that knows where it is mounted.
//!
//! ```
//! use http::{Request, Response};
//! use towerkit_core::{application_url, handler, Body, HttpException, TestClient};
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = handler(|req: Request<Body>| async move {
//!     match req.uri().path() {
//!         "/" => Ok(Response::new(Body::from(application_url(&req)))),
//!         _ => Err(HttpException::not_found()),
//!     }
//! });
//! let mut client = TestClient::new(app);
//! let res = client.get("/").send().await.unwrap();
//! assert_eq!(res.text(), "http://localhost");
//! # });
//! ```
//!
//! [`tower`]: https://docs.rs/tower

#![warn(missing_docs)]

pub mod app;
mod body;
pub mod canonical;
pub mod compat;
pub mod encoding;
pub mod environ;
mod exception;
mod handler;
pub mod header;
pub mod kept;
pub mod oneshot;
pub mod path;
pub mod recursive;
#[cfg(feature = "redis")]
pub mod redis;
pub mod session;
pub mod test_client;
pub mod url;

pub use body::{try_downcast, Body};
pub use compat::compat;
pub use environ::{
    client_addr, ConnectionInfo, EndOnShutdown, OriginalUri, RemoteUser, RouteLabel, ScriptName,
    Shutdown, TlsInfo,
};
pub use exception::{escape_html, Format, HttpException, RetryAfter};
pub use handler::{handler, Handler, HandlerFuture};
pub use path::{mount, path_info, set_path_info, shift_path_info, shift_path_segments};
pub use test_client::{TestClient, TestRequest, TestResponse};
pub use url::{application_url, construct_url, url_scheme};

/// Defines `get_ref`, `get_mut` and `into_inner` in an `impl<S> X<S>`
/// block of a service that wraps its inner service `S` in a field named
/// `inner`: the accessors every towerkit layer's service has, as
/// tower-http's do.
///
/// ```
/// struct Wrap<S> {
///     inner: S,
/// }
///
/// impl<S> Wrap<S> {
///     towerkit_core::inner_service_accessors!();
/// }
///
/// let mut wrap = Wrap { inner: 7 };
/// *wrap.get_mut() += 1;
/// assert_eq!(*wrap.get_ref(), 8);
/// assert_eq!(wrap.into_inner(), 8);
/// ```
#[macro_export]
macro_rules! inner_service_accessors {
    () => {
        /// The wrapped service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The wrapped service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// The wrapped service, unwrapped.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// The error type layers pass around: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

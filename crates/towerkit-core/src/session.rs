//! `SessionFactory`: the session of a request, loaded only when used.
//!
//! After `paste.session`: the session layer (crate `towerkit-session`) puts
//! a [`SessionFactory`] in every request. Nothing is loaded, stored or sent
//! until the application asks: a request that never touches its session
//! costs no store I/O and gets no cookie.
//!
//! Values are typed (anything serde can write) and kept by key:
//!
//! ```
//! use http::{Request, Response};
//! use towerkit_core::session::SessionFactory;
//! use towerkit_core::{handler, Body, BoxError, HttpException};
//!
//! let counter = handler(|req: Request<Body>| async move {
//!     let session = SessionFactory::of(&req).ok_or_else(|| HttpException::internal_server_error())?;
//!     let visits: u64 = session.get("visits").await?.unwrap_or(0);
//!     session.insert("visits", visits + 1).await?;
//!     Ok::<_, BoxError>(Response::new(Body::from(format!("visit {}", visits + 1))))
//! });
//! # let _ = counter;
//! ```
//!
//! Errors are [`HttpException`]s: 503 when the store cannot be reached (a
//! Redis that is down), 500 when the session cannot be kept (a cookie
//! session past 4 KB), so `?` gives the client the right answer.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::Request;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::exception::HttpException;

/// A boxed future borrowing the session.
pub type SessionFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HttpException>> + Send + 'a>>;

/// What a session layer implements: the untyped operations behind
/// [`SessionFactory`]. Loading happens on the first call.
pub trait SessionHandle: Send + Sync + 'static {
    /// The value under `key`.
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>>;
    /// Sets `key`; creates the session if there is none.
    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()>;
    /// Removes `key`, returning its value.
    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>>;
    /// Removes every key (the session stays, empty).
    fn clear(&self) -> SessionFuture<'_, ()>;
    /// Gives the session a new id, keeping its data: after a login, against
    /// session fixation. The old record is deleted only once the new one is
    /// stored.
    fn cycle_id(&self) -> SessionFuture<'_, ()>;
    /// Ends the session: the record is deleted and the cookie removed (with
    /// the attributes it was set with).
    fn destroy(&self) -> SessionFuture<'_, ()>;
}

/// The session of a request (`paste.session.factory`).
#[derive(Clone)]
pub struct SessionFactory(Arc<dyn SessionHandle>);

impl fmt::Debug for SessionFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionFactory")
    }
}

impl SessionFactory {
    /// Wraps a handle. For session layers.
    pub fn new(handle: Arc<dyn SessionHandle>) -> Self {
        SessionFactory(handle)
    }

    /// The session of a request, when a session layer is above.
    pub fn of<B>(req: &Request<B>) -> Option<SessionFactory> {
        req.extensions().get::<SessionFactory>().cloned()
    }

    /// The value under `key`, read as a `T`; `None` when absent (or of
    /// another shape).
    pub async fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, HttpException> {
        Ok(self
            .0
            .get_value(key)
            .await?
            .and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Sets `key` to `value`.
    pub async fn insert<T: Serialize>(&self, key: &str, value: T) -> Result<(), HttpException> {
        let value = serde_json::to_value(value).map_err(|err| {
            HttpException::internal_server_error()
                .with_detail(format!("a session value cannot be stored: {err}"))
        })?;
        self.0.insert_value(key, value).await
    }

    /// Removes `key`, returning its value read as a `T`.
    pub async fn remove<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, HttpException> {
        Ok(self
            .0
            .remove_value(key)
            .await?
            .and_then(|value| serde_json::from_value(value).ok()))
    }

    /// Removes every key.
    pub async fn clear(&self) -> Result<(), HttpException> {
        self.0.clear().await
    }

    /// A new id for the same data; see [`SessionHandle::cycle_id`].
    pub async fn cycle_id(&self) -> Result<(), HttpException> {
        self.0.cycle_id().await
    }

    /// Ends the session; see [`SessionHandle::destroy`].
    pub async fn destroy(&self) -> Result<(), HttpException> {
        self.0.destroy().await
    }
}

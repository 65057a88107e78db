//! Lazy sessions for towerkit, after `paste.session`: safe by default, and
//! shared by any number of servers through Redis.
//!
//! [`SessionLayer`] puts a [`SessionFactory`](towerkit_core::session::SessionFactory)
//! in every request. Nothing is loaded, stored or sent until the app asks:
//! a request that never touches its session costs no store I/O and gets no
//! `Set-Cookie`.
//!
//! - **Saved only when modified**; a new id is made only when something is
//!   stored. An unknown, expired, malformed or forged cookie is no session
//!   (logged at debug), never an error.
//! - **`cycle_id`** gives the same data a new id (after a login, against
//!   fixation); the old record is deleted only once the new one is stored.
//!   **`destroy`** deletes the record and removes the cookie with the
//!   attributes it was set with.
//! - **Cookie**: `towerkit_session` by default, `HttpOnly`, `SameSite=Lax`,
//!   `Secure` when the request's scheme is https (after a proxy fix) or when
//!   forced, `Path` = the layer's `ScriptName` (or `/`), `Max-Age` from the
//!   expiry.
//! - **Expiry**: an absolute lifetime (`max_age`, 12 h by default) and an
//!   optional inactivity timeout, refreshed by reads too, at most once per
//!   tenth of the timeout so that reads do not all write.
//! - **Ids**: 256 bits from the operating system, URL-safe; a cookie value
//!   becomes a file name or a Redis key only after it is checked.
//! - **Stores** behind one trait, [`SessionStore`]: [`MemoryStore`]
//!   (bounded), [`FileStore`] (atomic, 0600, survives restarts),
//!   [`CookieStore`] (the session itself, encrypted and signed, 4 KB at
//!   most), [`RedisStore`] (shared, every operation bounded by a timeout;
//!   the `redis` feature, on by default).
//! - **Outages are 503, never logouts**: when the store fails (Redis down
//!   or hung past its timeout), a request that uses its session is answered
//!   503 with `Retry-After`, rendered by `Accept`, even if the app (or a
//!   login layer) went on without the session; the outage is logged once
//!   when it begins (a warning) and once when the store answers again (an
//!   info), and service resumes by itself.
//!
//! ```
//! use tower::Layer;
//! use towerkit_core::app::Text;
//! use towerkit_session::{MemoryStore, SessionLayer};
//! use std::time::Duration;
//!
//! let app = SessionLayer::new(MemoryStore::default())
//!     .idle_timeout(Duration::from_secs(30 * 60))
//!     .layer(Text::new("hello"));
//! # let _ = app;
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any request body and passes the app's errors on, so it
//! goes straight into `Router::layer`; a handler takes the session as an
//! `Extension`:
//!
//! ```no_run
//! use axum::{routing::get, Extension, Router};
//! use towerkit_core::session::SessionFactory;
//! use towerkit_session::{MemoryStore, SessionLayer};
//!
//! async fn count(Extension(session): Extension<SessionFactory>) -> String {
//!     let n = session.get::<u32>("n").await.ok().flatten().unwrap_or(0) + 1;
//!     match session.insert("n", n).await {
//!         Ok(()) => n.to_string(),
//!         Err(exception) => exception.to_string(),
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let app = Router::new()
//!         .route("/count", get(count))
//!         .layer(SessionLayer::new(MemoryStore::default()));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod error;
mod health;
mod id;
mod layer;
mod lazy;
mod record;
pub mod store;

pub use cookie::SameSite;
pub use error::SessionError;
pub use id::{is_valid_id, new_id};
pub use layer::{ResponseFuture, Session, SessionLayer, DEFAULT_COOKIE_NAME};
pub use record::{Expiry, Record};
#[cfg(feature = "redis")]
pub use store::RedisStore;
pub use store::{CookieStore, FileStore, MemoryStore, SessionStore, StoreError};

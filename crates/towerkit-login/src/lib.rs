//! Login for towerkit, after `paste.auth`: it sets the
//! [`RemoteUser`](towerkit_core::RemoteUser) extension (with the method
//! used, as `AUTH_TYPE` did) and answers with the right challenge.
//!
//! - **Users**: the [`Authenticator`] trait, and the files Apache's tools
//!   write: [`HtpasswdFile`] (bcrypt, `{SHA}`, `$apr1$`, reloaded when the
//!   file changes) and [`HtdigestFile`] (for Digest). Comparisons run in
//!   constant time.
//! - **Guessing** is slowed, then refused, per user *and* client address:
//!   after three failures each attempt waits 100 ms doubling (to 3.2 s),
//!   and after ten that pair is answered 429 with `Retry-After` for 15
//!   minutes; the owner logging in from another address is not refused.
//!   A client address is also limited across users (waits after 10
//!   failures, 429 after 30), and everyone together by a global budget of
//!   100 checks, refilled at 10 a second, that a pair which logged in
//!   before does not need. Each attempt is counted before its password is
//!   checked, so a burst of parallel guesses checks no more than one by
//!   one. The table that counts is bounded (100,000 entries, a user name
//!   kept as a 16-byte digest) and never forgets a live count to make
//!   room. The details are in the `throttle` module's documentation
//!   (`src/throttle.rs`).
//! - **Basic** (RFC 7617): `charset="UTF-8"`, passwords may hold colons; a
//!   missing, foreign, undecodable or colon-less header gets the challenge.
//! - **Digest** (RFC 7616): SHA-256 and MD5 offered, `qop="auth"`, nonces
//!   made and signed here with their time (unknown or forged ones refused,
//!   old ones `stale=true`), a replayed `nc` refused with `stale=true`, the
//!   `uri` checked against the request target.
//! - **Form**: `GET /login` shows the form; `POST /login` checks the
//!   credentials, keeps the user in the session (cycling its id, against
//!   fixation) and/or issues a ticket, then 303 to `next`, a same-origin
//!   path only. Wrong credentials show the form again with 401.
//!   `/logout` ends it.
//! - **Tickets**: auth_tkt cookies as mod_auth_tkt, Paste and Pyramid write
//!   them (md5, sha256, sha512, optionally bound to the client's IPv4),
//!   with a timeout and reissue past half of it; a valid ticket sets the user
//!   and its [`UserTokens`].
//! - **When to challenge**: paths under `protect` need a user; any 401 from
//!   the app becomes the challenge (browsers, which accept `text/html`, are
//!   sent to the form when there is one). A user set upstream passes.
//! - **Many instances**: behind a load balancer, give every instance the
//!   same [`secret`](LoginLayer::secret) (at least 32 bytes: the Digest
//!   nonce key is derived from it, so any instance takes any instance's
//!   nonces) and the same [`state`](LoginLayer::state) (`redis://…`, feature
//!   `redis`, on by default: the throttle's counts and the Digest `nc`
//!   seen are kept in Redis, changed atomically, every key with a TTL).
//!   The budgets are then the same as one instance's, whatever instance
//!   an attempt reaches. A Redis that does not answer (within 2 s unless
//!   [`state_timeout`](LoginLayer::state_timeout) says otherwise) gets the
//!   logins that need it a 503 with `Retry-After: 5`, never a free pass.
//! - **Caching**: an answer for a user (and so every answer under
//!   `protect`) is `Cache-Control: private, no-store` unless the app chose
//!   `private` or `no-store` itself; the layer's own pages are `no-store`.
//!   No shared cache keeps them for others, and no browser shows them again
//!   after logout.
//! - **Sessions**: the form login keeps the user in the session of a
//!   session layer outside this one (`towerkit-session`), unless logins are
//!   kept in tickets (the ticket method, with its options). Without one, the
//!   first request to the form logs an error and logging in answers 500.
//!
//! ```no_run
//! use tower::Layer;
//! use towerkit_core::app::Text;
//! use towerkit_login::{HtpasswdFile, LoginLayer, LoginMethod};
//!
//! let users = HtpasswdFile::open("users.htpasswd").unwrap();
//! let app = LoginLayer::new(users, &[LoginMethod::Form, LoginMethod::Basic])
//!     .unwrap()
//!     .protect(vec!["/admin".into()])
//!     .layer(Text::new("hello"));
//! # let _ = app;
//! ```
//!
//! ## In an axum app
//!
//! The layer takes any request body and any response body of the app, and
//! passes its errors on, so it goes straight into `Router::layer`; a handler
//! takes the user as an `Extension`. Serve with axum's connect-info, so that
//! the throttle tells clients apart (`towerkit_core::client_addr` reads it when
//! `towerkit-core`'s `axum` feature is on; without it every client is one
//! unknown client):
//!
//! ```no_run
//! use std::net::SocketAddr;
//! use axum::{routing::get, Extension, Router};
//! use towerkit_core::RemoteUser;
//! use towerkit_login::{HtpasswdFile, LoginLayer, LoginMethod};
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let users = HtpasswdFile::open("users.htpasswd").map_err(std::io::Error::other)?;
//!     let login = LoginLayer::new(users, &[LoginMethod::Basic])
//!         .map_err(std::io::Error::other)?
//!         .protect(vec!["/admin".into()]);
//!     let app = Router::new()
//!         .route("/admin", get(|Extension(user): Extension<RemoteUser>| async move { user.name }))
//!         .layer(login);
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     // The client's address, for the layer: axum's connect-info.
//!     axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! }
//! ```

#![warn(missing_docs)]

mod cache;
pub mod digest;
mod error;
mod future;
mod layer;
#[cfg(test)]
mod proptests;
mod state;
#[cfg(test)]
mod test_users;
mod throttle;
pub mod ticket;
pub mod users;

pub use error::LoginError;
pub use future::ResponseFuture;
pub use layer::{
    safe_next, Login, LoginLayer, LoginMethod, TicketOptions, UserTokens, DEFAULT_FORM,
    MIN_TICKET_SECRET, SESSION_USER,
};
pub use ticket::{Ticket, TicketDigest, TicketSigner};
pub use users::{Authenticator, HtdigestFile, HtpasswdFile, UserFiles};

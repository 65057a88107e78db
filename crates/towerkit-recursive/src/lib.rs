//! Recursion through a towerkit stack, after `paste.recursive` and
//! `paste.errordocument`.
//!
//! - [`RecursiveLayer`] lets the apps below it include other URLs and
//!   forward requests, through the
//!   [`Recursive`](towerkit_core::recursive::Recursive) handle it puts in each
//!   request, and stops loops.
//! - [`ErrorDocumentsLayer`] replaces the body of an error status with a page
//!   fetched through that handle, keeping the status.
//!
//! ```
//! use tower::Layer;
//! use towerkit_core::app::Text;
//! use towerkit_recursive::{ErrorDocumentsLayer, RecursiveLayer};
//!
//! let documents = ErrorDocumentsLayer::new().document(404, "/404.html");
//! let stack = RecursiveLayer::new().layer(documents.layer(Text::new("site")));
//! # let _ = stack;
//! ```
//!
//! ## In an axum app
//!
//! Forwards and loops are towerkit errors by design, so the layer goes into
//! axum through [`towerkit_core::compat()`], which makes them pages; it wraps the
//! whole router (`Router::layer` wraps each route on its own, and a forward
//! must reach the others). A handler forwards by returning
//! [`Forward::into_response`](towerkit_core::recursive::Forward::into_response).
//!
//! ```no_run
//! use axum::{extract::Request, routing::get, Router};
//! use tower::Layer;
//! use towerkit_core::{compat, recursive::Recursive};
//! use towerkit_recursive::RecursiveLayer;
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     let routes = Router::new()
//!         .route("/old", get(|req: Request| async move { Recursive::forward(&req, "/new").into_response() }))
//!         .route("/new", get(|| async { "new" }));
//!     let app = Router::new().fallback_service(compat(RecursiveLayer::new()).layer(routes));
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     axum::serve(listener, app).await
//! }
//! ```

#![warn(missing_docs)]

mod error;
pub mod error_documents;
pub mod recursive;

pub use error::RecursiveError;
pub use error_documents::{ErrorDocuments, ErrorDocumentsLayer};
pub use recursive::{Recursive, RecursiveLayer, ResponseFuture, DEFAULT_MAX_DEPTH};

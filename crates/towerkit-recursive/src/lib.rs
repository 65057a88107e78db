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

#![warn(missing_docs)]

pub mod error_documents;
pub mod recursive;

pub use error_documents::{ErrorDocuments, ErrorDocumentsLayer};
pub use recursive::{RecursiveLayer, RecursiveService, ResponseFuture, DEFAULT_MAX_DEPTH};

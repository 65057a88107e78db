//! Why a layer of this crate could not be made as asked.

use std::fmt;

/// Why [`ErrorDocumentsLayer::try_document`](crate::ErrorDocumentsLayer::try_document)
/// refused a mapping: the same check, and the same message, whether the
/// layer is built in Rust or from a TOML file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecursiveError {
    /// Not a 4xx or 5xx status.
    NotAnErrorStatus(u16),
    /// The document's URI is not a path starting with `/`.
    NotAPath(String),
    /// The document's path has no canonical spelling (a `..` above the
    /// root, a control character): the URI and why.
    BadPath(String),
}

impl fmt::Display for RecursiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecursiveError::NotAnErrorStatus(status) => {
                write!(f, "{status} is not an error status (400 to 599)")
            }
            RecursiveError::NotAPath(uri) => write!(f, "{uri:?} is not a path starting with '/'"),
            RecursiveError::BadPath(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RecursiveError {}

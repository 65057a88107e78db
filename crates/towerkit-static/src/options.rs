//! What a static app can be told.

use std::time::Duration;

/// Options shared by [`ServeFile`](crate::ServeFile) and
/// [`ServeDir`](crate::ServeDir).
#[derive(Clone, Debug)]
#[must_use]
pub struct StaticOptions {
    pub(crate) max_age: Option<Duration>,
    pub(crate) follow_symlinks: bool,
    pub(crate) precompressed_gzip: bool,
}

impl Default for StaticOptions {
    fn default() -> Self {
        StaticOptions {
            max_age: None,
            follow_symlinks: false,
            precompressed_gzip: true,
        }
    }
}

impl StaticOptions {
    /// Defaults: no `Cache-Control`, symlinks must stay inside the root,
    /// precompressed `.gz` siblings used.
    pub fn new() -> Self {
        StaticOptions::default()
    }

    /// Sends `Cache-Control: max-age=SECONDS`.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Serves what symlinks point to even outside the root.
    pub fn follow_symlinks(mut self, follow: bool) -> Self {
        self.follow_symlinks = follow;
        self
    }

    /// Whether symlinks out of the root are followed.
    pub fn follows_symlinks(&self) -> bool {
        self.follow_symlinks
    }

    /// Sends a `NAME.gz` sibling, when there is one, to clients that accept
    /// gzip (on by default).
    pub fn precompressed_gzip(mut self, use_it: bool) -> Self {
        self.precompressed_gzip = use_it;
        self
    }
}

//! `ServeFile`: one file as an app.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;
use towerkit_core::{Body, HttpException};

use crate::options::StaticOptions;
use crate::response::{respond, Location};
use crate::root::Root;

/// Serves one file, whatever the path (after `paste.fileapp.FileApp`).
///
/// ```
/// use towerkit_static::ServeFile;
///
/// let robots = ServeFile::new("public/robots.txt");
/// # let _ = robots;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ServeFile {
    path: Arc<PathBuf>,
    root: Option<Arc<Root>>,
    options: StaticOptions,
}

impl ServeFile {
    /// Serves the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServeFile {
            path: Arc::new(path.into()),
            root: None,
            options: StaticOptions::default(),
        }
    }

    /// Serves the file at `relative` under `root`, opened so that nothing
    /// (a symlink swapped in meanwhile) can lead it out of the root.
    pub fn beneath(root: Arc<Root>, relative: impl Into<PathBuf>) -> Self {
        ServeFile {
            path: Arc::new(relative.into()),
            root: Some(root),
            options: StaticOptions::default(),
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: StaticOptions) -> Self {
        self.options = options;
        self
    }
}

impl<B> Service<Request<B>> for ServeFile {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (parts, _) = req.into_parts();
        let this = self.clone();
        Box::pin(async move {
            let location = match &this.root {
                Some(root) => Location::Beneath(root, &this.path),
                None => Location::Path(&this.path),
            };
            let response = respond(&parts, location, &this.options).await;
            Ok(response.unwrap_or_else(|| {
                HttpException::not_found().response_for(&Request::from_parts(parts, ()))
            }))
        })
    }
}

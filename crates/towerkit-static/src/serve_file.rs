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
use crate::response::respond;

/// Serves one file, whatever the path (after `paste.fileapp.FileApp`).
///
/// ```
/// use towerkit_static::ServeFile;
///
/// let robots = ServeFile::new("public/robots.txt");
/// # let _ = robots;
/// ```
#[derive(Clone, Debug)]
pub struct ServeFile {
    path: Arc<PathBuf>,
    options: StaticOptions,
}

impl ServeFile {
    /// Serves the file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServeFile {
            path: Arc::new(path.into()),
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
        let path = self.path.clone();
        let options = self.options.clone();
        Box::pin(async move {
            let response = respond(&parts, &path, &options, None).await;
            Ok(response.unwrap_or_else(|| {
                HttpException::not_found().response_for(&Request::from_parts(parts, ()))
            }))
        })
    }
}

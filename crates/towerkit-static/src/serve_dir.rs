//! `ServeDir`: a folder of files, by `PATH_INFO`.

use std::convert::Infallible;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;
use towerkit_core::{path_info, Body, HttpException, ScriptName};

use crate::options::StaticOptions;
use crate::resolve::resolve;
use crate::response::{respond, Location};
use crate::root::Root;

/// Serves the files under a folder by the request's `PATH_INFO`.
///
/// Never anything outside it: `..` (raw or encoded), encoded slashes,
/// backslashes, NUL and hidden names are refused, and so are symlinks whose
/// target is outside the folder (unless
/// [`follow_symlinks`](StaticOptions::follow_symlinks)): all with 404. A
/// folder named without its trailing slash is redirected to it (the
/// `Location` keeps the mount prefix, from `ScriptName`); with the slash,
/// its `index.html` is served.
///
/// ```
/// use towerkit_static::{ServeDir, StaticOptions};
/// use std::time::Duration;
///
/// let assets = ServeDir::new("public")
///     .options(StaticOptions::new().max_age(Duration::from_secs(3600)));
/// # let _ = assets;
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct ServeDir {
    root: Arc<Root>,
    options: StaticOptions,
}

impl ServeDir {
    /// Serves the folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let options = StaticOptions::default();
        ServeDir {
            root: Arc::new(Root::new(root, options.follow_symlinks)),
            options,
        }
    }

    /// Sets the options.
    pub fn options(mut self, options: StaticOptions) -> Self {
        if options.follow_symlinks != self.options.follow_symlinks {
            self.root = Arc::new(Root::new(self.root.path(), options.follow_symlinks));
        }
        self.options = options;
        self
    }
}

impl<B> Service<Request<B>> for ServeDir {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        if let Err(bad) = towerkit_core::canonical::canonicalize(&mut req) {
            let response = HttpException::from(bad).response_for(&req);
            return Box::pin(std::future::ready(Ok(response)));
        }
        let path_info = path_info(&req).to_owned();
        let script_name = ScriptName::of(&req).to_owned();
        let (parts, _) = req.into_parts();
        let this = self.clone();
        Box::pin(async move {
            let Ok(path) = resolve(&path_info) else {
                return Ok(not_found(parts));
            };
            let location = Location::Beneath(&this.root, &path);
            if let Some(response) = respond(&parts, location, &this.options).await {
                return Ok(response);
            }
            // A folder.
            if !path_info.ends_with('/') {
                let query = parts
                    .uri
                    .query()
                    .map(|q| format!("?{q}"))
                    .unwrap_or_default();
                let location = format!("{script_name}{path_info}/{query}");
                let request = Request::from_parts(parts, ());
                return Ok(HttpException::moved_permanently(&location).response_for(&request));
            }
            let index = path.join("index.html");
            match respond(&parts, Location::Beneath(&this.root, &index), &this.options).await {
                Some(response) => Ok(response),
                None => Ok(not_found(parts)),
            }
        })
    }
}

fn not_found(parts: Parts) -> Response<Body> {
    HttpException::not_found().response_for(&Request::from_parts(parts, ()))
}

//! `Cascade`: try apps in order until one answers, after `paste.cascade`.
//!
//! Each app gets its own copy of the request; an answer whose status is in
//! `catch` (default: 404) is dropped and the next app tried; the last app's
//! answer stands. The request body is read once, up to a limit (413 past
//! it), and replayed to each app, so a change an app makes to its request
//! never reaches the next.
//!
//! ```
//! use tower::util::BoxCloneSyncService;
//! use towerkit_core::app::Text;
//! use towerkit_urlparser::{Cascade, UrlParser};
//!
//! let site = Cascade::new(vec![
//!     BoxCloneSyncService::new(UrlParser::new("overrides")),
//!     BoxCloneSyncService::new(UrlParser::new("public")),
//! ]);
//! # let _ = site;
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{Request, Response, StatusCode};
use tower::ServiceExt;
use tower_service::Service;
use towerkit_core::recursive::BoxFuture;
use towerkit_core::{Body, BoxError, HttpException};

use crate::urlparser::BoxService;

/// How much request body a cascade buffers, unless set.
pub const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// Tries apps in order; see the [module documentation](self).
#[derive(Clone)]
#[must_use]
pub struct Cascade {
    apps: Arc<Vec<BoxService>>,
    catch: Arc<Vec<StatusCode>>,
    max_body: u64,
}

impl std::fmt::Debug for Cascade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cascade")
            .field("apps", &self.apps.len())
            .field("catch", &self.catch)
            .field("max_body", &self.max_body)
            .finish()
    }
}

impl Cascade {
    /// A cascade of `apps`, catching 404.
    pub fn new(apps: Vec<BoxService>) -> Self {
        Cascade {
            apps: Arc::new(apps),
            catch: Arc::new(vec![StatusCode::NOT_FOUND]),
            max_body: DEFAULT_MAX_BODY,
        }
    }

    /// The statuses that pass the request on to the next app.
    pub fn catch(mut self, statuses: Vec<StatusCode>) -> Self {
        self.catch = Arc::new(statuses);
        self
    }

    /// The most request body buffered for replay.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }
}

fn copy(parts: &Parts, body: &Bytes) -> Request<Body> {
    let mut req = Request::new(Body::from(body.clone()));
    *req.method_mut() = parts.method.clone();
    *req.uri_mut() = parts.uri.clone();
    *req.version_mut() = parts.version;
    *req.headers_mut() = parts.headers.clone();
    *req.extensions_mut() = parts.extensions.clone();
    req
}

impl Service<Request<Body>> for Cascade {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let declared = req
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|len| len > this.max_body) {
                return Ok(HttpException::payload_too_large().response_for(&req));
            }
            let (parts, body) = req.into_parts();
            let max = usize::try_from(this.max_body).unwrap_or(usize::MAX);
            let Some(body) = body.to_bytes_limited(max).await? else {
                return Ok(HttpException::payload_too_large()
                    .response_for(&Request::from_parts(parts, ())));
            };
            let Some((last, first)) = this.apps.split_last() else {
                return Ok(HttpException::not_found().response_for(&Request::from_parts(parts, ())));
            };
            for app in first {
                match app.clone().oneshot(copy(&parts, &body)).await {
                    Ok(response) if this.catch.contains(&response.status()) => continue,
                    Err(err)
                        if err
                            .downcast_ref::<HttpException>()
                            .is_some_and(|e| this.catch.contains(&e.status())) =>
                    {
                        continue
                    }
                    answer => return answer,
                }
            }
            last.clone().oneshot(copy(&parts, &body)).await
        })
    }
}

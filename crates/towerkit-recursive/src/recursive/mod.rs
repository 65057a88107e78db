//! `RecursiveLayer`: include and forward through the stack below it.
//!
//! The layer puts a [`Recursive`](towerkit_core::recursive::Recursive) handle in every request and follows
//! [`Forward`](towerkit_core::recursive::Forward)s that the stack below returns, as an error or as a response:
//! the request is dispatched again with the new path and query, as the app
//! that forwarded it saw it (method, headers and extensions; the body,
//! already read, is not sent again). Nothing is copied for a request that is
//! not forwarded. A
//! forwarding loop or a chain past `max_depth` is answered with a 500 and one
//! log line: `forwarding loop: /a -> /b -> /a`.
//!
//! ```
//! use http::{Request, Response};
//! use tower::{Layer, ServiceExt};
//! use towerkit_core::recursive::Recursive;
//! use towerkit_core::{handler, Body, BoxError, TestClient};
//! use towerkit_recursive::RecursiveLayer;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = handler(|req: Request<Body>| async move {
//!     match req.uri().path() {
//!         "/old" => Err(Recursive::forward(&req, "/new?from=old").into()),
//!         path => Ok::<_, BoxError>(Response::new(Body::from(format!("{path}?{}", req.uri().query().unwrap_or(""))))),
//!     }
//! });
//! let mut client = TestClient::new(RecursiveLayer::new().layer(app));
//! assert_eq!(client.get("/old").send().await.unwrap().text(), "/new?from=old");
//! # });
//! ```

mod future;

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::oneshot::oneshot;
use towerkit_core::recursive::{Dispatch, Recursive as Handle};
use towerkit_core::{path_info, Body, BoxError, ScriptName};

pub use future::ResponseFuture;

/// How many forwards and includes one request may chain, unless set.
pub const DEFAULT_MAX_DEPTH: usize = 10;

/// Puts a [`Recursive`](towerkit_core::recursive::Recursive) handle in each request and follows forwards.
#[derive(Clone, Copy, Debug)]
#[must_use]
pub struct RecursiveLayer {
    max_depth: usize,
}

impl RecursiveLayer {
    /// A layer allowing [`DEFAULT_MAX_DEPTH`] chained forwards and includes.
    pub fn new() -> Self {
        RecursiveLayer {
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// How many forwards and includes one request may chain.
    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }
}

impl Default for RecursiveLayer {
    fn default() -> Self {
        RecursiveLayer::new()
    }
}

impl<S, ResBody> Layer<S> for RecursiveLayer
where
    S: Service<Request<Body>, Response = Response<ResBody>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError> + Send + 'static,
    S::Future: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Service = Recursive<S>;

    fn layer(&self, inner: S) -> Recursive<S> {
        let again = inner.clone();
        // Forwards and includes: a clone of the stack below, called once.
        let dispatch: Dispatch = Arc::new(move |req| {
            let handle = Handle::of(&req).cloned();
            Box::pin(ResponseFuture::new(oneshot(again.clone(), req), handle))
        });
        Recursive {
            inner,
            dispatch,
            max_depth: self.max_depth,
        }
    }
}

/// The service of [`RecursiveLayer`].
#[derive(Clone)]
pub struct Recursive<S> {
    inner: S,
    dispatch: Dispatch,
    max_depth: usize,
}

impl<S> Recursive<S> {
    /// Lets the apps of `inner` include and forward, with the defaults of
    /// [`RecursiveLayer::new`].
    pub fn new(inner: S) -> Self
    where
        RecursiveLayer: Layer<S, Service = Recursive<S>>,
    {
        RecursiveLayer::new().layer(inner)
    }

    /// The layer that makes this service: [`RecursiveLayer::new`].
    pub fn layer() -> RecursiveLayer {
        RecursiveLayer::new()
    }

    towerkit_core::inner_service_accessors!();
}

impl<S> std::fmt::Debug for Recursive<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recursive")
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl<S, ResBody> Service<Request<Body>> for Recursive<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let handle = Handle::new(
            self.dispatch.clone(),
            ScriptName::of(&req),
            path_info(&req),
            self.max_depth,
        );
        req.extensions_mut().insert(handle.clone());
        ResponseFuture::new(self.inner.call(req), Some(handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use towerkit_core::recursive::RecursionError;
    use towerkit_core::recursive::Recursive;
    use towerkit_core::{handler, TestClient};

    fn app(
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
           + Clone
           + Send
           + Sync
           + 'static {
        handler(|req: Request<Body>| async move {
            let path = req.uri().path().to_owned();
            match path.as_str() {
                "/a" => Err(Recursive::forward(&req, "/b").into()),
                "/b" => Ok(Recursive::forward(&req, "/a").into_response()),
                "/self" => Err(Recursive::forward(&req, "/self").into()),
                "/outside" => Err(Recursive::forward(&req, "/other/x").into()),
                p if p.starts_with("/chain/") => {
                    let n: u32 = p[7..].parse().unwrap_or(0);
                    Err(Recursive::forward(&req, format!("/chain/{}", n + 1)).into())
                }
                "/include" => {
                    let part = Recursive::include(&req, "/part?x=1").await?;
                    let part = part.into_body().to_bytes().await?;
                    Ok(Response::new(Body::from(format!(
                        "[{}]",
                        String::from_utf8_lossy(&part)
                    ))))
                }
                "/include-self" => {
                    let err = Recursive::include(&req, "/include-self").await.unwrap_err();
                    assert!(matches!(err, RecursionError::Loop(_)));
                    Ok(Response::new(Body::from(err.to_string())))
                }
                _ => Ok::<_, BoxError>(Response::new(Body::from(format!(
                    "{} {} {}",
                    req.method(),
                    req.uri(),
                    ScriptName::of(&req)
                )))),
            }
        })
    }

    #[tokio::test]
    async fn forward_loops_end_in_500() {
        let mut client = TestClient::new(RecursiveLayer::new().layer(app()));
        for path in ["/a", "/self", "/chain/0"] {
            let res = client.get(path).send().await.unwrap();
            assert_eq!(res.status(), 500, "{path}");
        }
    }

    #[tokio::test]
    async fn include_runs_a_get_and_refuses_loops() {
        let mut client = TestClient::new(RecursiveLayer::new().layer(app()));
        let res = client
            .post("/include")
            .body("ignored")
            .send()
            .await
            .unwrap();
        assert_eq!(res.text(), "[GET /part?x=1 ]");
        let res = client.get("/include-self").send().await.unwrap();
        assert_eq!(
            res.text(),
            "forwarding loop: /include-self -> /include-self"
        );
    }

    #[tokio::test]
    async fn forward_keeps_method_and_headers() {
        let mut client = TestClient::new(RecursiveLayer::new().max_depth(3).layer(app()));
        let res = client.get("/chain/97").send().await.unwrap();
        assert_eq!(res.status(), 500);
        let res = client.post("/outside").send().await.unwrap();
        assert_eq!(res.text(), "POST /other/x ");
    }
}

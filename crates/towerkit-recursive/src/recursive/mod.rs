//! `RecursiveLayer`: include and forward through the stack below it.
//!
//! The layer puts a [`Recursive`] handle in every request and follows
//! [`Forward`]s that the stack below returns, as an error or as a response:
//! the request is dispatched again with the new path and query (same method,
//! headers and extensions; the body, already read, is not sent again). A
//! forwarding loop or a chain past `max_depth` is answered with a 500 and one
//! log line: `forwarding loop: /a -> /b -> /a`.
//!
//! ```
//! use http::{Request, Response};
//! use tower::{Layer, ServiceExt};
//! use towerkit_core::recursive::Forward;
//! use towerkit_core::{handler, Body, BoxError, TestClient};
//! use towerkit_recursive::RecursiveLayer;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let app = handler(|req: Request<Body>| async move {
//!     match req.uri().path() {
//!         "/old" => Err(Forward::to("/new?from=old").into()),
//!         path => Ok::<_, BoxError>(Response::new(Body::from(format!("{path}?{}", req.uri().query().unwrap_or(""))))),
//!     }
//! });
//! let mut client = TestClient::new(RecursiveLayer::new().layer(app));
//! assert_eq!(client.get("/old").send().await.unwrap().text(), "/new?from=old");
//! # });
//! ```

use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::recursive::{BoxFuture, Dispatch, Forward, Recursive};
use towerkit_core::{path_info, Body, BoxError, HttpException, ScriptName};

/// How many forwards and includes one request may chain, unless set.
pub const DEFAULT_MAX_DEPTH: usize = 10;

/// Puts a [`Recursive`] handle in each request and follows forwards.
#[derive(Clone, Copy, Debug)]
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

impl<S> Layer<S> for RecursiveLayer
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + Sync + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    type Service = RecursiveService;

    fn layer(&self, inner: S) -> RecursiveService {
        let dispatch: Dispatch = Arc::new(move |req| Box::pin(follow(inner.clone(), req)));
        RecursiveService {
            dispatch,
            max_depth: self.max_depth,
        }
    }
}

/// The service of [`RecursiveLayer`].
#[derive(Clone)]
pub struct RecursiveService {
    dispatch: Dispatch,
    max_depth: usize,
}

impl std::fmt::Debug for RecursiveService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecursiveService")
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl Service<Request<Body>> for RecursiveService {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let script_name = ScriptName::of(&req);
        let path_info = path_info(&req);
        let mut full_path = String::with_capacity(script_name.len() + path_info.len());
        full_path.push_str(script_name);
        full_path.push_str(path_info);
        let handle = Recursive::new(
            self.dispatch.clone(),
            script_name,
            full_path,
            self.max_depth,
        );
        req.extensions_mut().insert(handle);
        (self.dispatch)(req)
    }
}

/// Calls the stack, and calls it again for as long as it answers with a
/// [`Forward`].
async fn follow<S>(inner: S, mut req: Request<Body>) -> Result<Response<Body>, BoxError>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
{
    loop {
        let Some(handle) = Recursive::of(&req).cloned() else {
            return inner.clone().oneshot(req).await.map_err(Into::into);
        };
        let mut next = Request::new(Body::empty());
        *next.method_mut() = req.method().clone();
        *next.headers_mut() = req.headers().clone();
        *next.version_mut() = req.version();
        *next.extensions_mut() = req.extensions().clone();
        let accept = req.headers().get(http::header::ACCEPT).cloned();
        let forward = match inner.clone().oneshot(req).await.map_err(Into::into) {
            Ok(mut response) => match response.extensions_mut().remove::<Forward>() {
                Some(forward) => forward,
                None => return Ok(response),
            },
            Err(err) => match err.downcast::<Forward>() {
                Ok(forward) => *forward,
                Err(err) => return Err(err),
            },
        };
        req = match handle.redirect(next, forward.uri()) {
            Ok(next) => next,
            Err(err) => {
                tracing::error!("{err}");
                let exception = HttpException::internal_server_error();
                return Ok(exception.to_response(towerkit_core::Format::negotiate(accept.as_ref())));
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use towerkit_core::recursive::RecursionError;
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
                "/a" => Err(Forward::to("/b").into()),
                "/b" => Ok(Forward::to("/a").into_response()),
                "/self" => Err(Forward::to("/self").into()),
                "/outside" => Err(Forward::to("/other/x").into()),
                p if p.starts_with("/chain/") => {
                    let n: u32 = p[7..].parse().unwrap_or(0);
                    Err(Forward::to(format!("/chain/{}", n + 1)).into())
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

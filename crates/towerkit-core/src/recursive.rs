//! Include and forward through the stack, after `paste.recursive`.
//!
//! A `RecursiveLayer` (crate `towerkit-recursive`) puts a [`Recursive`]
//! handle in every request. With it an app can
//!
//! - **include** another URL: run a `GET` with an empty body through the
//!   stack below the layer, with the same connection info, user and session,
//!   and use the response (a header fragment, an error page);
//! - **forward** to another URL: return the [`Forward`] that
//!   [`Recursive::forward`] makes (as the error, or as the response) and the
//!   layer dispatches the request again with the new path and query.
//!
//! Targets are paths as the client sees them, and must lie under the
//! layer's [`ScriptName`](crate::ScriptName). A path visited twice in one
//! chain of forwards and includes, or a chain longer than the layer's limit,
//! is a [`RecursionError`], never a hang or a stack overflow.
//!
//! ```
//! use http::{Request, Response};
//! use towerkit_core::recursive::Recursive;
//! use towerkit_core::{handler, Body, BoxError};
//!
//! let app = handler(|req: Request<Body>| async move {
//!     match req.uri().path() {
//!         "/old" => Err(Recursive::forward(&req, "/new").into()),
//!         "/page" => {
//!             let header = Recursive::include(&req, "/header").await?;
//!             let header = header.into_body().to_bytes().await?;
//!             Ok(Response::new(Body::from(format!("{}page", String::from_utf8_lossy(&header)))))
//!         }
//!         _ => Ok::<_, BoxError>(Response::new(Body::from("content"))),
//!     }
//! });
//! # let _ = app;
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use http::{Extensions, Method, Request, Response, Uri};

use crate::body::Body;
use crate::BoxError;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How a [`Recursive`] handle sends a request into the stack below its
/// layer (following forwards). Made by the layer.
pub type Dispatch =
    Arc<dyn Fn(Request<Body>) -> BoxFuture<Result<Response<Body>, BoxError>> + Send + Sync>;

/// The handle to the stack below a recursive layer, found in each request's
/// extensions (`paste.recursive.include` / `forward`).
///
/// Cloning it is one reference count: a layer makes one for each request
/// that enters it, with two allocations (the handle and the path).
#[derive(Clone)]
pub struct Recursive(Arc<Hop>);

/// One step of a chain: where the layer is mounted, which paths were
/// visited, and how to go through the stack again.
struct Hop {
    dispatch: Dispatch,
    max_depth: usize,
    /// The first path of the chain, the layer's mount (`ScriptName`) first.
    first: String,
    /// How much of `first` is the layer's mount.
    script_name_len: usize,
    /// The paths visited after the first, by forwards and includes.
    then: Vec<String>,
}

impl fmt::Debug for Recursive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recursive")
            .field("script_name", &self.script_name())
            .field("chain", &self.chain().collect::<Vec<_>>())
            .field("max_depth", &self.0.max_depth)
            .finish()
    }
}

impl Recursive {
    /// A handle for a request to `path_info` that entered a recursive layer
    /// mounted at `script_name`. For layer implementations.
    pub fn new(dispatch: Dispatch, script_name: &str, path_info: &str, max_depth: usize) -> Self {
        let mut first = String::with_capacity(script_name.len() + path_info.len());
        first.push_str(script_name);
        first.push_str(path_info);
        Recursive(Arc::new(Hop {
            dispatch,
            max_depth,
            first,
            script_name_len: script_name.len(),
            then: Vec::new(),
        }))
    }

    /// The handle in a request, if a recursive layer is above.
    pub fn of<B>(req: &Request<B>) -> Option<&Recursive> {
        req.extensions().get::<Recursive>()
    }

    /// Where the layer that made this handle is mounted.
    pub fn script_name(&self) -> &str {
        &self.0.first[..self.0.script_name_len]
    }

    /// The paths visited so far in this chain, the first request first.
    pub fn chain(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.0.first.as_str()).chain(self.0.then.iter().map(String::as_str))
    }

    /// Includes `uri` as a `GET` through the stack below the recursive layer
    /// of `req`, with `req`'s extensions (connection, user, session).
    pub fn include<B>(
        req: &Request<B>,
        uri: &str,
    ) -> impl Future<Output = Result<Response<Body>, RecursionError>> + Send + 'static {
        let recursive = Recursive::of(req).cloned();
        let extensions = req.extensions().clone();
        let uri = uri.to_owned();
        async move {
            let recursive = recursive.ok_or(RecursionError::NoLayer)?;
            recursive.include_with(extensions, &uri).await
        }
    }

    /// Forwards `req` to `uri`: return the [`Forward`] from the app, as the
    /// error or as the response ([`Forward::into_response`]), and the
    /// recursive layer above sends the request through the stack again with
    /// the new path and query.
    ///
    /// The forwarded request is `req` as the app sees it now (its method,
    /// version, headers and extensions: the user, the session), without a
    /// body, and without the `Content-Length` and `Transfer-Encoding` of the
    /// body it had. Nothing is copied for requests that are not forwarded.
    pub fn forward<B>(req: &Request<B>, uri: impl Into<String>) -> Forward {
        let mut head = Request::new(());
        *head.method_mut() = req.method().clone();
        *head.version_mut() = req.version();
        *head.headers_mut() = req.headers().clone();
        head.headers_mut().remove(http::header::CONTENT_LENGTH);
        head.headers_mut().remove(http::header::TRANSFER_ENCODING);
        *head.extensions_mut() = req.extensions().clone();
        Forward {
            uri: uri.into(),
            head,
        }
    }

    /// Includes `uri` as a `GET` with the given extensions.
    pub async fn include_with(
        &self,
        extensions: Extensions,
        uri: &str,
    ) -> Result<Response<Body>, RecursionError> {
        let mut req = Request::new(Body::empty());
        *req.method_mut() = Method::GET;
        *req.extensions_mut() = extensions;
        let req = self.redirect(req, uri)?;
        (self.0.dispatch)(req)
            .await
            .map_err(|err| RecursionError::Failed(err.to_string()))
    }

    /// Sends `req` through the stack below the layer, as it is (the handle it
    /// carries follows its forwards). For layer implementations: `req` comes
    /// from [`redirect`](Self::redirect).
    pub fn dispatch(&self, req: Request<Body>) -> BoxFuture<Result<Response<Body>, BoxError>> {
        (self.0.dispatch)(req)
    }

    /// Points `req` at `uri` for another trip through the stack: checks that
    /// the target lies under the layer and closes no loop, sets the path and
    /// query, and gives the request a handle with the longer chain.
    pub fn redirect(
        &self,
        mut req: Request<Body>,
        uri: &str,
    ) -> Result<Request<Body>, RecursionError> {
        let target: Uri = uri
            .parse()
            .map_err(|_| RecursionError::InvalidTarget(uri.to_owned()))?;
        let path = target.path();
        let script_name = self.script_name();
        let below = if script_name.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(script_name)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let Some(path_info) = below else {
            return Err(RecursionError::Outside {
                target: uri.to_owned(),
                script_name: script_name.to_owned(),
            });
        };
        let mut then = self.0.then.clone();
        let looped = self.chain().any(|p| p == path);
        then.push(path.to_owned());
        let chain = || {
            self.chain()
                .map(str::to_owned)
                .chain([path.to_owned()])
                .collect()
        };
        if looped {
            return Err(RecursionError::Loop(chain()));
        }
        if then.len() > self.0.max_depth {
            return Err(RecursionError::TooDeep(chain()));
        }
        let path_and_query = match target.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        *req.uri_mut() = path_and_query
            .parse()
            .map_err(|_| RecursionError::InvalidTarget(uri.to_owned()))?;
        crate::path::mount(&mut req, script_name, path_info)
            .map_err(|_| RecursionError::InvalidTarget(uri.to_owned()))?;
        req.extensions_mut().insert(Recursive(Arc::new(Hop {
            dispatch: self.0.dispatch.clone(),
            max_depth: self.0.max_depth,
            first: self.0.first.clone(),
            script_name_len: self.0.script_name_len,
            then,
        })));
        Ok(req)
    }
}

/// Asks the recursive layer above to dispatch a request again at another
/// URL (`paste.recursive.ForwardRequestException`). Made by
/// [`Recursive::forward`].
///
/// Return it as the error (`Err(forward.into())`), or as the response
/// ([`Forward::into_response`]).
#[derive(Clone, Debug)]
pub struct Forward {
    uri: String,
    head: Request<()>,
}

impl Forward {
    /// The target: a path (and query) as the client sees it.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// The request to send again: the forwarded request's head with an
    /// empty body, its URI not yet the target (see
    /// [`Recursive::redirect`]).
    pub fn request(&self) -> &Request<()> {
        &self.head
    }

    /// The target and the request to send again, with an empty body.
    pub fn into_request(self) -> (String, Request<Body>) {
        (self.uri, self.head.map(|()| Body::empty()))
    }

    /// A response that carries the forward; the layer replaces it.
    pub fn into_response(self) -> Response<Body> {
        let mut response = Response::new(Body::empty());
        response.extensions_mut().insert(self);
        response
    }
}

impl fmt::Display for Forward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "forward to {} (no recursive layer above)", self.uri)
    }
}

impl std::error::Error for Forward {}

/// Why an include or forward was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecursionError {
    /// No recursive layer is above the app.
    NoLayer,
    /// The target is not a path.
    InvalidTarget(String),
    /// The target does not lie under the recursive layer's mount.
    Outside {
        /// The target asked for.
        target: String,
        /// Where the layer is mounted.
        script_name: String,
    },
    /// The chain visits a path twice.
    Loop(Vec<String>),
    /// The chain is longer than the layer's limit.
    TooDeep(Vec<String>),
    /// The included request failed.
    Failed(String),
}

impl fmt::Display for RecursionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecursionError::NoLayer => f.write_str("no recursive layer above this app"),
            RecursionError::InvalidTarget(t) => write!(f, "not a path to forward to: {t:?}"),
            RecursionError::Outside {
                target,
                script_name,
            } => write!(
                f,
                "{target} is outside the recursive layer's mount {script_name}"
            ),
            RecursionError::Loop(chain) => write!(f, "forwarding loop: {}", chain.join(" -> ")),
            RecursionError::TooDeep(chain) => write!(
                f,
                "forwarding too deep ({} steps): {}",
                chain.len() - 1,
                chain.join(" -> ")
            ),
            RecursionError::Failed(err) => write!(f, "the included request failed: {err}"),
        }
    }
}

impl std::error::Error for RecursionError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle(script_name: &str, max_depth: usize) -> Recursive {
        let dispatch: Dispatch = Arc::new(|req: Request<Body>| {
            Box::pin(async move {
                Ok(Response::new(Body::from(format!(
                    "{} {}",
                    crate::ScriptName::of(&req),
                    crate::path_info(&req)
                ))))
            })
        });
        Recursive::new(dispatch, script_name, "/start", max_depth)
    }

    #[test]
    fn redirect_sets_path_under_the_layer_and_extends_the_chain() {
        let r = handle("/app", 10);
        let req = r
            .redirect(Request::new(Body::empty()), "/app/b?x=1")
            .unwrap();
        assert_eq!(crate::ScriptName::of(&req), "/app");
        assert_eq!(crate::path_info(&req), "/b");
        assert_eq!(req.uri().query(), Some("x=1"));
        let handle = Recursive::of(&req).unwrap();
        assert_eq!(handle.chain().collect::<Vec<_>>(), ["/app/start", "/app/b"]);
        assert_eq!(handle.script_name(), "/app");
    }

    #[test]
    fn a_forward_carries_the_request_as_the_app_sees_it() {
        let mut req = Request::post("/app/form?q=1")
            .header("accept", "application/json")
            .header("content-length", "9")
            .body(Body::from("sent once"))
            .unwrap();
        let user = crate::RemoteUser {
            name: "ann".into(),
            auth_type: "Basic".into(),
        };
        req.extensions_mut().insert(user.clone());
        let forward = Recursive::forward(&req, "/app/done?ok=1");
        assert_eq!(forward.uri(), "/app/done?ok=1");
        let (target, again) = forward.into_request();
        let again = handle("/app", 10).redirect(again, &target).unwrap();
        assert_eq!(again.method(), "POST");
        assert_eq!(crate::ScriptName::of(&again), "/app");
        assert_eq!(again.uri(), "/done?ok=1");
        assert_eq!(again.headers()["accept"], "application/json");
        assert!(again.headers().get("content-length").is_none());
        assert_eq!(again.extensions().get::<crate::RemoteUser>(), Some(&user));
    }

    #[test]
    fn refusals() {
        let r = handle("/app", 2);
        assert!(matches!(
            r.redirect(Request::new(Body::empty()), "/application"),
            Err(RecursionError::Outside { .. })
        ));
        let req = r.redirect(Request::new(Body::empty()), "/app/a").unwrap();
        let r2 = Recursive::of(&req).unwrap().clone();
        let err = r2
            .redirect(Request::new(Body::empty()), "/app/a")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "forwarding loop: /app/start -> /app/a -> /app/a"
        );
        let req = r2.redirect(Request::new(Body::empty()), "/app/b").unwrap();
        let r3 = Recursive::of(&req).unwrap().clone();
        assert!(matches!(
            r3.redirect(Request::new(Body::empty()), "/app/c"),
            Err(RecursionError::TooDeep(_))
        ));
    }

    #[tokio::test]
    async fn include_dispatches_a_get() {
        let r = handle("", 10);
        let mut req = Request::new(());
        req.extensions_mut().insert(r);
        let res = Recursive::include(&req, "/frag").await.unwrap();
        assert_eq!(res.into_body().to_bytes().await.unwrap(), " /frag");
        let bare = Request::new(());
        assert_eq!(
            Recursive::include(&bare, "/x").await.unwrap_err(),
            RecursionError::NoLayer
        );
    }
}

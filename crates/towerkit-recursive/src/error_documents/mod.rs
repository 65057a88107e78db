//! `ErrorDocumentsLayer`: a page of one's own for an error status, after
//! `paste.errordocument`.
//!
//! For each mapped status, the page is fetched through the [`Recursive`]
//! handle of a recursive layer above (so it can come from anywhere in the
//! stack: a document root, an app), and sent with the ORIGINAL status. The
//! page's headers replace the original ones, except those the status needs
//! (`WWW-Authenticate`, `Proxy-Authenticate`, `Allow`, `Retry-After`,
//! `Location`, `Content-Range`), which are kept, and `Set-Cookie`, which is
//! kept from both. If the page cannot be had (it fails, loops, or is not a
//! 2xx), a short plain-text body goes out with the original status.
//!
//! ```
//! use tower::Layer;
//! use towerkit_core::app::Text;
//! use towerkit_recursive::{ErrorDocumentsLayer, RecursiveLayer};
//!
//! let documents = ErrorDocumentsLayer::new().document(404, "/errors/404.html");
//! # let _ = documents;
//! ```

use std::collections::HashMap;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{
    HeaderName, HeaderValue, ALLOW, CONTENT_RANGE, CONTENT_TYPE, LOCATION, PROXY_AUTHENTICATE,
    RETRY_AFTER, SET_COOKIE, WWW_AUTHENTICATE,
};
use http::{HeaderMap, Request, Response, StatusCode};
use tower::ServiceExt;
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::recursive::{BoxFuture, Recursive};
use towerkit_core::{Body, BoxError};

use crate::RecursiveError;

/// Headers an error status needs, kept from the original response.
const KEPT: [HeaderName; 6] = [
    WWW_AUTHENTICATE,
    PROXY_AUTHENTICATE,
    ALLOW,
    RETRY_AFTER,
    LOCATION,
    CONTENT_RANGE,
];

/// Marks the request that fetches an error document, so that its own error
/// status is not mapped again.
#[derive(Clone, Copy, Debug)]
struct ErrorDocumentFetch;

/// Maps error statuses to internal URIs whose pages replace the body.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ErrorDocumentsLayer {
    documents: Arc<HashMap<StatusCode, String>>,
}

impl ErrorDocumentsLayer {
    /// A layer with no documents.
    pub fn new() -> Self {
        ErrorDocumentsLayer::default()
    }

    /// Sends the page at `uri` (a path as the client sees it) for `status`.
    ///
    /// # Panics
    ///
    /// When `status` is not an HTTP status; see [`try_document`](Self::try_document).
    pub fn document(self, status: u16, uri: &str) -> Self {
        match self.try_document(status, uri) {
            Ok(layer) => layer,
            Err(err) => panic!("{err}"),
        }
    }

    /// Like [`document`](Self::document), refusing statuses that are not
    /// 4xx or 5xx and URIs that are not absolute paths.
    pub fn try_document(mut self, status: u16, uri: &str) -> Result<Self, RecursiveError> {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .ok_or(RecursiveError::NotAnErrorStatus(status))?;
        if !uri.starts_with('/') {
            return Err(RecursiveError::NotAPath(uri.to_owned()));
        }
        // Kept in the one spelling the layers below decide on.
        let (path, query) = uri
            .split_once('?')
            .map_or((uri, None), |(p, q)| (p, Some(q)));
        let path = towerkit_core::canonical::canonical_path(path)
            .map_err(|bad| RecursiveError::BadPath(format!("{uri:?}: {bad}")))?;
        let uri = match query {
            Some(query) => format!("{path}?{query}"),
            None => path.into_owned(),
        };
        Arc::make_mut(&mut self.documents).insert(status, uri);
        Ok(self)
    }
}

impl<S> Layer<S> for ErrorDocumentsLayer {
    type Service = ErrorDocuments<S>;

    fn layer(&self, inner: S) -> ErrorDocuments<S> {
        ErrorDocuments {
            inner,
            documents: self.documents.clone(),
        }
    }
}

/// The service of [`ErrorDocumentsLayer`].
#[derive(Clone, Debug)]
pub struct ErrorDocuments<S> {
    inner: S,
    documents: Arc<HashMap<StatusCode, String>>,
}

impl<S> ErrorDocuments<S> {
    /// `inner` with no documents mapped yet: see [`ErrorDocumentsLayer`].
    pub fn new(inner: S) -> Self {
        ErrorDocumentsLayer::new().layer(inner)
    }

    /// The layer that makes this service: [`ErrorDocumentsLayer::new`].
    pub fn layer() -> ErrorDocumentsLayer {
        ErrorDocumentsLayer::new()
    }

    towerkit_core::inner_service_accessors!();
}

/// Any request body goes in as it is, and the inner service's errors go up
/// unchanged: the layer's own answers (a document, a plain page) are
/// responses.
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ErrorDocuments<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Error: Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Swap in the clone that was driven to readiness.
        let inner = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, inner);
        let fetching_a_document = req.extensions().get::<ErrorDocumentFetch>().is_some();
        if fetching_a_document || self.documents.is_empty() {
            return Box::pin(async move {
                let response = ready.oneshot(req).await?;
                Ok(response.map(Body::new))
            });
        }
        let documents = self.documents.clone();
        let recursive = Recursive::of(&req).cloned();
        let extensions = recursive.as_ref().map(|_| req.extensions().clone());
        Box::pin(async move {
            let response = ready.oneshot(req).await?.map(Body::new);
            let Some(uri) = documents.get(&response.status()) else {
                return Ok(response);
            };
            let (Some(recursive), Some(mut extensions)) = (recursive, extensions) else {
                tracing::warn!(
                    "error-documents needs a recursive layer above it; sending the original page"
                );
                return Ok(response);
            };
            extensions.insert(ErrorDocumentFetch);
            match recursive.include_with(extensions, uri).await {
                Ok(page) if page.status().is_success() => Ok(merge(response, page)),
                Ok(page) => {
                    tracing::warn!(document = %uri, status = %page.status(), "the error document is not a page");
                    Ok(plain(response))
                }
                Err(err) => {
                    tracing::warn!(document = %uri, error = %err, "the error document failed");
                    Ok(plain(response))
                }
            }
        })
    }
}

/// The page's body and headers with the original status, keeping the
/// headers the status needs and every cookie.
fn merge(original: Response<Body>, page: Response<Body>) -> Response<Body> {
    let (mut parts, _) = original.into_parts();
    let (page_parts, body) = page.into_parts();
    let mut headers = page_parts.headers;
    for name in KEPT {
        copy_all(&parts.headers, &mut headers, &name);
    }
    let page_cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    headers.remove(SET_COOKIE);
    copy_all(&parts.headers, &mut headers, &SET_COOKIE);
    for cookie in page_cookies {
        headers.append(SET_COOKIE, cookie);
    }
    parts.headers = headers;
    Response::from_parts(parts, body)
}

fn copy_all(from: &HeaderMap, to: &mut HeaderMap, name: &HeaderName) {
    let values: Vec<HeaderValue> = from.get_all(name).iter().cloned().collect();
    if values.is_empty() {
        return;
    }
    to.remove(name);
    for value in values {
        to.append(name.clone(), value);
    }
}

/// The original status and headers with a short plain-text body.
fn plain(original: Response<Body>) -> Response<Body> {
    let (mut parts, _) = original.into_parts();
    let reason = parts.status.canonical_reason().unwrap_or("Error");
    let text = format!("{} {reason}\n", parts.status.as_u16());
    for name in [
        http::header::CONTENT_LENGTH,
        http::header::CONTENT_ENCODING,
        http::header::ETAG,
        http::header::TRANSFER_ENCODING,
    ] {
        parts.headers.remove(name);
    }
    parts.headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Response::from_parts(parts, Body::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RecursiveLayer;
    use http::Method;
    use towerkit_core::{handler, HttpException, TestClient};

    fn app(
    ) -> impl Service<Request<Body>, Response = Response<Body>, Error = BoxError, Future = impl Send>
           + Clone
           + Send
           + Sync
           + 'static {
        handler(|req: Request<Body>| async move {
            let response = match req.uri().path() {
                "/missing" => {
                    let mut res = HttpException::not_found().response_for(&req);
                    res.headers_mut()
                        .append(SET_COOKIE, HeaderValue::from_static("a=1"));
                    res
                }
                "/secret" => {
                    HttpException::unauthorized([HeaderValue::from_static("Basic realm=\"x\"")])
                        .response_for(&req)
                }
                "/broken" => HttpException::internal_server_error().response_for(&req),
                "/errors/404.html" => Response::builder()
                    .header(CONTENT_TYPE, "text/html")
                    .header(SET_COOKIE, "b=2")
                    .body(Body::from("<h1>nothing here</h1>"))?,
                "/errors/401.html" => Response::new(Body::from("please log in")),
                // The 500 page is itself missing: the fetch gets a 404.
                _ => HttpException::not_found().response_for(&req),
            };
            Ok::<_, BoxError>(response)
        })
    }

    fn stack(
    ) -> TestClient<impl Service<Request<Body>, Response = Response<Body>, Error = BoxError> + Clone>
    {
        let documents = ErrorDocumentsLayer::new()
            .document(404, "/errors/404.html")
            .document(401, "/errors/401.html")
            .document(500, "/errors/500.html");
        TestClient::new(RecursiveLayer::new().layer(documents.layer(app())))
    }

    #[tokio::test]
    async fn page_with_original_status_and_cookies_from_both() {
        let mut client = stack();
        let res = client.get("/missing").send().await.unwrap();
        assert_eq!(res.status(), 404);
        assert_eq!(res.text(), "<h1>nothing here</h1>");
        assert_eq!(res.header("content-type"), Some("text/html"));
        let cookies: Vec<_> = res.headers().get_all(SET_COOKIE).iter().collect();
        assert_eq!(cookies, ["a=1", "b=2"]);
    }

    #[tokio::test]
    async fn challenge_is_kept() {
        let mut client = stack();
        let res = client.request(Method::GET, "/secret").send().await.unwrap();
        assert_eq!(res.status(), 401);
        assert_eq!(res.text(), "please log in");
        assert_eq!(res.header("www-authenticate"), Some("Basic realm=\"x\""));
    }

    #[tokio::test]
    async fn a_failing_document_gives_plain_text_with_the_original_status() {
        let mut client = stack();
        let res = client.get("/broken").send().await.unwrap();
        assert_eq!(res.status(), 500);
        assert_eq!(res.text(), "500 Internal Server Error\n");
    }

    #[test]
    fn refuses_non_error_statuses() {
        assert!(ErrorDocumentsLayer::new().try_document(200, "/x").is_err());
        assert!(ErrorDocumentsLayer::new().try_document(404, "x").is_err());
    }
}

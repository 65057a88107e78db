//! The layer, its service and its future.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Method, Request, Response, Version};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::kept::KeptBytes;
use towerkit_core::{Body, BoxError, Format, HttpException};

use crate::body::GuardedBody;
use crate::debug::{self, Failure};
use crate::panic::{catch, PanicReport};
use crate::templates::Templates;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Turns the errors and panics of the stack below into error pages.
///
/// See the [crate documentation](crate).
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct HttpExceptionsLayer {
    config: Arc<Config>,
}

#[derive(Clone, Debug, Default)]
struct Config {
    debug: bool,
    templates: Templates,
}

impl HttpExceptionsLayer {
    /// A layer that shows no details of failures.
    pub fn new() -> Self {
        HttpExceptionsLayer::default()
    }

    /// In debug mode a failure's page shows the error or panic message, the
    /// panic's location and the request line. Never on a public server.
    pub fn debug(mut self, debug: bool) -> Self {
        Arc::make_mut(&mut self.config).debug = debug;
        self
    }

    /// Renders error pages with these templates.
    pub fn templates(mut self, templates: Templates) -> Self {
        Arc::make_mut(&mut self.config).templates = templates;
        self
    }
}

impl<S> Layer<S> for HttpExceptionsLayer {
    type Service = HttpExceptions<S>;

    fn layer(&self, inner: S) -> HttpExceptions<S> {
        HttpExceptions {
            inner,
            config: self.config.clone(),
            not_ready: None,
        }
    }
}

/// The service of [`HttpExceptionsLayer`]: it never fails.
#[derive(Debug)]
pub struct HttpExceptions<S> {
    inner: S,
    config: Arc<Config>,
    not_ready: Option<Failed>,
}

impl<S> HttpExceptions<S> {
    /// Answers the errors and panics of `inner` with pages that show no
    /// details, as [`HttpExceptionsLayer::new`].
    pub fn new(inner: S) -> Self {
        HttpExceptionsLayer::new().layer(inner)
    }

    /// The layer that makes this service: [`HttpExceptionsLayer::new`].
    pub fn layer() -> HttpExceptionsLayer {
        HttpExceptionsLayer::new()
    }

    towerkit_core::inner_service_accessors!();
}

impl<S: Clone> Clone for HttpExceptions<S> {
    fn clone(&self) -> Self {
        HttpExceptions {
            inner: self.inner.clone(),
            config: self.config.clone(),
            not_ready: None,
        }
    }
}

/// What is kept of a request to answer and log its failure: copies, which
/// leave hyper's read buffer alone (see [`towerkit_core::kept`]).
#[derive(Debug)]
pub(crate) struct RequestInfo {
    pub(crate) method: Method,
    /// The path and query.
    target: KeptBytes,
    version: Version,
    accept: KeptBytes,
    /// Empty when the client sent none (or one too long or not text).
    request_id: KeptBytes,
}

impl RequestInfo {
    fn of<B>(req: &Request<B>) -> Self {
        let target = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
        RequestInfo {
            method: req.method().clone(),
            target: KeptBytes::new(target.as_bytes()),
            version: req.version(),
            accept: KeptBytes::header(req, ACCEPT),
            request_id: req
                .headers()
                .get(REQUEST_ID)
                .filter(|v| v.len() <= 200 && v.to_str().is_ok())
                .map_or_else(KeptBytes::default, |v| KeptBytes::new(v.as_bytes())),
        }
    }

    /// The client's `X-Request-Id`, or a fresh one.
    pub(crate) fn request_id(&self) -> String {
        if self.request_id.is_empty() {
            return uuid::Uuid::new_v4().to_string();
        }
        String::from_utf8_lossy(self.request_id.as_bytes()).into_owned()
    }

    /// The path, for log lines.
    pub(crate) fn path(&self) -> std::borrow::Cow<'_, str> {
        let target = self.target.as_bytes();
        let end = target
            .iter()
            .position(|&b| b == b'?')
            .unwrap_or(target.len());
        String::from_utf8_lossy(&target[..end])
    }

    fn format(&self) -> Format {
        Format::negotiate_bytes(self.accept.as_bytes())
    }

    fn request_line(&self) -> String {
        let target = String::from_utf8_lossy(self.target.as_bytes());
        format!("{} {target} {:?}", self.method, self.version)
    }
}

/// A failure of the stack, before it is answered.
#[derive(Debug)]
enum Failed {
    Error(BoxError),
    Panic(PanicReport),
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for HttpExceptions<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        if self.not_ready.is_some() {
            return Poll::Ready(Ok(()));
        }
        let inner = &mut self.inner;
        match catch(|| inner.poll_ready(cx)) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(Ok(()))) => Poll::Ready(Ok(())),
            Ok(Poll::Ready(Err(err))) => {
                self.not_ready = Some(Failed::Error(err.into()));
                Poll::Ready(Ok(()))
            }
            Err(report) => {
                self.not_ready = Some(Failed::Panic(report));
                Poll::Ready(Ok(()))
            }
        }
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let info = RequestInfo::of(&req);
        let state = match self.not_ready.take() {
            Some(failed) => State::Failed {
                failed: Some(failed),
            },
            None => {
                let inner = &mut self.inner;
                match catch(move || inner.call(req)) {
                    Ok(future) => State::Running { future },
                    Err(report) => State::Failed {
                        failed: Some(Failed::Panic(report)),
                    },
                }
            }
        };
        ResponseFuture {
            state,
            info: Some(info),
            config: self.config.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`HttpExceptions`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        info: Option<RequestInfo>,
        config: Arc<Config>,
    }
}

pin_project_lite::pin_project! {
    #[project = StateProj]
    enum State<F> {
        Running { #[pin] future: F },
        Failed { failed: Option<Failed> },
    }
}

impl<F, E, B> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let failed = match this.state.project() {
            StateProj::Running { future } => match catch(|| future.poll(cx)) {
                Ok(Poll::Pending) => return Poll::Pending,
                Ok(Poll::Ready(Ok(response))) => {
                    let Some(info) = this.info.take() else {
                        panic!("ResponseFuture polled after completion");
                    };
                    return Poll::Ready(Ok(succeeded(response.map(Body::new), info, this.config)));
                }
                Ok(Poll::Ready(Err(err))) => Failed::Error(err.into()),
                Err(report) => Failed::Panic(report),
            },
            StateProj::Failed { failed } => match failed.take() {
                Some(failed) => failed,
                None => panic!("ResponseFuture polled after completion"),
            },
        };
        let Some(info) = this.info.take() else {
            panic!("ResponseFuture polled after completion");
        };
        Poll::Ready(Ok(answer(failed, &info, this.config)))
    }
}

/// A response from the stack: re-rendered if it is an exception's page and
/// there are templates; its streaming body watched.
fn succeeded(mut response: Response<Body>, info: RequestInfo, config: &Config) -> Response<Body> {
    if !config.templates.is_empty() {
        if let Some(exception) = response.extensions().get::<HttpException>() {
            let page = config.templates.render(exception, info.format());
            let (page_parts, body) = page.into_parts();
            response.headers_mut().remove(CONTENT_LENGTH);
            if let Some(content_type) = page_parts.headers.get(CONTENT_TYPE) {
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, content_type.clone());
            }
            *response.body_mut() = body;
        }
    }
    if response.body().is_streaming() {
        response.map(|body| Body::new(GuardedBody::new(body, info)))
    } else {
        response
    }
}

/// The answer to a failure, logged once.
fn answer(failed: Failed, info: &RequestInfo, config: &Config) -> Response<Body> {
    let format = info.format();
    let (kind, message, location) = match failed {
        Failed::Error(err) => match err.downcast::<HttpException>() {
            Ok(exception) => {
                tracing::debug!(method = %info.method, path = %info.path(), status = %exception.status(), "answered with an HTTP exception");
                return config.templates.render(&exception, format);
            }
            Err(err) => ("error", error_chain(err.as_ref()), None),
        },
        Failed::Panic(report) => ("panic", report.message, report.location),
    };
    let request_id = info.request_id();
    tracing::error!(
        method = %info.method,
        path = %info.path(),
        request_id = %request_id,
        location = location.as_deref().unwrap_or("unknown"),
        "{kind}: {message}"
    );
    let mut response = if config.debug {
        let failure = Failure {
            kind,
            message: &message,
            location: location.as_deref(),
            request_line: &info.request_line(),
            request_id: &request_id,
        };
        debug::page(&failure, format)
    } else {
        config
            .templates
            .render(&HttpException::internal_server_error(), format)
    };
    if let Ok(id) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, id);
    }
    response
}

/// An error and its sources, `outer: inner: innermost`.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

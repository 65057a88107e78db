//! The layer, its service and its future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{
    HeaderValue, ACCEPT, ACCEPT_RANGES, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
};
use http::{HeaderMap, Method, Request, Response};
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::kept::KeptBytes;
use towerkit_core::{Body, BoxError, ConnectionInfo, Format, HttpException, Shutdown};

use crate::decode::{GunzipBody, Outcome};
use crate::encode::{GzipBody, Pool};
use crate::predicate::{eligible, DEFAULT_TYPES};
use towerkit_core::encoding::{accepts, Accepts};

/// The compression level unless set: chosen from `bench/gzip.sh` (see the
/// crate documentation).
pub const DEFAULT_LEVEL: u32 = 4;
/// Responses smaller than this (when their size is known) are not
/// compressed, unless set.
pub const DEFAULT_MIN_SIZE: u64 = 256;
/// The most a gzip request body may decompress to, unless set.
pub const DEFAULT_MAX_DECOMPRESSED: u64 = 16 * 1024 * 1024;

/// Compresses responses with gzip, and (when asked) decompresses gzip
/// request bodies. See the [crate documentation](crate).
#[derive(Clone, Debug)]
#[must_use]
pub struct GzipLayer {
    config: Arc<Config>,
}

#[derive(Clone, Debug)]
struct Config {
    level: u32,
    min_size: u64,
    types: Vec<String>,
    decompress_requests: bool,
    max_decompressed: u64,
}

impl Default for GzipLayer {
    fn default() -> Self {
        GzipLayer::new()
    }
}

impl GzipLayer {
    /// Level [`DEFAULT_LEVEL`], responses of [`DEFAULT_MIN_SIZE`] bytes or
    /// more of the [`DEFAULT_TYPES`](crate::DEFAULT_TYPES); request bodies
    /// left alone.
    pub fn new() -> Self {
        GzipLayer {
            config: Arc::new(Config {
                level: DEFAULT_LEVEL,
                min_size: DEFAULT_MIN_SIZE,
                types: DEFAULT_TYPES.iter().map(|t| t.to_string()).collect(),
                decompress_requests: false,
                max_decompressed: DEFAULT_MAX_DECOMPRESSED,
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The compression level, 0 (none) to 9 (smallest); clamped.
    pub fn level(mut self, level: u32) -> Self {
        self.config().level = level.min(9);
        self
    }

    /// Responses whose known size is below this are sent as they are.
    pub fn min_size(mut self, bytes: u64) -> Self {
        self.config().min_size = bytes;
        self
    }

    /// The media types compressed (`text/*`, `application/*+json` and exact
    /// types), replacing the defaults.
    pub fn types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config().types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Decompresses request bodies sent with `Content-Encoding: gzip`.
    pub fn decompress_requests(mut self, decompress: bool) -> Self {
        self.config().decompress_requests = decompress;
        self
    }

    /// The most a request body may decompress to; past it, or at a ratio
    /// that only a bomb has, the request is answered 413.
    pub fn max_decompressed(mut self, bytes: u64) -> Self {
        self.config().max_decompressed = bytes;
        self
    }
}

impl<S> Layer<S> for GzipLayer {
    type Service = Gzip<S>;

    fn layer(&self, inner: S) -> Gzip<S> {
        Gzip {
            inner,
            pool: Pool::new(self.config.level),
            config: self.config.clone(),
        }
    }
}

/// The service of [`GzipLayer`].
#[derive(Clone, Debug)]
pub struct Gzip<S> {
    inner: S,
    config: Arc<Config>,
    pool: Arc<Pool>,
}

impl<S> Gzip<S> {
    /// Compresses the responses of `inner`, with the defaults of
    /// [`GzipLayer::new`].
    pub fn new(inner: S) -> Self {
        GzipLayer::new().layer(inner)
    }

    /// The layer that makes this service: [`GzipLayer::new`].
    pub fn layer() -> GzipLayer {
        GzipLayer::new()
    }

    towerkit_core::inner_service_accessors!();
}

fn is_gzip(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("gzip") || v.eq_ignore_ascii_case("x-gzip")
        })
}

/// The request body goes on as a [`Body`]: the towerkit server's body as
/// it is, any other wrapped once (a gzip body, when decompressed, is a
/// different type anyway).
impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Gzip<S>
where
    S: Service<Request<Body>, Response = Response<ResBody>>,
    ReqBody: http_body::Body<Data = Bytes> + Send + 'static,
    ReqBody::Error: Into<BoxError>,
    ResBody: http_body::Body<Data = Bytes> + Send + 'static,
    ResBody::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let mut req = req.map(Body::new);
        let accepts = accepts(req.headers());
        let head = req.method() == Method::HEAD;
        let accept = KeptBytes::header(&req, ACCEPT);
        let mut outcome = None;
        if self.config.decompress_requests && is_gzip(req.headers()) {
            let shared = Arc::new(Outcome::default());
            req.headers_mut().remove(CONTENT_ENCODING);
            req.headers_mut().remove(CONTENT_LENGTH);
            let body = std::mem::take(req.body_mut());
            *req.body_mut() = Body::new(GunzipBody::new(
                body,
                self.config.max_decompressed,
                shared.clone(),
            ));
            outcome = Some(shared);
        }
        // An event stream it compresses is ended, whole, on shutdown.
        let shutdown = req
            .extensions()
            .get::<ConnectionInfo>()
            .map(|info| info.shutdown.clone());
        ResponseFuture {
            inner: self.inner.call(req),
            accepts,
            head,
            accept,
            outcome,
            shutdown,
            config: self.config.clone(),
            pool: self.pool.clone(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Gzip`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        accepts: Accepts,
        head: bool,
        // For an error page, negotiated only if one is made.
        accept: KeptBytes,
        outcome: Option<Arc<Outcome>>,
        shutdown: Option<Shutdown>,
        config: Arc<Config>,
        pool: Arc<Pool>,
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        // A refused request body is answered for, whatever the app made of
        // the error it read.
        let format = || Format::negotiate_bytes(this.accept.as_bytes());
        if let Some(outcome) = this.outcome.as_ref() {
            if outcome.too_large() {
                return Poll::Ready(Ok(HttpException::payload_too_large()
                    .with_detail("the gzip request body decompresses past the limit")
                    .to_response(format())));
            }
            if outcome.malformed() {
                return Poll::Ready(Ok(HttpException::bad_request()
                    .with_detail("the gzip request body is malformed")
                    .to_response(format())));
            }
        }
        let response = result?;
        Poll::Ready(Ok(compress(
            response,
            *this.accepts,
            *this.head,
            format,
            this.shutdown.take(),
            this.config,
            this.pool,
        )))
    }
}

fn compress<B>(
    response: Response<B>,
    accepts: Accepts,
    head: bool,
    format: impl FnOnce() -> Format,
    shutdown: Option<Shutdown>,
    config: &Config,
    pool: &Arc<Pool>,
) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    if head || !eligible(&response, &config.types, config.min_size) {
        return response.map(Body::new);
    }
    let (mut parts, body) = response.into_parts();
    add_vary(&mut parts.headers);
    if !accepts.gzip {
        if !accepts.identity && parts.status.is_success() {
            return HttpException::not_acceptable()
                .with_detail("neither gzip nor identity is acceptable")
                .to_response(format());
        }
        return Response::from_parts(parts, Body::new(body));
    }
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(ACCEPT_RANGES);
    parts
        .headers
        .insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    if let Some(etag) = parts.headers.get(ETAG).and_then(|v| v.to_str().ok()) {
        if etag.starts_with('"') {
            if let Ok(weak) = HeaderValue::from_str(&format!("W/{etag}")) {
                parts.headers.insert(ETAG, weak);
            }
        }
    }
    let event_stream = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| crate::predicate::type_matches(ct, "text/event-stream"));
    match shutdown {
        // The server cannot end a compressed stream without cutting the
        // gzip stream short: its end is made here, with the trailer.
        Some(shutdown) if event_stream => {
            let body = shutdown.end_stream(Box::pin(body));
            Response::from_parts(parts, Body::new(GzipBody::new(body, pool.clone())))
        }
        _ => Response::from_parts(parts, Body::new(GzipBody::new(body, pool.clone()))),
    }
}

/// Adds `Accept-Encoding` to `Vary` once, merged with what is there.
fn add_vary(headers: &mut HeaderMap) {
    let present = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("accept-encoding"))
        })
    });
    if present {
        return;
    }
    let merged = match headers.get(VARY).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.trim().is_empty() => format!("{existing}, accept-encoding"),
        _ => "accept-encoding".to_owned(),
    };
    if let Ok(value) = HeaderValue::from_str(&merged) {
        headers.insert(VARY, value);
    }
}

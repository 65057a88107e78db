//! Writing a layer of one's own, the way towerkit's are written: a
//! `Layer`, its `Service` and its response future side by side; then
//! offering it to stack files by name, next to the built-ins.
//!
//! The layer gives every request an id (`X-Request-Id`, kept when a trusted
//! proxy already set one), hands it to the app as a request extension, and
//! returns it on the response so that a client can quote it.
//!
//!     cargo run --example own_layer -- serve examples/own_layer.toml
//!     curl -i http://127.0.0.1:8080/

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::HeaderName;
use http::{HeaderValue, Request, Response};
use tower::{Layer, Service};
use towerkit::deploy::{Filter, Registry};

// ANCHOR: layer
/// Gives every request an id; see the module docs.
#[derive(Clone, Debug)]
pub struct RequestIdLayer {
    header: HeaderName,
    next: Arc<AtomicU64>,
    prefix: String,
}

impl RequestIdLayer {
    /// Ids are `PREFIX-N`, N counting from 1, in the header `header`.
    pub fn new(header: HeaderName, prefix: &str) -> Self {
        RequestIdLayer {
            header,
            next: Arc::new(AtomicU64::new(1)),
            prefix: prefix.to_owned(),
        }
    }
}

impl<S> Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            inner,
            layer: self.clone(),
        }
    }
}

/// The id of this request, for the app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Id(pub HeaderValue);

/// The service of [`RequestIdLayer`]. Generic over the bodies: it only
/// reads and writes headers, so it fits any stack.
#[derive(Clone, Debug)]
pub struct RequestId<S> {
    inner: S,
    layer: RequestIdLayer,
}

impl<S, B, ResB> Service<Request<B>> for RequestId<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = Response<ResB>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let header = &self.layer.header;
        let id = match req.headers().get(header) {
            Some(given) => given.clone(),
            None => {
                let n = self.layer.next.fetch_add(1, Ordering::Relaxed);
                let made = format!("{}-{n}", self.layer.prefix);
                // A prefix from the config is checked when the layer is
                // made, so this cannot fail; stay safe anyway.
                HeaderValue::from_str(&made).unwrap_or(HeaderValue::from_static("-"))
            }
        };
        req.headers_mut().insert(header.clone(), id.clone());
        req.extensions_mut().insert(Id(id.clone()));
        ResponseFuture {
            inner: self.inner.call(req),
            header: Some((header.clone(), id)),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`RequestId`]: the inner response, with the id on it.
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        header: Option<(HeaderName, HeaderValue)>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some((name, id))) = (&mut result, this.header.take()) {
            response.headers_mut().insert(name, id);
        }
        Poll::Ready(result)
    }
}
// ANCHOR_END: layer

// ANCHOR: factory
fn main() -> ExitCode {
    let mut registry = Registry::with_builtins();
    // `use = "request-id"`, with `header` (default X-Request-Id) and
    // `prefix` (default "req"), errors naming the file, line and key.
    registry.filter("request-id", |section| {
        let header = section
            .get::<String>("header")?
            .unwrap_or_else(|| "x-request-id".to_owned());
        let header = HeaderName::try_from(header.as_str())
            .map_err(|_| section.error("header", "not a header name"))?;
        let prefix = section
            .get::<String>("prefix")?
            .unwrap_or_else(|| "req".to_owned());
        if HeaderValue::from_str(&prefix).is_err() {
            return Err(section.error("prefix", "must be printable ASCII"));
        }
        Ok(Filter::layer(RequestIdLayer::new(header, &prefix)))
    });
    towerkit::cli::main_with(registry)
}
// ANCHOR_END: factory

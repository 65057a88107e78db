//! `[metrics]`: a Prometheus recorder for everything the stack counts
//! through the `metrics` facade (the server's requests and connections,
//! session store errors, reloads), served in the
//! Prometheus text format at `/metrics` on a listener of its own.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tower_service::Service;

use crate::core::{Body, Format, HttpException};
use crate::server::metrics::DURATION_BUCKETS;
use crate::server::Server;

/// Installs the Prometheus recorder (before the server starts counting)
/// and binds the metrics listener; the returned server answers scrapes.
/// With `reuse_port`, the listener is bound with `SO_REUSEPORT` as the
/// server's are, so that a new process can start beside this one.
pub(crate) async fn start(addr: SocketAddr, reuse_port: bool) -> Result<(Server, Scrape), String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("towerkit_http_request_duration_seconds".to_owned()),
            DURATION_BUCKETS,
        )
        .map_err(|err| format!("[metrics]: {err}"))?
        .install_recorder()
        .map_err(|err| format!("[metrics]: cannot install the recorder: {err}"))?;
    // Histograms are folded into their buckets by upkeep.
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            upkeep.run_upkeep();
        }
    });
    let server = Server::builder()
        .listen(addr)
        .reuse_port(reuse_port)
        .bind()
        .await
        .map_err(|err| format!("[metrics] listen: {err}"))?;
    Ok((server, Scrape(handle)))
}

/// Answers `GET /metrics` with every metric, in Prometheus' text format.
#[derive(Clone)]
pub(crate) struct Scrape(PrometheusHandle);

impl Service<Request<Body>> for Scrape {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let format = Format::negotiate(req.headers().get(http::header::ACCEPT));
        let response = if req.uri().path() != "/metrics" {
            HttpException::not_found().to_response(format)
        } else if req.method() != Method::GET && req.method() != Method::HEAD {
            HttpException::method_not_allowed(&[Method::GET, Method::HEAD]).to_response(format)
        } else {
            self.0.run_upkeep();
            let text = self.0.render();
            let mut response = Response::new(if req.method() == Method::HEAD {
                Body::empty()
            } else {
                Body::from(text)
            });
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        };
        Box::pin(std::future::ready(Ok(response)))
    }
}

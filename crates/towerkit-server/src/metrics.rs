//! What the server counts, through the [`metrics`] facade: nothing is
//! recorded unless the program installed a recorder (the `towerkit`
//! command installs a Prometheus one for `[metrics]`) and the server was
//! built with [`Builder::metrics`](crate::Builder::metrics).
//!
//! | name | kind | what |
//! | --- | --- | --- |
//! | `towerkit_http_requests_total{status="2xx"}` | counter | answered requests, by status class (heads hyper refused to parse count as 4xx); with `route="/api"` where urlmap or the router named one ([`RouteLabel`]) |
//! | `towerkit_http_request_duration_seconds` | histogram | from a request's head read to its response's head ready |
//! | `towerkit_http_requests_in_flight` | gauge | requests called and not yet answered (HTTP/2 streams included) |
//! | `towerkit_connections_open` | gauge | open client connections |
//! | `towerkit_connections_total` | counter | accepted connections |
//!
//! The handles are made once, when the server starts: a request costs an
//! atomic increment per instrument, and nothing at all when metrics are
//! off.

use std::time::Instant;

use http::StatusCode;
use metrics::{Counter, Gauge, Histogram};
use towerkit_core::RouteLabel;

/// The buckets of the request duration histogram, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The status classes, as labels.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The server's instruments.
#[derive(Debug)]
pub(crate) struct ServerMetrics {
    /// By status class: 1xx to 5xx.
    requests: [Counter; 5],
    duration: Histogram,
    in_flight: Gauge,
    pub(crate) connections_open: Gauge,
    pub(crate) connections: Counter,
}

impl ServerMetrics {
    pub(crate) fn new() -> Self {
        metrics::describe_counter!(
            "towerkit_http_requests_total",
            "Requests answered, by status class"
        );
        metrics::describe_histogram!(
            "towerkit_http_request_duration_seconds",
            metrics::Unit::Seconds,
            "From a request's head read to its response's head ready"
        );
        metrics::describe_gauge!(
            "towerkit_http_requests_in_flight",
            "Requests called and not yet answered"
        );
        metrics::describe_gauge!("towerkit_connections_open", "Open client connections");
        metrics::describe_counter!("towerkit_connections_total", "Accepted connections");
        let class = |label: &'static str| metrics::counter!("towerkit_http_requests_total", "status" => label);
        ServerMetrics {
            requests: CLASSES.map(class),
            duration: metrics::histogram!("towerkit_http_request_duration_seconds"),
            in_flight: metrics::gauge!("towerkit_http_requests_in_flight"),
            connections_open: metrics::gauge!("towerkit_connections_open"),
            connections: metrics::counter!("towerkit_connections_total"),
        }
    }

    /// A request was called: its clock starts.
    pub(crate) fn started(&self) -> Instant {
        self.in_flight.increment(1.0);
        Instant::now()
    }

    /// A request started at `started`, routed where `route` says, was
    /// answered with `status`, or given up (`None`: the client went away
    /// first).
    pub(crate) fn answered(
        &self,
        started: Instant,
        route: &RouteLabel,
        status: Option<StatusCode>,
    ) {
        self.in_flight.decrement(1.0);
        let Some(status) = status else {
            return;
        };
        self.duration.record(started.elapsed().as_secs_f64());
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        match route.get() {
            Some(route) => metrics::counter!(
                "towerkit_http_requests_total",
                "status" => CLASSES[class],
                "route" => route.to_string()
            )
            .increment(1),
            None => self.requests[class].increment(1),
        }
    }

    /// A request head hyper refused to read (malformed, too large): hyper
    /// answered it with a 4xx.
    pub(crate) fn refused_unread(&self) {
        self.requests[3].increment(1);
    }
}

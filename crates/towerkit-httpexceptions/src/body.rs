//! The response body, watched while it streams.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use towerkit_core::{Body, BoxError};

use crate::panic::catch;
use crate::service::RequestInfo;

pin_project_lite::pin_project! {
    /// A streaming response body whose failure (an error, or a panic in the
    /// code producing it) is logged once and ends the response: the error
    /// reaches the server, which closes the connection rather than leave the
    /// client waiting for bytes that will not come.
    pub struct GuardedBody {
        #[pin]
        inner: Body,
        info: Option<Box<RequestInfo>>,
    }
}

impl GuardedBody {
    pub(crate) fn new(inner: Body, info: RequestInfo) -> Self {
        GuardedBody {
            inner,
            info: Some(Box::new(info)),
        }
    }
}

/// A panic while the body streamed, as the body's error.
#[derive(Debug)]
struct PanickedMidway(String);

impl std::fmt::Display for PanickedMidway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "panicked while streaming the response body: {}", self.0)
    }
}

impl std::error::Error for PanickedMidway {}

impl http_body::Body for GuardedBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let inner = this.inner;
        match catch(|| inner.poll_frame(cx)) {
            Ok(Poll::Ready(Some(Err(err)))) => {
                if let Some(info) = this.info.take() {
                    tracing::error!(
                        method = %info.method,
                        path = %info.path(),
                        request_id = %info.request_id(),
                        error = %err,
                        "the response body failed midway; closing the connection"
                    );
                }
                Poll::Ready(Some(Err(err)))
            }
            Ok(other) => other,
            Err(report) => {
                if let Some(info) = this.info.take() {
                    tracing::error!(
                        method = %info.method,
                        path = %info.path(),
                        request_id = %info.request_id(),
                        panic = %report.message,
                        location = report.location.as_deref().unwrap_or("unknown"),
                        "panicked while streaming the response body; closing the connection"
                    );
                }
                Poll::Ready(Some(Err(Box::new(PanickedMidway(report.message)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

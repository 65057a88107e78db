//! Decompressing a gzip request body, with a guard against bombs.

use std::io::Write;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::write::GzDecoder;
use http_body::{Frame, SizeHint};
use towerkit_core::BoxError;

use crate::encode::Out;

/// Compressed input is fed to the decompressor in pieces this small, so
/// that one piece cannot expand past the limit by much (deflate expands at
/// most about 1,032 times).
const PIECE: usize = 512;
/// Decompressed output is handed on once this much has gathered.
const OUTPUT_AT: usize = 64 * 1024;
/// Past 1 MiB of output, a ratio above this is taken for a bomb.
const MAX_RATIO: u64 = 200;

/// How decompression ended, shared with the layer, which answers for it.
#[derive(Debug, Default)]
pub(crate) struct Outcome(AtomicU8);

impl Outcome {
    const TOO_LARGE: u8 = 1;
    const MALFORMED: u8 = 2;

    pub(crate) fn too_large(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::TOO_LARGE
    }

    pub(crate) fn malformed(&self) -> bool {
        self.0.load(Ordering::Acquire) == Self::MALFORMED
    }

    fn set(&self, value: u8) {
        self.0.store(value, Ordering::Release);
    }
}

/// The error a refused body gives the app reading it.
#[derive(Debug)]
pub(crate) struct Refused(&'static str);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Refused {}

pin_project_lite::pin_project! {
    /// A gzip request body, decompressed for the app as it is read.
    pub struct GunzipBody<B> {
        #[pin]
        inner: B,
        decoder: Option<GzDecoder<Out>>,
        pending: Bytes,
        read: u64,
        written: u64,
        max: u64,
        outcome: Arc<Outcome>,
    }
}

impl<B> GunzipBody<B> {
    pub(crate) fn new(inner: B, max: u64, outcome: Arc<Outcome>) -> Self {
        GunzipBody {
            inner,
            decoder: Some(GzDecoder::new(Out::default())),
            pending: Bytes::new(),
            read: 0,
            written: 0,
            max,
            outcome,
        }
    }
}

impl<B> http_body::Body for GunzipBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            let Some(decoder) = this.decoder.as_mut() else {
                return Poll::Ready(None);
            };
            while !this.pending.is_empty() {
                let piece = this.pending.split_to(this.pending.len().min(PIECE));
                *this.read += piece.len() as u64;
                if decoder.write_all(&piece).is_err() {
                    this.outcome.set(Outcome::MALFORMED);
                    *this.decoder = None;
                    return Poll::Ready(Some(Err(Box::new(Refused(
                        "the gzip request body is malformed",
                    )))));
                }
                let produced = decoder.get_ref().0.len() as u64;
                let total = *this.written + produced;
                if total > *this.max || (total > 1 << 20 && total > *this.read * MAX_RATIO) {
                    this.outcome.set(Outcome::TOO_LARGE);
                    *this.decoder = None;
                    return Poll::Ready(Some(Err(Box::new(Refused(
                        "the gzip request body decompresses past the limit",
                    )))));
                }
                if produced as usize >= OUTPUT_AT {
                    *this.written += produced;
                    return Poll::Ready(Some(Ok(Frame::data(
                        decoder.get_mut().0.split().freeze(),
                    ))));
                }
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    let out = decoder.get_mut().0.split().freeze();
                    if out.is_empty() {
                        return Poll::Pending;
                    }
                    *this.written += out.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        *this.pending = data;
                    }
                }
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
                Poll::Ready(None) => {
                    let Some(decoder) = this.decoder.take() else {
                        return Poll::Ready(None);
                    };
                    return match decoder.finish() {
                        Ok(out) => {
                            let out = out.0.freeze();
                            if out.is_empty() {
                                Poll::Ready(None)
                            } else {
                                Poll::Ready(Some(Ok(Frame::data(out))))
                            }
                        }
                        Err(_) => {
                            this.outcome.set(Outcome::MALFORMED);
                            Poll::Ready(Some(Err(Box::new(Refused(
                                "the gzip request body is truncated",
                            )))))
                        }
                    };
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

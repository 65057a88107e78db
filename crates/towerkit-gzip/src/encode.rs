//! Compressing a response body as it streams.

use std::io::Write;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::write::GzEncoder;
use flate2::Compression;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use towerkit_core::BoxError;

/// The most input compressed in one poll: a large frame is taken in pieces
/// of this size, so one response cannot hold a thread for long.
const INPUT_PER_POLL: usize = 256 * 1024;
/// Output is sent once this much has gathered, even mid-frame.
const OUTPUT_AT: usize = 64 * 1024;

/// The compressor's output: a buffer that is drained after each write.
#[derive(Debug, Default)]
pub(crate) struct Out(pub(crate) BytesMut);

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pin_project_lite::pin_project! {
    /// A body compressed with gzip frame by frame.
    ///
    /// What the inner body yields is compressed as it comes; whenever the
    /// inner body has nothing more ready, the compressor is flushed (a sync
    /// flush) and the output sent, so every event of a server-sent stream
    /// reaches the client when it is written, while a fast stream is not
    /// cut into tiny blocks. Memory is bounded by the frame being worked on
    /// and the output buffer; work per poll by [`INPUT_PER_POLL`]. Trailers
    /// pass through after the gzip stream ends.
    pub struct GzipBody<B> {
        #[pin]
        inner: B,
        encoder: Option<GzEncoder<Out>>,
        pending: Bytes,
        unflushed: bool,
        trailers: Option<HeaderMap>,
        inner_done: bool,
    }
}

impl<B> GzipBody<B> {
    pub(crate) fn new(inner: B, level: u32) -> Self {
        GzipBody {
            inner,
            encoder: Some(GzEncoder::new(Out::default(), Compression::new(level))),
            pending: Bytes::new(),
            unflushed: false,
            trailers: None,
            inner_done: false,
        }
    }
}

fn take(encoder: &mut GzEncoder<Out>) -> Bytes {
    encoder.get_mut().0.split().freeze()
}

impl<B> http_body::Body for GzipBody<B>
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
        let Some(encoder) = this.encoder.as_mut() else {
            return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
        };
        let mut budget = INPUT_PER_POLL;
        loop {
            // Compress what there is, within the budget.
            while !this.pending.is_empty() {
                if budget == 0 {
                    let out = take(encoder);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let piece = this.pending.split_to(this.pending.len().min(budget));
                budget -= piece.len();
                encoder.write_all(&piece)?;
                *this.unflushed = true;
                if encoder.get_ref().0.len() >= OUTPUT_AT {
                    return Poll::Ready(Some(Ok(Frame::data(take(encoder)))));
                }
            }
            if *this.inner_done {
                // The end: the gzip trailer, then the body's trailers.
                let Some(encoder) = this.encoder.take() else {
                    return Poll::Ready(None);
                };
                let out = encoder.finish()?.0.freeze();
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    // Nothing more ready: send what is compressed so far.
                    if *this.unflushed {
                        encoder.flush()?;
                        *this.unflushed = false;
                    }
                    let out = take(encoder);
                    if out.is_empty() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(out))));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => *this.pending = data,
                    Err(frame) => {
                        if let Ok(trailers) = frame.into_trailers() {
                            *this.trailers = Some(trailers);
                        }
                    }
                },
                Poll::Ready(Some(Err(err))) => return Poll::Ready(Some(Err(err.into()))),
                Poll::Ready(None) => *this.inner_done = true,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.encoder.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full, StreamBody};
    use std::io::Read;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    #[tokio::test]
    async fn a_large_frame_round_trips() {
        let text: Vec<u8> = (0..2_000_000u32)
            .map(|i| b"abcdefgh{}:,\"0123"[(i % 17) as usize])
            .collect();
        let body = GzipBody::new(Full::new(Bytes::from(text.clone())), 6);
        let compressed = body.collect().await.unwrap().to_bytes();
        assert!(compressed.len() < text.len() / 10);
        assert_eq!(gunzip(&compressed), text);
    }

    #[tokio::test]
    async fn each_event_arrives_before_the_next_is_produced() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(4);
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|frame| (frame, rx))
        });
        let mut body = std::pin::pin!(GzipBody::new(StreamBody::new(stream), 6));
        let mut decoder = flate2::write::GzDecoder::new(Vec::new());
        for n in 1..=3 {
            let event = format!("data: event {n}\n\n");
            tx.send(Ok(Frame::data(Bytes::from(event.clone()))))
                .await
                .unwrap();
            // The next frame is not sent yet: what came out must hold the
            // whole event.
            let chunk = body.frame().await.unwrap().unwrap().into_data().unwrap();
            decoder.write_all(&chunk).unwrap();
            decoder.flush().unwrap();
            assert_eq!(
                String::from_utf8_lossy(decoder.get_ref())
                    .lines()
                    .rfind(|l| !l.is_empty()),
                Some(event.trim())
            );
        }
        drop(tx);
        while let Some(frame) = body.frame().await {
            decoder
                .write_all(frame.unwrap().data_ref().unwrap())
                .unwrap();
        }
        let all = decoder.finish().unwrap();
        assert_eq!(
            String::from_utf8(all).unwrap(),
            "data: event 1\n\ndata: event 2\n\ndata: event 3\n\n"
        );
    }

    #[tokio::test]
    async fn trailers_pass_through_after_the_stream() {
        let mut trailers = HeaderMap::new();
        trailers.insert("x-checksum", "abc".parse().unwrap());
        let frames = vec![
            Ok::<_, std::io::Error>(Frame::data(Bytes::from("hello "))),
            Ok(Frame::data(Bytes::from("world"))),
            Ok(Frame::trailers(trailers.clone())),
        ];
        let body = GzipBody::new(StreamBody::new(futures_util::stream::iter(frames)), 6);
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(gunzip(&collected.to_bytes()), b"hello world");
    }
}

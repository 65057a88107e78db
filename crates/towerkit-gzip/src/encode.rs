//! Compressing a response body as it streams.

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use flate2::{Compress, Compression, Crc, FlushCompress};
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use towerkit_core::BoxError;

/// The most input compressed in one poll: a large frame is taken in pieces
/// of this size, so one response cannot hold a thread for long.
const INPUT_PER_POLL: usize = 256 * 1024;
/// Output is sent once this much has gathered, even mid-frame.
const OUTPUT_AT: usize = 64 * 1024;
/// How many idle compressors a layer keeps for reuse.
const POOLED: usize = 64;

/// The gzip member header: deflate, no name, no time, unknown OS.
const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// A buffer that implements `Write`: what the request decompressor writes
/// into.
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

/// A raw deflate compressor with its output buffer and checksum: made once,
/// reset and reused across responses (a deflate state is a few hundred KiB,
/// and making one per response costs more than compressing a small one).
pub(crate) struct Encoder {
    deflate: Compress,
    out: Vec<u8>,
    crc: Crc,
}

/// The compressors of one layer, kept between responses.
#[derive(Debug)]
pub(crate) struct Pool {
    level: u32,
    idle: Mutex<Vec<Encoder>>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encoder")
    }
}

impl Pool {
    pub(crate) fn new(level: u32) -> Arc<Pool> {
        Arc::new(Pool {
            level,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn take(&self) -> Encoder {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let mut encoder = idle.unwrap_or_else(|| Encoder {
            deflate: Compress::new(Compression::new(self.level), false),
            out: Vec::with_capacity(16 * 1024),
            crc: Crc::new(),
        });
        encoder.out.extend_from_slice(&GZIP_HEADER);
        encoder
    }

    fn give_back(&self, mut encoder: Encoder) {
        encoder.deflate.reset();
        encoder.out.clear();
        encoder.crc.reset();
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < POOLED {
                idle.push(encoder);
            }
        }
    }
}

impl Encoder {
    /// Compresses all of `input`, with `flush` at the end of it.
    fn compress(&mut self, input: &[u8], flush: FlushCompress) -> Result<(), BoxError> {
        self.crc.update(input);
        let mut consumed = 0;
        loop {
            // Room for what deflate may make of the rest, plus its flush.
            let rest = input.len() - consumed;
            self.out.reserve(rest / 2 + 1024);
            let before = self.deflate.total_in();
            let status = self
                .deflate
                .compress_vec(&input[consumed..], &mut self.out, flush)?;
            consumed += (self.deflate.total_in() - before) as usize;
            let room_left = self.out.len() < self.out.capacity();
            if matches!(status, flate2::Status::StreamEnd) || (consumed == input.len() && room_left)
            {
                return Ok(());
            }
        }
    }

    /// Ends the deflate stream and appends the gzip trailer.
    fn finish(&mut self) -> Result<(), BoxError> {
        self.compress(&[], FlushCompress::Finish)?;
        let crc = self.crc.sum();
        let len = self.crc.amount();
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out.extend_from_slice(&len.to_le_bytes());
        Ok(())
    }

    fn take_output(&mut self) -> Bytes {
        let bytes = Bytes::copy_from_slice(&self.out);
        self.out.clear();
        bytes
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
    /// and the output buffer; work per poll by `INPUT_PER_POLL`. Trailers
    /// pass through after the gzip stream ends. Compressors are reused
    /// across responses.
    pub struct GzipBody<B> {
        #[pin]
        inner: B,
        encoder: Option<Encoder>,
        pool: Arc<Pool>,
        pending: Bytes,
        unflushed: bool,
        trailers: Option<HeaderMap>,
        inner_done: bool,
    }

    impl<B> PinnedDrop for GzipBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(encoder) = this.encoder.take() {
                this.pool.give_back(encoder);
            }
        }
    }
}

impl<B> GzipBody<B> {
    pub(crate) fn new(inner: B, pool: Arc<Pool>) -> Self {
        GzipBody {
            inner,
            encoder: Some(pool.take()),
            pool,
            pending: Bytes::new(),
            unflushed: false,
            trailers: None,
            inner_done: false,
        }
    }
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
                    if !encoder.out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(encoder.take_output()))));
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                let piece = this.pending.split_to(this.pending.len().min(budget));
                budget -= piece.len();
                encoder.compress(&piece, FlushCompress::None)?;
                *this.unflushed = true;
                if encoder.out.len() >= OUTPUT_AT {
                    return Poll::Ready(Some(Ok(Frame::data(encoder.take_output()))));
                }
            }
            if *this.inner_done {
                // The end: the gzip trailer, then the body's trailers.
                encoder.finish()?;
                let out = encoder.take_output();
                if let Some(encoder) = this.encoder.take() {
                    this.pool.give_back(encoder);
                }
                return Poll::Ready(Some(Ok(Frame::data(out))));
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => {
                    // Nothing more ready: send what is compressed so far.
                    if *this.unflushed {
                        encoder.compress(&[], FlushCompress::Sync)?;
                        *this.unflushed = false;
                    }
                    if encoder.out.is_empty() {
                        return Poll::Pending;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(encoder.take_output()))));
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
        let body = GzipBody::new(Full::new(Bytes::from(text.clone())), Pool::new(6));
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
        let mut body = std::pin::pin!(GzipBody::new(StreamBody::new(stream), Pool::new(6)));
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
    async fn pooled_compressors_start_clean() {
        let pool = Pool::new(4);
        for text in [
            "first body, compressed",
            "second",
            "third one, longer than the second",
        ] {
            let body = GzipBody::new(Full::new(Bytes::from(text)), pool.clone());
            let compressed = body.collect().await.unwrap().to_bytes();
            assert_eq!(gunzip(&compressed), text.as_bytes());
        }
        assert_eq!(pool.idle.lock().unwrap().len(), 1, "one compressor, reused");
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
        let body = GzipBody::new(
            StreamBody::new(futures_util::stream::iter(frames)),
            Pool::new(6),
        );
        let collected = body.collect().await.unwrap();
        assert_eq!(collected.trailers(), Some(&trailers));
        assert_eq!(gunzip(&collected.to_bytes()), b"hello world");
    }
}

//! Streaming a file (or ranges of it) in bounded memory.

use std::collections::VecDeque;
use std::fs::File;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::task::JoinHandle;
use towerkit_core::BoxError;

/// How much is read from the file at a time: the most a response holds in
/// memory.
pub(crate) const CHUNK: u64 = 256 * 1024;

/// A piece of a response body.
#[derive(Debug)]
pub(crate) enum Piece {
    /// Bytes already in memory (a multipart header, a small file).
    Bytes(Bytes),
    /// `len` bytes of the file from `offset`.
    File { offset: u64, len: u64 },
}

/// Reads the pieces in order, a chunk at a time, on the blocking pool.
pub(crate) struct FileBody {
    file: Arc<File>,
    pieces: VecDeque<Piece>,
    reading: Option<JoinHandle<io::Result<Bytes>>>,
    remaining: u64,
}

impl FileBody {
    pub(crate) fn new(file: Arc<File>, pieces: VecDeque<Piece>) -> Self {
        let remaining = pieces
            .iter()
            .map(|p| match p {
                Piece::Bytes(b) => b.len() as u64,
                Piece::File { len, .. } => *len,
            })
            .sum();
        FileBody {
            file,
            pieces,
            reading: None,
            remaining,
        }
    }
}

fn read_at(file: &File, offset: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        #[cfg(unix)]
        let n =
            std::os::unix::fs::FileExt::read_at(file, &mut buf[filled..], offset + filled as u64)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(
            file,
            &mut buf[filled..],
            offset + filled as u64,
        )?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file became shorter while it was sent",
            ));
        }
        filled += n;
    }
    Ok(Bytes::from(buf))
}

impl http_body::Body for FileBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        loop {
            if let Some(reading) = self.reading.as_mut() {
                let result = ready!(Pin::new(reading).poll(cx));
                self.reading = None;
                return Poll::Ready(Some(match result {
                    Ok(Ok(bytes)) => {
                        self.remaining -= bytes.len() as u64;
                        Ok(Frame::data(bytes))
                    }
                    Ok(Err(err)) => Err(err.into()),
                    Err(join) => Err(join.into()),
                }));
            }
            match self.pieces.pop_front() {
                None => return Poll::Ready(None),
                Some(Piece::Bytes(bytes)) => {
                    self.remaining -= bytes.len() as u64;
                    return Poll::Ready(Some(Ok(Frame::data(bytes))));
                }
                Some(Piece::File { len: 0, .. }) => continue,
                Some(Piece::File { offset, len }) => {
                    let take = len.min(CHUNK);
                    if len > take {
                        self.pieces.push_front(Piece::File {
                            offset: offset + take,
                            len: len - take,
                        });
                    }
                    let file = self.file.clone();
                    self.reading = Some(tokio::task::spawn_blocking(move || {
                        read_at(&file, offset, take as usize)
                    }));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.reading.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

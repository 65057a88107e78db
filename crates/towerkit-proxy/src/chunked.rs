//! The chunked transfer coding (RFC 9112 §7.1), decoded from a buffer.
//!
//! The decoder is a state machine fed whatever the upstream has sent so far.
//! It hands out chunk data as slices of the read buffer (no copy), and
//! consumes the framing around it: sizes, extensions (ignored), the CRLF
//! after each chunk, and the trailer section (dropped: a proxy may discard
//! trailers, and HTTP/1.1 clients rarely ask for them).
//!
//! It is strict where laxness lets two parsers disagree about where a
//! message ends: every line ends in CRLF, a size is hexadecimal digits only
//! and fits in 64 bits, and lines have a bounded length.

use bytes::{Buf, Bytes, BytesMut};

use crate::connection::take;

/// The longest chunk-size line (with extensions) or trailer line accepted.
const MAX_LINE: usize = 4096;
/// The most trailer bytes accepted.
const MAX_TRAILERS: usize = 16 * 1024;

/// What the decoder made of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Decoded {
    /// Chunk data, taken from the front of the buffer.
    Data(Bytes),
    /// The buffer ends inside framing: read more and call again.
    NeedMore,
    /// The last chunk and the trailers have been read.
    End,
}

/// Why a chunked body is malformed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Malformed(&'static str);

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "malformed chunked body: {}", self.0)
    }
}

impl std::error::Error for Malformed {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hexadecimal size; `digits` read so far.
    Size { size: u64, digits: u8 },
    /// Whitespace after the size, before CR or an extension's `;`.
    SizeWhitespace { size: u64, len: usize },
    /// Inside extensions (after a `;`), up to CR.
    Extension { size: u64, len: usize },
    /// The LF that ends the size line.
    SizeLf { size: u64 },
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// The CR after a chunk's data.
    DataCr,
    /// The LF after a chunk's data.
    DataLf,
    /// A trailer line (or the empty line that ends them), `len` bytes in.
    Trailer { len: usize, total: usize },
    /// The LF of a trailer line; `empty` if the line was empty.
    TrailerLf { empty: bool, total: usize },
    /// Done.
    End,
}

/// A chunked-body decoder. See the [module documentation](self).
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: State::Size { size: 0, digits: 0 },
        }
    }

    /// Consumes framing from the front of `buf` until it can return data,
    /// the end, or needs more bytes.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, Malformed> {
        let mut at = 0;
        let decoded = loop {
            if let State::Data(left) = self.state {
                buf.advance(at);
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                let data = take(buf, n);
                let left = left - n as u64;
                self.state = if left == 0 {
                    State::DataCr
                } else {
                    State::Data(left)
                };
                return Ok(Decoded::Data(data));
            }
            if self.state == State::End {
                break Decoded::End;
            }
            let Some(&byte) = buf.get(at) else {
                break Decoded::NeedMore;
            };
            at += 1;
            self.state = self.step(byte)?;
        };
        buf.advance(at);
        Ok(decoded)
    }

    /// The state after one framing byte.
    fn step(&self, byte: u8) -> Result<State, Malformed> {
        Ok(match self.state {
            State::Size { size, digits } => match hex(byte) {
                Some(digit) => {
                    if digits == 16 {
                        return Err(Malformed("chunk size too large"));
                    }
                    State::Size {
                        size: size << 4 | u64::from(digit),
                        digits: digits + 1,
                    }
                }
                None if digits == 0 => return Err(Malformed("chunk size is not hexadecimal")),
                None => after_size(size, byte, 0)?,
            },
            State::SizeWhitespace { size, len } => after_size(size, byte, len)?,
            State::Extension { size, len } => {
                if len >= MAX_LINE {
                    return Err(Malformed("chunk extension too long"));
                }
                match byte {
                    b'\r' => State::SizeLf { size },
                    b'\t' | 0x20..=0x7e | 0x80..=0xff => State::Extension { size, len: len + 1 },
                    _ => return Err(Malformed("chunk size line not ended by CRLF")),
                }
            }
            State::SizeLf { size } => match (byte, size) {
                (b'\n', 0) => State::Trailer { len: 0, total: 0 },
                (b'\n', size) => State::Data(size),
                _ => return Err(Malformed("chunk size line not ended by CRLF")),
            },
            State::DataCr if byte == b'\r' => State::DataLf,
            State::DataLf if byte == b'\n' => State::Size { size: 0, digits: 0 },
            State::DataCr | State::DataLf => {
                return Err(Malformed("chunk data not followed by CRLF"))
            }
            State::Trailer { len, total } => {
                if total >= MAX_TRAILERS || len >= MAX_LINE {
                    return Err(Malformed("trailers too long"));
                }
                match byte {
                    b'\r' => State::TrailerLf {
                        empty: len == 0,
                        total: total + 1,
                    },
                    b'\n' => return Err(Malformed("trailer line not ended by CRLF")),
                    _ => State::Trailer {
                        len: len + 1,
                        total: total + 1,
                    },
                }
            }
            State::TrailerLf { empty, total } => match byte {
                b'\n' if empty => State::End,
                b'\n' => State::Trailer {
                    len: 0,
                    total: total + 1,
                },
                _ => return Err(Malformed("trailer line not ended by CRLF")),
            },
            State::Data(_) | State::End => self.state,
        })
    }
}

/// The state after a byte that follows a chunk size: CR ends the line,
/// whitespace may come before an extension's `;`, and nothing else may.
fn after_size(size: u64, byte: u8, len: usize) -> Result<State, Malformed> {
    if len >= MAX_LINE {
        return Err(Malformed("chunk size line too long"));
    }
    match byte {
        b'\r' => Ok(State::SizeLf { size }),
        b' ' | b'\t' => Ok(State::SizeWhitespace { size, len: len + 1 }),
        b';' => Ok(State::Extension { size, len: len + 1 }),
        _ => Err(Malformed("chunk size is not hexadecimal")),
    }
}

fn hex(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed `step` bytes at a time; the data, or the error.
    fn decode_in_steps(input: &[u8], step: usize) -> Result<Vec<u8>, Malformed> {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        loop {
            match decoder.decode(&mut buf)? {
                Decoded::Data(data) => out.extend_from_slice(&data),
                Decoded::End => {
                    assert_eq!(decoder.decode(&mut buf), Ok(Decoded::End), "the end stays");
                    return Ok(out);
                }
                Decoded::NeedMore => {
                    if fed == input.len() {
                        return Err(Malformed("ended early"));
                    }
                    let next = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
            }
        }
    }

    #[test]
    fn chunks_in_any_split_are_decoded() {
        let input = b"5\r\nhello\r\n1;name=\"v\"\r\n \r\nA \r\n0123456789\r\n0\r\nX-Sum: 1\r\n\r\n";
        for step in 1..=input.len() {
            assert_eq!(
                decode_in_steps(input, step).unwrap(),
                b"hello 0123456789",
                "fed {step} bytes at a time"
            );
        }
    }

    #[test]
    fn random_bodies_in_random_chunks_and_splits() {
        // A fixed-seed generator: the same cases on every run.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |below: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % below as u64) as usize
        };
        for _ in 0..300 {
            let body: Vec<u8> = (0..next(3000)).map(|_| next(256) as u8).collect();
            let mut encoded = Vec::new();
            let mut rest = &body[..];
            while !rest.is_empty() {
                let (chunk, after) = rest.split_at((1 + next(700)).min(rest.len()));
                let size = if next(2) == 0 {
                    format!("{:x}", chunk.len())
                } else {
                    format!("{:X}", chunk.len())
                };
                let ext = ["", ";a=1", " ;b", "\t;c=\"x y\""][next(4)];
                encoded.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                encoded.extend_from_slice(chunk);
                encoded.extend_from_slice(b"\r\n");
                rest = after;
            }
            encoded.extend_from_slice(["0\r\n\r\n", "0\r\nX-T: 1\r\n\r\n"][next(2)].as_bytes());
            let step = 1 + next(encoded.len());
            assert_eq!(
                decode_in_steps(&encoded, step).unwrap(),
                body,
                "fed {step} at a time"
            );
        }
    }

    #[test]
    fn what_follows_the_body_stays_in_the_buffer() {
        let mut decoder = ChunkedDecoder::new();
        let mut buf = BytesMut::from(&b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK"[..]);
        assert_eq!(
            decoder.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"ok"))
        );
        assert_eq!(decoder.decode(&mut buf).unwrap(), Decoded::End);
        assert_eq!(&buf[..], b"HTTP/1.1 200 OK");
    }

    #[test]
    fn malformed_framing_is_refused() {
        for input in [
            &b"x\r\n"[..],
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5\r\nhello\n0\r\n\r\n",
            b"10000000000000000\r\n",
            b"-1\r\n",
            b"0\r\nX: 1\n\r\n",
            b"5 5\r\nhello\r\n",
        ] {
            assert!(
                decode_in_steps(input, input.len()).is_err(),
                "{:?} was accepted",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn endless_extensions_and_trailers_are_refused() {
        let mut long = b"1;".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_LINE + 1));
        assert!(decode_in_steps(&long, 512).is_err());
        let mut trailers = b"0\r\n".to_vec();
        for _ in 0..MAX_TRAILERS / 8 {
            trailers.extend_from_slice(b"X: 123\r\n");
        }
        trailers.extend_from_slice(b"\r\n");
        assert!(decode_in_steps(&trailers, 512).is_err());
    }
}

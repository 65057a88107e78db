//! The upstream's response head: parsed from the read buffer, and how its
//! body is framed (RFC 9112 §6.3).
//!
//! The head is parsed by `httparse`, and the header values are slices of
//! the bytes read (no copy). How the body ends is decided here, strictly:
//! a `Content-Length` that is not one number, or that disagrees with a
//! repeat of itself, is an error rather than a guess, since a proxy that
//! guesses differently from its client can be made to split one response
//! into two.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};

use towerkit_core::header::lists_token;

use crate::connection::take;

/// The most header fields a response head may have.
const MAX_HEADERS: usize = 100;
/// The largest response head accepted.
pub(crate) const MAX_HEAD: usize = 64 * 1024;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (a response to HEAD, 204, 304).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// The chunked transfer coding.
    Chunked,
    /// Everything until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) status: StatusCode,
    pub(crate) version: Version,
    pub(crate) headers: HeaderMap,
    pub(crate) framing: Framing,
    /// Whether the connection can carry another request afterwards.
    pub(crate) keep_alive: bool,
}

/// Why a response head is refused.
#[derive(Debug)]
pub(crate) struct BadHead(String);

impl std::fmt::Display for BadHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad response from the upstream: {}", self.0)
    }
}

impl std::error::Error for BadHead {}

impl Head {
    /// Parses a head from the front of `buf` and removes it; `None` while
    /// the head is incomplete. `for_head` if the request was a HEAD (the
    /// response has no body, whatever its headers say).
    pub(crate) fn parse(buf: &mut BytesMut, for_head: bool) -> Result<Option<Head>, BadHead> {
        // Where each name and value lies in the head, found while httparse
        // borrows the buffer, then sliced from it once it is frozen. (Both
        // arrays are kept small or uninitialized: zeroing kilobytes per
        // response showed in profiles.)
        let mut spans = [[0u32; 4]; MAX_HEADERS];
        let (len, code, minor, count) = {
            let mut fields = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
            let mut response = httparse::Response::new(&mut []);
            let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
                &mut response,
                buf,
                &mut fields,
            );
            let len = match parsed {
                Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD => len,
                Ok(httparse::Status::Complete(_)) => {
                    return Err(BadHead("a head larger than 64 KiB".into()))
                }
                Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
                    return Err(BadHead("a head larger than 64 KiB".into()))
                }
                Ok(httparse::Status::Partial) => return Ok(None),
                Err(err) => return Err(BadHead(err.to_string())),
            };
            let start = buf.as_ptr() as usize;
            let count = response.headers.len();
            let offset = |part: &[u8]| (part.as_ptr() as usize - start) as u32;
            for (span, field) in spans.iter_mut().zip(response.headers.iter()) {
                let name = offset(field.name.as_bytes());
                let value = offset(field.value);
                *span = [
                    name,
                    name + field.name.len() as u32,
                    value,
                    value + field.value.len() as u32,
                ];
            }
            (
                len,
                response.code.unwrap_or_default(),
                response.version.unwrap_or_default(),
                count,
            )
        };
        let head = take(buf, len);
        let status = StatusCode::from_u16(code)
            .map_err(|_| BadHead(format!("status {code} is not a status")))?;
        let mut headers = HeaderMap::with_capacity(count);
        // The fields that decide framing and reuse, noted as they pass: most
        // responses have a length and no other, and looking up those they
        // lack cost more than noting those they have.
        let mut seen = Seen::default();
        for &[name_start, name_end, value_start, value_end] in &spans[..count] {
            let (name_start, name_end) = (name_start as usize, name_end as usize);
            let (value_start, value_end) = (value_start as usize, value_end as usize);
            let name = HeaderName::from_bytes(&head[name_start..name_end])
                .map_err(|_| BadHead("a header name that is not a token".into()))?;
            let value = HeaderValue::from_maybe_shared(head.slice(value_start..value_end))
                .map_err(|_| BadHead(format!("the value of `{name}` is not a header value")))?;
            seen.note(&name, value.as_bytes());
            headers.append(name, value);
        }
        let version = if minor == 1 {
            Version::HTTP_11
        } else {
            Version::HTTP_10
        };
        let (framing, consistent) = framing(&mut headers, seen, status, for_head)?;
        let keep_alive = consistent
            && version == Version::HTTP_11
            && framing != Framing::Close
            && !(seen.connection && lists_token(headers.get_all(CONNECTION), "close"));
        Ok(Some(Head {
            status,
            version,
            headers,
            framing,
            keep_alive,
        }))
    }
}

/// What the fields that frame a response, or end its connection, say:
/// noted as the map is built, so that it need not be searched for them.
#[derive(Clone, Copy, Default)]
struct Seen {
    transfer_encoding: bool,
    connection: bool,
    length: Length,
}

/// What the response's `Content-Length` fields say, all taken together.
#[derive(Clone, Copy, Default, PartialEq, Debug)]
enum Length {
    /// There is none.
    #[default]
    Absent,
    /// They all give this length.
    Given(u64),
    /// Why they cannot be used.
    Invalid(&'static str),
}

impl Seen {
    fn note(&mut self, name: &HeaderName, value: &[u8]) {
        if name == TRANSFER_ENCODING {
            self.transfer_encoding = true;
        } else if name == CONTENT_LENGTH {
            for item in value.split(|&b| b == b',') {
                self.length = self.length.and(item.trim_ascii());
            }
        } else if name == CONNECTION {
            self.connection = true;
        }
    }
}

impl Length {
    /// Adds one item of a `Content-Length` list.
    fn and(self, item: &[u8]) -> Length {
        let parsed = (!item.is_empty() && item.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(item).ok()?.parse::<u64>().ok())
            .flatten();
        match (self, parsed) {
            (Length::Invalid(why), _) => Length::Invalid(why),
            (_, None) => Length::Invalid("a Content-Length that is not a number"),
            (Length::Given(seen), Some(parsed)) if seen != parsed => {
                Length::Invalid("Content-Length values that disagree")
            }
            (_, Some(parsed)) => Length::Given(parsed),
        }
    }
}

/// How the body is framed, and whether the framing headers agreed (a
/// message with both `Transfer-Encoding` and `Content-Length` is read by
/// the former, and its connection is not reused). `seen` is what they
/// say.
fn framing(
    headers: &mut HeaderMap,
    seen: Seen,
    status: StatusCode,
    for_head: bool,
) -> Result<(Framing, bool), BadHead> {
    if for_head
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok((Framing::Empty, true));
    }
    if seen.transfer_encoding {
        let both = headers.remove(CONTENT_LENGTH).is_some();
        // Chunked must be the last coding; anything else is read to the end.
        let last = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .next_back()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(str::trim);
        let framing = match last {
            Some(coding) if coding.eq_ignore_ascii_case("chunked") => Framing::Chunked,
            _ => Framing::Close,
        };
        return Ok((framing, !both));
    }
    match seen.length {
        Length::Absent => Ok((Framing::Close, true)),
        Length::Given(length) => Ok((Framing::Length(length), true)),
        Length::Invalid(why) => Err(BadHead(why.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_lists_are_one_length_or_none() {
        let length = |values: &[&str]| {
            let mut seen = Seen::default();
            for value in values {
                seen.note(&CONTENT_LENGTH, value.as_bytes());
            }
            seen.length
        };
        assert_eq!(length(&[]), Length::Absent);
        assert_eq!(length(&["42"]), Length::Given(42));
        assert_eq!(length(&["42, 42", " 42 "]), Length::Given(42));
        assert!(matches!(length(&["42", "43"]), Length::Invalid(_)));
        assert!(matches!(length(&["4 2"]), Length::Invalid(_)));
        assert!(matches!(length(&["-1"]), Length::Invalid(_)));
        assert!(matches!(length(&[""]), Length::Invalid(_)));
        // Once invalid, a later valid value does not mend it.
        assert!(matches!(length(&["x", "42"]), Length::Invalid(_)));
    }

    fn parse(text: &str) -> Result<Option<Head>, BadHead> {
        Head::parse(&mut BytesMut::from(text), false)
    }

    #[test]
    fn a_head_is_parsed_and_removed_from_the_buffer() {
        let mut buf = BytesMut::from(
            "HTTP/1.1 201 Created\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\nok",
        );
        let head = Head::parse(&mut buf, false).unwrap().unwrap();
        assert_eq!(head.status, StatusCode::CREATED);
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(head.framing, Framing::Length(2));
        assert!(head.keep_alive);
        assert_eq!(&buf[..], b"ok");
    }

    #[test]
    fn an_incomplete_head_waits_for_more() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Le").unwrap().is_none());
        let huge = format!("HTTP/1.1 200 OK\r\nX: {}", "a".repeat(MAX_HEAD));
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn framing_follows_rfc_9112() {
        let framing = |text: &str| parse(text).unwrap().unwrap().framing;
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            Framing::Chunked
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Framing::Close
        );
        assert_eq!(framing("HTTP/1.1 200 OK\r\n\r\n"), Framing::Close);
        assert_eq!(
            framing("HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"),
            Framing::Empty
        );
        assert_eq!(
            framing("HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n"),
            Framing::Length(7)
        );
        let head = Head::parse(
            &mut BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"),
            true,
        );
        assert_eq!(head.unwrap().unwrap().framing, Framing::Empty);
    }

    #[test]
    fn both_framings_read_by_transfer_encoding_and_not_reused() {
        let head =
            parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap()
                .unwrap();
        assert_eq!(head.framing, Framing::Chunked);
        assert!(!head.headers.contains_key(CONTENT_LENGTH));
        assert!(!head.keep_alive);
    }

    #[test]
    fn ambiguous_lengths_are_refused() {
        for text in [
            "HTTP/1.1 200 OK\r\nContent-Length: 7, 8\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 8\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: +7\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 0x7\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        ] {
            assert!(parse(text).is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn which_connections_stay_open() {
        let keep_alive = |text: &str| parse(text).unwrap().unwrap().keep_alive;
        assert!(!keep_alive(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(!keep_alive("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(!keep_alive("HTTP/1.1 200 OK\r\n\r\n"));
        assert!(keep_alive("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
    }
}

//! The one response and request body type of towerkit.
//!
//! Every layer that makes a response returns [`Body`], so a stack of them
//! never boxes a body twice: [`Body::new`] recognises a `Body` and hands it
//! back untouched. Small fixed answers (an error page, a health check) are
//! kept inline as [`Bytes`] and cost no allocation beyond the bytes.

use std::any::Any;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::BodyExt;

use crate::BoxError;

/// A streaming body of [`Bytes`] frames whose errors are [`BoxError`]s.
///
/// ```
/// use towerkit_core::Body;
/// use http_body_util::BodyExt;
///
/// # tokio_test();
/// # fn tokio_test() { tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let body = Body::from("hello");
/// let again = Body::new(body); // not boxed a second time
/// assert_eq!(again.collect().await.unwrap().to_bytes(), "hello");
/// # }) }
/// ```
pub struct Body {
    kind: Kind,
}

enum Kind {
    Empty,
    Full(Option<Bytes>),
    /// A request body straight from hyper, kept unboxed: every request has
    /// one, so this saves an allocation and an indirect call per frame.
    Incoming(hyper::body::Incoming),
    Boxed(UnsyncBoxBody<Bytes, BoxError>),
}

impl Body {
    /// Wraps any body whose data is [`Bytes`]; a [`Body`] is returned as it is.
    pub fn new<B>(body: B) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let body = match try_downcast::<Body, B>(body) {
            Ok(body) => return body,
            Err(body) => body,
        };
        match try_downcast::<hyper::body::Incoming, B>(body) {
            Ok(incoming) => Body {
                kind: Kind::Incoming(incoming),
            },
            Err(body) => Body {
                kind: Kind::Boxed(body.map_err(Into::into).boxed_unsync()),
            },
        }
    }

    /// A body with no bytes.
    pub const fn empty() -> Self {
        Body { kind: Kind::Empty }
    }

    /// Whether the body is a stream (which can fail midway), rather than
    /// bytes already in memory.
    pub fn is_streaming(&self) -> bool {
        matches!(self.kind, Kind::Incoming(_) | Kind::Boxed(_))
    }

    /// Reads the whole body into one buffer, unless it is longer than
    /// `max` bytes: then `Ok(None)`, having read no more than `max` and one
    /// frame. For request bodies a layer must hold whole (a form, a replay).
    pub async fn to_bytes_limited(self, max: usize) -> Result<Option<Bytes>, BoxError> {
        let mut body = std::pin::pin!(self);
        let mut buf = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                if buf.len() + data.len() > max {
                    return Ok(None);
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(Some(buf.freeze()))
    }

    /// Reads the whole body into one buffer.
    ///
    /// Meant for bodies known to be small; a layer that reads client bodies
    /// bounds them first.
    pub async fn to_bytes(self) -> Result<Bytes, BoxError> {
        match self.kind {
            Kind::Empty => Ok(Bytes::new()),
            Kind::Full(bytes) => Ok(bytes.unwrap_or_default()),
            Kind::Incoming(body) => Ok(body.collect().await?.to_bytes()),
            Kind::Boxed(body) => Ok(body.collect().await?.to_bytes()),
        }
    }
}

/// Moves `value` out as a `T` when it is one (the type-erasing helpers use
/// it to hand back what is already erased, rather than wrapping it again).
///
/// ```
/// assert_eq!(towerkit_core::try_downcast::<u8, u8>(7), Ok(7));
/// assert_eq!(towerkit_core::try_downcast::<u8, u16>(7), Err(7));
/// ```
pub fn try_downcast<T: 'static, K: 'static>(value: K) -> Result<T, K> {
    let mut slot = Some(value);
    if let Some(target) = (&mut slot as &mut dyn Any).downcast_mut::<Option<T>>() {
        if let Some(found) = target.take() {
            return Ok(found);
        }
    }
    match slot {
        Some(value) => Err(value),
        // Only reachable when the downcast above took the value, which returned.
        None => unreachable!("value taken without downcast"),
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("Body::Empty"),
            Kind::Full(bytes) => f
                .debug_tuple("Body::Full")
                .field(&bytes.as_ref().map_or(0, Bytes::len))
                .finish(),
            Kind::Incoming(_) | Kind::Boxed(_) => f.write_str("Body::Streaming"),
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        if bytes.is_empty() {
            Body::empty()
        } else {
            Body {
                kind: Kind::Full(Some(bytes)),
            }
        }
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Self {
        Bytes::from_static(text.as_bytes()).into()
    }
}

impl From<&'static [u8]> for Body {
    fn from(bytes: &'static [u8]) -> Self {
        Bytes::from_static(bytes).into()
    }
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Bytes::from(text).into()
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Self {
        Bytes::from(bytes).into()
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Self {
        Body::empty()
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match &mut self.get_mut().kind {
            Kind::Empty => Poll::Ready(None),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            Kind::Incoming(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Kind::Boxed(body) => Pin::new(body).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Empty => true,
            Kind::Full(bytes) => bytes.is_none(),
            Kind::Incoming(body) => body.is_end_stream(),
            Kind::Boxed(body) => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Empty => SizeHint::with_exact(0),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Incoming(body) => body.size_hint(),
            Kind::Boxed(body) => body.size_hint(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;
    use http_body_util::{Full, StreamBody};

    #[tokio::test]
    async fn full_body_reports_exact_size_and_ends() {
        let body = Body::from("abc");
        assert_eq!(body.size_hint().exact(), Some(3));
        assert_eq!(body.to_bytes().await.unwrap(), "abc");
    }

    #[tokio::test]
    async fn a_body_is_not_boxed_twice() {
        let once = Body::from("abc");
        let twice = Body::new(once);
        assert!(matches!(twice.kind, Kind::Full(_)));
        let foreign = Body::new(Full::new(Bytes::from_static(b"x")));
        assert!(matches!(foreign.kind, Kind::Boxed(_)));
        assert!(matches!(Body::new(foreign).kind, Kind::Boxed(_)));
    }

    #[tokio::test]
    async fn limited_reads_stop_past_the_limit() {
        assert_eq!(
            Body::from("abcd")
                .to_bytes_limited(4)
                .await
                .unwrap()
                .as_deref(),
            Some(&b"abcd"[..])
        );
        assert_eq!(Body::from("abcd").to_bytes_limited(3).await.unwrap(), None);
    }

    #[tokio::test]
    async fn streams_frames_in_order() {
        let frames = vec![
            Ok::<_, std::io::Error>(Frame::data(Bytes::from("a"))),
            Ok(Frame::data(Bytes::from("b"))),
        ];
        let body = Body::new(StreamBody::new(futures_util::stream::iter(frames)));
        assert_eq!(body.to_bytes().await.unwrap(), "ab");
    }
}

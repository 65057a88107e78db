//! The response future of [`UrlMap`](super::UrlMap).

/// Either the mounted app's answer, or the map's own: no mount matches
/// (404), or the path has no canonical spelling (400).
pub type ResponseFuture<S, R> = towerkit_core::oneshot::CallOrAnswer<S, R>;

//! Swapping the served stack while the server runs.

use std::sync::Arc;
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use tower_service::Service;
use towerkit_core::oneshot::{oneshot, Oneshot};

/// A service that serves whatever stack was last handed to its
/// [`Reloader`]: each request goes to the stack current when it arrives,
/// and keeps it to the end, so in-flight requests finish on the old stack
/// while new ones reach the new.
///
/// ```
/// use towerkit_core::app::Text;
/// use towerkit_server::Reloadable;
///
/// let (service, reloader) = Reloadable::new(Text::new("old\n"));
/// // Serve `service`; later, after re-reading the configuration:
/// reloader.replace(Text::new("new\n"));
/// # drop(service);
/// ```
#[derive(Debug)]
pub struct Reloadable<S> {
    current: Arc<ArcSwap<S>>,
}

impl<S> Clone for Reloadable<S> {
    fn clone(&self) -> Self {
        Reloadable {
            current: self.current.clone(),
        }
    }
}

/// The handle that swaps the stack of a [`Reloadable`].
#[derive(Debug)]
pub struct Reloader<S> {
    current: Arc<ArcSwap<S>>,
}

impl<S> Reloadable<S> {
    /// Serves `service` until it is replaced.
    pub fn new(service: S) -> (Reloadable<S>, Reloader<S>) {
        let current = Arc::new(ArcSwap::from_pointee(service));
        (
            Reloadable {
                current: current.clone(),
            },
            Reloader { current },
        )
    }
}

impl<S> Reloader<S> {
    /// Sends the requests that arrive from now on to `service`.
    pub fn replace(&self, service: S) {
        self.current.store(Arc::new(service));
    }
}

impl<S, R> Service<R> for Reloadable<S>
where
    S: Service<R> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Oneshot<S, R>;

    /// Always ready: readiness is the stack's own, awaited in the call.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: R) -> Self::Future {
        let stack = S::clone(&self.current.load());
        oneshot(stack, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use towerkit_core::app::Text;
    use towerkit_core::TestClient;

    #[tokio::test]
    async fn new_requests_reach_the_new_stack() {
        let (service, reloader) = Reloadable::new(Text::new("old"));
        let mut client = TestClient::new(service);
        assert_eq!(client.get("/").send().await.unwrap().text(), "old");
        reloader.replace(Text::new("new"));
        assert_eq!(client.get("/").send().await.unwrap().text(), "new");
    }
}

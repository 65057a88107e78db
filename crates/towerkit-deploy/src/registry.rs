//! Named factories: what a `use = "…"` key can name.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::Layer;
use tower_service::Service;
use towerkit_core::{Body, BoxError};

use crate::document::Kind;
use crate::error::ConfigError;
use crate::loader::Deployment;
use crate::section::Section;

/// Every app a stack file builds, type-erased: a cloneable service from
/// `Request<Body>` to `Response<Body>` whose errors are boxed.
///
/// Cloning one is a reference-count increment. (A boxed tower service
/// clones what it holds, so a stack of boxed layers each cloning the app
/// inside for a call copied the whole rest of the stack at every level, for
/// every request.) Each call clones the service inside, which holds the next
/// `BoxApp`, and boxes its future once.
#[derive(Clone)]
pub struct BoxApp(Arc<dyn ErasedApp>);

impl fmt::Debug for BoxApp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxApp")
    }
}

type BoxAppFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, BoxError>> + Send>>;

trait ErasedApp: Send + Sync {
    fn call(&self, req: Request<Body>) -> BoxAppFuture;
}

impl<S, B> ErasedApp for IntoBoxApp<S>
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: Request<Body>) -> BoxAppFuture {
        let service = self.clone();
        Box::pin(towerkit_core::oneshot::oneshot(service, req))
    }
}

impl Service<Request<Body>> for BoxApp {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxAppFuture;

    /// Always ready: each call awaits the readiness of its own clone.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Body>) -> BoxAppFuture {
        self.0.call(req)
    }
}

/// Boxes any service into a [`BoxApp`]; a `BoxApp` is returned as it is.
pub fn boxed_app<S, B>(service: S) -> BoxApp
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    match towerkit_core::try_downcast::<BoxApp, S>(service) {
        Ok(app) => app,
        Err(service) => BoxApp(Arc::new(IntoBoxApp(service))),
    }
}

/// Maps the response body to [`Body`] and the error to [`BoxError`] in one
/// layer (each tower layer moves the request once more).
#[derive(Clone)]
struct IntoBoxApp<S>(S);

impl<S, B> Service<Request<Body>> for IntoBoxApp<S>
where
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = IntoBoxAppFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        IntoBoxAppFuture {
            inner: self.0.call(req),
        }
    }
}

pin_project_lite::pin_project! {
    struct IntoBoxAppFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F, B, E> Future for IntoBoxAppFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<Body>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().inner.poll(cx) {
            Poll::Ready(Ok(response)) => Poll::Ready(Ok(response.map(Body::new))),
            Poll::Ready(Err(err)) => Poll::Ready(Err(err.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// What a filter factory makes: a function from the app inside to the app
/// with the filter around it.
#[derive(Clone)]
pub struct Filter(Arc<dyn Fn(BoxApp) -> BoxApp + Send + Sync>);

impl Filter {
    /// A filter from any function wrapping an app.
    pub fn new(wrap: impl Fn(BoxApp) -> BoxApp + Send + Sync + 'static) -> Self {
        Filter(Arc::new(wrap))
    }

    /// A filter from a tower [`Layer`].
    pub fn layer<L, B>(layer: L) -> Self
    where
        L: Layer<BoxApp> + Send + Sync + 'static,
        L::Service: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        <L::Service as Service<Request<Body>>>::Future: Send + 'static,
        <L::Service as Service<Request<Body>>>::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Filter::new(move |app| boxed_app(layer.layer(app)))
    }

    /// Wraps `app`.
    pub fn apply(&self, app: BoxApp) -> BoxApp {
        (self.0)(app)
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Filter")
    }
}

pub(crate) type AppFactory =
    Arc<dyn Fn(&mut Section<'_, '_>) -> Result<BoxApp, ConfigError> + Send + Sync>;
/// Makes the app for one file of a document root (see `urlparser`'s
/// `handlers`).
pub type FileHandlerFactory = Arc<dyn Fn(&Path) -> BoxApp + Send + Sync>;

pub(crate) type FilterFactory =
    Arc<dyn Fn(&mut Section<'_, '_>) -> Result<Filter, ConfigError> + Send + Sync>;

/// The factories a stack file can `use`, by kind and name.
///
/// [`Registry::with_builtins`] knows every layer of towerkit; a program of
/// one's own adds its factories before loading:
///
/// ```
/// use towerkit_core::app::Text;
/// use towerkit_deploy::{boxed_app, Registry};
///
/// let mut registry = Registry::with_builtins();
/// registry.app("motd", |section| {
///     let message: String = section.require("message")?;
///     Ok(boxed_app(Text::new(message)))
/// });
/// ```
#[derive(Clone, Default)]
pub struct Registry {
    pub(crate) apps: BTreeMap<String, AppFactory>,
    pub(crate) composites: BTreeMap<String, AppFactory>,
    pub(crate) filters: BTreeMap<String, FilterFactory>,
    pub(crate) file_handlers: BTreeMap<String, FileHandlerFactory>,
    /// What the filters of a factory provide to what stands inside them.
    pub(crate) provides: BTreeMap<String, Vec<String>>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("apps", &self.apps.keys().collect::<Vec<_>>())
            .field("composites", &self.composites.keys().collect::<Vec<_>>())
            .field("filters", &self.filters.keys().collect::<Vec<_>>())
            .field(
                "file_handlers",
                &self.file_handlers.keys().collect::<Vec<_>>(),
            )
            .field("provides", &self.provides)
            .finish()
    }
}

impl Registry {
    /// A registry with no factories.
    pub fn new() -> Self {
        Registry::default()
    }

    /// A registry with every built-in factory of towerkit.
    pub fn with_builtins() -> Self {
        let mut registry = Registry::new();
        crate::builtins::register(&mut registry);
        registry
    }

    /// Registers an app factory, for `[app.NAME] use = "name"`.
    pub fn app<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&mut Section<'_, '_>) -> Result<BoxApp, ConfigError> + Send + Sync + 'static,
    {
        self.apps.insert(name.to_owned(), Arc::new(factory));
        self
    }

    /// Registers a composite factory, for `[composite.NAME] use = "name"`: an
    /// app made of other apps, which it reads with [`Section::app`].
    pub fn composite<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&mut Section<'_, '_>) -> Result<BoxApp, ConfigError> + Send + Sync + 'static,
    {
        self.composites.insert(name.to_owned(), Arc::new(factory));
        self
    }

    /// Registers a filter factory, for `[filter.NAME] use = "name"`.
    pub fn filter<F>(&mut self, name: &str, factory: F) -> &mut Self
    where
        F: Fn(&mut Section<'_, '_>) -> Result<Filter, ConfigError> + Send + Sync + 'static,
    {
        self.filters.insert(name.to_owned(), Arc::new(factory));
        self
    }

    /// Declares that every filter the factory `filter` makes provides
    /// `capability` to the filters and apps inside it, the ones a
    /// [`Section::needs`] names. The built-ins: `session` (by `use =
    /// "session"`: a `SessionFactory` in every request) and `recursive` (by
    /// `use = "recursive"`: a `Recursive` handle in every request).
    ///
    /// ```
    /// use towerkit_deploy::{Filter, Registry};
    ///
    /// let mut registry = Registry::with_builtins();
    /// // A session layer of one's own, good enough for the form login.
    /// registry
    ///     .filter("my-sessions", |_| Ok(Filter::new(|app| app)))
    ///     .provides("my-sessions", "session");
    /// ```
    pub fn provides(&mut self, filter: &str, capability: &str) -> &mut Self {
        let provided = self.provides.entry(filter.to_owned()).or_default();
        if !provided.iter().any(|c| c == capability) {
            provided.push(capability.to_owned());
        }
        self
    }

    /// The filter factories that provide `capability`, by name.
    pub(crate) fn filter_names_providing(&self, capability: &str) -> Vec<&str> {
        self.provides
            .iter()
            .filter(|(_, provided)| provided.iter().any(|c| c == capability))
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// Registers a file handler: what a document root (`use = "urlparser"`)
    /// hands the files of an extension to, e.g. `handlers = { cgi = "cgi" }`.
    pub fn file_handler<F>(&mut self, name: &str, handler: F) -> &mut Self
    where
        F: Fn(&Path) -> BoxApp + Send + Sync + 'static,
    {
        self.file_handlers
            .insert(name.to_owned(), Arc::new(handler));
        self
    }

    /// The names registered for a kind of section.
    pub fn names(&self, kind: Kind) -> Vec<&str> {
        let keys: Box<dyn Iterator<Item = &String>> = match kind {
            Kind::App => Box::new(self.apps.keys()),
            Kind::Composite => Box::new(self.composites.keys()),
            Kind::Filter => Box::new(self.filters.keys()),
            Kind::Pipeline => Box::new(std::iter::empty()),
        };
        keys.map(String::as_str).collect()
    }

    /// Reads and assembles a stack file.
    pub fn load(&self, file: impl AsRef<Path>) -> Result<Deployment, ConfigError> {
        let file = file.as_ref();
        let source = std::fs::read_to_string(file)
            .map_err(|err| ConfigError::new(file, format!("cannot read the file: {err}")))?;
        self.load_str(file, &source)
    }

    /// Assembles a stack from TOML text; `file` names it in errors and
    /// anchors relative paths.
    pub fn load_str(&self, file: &Path, source: &str) -> Result<Deployment, ConfigError> {
        crate::loader::load(self, file, source)
    }
}

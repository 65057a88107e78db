//! `UrlParser`: a document root where folders are nested parsers and files
//! are apps, after `paste.urlparser`.
//!
//! The parser walks the path one segment at a time, moving each segment
//! from `PATH_INFO` to `SCRIPT_NAME`:
//!
//! - an empty path (`/docs` mounted at `/docs`) is redirected (301) to the
//!   same URL with a slash, the `Location` built from the full URL
//!   (`ScriptName` + path) and keeping the query;
//! - `/` serves the first index file found (`index`, default
//!   `["index.html"]`), else a listing (when `listing` is on), else 404;
//! - a segment naming a folder hands the rest of the path to a nested
//!   parser (kept once made);
//! - a segment naming a file hands it to the app registered for its
//!   extension (a CGI gateway for `.cgi`, say), which sees the consumed part
//!   in `ScriptName` and the rest as its path; files without a registered
//!   extension are served as static files, and a path left after one is 404;
//! - a segment without extension finds the one `NAME.*` file there is
//!   (two or more: 404), as Paste's `find_file` did;
//! - hidden names (a leading `.`) and backups (`~`, `.bak`, configurable
//!   with `hide`) are 404, and so is anything whose real place, symlinks
//!   followed, is outside the root (unless `follow_symlinks`);
//! - what is not found goes to the `not_found` app when there is one, else
//!   404.
//!
//! ```
//! use towerkit_urlparser::UrlParser;
//!
//! let site = UrlParser::new("public").listing(true).index(["index.html", "index.htm"]);
//! # let _ = site;
//! ```

mod listing;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Request, Response};
use tower::util::BoxCloneSyncService;
use tower::ServiceExt;
use tower_service::Service;
use towerkit_core::path::segments;
use towerkit_core::recursive::BoxFuture;
use towerkit_core::{path_info, shift_path_info, Body, BoxError, HttpException, ScriptName};
use towerkit_static::{file_name, Root, ServeFile, StaticOptions};

/// The type of the apps a parser hands files to, and of its `not_found`.
pub type BoxService = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// Makes the app for a file: registered per extension.
pub type FileHandler = Arc<dyn Fn(&Path) -> BoxService + Send + Sync>;

/// A document root, served by walking it a segment at a time.
#[derive(Clone)]
#[must_use]
pub struct UrlParser {
    /// This parser's folder, relative to the root.
    dir: Arc<PathBuf>,
    config: Arc<Config>,
    children: Arc<Mutex<HashMap<String, UrlParser>>>,
}

#[derive(Clone)]
struct Config {
    root: Arc<Root>,
    index: Vec<String>,
    handlers: HashMap<String, FileHandler>,
    hide: Vec<String>,
    listing: bool,
    static_options: StaticOptions,
    not_found: Option<BoxService>,
}

impl fmt::Debug for UrlParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlParser")
            .field("dir", &self.dir)
            .field("index", &self.config.index)
            .field("handlers", &self.config.handlers.keys().collect::<Vec<_>>())
            .field("hide", &self.config.hide)
            .field("listing", &self.config.listing)
            .finish()
    }
}

impl UrlParser {
    /// A parser for the folder `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        UrlParser {
            dir: Arc::new(PathBuf::new()),
            config: Arc::new(Config {
                root: Arc::new(Root::new(root, false)),
                index: vec!["index.html".to_owned()],
                handlers: HashMap::new(),
                hide: vec!["~".to_owned(), ".bak".to_owned()],
                listing: false,
                static_options: StaticOptions::default(),
                not_found: None,
            }),
            children: Arc::default(),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// The index files looked for, in order, when the path ends in `/`.
    pub fn index<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut().index = names.into_iter().map(Into::into).collect();
        self
    }

    /// Hands files with this extension (`"cgi"`, no dot) to `handler`.
    pub fn handler(mut self, extension: &str, handler: FileHandler) -> Self {
        let extension = extension.trim_start_matches('.').to_ascii_lowercase();
        self.config_mut().handlers.insert(extension, handler);
        self
    }

    /// Name endings that are never served (default `~` and `.bak`); hidden
    /// names (a leading `.`) never are either.
    pub fn hide<I, S>(mut self, endings: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config_mut().hide = endings.into_iter().map(Into::into).collect();
        self
    }

    /// Lists folders that have no index file.
    pub fn listing(mut self, listing: bool) -> Self {
        self.config_mut().listing = listing;
        self
    }

    /// Options of the static files served; `follow_symlinks` applies to
    /// the whole root.
    pub fn static_options(mut self, options: StaticOptions) -> Self {
        let config = self.config_mut();
        config.root = Arc::new(Root::new(config.root.path(), options.follows_symlinks()));
        config.static_options = options;
        self
    }

    /// The app that answers what is not found.
    pub fn not_found(mut self, app: BoxService) -> Self {
        self.config_mut().not_found = Some(app);
        self
    }

    fn child(&self, name: &str, dir: PathBuf) -> UrlParser {
        let mut children = match self.children.lock() {
            Ok(children) => children,
            Err(poisoned) => poisoned.into_inner(),
        };
        children
            .entry(name.to_owned())
            .or_insert_with(|| UrlParser {
                dir: Arc::new(dir),
                config: self.config.clone(),
                children: Arc::default(),
            })
            .clone()
    }

    fn hidden(&self, name: &str) -> bool {
        self.config
            .hide
            .iter()
            .any(|ending| name.ends_with(ending.as_str()))
    }
}

/// What a segment names in a folder.
enum Found {
    Folder(PathBuf),
    File(PathBuf),
    Nothing,
}

impl UrlParser {
    /// Looks `name` up in this folder. Like the static files' open, this
    /// runs on the runtime thread: an open and `fstat` of a cached folder
    /// entry take microseconds, less than a trip to the blocking pool.
    fn find(&self, name: &str) -> Found {
        let root = &self.config.root;
        let kind = |relative: &Path| {
            let meta = root.open(relative).and_then(|file| file.metadata()).ok()?;
            if meta.is_dir() {
                Some(Found::Folder(relative.to_path_buf()))
            } else if meta.is_file() {
                Some(Found::File(relative.to_path_buf()))
            } else {
                None
            }
        };
        let relative = self.dir.join(name);
        if let Some(found) = kind(&relative) {
            return found;
        }
        if Path::new(name).extension().is_some() {
            return Found::Nothing;
        }
        // `NAME` finds the one `NAME.*` there is.
        let prefix = format!("{name}.");
        let Ok(entries) = std::fs::read_dir(root.path().join(self.dir.as_path())) else {
            return Found::Nothing;
        };
        let mut matches = entries.filter_map(Result::ok).filter_map(|entry| {
            let file = entry.file_name().into_string().ok()?;
            (file.starts_with(&prefix) && !file.starts_with('.') && !self.hidden(&file))
                .then(|| self.dir.join(file))
        });
        match (matches.next(), matches.next()) {
            (Some(path), None) => match kind(&path) {
                Some(Found::File(path)) => Found::File(path),
                _ => Found::Nothing,
            },
            _ => Found::Nothing,
        }
    }

    async fn answer_not_found(self, req: Request<Body>) -> Result<Response<Body>, BoxError> {
        match &self.config.not_found {
            Some(app) => app.clone().oneshot(req).await,
            None => Ok(HttpException::not_found().response_for(&req)),
        }
    }

    /// Hands a file to the app for its extension, else serves it. A file
    /// reached by name is a leaf for the static app: nothing may follow it.
    async fn file(
        self,
        req: Request<Body>,
        path: PathBuf,
        by_name: bool,
    ) -> Result<Response<Body>, BoxError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if let Some(handler) = self.config.handlers.get(&extension) {
            return handler(&self.config.root.path().join(&path))
                .oneshot(req)
                .await;
        }
        if by_name && !path_info(&req).is_empty() {
            return self.answer_not_found(req).await;
        }
        let app = ServeFile::beneath(self.config.root.clone(), path)
            .options(self.config.static_options.clone());
        Ok(app
            .oneshot(req)
            .await
            .unwrap_or_else(|never| match never {}))
    }

    async fn dispatch(self, mut req: Request<Body>) -> Result<Response<Body>, BoxError> {
        let path = path_info(&req);
        if path.is_empty() {
            let query = req
                .uri()
                .query()
                .map(|q| format!("?{q}"))
                .unwrap_or_default();
            let location = format!("{}/{query}", ScriptName::of(&req));
            return Ok(HttpException::moved_permanently(&location).response_for(&req));
        }
        let Some(segment) = segments(path).next() else {
            return self.serve_index(req).await;
        };
        let name = match file_name(segment.raw) {
            Some(name) if !self.hidden(&name) => name,
            _ => return self.answer_not_found(req).await,
        };
        match self.find(&name) {
            Found::Folder(dir) => {
                shift_path_info(&mut req);
                let child = self.child(&name, dir);
                Box::pin(child.dispatch(req)).await
            }
            Found::File(path) => {
                shift_path_info(&mut req);
                self.file(req, path, true).await
            }
            Found::Nothing => self.answer_not_found(req).await,
        }
    }

    async fn serve_index(self, req: Request<Body>) -> Result<Response<Body>, BoxError> {
        for name in &self.config.index {
            if let Found::File(path) = self.find(name) {
                return self.file(req, path, false).await;
            }
        }
        if self.config.listing {
            let dir = self.config.root.path().join(self.dir.as_path());
            let parser = self.clone();
            let script_name = ScriptName::of(&req).to_owned();
            let page = tokio::task::spawn_blocking(move || {
                listing::render(&dir, &script_name, |name| {
                    name.starts_with('.') || parser.hidden(name)
                })
            })
            .await;
            if let Ok(Ok(page)) = page {
                return Ok(page);
            }
        }
        self.answer_not_found(req).await
    }
}

impl Service<Request<Body>> for UrlParser {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        if let Err(bad) = towerkit_core::canonical::canonicalize(&mut req) {
            let response = HttpException::from(bad).response_for(&req);
            return Box::pin(std::future::ready(Ok(response)));
        }
        Box::pin(self.clone().dispatch(req))
    }
}

//! What a factory is handed: its section's options, and the way to the
//! apps it refers to.

use std::ops::{Deref, DerefMut};

use crate::document::{Kind, SectionDef};
use crate::error::ConfigError;
use crate::loader::Loader;
use crate::options::Options;
use crate::registry::{BoxApp, FileHandlerFactory};
use crate::requirements::Need;
use crate::tree::Node;

/// One section being built by its factory.
///
/// Read options through [`Options`] (this derefs to it); read another app by
/// name with [`Section::app`], which builds it (once, however often it is
/// referred to) and records it in the stack's tree.
pub struct Section<'l, 's> {
    pub(crate) options: Options<'s>,
    pub(crate) loader: &'l mut Loader<'s>,
    pub(crate) def: &'s SectionDef<'s>,
    pub(crate) children: Vec<Node>,
    pub(crate) needs: Vec<Need>,
}

impl Section<'_, '_> {
    /// The section's name (`gzip` in `[filter.gzip]`).
    pub fn name(&self) -> &str {
        self.def.name
    }

    /// The section's kind.
    pub fn kind(&self) -> Kind {
        self.def.kind
    }

    /// Reads an option naming another app, composite or pipeline, and builds
    /// it. `None` when the option is absent.
    pub fn app(&mut self, key: &str) -> Result<Option<BoxApp>, ConfigError> {
        let Some(name) = self.options.get::<String>(key)? else {
            return Ok(None);
        };
        let reference = self.options.error(key, "");
        let (app, node) = self.loader.target(&name, Some(reference))?;
        self.children.push(node.labelled(format!("{key:?} =")));
        Ok(Some(app))
    }

    /// Builds the app called `name`, which option `key` names (inside a
    /// table, say), without recording it in the tree: the caller places
    /// the node.
    pub(crate) fn app_named(
        &mut self,
        key: &str,
        name: &str,
    ) -> Result<(BoxApp, Node), ConfigError> {
        let reference = self.options.error(key, "");
        self.loader.target(name, Some(reference))
    }

    /// Reads an option listing other apps by name, and builds them.
    pub fn app_list(&mut self, key: &str) -> Result<Option<Vec<BoxApp>>, ConfigError> {
        let Some(names) = self.options.get::<Vec<String>>(key)? else {
            return Ok(None);
        };
        let reference = self.options.error(key, "");
        let mut apps = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (app, node) = self.loader.target(name, Some(reference.clone()))?;
            self.children.push(node.labelled(format!("{key}[{i}] =")));
            apps.push(app);
        }
        Ok(Some(apps))
    }

    /// The file handler registered as `name`.
    pub fn file_handler(&self, name: &str) -> Option<FileHandlerFactory> {
        self.loader.registry().file_handlers.get(name).cloned()
    }

    /// The names of the registered file handlers.
    pub fn file_handler_names(&self) -> Vec<String> {
        self.loader
            .registry()
            .file_handlers
            .keys()
            .cloned()
            .collect()
    }

    /// The stack's [`Readiness`](towerkit_core::app::Readiness): a factory
    /// whose part can become unusable (a store on another server) adds a
    /// check here, which every `health` app of the stack asks.
    pub fn readiness(&self) -> &towerkit_core::app::Readiness {
        &self.loader.readiness
    }

    /// Declares that what this section builds works only inside a filter
    /// that provides `capability` (see [`Registry::provides`]): one listed
    /// before it in its pipeline, or in a pipeline around the composite
    /// that mounts it. `key` is the option that makes it so (none when the
    /// section always needs it); `why` starts the error, which the loader
    /// ends with the fix:
    ///
    /// ```text
    /// stack.toml:12:11: [filter.auth] key `methods`: "form" without "ticket" keeps the login in a session: put a filter with use = "session" before it in [pipeline.main]
    /// ```
    ///
    /// Needs are checked along the served stack once it is built; a
    /// section that is not served has no outside to check.
    ///
    /// [`Registry::provides`]: crate::Registry::provides
    pub fn needs(&mut self, capability: &str, key: Option<&str>, why: impl Into<String>) {
        let at = match key {
            Some(key) => self.options.error(key, ""),
            None => self.options.section_error(""),
        };
        self.needs.push(Need {
            capability: capability.to_owned(),
            why: why.into(),
            at,
        });
    }

    /// Like [`Section::app`], for an option that must be present.
    pub fn require_app(&mut self, key: &str) -> Result<BoxApp, ConfigError> {
        match self.app(key)? {
            Some(app) => Ok(app),
            None => Err(self.options.error(key, "this option is required")),
        }
    }
}

impl<'s> Deref for Section<'_, 's> {
    type Target = Options<'s>;

    fn deref(&self) -> &Options<'s> {
        &self.options
    }
}

impl DerefMut for Section<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.options
    }
}

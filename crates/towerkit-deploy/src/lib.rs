//! Declarative towerkit stacks from TOML, after Paste Deploy.
//!
//! A stack file names its parts in sections, `[app.NAME]`,
//! `[filter.NAME]`, `[composite.NAME]` and `[pipeline.NAME]`, each (but
//! pipelines) with a `use` key naming the factory that builds it, plus a
//! `[server]` section. A [`Registry`] maps those `use` names to factories;
//! [`Registry::with_builtins`] knows every towerkit layer, and a program
//! registers its own next to them.
//!
//! ```toml
//! [server]
//! listen = ["127.0.0.1:8080"]   # one address or a list
//! serve = "main"                # the default
//!
//! [pipeline.main]               # filters outermost first, then the app
//! pipeline = ["site"]
//!
//! [composite.site]
//! use = "urlmap"
//! "/" = "hello"
//! "/debug" = "environ"
//!
//! [app.hello]
//! use = "text"
//! body = "hello\n"
//!
//! [app.environ]
//! use = "echo"
//! ```
//!
//! Relative paths resolve against the file's folder. Everything that can be
//! wrong is a [`ConfigError`] naming the file, line, section and key: an
//! unknown section kind or `use`, an unknown option, a value of the wrong
//! type, a name referred to but not defined, a reference cycle. Every
//! section is built and so checked, whether it is served or not.
//!
//! The smallest use:
//!
//! ```
//! use towerkit_deploy::Registry;
//!
//! let deployment = Registry::with_builtins()
//!     .load_str("stack.toml".as_ref(), "[app.main]\nuse = \"echo\"\n")
//!     .unwrap();
//! assert_eq!(deployment.tree.to_string(), "app main (use = \"echo\")\n");
//! ```

#![warn(missing_docs)]

mod builtins;
mod document;
mod error;
mod loader;
mod options;
mod registry;
mod requirements;
mod section;
mod server;
mod tree;
pub mod units;

pub use document::Kind;
pub use error::ConfigError;
pub use loader::Deployment;
pub use options::Options;
pub use registry::{boxed_app, BoxApp, FileHandlerFactory, Filter, Registry};
pub use section::Section;
pub use server::{parse_listen, ServerOptions, DEFAULT_LISTEN};
pub use tree::Node;

/// The stack `towerkit serve` uses when given no file: the folder `root`
/// as a document root with listings, behind the error pages and gzip, on
/// `127.0.0.1:8000` (like `python -m http.server`).
pub fn folder_stack(root: &std::path::Path) -> String {
    let root = toml::Value::String(root.display().to_string());
    format!(
        "[server]\nlisten = \"127.0.0.1:8000\"\n\n\
         [pipeline.main]\npipeline = [\"errors\", \"gzip\", \"files\"]\n\n\
         [filter.errors]\nuse = \"http-exceptions\"\n\n\
         [filter.gzip]\nuse = \"gzip\"\n\n\
         [app.files]\nuse = \"urlparser\"\nroot = {root}\nlisting = true\n"
    )
}

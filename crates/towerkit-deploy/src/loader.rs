//! Building the apps, pipelines and filters a stack file names.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use towerkit_accesslog::AccessLogLayer;
use towerkit_core::app::Readiness;

use crate::document::{parse_toml, Document, Kind, SectionDef};
use crate::error::ConfigError;
use crate::options::Options;
use crate::registry::{BoxApp, Filter, Registry};
use crate::section::Section;
use crate::server::ServerOptions;
use crate::tree::Node;

/// An assembled stack, ready to serve.
#[derive(Debug)]
pub struct Deployment {
    /// The `[server]` section.
    pub server: ServerOptions,
    /// The app named by `[server] serve` (default `main`), with all its
    /// filters.
    pub app: BoxApp,
    /// The served stack as a tree, for `towerkit check`.
    pub tree: Node,
    /// Sections that were built (so checked) but are not part of the
    /// served stack, as `kind.name`.
    pub unused: Vec<String>,
    /// The stack file and every file or folder its options name (document
    /// roots, user files, templates, certificates): what a change to means
    /// the stack should be built again (`towerkit serve --reload`).
    pub paths: Vec<std::path::PathBuf>,
}

pub(crate) fn load(
    registry: &Registry,
    file: &Path,
    source: &str,
) -> Result<Deployment, ConfigError> {
    let root = parse_toml(file, source)?;
    let doc = Document::index(file, source, root.get_ref())?;
    let (server, reference) = ServerOptions::parse(&doc)?;
    let mut loader = Loader {
        doc: &doc,
        registry,
        built: HashMap::new(),
        filters_built: HashSet::new(),
        stack: Vec::new(),
        readiness: Readiness::new(),
    };
    if reference.is_none() && !doc.targets.contains_key(server.serve.as_str()) {
        return Err(ConfigError::new(
            file,
            "nothing to serve: define [pipeline.main] (or an app or composite called main), or name another with [server] serve",
        ));
    }
    let (app, tree) = loader.target(&server.serve, reference)?;

    // Every section is checked, served or not; what those not served
    // register for health checks is set aside with them.
    loader.readiness = Readiness::new();
    let mut unused = Vec::new();
    for &(kind, name) in &doc.order {
        let done = match kind {
            Kind::Filter => loader.filters_built.contains(name),
            _ => loader.built.contains_key(name),
        };
        if done {
            continue;
        }
        match kind {
            Kind::Filter => {
                loader.filter(name, None)?;
            }
            _ => {
                loader.target(name, None)?;
            }
        }
        unused.push(format!("{}.{name}", kind.as_str()));
    }
    // What filters need from the ones outside them, along the served stack.
    crate::requirements::check(registry, &tree)?;
    let (app, tree) = match &server.access_log {
        Some(writer) => (
            crate::registry::boxed_app(tower_layer::Layer::layer(
                &AccessLogLayer::new(writer.clone()),
                app,
            )),
            Node::new(
                format!(
                    "access log to {} ([server] access_log)",
                    writer
                        .path()
                        .map_or("stderr".to_owned(), |p| p.display().to_string())
                ),
                vec![tree],
            ),
        ),
        None => (app, tree),
    };
    let mut paths = vec![file.to_owned()];
    paths.extend(doc.paths.borrow_mut().drain(..));
    paths.sort();
    paths.dedup();
    Ok(Deployment {
        server,
        app,
        tree,
        unused,
        paths,
    })
}

/// Builds sections on demand, each app once, refusing reference cycles.
pub(crate) struct Loader<'s> {
    doc: &'s Document<'s>,
    registry: &'s Registry,
    built: HashMap<&'s str, (BoxApp, Node)>,
    filters_built: HashSet<&'s str>,
    stack: Vec<&'s str>,
    /// What a `health` app asks: the stores sections make register here.
    pub(crate) readiness: Readiness,
}

/// Where a name was referred to: an error with the position, section and
/// key filled in, awaiting its message.
type Reference = Option<ConfigError>;

fn at(reference: &Reference, doc: &Document<'_>, message: String) -> ConfigError {
    match reference {
        Some(reference) => reference.clone().with_message(message),
        None => ConfigError::new(&doc.file, message),
    }
}

impl<'s> Loader<'s> {
    pub(crate) fn registry(&self) -> &'s Registry {
        self.registry
    }

    /// Builds (or reuses) the app, composite or pipeline called `name`.
    pub(crate) fn target(
        &mut self,
        name: &str,
        reference: Reference,
    ) -> Result<(BoxApp, Node), ConfigError> {
        if let Some((app, node)) = self.built.get(name) {
            return Ok((app.clone(), node.clone()));
        }
        if let Some(start) = self.stack.iter().position(|n| *n == name) {
            let mut cycle: Vec<&str> = self.stack[start..].to_vec();
            cycle.push(name);
            return Err(at(
                &reference,
                self.doc,
                format!("reference cycle: {}", cycle.join(" -> ")),
            ));
        }
        let Some(def) = self.doc.targets.get(name) else {
            let message = if self.doc.filters.contains_key(name) {
                format!("`{name}` is a filter; only an app, composite or pipeline can stand here")
            } else {
                format!(
                    "`{name}` is referenced but not defined (no [app.{name}], [composite.{name}] or [pipeline.{name}])"
                )
            };
            return Err(at(&reference, self.doc, message));
        };
        self.stack.push(def.name);
        let result = match def.kind {
            Kind::Pipeline => self.pipeline(def),
            _ => self.made_by_factory(def),
        };
        self.stack.pop();
        let (app, node) = result?;
        self.built.insert(def.name, (app.clone(), node.clone()));
        Ok((app, node))
    }

    fn options(&self, def: &'s SectionDef<'s>) -> Options<'s> {
        Options::new(
            self.doc,
            format!("{}.{}", def.kind.as_str(), def.name),
            def.table,
            def.header.clone(),
        )
    }

    fn pipeline(&mut self, def: &'s SectionDef<'s>) -> Result<(BoxApp, Node), ConfigError> {
        let mut options = self.options(def);
        let names: Vec<String> = options.require("pipeline")?;
        options.finish("a pipeline")?;
        let reference = Some(options.error("pipeline", ""));
        let Some((last, filter_names)) = names.split_last() else {
            return Err(options.error(
                "pipeline",
                "the pipeline is empty: list its filters, outermost first, then the app",
            ));
        };
        let mut filters = Vec::new();
        let mut nodes = Vec::new();
        for name in filter_names {
            let (filter, node) = self.filter(name, reference.clone())?;
            filters.push(filter);
            nodes.push(node);
        }
        let (mut app, node) = self.target(last, reference)?;
        nodes.push(node);
        for filter in filters.iter().rev() {
            app = filter.apply(app);
        }
        let mut node = Node::new(format!("pipeline {}", def.name), nodes);
        node.section = Some(format!("pipeline.{}", def.name));
        node.pipeline = Some(def.name.to_owned());
        Ok((app, node))
    }

    fn made_by_factory(&mut self, def: &'s SectionDef<'s>) -> Result<(BoxApp, Node), ConfigError> {
        let mut options = self.options(def);
        let factory_name: String = options.require("use")?;
        let factories = match def.kind {
            Kind::Composite => &self.registry.composites,
            _ => &self.registry.apps,
        };
        let Some(factory) = factories.get(&factory_name).cloned() else {
            return Err(options.error("use", self.unknown_factory(def.kind, &factory_name)));
        };
        let mut section = Section {
            options,
            loader: self,
            def,
            children: Vec::new(),
            needs: Vec::new(),
        };
        let app = factory(&mut section)?;
        let description = format!("{} {factory_name:?}", def.kind.as_str());
        section.options.finish(&description)?;
        let label = format!(
            "{} {} (use = {factory_name:?})",
            def.kind.as_str(),
            def.name
        );
        let mut node = Node::new(label, section.children);
        node.section = Some(section.options.label().to_owned());
        node.needs = section.needs;
        Ok((app, node))
    }

    /// Builds the filter called `name`.
    pub(crate) fn filter(
        &mut self,
        name: &str,
        reference: Reference,
    ) -> Result<(Filter, Node), ConfigError> {
        let Some(def) = self.doc.filters.get(name) else {
            let message = if self.doc.targets.contains_key(name) {
                format!("`{name}` is not a filter; only the last name of a pipeline is an app")
            } else {
                format!("`{name}` is referenced but not defined (no [filter.{name}])")
            };
            return Err(at(&reference, self.doc, message));
        };
        let mut options = self.options(def);
        let factory_name: String = options.require("use")?;
        let Some(factory) = self.registry.filters.get(&factory_name).cloned() else {
            return Err(options.error("use", self.unknown_factory(Kind::Filter, &factory_name)));
        };
        let mut section = Section {
            options,
            loader: self,
            def,
            children: Vec::new(),
            needs: Vec::new(),
        };
        let filter = factory(&mut section)?;
        section
            .options
            .finish(&format!("filter {factory_name:?}"))?;
        let mut node = Node::new(
            format!("filter {} (use = {factory_name:?})", def.name),
            section.children,
        );
        node.section = Some(section.options.label().to_owned());
        node.needs = section.needs;
        node.provides = self
            .registry
            .provides
            .get(&factory_name)
            .cloned()
            .unwrap_or_default();
        self.filters_built.insert(def.name);
        Ok((filter, node))
    }

    fn unknown_factory(&self, kind: Kind, name: &str) -> String {
        let known = self.registry.names(kind).join(", ");
        let mut message = format!(
            "unknown {} factory `{name}` (known: {known})",
            kind.as_str()
        );
        for other in [Kind::App, Kind::Composite, Kind::Filter] {
            if other != kind && self.registry.names(other).contains(&name) {
                message.push_str(&format!(
                    "; `{name}` is a {} factory: use it in a [{}.NAME] section",
                    other.as_str(),
                    other.as_str()
                ));
            }
        }
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{HeaderName, HeaderValue};
    use towerkit_core::TestClient;

    fn registry() -> Registry {
        let mut registry = Registry::with_builtins();
        registry.filter("tag", |section| {
            let value: String = section.require("value")?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| section.error("value", "not a header value"))?;
            Ok(Filter::new(move |app| {
                let value = value.clone();
                crate::boxed_app(tower::ServiceExt::map_response(
                    app,
                    move |mut res: http::Response<towerkit_core::Body>| {
                        res.headers_mut()
                            .append(HeaderName::from_static("x-tag"), value.clone());
                        res
                    },
                ))
            }))
        });
        registry
    }

    fn load(source: &str) -> Result<Deployment, ConfigError> {
        registry().load_str(Path::new("conf/stack.toml"), source)
    }

    fn error(source: &str) -> String {
        load(source).unwrap_err().to_string()
    }

    #[tokio::test]
    async fn pipeline_applies_filters_outermost_first() {
        let d = load(
            r#"
[pipeline.main]
pipeline = ["outer", "inner", "site"]

[filter.outer]
use = "tag"
value = "outer"

[filter.inner]
use = "tag"
value = "inner"

[composite.site]
use = "urlmap"
"/" = "hello"
"/env/" = "env"

[app.hello]
use = "text"
body = "hi"
status = 201

[app.env]
use = "echo"
"#,
        )
        .unwrap();
        let mut client = TestClient::new(d.app.clone());
        let res = client.get("/").send().await.unwrap();
        assert_eq!(res.status(), 201);
        let tags: Vec<_> = res.headers().get_all("x-tag").iter().collect();
        // The inner filter sees the response first.
        assert_eq!(tags, ["inner", "outer"]);
        let env = client.get("/env/x").send().await.unwrap().json();
        assert_eq!(env["script_name"], "/env");
        assert_eq!(
            d.tree.to_string(),
            "pipeline main\n  filter outer (use = \"tag\")\n  filter inner (use = \"tag\")\n  \
             composite site (use = \"urlmap\")\n    \"/\" = app hello (use = \"text\")\n    \
             \"/env/\" = app env (use = \"echo\")\n"
        );
        assert!(d.unused.is_empty());
    }

    #[test]
    fn server_section() {
        let d = load("[server]\nlisten = [\"127.0.0.1:0\", \"[::1]:0\"]\nserve = \"x\"\nshutdown_grace = \"5s\"\n[app.x]\nuse = \"echo\"\n").unwrap();
        assert_eq!(d.server.listen.len(), 2);
        assert_eq!(d.server.shutdown_grace, std::time::Duration::from_secs(5));
        let e = error("[server]\nlisten = \"nowhere\"\n[app.main]\nuse = \"echo\"\n");
        assert!(
            e.starts_with(
                "conf/stack.toml:2:10: [server] key `listen`: `nowhere` is not an address"
            ),
            "{e}"
        );
        let d = load("[server]\nheader_timeout = \"500ms\"\nmax_request_body = \"1MiB\"\nmax_header_size = 16384\nmax_connections = 5\n[app.main]\nuse = \"echo\"\n").unwrap();
        let limits = &d.server.limits;
        assert_eq!(limits.header_timeout, std::time::Duration::from_millis(500));
        assert_eq!(limits.max_request_body, Some(1 << 20));
        assert_eq!(limits.max_header_size, 16384);
        assert_eq!(limits.max_connections, 5);
        let e = error("[server]\nmax_request_body = \"lots\"\n[app.main]\nuse = \"echo\"\n");
        assert!(
            e.starts_with(
                "conf/stack.toml:2:20: [server] key `max_request_body`: wrong value type"
            ),
            "{e}"
        );
        let e = error("[server]\ntls = { cert = \"none.pem\", key = \"k.pem\" }\n[app.main]\nuse = \"echo\"\n");
        assert!(
            e.starts_with("conf/stack.toml:2:7: [server] key `tls`: conf/none.pem: "),
            "{e}"
        );
        let e = error("[server]\ntls = { cert = \"c.pem\", key = \"k.pem\", port = 1 }\n[app.main]\nuse = \"echo\"\n");
        assert!(
            e.contains("[server] key `tls`: wrong value type (table): unknown field `port`"),
            "{e}"
        );
        let e = error("[server]\nport = 80\n[app.main]\nuse = \"echo\"\n");
        assert!(
            e.contains("conf/stack.toml:2:1: [server] key `port`: unknown option"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_file_line_section_and_key() {
        let e = error("[apps.x]\nuse = \"echo\"\n");
        assert!(e.starts_with("conf/stack.toml:1:2:"), "{e}");
        assert!(e.contains("unknown section kind `apps`"), "{e}");

        let e = error(
            "[app.main]
use = \"nope\"
",
        );
        assert!(
            e.starts_with("conf/stack.toml:2:7: [app.main] key `use`: unknown app factory `nope` (known: cgi, echo,"),
            "{e}"
        );

        let e = error("[app.main]\nuse = \"urlmap\"\n");
        assert!(e.contains("`urlmap` is a composite factory"), "{e}");

        let e = error("[app.main]\nuse = \"text\"\nbdy = \"x\"\n");
        assert_eq!(
            e,
            "conf/stack.toml:3:1: [app.main] key `bdy`: unknown option (options of app \"text\": body, status, content_type, headers)"
        );

        let e = error("[app.main]\nuse = \"text\"\nstatus = \"ok\"\n");
        assert!(
            e.starts_with(
                "conf/stack.toml:3:10: [app.main] key `status`: wrong value type (string)"
            ),
            "{e}"
        );

        let e = error("[app.main]\nuse = \"text\"\nstatus = 1000\n");
        assert!(e.contains("key `status`: not an HTTP status"), "{e}");

        let e = error("[composite.main]\nuse = \"urlmap\"\n\"/\" = \"ghost\"\n");
        assert_eq!(
            e,
            "conf/stack.toml:3:7: [composite.main] key `/`: `ghost` is referenced but not defined (no [app.ghost], [composite.ghost] or [pipeline.ghost])"
        );

        let e = error("[pipeline.main]\npipeline = [\"a\"]\n[composite.a]\nuse = \"urlmap\"\n\"/\" = \"main\"\n");
        assert!(
            e.contains("[composite.a] key `/`: reference cycle: main -> a -> main"),
            "{e}"
        );

        let e = error("[pipeline.main]\npipeline = [\"main\"]\n");
        assert!(e.contains("reference cycle: main -> main"), "{e}");

        let e = error("[pipeline.main]\npipeline = [\"x\"]\nextra = 1\n[app.x]\nuse = \"echo\"\n");
        assert!(
            e.contains(
                "[pipeline.main] key `extra`: unknown option (options of a pipeline: pipeline)"
            ),
            "{e}"
        );

        let e = error("[pipeline.main]\npipeline = []\n");
        assert!(e.contains("the pipeline is empty"), "{e}");

        let e = error(
            "[pipeline.main]\npipeline = [\"f\"]\n[filter.f]\nuse = \"tag\"\nvalue = \"v\"\n",
        );
        assert!(e.contains("`f` is a filter"), "{e}");

        let e = error("[pipeline.main]\npipeline = [\"x\", \"x\"]\n[app.x]\nuse = \"echo\"\n");
        assert!(e.contains("`x` is not a filter"), "{e}");

        let e = error("[app.x]\nuse = \"echo\"\n[composite.x]\nuse = \"urlmap\"\n");
        assert!(
            e.contains("the name `x` is defined twice: as [app.x] (line 1) and [composite.x]"),
            "{e}"
        );

        let e = error("[app.other]\nuse = \"echo\"\n");
        assert!(e.contains("nothing to serve"), "{e}");

        let e = error("[app.main]\nuse = \"echo\"\n[app.broken]\nuse = \"text\"\nstatus = []\n");
        assert!(
            e.contains("[app.broken] key `status`"),
            "unused sections are checked too: {e}"
        );

        let e = error(
            "[composite.main]\nuse = \"urlmap\"\n\"/a/../b\" = \"x\"\n[app.x]\nuse = \"echo\"\n",
        );
        assert!(e.contains("key `/a/../b`: invalid mount"), "{e}");

        let e = error("[app.main\nuse = 1\n");
        assert!(e.starts_with("conf/stack.toml:1:"), "{e}");
        assert!(e.contains("not valid TOML"), "{e}");
    }

    #[test]
    fn a_missing_file_is_a_config_error() {
        let e = registry()
            .load("/nonexistent/stack.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/stack.toml: cannot read the file"),
            "{e}"
        );
    }
}

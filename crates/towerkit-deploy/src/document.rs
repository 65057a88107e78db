//! The stack file, parsed into sections that remember where they stand.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use crate::error::ConfigError;

/// The kinds of section, after Paste Deploy's `[app:x]`, `[filter:x]`…
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `[app.NAME]`: an application made by an app factory.
    App,
    /// `[filter.NAME]`: a layer made by a filter factory.
    Filter,
    /// `[composite.NAME]`: an application made of other applications.
    Composite,
    /// `[pipeline.NAME]`: filters around an application.
    Pipeline,
}

impl Kind {
    /// The word used in section headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::App => "app",
            Kind::Filter => "filter",
            Kind::Composite => "composite",
            Kind::Pipeline => "pipeline",
        }
    }

    fn parse(word: &str) -> Option<Kind> {
        Some(match word {
            "app" => Kind::App,
            "filter" => Kind::Filter,
            "composite" => Kind::Composite,
            "pipeline" => Kind::Pipeline,
            _ => return None,
        })
    }
}

/// One `[kind.name]` section.
pub(crate) struct SectionDef<'s> {
    pub(crate) kind: Kind,
    pub(crate) name: &'s str,
    pub(crate) header: Range<usize>,
    pub(crate) table: &'s DeTable<'s>,
}

/// A parsed stack file.
pub(crate) struct Document<'s> {
    pub(crate) file: PathBuf,
    pub(crate) dir: PathBuf,
    source: &'s str,
    pub(crate) server: Option<(&'s DeTable<'s>, Range<usize>)>,
    /// `[metrics]`.
    pub(crate) metrics: Option<(&'s DeTable<'s>, Range<usize>)>,
    /// Apps, composites and pipelines share one namespace; filters have
    /// their own.
    pub(crate) targets: HashMap<&'s str, SectionDef<'s>>,
    pub(crate) filters: HashMap<&'s str, SectionDef<'s>>,
    /// Every section in file order.
    pub(crate) order: Vec<(Kind, &'s str)>,
    /// Every path an option named, resolved: what `serve --reload` watches.
    pub(crate) paths: std::cell::RefCell<Vec<PathBuf>>,
}

/// Parses the TOML of a stack file. The returned table borrows `source`.
pub(crate) fn parse_toml<'s>(
    file: &Path,
    source: &'s str,
) -> Result<Spanned<DeTable<'s>>, ConfigError> {
    DeTable::parse(source).map_err(|err| {
        let position = err.span().map(|span| line_column(source, span.start));
        ConfigError::new(file, format!("not valid TOML: {}", err.message().trim())).at(position)
    })
}

impl<'s> Document<'s> {
    pub(crate) fn index(
        file: &Path,
        source: &'s str,
        root: &'s DeTable<'s>,
    ) -> Result<Document<'s>, ConfigError> {
        let dir = file
            .parent()
            .map(Path::to_path_buf)
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let mut doc = Document {
            file: file.to_owned(),
            dir,
            source,
            server: None,
            metrics: None,
            targets: HashMap::new(),
            filters: HashMap::new(),
            order: Vec::new(),
            paths: std::cell::RefCell::new(Vec::new()),
        };
        for (key, value) in root.iter() {
            let word: &'s str = key.get_ref();
            let span = key.span();
            let Some(table) = value.get_ref().as_table() else {
                return Err(doc.error(
                    span,
                    format!("`{word}` must be a section ([{word}]), not a value"),
                ));
            };
            if word == "server" {
                doc.server = Some((table, span));
                continue;
            }
            if word == "metrics" {
                doc.metrics = Some((table, span));
                continue;
            }
            let Some(kind) = Kind::parse(word) else {
                return Err(doc.error(
                    span,
                    format!(
                        "unknown section kind `{word}`; expected server, metrics, pipeline, filter, app or composite"
                    ),
                ));
            };
            for (name, section) in table.iter() {
                let name: &'s str = name.get_ref();
                let header = section.span();
                let DeValue::Table(table) = section.get_ref() else {
                    return Err(doc.error(
                        header,
                        format!("`{word}.{name}` must be a section ([{word}.{name}]), not a value"),
                    ));
                };
                let def = SectionDef {
                    kind,
                    name,
                    header: header.clone(),
                    table,
                };
                let namespace = match kind {
                    Kind::Filter => &mut doc.filters,
                    _ => &mut doc.targets,
                };
                if let Some(previous) = namespace.insert(name, def) {
                    let position = line_column(source, previous.header.start);
                    return Err(doc
                        .error(
                            header,
                            format!(
                                "the name `{name}` is defined twice: as [{}.{name}] (line {}) and [{word}.{name}]",
                                previous.kind.as_str(),
                                position.0
                            ),
                        )
                        .in_section(format!("{word}.{name}")));
                }
                doc.order.push((kind, name));
            }
        }
        Ok(doc)
    }

    /// An error at a byte span of the file.
    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        ConfigError::new(&self.file, message).at(Some(line_column(self.source, span.start)))
    }

    /// Resolves a path from the config relative to the file's folder, and
    /// records it among the paths the stack is built from.
    pub(crate) fn resolve(&self, path: &str) -> PathBuf {
        let path = self.resolve_unwatched(path);
        self.paths.borrow_mut().push(path.clone());
        path
    }

    /// Resolves a path the stack writes to.
    pub(crate) fn resolve_unwatched(&self, path: &str) -> PathBuf {
        let path = Path::new(path);
        if path.is_absolute() {
            path.to_owned()
        } else {
            self.dir.join(path)
        }
    }
}

/// The 1-based line and column of a byte offset.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let src = "a = 1\n[x]\nkey = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 12), (3, 3));
    }
}

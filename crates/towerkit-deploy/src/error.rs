//! Config errors that point at the file, line, section and key.

use std::fmt;
use std::path::{Path, PathBuf};

/// What is wrong with a stack file, and where.
///
/// Displayed as `FILE:LINE:COLUMN: [SECTION] key `KEY`: MESSAGE`, the parts
/// that are known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: PathBuf,
    position: Option<(usize, usize)>,
    section: Option<String>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// An error in `file`, with no position yet.
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            position: None,
            section: None,
            key: None,
            message: message.into(),
        }
    }

    pub(crate) fn with_message(mut self, message: String) -> Self {
        self.message = message;
        self
    }

    pub(crate) fn at(mut self, position: Option<(usize, usize)>) -> Self {
        self.position = position;
        self
    }

    pub(crate) fn in_section(mut self, section: impl Into<String>) -> Self {
        self.section = Some(section.into());
        self
    }

    pub(crate) fn for_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The config file.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.position.map(|(line, _)| line)
    }

    /// The section, as `kind.name` (`filter.gzip`), when known.
    pub fn section(&self) -> Option<&str> {
        self.section.as_deref()
    }

    /// The key, when the error is about one.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some((line, column)) = self.position {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str(":")?;
        if let Some(section) = &self.section {
            write!(f, " [{section}]")?;
        }
        if let Some(key) = &self.key {
            write!(f, " key `{key}`:")?;
        } else if self.section.is_some() {
            f.write_str(":")?;
        }
        write!(f, " {}", self.message)
    }
}

impl std::error::Error for ConfigError {}

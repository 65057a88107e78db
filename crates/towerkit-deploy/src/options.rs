//! Reading a section's options, with errors that point at the key.

use std::collections::HashSet;
use std::ops::Range;
use std::path::PathBuf;

use serde::de::DeserializeOwned;
use toml::de::{DeString, DeTable, DeValue, ValueDeserializer};
use toml::Spanned;

use crate::document::Document;
use crate::error::ConfigError;

/// The options of one section, read by a factory.
///
/// Every key a factory reads counts as known; once the factory is done, a
/// key it never read is an error (`unknown option`), listing the known ones.
/// Values are read with serde, so any `Deserialize` type works:
///
/// ```
/// # fn factory(section: &mut towerkit_deploy::Section<'_, '_>) -> Result<(), towerkit_deploy::ConfigError> {
/// let level: u32 = section.get("level")?.unwrap_or(6);
/// let types: Vec<String> = section.get("types")?.unwrap_or_default();
/// let root = section.require_path("root")?; // relative to the config file
/// # let _ = (level, types, root); Ok(()) }
/// ```
pub struct Options<'s> {
    pub(crate) doc: &'s Document<'s>,
    label: String,
    table: &'s DeTable<'s>,
    header: Range<usize>,
    asked: Vec<String>,
    used: HashSet<String>,
}

type Entry<'s> = (&'s Spanned<DeString<'s>>, &'s Spanned<DeValue<'s>>);

impl<'s> Options<'s> {
    pub(crate) fn new(
        doc: &'s Document<'s>,
        label: String,
        table: &'s DeTable<'s>,
        header: Range<usize>,
    ) -> Self {
        Options {
            doc,
            label,
            table,
            header,
            asked: Vec::new(),
            used: HashSet::new(),
        }
    }

    /// The section, as `kind.name`.
    pub fn label(&self) -> &str {
        &self.label
    }

    fn entry(&self, key: &str) -> Option<Entry<'s>> {
        self.table.iter().find(|(k, _)| k.get_ref() == key)
    }

    fn ask(&mut self, key: &str) -> Option<Entry<'s>> {
        if !self.asked.iter().any(|k| k == key) {
            self.asked.push(key.to_owned());
        }
        let entry = self.entry(key)?;
        self.used.insert(key.to_owned());
        Some(entry)
    }

    /// Reads an option, or `None` when it is absent. A value of the wrong
    /// type is an error naming the key.
    pub fn get<T: DeserializeOwned>(&mut self, key: &str) -> Result<Option<T>, ConfigError> {
        let Some((_, value)) = self.ask(key) else {
            return Ok(None);
        };
        T::deserialize(ValueDeserializer::from(value.clone()))
            .map(Some)
            .map_err(|err| {
                self.error_at(
                    value.span(),
                    key,
                    format!(
                        "wrong value type ({}): {}",
                        value.get_ref().type_str(),
                        err.message().trim()
                    ),
                )
            })
    }

    /// Reads an option that must be present.
    pub fn require<T: DeserializeOwned>(&mut self, key: &str) -> Result<T, ConfigError> {
        match self.get(key)? {
            Some(value) => Ok(value),
            None => Err(self.error(key, "this option is required")),
        }
    }

    /// Reads a path option, resolved against the config file's folder.
    pub fn path(&mut self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self.get::<String>(key)?.map(|path| self.doc.resolve(&path)))
    }

    /// Reads a path the stack writes to (a log, a folder of sessions),
    /// resolved like [`path`](Options::path) but not among the paths whose
    /// changes reload the stack (`towerkit serve --reload`).
    pub fn output_path(&mut self, key: &str) -> Result<Option<PathBuf>, ConfigError> {
        Ok(self
            .get::<String>(key)?
            .map(|path| self.doc.resolve_unwatched(&path)))
    }

    /// Reads a path option that must be present.
    pub fn require_path(&mut self, key: &str) -> Result<PathBuf, ConfigError> {
        match self.path(key)? {
            Some(path) => Ok(path),
            None => Err(self.error(key, "this option is required")),
        }
    }

    /// The keys no one has read yet, in file order: for factories whose
    /// keys are data (a URL map's mount paths).
    pub fn remaining_keys(&self) -> Vec<String> {
        self.table
            .iter()
            .map(|(k, _)| k.get_ref().to_string())
            .filter(|k| !self.used.contains(k))
            .collect()
    }

    /// An error about `key`, pointing at its value (or at the section when
    /// the key is absent).
    pub fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let span = self
            .entry(key)
            .map_or(self.header.clone(), |(_, value)| value.span());
        self.error_at(span, key, message)
    }

    /// An error about the section as a whole.
    pub fn section_error(&self, message: impl Into<String>) -> ConfigError {
        self.doc
            .error(self.header.clone(), message)
            .in_section(self.label.clone())
    }

    pub(crate) fn error_at(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ConfigError {
        self.doc
            .error(span, message)
            .in_section(self.label.clone())
            .for_key(key)
    }

    /// Fails on the first key no one read.
    pub(crate) fn finish(&self, factory: &str) -> Result<(), ConfigError> {
        let Some((key, _)) = self
            .table
            .iter()
            .find(|(k, _)| !self.used.contains(k.get_ref().as_ref()))
        else {
            return Ok(());
        };
        let known: Vec<&str> = self
            .asked
            .iter()
            .map(String::as_str)
            .filter(|k| *k != "use")
            .collect();
        let known = if known.is_empty() {
            format!("{factory} takes no options")
        } else {
            format!("options of {factory}: {}", known.join(", "))
        };
        Err(self.error_at(
            key.span(),
            key.get_ref(),
            format!("unknown option ({known})"),
        ))
    }
}

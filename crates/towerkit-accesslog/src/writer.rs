//! Where the lines go.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The destination of an access log: stderr, or a file opened for
/// appending. Clones share the destination; each line is written whole
/// with one write, so lines from concurrent requests never interleave.
#[derive(Clone, Debug)]
pub struct LogWriter {
    target: Arc<Target>,
}

#[derive(Debug)]
enum Target {
    Stderr,
    File { path: PathBuf, file: Mutex<File> },
}

impl LogWriter {
    /// Writes to the process's stderr.
    pub fn stderr() -> LogWriter {
        LogWriter {
            target: Arc::new(Target::Stderr),
        }
    }

    /// Appends to the file at `path`, creating it. The error names the path.
    pub fn file(path: impl Into<PathBuf>) -> io::Result<LogWriter> {
        let path = path.into();
        let file = open(&path)?;
        Ok(LogWriter {
            target: Arc::new(Target::File {
                path,
                file: Mutex::new(file),
            }),
        })
    }

    /// The file written to, if not stderr.
    pub fn path(&self) -> Option<&Path> {
        match &*self.target {
            Target::Stderr => None,
            Target::File { path, .. } => Some(path),
        }
    }

    /// Opens the file at the same path again, for log rotation: after the
    /// old file was renamed, lines go to a new one. If the path cannot be
    /// opened, lines keep going to the old file and the error is returned.
    pub fn reopen(&self) -> io::Result<()> {
        if let Target::File { path, file } = &*self.target {
            let reopened = open(path)?;
            *file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = reopened;
        }
        Ok(())
    }

    /// Writes one line (without its newline).
    pub(crate) fn write_line(&self, mut line: String) {
        line.push('\n');
        let result = match &*self.target {
            Target::Stderr => io::stderr().lock().write_all(line.as_bytes()),
            Target::File { file, .. } => file
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .write_all(line.as_bytes()),
        };
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot write to the access log");
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reopen_follows_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = LogWriter::file(&path).unwrap();
        log.write_line("one".into());
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        log.write_line("two".into());
        log.reopen().unwrap();
        log.write_line("three".into());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("access.log.1")).unwrap(),
            "one\ntwo\n"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "three\n");
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let err = LogWriter::file("/nonexistent/dir/access.log").unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/dir/access.log: "));
    }
}

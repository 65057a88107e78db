//! `serve --reload`: noticing that the files a stack is built from changed.
//!
//! Files are watched through their folder (an editor that saves by writing
//! a new file and renaming it over the old one would otherwise end the
//! watch), folders recursively. Changes arriving together (a save touches a
//! file several times; a checkout touches many) make one reload.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// How long to wait for more changes before reloading.
const SETTLE: Duration = Duration::from_millis(200);

pub(super) struct Watcher {
    inner: notify::RecommendedWatcher,
    changes: mpsc::UnboundedReceiver<PathBuf>,
    /// The files asked for, and the folders watched for them.
    files: HashSet<PathBuf>,
    parents: Vec<PathBuf>,
    /// The folders asked for, watched recursively.
    folders: Vec<PathBuf>,
}

impl Watcher {
    pub(super) fn new(paths: &[PathBuf]) -> notify::Result<Watcher> {
        let (tx, changes) = mpsc::unbounded_channel();
        let inner = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_)
            ) {
                for path in event.paths {
                    let _ = tx.send(path);
                }
            }
        })?;
        let mut watcher = Watcher {
            inner,
            changes,
            files: HashSet::new(),
            parents: Vec::new(),
            folders: Vec::new(),
        };
        watcher.set_paths(paths);
        Ok(watcher)
    }

    /// Watches `paths` instead of what was watched.
    pub(super) fn set_paths(&mut self, paths: &[PathBuf]) {
        for dir in self.parents.drain(..).chain(self.folders.drain(..)) {
            let _ = self.inner.unwatch(&dir);
        }
        self.files.clear();
        for path in paths {
            let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            if path.is_dir() {
                match self.inner.watch(&path, RecursiveMode::Recursive) {
                    Ok(()) => self.folders.push(path),
                    Err(err) => {
                        tracing::warn!(path = %path.display(), error = %err, "cannot watch")
                    }
                }
            } else if let Some(parent) = path.parent() {
                if !self.parents.iter().any(|p| p == parent) {
                    match self.inner.watch(parent, RecursiveMode::NonRecursive) {
                        Ok(()) => self.parents.push(parent.to_owned()),
                        Err(err) => {
                            tracing::warn!(path = %parent.display(), error = %err, "cannot watch")
                        }
                    }
                }
                self.files.insert(path);
            }
        }
    }

    fn concerns(&self, path: &Path) -> bool {
        self.files.contains(path) || self.folders.iter().any(|dir| path.starts_with(dir))
    }

    /// Waits for a change to a watched path, then for the changes that come
    /// with it to settle; returns the first path that changed.
    pub(super) async fn changed(&mut self) -> Option<PathBuf> {
        loop {
            let path = self.changes.recv().await?;
            if !self.concerns(&path) {
                continue;
            }
            while let Ok(Some(_)) = tokio::time::timeout(SETTLE, self.changes.recv()).await {}
            return Some(path);
        }
    }
}

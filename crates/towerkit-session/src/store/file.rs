//! Sessions in files, one per session.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{SessionStore, StoreError, StoreFuture};
use crate::id::{is_valid_id, new_id};
use crate::record::{now, Record};

/// How often expired files are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(300);

/// Sessions in a folder, one file per session: they survive a restart.
///
/// Each file is written to a temporary name and renamed into place, so a
/// reader never sees half a session; files are created with mode 0600.
/// Expired files are removed when read, and swept every five minutes.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    last_sweep: Mutex<Instant>,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    expires: u64,
    record: Record,
}

impl FileStore {
    /// A store in the folder `dir`, made if missing.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileStore {
            dir,
            last_sweep: Mutex::new(Instant::now()),
        })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.session"))
    }

    fn sweep_due(&self) -> bool {
        let Ok(mut last) = self.last_sweep.lock() else {
            return false;
        };
        if last.elapsed() >= SWEEP_EVERY {
            *last = Instant::now();
            true
        } else {
            false
        }
    }
}

fn read(path: &Path) -> Result<Option<Record>, StoreError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(StoreError::Failed(err.to_string())),
    };
    let Ok(stored) = serde_json::from_slice::<Stored>(&bytes) else {
        tracing::debug!(path = %path.display(), "an unreadable session file");
        return Ok(None);
    };
    if stored.expires <= now() {
        let _ = std::fs::remove_file(path);
        return Ok(None);
    }
    Ok(Some(stored.record))
}

fn write(dir: &Path, path: &Path, stored: &Stored) -> Result<(), StoreError> {
    let failed = |err: std::io::Error| StoreError::Failed(err.to_string());
    let bytes = serde_json::to_vec(stored).map_err(|err| StoreError::Failed(err.to_string()))?;
    let temp = dir.join(format!(
        ".tmp-{}",
        new_id().map_err(|e| StoreError::Failed(e.to_string()))?
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp).map_err(failed)?;
    let written = file.write_all(&bytes).and_then(|()| file.sync_data());
    drop(file);
    if let Err(err) = written.and_then(|()| std::fs::rename(&temp, path)) {
        let _ = std::fs::remove_file(&temp);
        return Err(failed(err));
    }
    Ok(())
}

fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "session") {
            let _ = read(&path);
        }
    }
}

impl SessionStore for FileStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            if !is_valid_id(key) {
                return Ok(None);
            }
            let path = self.path(key);
            tokio::task::spawn_blocking(move || read(&path))
                .await
                .map_err(|err| StoreError::Failed(err.to_string()))?
        })
    }

    fn store<'a>(
        &'a self,
        key: Option<&'a str>,
        record: &'a Record,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let id = match key.filter(|k| is_valid_id(k)) {
                Some(key) => key.to_owned(),
                None => new_id().map_err(|err| StoreError::Failed(err.to_string()))?,
            };
            let stored = Stored {
                expires: now() + ttl.as_secs(),
                record: record.clone(),
            };
            let dir = self.dir.clone();
            let path = self.path(&id);
            let sweep_now = self.sweep_due();
            tokio::task::spawn_blocking(move || {
                let result = write(&dir, &path, &stored);
                if sweep_now {
                    sweep(&dir);
                }
                result
            })
            .await
            .map_err(|err| StoreError::Failed(err.to_string()))??;
            Ok(id)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if is_valid_id(key) {
                let path = self.path(key);
                let _ = tokio::task::spawn_blocking(move || std::fs::remove_file(path)).await;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn atomic_private_files_that_survive_a_new_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path()).unwrap();
        let mut record = Record::default();
        record.data.insert("user".into(), "ada".into());
        let id = store
            .store(None, &record, Duration::from_secs(60))
            .await
            .unwrap();
        let path = dir.path().join(format!("{id}.session"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let again = FileStore::new(dir.path()).unwrap();
        assert_eq!(again.load(&id).await.unwrap(), Some(record));
        assert_eq!(again.load("../../etc/passwd").await.unwrap(), None);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
        // Expired: gone when read.
        let short = store
            .store(None, &Record::default(), Duration::from_secs(0))
            .await
            .unwrap();
        assert_eq!(store.load(&short).await.unwrap(), None);
        assert!(!dir.path().join(format!("{short}.session")).exists());
    }
}

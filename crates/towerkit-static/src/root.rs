//! A folder that files are opened beneath, never above.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The folder a static app serves from, and the one way to open files in
/// it.
///
/// On Linux a file is opened with `openat2(RESOLVE_BENEATH)` relative to the
/// folder: in one system call, the kernel opens it if no `..` or symlink
/// leads out of the folder. When it refuses (a symlink it will not follow
/// beneath the folder, such as an absolute one), or elsewhere, the real path
/// is resolved and must lie inside the folder. With `follow_symlinks`,
/// symlinks may lead anywhere.
#[derive(Clone, Debug)]
pub struct Root {
    path: PathBuf,
    canonical: PathBuf,
    follow_symlinks: bool,
    #[cfg(target_os = "linux")]
    dir: Option<Arc<File>>,
}

impl Root {
    /// The folder at `path`.
    pub fn new(path: impl Into<PathBuf>, follow_symlinks: bool) -> Self {
        let path = path.into();
        let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        Root {
            #[cfg(target_os = "linux")]
            dir: open_dir(&path).ok().map(Arc::new),
            path,
            canonical,
            follow_symlinks,
        }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens `relative` (a path of checked names) for reading. A path that
    /// leads out of the folder is not found.
    pub fn open(&self, relative: &Path) -> io::Result<File> {
        if self.follow_symlinks {
            return File::open(self.path.join(relative));
        }
        #[cfg(target_os = "linux")]
        if let Some(dir) = &self.dir {
            match openat2_beneath(dir, relative) {
                // Not allowed here (an old kernel, a seccomp filter), or a
                // symlink the kernel will not follow beneath the folder (an
                // absolute one, which may still land inside): decide the
                // slow way below.
                Err(err)
                    if matches!(
                        err.raw_os_error(),
                        Some(libc::ENOSYS | libc::EPERM | libc::EXDEV | libc::ELOOP)
                    ) => {}
                result => return result,
            }
        }
        let full = self.path.join(relative);
        let real = std::fs::canonicalize(&full)?;
        if !real.starts_with(&self.canonical) {
            return Err(io::ErrorKind::NotFound.into());
        }
        File::open(real)
    }
}

#[cfg(target_os = "linux")]
fn open_dir(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(target_os = "linux")]
fn openat2_beneath(dir: &File, relative: &Path) -> io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;

    let relative = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    let name = CString::new(relative.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    // SAFETY: `open_how` is plain data; all zeroes is its empty value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `name` is a valid C string and `how` a valid `open_how` of the
    // size passed; on success the kernel returns a new descriptor we own.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            name.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a descriptor the kernel just opened for us.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_leads_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/in.txt"), "in").unwrap();
        std::fs::write(dir.path().join("out.txt"), "out").unwrap();
        std::os::unix::fs::symlink(dir.path().join("out.txt"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(root.join("sub/in.txt"), root.join("inside")).unwrap();
        std::os::unix::fs::symlink("/", root.join("slash")).unwrap();
        let confined = Root::new(&root, false);
        assert!(confined.open(Path::new("sub/in.txt")).is_ok());
        assert!(confined.open(Path::new("inside")).is_ok());
        for bad in [
            "escape",
            "../out.txt",
            "sub/../../out.txt",
            "slash/etc/passwd",
        ] {
            let err = confined.open(Path::new(bad)).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::NotFound, "{bad}");
        }
        let open = Root::new(&root, true);
        assert!(open.open(Path::new("escape")).is_ok());
    }
}

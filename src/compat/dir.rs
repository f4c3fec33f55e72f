//! `tempfile::TempDir`, `tempdir()` and `tempdir_in()`.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use super::Builder;

/// A temp directory in the default directory's registry, as
/// `tempfile::tempdir`.
///
/// # Errors
///
/// If the registry's session directory or the directory cannot be made.
pub fn tempdir() -> io::Result<TempDir> {
    TempDir::new()
}

/// A temp directory in the registry of `dir`, one level below it, as
/// `tempfile::tempdir_in`.
///
/// # Errors
///
/// As [`tempdir`].
pub fn tempdir_in<P: AsRef<Path>>(dir: P) -> io::Result<TempDir> {
    TempDir::new_in(dir)
}

/// A temp directory removed with its contents when dropped, as
/// `tempfile::TempDir`; tracked by the process-wide registry, so also
/// removed when it is purged. It is identified without being held open
/// (device, inode, type and birth time): a directory made at its name by
/// someone else is never removed (see [`crate::TempDir`]).
pub struct TempDir {
    inner: crate::TempDir,
}

impl From<crate::TempDir> for TempDir {
    fn from(inner: crate::TempDir) -> TempDir {
        TempDir { inner }
    }
}

impl TempDir {
    /// A temp directory in the default directory's registry.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn new() -> io::Result<TempDir> {
        Builder::new().tempdir()
    }

    /// A temp directory in the registry of `dir`.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn new_in<P: AsRef<Path>>(dir: P) -> io::Result<TempDir> {
        Builder::new().tempdir_in(dir)
    }

    /// A temp directory whose name starts with `prefix`.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn with_prefix<S: AsRef<OsStr>>(prefix: S) -> io::Result<TempDir> {
        Builder::new().prefix(&prefix).tempdir()
    }

    /// A temp directory whose name ends with `suffix`.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn with_suffix<S: AsRef<OsStr>>(suffix: S) -> io::Result<TempDir> {
        Builder::new().suffix(&suffix).tempdir()
    }

    /// A temp directory whose name ends with `suffix`, in `dir`'s registry.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn with_suffix_in<S: AsRef<OsStr>, P: AsRef<Path>>(
        suffix: S,
        dir: P,
    ) -> io::Result<TempDir> {
        Builder::new().suffix(&suffix).tempdir_in(dir)
    }

    /// A temp directory whose name starts with `prefix`, in `dir`'s
    /// registry.
    ///
    /// # Errors
    ///
    /// As [`tempdir`].
    pub fn with_prefix_in<S: AsRef<OsStr>, P: AsRef<Path>>(
        prefix: S,
        dir: P,
    ) -> io::Result<TempDir> {
        Builder::new().prefix(&prefix).tempdir_in(dir)
    }

    /// The directory's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.inner.path()
    }

    /// Deprecated alias for [`keep`](Self::keep).
    #[must_use]
    #[deprecated = "use TempDir::keep()"]
    pub fn into_path(self) -> PathBuf {
        self.keep()
    }

    /// Stops cleaning the directory up and returns its path. Unlike
    /// `tempfile`, it is moved out of the session directory first, into the
    /// registry's root (the directory it was made for), under the same name
    /// if it is free there, so that it outlives the process. If the move
    /// fails, the directory stays where it is with its clean-up disabled
    /// (the session directory is then kept when the process ends), and that
    /// path is returned.
    #[must_use]
    pub fn keep(self) -> PathBuf {
        match self.inner.keep() {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(error = %e.error, "tempreg kept a temp dir where it is");
                let mut dir = e.dir;
                dir.disable_cleanup(true);
                dir.path().to_path_buf()
            }
        }
    }

    /// Turns clean-up off (`true`) or back on; see
    /// [`crate::TempDir::disable_cleanup`].
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        self.inner.disable_cleanup(disable_cleanup);
    }

    /// Removes the directory and its contents now.
    ///
    /// # Errors
    ///
    /// As [`crate::TempDir::close`]: `NotFound` if it is already gone; a
    /// name that holds another directory is left alone.
    pub fn close(self) -> io::Result<()> {
        self.inner.close()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

impl fmt::Debug for TempDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempDir")
            .field("path", &self.path())
            .finish()
    }
}

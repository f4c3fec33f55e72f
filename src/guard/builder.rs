//! [`TempOptions`]: name a temp file or dir, then make it in the session.

use std::ffi::OsStr;
use std::fs::Permissions;
use std::io;
use std::path::Path;
use std::sync::Arc;

use super::{TempDir, TempFile, TempPath, TrackedFile};
use crate::tracking::core::Core;
use crate::tracking::naming::NameSpec;

/// Options for one temp file or dir, from
/// [`ResourceRegistry::temp`](crate::ResourceRegistry::temp).
///
/// Names are `<prefix><random><suffix>`, created with `O_EXCL` (retrying on
/// a clash), inside the session directory.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until `.file()`, `.dir()`, `.make()` or `.file_async()` is called"]
pub struct TempOptions<'a> {
    core: &'a Arc<Core>,
    name: NameSpec,
}

impl<'a> TempOptions<'a> {
    pub(crate) fn new(core: &'a Arc<Core>) -> TempOptions<'a> {
        TempOptions {
            core,
            name: NameSpec::default(),
        }
    }

    /// The start of the name (default `tmp`). Any bytes but `/` and NUL
    /// (on Windows, but `/`, `\\`, `:` and NUL).
    pub fn prefix(mut self, prefix: impl AsRef<OsStr>) -> Self {
        self.name.prefix = prefix.as_ref().to_os_string().into();
        self
    }

    /// The end of the name (default none). Any bytes but `/` and NUL (on
    /// Windows, but `/`, `\\`, `:` and NUL).
    pub fn suffix(mut self, suffix: impl AsRef<OsStr>) -> Self {
        self.name.suffix = suffix.as_ref().to_os_string().into();
        self
    }

    /// How many random characters go between prefix and suffix (default 6).
    /// With 0 the name is exactly prefix + suffix, and creation fails with
    /// `AlreadyExists` if it is taken.
    pub fn rand_bytes(mut self, n: usize) -> Self {
        self.name.rand = n;
        self
    }

    /// Opens the file in append mode (default false): every write goes to
    /// its end. For [`file`](Self::file) only.
    pub fn append(mut self, append: bool) -> Self {
        self.name.append = append;
        self
    }

    /// The permissions of the new file or directory, less the umask as the
    /// system applies it (default 0600 for a file, 0700 for a directory).
    /// The session directory around it stays 0700: other users cannot reach
    /// it whatever its own bits say.
    pub fn permissions(mut self, permissions: Permissions) -> Self {
        self.name.permissions = Some(permissions);
        self
    }

    /// Makes the file or directory with its clean-up disabled (default
    /// false): no purge removes it, and dropping its guard leaves it where
    /// it is (the session directory is then kept when the registry ends).
    /// See [`TempPath::disable_cleanup`](crate::TempPath::disable_cleanup).
    /// Not for [`file_async`](Self::file_async).
    pub fn disable_cleanup(mut self, disable_cleanup: bool) -> Self {
        self.name.disable_cleanup = disable_cleanup;
        self
    }

    /// Creates a temp path through `make`, which is given the full path of a
    /// fresh name in the session directory and must create something there:
    /// a Unix socket (`UnixListener::bind`), a FIFO, a file opened its own
    /// way. If it fails with `AlreadyExists` (or `AddrInUse`), another name
    /// is tried. What the name holds right after `make` returns is recorded
    /// (device, inode, type, birth time), and the returned
    /// [`TempPath`] removes it, identity-checked like every other temp path,
    /// when dropped or closed, or when the registry is purged; a directory
    /// is removed with its contents.
    ///
    /// # Errors
    ///
    /// `make`'s own error, other than a clash; `NotFound` if `make` returned
    /// without making anything at the path; as for [`file`](Self::file).
    ///
    /// # Security
    ///
    /// `make` must create the name exclusively (fail if it exists), as
    /// `bind` and `File::create_new` do: `File::create` would open a file
    /// someone put there first. Inside the 0700 session directory only a
    /// process of the same user (or root) could. The identity is read right
    /// after `make` returns; what `make` itself did at the path is its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::os::unix::net::UnixListener;
    ///
    /// let registry = tempreg::ResourceRegistry::new()?;
    /// let (listener, socket) = registry.temp().suffix(".sock").make(|path| UnixListener::bind(path))?;
    /// assert!(socket.exists());
    /// drop(listener);
    /// let path = socket.to_path_buf();
    /// drop(socket);
    /// assert!(!path.exists());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn make<R>(&self, make: impl FnMut(&Path) -> io::Result<R>) -> io::Result<(R, TempPath)> {
        TempPath::make(self.core, &self.name, make)
    }

    /// Creates a named temp file (mode 0600), open for reading and writing.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for a name that cannot be one file name: a prefix or
    /// suffix holding `/` or NUL, more than 255 bytes in all, or an empty,
    /// `.` or `..` name; the OS error (with the session path) if the file
    /// cannot be created; the [closed](crate::is_closed_error) error on a
    /// closed registry.
    pub fn file(&self) -> io::Result<TempFile> {
        TempFile::create(self.core, &self.name)
    }

    /// Creates a temp directory (mode 0700).
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub fn dir(&self) -> io::Result<TempDir> {
        TempDir::create(self.core, &self.name)
    }

    /// Creates an async temp file on tokio's blocking pool (or takes one
    /// made ahead of demand; see
    /// [`RegistryBuilder::async_reserve`](crate::RegistryBuilder::async_reserve)).
    ///
    /// # Errors
    ///
    /// As for [`file`](Self::file).
    pub async fn file_async(&self) -> io::Result<TrackedFile> {
        self.name.check()?;
        if self.name.disable_cleanup || self.name.append || self.name.permissions.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "tempreg: disable_cleanup, append and permissions are for file(), dir() and make(), not file_async()",
            ));
        }
        TrackedFile::create_temp(self.core, self.name.clone()).await
    }
}

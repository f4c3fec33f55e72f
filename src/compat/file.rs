//! `tempfile`'s files: [`NamedTempFile`], [`TempPath`], their errors, and
//! the unnamed [`tempfile()`].

use std::error;
use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Deref;
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, RawHandle};
use std::path::{Path, PathBuf};

use super::{default_registry, env, Builder};
use crate::error::with_path;
use crate::guard::anonymous_file_in;

/// An unnamed temp file in the default directory ([`env::temp_dir`]), as
/// `tempfile::tempfile`: a plain [`File`].
///
/// It never has a name where the system can make unnamed files (Linux,
/// `O_TMPFILE`), so the kernel frees it however the process ends, SIGKILL
/// included: there is nothing for a registry to clean, and none is used.
/// [`ResourceRegistry::anonymous_file`](crate::ResourceRegistry::anonymous_file)
/// makes one that a purge also closes.
///
/// # Errors
///
/// If the file cannot be made.
///
/// # Resource leaking
///
/// Where the system cannot make unnamed files, it is made with a name and
/// unlinked at once; a process killed in between leaves that name (as with
/// `tempfile`).
pub fn tempfile() -> io::Result<File> {
    tempfile_in(env::temp_dir())
}

/// An unnamed temp file in `dir`, as [`tempfile()`]: made directly in
/// `dir`, with no session directory around it.
///
/// # Errors
///
/// If `dir` cannot be opened or the file cannot be made there.
pub fn tempfile_in<P: AsRef<Path>>(dir: P) -> io::Result<File> {
    anonymous_file_in(dir.as_ref())
}

/// A temp file's path, removed when dropped, as `tempfile::TempPath`:
/// tracked by the process-wide registry, so also removed when it is purged
/// (exit, a panic that ends the process, a signal handler you installed).
///
/// Removal is identity-checked: a name that now holds another file is left
/// alone. A path given to [`from_path`](Self::from_path) or
/// [`try_from_path`](Self::try_from_path) is adopted with the identity of
/// the file there at that moment; if there was none (or it is a directory),
/// nothing is adopted and dropping it removes nothing.
pub struct TempPath {
    inner: Inner,
}

enum Inner {
    Tracked(crate::TempPath),
    /// Nothing to remove: the path held no file when it was adopted.
    Untracked(Box<Path>),
}

impl TempPath {
    pub(crate) fn tracked(path: crate::TempPath) -> TempPath {
        TempPath {
            inner: Inner::Tracked(path),
        }
    }

    fn not_adopted(&self, op: &'static str) -> io::Error {
        with_path(
            io::Error::new(
                io::ErrorKind::NotFound,
                "no file was at this path when it was adopted, so tempreg never deletes it",
            ),
            op,
            self,
        )
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    ///
    /// # Errors
    ///
    /// As [`crate::TempPath::close`]: `NotFound` if the file is already
    /// gone, or if nothing was adopted at this path; a name that holds
    /// another file is left alone
    /// ([`is_replaced_error`](crate::is_replaced_error)).
    pub fn close(self) -> io::Result<()> {
        match self.inner {
            Inner::Tracked(path) => path.close(),
            Inner::Untracked(_) => Err(self.not_adopted("remove")),
        }
    }

    /// Moves the file to `new_path`, replacing what is there.
    ///
    /// # Errors
    ///
    /// The error holds this `TempPath`, still tracked, as with `tempfile`.
    pub fn persist<P: AsRef<Path>>(self, new_path: P) -> Result<(), PathPersistError> {
        self.persist_inner(new_path.as_ref(), false)
    }

    /// Moves the file to `new_path`, failing (`AlreadyExists`) rather than
    /// replace what is there.
    ///
    /// # Errors
    ///
    /// The error holds this `TempPath`, still tracked.
    pub fn persist_noclobber<P: AsRef<Path>>(self, new_path: P) -> Result<(), PathPersistError> {
        self.persist_inner(new_path.as_ref(), true)
    }

    fn persist_inner(self, new_path: &Path, noclobber: bool) -> Result<(), PathPersistError> {
        let path = match self.inner {
            Inner::Tracked(path) => path,
            Inner::Untracked(_) => {
                return Err(PathPersistError {
                    error: self.not_adopted("persist"),
                    path: self,
                })
            }
        };
        let persisted = if noclobber {
            path.persist_noclobber(new_path)
        } else {
            path.persist(new_path)
        };
        persisted.map_err(|e| PathPersistError {
            error: e.error,
            path: TempPath::tracked(e.path),
        })
    }

    /// Stops cleaning the file up and returns its path. Unlike `tempfile`,
    /// the file is moved out of the session directory first, into the
    /// registry's root (the directory it was made for), under the same name
    /// if it is free there: the session directory is removed when the
    /// process ends. An adopted path stays where it is.
    ///
    /// # Errors
    ///
    /// If the move fails; the error holds this `TempPath`, still tracked.
    pub fn keep(self) -> Result<PathBuf, PathPersistError> {
        match self.inner {
            Inner::Tracked(path) => path.keep().map_err(|e| PathPersistError {
                error: e.error,
                path: TempPath::tracked(e.path),
            }),
            Inner::Untracked(path) => Ok(path.into()),
        }
    }

    /// Turns clean-up off (`true`) or back on: see
    /// [`crate::TempPath::disable_cleanup`]. The file stays where it is, in
    /// the session directory, which is then kept when the process ends
    /// (unless the file is gone by then).
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        if let Inner::Tracked(path) = &mut self.inner {
            path.disable_cleanup(disable_cleanup);
        }
    }

    /// Adopts the file at `path`, as `tempfile::TempPath::from_path`: a
    /// relative path is made absolute against the working directory when it
    /// can be, and kept as it is when not. Nothing is adopted (dropping it
    /// removes nothing) if no file is there, or if the process-wide registry
    /// cannot be made.
    #[deprecated = "use TempPath::try_from_path"]
    pub fn from_path(path: impl Into<PathBuf>) -> Self {
        let mut path = path.into();
        if path != Path::new("") && !path.is_absolute() {
            if let Ok(cwd) = std::env::current_dir() {
                path = cwd.join(path);
            }
        }
        TempPath::adopt(path).unwrap_or_else(|path| TempPath {
            inner: Inner::Untracked(path.into_boxed_path()),
        })
    }

    /// Adopts the file at `path`, as `tempfile::TempPath::try_from_path`:
    /// its identity is recorded now, and it is removed when this is dropped
    /// or the registry purged, unless the name holds another file by then.
    /// If no file (or a directory) is at `path`, nothing is adopted.
    ///
    /// # Errors
    ///
    /// `InvalidInput` for an empty path; the working directory's error for
    /// a relative path when it cannot be read; if the process-wide registry
    /// cannot be made, or the file's directory cannot be opened.
    pub fn try_from_path(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = crate::guard::absolute(&path.into())?;
        match default_registry()?.adopt(&path) {
            Ok(tracked) => Ok(TempPath::tracked(tracked)),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound
                        | io::ErrorKind::IsADirectory
                        | io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(TempPath {
                    inner: Inner::Untracked(path.into_boxed_path()),
                })
            }
            Err(e) => Err(e),
        }
    }

    fn adopt(path: PathBuf) -> Result<TempPath, PathBuf> {
        match default_registry().and_then(|registry| registry.adopt(&path)) {
            Ok(tracked) => Ok(TempPath::tracked(tracked)),
            Err(_) => Err(path),
        }
    }

    pub(crate) fn reopen(&self) -> io::Result<File> {
        match &self.inner {
            Inner::Tracked(path) => path.reopen(),
            Inner::Untracked(_) => Err(self.not_adopted("reopen")),
        }
    }
}

impl fmt::Debug for TempPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.deref().fmt(f)
    }
}

impl Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        match &self.inner {
            Inner::Tracked(path) => path,
            Inner::Untracked(path) => path,
        }
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        self
    }
}

impl AsRef<OsStr> for TempPath {
    fn as_ref(&self) -> &OsStr {
        self.as_os_str()
    }
}

/// The error of [`TempPath::persist`] and [`TempPath::keep`], holding the
/// path back.
#[derive(Debug)]
pub struct PathPersistError {
    /// What went wrong.
    pub error: io::Error,
    /// The path, unchanged and still tracked.
    pub path: TempPath,
}

impl From<PathPersistError> for io::Error {
    fn from(error: PathPersistError) -> io::Error {
        error.error
    }
}

impl From<PathPersistError> for TempPath {
    fn from(error: PathPersistError) -> TempPath {
        error.path
    }
}

impl fmt::Display for PathPersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to persist temporary file path: {}", self.error)
    }
}

impl error::Error for PathPersistError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A named temp file, as `tempfile::NamedTempFile`: `F` (a [`File`] unless
/// made by [`Builder::make`]) and its [`TempPath`], which the process-wide
/// registry tracks. It lives in the session directory of the registry of
/// the directory it was made for, one level below that directory.
///
/// # Resource leaking
///
/// A purge removes its name; its open `F` stays open until it is dropped
/// (as with `tempfile`; [`crate::TempFile`] also has a purge close its
/// handle). On SIGKILL the session directory waits for a sweep.
pub struct NamedTempFile<F = File> {
    path: TempPath,
    file: F,
}

impl<F> fmt::Debug for NamedTempFile<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NamedTempFile({:?})", self.path)
    }
}

impl<F> AsRef<Path> for NamedTempFile<F> {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

/// The error of [`NamedTempFile::persist`] and [`NamedTempFile::keep`],
/// holding the file back.
pub struct PersistError<F = File> {
    /// What went wrong.
    pub error: io::Error,
    /// The file, unchanged and still tracked.
    pub file: NamedTempFile<F>,
}

impl<F> fmt::Debug for PersistError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PersistError({:?})", self.error)
    }
}

impl<F> From<PersistError<F>> for io::Error {
    fn from(error: PersistError<F>) -> io::Error {
        error.error
    }
}

impl<F> From<PersistError<F>> for NamedTempFile<F> {
    fn from(error: PersistError<F>) -> NamedTempFile<F> {
        error.file
    }
}

impl<F> fmt::Display for PersistError<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to persist temporary file: {}", self.error)
    }
}

impl<F> error::Error for PersistError<F> {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        Some(&self.error)
    }
}

impl NamedTempFile<File> {
    /// A named temp file in the default directory's registry.
    ///
    /// # Errors
    ///
    /// If the registry's session directory or the file cannot be made.
    pub fn new() -> io::Result<NamedTempFile> {
        Builder::new().tempfile()
    }

    /// A named temp file in the registry of `dir` (one level below it).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn new_in<P: AsRef<Path>>(dir: P) -> io::Result<NamedTempFile> {
        Builder::new().tempfile_in(dir)
    }

    /// A named temp file whose name ends with `suffix`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_suffix<S: AsRef<OsStr>>(suffix: S) -> io::Result<NamedTempFile> {
        Builder::new().suffix(&suffix).tempfile()
    }

    /// A named temp file whose name ends with `suffix`, in `dir`'s registry.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_suffix_in<S: AsRef<OsStr>, P: AsRef<Path>>(
        suffix: S,
        dir: P,
    ) -> io::Result<NamedTempFile> {
        Builder::new().suffix(&suffix).tempfile_in(dir)
    }

    /// A named temp file whose name starts with `prefix`.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_prefix<S: AsRef<OsStr>>(prefix: S) -> io::Result<NamedTempFile> {
        Builder::new().prefix(&prefix).tempfile()
    }

    /// A named temp file whose name starts with `prefix`, in `dir`'s
    /// registry.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    pub fn with_prefix_in<S: AsRef<OsStr>, P: AsRef<Path>>(
        prefix: S,
        dir: P,
    ) -> io::Result<NamedTempFile> {
        Builder::new().prefix(&prefix).tempfile_in(dir)
    }

    /// Opens the file again: a new handle with its own offset.
    ///
    /// # Errors
    ///
    /// If the name no longer holds this file, nothing is opened.
    ///
    /// # Security
    ///
    /// The name is opened without following a symlink, and the handle is
    /// returned only if its identity is the one recorded when the file was
    /// made (see [`crate::TempFile::reopen`]).
    pub fn reopen(&self) -> io::Result<File> {
        self.path.reopen()
    }
}

impl<F> NamedTempFile<F> {
    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    ///
    /// # Errors
    ///
    /// As [`TempPath::close`].
    pub fn close(self) -> io::Result<()> {
        self.path.close()
    }

    /// Moves the file to `new_path`, replacing what is there, and returns
    /// the open `F`.
    ///
    /// # Errors
    ///
    /// The error holds this file back, still tracked.
    pub fn persist<P: AsRef<Path>>(self, new_path: P) -> Result<F, PersistError<F>> {
        let NamedTempFile { path, file } = self;
        match path.persist(new_path) {
            Ok(()) => Ok(file),
            Err(PathPersistError { error, path }) => Err(PersistError {
                error,
                file: NamedTempFile { path, file },
            }),
        }
    }

    /// Moves the file to `new_path` unless something is there
    /// (`AlreadyExists`), and returns the open `F`.
    ///
    /// # Errors
    ///
    /// The error holds this file back, still tracked.
    pub fn persist_noclobber<P: AsRef<Path>>(self, new_path: P) -> Result<F, PersistError<F>> {
        let NamedTempFile { path, file } = self;
        match path.persist_noclobber(new_path) {
            Ok(()) => Ok(file),
            Err(PathPersistError { error, path }) => Err(PersistError {
                error,
                file: NamedTempFile { path, file },
            }),
        }
    }

    /// Stops cleaning the file up and returns it with its path, moved out of
    /// the session directory as [`TempPath::keep`] does.
    ///
    /// # Errors
    ///
    /// The error holds this file back, still tracked.
    pub fn keep(self) -> Result<(F, PathBuf), PersistError<F>> {
        let NamedTempFile { path, file } = self;
        match path.keep() {
            Ok(kept) => Ok((file, kept)),
            Err(PathPersistError { error, path }) => Err(PersistError {
                error,
                file: NamedTempFile { path, file },
            }),
        }
    }

    /// Turns clean-up off (`true`) or back on; see
    /// [`TempPath::disable_cleanup`].
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        self.path.disable_cleanup(disable_cleanup);
    }

    /// The open file.
    pub fn as_file(&self) -> &F {
        &self.file
    }

    /// The open file, mutably.
    pub fn as_file_mut(&mut self) -> &mut F {
        &mut self.file
    }

    /// The open file; the path is removed.
    pub fn into_file(self) -> F {
        self.file
    }

    /// The path, still tracked; the file is closed.
    pub fn into_temp_path(self) -> TempPath {
        self.path
    }

    /// The open file and the tracked path, apart.
    pub fn into_parts(self) -> (F, TempPath) {
        (self.file, self.path)
    }

    /// Joins an open file and a path.
    pub fn from_parts(file: F, path: TempPath) -> Self {
        NamedTempFile { path, file }
    }
}

impl<F: Read> Read for NamedTempFile<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file
            .read(buf)
            .map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_vectored(&mut self, bufs: &mut [io::IoSliceMut<'_>]) -> io::Result<usize> {
        let read = self.file.read_vectored(bufs);
        read.map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        let read = self.file.read_to_end(buf);
        read.map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let read = self.file.read_to_string(buf);
        read.map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let read = self.file.read_exact(buf);
        read.map_err(|e| with_path(e, "read", &self.path))
    }
}

impl Read for &NamedTempFile<File> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file)
            .read(buf)
            .map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        (&self.file)
            .read_to_end(buf)
            .map_err(|e| with_path(e, "read", &self.path))
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        (&self.file)
            .read_to_string(buf)
            .map_err(|e| with_path(e, "read", &self.path))
    }
}

impl<F: Write> Write for NamedTempFile<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.file.write(buf);
        written.map_err(|e| with_path(e, "write", &self.path))
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        let written = self.file.write_vectored(bufs);
        written.map_err(|e| with_path(e, "write", &self.path))
    }
    fn flush(&mut self) -> io::Result<()> {
        let flushed = self.file.flush();
        flushed.map_err(|e| with_path(e, "flush", &self.path))
    }
}

impl Write for &NamedTempFile<File> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.file)
            .write(buf)
            .map_err(|e| with_path(e, "write", &self.path))
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.file)
            .flush()
            .map_err(|e| with_path(e, "flush", &self.path))
    }
}

impl<F: Seek> Seek for NamedTempFile<F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        let at = self.file.seek(pos);
        at.map_err(|e| with_path(e, "seek", &self.path))
    }
}

impl Seek for &NamedTempFile<File> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&self.file)
            .seek(pos)
            .map_err(|e| with_path(e, "seek", &self.path))
    }
}

#[cfg(unix)]
impl<F: AsFd> AsFd for NamedTempFile<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

#[cfg(unix)]
impl<F: AsRawFd> AsRawFd for NamedTempFile<F> {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(windows)]
impl<F: AsHandle> AsHandle for NamedTempFile<F> {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.file.as_handle()
    }
}

#[cfg(windows)]
impl<F: AsRawHandle> AsRawHandle for NamedTempFile<F> {
    fn as_raw_handle(&self) -> RawHandle {
        self.file.as_raw_handle()
    }
}

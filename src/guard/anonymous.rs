//! [`AnonymousFile`]: a tracked file with no name, which the system frees
//! however the process ends.
//!
//! Made with `O_TMPFILE` in the session directory where the system can
//! (Linux). Elsewhere, or on a file system without it, a named temp file is
//! made and its name removed at once through the identity-checked removal:
//! it has a name for that moment, inside the session directory, which a
//! sweep removes if the process dies in it.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
#[cfg(windows)]
use std::os::windows::io::{AsHandle, AsRawHandle, BorrowedHandle, RawHandle};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::held::HeldFile;
use crate::error::{replaced, with_path};
use crate::session::{make_name, Names, Session};
use crate::sys::{self, Removal};
use crate::tracking::cleaner::remove_name;
use crate::tracking::core::{Core, Ticket};
use crate::tracking::entry::{Entry, EntryKind, Handle, ANONYMOUS};
use crate::tracking::naming::NameSpec;

/// Makes an unnamed file in the session directory (blocking).
pub(crate) fn create(session: &Session) -> io::Result<File> {
    if let Some(file) = sys::anonymous_file(session.dir())
        .map_err(|e| with_path(e, "create anonymous file in", session.path()))?
    {
        return Ok(file);
    }
    let (file, name) = NameSpec::default().create_file(session)?;
    let path = session.child(&name.name);
    match remove_name(session, EntryKind::AnonymousFile, &name, None) {
        Ok(Removal::Removed) => Ok(file),
        Ok(Removal::Replaced) => Err(replaced("unlink", &path)),
        Ok(Removal::Gone) => Err(with_path(io::ErrorKind::NotFound, "unlink", &path)),
        Err(e) => Err(with_path(e, "unlink", &path)),
    }
}

/// Makes an unnamed file in the directory at `path`, one of the caller's
/// choosing rather than the session's (blocking). Where the system cannot,
/// a named file is made there and its name removed at once, checked to be
/// ours: a name in `path` for that moment, which no sweep covers if the
/// process dies in it (as `tempfile` does).
pub(crate) fn create_in(path: &Path) -> io::Result<File> {
    let dir = sys::Dir::open(path).map_err(|e| with_path(e, "open", path))?;
    if let Some(file) =
        sys::anonymous_file(&dir).map_err(|e| with_path(e, "create anonymous file in", path))?
    {
        return Ok(file);
    }
    let ((file, id), name) = make_name(
        &dir,
        path,
        Names::Thread,
        OsStr::new(".tmp"),
        OsStr::new(""),
        6,
        sys::create_file,
    )
    .map_err(|e| with_path(e, "create anonymous file in", path))?;
    let named = path.join(&name);
    match sys::remove_file(&dir, &name, &id) {
        Ok(Removal::Removed) => Ok(file),
        Ok(Removal::Replaced) => Err(replaced("unlink", &named)),
        Ok(Removal::Gone) => Err(with_path(io::ErrorKind::NotFound, "unlink", &named)),
        Err(e) => Err(with_path(e, "unlink", &named)),
    }
}

/// How anonymous entries are shown: the session directory and a marker.
pub(crate) fn display_path(session: &Session) -> PathBuf {
    session.child(ANONYMOUS.as_ref())
}

/// An unnamed temp file (see the module docs): `Read + Write + Seek`, freed by
/// the system when closed, however the process ends. Tracked, so a purge
/// closes it (revokes it, as for [`TempFile`](crate::TempFile)); afterwards
/// its I/O fails with a [closed](crate::is_closed_error) error.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, SeekFrom, Write};
///
/// let registry = tempreg::ResourceRegistry::new()?;
/// let mut scratch = registry.anonymous_file()?;
/// scratch.write_all(b"spill")?;
/// scratch.seek(SeekFrom::Start(0))?;
/// let mut back = String::new();
/// scratch.read_to_string(&mut back)?;
/// assert_eq!(back, "spill");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AnonymousFile {
    // Field order: the entry leaves the table before the file is closed.
    entry: Untracks,
    file: HeldFile,
}

/// The entry of an anonymous file (or a spooled file's bytes): there is no
/// name to clean, so dropping the guard only takes it out of the table.
#[derive(Debug)]
pub(super) struct Untracks(pub(super) Ticket);

impl Drop for Untracks {
    fn drop(&mut self) {
        self.0.settle(|_| ((), false));
    }
}

impl AnonymousFile {
    pub(crate) fn create(core: &Arc<Core>) -> io::Result<AnonymousFile> {
        core.check_open()?;
        AnonymousFile::track(core, create(&core.session)?)
    }

    /// An unnamed file in the directory `dir` rather than the session's (a
    /// spooled file rolled over where its caller asked), tracked by `core`.
    pub(crate) fn create_in(core: &Arc<Core>, dir: &Path) -> io::Result<AnonymousFile> {
        core.check_open()?;
        AnonymousFile::track(core, create_in(dir)?)
    }

    fn track(core: &Arc<Core>, file: File) -> io::Result<AnonymousFile> {
        let (file, handle) = HeldFile::new(file, None, core);
        let entry = Entry::new(EntryKind::AnonymousFile, None, Handle::Sync(handle));
        let ticket = core.track(entry)?;
        Ok(AnonymousFile {
            entry: Untracks(ticket),
            file,
        })
    }

    fn usable(&self) -> io::Result<&File> {
        self.file.usable(&display_path(self.entry.0.session()))
    }

    /// True once a purge has closed it.
    pub fn is_purged(&self) -> bool {
        self.file.is_revoked()
    }

    /// The open file.
    pub fn as_file(&self) -> &File {
        self.file.get()
    }

    /// The open file, mutably.
    ///
    /// Replacing the `File` itself (`*guard.as_file_mut() = other`) is
    /// allowed: a purge then closes neither (the guard's file is no longer
    /// the one tracked, and its name is still removed), but not *during* a
    /// purge: the purge checks which file the descriptor holds just before
    /// closing it, and a file swapped in between would be the one closed.
    pub fn as_file_mut(&mut self) -> &mut File {
        self.file.get_mut()
    }

    /// Stops tracking it and returns the file (a purge no longer closes it).
    pub fn into_file(self) -> File {
        let AnonymousFile { entry, file } = self;
        drop(entry);
        file.into_file()
    }

    /// A second handle to the same file (untracked: a purge closes only this
    /// guard's).
    ///
    /// # Errors
    ///
    /// As `File::try_clone`, or if it was purged.
    pub fn try_clone(&self) -> io::Result<File> {
        self.usable()?.try_clone()
    }

    /// Sets the file's length.
    ///
    /// # Errors
    ///
    /// As `File::set_len`, or if it was purged.
    pub fn set_len(&self, len: u64) -> io::Result<()> {
        self.usable()?.set_len(len)
    }

    /// The file's metadata.
    ///
    /// # Errors
    ///
    /// As `File::metadata`, or if it was purged.
    pub fn metadata(&self) -> io::Result<std::fs::Metadata> {
        self.usable()?.metadata()
    }

    /// Flushes data and metadata to stable storage.
    ///
    /// # Errors
    ///
    /// As `File::sync_all`, or if it was purged.
    pub fn sync_all(&self) -> io::Result<()> {
        self.usable()?.sync_all()
    }
}

impl fmt::Debug for AnonymousFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnonymousFile")
            .field("purged", &self.is_purged())
            .finish()
    }
}

#[cfg(unix)]
impl AsFd for AnonymousFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.get().as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for AnonymousFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.get().as_raw_fd()
    }
}

#[cfg(windows)]
impl AsHandle for AnonymousFile {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.file.get().as_handle()
    }
}

#[cfg(windows)]
impl AsRawHandle for AnonymousFile {
    fn as_raw_handle(&self) -> RawHandle {
        self.file.get().as_raw_handle()
    }
}

impl From<AnonymousFile> for File {
    /// [`into_file`](AnonymousFile::into_file): stops tracking it.
    fn from(file: AnonymousFile) -> File {
        file.into_file()
    }
}

impl Read for AnonymousFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.usable()?.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.usable()?.read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.usable()?.read_to_end(buf)
    }
    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.usable()?.read_to_string(buf)
    }
}

impl Write for AnonymousFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.usable()?.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.usable()?.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.usable()?.flush()
    }
}

impl Seek for AnonymousFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.usable()?.seek(pos)
    }
}

// As `&File`: reads and writes through a shared reference.
impl Read for &AnonymousFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.usable()?.read(buf)
    }
}

impl Write for &AnonymousFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.usable()?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.usable()?.flush()
    }
}

impl Seek for &AnonymousFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.usable()?.seek(pos)
    }
}

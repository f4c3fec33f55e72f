//! [`TempFile`]: a tracked named temp file with an open handle.

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
use super::{PersistError, TempPath};
use crate::tracking::core::Core;
use crate::tracking::entry::{Entry, EntryKind, Handle};
use crate::tracking::naming::NameSpec;

/// A named temp file (mode 0600) in the session directory, open for reading
/// and writing. Removed when dropped or closed, or when the registry is
/// purged.
///
/// # Security
///
/// Removal unlinks the name relative to the session directory's fd, and only
/// after checking that it still holds this file (device and inode, not a
/// symlink). While this guard lives its fd pins the inode, so the check
/// cannot be fooled by inode reuse.
///
/// # Purges
///
/// A purge unlinks the file and revokes this guard's handle: the open file
/// is swapped for a dead one, so the space is freed at once, and every read
/// or write after it fails, through the guard with an error for which
/// [`is_closed_error`](crate::is_closed_error) is true, through
/// [`as_file`](Self::as_file) with the system's `EBADF`. The fd number stays
/// this guard's until it is dropped, so no other file is ever reached
/// through it.
///
/// # Resource leaking
///
/// On SIGKILL nothing runs: the session directory stays until a sweep (see
/// the crate docs).
pub struct TempFile {
    // The drop removes the path before it closes the fd, so that the inode
    // is pinned while its identity is checked (see `Drop`).
    path: TempPath,
    file: HeldFile,
}

impl TempFile {
    pub(crate) fn create(core: &Arc<Core>, spec: &NameSpec) -> io::Result<TempFile> {
        core.check_open()?;
        let (file, name) = spec.create_file(&core.session)?;
        let path = core.session.child(&name.name);
        let (file, handle) = HeldFile::new(file, Some(name.id), core);
        let mut entry = Entry::new(EntryKind::TempFile, Some(name), Handle::Sync(handle));
        entry.cleanup = !spec.disable_cleanup;
        let ticket = core.track(entry)?;
        Ok(TempFile {
            path: TempPath::new(ticket, path),
            file,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.path.path()
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

    /// True once a purge has removed the file and revoked this handle.
    pub fn is_purged(&self) -> bool {
        self.file.is_revoked()
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    /// It removes the file even if clean-up was disabled.
    ///
    /// # Errors
    ///
    /// If the file could not be removed (it stays tracked); `NotFound` if it
    /// was already gone (as `tempfile`); if its name now holds another file
    /// or a symlink, that is left alone and the error says so
    /// ([`is_replaced_error`](crate::is_replaced_error)).
    pub fn close(self) -> io::Result<()> {
        let (path, file) = self.into_fields();
        let result = path.close();
        drop(file);
        result
    }

    /// Closes the fd and keeps tracking the file by path, so that many
    /// scratch files cost no file descriptors. See [`TempPath`].
    pub fn into_temp_path(self) -> TempPath {
        let (path, file) = self.into_fields();
        forget_handle(&path);
        drop(file);
        path
    }

    /// Splits into the open file (no longer tracked: a purge will not close
    /// it) and the tracked path.
    pub fn into_parts(self) -> (File, TempPath) {
        let (path, file) = self.into_fields();
        forget_handle(&path);
        (file.into_file(), path)
    }

    /// Joins an open file and a tracked path back into one guard (the
    /// inverse of [`into_parts`](Self::into_parts)): the file becomes this
    /// guard's handle again, which a purge closes (revokes) with the path.
    /// The file need not be the path's (as with `tempfile`).
    pub fn from_parts(file: File, path: TempPath) -> TempFile {
        let (file, handle) = HeldFile::new(file, None, path.ticket().core());
        let tracked = path.ticket().with_entry(|entry| {
            entry.handle = Handle::Sync(handle);
        });
        if tracked.is_none() {
            // A purge took the path already: the file is the caller's, as
            // it was.
            tracing::debug!(path = %path.display(), "tempreg from_parts on a purged path");
        }
        TempFile { path, file }
    }

    /// Opens the file again: a new, independent handle (its own offset)
    /// for reading and writing, opened by name relative to the session
    /// directory and checked to be this guard's file.
    ///
    /// # Errors
    ///
    /// `NotFound` if the file is gone; if its name holds another file or a
    /// symlink, nothing is opened
    /// ([`is_replaced_error`](crate::is_replaced_error)); the
    /// [closed](crate::is_closed_error) error if a purge took it.
    ///
    /// # Security
    ///
    /// The name is opened without following a symlink, and the handle is
    /// returned only if its identity is the one recorded when the file was
    /// made; `tempfile`'s `reopen` compares device and inode with its open
    /// file after opening by path.
    pub fn reopen(&self) -> io::Result<File> {
        self.path.reopen()
    }

    /// Turns clean-up off (`true`) or back on; see
    /// [`TempPath::disable_cleanup`]. The handle is never revoked by a
    /// purge while clean-up is off.
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        self.path.disable_cleanup(disable_cleanup);
    }

    /// Moves the file to `dest`, replacing what is there, stops tracking it
    /// and returns the open file.
    ///
    /// # Errors
    ///
    /// If the rename fails (for example `dest` is on another file system, or
    /// its directory does not exist), the error holds this `TempFile`, still
    /// tracked: nothing is lost. If the name in the session directory no
    /// longer holds this file, nothing is moved
    /// ([`is_replaced_error`](crate::is_replaced_error)); if a purge took it,
    /// the error is a [closed](crate::is_closed_error) one.
    pub fn persist(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_inner(dest.as_ref(), false)
    }

    /// Like [`persist`](Self::persist), but fails with `AlreadyExists` rather
    /// than replace an existing `dest`.
    pub fn persist_noclobber(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_inner(dest.as_ref(), true)
    }

    fn persist_inner(self, dest: &Path, noclobber: bool) -> Result<File, PersistError> {
        match self.path.ticket().persist(self.path(), dest, noclobber) {
            Ok(()) => Ok(self.into_untracked_file()),
            Err(error) => Err(PersistError { error, file: self }),
        }
    }

    /// Stops tracking the file and moves it out of the session directory into
    /// the registry's root (see [`TempPath::keep`]); returns the open file
    /// and its new path.
    ///
    /// # Errors
    ///
    /// As for [`persist`](Self::persist): the error holds this `TempFile`,
    /// still tracked.
    pub fn keep(self) -> Result<(File, PathBuf), PersistError> {
        match self.path.ticket().keep(self.path()) {
            Ok(kept) => Ok((self.into_untracked_file(), kept)),
            Err(error) => Err(PersistError { error, file: self }),
        }
    }

    /// The file, once its entry left the table (kept or persisted): dropping
    /// the path guard finds nothing to clean.
    fn into_untracked_file(self) -> File {
        let (path, file) = self.into_fields();
        drop(path);
        file.into_file()
    }

    /// The path and file guards, moved out; what is left of `self` drops
    /// doing nothing.
    fn into_fields(mut self) -> (TempPath, HeldFile) {
        (self.path.take(), self.file.take())
    }
}

/// Removes the file, then closes it, in one call of the cleaner (see
/// `Ticket::close_quietly_closing`): the name while the fd still pins the
/// inode, the fd right after. If a purge is revoking the file this moment,
/// the purge closes it instead.
impl Drop for TempFile {
    fn drop(&mut self) {
        let file = self.file.let_go();
        self.path.drop_closing(file);
    }
}

/// The entry stops pointing at the guard's file, which is about to be closed
/// or handed out: a purge must never act on that fd again.
fn forget_handle(path: &TempPath) {
    path.ticket().settle(|entry| {
        entry.handle = Handle::None;
        ((), true)
    });
}

impl fmt::Debug for TempFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TempFile({:?})", self.path())
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        self.path()
    }
}

#[cfg(unix)]
impl AsFd for TempFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.get().as_fd()
    }
}

#[cfg(unix)]
impl AsRawFd for TempFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.get().as_raw_fd()
    }
}

#[cfg(windows)]
impl AsHandle for TempFile {
    fn as_handle(&self) -> BorrowedHandle<'_> {
        self.file.get().as_handle()
    }
}

#[cfg(windows)]
impl AsRawHandle for TempFile {
    fn as_raw_handle(&self) -> RawHandle {
        self.file.get().as_raw_handle()
    }
}

impl Read for TempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.usable_mut(self.path.path())?.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.file.usable_mut(self.path.path())?.read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.file.usable_mut(self.path.path())?.read_to_end(buf)
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.usable_mut(self.path.path())?.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.file.usable_mut(self.path.path())?.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.usable_mut(self.path.path())?.flush()
    }
}

impl Seek for TempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.usable_mut(self.path.path())?.seek(pos)
    }
}

impl Read for &TempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.usable(self.path.path())?.read(buf)
    }
}

impl Write for &TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.usable(self.path.path())?.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.usable(self.path.path())?.flush()
    }
}

impl Seek for &TempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.usable(self.path.path())?.seek(pos)
    }
}

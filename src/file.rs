//! [`TempFile`]: a tracked named temp file with an open handle, and
//! [`PersistError`], which hands it back when a persist fails.

use std::error::Error as StdError;
use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::path::{Path, PathBuf};

use rustix::fs::AtFlags;

use crate::entry::Res;
use crate::error::with_path;
use crate::fsops::{self, FileId};
use crate::path::TempPath;

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
/// # Resource leaking
///
/// A purge unlinks the file but leaves this guard's fd open (the data stays
/// readable through it) until the guard is dropped. On SIGKILL nothing runs:
/// the session directory stays until a sweep (see the crate docs).
pub struct TempFile {
    // Field order matters: the path is removed before the fd is closed, so
    // the inode is pinned while its identity is checked.
    path: TempPath,
    file: File,
}

impl TempFile {
    pub(crate) fn new(path: TempPath, file: File) -> TempFile {
        TempFile { path, file }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.path.path()
    }

    /// The open file.
    pub fn as_file(&self) -> &File {
        &self.file
    }

    /// The open file, mutably.
    pub fn as_file_mut(&mut self) -> &mut File {
        &mut self.file
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    ///
    /// # Errors
    ///
    /// If the file could not be removed (it stays tracked), or its name now
    /// holds another file or a symlink (left alone).
    pub fn close(self) -> io::Result<()> {
        let TempFile { path, file } = self;
        let result = path.close();
        drop(file);
        result
    }

    /// Closes the fd and keeps tracking the file by path, so that many
    /// scratch files cost no file descriptors. See [`TempPath`].
    pub fn into_temp_path(self) -> TempPath {
        self.path
    }

    /// Splits into the open file and the tracked path.
    pub fn into_parts(self) -> (File, TempPath) {
        (self.file, self.path)
    }

    /// Moves the file to `dest`, replacing what is there, stops tracking it
    /// and returns the open file.
    ///
    /// # Errors
    ///
    /// If the rename fails (for example `dest` is on another file system, or
    /// its directory does not exist), the error holds this `TempFile`, still
    /// tracked: nothing is lost. If the name in the session directory no
    /// longer holds this file, nothing is moved.
    pub fn persist(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_inner(dest.as_ref(), false)
    }

    /// Like [`persist`](Self::persist), but fails with `AlreadyExists` rather
    /// than replace an existing `dest`.
    pub fn persist_noclobber(self, dest: impl AsRef<Path>) -> Result<File, PersistError> {
        self.persist_inner(dest.as_ref(), true)
    }

    fn persist_inner(self, dest: &Path, noclobber: bool) -> Result<File, PersistError> {
        let ticket = self.path.ticket();
        let Some(entry) = ticket.claim() else {
            let error = crate::error::purged(self.path());
            return Err(PersistError { error, file: self });
        };
        let moved = match &entry.res {
            Res::Named(named) => {
                let session = ticket.session();
                // The name must still hold the file behind our fd.
                let same =
                    rustix::fs::statat(session.dir(), &named.name, AtFlags::SYMLINK_NOFOLLOW)
                        .map(|st| FileId::of_stat(&st) == named.id)
                        .map_err(io::Error::from);
                match same {
                    Ok(true) => fsops::rename_at(
                        session.dir(),
                        &named.name,
                        rustix::fs::CWD,
                        dest,
                        noclobber,
                    )
                    .map_err(|e| with_path(e, "persist to", dest)),
                    Ok(false) => Err(crate::error::replaced("persist", self.path())),
                    Err(e) => Err(with_path(e, "persist", self.path())),
                }
            }
            Res::Handle { .. } | Res::Anonymous(_) => {
                Err(io::Error::other("tempreg: not a named entry"))
            }
        };
        match moved {
            Ok(()) => {
                // The entry is claimed, so dropping the path guard does nothing.
                let TempFile { path, file } = self;
                drop(path);
                Ok(file)
            }
            Err(error) => {
                ticket.restore(entry);
                Err(PersistError { error, file: self })
            }
        }
    }

    /// Stops tracking the file and moves it out of the session directory into
    /// the registry's root (see [`TempPath::keep`]); returns the open file
    /// and its new path.
    ///
    /// # Errors
    ///
    /// If the move fails; the file then stays tracked.
    pub fn keep(self) -> io::Result<(File, PathBuf)> {
        let TempFile { path, file } = self;
        let kept = path.keep()?;
        Ok((file, kept))
    }
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

impl AsFd for TempFile {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}

impl AsRawFd for TempFile {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Read for TempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        self.file.read_vectored(bufs)
    }
    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.file.read_to_end(buf)
    }
}

impl Write for TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.file.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Seek for TempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file.seek(pos)
    }
}

impl Read for &TempFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }
}

impl Write for &TempFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        (&self.file).flush()
    }
}

impl Seek for &TempFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        (&self.file).seek(pos)
    }
}

/// A failed [`TempFile::persist`]: the error, and the file, still tracked.
pub struct PersistError {
    /// What went wrong; the message names the destination.
    pub error: io::Error,
    /// The temp file, unchanged and still tracked.
    pub file: TempFile,
}

impl PersistError {
    /// The temp file back, to retry or to drop.
    pub fn into_file(self) -> TempFile {
        self.file
    }
}

impl fmt::Debug for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistError")
            .field("error", &self.error)
            .field("file", &self.file)
            .finish()
    }
}

impl fmt::Display for PersistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "failed to persist temp file `{}`: {}",
            self.file.path().display(),
            self.error
        )
    }
}

impl StdError for PersistError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.error)
    }
}

impl From<PersistError> for io::Error {
    fn from(e: PersistError) -> io::Error {
        // Dropping the file here removes it, as a `?` caller expects.
        e.error
    }
}

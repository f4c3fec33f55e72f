//! [`TempPath`]: a tracked temp file without an open fd.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use super::PathPersistError;
use crate::tracking::core::Ticket;

/// A temp file tracked by path only, holding no file descriptor.
///
/// Made by [`TempFile::into_temp_path`](crate::TempFile::into_temp_path). A
/// batch job can hold 100,000 of these with no fds open. The file is removed
/// when this is dropped or closed, or when the registry is purged.
///
/// # Security
///
/// Removal checks that the name still holds the file we created (same
/// device, inode and type, and birth time where the file system records it;
/// not a symlink) before unlinking it, relative to the session directory's
/// fd. Without an open fd the inode is not pinned: if our file is removed
/// and a new regular file made at the same name gets the same inode number
/// (ext4 hands a freed inode to the next file made in the same directory),
/// the birth time tells them apart, except on a file system that records
/// none, or when both were made within the same tick of the kernel's clock
/// (about 4 ms). A file moved into place was made while ours existed, so it
/// is always another inode. Only a process of the same user (or root) can
/// act inside the 0700 session directory at all.
///
/// # Resource leaking
///
/// As for every guard: nothing runs on SIGKILL; see the crate docs. In a
/// child forked without exec, dropping it does nothing: the file is the
/// parent's.
pub struct TempPath {
    ticket: Ticket,
    path: PathBuf,
}

impl TempPath {
    pub(crate) fn new(ticket: Ticket, path: PathBuf) -> TempPath {
        TempPath { ticket, path }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    ///
    /// # Errors
    ///
    /// If the file could not be removed (it stays tracked, for the next
    /// purge or the registry's end), or its name now holds another file or a
    /// symlink (left alone; [`is_replaced_error`](crate::is_replaced_error)).
    pub fn close(self) -> io::Result<()> {
        self.ticket.close("remove", &self.path)
    }

    /// Stops tracking the file and moves it out of the session directory into
    /// the registry's root, where no clean-up of ours touches it. Returns the
    /// new path: the same file name if it is free in the root, else that name
    /// with a random suffix.
    ///
    /// # Errors
    ///
    /// If the move fails, the error holds this `TempPath`, still tracked:
    /// retry, or drop it to remove the file. If a purge took the file
    /// already, the error is a [closed](crate::is_closed_error) one.
    pub fn keep(self) -> Result<PathBuf, PathPersistError> {
        match self.ticket.keep(&self.path) {
            Ok(kept) => Ok(kept),
            Err(error) => Err(PathPersistError { error, path: self }),
        }
    }

    pub(crate) fn ticket(&self) -> &Ticket {
        &self.ticket
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        self.ticket.close_quietly(&self.path);
    }
}

impl fmt::Debug for TempPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.path.fmt(f)
    }
}

impl Deref for TempPath {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TempPath {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<OsStr> for TempPath {
    fn as_ref(&self) -> &OsStr {
        self.path.as_os_str()
    }
}

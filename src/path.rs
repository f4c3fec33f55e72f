//! [`TempPath`]: a tracked temp file without an open fd.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};

use crate::registry::Ticket;

/// A temp file tracked by path only, holding no file descriptor.
///
/// Made by [`TempFile::into_temp_path`](crate::TempFile::into_temp_path). A
/// batch job can hold 100,000 of these with no fds open. The file is removed
/// when this is dropped or closed, or when the registry is purged.
///
/// # Security
///
/// Removal checks that the name still holds the file we created (same
/// device and inode, not a symlink) before unlinking it, relative to the
/// session directory's fd. Without an open fd the inode is not pinned: if the
/// file were removed and a new file happened to get the same inode number at
/// the same name, the check would pass. Only a process of the same user (or
/// root) can act inside the 0700 session directory at all.
///
/// # Resource leaking
///
/// As for every guard: nothing runs on SIGKILL; see the crate docs.
pub struct TempPath {
    ticket: Ticket,
    path: PathBuf,
    /// Cleared when a failed `keep` leaves the entry tracked: Drop must then
    /// leave the file to the next purge rather than delete it at once.
    armed: bool,
}

impl TempPath {
    pub(crate) fn new(ticket: Ticket, path: PathBuf) -> TempPath {
        TempPath {
            ticket,
            path,
            armed: true,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    ///
    /// # Errors
    ///
    /// If the file could not be removed (it stays tracked), or its name now
    /// holds another file or a symlink (left alone).
    pub fn close(self) -> io::Result<()> {
        self.ticket.close_named("remove", &self.path)
    }

    /// Stops tracking the file and moves it out of the session directory into
    /// the registry's root, where no clean-up of ours touches it. Returns the
    /// new path: the same file name if it is free in the root, else that name
    /// with a random suffix.
    ///
    /// # Errors
    ///
    /// If the move fails; the file then stays tracked (and is removed by the
    /// next purge or when the registry ends).
    pub fn keep(mut self) -> io::Result<PathBuf> {
        let kept = self.ticket.move_out(&self.path);
        if kept.is_err() {
            self.armed = false;
        }
        kept
    }

    pub(crate) fn ticket(&self) -> &Ticket {
        &self.ticket
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if self.armed {
            self.ticket.drop_named(&self.path);
        }
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

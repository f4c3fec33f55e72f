//! [`TempDir`]: a tracked temp directory.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::DirPersistError;
use crate::tracking::core::{Core, Ticket};
use crate::tracking::entry::{Entry, EntryKind, Handle};
use crate::tracking::naming::NameSpec;

/// A temp directory (mode 0700) in the session directory, removed with its
/// contents when dropped or closed, or when the registry is purged.
///
/// # Security
///
/// Removal opens the directory relative to the session directory without
/// following a symlink, checks it is the directory we created (device and
/// inode, and birth time where the file system records it), and removes its
/// contents through fds: a symlink inside (or put in its place) is unlinked
/// as a name, never followed, and a file system mounted inside is left
/// alone, so nothing outside the directory is touched.
///
/// # Resource leaking
///
/// A mount inside stays (with the directories above it), and the removal
/// reports it. Nothing runs on SIGKILL; see the crate docs.
pub struct TempDir {
    ticket: Ticket,
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn create(core: &Arc<Core>, spec: &NameSpec) -> io::Result<TempDir> {
        core.check_open()?;
        let name = spec.create_dir(&core.session)?;
        let path = core.session.child(&name.name);
        let mut entry = Entry::new(EntryKind::TempDir, Some(name), Handle::None);
        entry.cleanup = !spec.disable_cleanup;
        let ticket = core.track(entry)?;
        Ok(TempDir { ticket, path })
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and its contents now (even if clean-up was
    /// disabled).
    ///
    /// # Errors
    ///
    /// If something could not be removed (the directory stays tracked);
    /// `NotFound` if it was already gone (as `tempfile`); if the name now
    /// holds something else, that is left alone and the error says so
    /// ([`is_replaced_error`](crate::is_replaced_error)).
    pub fn close(self) -> io::Result<()> {
        self.ticket.close("remove directory", &self.path)
    }

    /// Stops tracking the directory and moves it out of the session directory
    /// into the registry's root, where no clean-up of ours touches it; returns
    /// its new path (the same name if free in the root, else with a random
    /// suffix).
    ///
    /// # Errors
    ///
    /// If the move fails, the error holds this `TempDir`, still tracked:
    /// retry, or drop it to remove the directory. If a purge took it
    /// already, the error is a [closed](crate::is_closed_error) one.
    pub fn keep(self) -> Result<PathBuf, DirPersistError> {
        match self.ticket.keep(&self.path) {
            Ok(kept) => Ok(kept),
            Err(error) => Err(DirPersistError { error, dir: self }),
        }
    }
}

impl TempDir {
    /// Turns clean-up off (`true`) or back on. While it is off, no purge
    /// removes the directory, and dropping this guard leaves it where it
    /// is: then the session directory around it is kept when the registry
    /// ends (marked kept, which no sweep removes), unless the directory is
    /// gone by then. [`close`](Self::close) still removes it. For debugging;
    /// to keep a directory, prefer [`keep`](Self::keep), which moves it out
    /// of the session directory.
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        self.ticket.set_cleanup(!disable_cleanup);
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        self.ticket.close_quietly(&self.path);
    }
}

impl fmt::Debug for TempDir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TempDir").field(&self.path).finish()
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

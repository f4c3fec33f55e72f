//! [`TempDir`]: a tracked temp directory.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::entry::Res;
use crate::registry::Ticket;

/// A temp directory (mode 0700) in the session directory, removed with its
/// contents when dropped or closed, or when the registry is purged.
///
/// # Security
///
/// Removal opens the directory relative to the session directory with
/// `O_NOFOLLOW`, checks it is the directory we created, and removes its
/// contents through fds: a symlink inside (or put in its place) is unlinked
/// as a name, never followed, so nothing outside the directory is touched.
pub struct TempDir {
    ticket: Ticket,
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(ticket: Ticket, path: PathBuf) -> TempDir {
        TempDir { ticket, path }
    }

    /// The directory's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the directory and its contents now.
    ///
    /// # Errors
    ///
    /// If something could not be removed (the directory stays tracked), or
    /// the name now holds something else (left alone).
    pub fn close(self) -> io::Result<()> {
        self.ticket.close_named("remove directory", &self.path)
    }

    /// Stops tracking the directory and moves it out of the session directory
    /// into the registry's root, where no clean-up of ours touches it; returns
    /// its new path (the same name if free in the root).
    ///
    /// If the move fails, the directory is left where it is and marked kept:
    /// the final removal of the session leaves it, and the session directory
    /// around it, in place (a warning is logged). If the directory was
    /// already purged, its old path is returned.
    pub fn keep(self) -> PathBuf {
        match self.ticket.move_out(&self.path) {
            Ok(path) => path,
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "tempreg kept a temp dir in place");
                if let Some(entry) = self.ticket.claim() {
                    if let Res::Named(named) = &entry.res {
                        self.ticket.session().mark_kept(&named.name);
                    }
                }
                self.path.clone()
            }
        }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        self.ticket.drop_named(&self.path);
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

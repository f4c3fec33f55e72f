//! [`TempPath`]: a tracked temp file without an open fd.

use std::ffi::OsStr;
use std::fmt;
use std::fs::File;
use std::io;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::PathPersistError;
use crate::error::{purged, replaced, with_path};
use crate::sys;
use crate::tracking::core::{Core, Ticket};
use crate::tracking::entry::{Entry, EntryKind, Handle, TrackedName};
use crate::tracking::naming::NameSpec;

/// A temp file tracked by path only, holding no file descriptor.
///
/// Made by [`TempFile::into_temp_path`](crate::TempFile::into_temp_path),
/// by [`TempOptions::make`](crate::TempOptions::make) (a socket, a FIFO,
/// anything a closure makes), or adopted from an existing file with
/// [`ResourceRegistry::adopt`](crate::ResourceRegistry::adopt) and
/// [`TempPath::try_from_path`]. A batch job can hold 100,000 of these with
/// no fds open. The file is removed when this is dropped or closed, or when
/// the registry is purged.
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
/// An adopted path outside the session directory is removed the same way,
/// relative to its own directory, opened by path for each removal (a
/// symlink in the directory's path is followed, as a user naming the file
/// expects; the name itself never is): the identity recorded at adoption
/// must match, so a file that replaced it is never removed. That directory
/// is not private, so anyone who may write to it can remove or replace the
/// name; then nothing of theirs is deleted.
///
/// # Resource leaking
///
/// As for every guard: nothing runs on SIGKILL; see the crate docs. An
/// adopted path outside the session directory is not in any session, so no
/// sweep finds it after a SIGKILL. In a child forked without exec, dropping
/// it does nothing: the file is the parent's.
pub struct TempPath {
    ticket: Ticket,
    path: PathBuf,
}

impl TempPath {
    pub(crate) fn new(ticket: Ticket, path: PathBuf) -> TempPath {
        TempPath { ticket, path }
    }

    /// Makes a name in the session through `make` (see
    /// [`TempOptions::make`](crate::TempOptions::make)).
    pub(crate) fn make<R>(
        core: &Arc<Core>,
        spec: &NameSpec,
        make: impl FnMut(&Path) -> io::Result<R>,
    ) -> io::Result<(R, TempPath)> {
        core.check_open()?;
        let (made, name) = spec.create_with(&core.session, make)?;
        let path = core.session.child(&name.name);
        let kind = if name.id.is_dir() {
            EntryKind::TempDir
        } else {
            EntryKind::TempFile
        };
        let mut entry = Entry::new(kind, Some(name), Handle::None);
        entry.cleanup = !spec.disable_cleanup;
        let ticket = core.track(entry)?;
        Ok((made, TempPath { ticket, path }))
    }

    /// Adopts the file at `path` (made absolute against the working
    /// directory): records its identity now and tracks it in `core`.
    pub(crate) fn adopt(core: &Arc<Core>, path: &Path) -> io::Result<TempPath> {
        core.check_open()?;
        let path = absolute(path)?;
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            let e = io::Error::new(io::ErrorKind::InvalidInput, "it names no file");
            return Err(with_path(e, "adopt", &path));
        };
        let dir = sys::Dir::open(parent).map_err(|e| with_path(e, "adopt", &path))?;
        let id = sys::identify(&dir, name)
            .map_err(|e| with_path(e, "adopt", &path))?
            .ok_or_else(|| with_path(io::ErrorKind::NotFound, "adopt", &path))?;
        if id.is_dir() {
            let e = io::Error::new(
                io::ErrorKind::IsADirectory,
                "a TempPath adopts a file; use a TempDir for a directory",
            );
            return Err(with_path(e, "adopt", &path));
        }
        let name = TrackedName {
            name: sys::Name::new(name).map_err(|e| with_path(e, "adopt", &path))?,
            id,
            outside: Some(parent.into()),
        };
        let ticket = core.track(Entry::new(EntryKind::TempFile, Some(name), Handle::None))?;
        Ok(TempPath { ticket, path })
    }

    /// Adopts an existing file as a temp path of the process-wide registry
    /// ([`global`](crate::global())): it is removed when the guard is dropped
    /// or closed, or when that registry is purged (at exit, on a panic that
    /// ends the process, or by a handler you installed), like a temp file of
    /// its own. See [`ResourceRegistry::adopt`](crate::ResourceRegistry::adopt).
    ///
    /// # Errors
    ///
    /// As [`ResourceRegistry::adopt`](crate::ResourceRegistry::adopt), or if
    /// the process-wide registry cannot be made.
    pub fn try_from_path(path: impl Into<PathBuf>) -> io::Result<TempPath> {
        let path = path.into();
        crate::global()?.adopt(path)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the file now and returns any error, which Drop would swallow.
    /// It removes the file even if clean-up was disabled.
    ///
    /// # Errors
    ///
    /// If the file could not be removed (it stays tracked, for the next
    /// purge or the registry's end); `NotFound` if it was already gone
    /// (someone else removed or moved it; as `tempfile`); if its name now
    /// holds another file or a symlink, that is left alone and the error
    /// says so ([`is_replaced_error`](crate::is_replaced_error)).
    pub fn close(self) -> io::Result<()> {
        self.ticket.close("remove", &self.path)
    }

    /// Stops tracking the file and moves it out of the session directory into
    /// the registry's root, where no clean-up of ours touches it. Returns the
    /// new path: the same file name if it is free in the root, else that name
    /// with a random suffix. An adopted path
    /// ([`try_from_path`](Self::try_from_path)) is outside the session
    /// already: it stays where it is.
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

    /// Moves the file to `dest`, replacing what is there, and stops tracking
    /// it. The name is moved only if it still holds the file this guard made
    /// or adopted.
    ///
    /// # Errors
    ///
    /// If the rename fails (`dest` on another file system, its directory
    /// missing), the error holds this `TempPath`, still tracked. If the name
    /// no longer holds our file, nothing is moved
    /// ([`is_replaced_error`](crate::is_replaced_error)); if a purge took
    /// it, the error is a [closed](crate::is_closed_error) one.
    pub fn persist(self, dest: impl AsRef<Path>) -> Result<(), PathPersistError> {
        self.persist_inner(dest.as_ref(), false)
    }

    /// Like [`persist`](Self::persist), but fails with `AlreadyExists` rather
    /// than replace an existing `dest`.
    ///
    /// # Errors
    ///
    /// As for [`persist`](Self::persist).
    pub fn persist_noclobber(self, dest: impl AsRef<Path>) -> Result<(), PathPersistError> {
        self.persist_inner(dest.as_ref(), true)
    }

    fn persist_inner(self, dest: &Path, noclobber: bool) -> Result<(), PathPersistError> {
        match self.ticket.persist(&self.path, dest, noclobber) {
            Ok(()) => Ok(()),
            Err(error) => Err(PathPersistError { error, path: self }),
        }
    }

    /// Turns clean-up off (`true`) or back on. While it is off, no purge
    /// removes the file, and dropping this guard leaves it where it is:
    /// then the session directory around it is kept when the registry ends
    /// (marked kept, which no sweep removes), unless the file is gone by
    /// then. [`close`](Self::close) still removes it. For debugging; to keep
    /// a file, prefer [`keep`](Self::keep), which moves it out of the
    /// session directory.
    pub fn disable_cleanup(&mut self, disable_cleanup: bool) {
        self.ticket.set_cleanup(!disable_cleanup);
    }

    /// Opens the file again, checked to be the file this guard tracks.
    pub(crate) fn reopen(&self) -> io::Result<File> {
        let Some(name) = self.ticket.name() else {
            return Err(purged(io::ErrorKind::NotFound, "reopen", &self.path));
        };
        let session = self.ticket.session();
        let dir = name
            .dir(session)
            .map_err(|e| with_path(e, "reopen", &self.path))?
            .ok_or_else(|| with_path(io::ErrorKind::NotFound, "reopen", &self.path))?;
        match sys::reopen_file(&dir, &name.name, &name.id) {
            Ok(Some(file)) => Ok(file),
            Ok(None) => Err(replaced("reopen", &self.path)),
            Err(e) => Err(with_path(e, "reopen", &self.path)),
        }
    }

    pub(crate) fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// This guard's entry and path, moved into a new guard; this one acts
    /// on nothing from now on (its drop does nothing). How a guard with a
    /// `Drop` of its own hands its path on.
    pub(crate) fn take(&mut self) -> TempPath {
        TempPath {
            ticket: self.ticket.hand_over(),
            path: std::mem::take(&mut self.path),
        }
    }

    /// The drop of a guard that owns the file too: removes the name and
    /// closes `file` (let go of by the guard) in one call (see
    /// `Ticket::close_quietly_closing`); this guard acts on nothing after.
    pub(crate) fn drop_closing(&mut self, file: Option<File>) {
        self.ticket.close_quietly_closing(&self.path, file);
        self.ticket.disarm();
    }
}

/// `path` made absolute against the working directory, as `tempfile` does
/// (no `.` or `..` resolved, no symlink followed).
pub(crate) fn absolute(path: &Path) -> io::Result<PathBuf> {
    if path.as_os_str().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot make a TempPath from an empty path",
        ));
    }
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(path))
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

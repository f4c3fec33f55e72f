//! [`HeldFile`]: a sync guard's own file, and the purge's hold on it.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::purged;
use crate::sys::FileId;
use crate::tracking::core::Core;
use crate::tracking::sync_handle::SyncHandle;

/// The file of a [`TempFile`](crate::TempFile) or
/// [`AnonymousFile`](crate::AnonymousFile): owned by the guard, revocable by
/// a purge through the [`SyncHandle`] its entry holds.
///
/// It holds its registry until the file is closed, so that a guard that
/// outlives its registry ends it (removing the session directory) only
/// once the file is closed: where a deleted file keeps its name until its
/// last handle closes (Windows without POSIX delete semantics: FAT, Wine),
/// the directory is not empty before.
#[derive(Debug)]
pub(crate) struct HeldFile {
    /// Present until the guard lets go of it (drop, `into_file`).
    file: Option<File>,
    handle: Arc<SyncHandle>,
    /// Dropped after the file is closed (see above).
    _registry: Arc<Core>,
}

impl HeldFile {
    /// Holds `file` (whose identity is `known`, if the caller has it) for a
    /// guard of `core`; the handle goes into the guard's entry.
    pub(crate) fn new(
        file: File,
        known: Option<FileId>,
        core: &Arc<Core>,
    ) -> (HeldFile, Arc<SyncHandle>) {
        let handle = SyncHandle::new(&file, known);
        let held = HeldFile {
            file: Some(file),
            handle: Arc::clone(&handle),
            _registry: Arc::clone(core),
        };
        (held, handle)
    }

    /// The file, whatever its state (after a purge, every read and write
    /// through it fails).
    pub(crate) fn get(&self) -> &File {
        self.file
            .as_ref()
            .expect("a held file is present until it is let go")
    }

    pub(crate) fn get_mut(&mut self) -> &mut File {
        self.file
            .as_mut()
            .expect("a held file is present until it is let go")
    }

    /// The file for I/O through the guard, or the closed error (see
    /// [`is_closed_error`](crate::is_closed_error)) once a purge revoked it.
    pub(crate) fn usable(&self, path: &Path) -> io::Result<&File> {
        if self.handle.is_revoked() {
            Err(purged(io::ErrorKind::Other, "use", path))
        } else {
            Ok(self.get())
        }
    }

    pub(crate) fn usable_mut(&mut self, path: &Path) -> io::Result<&mut File> {
        if self.handle.is_revoked() {
            Err(purged(io::ErrorKind::Other, "use", path))
        } else {
            Ok(self.get_mut())
        }
    }

    pub(crate) fn is_revoked(&self) -> bool {
        self.handle.is_revoked()
    }

    /// Lets go of the file for the guard's drop: the file, for the caller
    /// to close, or `None` if a purge revoking it this moment was handed it
    /// (or it was let go already).
    pub(crate) fn let_go(&mut self) -> Option<File> {
        let file = self.file.take()?;
        self.handle.release_to_close(file)
    }

    /// This holder's file, handle and registry, moved into a new holder;
    /// this one holds nothing from now on (its drop does nothing). How a
    /// guard with a `Drop` of its own hands its file on.
    pub(crate) fn take(&mut self) -> HeldFile {
        HeldFile {
            file: self.file.take(),
            handle: Arc::clone(&self.handle),
            _registry: Arc::clone(&self._registry),
        }
    }

    /// Stops tracking the file and hands it over (waiting for a purge that is
    /// revoking it this moment).
    pub(crate) fn into_file(mut self) -> File {
        self.handle.detach();
        self.file
            .take()
            .expect("a held file is present until it is let go")
    }
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            self.handle.release(file);
        }
    }
}

//! The purge's hold on a sync file that a guard owns ([`TempFile`],
//! [`AnonymousFile`]): enough to close it from another thread without ever
//! closing an fd number the guard might still use.
//!
//! The guard owns its `File` (so `as_file_mut` and `into_parts` work as with
//! `tempfile`); the entry holds this, shared. A purge *revokes* the file:
//! the open file behind the guard's fd is swapped for a dead one
//! ([`sys::revoke`]), which frees an unlinked file's space at once and makes
//! every later read or write fail, while the fd number stays the guard's
//! until it is dropped, so no other file can be hit. The swap is made only
//! while the fd still holds the file tracked (same identity): a guard whose
//! `File` was replaced through `as_file_mut` has given the old fd number
//! back, and it may hold any file of the process by now.
//!
//! # Invariants
//!
//! - The fd is revoked only while the state is `Revoking`, which only the
//!   purge sets (from `Open`), and while it is `Revoking` the guard never
//!   closes its fd: a guard dropped then hands its `File` over, and the
//!   purge closes it after the swap. A guard giving its file away
//!   (`into_parts`, `persist`) waits for the swap to finish.
//! - The mutex is held only to read or change the state, never during the
//!   swap (which may block where closing a file flushes it, as on NFS).
//!
//! [`TempFile`]: crate::TempFile
//! [`AnonymousFile`]: crate::AnonymousFile

use std::fs::File;
use std::io;
use std::sync::Arc;

use crate::loom::atomic::{AtomicBool, Ordering};
use crate::loom::{Condvar, Mutex, MutexGuard};
use crate::sys;

#[derive(Debug)]
enum State {
    /// The guard holds the file open.
    Open,
    /// A purge is swapping it out.
    Revoking,
    /// A guard dropped during the swap left its file for the purge to close
    /// (by dropping this state).
    HandedOver(#[allow(dead_code)] File),
    /// Revoked by a purge.
    Revoked,
    /// The guard closed it, or took it out of tracking.
    Released,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct SyncHandle {
    raw: sys::RawFile,
    state: Mutex<State>,
    changed: Condvar,
    revoked: AtomicBool,
}

impl SyncHandle {
    /// Starts tracking `file`, which the guard keeps; `known` is its
    /// identity if the caller has it (else it is looked up).
    pub(crate) fn new(file: &File, known: Option<sys::FileId>) -> Arc<SyncHandle> {
        Arc::new(SyncHandle {
            raw: sys::RawFile::of(file, known),
            state: Mutex::new(State::Open),
            changed: Condvar::new(),
            revoked: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once a purge revoked the file.
    pub(crate) fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    /// Revokes the file, for a purge. `Ok(true)` if it was open and is
    /// revoked now, `Ok(false)` if the guard had let go of it already, or
    /// its fd no longer holds the file tracked (the owner replaced the
    /// `File` through `as_file_mut`: what it holds now is its own).
    pub(crate) fn revoke(&self) -> io::Result<bool> {
        {
            let mut state = self.lock();
            if !matches!(*state, State::Open) {
                return Ok(false);
            }
            *state = State::Revoking;
        }
        // SAFETY: the state is `Revoking`, in which the guard never closes
        // or gives away its fd (see the module invariants), so `raw` stays
        // open until the state changes below.
        let swapped = unsafe { sys::revoke(self.raw) };
        let handed_over = {
            let mut state = self.lock();
            let done = matches!(swapped, Ok(true));
            let next = if done { State::Revoked } else { State::Open };
            let previous = std::mem::replace(&mut *state, next);
            if done {
                self.revoked.store(true, Ordering::Release);
            } else if let State::HandedOver(_) = previous {
                // The guard is gone: nobody will use the fd again.
                *state = State::Released;
            }
            previous
        };
        self.changed.notify_all();
        // Closes the guard's fd if it was handed over (after the swap, a
        // dead fd; after a failed swap, ours: the guard is gone either way).
        drop(handed_over);
        swapped
    }

    /// The guard lets go of the file, which it keeps using as its own
    /// (`into_parts`, `persist`, `into_file`): waits for a swap in progress,
    /// then stops tracking. Returns true if the file was revoked.
    pub(crate) fn detach(&self) -> bool {
        let mut state = self.lock();
        while matches!(*state, State::Revoking) {
            state = self.changed.wait(state).unwrap_or_else(|p| p.into_inner());
        }
        let revoked = matches!(*state, State::Revoked);
        *state = State::Released;
        revoked
    }

    /// The guard is dropped: closes `file` now, or, if a purge is swapping
    /// it out this moment, hands it over to be closed after the swap. Never
    /// waits.
    pub(crate) fn release(&self, file: File) {
        drop(self.release_to_close(file));
    }

    /// [`release`](Self::release), leaving the closing to the caller: the
    /// file back if it is the caller's to close (after the state lock is
    /// let go), `None` if a purge was handed it. Never waits.
    pub(crate) fn release_to_close(&self, file: File) -> Option<File> {
        let mut state = self.lock();
        if matches!(*state, State::Revoking) {
            *state = State::HandedOver(file);
            return None;
        }
        *state = State::Released;
        Some(file)
    }
}

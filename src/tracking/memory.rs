//! The bytes of a spooled file still in memory
//! ([`SpooledTempFile`](crate::SpooledTempFile)), shared by its guard and its
//! entry, so that a purge can free them as it closes a file.
//!
//! # Invariants
//!
//! - The bytes are present (`Some`) until the guard takes them (a roll to
//!   disk, `into_inner`) or a purge frees them; after a purge `freed` is
//!   set and stays set, and every use through the guard fails with the
//!   [closed](crate::is_closed_error) error.
//! - The mutex is held for one read, write, seek or resize of the guard
//!   (a copy in memory, no I/O), or to take the bytes out or put them back
//!   (a roll to disk writes them with no lock held); a purge only tries it
//!   (`try_lock`), and reports the entry busy rather than wait.

use std::io::Cursor;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// See the module docs.
#[derive(Debug)]
pub(crate) struct MemoryHandle {
    bytes: Mutex<Option<Cursor<Vec<u8>>>>,
    freed: AtomicBool,
}

impl MemoryHandle {
    pub(crate) fn new() -> Arc<MemoryHandle> {
        Arc::new(MemoryHandle {
            bytes: Mutex::new(Some(Cursor::new(Vec::new()))),
            freed: AtomicBool::new(false),
        })
    }

    /// The bytes, for one operation of the guard; `None` inside once taken
    /// or freed. A poisoned lock is still usable: a panic inside one
    /// operation leaves a valid `Cursor`.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Cursor<Vec<u8>>>> {
        self.bytes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True once a purge freed the bytes.
    pub(crate) fn is_freed(&self) -> bool {
        self.freed.load(Ordering::Acquire)
    }

    /// Frees the bytes, for a purge, without waiting: `Ok(true)` if it did,
    /// `Ok(false)` if the guard had taken them already, `Err(())` if the
    /// guard is using them this moment (busy).
    pub(crate) fn try_free(&self) -> Result<bool, ()> {
        let mut bytes = match self.bytes.try_lock() {
            Ok(bytes) => bytes,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(()),
        };
        let taken = bytes.take();
        if taken.is_some() {
            self.freed.store(true, Ordering::Release);
        }
        drop(bytes);
        // The memory goes back here, outside the lock.
        Ok(taken.is_some())
    }
}

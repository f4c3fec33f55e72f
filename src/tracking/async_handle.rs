//! An async file shared by its guard ([`TrackedFile`](crate::TrackedFile))
//! and its entry, so that a purge can flush and close it.
//!
//! # Invariants
//!
//! - The mutex is held for one non-blocking `poll_*` call of the guard, or
//!   to take the file out or put it back; never across I/O that can block,
//!   an `.await`, or a call into the registry.
//! - Whoever takes the file away wakes the task parked on the guard (its
//!   waker is kept here), so it sees the new state instead of sleeping
//!   forever.

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::Waker;

/// Where an async handle's file is.
#[derive(Debug)]
pub(crate) enum AsyncState {
    Open(tokio::fs::File),
    /// Closed by a purge; the guard's I/O now fails.
    Purged,
    /// Closed by the guard itself.
    Closed,
}

#[derive(Debug)]
pub(crate) struct AsyncInner {
    pub(crate) state: AsyncState,
    /// The waker of the last guard poll that returned `Pending`.
    pub(crate) waiter: Option<Waker>,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct AsyncHandle(Mutex<AsyncInner>);

impl AsyncHandle {
    pub(crate) fn new(file: tokio::fs::File) -> Arc<AsyncHandle> {
        Arc::new(AsyncHandle(Mutex::new(AsyncInner {
            state: AsyncState::Open(file),
            waiter: None,
        })))
    }

    /// Locks the handle; a poisoned lock is still usable (its state is a
    /// plain value, valid whatever the panicking thread was doing).
    pub(crate) fn lock(&self) -> MutexGuard<'_, AsyncInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn swap_out(
        mut inner: MutexGuard<'_, AsyncInner>,
        next: AsyncState,
    ) -> Option<tokio::fs::File> {
        match std::mem::replace(&mut inner.state, next) {
            AsyncState::Open(file) => {
                let waiter = inner.waiter.take();
                drop(inner);
                if let Some(w) = waiter {
                    w.wake();
                }
                Some(file)
            }
            other => {
                inner.state = other;
                None
            }
        }
    }

    /// Takes the file out, leaving `next` behind. `None` if it was not open.
    pub(crate) fn take(&self, next: AsyncState) -> Option<tokio::fs::File> {
        AsyncHandle::swap_out(self.lock(), next)
    }

    /// Like [`take`](Self::take), but never waits for the lock: `Err(())` if
    /// the guard is in the middle of a poll on another thread.
    pub(crate) fn try_take(&self, next: AsyncState) -> Result<Option<tokio::fs::File>, ()> {
        let inner = match self.0.try_lock() {
            Ok(inner) => inner,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Err(()),
        };
        Ok(AsyncHandle::swap_out(inner, next))
    }

    /// Puts a file back (a purge that could not finish with it: busy, or a
    /// flush that failed) and wakes the guard's task, whose waker the
    /// purge's poll may have displaced.
    pub(crate) fn put_back(&self, file: tokio::fs::File) {
        let mut inner = self.lock();
        inner.state = AsyncState::Open(file);
        let waiter = inner.waiter.take();
        drop(inner);
        if let Some(w) = waiter {
            w.wake();
        }
    }

    /// True once a purge closed it.
    pub(crate) fn is_purged(&self) -> bool {
        matches!(self.lock().state, AsyncState::Purged)
    }
}

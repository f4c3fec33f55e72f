//! Entries: what the registry knows about each live resource, and how one is
//! cleaned.
//!
//! # Invariants
//!
//! - An entry is cleaned by whoever takes it out of the table: a guard's Drop
//!   or `close`, a purge, or the final removal. `DashMap::remove` hands it to
//!   exactly one of them, so nothing is cleaned twice and nothing is cleaned
//!   while still listed.
//! - Cleaning happens after the entry has left the table, so no map shard is
//!   held during the I/O, and a guard's Drop that re-enters the registry finds
//!   no lock held by its caller.
//! - The only lock an entry holds is its handle's [`Slot`] mutex, which is
//!   taken for a `poll_*` call or a `mem::replace`, never across I/O that can
//!   block or an `.await`. It is never held while calling into the registry.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

use crate::fsops::{self, FileId, Removal};
use crate::session::Session;

/// What kind of resource an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// A named temp file in the session directory ([`TempFile`](crate::TempFile)
    /// or [`TempPath`](crate::TempPath)): unlinked on purge.
    TempFile,
    /// A temp directory in the session directory: removed with its contents on purge.
    TempDir,
    /// An async temp file ([`TrackedFile`](crate::TrackedFile) from
    /// `temp_file_async`): closed and unlinked on purge.
    AsyncTempFile,
    /// A caller's file opened through the registry: flushed and closed on
    /// purge, never deleted.
    OpenFile,
    /// An unnamed file (`O_TMPFILE`): closed on purge, freed by the kernel.
    AnonymousFile,
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EntryKind::TempFile => "temp file",
            EntryKind::TempDir => "temp dir",
            EntryKind::AsyncTempFile => "async temp file",
            EntryKind::OpenFile => "open file",
            EntryKind::AnonymousFile => "anonymous file",
        })
    }
}

/// A snapshot of one live entry, from [`ResourceRegistry::entries`](crate::ResourceRegistry::entries).
#[derive(Debug, Clone)]
pub struct EntryInfo {
    pub(crate) kind: EntryKind,
    pub(crate) path: PathBuf,
    pub(crate) age: Duration,
}

impl EntryInfo {
    /// What the entry is.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// How long ago it was registered.
    pub fn age(&self) -> Duration {
        self.age
    }
}

/// The state of an async handle, shared by its guard and its table entry.
#[derive(Debug)]
pub(crate) enum SlotState {
    Open(tokio::fs::File),
    /// Closed by a purge; the guard's I/O now fails.
    Purged,
    /// Closed by the guard itself.
    Closed,
}

#[derive(Debug)]
pub(crate) struct SlotInner {
    pub(crate) state: SlotState,
    /// The waker of the last guard poll that returned `Pending`. Whoever takes
    /// the file away wakes it, so a task parked on the guard sees the new
    /// state instead of sleeping forever.
    pub(crate) waiter: Option<Waker>,
}

/// An async handle's file, behind a mutex held only for one poll.
#[derive(Debug)]
pub(crate) struct Slot(Mutex<SlotInner>);

impl Slot {
    pub(crate) fn new(file: tokio::fs::File) -> Arc<Slot> {
        Arc::new(Slot(Mutex::new(SlotInner {
            state: SlotState::Open(file),
            waiter: None,
        })))
    }

    /// Locks the slot; a poisoned lock is still usable (its state is a plain
    /// value, valid whatever the panicking thread was doing).
    pub(crate) fn lock(&self) -> MutexGuard<'_, SlotInner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn swap_out(mut inner: MutexGuard<'_, SlotInner>, next: SlotState) -> Option<tokio::fs::File> {
        match std::mem::replace(&mut inner.state, next) {
            SlotState::Open(file) => {
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
    pub(crate) fn take(&self, next: SlotState) -> Option<tokio::fs::File> {
        Slot::swap_out(self.lock(), next)
    }

    /// Like [`take`](Self::take), but never waits for the lock: `Err(())` if
    /// the guard is in the middle of a poll on another thread.
    pub(crate) fn try_take(&self, next: SlotState) -> Result<Option<tokio::fs::File>, ()> {
        let inner = match self.0.try_lock() {
            Ok(inner) => inner,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return Err(()),
        };
        Ok(Slot::swap_out(inner, next))
    }

    /// Puts a file back (a blocking purge that found it mid-operation) and
    /// wakes the guard's task, whose waker the purge's poll displaced.
    pub(crate) fn put_back(&self, file: tokio::fs::File) {
        let mut inner = self.lock();
        inner.state = SlotState::Open(file);
        let waiter = inner.waiter.take();
        drop(inner);
        if let Some(w) = waiter {
            w.wake();
        }
    }
}

/// A path the registry created in its session directory.
#[derive(Debug, Clone)]
pub(crate) struct Named {
    pub(crate) name: OsString,
    pub(crate) id: FileId,
}

/// What the registry holds for one live resource.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) kind: EntryKind,
    pub(crate) created: Instant,
    pub(crate) res: Res,
}

#[derive(Debug)]
pub(crate) enum Res {
    /// A temp file or dir, by name in the session directory.
    Named(Named),
    /// A sync anonymous file.
    Anonymous(Arc<crate::anonymous::SyncSlot>),
    /// An async handle; `temp` is set for a temp file to unlink after closing.
    Handle {
        slot: Arc<Slot>,
        path: PathBuf,
        temp: Option<Named>,
    },
}

impl Entry {
    pub(crate) fn named(kind: EntryKind, name: OsString, id: FileId) -> Entry {
        Entry {
            kind,
            created: Instant::now(),
            res: Res::Named(Named { name, id }),
        }
    }

    pub(crate) fn path(&self, session: &Session) -> PathBuf {
        match &self.res {
            Res::Named(n) => session.child(&n.name),
            Res::Handle { path, .. } => path.clone(),
            Res::Anonymous(_) => session.path().join("(anonymous)"),
        }
    }

    pub(crate) fn info(&self, session: &Session) -> EntryInfo {
        EntryInfo {
            kind: self.kind,
            path: self.path(session),
            age: self.created.elapsed(),
        }
    }
}

/// Removes a named temp entry, checking its identity.
pub(crate) fn remove_named(
    session: &Session,
    kind: EntryKind,
    named: &Named,
) -> io::Result<Removal> {
    if kind == EntryKind::TempDir {
        fsops::remove_dir_at(session.dir(), &named.name, named.id)
    } else {
        fsops::remove_file_at(session.dir(), &named.name, named.id)
    }
}

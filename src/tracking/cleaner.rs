//! The cleaner: the one place a claimed entry becomes an [`Outcome`].
//!
//! Guards (drop and `close`), the purge, the reaper, the reserve and the
//! process-wide hooks all clean through [`clean_now`] (blocking) or
//! [`clean_async`] (an async handle's flush awaited, the rest on the
//! blocking pool). Every name goes through [`remove_name`], and so through
//! the platform layer's identity-checked removal.
//!
//! Cleaning an entry takes three steps, in this order:
//!
//! 1. an async handle is flushed (and `fdatasync`ed on request); if that
//!    fails, the file goes back to its guard and the entry stays tracked,
//!    so nothing written is dropped by us;
//! 2. its name is removed, while its fd (if any) is still open, so the
//!    inode cannot be freed and reused between the identity check and the
//!    unlink;
//! 3. its fd is closed: an async handle's file, or, for a purge, a sync
//!    guard's file revoked ([`SyncHandle`]), or a spooled file's bytes in
//!    memory freed. If step 2 failed, nothing is closed: the guard keeps a
//!    working handle and the retry does it all.
//!
//! # Invariants
//!
//! - The caller owns the entry (it claimed it) and holds no lock; an
//!   outcome whose [`keeps_tracking`](Outcome::keeps_tracking) is true means
//!   the caller must put the entry back.
//! - Every step is idempotent: a retry skips what is done (a closed handle
//!   stays closed, a removed name is `Gone`).
//!
//! [`SyncHandle`]: super::sync_handle::SyncHandle

use std::fs::File;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::async_handle::{AsyncHandle, AsyncState};
use super::core::Core;
use super::entry::{Entry, EntryKind, Handle, TrackedName};
use super::reaper::Reaper;
use crate::error::{replaced, with_path};
use crate::session::Session;
use crate::sys::{self, Removal};

/// What cleaning one entry came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Its name was removed.
    Removed,
    /// Its handle was closed; its name, if it has one, was removed
    /// (`removed`) or found gone (`gone`).
    Closed { removed: bool, gone: bool },
    /// Nothing was left to do: the name was gone, the handle closed.
    Gone,
    /// The name held another file or a symlink; it was left alone, and the
    /// entry is done with (we will never remove it).
    Replaced,
    /// An I/O error; the entry stays tracked.
    Failed(io::Error),
    /// The handle was in use on another thread and could not be closed
    /// without waiting; the entry stays tracked.
    Busy,
    /// A deadline passed first; the entry stays tracked (or, for a handle's
    /// flush, finishes in the background).
    TimedOut,
}

impl Outcome {
    /// True if the entry must go back into the table, to be retried by the
    /// next purge, its guard's drop, or the final removal.
    pub(crate) fn keeps_tracking(&self) -> bool {
        matches!(self, Outcome::Failed(_) | Outcome::Busy | Outcome::TimedOut)
    }

    /// The outcome as a guard's `close` returns it. A name found gone (not
    /// by a purge of ours: that never reaches here) is `NotFound`, as
    /// `tempfile`'s `close` says: someone else removed or moved the file.
    pub(crate) fn into_result(self, op: &'static str, path: &std::path::Path) -> io::Result<()> {
        match self {
            Outcome::Gone | Outcome::Closed { gone: true, .. } => Err(with_path(
                io::Error::new(
                    io::ErrorKind::NotFound,
                    "it was already gone: removed or moved by someone else",
                ),
                op,
                path,
            )),
            Outcome::Removed | Outcome::Closed { .. } => Ok(()),
            Outcome::Replaced => Err(replaced(op, path)),
            Outcome::Failed(e) => Err(e),
            Outcome::Busy => Err(with_path(
                io::Error::new(io::ErrorKind::ResourceBusy, "in use on another thread"),
                op,
                path,
            )),
            Outcome::TimedOut => Err(with_path(io::ErrorKind::TimedOut, op, path)),
        }
    }
}

/// Who is cleaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum By {
    /// The entry's own guard, which closes its sync file itself right after.
    Guard,
    /// A purge, the reaper or a hook: sync files are revoked.
    Purge,
}

/// Removes a tracked name from the session directory (or, for an adopted
/// path, from its own directory, opened now) if it still holds what we
/// made or adopted; a directory with its contents. With a `listing` (a large
/// purge), a file's identity may be judged from it.
pub(crate) fn remove_name(
    session: &Session,
    kind: EntryKind,
    name: &TrackedName,
    listing: Option<&sys::Listing>,
) -> io::Result<Removal> {
    remove_name_closing(session, kind, name, listing, None)
}

/// [`remove_name`], then closes `closing` (the file's own handle, held open
/// through the check so that its inode cannot be reused), whatever the
/// removal came to. A file's close is made by the same platform call as
/// its check and unlink ([`sys::remove_file_closing`]): here the first
/// return after a system call to a caller from before it costs about 300
/// ns (`benches/registry.rs`), and a guard's drop that returned between
/// its unlink and its close would pay it twice.
pub(crate) fn remove_name_closing(
    session: &Session,
    kind: EntryKind,
    name: &TrackedName,
    listing: Option<&sys::Listing>,
    closing: Option<File>,
) -> io::Result<Removal> {
    let Some(dir) = name.dir(session)? else {
        return Ok(Removal::Gone);
    };
    if kind == EntryKind::TempDir {
        return sys::remove_dir(&dir, &name.name, &name.id);
    }
    if name.outside.is_none() {
        if let Some(judged) = listing.and_then(|l| l.remove_file(&dir, &name.name, &name.id)) {
            return judged;
        }
    }
    match closing {
        Some(file) => sys::remove_file_closing(&dir, &name.name, &name.id, file),
        None => sys::remove_file(&dir, &name.name, &name.id),
    }
}

/// Cleans a claimed entry on this thread, never waiting on a lock or on an
/// operation in flight (such a handle is [`Outcome::Busy`]).
pub(crate) fn clean_now(
    session: &Session,
    entry: &Entry,
    by: By,
    sync_data: bool,
    listing: Option<&sys::Listing>,
) -> Outcome {
    clean_now_closing(session, entry, by, sync_data, listing, None)
}

/// [`clean_now`], for a guard that owns the entry's sync file and has let
/// go of it: `closing` is closed right after the name's removal (see
/// [`remove_name_closing`]), or on the way out.
pub(crate) fn clean_now_closing(
    session: &Session,
    entry: &Entry,
    by: By,
    sync_data: bool,
    listing: Option<&sys::Listing>,
    closing: Option<File>,
) -> Outcome {
    let mut closed = None;
    if let Handle::Async { handle, path } = &entry.handle {
        match close_async_now(handle, sync_data) {
            Ok(file) => closed = file,
            Err(None) => return Outcome::Busy,
            Err(Some(e)) => return Outcome::Failed(with_path(e, "flush", path)),
        }
    }
    let had_async = closed.is_some();
    finish(session, entry, had_async, closed, by, listing, closing)
}

/// Flushes and takes an async handle's file without waiting: `Ok(None)` if
/// it was closed already, `Err(None)` if busy, `Err(Some(e))` if the flush
/// or sync failed (the file went back to its guard either way).
fn close_async_now(
    handle: &AsyncHandle,
    sync_data: bool,
) -> Result<Option<std::fs::File>, Option<io::Error>> {
    let mut file = match handle.try_take(AsyncState::Purged) {
        Err(()) => return Err(None),
        Ok(None) => return Ok(None),
        Ok(Some(file)) => file,
    };
    // Finish a completed operation and learn its result; Pending means
    // tokio's blocking pool is still writing: leave it.
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(&mut file).poll_flush(&mut cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => {
            handle.put_back(file);
            return Err(Some(e));
        }
        Poll::Pending => {
            handle.put_back(file);
            return Err(None);
        }
    }
    let std_file = match file.try_into_std() {
        Ok(std_file) => std_file,
        Err(file) => {
            handle.put_back(file);
            return Err(None);
        }
    };
    if sync_data {
        if let Err(e) = sys::sync_data(&std_file) {
            handle.put_back(tokio::fs::File::from_std(std_file));
            return Err(Some(e));
        }
    }
    Ok(Some(std_file))
}

/// Steps 2 and 3 (see the module docs), blocking. `closed_async` says an
/// async handle's file was taken (and is passed in to be closed).
/// `closing` is a dropped guard's own sync file, closed right after the
/// removal whatever it came to (its guard is gone: there is no handle to
/// keep working).
fn finish(
    session: &Session,
    entry: &Entry,
    closed_async: bool,
    async_file: Option<std::fs::File>,
    by: By,
    listing: Option<&sys::Listing>,
    closing: Option<File>,
) -> Outcome {
    let removal = entry
        .name
        .as_ref()
        .map(|name| remove_name_closing(session, entry.kind, name, listing, closing));
    let removal = match removal {
        None => None,
        Some(Ok(removal)) => Some(removal),
        Some(Err(e)) => {
            // Nothing is closed while the name stays: the guard keeps a
            // working handle, and the retry does every step again.
            if let (Some(file), Handle::Async { handle, .. }) = (async_file, &entry.handle) {
                handle.put_back(tokio::fs::File::from_std(file));
            }
            return Outcome::Failed(with_path(e, "remove", &entry.path(session)));
        }
    };
    // Closing can block (NFS flushes on close): we are off the executor.
    drop(async_file);
    let mut closed = closed_async;
    match (&entry.handle, by) {
        (Handle::Sync(handle), By::Purge) => match handle.revoke() {
            Ok(revoked) => closed |= revoked,
            Err(e) => return Outcome::Failed(with_path(e, "close", &entry.path(session))),
        },
        (Handle::Memory(bytes), By::Purge) => match bytes.try_free() {
            Ok(freed) => closed |= freed,
            Err(()) => return Outcome::Busy,
        },
        _ => {}
    }
    let closed_and = |removed, gone| Outcome::Closed { removed, gone };
    match removal {
        None if closed => closed_and(false, false),
        None => Outcome::Gone,
        Some(Removal::Removed) if closed => closed_and(true, false),
        Some(Removal::Removed) => Outcome::Removed,
        Some(Removal::Gone) if closed => closed_and(false, true),
        Some(Removal::Gone) => Outcome::Gone,
        Some(Removal::Replaced) => Outcome::Replaced,
    }
}

/// A claimed entry on its way through [`clean_async`]: if that future is
/// dropped, or the runtime drops its blocking job unrun, the entry goes to
/// the reaper rather than being lost.
struct Claimed {
    core: Arc<Core>,
    id: u64,
    entry: Option<Entry>,
}

impl Drop for Claimed {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            Reaper::submit(&self.core, self.id, entry);
        }
    }
}

/// Cleans the claimed entry `id` from async code: an async handle's flush
/// (and `fdatasync`) is awaited, the rest runs on the blocking pool. Puts
/// the entry back if it stays tracked.
///
/// # Cancel safety
///
/// Dropped while flushing, the file is closed without waiting (tokio
/// finishes a write in flight in the background) and the entry goes to the
/// reaper, which removes its name.
pub(crate) async fn clean_async(
    core: Arc<Core>,
    id: u64,
    entry: Entry,
    sync_data: bool,
) -> Outcome {
    let mut claimed = Claimed {
        core,
        id,
        entry: Some(entry),
    };
    let mut async_file = None;
    if let Some(Entry {
        handle: Handle::Async { handle, path },
        ..
    }) = &claimed.entry
    {
        if let Some(mut file) = handle.take(AsyncState::Purged) {
            let flushed = match file.flush().await {
                Ok(()) if sync_data => file.sync_data().await,
                other => other,
            };
            if let Err(e) = flushed {
                handle.put_back(file);
                let outcome = Outcome::Failed(with_path(e, "flush", path));
                if let Some(entry) = claimed.entry.take() {
                    claimed.core.put_back(id, entry);
                }
                return outcome;
            }
            async_file = Some(file.into_std().await);
        }
    }
    let closed_async = async_file.is_some();
    let job = tokio::task::spawn_blocking(move || {
        let mut claimed = claimed;
        let entry = claimed.entry.take()?;
        let core = &claimed.core;
        let outcome = finish(
            &core.session,
            &entry,
            closed_async,
            async_file,
            By::Purge,
            None,
            None,
        );
        core.settle_outcome(claimed.id, entry, &outcome);
        Some(outcome)
    });
    match job.await {
        Ok(Some(outcome)) => outcome,
        Ok(None) => Outcome::Gone,
        Err(e) => Outcome::Failed(io::Error::other(e)),
    }
}

//! A session's lock: made here by its owner, judged here by everyone else.
//!
//! The owner makes [`LOCK_NAME`] locked (a shared `flock`) before its
//! directory gets a final name, and holds it for the session's whole life;
//! a child started in the session holds a shared lock of its own on it. The
//! kernel drops a lock when the last fd to it closes, however the process
//! ended, so "can the lock be taken exclusively?" is the whole test of
//! liveness (see the platform layer's `lock` module for the protocol). Judging never blocks and never follows a link: what a local
//! user can plant in a shared root (a FIFO, a directory, a symlink, a file
//! of their own) is "not a session", and is left alone.

use std::ffi::OsStr;
use std::io;
use std::time::Duration;

use super::format::{LockNote, LOCK_NAME, LOCK_NEW_NAME, NOTE_MAX};
use crate::sys;

/// A session's lock file, open (and locked, or probed).
#[derive(Debug)]
pub(crate) struct SessionLock {
    file: sys::LockFile,
}

/// What judging a session directory's lock found.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// No lock, or something planted where the lock should be: not a
    /// session we may judge.
    NotASession(&'static str),
    /// Its owner holds the lock.
    Live(SessionLock),
    /// Its owner is dead; we hold the lock now.
    Orphaned(SessionLock),
    /// Its owner is removing it right now (the lock file is unlinked).
    Ending,
}

impl SessionLock {
    /// Makes `dir`'s lock file, locked, holding `note`.
    pub(crate) fn create(dir: &sys::Dir, note: LockNote) -> io::Result<SessionLock> {
        let file = sys::create_lock(
            dir,
            OsStr::new(LOCK_NEW_NAME),
            OsStr::new(LOCK_NAME),
            &note.to_bytes(),
        )?;
        Ok(SessionLock { file })
    }

    /// Judges the session directory `dir` by its lock, never blocking. With
    /// `take`, an orphan's lock is kept, exclusively (to remove it);
    /// otherwise let go at once (to look).
    pub(crate) fn judge(dir: &sys::Dir, take: bool) -> io::Result<Verdict> {
        Ok(match sys::probe_lock(dir, OsStr::new(LOCK_NAME), take)? {
            sys::LockProbe::Missing => Verdict::NotASession("it has no lock file"),
            sys::LockProbe::NotALock(why) => Verdict::NotASession(why),
            sys::LockProbe::Held(file) => Verdict::Live(SessionLock { file }),
            sys::LockProbe::Free(file) if file.is_unlinked() => Verdict::Ending,
            sys::LockProbe::Free(file) => Verdict::Orphaned(SessionLock { file }),
        })
    }

    /// The owner's note, if it wrote one.
    pub(crate) fn note(&self) -> Option<LockNote> {
        LockNote::parse(&self.file.contents(NOTE_MAX).ok()?)
    }

    /// How long ago the session was made.
    pub(crate) fn age(&self) -> Option<Duration> {
        self.file.age()
    }

    /// A shared lock of its own on `dir`'s lock file, for a child to
    /// inherit across exec.
    pub(crate) fn for_child(&self, dir: &sys::Dir) -> io::Result<sys::Inheritable> {
        self.file.shared_for_child(dir, OsStr::new(LOCK_NAME))
    }

    /// Whether anyone but this lock's holder holds `dir`'s lock (a child
    /// given one with [`for_child`](Self::for_child), or what it started).
    /// When nobody does, the caller is handed the lock anew, exclusively (it
    /// must replace this one with it); otherwise this one is held again.
    ///
    /// Between letting go and trying, a sweep that runs that very moment
    /// could take a session nobody holds: its command has ended, so nothing
    /// is lost, and the caller finds the session taken (`Some` of nothing).
    pub(crate) fn others_hold(&self, dir: &sys::Dir) -> io::Result<Option<SessionLock>> {
        let fresh = sys::open_again(dir, OsStr::new(LOCK_NAME))?;
        self.file.unlock()?;
        match fresh.try_exclusive() {
            Ok(true) => Ok(Some(SessionLock { file: fresh })),
            other => {
                self.file.lock_shared()?;
                other.map(|_| None)
            }
        }
    }

    /// Rewrites the note (the lock stays held).
    pub(crate) fn rewrite(&self, note: LockNote) -> io::Result<()> {
        self.file.rewrite(&note.to_bytes())
    }
}

/// Removes `dir`'s lock file: the last step of removing a session, taken
/// while its lock is still held.
pub(crate) fn remove(dir: &sys::Dir) -> io::Result<()> {
    sys::remove_lock(dir, OsStr::new(LOCK_NAME))
}

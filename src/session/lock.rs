//! A session's lock: made here by its owner, judged here by everyone else.
//!
//! The owner makes [`LOCK_NAME`] locked (exclusive `flock`) before its
//! directory gets a final name, and holds it for the session's whole life.
//! The kernel drops the lock when the last fd to it closes, however the
//! process ended, so "can the lock be taken?" is the whole test of
//! liveness. Judging never blocks and never follows a link: what a local
//! user can plant in a shared root (a FIFO, a directory, a symlink, a file
//! of their own) is "not a session", and is left alone.

use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
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
    /// `take`, an orphan's lock is taken exclusively (to remove it);
    /// otherwise shared (to look).
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

    /// A copy of the lock that a child inherits across exec.
    pub(crate) fn inheritable_copy(&self) -> io::Result<OwnedFd> {
        self.file.inheritable_copy()
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
